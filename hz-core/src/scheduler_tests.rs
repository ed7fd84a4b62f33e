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

/// Keeps the panic hook from printing the test engine's expected panics;
/// every other panic prints as before. Installed once for the process
/// (tests run in parallel, and a hook swapped per test could be left
/// silencing another test's failure).
fn quiet_test_engine_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let message = info.payload().downcast_ref::<&str>().copied().unwrap_or("");
            if !message.starts_with("the test engine") {
                default(info);
            }
        }));
    });
}

#[test]
fn a_panicking_agent_ends_alone() {
    quiet_test_engine_panics();
    let rt = runtime(1);
    let bad = rt.spawn::<MigratableTestEngine>(AgentSpec::script("t", "panic")).unwrap();
    let result = bad.join();
    match result {
        Err(JoinError::Engine(m)) => assert!(m.contains("asked to panic"), "{m}"),
        other => panic!("expected an engine error, got {other:?}"),
    }
    // The only worker survived and runs the next agent.
    let good = rt.spawn::<MigratableTestEngine>(AgentSpec::script("t", "3")).unwrap();
    assert_eq!(threads_of(good.join().unwrap()), vec![0, 0, 0, 0]);
}

/// A terminate that said it ended the agent decides how the agent ended,
/// even when the turn it interrupted panicked (Boa once did, terminated
/// as a module started loading).
#[test]
fn a_terminated_agent_whose_turn_panics_ends_terminated() {
    quiet_test_engine_panics();
    let rt = runtime(1);
    let h = rt.spawn::<MigratableTestEngine>(AgentSpec::script("t", "panic-when-terminated")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert!(h.terminate());
    assert_eq!(h.join(), Err(JoinError::Terminated));
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

/// A migratable test engine that counts the engine instances it has made
/// and those still alive.
#[derive(Default, Clone)]
struct CountingEngine {
    made: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    live: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

struct CountedAgent(crate::testing::TestAgent, std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl Drop for CountedAgent {
    fn drop(&mut self) {
        self.1.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl crate::Agent for CountedAgent {
    fn run_task(&mut self, task: crate::Task) {
        self.0.run_task(task)
    }
}

impl crate::Engine for CountingEngine {
    const NAME: &'static str = "counting";
    const MIGRATABLE: bool = true;
    type Agent = CountedAgent;

    fn create_agent(&self, host: crate::Host) -> Result<CountedAgent, crate::Error> {
        let inner = MigratableTestEngine::default().create_agent(host)?;
        self.made.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.live.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(CountedAgent(inner, self.live.clone()))
    }

    fn boxed(agent: CountedAgent) -> crate::AgentBox {
        crate::AgentBox::Migratable(Box::new(agent))
    }
}

impl CountingEngine {
    fn made(&self) -> usize {
        self.made.load(std::sync::atomic::Ordering::SeqCst)
    }
    fn live(&self) -> usize {
        self.live.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Waits up to 5 s for `cond`, then checks it holds 50 ms later too.
fn settles(what: &str, cond: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        assert!(start.elapsed() < std::time::Duration::from_secs(5), "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert!(cond(), "{what} did not hold");
}

#[test]
fn warm_agents_fill_from_the_second_plain_spawn_and_serve_plain_spawns_only() {
    let engine = CountingEngine::default();
    let rt = RuntimeBuilder::new().threads(2).warm_agents(2).engine(engine.clone()).build().unwrap();
    let run = |spec: AgentSpec| {
        let h = rt.spawn::<CountingEngine>(spec).unwrap();
        assert_eq!(threads_of(h.join().unwrap()).len(), 3);
    };
    // The first spawn makes its own agent and no warm ones.
    run(AgentSpec::script("t", "2"));
    rt.wait_idle();
    settles("one agent made, none live", || engine.made() == 1 && engine.live() == 0);
    // The second makes its own too, and two warm ones; the ended agents are
    // freed while the workers are idle.
    run(AgentSpec::script("t", "2"));
    settles("two warm agents", || engine.made() == 4 && engine.live() == 2);
    // A plain spawn takes a warm agent: one more is made, to refill.
    run(AgentSpec::script("t", "2"));
    settles("the pool refilled", || engine.made() == 5 && engine.live() == 2);
    // Spawns with limits or [[CanBlock]] false get agents made for them.
    let limits = crate::Limits { turn_time: Some(std::time::Duration::from_secs(60)), ..Default::default() };
    run(AgentSpec::script("t", "2").limits(limits));
    run(AgentSpec::script("t", "2").can_block(false));
    settles("two agents made for their specs", || engine.made() == 7 && engine.live() == 2);
    // The runtime's end frees the warm agents.
    drop(rt);
    assert_eq!(engine.live(), 0, "an engine instance outlived its runtime");
}

#[test]
fn no_warm_agents_when_turned_off_and_ended_agents_freed_at_shutdown() {
    let engine = CountingEngine::default();
    let rt = RuntimeBuilder::new().threads(1).warm_agents(0).engine(engine.clone()).build().unwrap();
    let handles: Vec<_> = (0..20).map(|_| rt.spawn::<CountingEngine>(AgentSpec::script("t", "3")).unwrap()).collect();
    for h in handles {
        h.join().unwrap();
    }
    drop(rt);
    assert_eq!((engine.made(), engine.live()), (20, 0));
}

/// A counting engine whose instances are made only while its gate is open,
/// or, while it is shut, in the order they came to it up to `allowed`;
/// while `fail` is set, they fail.
#[derive(Default, Clone)]
struct GatedEngine {
    counting: CountingEngine,
    gate: std::sync::Arc<(std::sync::Mutex<Gate>, std::sync::Condvar)>,
}

#[derive(Default)]
struct Gate {
    shut: bool,
    /// Tickets given out, one per instance, in the order they came.
    tickets: usize,
    /// While shut, the tickets below this pass.
    allowed: usize,
    /// Instances being made, waiting at the gate.
    waiting: usize,
    fail: bool,
}

impl GatedEngine {
    fn shut(&self) {
        self.set(|g| {
            g.shut = true;
            g.allowed = g.tickets;
        });
    }
    fn set(&self, f: impl FnOnce(&mut Gate)) {
        f(&mut self.gate.0.lock().unwrap());
        self.gate.1.notify_all();
    }
    /// Waits until `n` instances wait at the (shut) gate.
    fn waiting(&self, n: usize) {
        let (lock, cv) = &*self.gate;
        let g = cv.wait_timeout_while(lock.lock().unwrap(), std::time::Duration::from_secs(5), |g| g.waiting < n);
        assert!(!g.unwrap().1.timed_out(), "{n} instances never reached the gate");
    }
}

impl crate::Engine for GatedEngine {
    const NAME: &'static str = "gated";
    const MIGRATABLE: bool = true;
    type Agent = CountedAgent;

    fn create_agent(&self, host: crate::Host) -> Result<CountedAgent, crate::Error> {
        let (lock, cv) = &*self.gate;
        let mut g = lock.lock().unwrap();
        g.waiting += 1;
        cv.notify_all();
        let ticket = g.tickets;
        g.tickets += 1;
        g = cv.wait_while(g, |g| g.shut && ticket >= g.allowed).unwrap();
        g.waiting -= 1;
        if g.fail {
            return Err(crate::Error::Engine { engine: "gated", message: "made to fail".into() });
        }
        drop(g);
        self.counting.create_agent(host)
    }

    fn boxed(agent: CountedAgent) -> crate::AgentBox {
        crate::AgentBox::Migratable(Box::new(agent))
    }
}

#[test]
fn a_spawn_with_no_warm_agent_ready_takes_the_one_being_made() {
    let engine = GatedEngine::default();
    let rt = RuntimeBuilder::new().threads(2).warm_agents(1).engine(engine.clone()).build().unwrap();
    // A failed assertion opens the gate, or the runtime's drop would wait
    // for the workers held there.
    struct Opens(GatedEngine);
    impl Drop for Opens {
        fn drop(&mut self) {
            self.0.set(|g| g.shut = false);
        }
    }
    let _opens = Opens(engine.clone());
    let spawn = || rt.spawn::<GatedEngine>(AgentSpec::script("t", "2")).unwrap();
    // Two spawns start the pool: the second's own instance is held at the
    // gate, and the warm one is made after it. (Not both at the gate at
    // once: queuing a warm job wakes no worker, so a parked one may not
    // come for it while the other is held; under load that timed out.)
    spawn().join().unwrap();
    engine.shut();
    spawn();
    engine.waiting(1);
    engine.set(|g| g.shut = false);
    rt.wait_idle();
    settles("one warm agent", || engine.counting.made() == 3 && engine.counting.live() == 1);

    // This spawn takes that agent: the next warm one (its replacement) is
    // held at the gate, and the spawn after it takes it while it is made:
    // one instance let through the gate, that one, is all it needs.
    engine.shut();
    let a = spawn();
    assert_eq!(threads_of(a.join().unwrap()).len(), 3);
    engine.waiting(1);
    let b = spawn();
    // Only the instance that came to the gate first may pass: the one
    // being made when b was spawned.
    engine.set(|g| g.allowed += 1);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(b.join()));
    let joined = rx.recv_timeout(std::time::Duration::from_secs(5));
    let result = joined.expect("the spawn waited for an instance of its own");
    assert_eq!(threads_of(result.unwrap()).len(), 3);
    engine.set(|g| g.shut = false);
    rt.wait_idle();
    // b's instance, and the one that replaced it in the pool.
    settles("the pool refilled", || engine.counting.made() == 5 && engine.counting.live() == 1);

    // A taken agent whose instance fails ends with the engine's error (and
    // so does the warm one that replaces it, which leaves the pool empty).
    engine.shut();
    spawn().join().unwrap();
    engine.waiting(1);
    let c = spawn();
    engine.set(|g| {
        g.fail = true;
        g.shut = false;
    });
    assert!(matches!(c.join(), Err(JoinError::Engine(m)) if m.contains("made to fail")));
    rt.wait_idle();
    engine.set(|g| g.fail = false);
    assert_eq!(threads_of(spawn().join().unwrap()).len(), 3);
    drop(rt);
    assert_eq!(engine.counting.live(), 0, "an engine instance outlived its runtime");
}

/// A migratable engine whose agents spin on a counter the engine's agents
/// share, each in one long turn: `add` adds one to it; `wait N` adds one,
/// then busy-waits until it reaches N; `busy MS` spins for MS milliseconds.
/// The result is 1 if the wait saw its count, 0 if it gave up after 20 s.
/// On Linux, `cpus` adds one and gives the number of CPUs its thread may
/// run on; `waitcpus N` waits as `wait N` does, then (5 s at most) until
/// its thread may run on more than one CPU, and gives that number.
#[derive(Default, Clone)]
struct SpinEngine(std::sync::Arc<std::sync::atomic::AtomicUsize>);

struct SpinAgent(crate::Host, std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl crate::Agent for SpinAgent {
    fn run_task(&mut self, task: crate::Task) {
        use std::sync::atomic::Ordering::SeqCst;
        use std::time::{Duration, Instant};
        let crate::Task::Start(spec) = task else { return };
        let crate::Source::Script { code, .. } = &spec.source else { return };
        let spin_until = |done: &dyn Fn() -> bool, limit: Duration| {
            let start = Instant::now();
            while !done() {
                if start.elapsed() > limit {
                    return false;
                }
                std::hint::spin_loop();
            }
            true
        };
        #[cfg(target_os = "linux")]
        let cpus = || rustix::process::sched_getaffinity(None).map_or(0, |s| s.count());
        #[cfg(target_os = "linux")]
        match code.split_once(' ') {
            None if code == "cpus" => {
                self.1.fetch_add(1, SeqCst);
                return self.0.settle(Ok(Value::Number(cpus().into()).to_payload().expect("encodes")));
            }
            Some(("waitcpus", n)) => {
                let n: usize = n.parse().unwrap();
                self.1.fetch_add(1, SeqCst);
                spin_until(&|| self.1.load(SeqCst) >= n, Duration::from_secs(20));
                spin_until(&|| cpus() > 1, Duration::from_secs(5));
                return self.0.settle(Ok(Value::Number(cpus().into()).to_payload().expect("encodes")));
            }
            _ => {}
        }
        let saw = match code.split_once(' ') {
            None => {
                self.1.fetch_add(1, SeqCst);
                true
            }
            Some(("wait", n)) => {
                let n: usize = n.parse().unwrap();
                self.1.fetch_add(1, SeqCst);
                spin_until(&|| self.1.load(SeqCst) >= n, Duration::from_secs(20))
            }
            Some((_, ms)) => {
                let end = Instant::now() + Duration::from_millis(ms.parse().unwrap());
                spin_until(&|| Instant::now() >= end, Duration::from_secs(20))
            }
        };
        self.0.settle(Ok(Value::Number(if saw { 1.0 } else { 0.0 }).to_payload().expect("encodes")));
    }
}

impl crate::Engine for SpinEngine {
    const NAME: &'static str = "spin";
    const MIGRATABLE: bool = true;
    type Agent = SpinAgent;

    fn create_agent(&self, host: crate::Host) -> Result<SpinAgent, crate::Error> {
        Ok(SpinAgent(host, self.0.clone()))
    }

    fn boxed(agent: SpinAgent) -> crate::AgentBox {
        crate::AgentBox::Migratable(Box::new(agent))
    }
}

fn spin_runtime(threads: usize) -> Runtime {
    RuntimeBuilder::new().threads(threads).warm_agents(0).engine(SpinEngine::default()).build().unwrap()
}

fn saw(h: crate::AgentHandle) -> bool {
    h.join().unwrap().as_f64() == Some(1.0)
}

#[test]
fn a_long_turn_gives_its_slot_to_another_thread_for_the_agent_it_waits_on() {
    // One worker: the waiter's turn holds it until the adder has run.
    let rt = spin_runtime(1);
    let waiter = rt.spawn::<SpinEngine>(AgentSpec::script("t", "wait 2")).unwrap();
    let adder = rt.spawn::<SpinEngine>(AgentSpec::script("t", "add")).unwrap();
    assert!(saw(adder));
    assert!(saw(waiter), "the waiting agent gave up: the agent it waited on never ran");
    // The waiter's thread ended its turn as a spare: two threads, until
    // the spare has waited long enough to retire.
    assert_eq!(rt.activity().threads, 2);
    settles("the spare thread to retire", || rt.activity().threads == 1);
    // The runtime goes on with its one worker.
    assert!(saw(rt.spawn::<SpinEngine>(AgentSpec::script("t", "add")).unwrap()));
}

#[cfg(target_os = "linux")]
#[test]
fn a_thread_whose_slot_is_taken_runs_on_any_cpu_again() {
    let all = rustix::process::sched_getaffinity(None).unwrap().count();
    if all < 2 {
        return; // one CPU: every thread runs there anyway
    }
    let rt = RuntimeBuilder::new().threads(1).pin_threads(true).warm_agents(0).engine(SpinEngine::default()).build();
    let rt = rt.unwrap();
    let cpus = |h: crate::AgentHandle| h.join().unwrap().as_f64().unwrap() as u32;
    // The waiter's long turn loses the one slot (and its CPU) to a spare
    // thread, which runs the adder there.
    let waiter = rt.spawn::<SpinEngine>(AgentSpec::script("t", "waitcpus 2")).unwrap();
    let adder = rt.spawn::<SpinEngine>(AgentSpec::script("t", "cpus")).unwrap();
    assert_eq!(cpus(adder), 1, "the thread serving the slot keeps to its CPU");
    assert_eq!(cpus(waiter), all, "the thread that lost the slot still keeps to the slot's CPU");
}

#[test]
fn agents_spinning_on_each_other_get_a_thread_each() {
    // Five agents each wait for all five to have started, on two workers.
    let rt = spin_runtime(2);
    let waiters: Vec<_> = (0..5).map(|_| rt.spawn::<SpinEngine>(AgentSpec::script("t", "wait 5")).unwrap()).collect();
    for w in waiters {
        assert!(saw(w), "an agent gave up waiting for the others to start");
    }
    // Five at once, and no more than one spare besides (spares retire).
    let threads = rt.activity().threads;
    assert!(threads <= 6, "{threads} threads for five agents spinning at once");
}

#[test]
fn a_long_turn_with_no_agent_waiting_keeps_its_slot() {
    let rt = spin_runtime(1);
    assert!(saw(rt.spawn::<SpinEngine>(AgentSpec::script("t", "busy 100")).unwrap()));
    // Two long turns on two workers, nothing else ready.
    let rt2 = spin_runtime(2);
    let busy: Vec<_> = (0..2).map(|_| rt2.spawn::<SpinEngine>(AgentSpec::script("t", "busy 100")).unwrap()).collect();
    for b in busy {
        assert!(saw(b));
    }
    assert_eq!((rt.activity().threads, rt2.activity().threads), (1, 2), "a thread was added with nothing to run");
}
