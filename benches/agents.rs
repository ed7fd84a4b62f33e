//! Agent spawn, channel round-trip and Atomics.wait/notify round-trip costs,
//! per engine.
//!
//! Names follow `group/engine/case`. Run: `cargo bench --bench agents`
//! (`--features v8` adds the V8 rows, `--features boa` the Boa rows).
#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::time::Duration;

#[path = "support/mod.rs"]
mod support;

use criterion::{Criterion, criterion_group, criterion_main};
use hz::{AgentSpec, Runtime, Value};

const ENGINES: &[&str] = &[
    #[cfg(feature = "quickjs")]
    "quickjs",
    #[cfg(feature = "v8")]
    "v8",
    #[cfg(feature = "boa")]
    "boa",
];

fn spawn(c: &mut Criterion) {
    let rt = Runtime::builder().threads(2).build().unwrap();
    let mut g = c.benchmark_group("spawn");
    for engine in ENGINES {
        // Spawn an agent and wait for the first message it sends: engine
        // instance, context, prelude, scheduling and one channel hop.
        g.bench_function(format!("{engine}/first_message"), |b| {
            let ch = rt.channel(1);
            b.iter(|| {
                let spec = AgentSpec::function("(ch) => ch.send(1)").args(vec![ch.to_value()]).unwrap();
                let h = rt.spawn_on(engine, spec).unwrap();
                assert_eq!(ch.recv().unwrap(), Some(Value::Number(1.0)));
                h
            });
            rt.wait_idle();
        });
    }
    g.finish();
}

/// Starts a ping-pong pair: `pinger` runs `n` round trips with `ponger` each
/// time it receives `n` on `control`, then reports on `done`.
fn round_trip_pair(rt: &Runtime, engine: &str) -> (hz::Channel, hz::Channel) {
    let (control, done) = (rt.channel(0), rt.channel(0));
    let (ping, pong) = (rt.channel(0), rt.channel(0));
    let ponger = "async (ping, pong) => { for await (const v of ping) await pong.send(v); }";
    let pinger = "async (control, done, ping, pong) => {
        for await (const n of control) {
            for (let i = 0; i < n; i++) { await ping.send(i); await pong.recv(); }
            await done.send(n);
        }
        ping.close();
    }";
    let spec = AgentSpec::function(ponger).args(vec![ping.to_value(), pong.to_value()]).unwrap();
    rt.spawn_on(engine, spec).unwrap();
    let spec = AgentSpec::function(pinger)
        .args(vec![control.to_value(), done.to_value(), ping.to_value(), pong.to_value()])
        .unwrap();
    rt.spawn_on(engine, spec).unwrap();
    (control, done)
}

fn round_trip(c: &mut Criterion) {
    let rt = Runtime::builder().threads(2).build().unwrap();
    let mut g = c.benchmark_group("channel");
    for engine in ENGINES {
        // Two agents on a 2-thread pool; the scheduler places them.
        let (control, done) = round_trip_pair(&rt, engine);
        g.bench_function(format!("{engine}/agent_round_trip"), |b| {
            b.iter_custom(|iters| support::run_batch(&control, &done, iters))
        });
        control.close().unwrap();

        // A Rust thread and an agent: always two OS threads.
        let (to_agent, from_agent) = (rt.channel(0), rt.channel(0));
        let spec = AgentSpec::function("async (rx, tx) => { for await (const v of rx) await tx.send(v); }")
            .args(vec![to_agent.to_value(), from_agent.to_value()])
            .unwrap();
        rt.spawn_on(engine, spec).unwrap();
        g.bench_function(format!("{engine}/rust_round_trip"), |b| {
            let one = Value::Number(1.0);
            b.iter(|| {
                to_agent.send(&one).unwrap();
                from_agent.recv().unwrap()
            })
        });
        to_agent.close().unwrap();
    }
    g.finish();
    rt.wait_idle();
}

/// Starts an `Atomics.wait`/`notify` ping-pong pair: `pinger` runs `n`
/// round trips with its `ponger` (each blocked in the futex in turn, so they
/// sit on two OS threads) each time it receives `n` on `control`.
fn wait_notify_pair(rt: &Runtime, engine: &str) -> (hz::Channel, hz::Channel) {
    let (control, done) = (rt.channel(0), rt.channel(0));
    let pinger = "async (control, done) => {
        const ia = new Int32Array(new SharedArrayBuffer(8));
        const ponger = hz.spawn((ia) => {
            for (;;) {
                Atomics.wait(ia, 0, 0);
                if (Atomics.load(ia, 1) === 1) return;
                Atomics.store(ia, 0, 0);
                Atomics.notify(ia, 0);
            }
        }, ia);
        for await (const n of control) {
            for (let i = 0; i < n; i++) {
                Atomics.store(ia, 0, 1);
                Atomics.notify(ia, 0);
                Atomics.wait(ia, 0, 1);
            }
            await done.send(n);
        }
        Atomics.store(ia, 1, 1);
        Atomics.store(ia, 0, 1);
        Atomics.notify(ia, 0);
        await ponger.join();
    }";
    let spec = AgentSpec::function(pinger).args(vec![control.to_value(), done.to_value()]).unwrap();
    rt.spawn_on(engine, spec).unwrap();
    (control, done)
}

fn wait_notify(c: &mut Criterion) {
    let rt = Runtime::builder().threads(2).build().unwrap();
    let mut g = c.benchmark_group("atomics");
    for engine in ENGINES {
        let (control, done) = wait_notify_pair(&rt, engine);
        g.bench_function(format!("{engine}/wait_notify_round_trip"), |b| {
            b.iter_custom(|iters| support::run_batch(&control, &done, iters))
        });
        control.close().unwrap();
    }
    g.finish();
    rt.wait_idle();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = spawn, round_trip, wait_notify
}
criterion_main!(benches);
