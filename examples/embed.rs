//! Embedding hz: a Rust program hands orders to a pool of JS agents over a
//! channel, as serde values, and reads the priced results back.
//!
//!     cargo run --release --example embed

use hz::{AgentSpec, QuickJsEngine, Runtime};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Debug)]
struct Order {
    id: u32,
    quantity: u32,
    unit_price: f64,
}

#[derive(Deserialize, Debug)]
struct Priced {
    id: u32,
    total: f64,
    worker: u32,
}

const PRICER: &str = "async (orders, priced, worker) => {
    let handled = 0;
    for await (const o of orders) {
        const discount = o.quantity >= 10 ? 0.9 : 1;
        await priced.send({ id: o.id, total: o.quantity * o.unit_price * discount, worker });
        handled++;
    }
    return handled;
}";

fn main() -> anyhow::Result<()> {
    let rt = Runtime::builder().build()?;
    let orders = rt.channel(8);
    let priced = rt.channel(8);

    let workers = (0..4)
        .map(|w| {
            let spec = AgentSpec::function(PRICER).args(vec![orders.to_value(), priced.to_value(), w.into()])?;
            Ok(rt.spawn::<QuickJsEngine>(spec)?)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;

    let producer = {
        let orders = orders.clone();
        std::thread::spawn(move || -> anyhow::Result<()> {
            for id in 0..100 {
                orders.send_serde(&Order { id, quantity: id % 20, unit_price: 2.5 })?;
            }
            orders.close()?;
            Ok(())
        })
    };

    let mut revenue = 0.0;
    let mut per_worker = [0u32; 4];
    for _ in 0..100 {
        let p: Priced = priced.recv_serde()?.expect("workers reply to every order");
        revenue += p.total;
        per_worker[p.worker as usize] += 1;
        if p.id < 3 {
            println!("order {} -> {:.2}", p.id, p.total);
        }
    }
    producer.join().expect("producer thread")?;
    let handled: f64 = workers.iter().map(|w| w.join().map(|v| v.as_f64().unwrap_or(0.0))).sum::<Result<_, _>>()?;
    println!("100 orders priced by 4 agents: revenue {revenue:.2}, per worker {per_worker:?}, handled {handled}");
    Ok(())
}
