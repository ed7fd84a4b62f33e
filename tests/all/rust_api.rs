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

#[test]
fn scripts_run_in_order_as_separate_script_evaluations() {
    let rt = Runtime::builder().threads(1).build().unwrap();
    // The second script's `var h` does not hoist above the first, which
    // defines `h` configurable (in one script the var binding would exist,
    // non-configurable, before defineProperty ran, and it would throw).
    let spec = AgentSpec::scripts(vec![
        (
            "a.js".into(),
            "Object.defineProperty(globalThis, 'h', { value: 1, writable: true, configurable: true });".into(),
        ),
        ("b.js".into(), "var h; h + hz.args[0]".into()),
    ])
    .args(vec![Value::Number(41.0)])
    .unwrap();
    assert_eq!(rt.spawn::<QuickJsEngine>(spec).unwrap().join().unwrap(), Value::Number(42.0));
    // A throw stops the sequence and fails the agent with that error.
    let spec = AgentSpec::scripts(vec![
        ("a.js".into(), "throw new RangeError('first')".into()),
        ("b.js".into(), "'never'".into()),
    ]);
    match rt.spawn::<QuickJsEngine>(spec).unwrap().join() {
        Err(JoinError::Js(e)) => assert_eq!((e.name.as_deref(), e.message.as_str()), (Some("RangeError"), "first")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn limits_from_rust_are_typed_errors() {
    use hz::{Limit, Limits};
    use std::time::Duration;
    let rt = Runtime::builder().threads(2).build().unwrap();
    let spin = AgentSpec::function("() => { for (;;) {} }");
    let turn = rt.spawn_default(spin.clone().limits(Limits::new().turn_time(Duration::from_millis(30)))).unwrap();
    match turn.join() {
        Err(JoinError::Limit { limit: Limit::Turn, message }) => assert!(message.contains("30 ms"), "{message}"),
        other => panic!("expected a turn limit, got {other:?}"),
    }
    let cpu = rt.spawn_default(spin.limits(Limits::new().cpu_time(Duration::from_millis(30)))).unwrap();
    assert!(matches!(cpu.join(), Err(JoinError::Limit { limit: Limit::Cpu, .. })));
    // The runtime goes on.
    assert_eq!(rt.spawn_default(AgentSpec::function("() => 2")).unwrap().join().unwrap(), Value::from(2.0));
}

#[test]
fn close_on_end_ends_a_rust_receive_when_the_agent_fails() {
    let rt = Runtime::builder().threads(2).build().unwrap();
    let results = rt.channel(0);
    let agent = rt
        .spawn::<QuickJsEngine>(
            AgentSpec::function("async (out) => { await out.send(1); throw new RangeError('worker failed'); }")
                .args(vec![results.to_value()])
                .unwrap()
                .close_on_end(&results),
        )
        .unwrap();
    assert_eq!(results.recv().unwrap(), Some(Value::from(1.0)));
    // The end, where without close_on_end this receive would wait forever.
    assert_eq!(results.recv().unwrap(), None);
    match agent.join() {
        Err(JoinError::Js(e)) => assert_eq!(e.message, "worker failed"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(results.send(&Value::from(2.0)), Err(hz::Error::Closed)));
}
