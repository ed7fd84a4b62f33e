//! The scheduler, driven through the test engine.

use std::collections::HashSet;

use hz_clone::Value;

use crate::testing::{MigratableTestEngine, PinnedTestEngine};
use crate::{AgentSpec, JoinError, Runtime, RuntimeBuilder};

fn runtime(threads: usize) -> Runtime {
    RuntimeBuilder::new()
        .threads(threads)
        .engine(PinnedTestEngine::default())
        .engine(MigratableTestEngine::default())
        .build()
        .unwrap()
}

fn threads_of(v: Value) -> Vec<i64> {
    match v {
        Value::Array(items) => items.into_iter().map(|t| t.as_f64().unwrap() as i64).collect(),
        other => panic!("not a thread list: {other:?}"),
    }
}

#[test]
fn pinned_agents_run_every_turn_on_their_home_thread_and_are_spread() {
    let rt = runtime(2);
    let handles: Vec<_> = (0..8).map(|_| rt.spawn::<PinnedTestEngine>(AgentSpec::script("t", "50")).unwrap()).collect();
    let mut homes = Vec::new();
    for h in handles {
        let threads = threads_of(h.join().unwrap());
        assert_eq!(threads.len(), 51);
        assert!(threads.iter().all(|t| *t == threads[0]), "a pinned agent moved: {threads:?}");
        homes.push(threads[0]);
    }
    // Placement balances: both workers are homes, four agents each.
    assert_eq!(homes.iter().filter(|h| **h == 0).count(), 4, "homes: {homes:?}");
    assert_eq!(homes.iter().filter(|h| **h == 1).count(), 4, "homes: {homes:?}");
}

#[test]
fn migratable_agents_use_every_worker() {
    let rt = runtime(2);
    let handles: Vec<_> =
        (0..16).map(|_| rt.spawn::<MigratableTestEngine>(AgentSpec::script("t", "200")).unwrap()).collect();
    let mut seen = HashSet::new();
    for h in handles {
        seen.extend(threads_of(h.join().unwrap()));
    }
    assert_eq!(seen, HashSet::from([0, 1]));
}

#[test]
fn ten_thousand_agents_on_two_threads_all_finish() {
    let rt = runtime(2);
    let handles: Vec<_> =
        (0..10_000).map(|_| rt.spawn::<MigratableTestEngine>(AgentSpec::script("t", "2")).unwrap()).collect();
    for h in &handles {
        assert_eq!(threads_of(h.join().unwrap()).len(), 3);
    }
    rt.wait_idle();
}

#[test]
fn terminate_before_the_first_turn() {
    let rt = runtime(1);
    let h = rt.spawn::<PinnedTestEngine>(AgentSpec::script("t", "1000000")).unwrap();
    h.terminate();
    assert_eq!(h.join(), Err(JoinError::Terminated));
    assert!(!h.terminate());
}

#[test]
fn creation_failures_and_bad_builders_are_typed_errors() {
    assert!(RuntimeBuilder::new().build().is_err(), "a runtime needs an engine");
    let rt = runtime(1);
    let h = rt.spawn::<PinnedTestEngine>(AgentSpec::script("t", "not a number")).unwrap();
    assert!(matches!(h.join(), Err(JoinError::Engine(_))));
    assert!(matches!(rt.spawn_on("missing", AgentSpec::script("t", "1")), Err(crate::Error::UnknownEngine(_))));
}

#[test]
fn a_panicking_agent_ends_alone() {
    let rt = runtime(1);
    // Keep the default hook from printing the expected panic.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let bad = rt.spawn::<MigratableTestEngine>(AgentSpec::script("t", "panic")).unwrap();
    let result = bad.join();
    std::panic::set_hook(hook);
    match result {
        Err(JoinError::Engine(m)) => assert!(m.contains("asked to panic"), "{m}"),
        other => panic!("expected an engine error, got {other:?}"),
    }
    // The only worker survived and runs the next agent.
    let good = rt.spawn::<MigratableTestEngine>(AgentSpec::script("t", "3")).unwrap();
    assert_eq!(threads_of(good.join().unwrap()), vec![0, 0, 0, 0]);
}

/// Spawn -> send -> terminate, raced: every value the sender was told is
/// sent is relayed or still in the channel, once each and in order. A
/// value the agent received but never ran (its completion queued, or
/// racing the cancel) goes back to the front of its channel.
#[test]
fn terminate_racing_sends_loses_and_duplicates_nothing() {
    use crate::Channel;
    let rt = runtime(2);
    let (mut relayed_total, mut returned_total) = (0, 0);
    for i in 0..2_000u32 {
        let (input, output) = (Channel::new(1), Channel::new(64));
        let spec = AgentSpec::script("t", "relay").args(vec![input.to_value(), output.to_value()]).unwrap();
        let h = rt.spawn::<MigratableTestEngine>(spec).unwrap();
        let tx = input.clone();
        let sender = std::thread::spawn(move || {
            let mut sent = Vec::new();
            for v in 0..32u32 {
                if tx.send(&Value::from(f64::from(v))).is_err() {
                    break;
                }
                sent.push(v);
            }
            sent
        });
        // Terminate at a varying point of the exchange.
        for _ in 0..(i % 64) * 20 {
            std::hint::spin_loop();
        }
        h.terminate();
        let _ = h.join();
        input.close().unwrap();
        let sent = sender.join().unwrap();
        let take = |ch: &Channel| {
            let mut got = Vec::new();
            while let Ok(Some(Some(v))) = ch.try_recv() {
                got.push(v.as_f64().unwrap() as u32);
            }
            got
        };
        let relayed = take(&output);
        let returned = take(&input);
        relayed_total += relayed.len();
        returned_total += returned.len();
        let seen: Vec<u32> = relayed.iter().chain(&returned).copied().collect();
        assert_eq!(seen, sent, "iteration {i}: relayed {relayed:?}, left in the channel {returned:?}");
    }
    // Both outcomes happened: the race was real.
    assert!(relayed_total > 0 && returned_total > 0, "relayed {relayed_total}, returned {returned_total}");
}
