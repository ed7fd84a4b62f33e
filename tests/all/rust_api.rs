//! The embedder API: Rust values and serde types in and out of agents.

use hz::{AgentSpec, Channel, JoinError, QuickJsEngine, Runtime, Value};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Order {
    id: u32,
    items: Vec<String>,
    total: f64,
}

#[test]
fn rust_and_js_exchange_serde_values_over_channels() {
    let rt = Runtime::builder().threads(2).build().unwrap();
    let inbox = rt.channel(0);
    let outbox = rt.channel(4);
    let agent = rt
        .spawn::<QuickJsEngine>(
            AgentSpec::function(
                "async (inbox, outbox) => {
                    let n = 0;
                    for await (const o of inbox) {
                        await outbox.send({ id: o.id, items: o.items.map((s) => s.toUpperCase()), total: o.total * 2 });
                        n++;
                    }
                    outbox.close();
                    return n;
                }",
            )
            .args(vec![inbox.to_value(), outbox.to_value()])
            .unwrap(),
        )
        .unwrap();
    let producer = std::thread::spawn(move || {
        for id in 0..10 {
            inbox.send_serde(&Order { id, items: vec!["a".into(), "b".into()], total: 1.5 }).unwrap();
        }
        inbox.close().unwrap();
    });
    let mut got = Vec::new();
    while let Some(o) = outbox.recv_serde::<Order>().unwrap() {
        got.push(o);
    }
    producer.join().unwrap();
    assert_eq!(got.len(), 10);
    assert_eq!(got[3], Order { id: 3, items: vec!["A".into(), "B".into()], total: 3.0 });
    assert_eq!(agent.join().unwrap(), Value::Number(10.0));
}

#[test]
fn channel_from_an_agent_is_usable_in_rust() {
    let rt = Runtime::builder().threads(1).build().unwrap();
    let h = rt
        .spawn_default(AgentSpec::function("() => { const ch = hz.channel(2); ch.trySend('hi'); return ch; }"))
        .unwrap();
    let v = h.join().unwrap();
    let ch = Channel::from_value(&v).expect("a channel");
    assert_eq!(ch.try_recv().unwrap(), Some(Some(Value::from("hi"))));
    assert_eq!(ch.try_recv().unwrap(), None);
    ch.close().unwrap();
    assert_eq!(ch.recv().unwrap(), None);
    assert!(ch.send(&Value::Null).is_err());
}

#[test]
fn runtime_drop_terminates_running_agents() {
    let rt = Runtime::builder().threads(2).build().unwrap();
    let h = rt.spawn_default(AgentSpec::function("() => { for (;;) {} }")).unwrap();
    let waiting = rt.spawn_default(AgentSpec::function("async () => { await hz.channel().recv(); }")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    drop(rt);
    assert_eq!(h.join(), Err(JoinError::Terminated));
    assert_eq!(waiting.join(), Err(JoinError::Terminated));
}

#[test]
fn unknown_engine_is_a_typed_error() {
    let rt = Runtime::new().unwrap();
    assert!(matches!(rt.spawn_on("nope", AgentSpec::function("() => 1")), Err(hz::Error::UnknownEngine(_))));
}
