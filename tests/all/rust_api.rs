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

#[test]
fn shutdown_terminates_and_joins_every_agent() {
    use std::time::{Duration, Instant};
    let rt = Runtime::builder().threads(2).build().unwrap();
    let spin = rt.spawn_default(AgentSpec::function("() => { for (;;) {} }")).unwrap();
    let waits = rt
        .spawn_default(AgentSpec::function("() => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0)"))
        .unwrap();
    let ch = rt.channel(0);
    let recv = rt.spawn_default(AgentSpec::function("(ch) => ch.recv()").args(vec![ch.to_value()]).unwrap()).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let t = Instant::now();
    rt.shutdown();
    assert!(t.elapsed() < Duration::from_secs(5), "shutdown took {:?}", t.elapsed());
    for h in [&spin, &waits, &recv] {
        assert!(h.is_finished());
        assert_eq!(h.join(), Err(JoinError::Terminated));
    }
    assert!(matches!(rt.spawn_default(AgentSpec::function("() => 1")), Err(hz::Error::ShutDown)));
    rt.shutdown();
    // Channels still work from Rust.
    assert!(ch.try_send(&Value::from(1.0)).is_ok());
}

/// Each agent has a `tracing` span (`hz.agent`, with its id, engine and
/// name) with a `spawned` and an `ended` event, and each turn a child span
/// (`hz.turn`), on whichever thread it runs.
#[test]
fn agents_and_turns_have_tracing_spans() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};

    /// (id, parent, name and fields) of each span; each event's fields.
    #[derive(Default, Clone)]
    struct Seen {
        spans: Vec<(u64, Option<u64>, String)>,
        events: Vec<(Option<u64>, String)>,
    }
    struct Collect(Arc<Mutex<Seen>>, AtomicU64);
    struct Fields<'a>(&'a mut String);
    impl tracing::field::Visit for Fields<'_> {
        fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
            use std::fmt::Write;
            let _ = write!(self.0, " {}={:?}", f.name(), v);
        }
    }
    impl Subscriber for Collect {
        fn enabled(&self, m: &Metadata<'_>) -> bool {
            m.target().starts_with("hz_core")
        }
        fn new_span(&self, a: &Attributes<'_>) -> Id {
            let id = self.1.fetch_add(1, Ordering::Relaxed) + 1;
            let mut s = a.metadata().name().to_owned();
            a.record(&mut Fields(&mut s));
            lock(&self.0).spans.push((id, a.parent().map(Id::into_u64), s));
            Id::from_u64(id)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, e: &Event<'_>) {
            let mut s = String::new();
            e.record(&mut Fields(&mut s));
            lock(&self.0).events.push((e.parent().map(Id::into_u64), s));
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    // Every test of this binary reports here from now on: never poison it.
    fn lock(m: &Mutex<Seen>) -> std::sync::MutexGuard<'_, Seen> {
        m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
    let seen = Arc::new(Mutex::new(Seen::default()));
    if tracing::subscriber::set_global_default(Collect(seen.clone(), AtomicU64::new(0))).is_err() {
        panic!("another subscriber is installed");
    }
    let rt = Runtime::builder().threads(2).build().unwrap();
    let mut spec = AgentSpec::function("async () => { await new Promise((r) => setTimeout(r, 1)); return 1; }");
    spec.name = Some("traced.js".into());
    let h = rt.spawn::<QuickJsEngine>(spec).unwrap();
    assert_eq!(h.join().unwrap(), Value::from(1.0));
    // Copied out: no assertion runs while the subscriber's lock is held.
    let (spans, all_events) = {
        let g = lock(&seen);
        (g.spans.clone(), g.events.clone())
    };
    let agent = spans
        .iter()
        .find(|(_, _, s)| {
            s.starts_with("hz.agent") && s.contains("name=\"traced.js\"") && s.contains("engine=\"quickjs\"")
        })
        .unwrap_or_else(|| panic!("no agent span among {}", spans.len()))
        .0;
    let turns = spans.iter().filter(|(_, p, s)| *p == Some(agent) && s.starts_with("hz.turn")).count();
    assert!(turns >= 2, "a start turn and a timer turn: {turns}");
    let events: Vec<&str> = all_events.iter().filter(|(p, _)| *p == Some(agent)).map(|(_, s)| s.as_str()).collect();
    assert_eq!(events, [" message=spawned", " message=ended end=\"completed\""], "{events:?}");
}
