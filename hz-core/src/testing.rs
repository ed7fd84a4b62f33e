//! A test engine with no JavaScript: the scheduler's own tests (and
//! doctests) drive agents through it. It is a test double for hz-core,
//! never a stand-in for a real engine in a feature's tests.
//!
//! An agent's script is a number `N`: it runs N+1 turns (a start and N
//! zero-delay timers), records the worker thread of each, and returns the
//! list of worker indices as its result. The script `panic` panics, to test
//! that a bug in a backend ends only its agent; `panic-when-terminated`
//! spins in its first turn until the agent is terminated, then panics. The
//! script `relay`, given two channels, receives from the first and sends
//! each value on to the second (never blocking on it) in the same turn,
//! until the first closes.

use hz_clone::Value;

use crate::{Agent, AgentBox, Engine, Error, Host, OpStart, PayloadChan, Source, Status, Task};
use std::sync::Arc;

/// The test engine; `MIGRATABLE = false` makes pinned agents
/// (`"test-pinned"`), `true` migratable ones (`"test"`).
#[derive(Debug, Default, Clone, Copy)]
pub struct TestEngine<const MIGRATABLE: bool>;

/// A test engine whose agents keep a home thread.
pub type PinnedTestEngine = TestEngine<false>;
/// A test engine whose agents may run on any thread.
pub type MigratableTestEngine = TestEngine<true>;

/// An agent of [`TestEngine`].
pub struct TestAgent {
    host: Host,
    remaining: u32,
    threads: Vec<Value>,
    /// `relay`: (from, to).
    relay: Option<(Arc<PayloadChan>, Arc<PayloadChan>)>,
}

impl<const M: bool> Engine for TestEngine<M> {
    const NAME: &'static str = if M { "test" } else { "test-pinned" };
    const MIGRATABLE: bool = M;
    type Agent = TestAgent;

    fn create_agent(&self, host: Host) -> Result<TestAgent, Error> {
        Ok(TestAgent { host, remaining: 0, threads: Vec::new(), relay: None })
    }

    fn boxed(agent: TestAgent) -> AgentBox {
        if M { AgentBox::Migratable(Box::new(agent)) } else { AgentBox::Pinned(Box::new(agent)) }
    }
}

impl TestAgent {
    fn turn(&mut self) {
        let at = self.host.worker_index().map_or(-1.0, |i| i as f64);
        self.threads.push(Value::Number(at));
        if self.remaining == 0 {
            let result = Value::Array(std::mem::take(&mut self.threads)).to_payload().expect("numbers encode");
            self.host.settle(Ok(result));
        } else {
            self.remaining -= 1;
            self.host.timer(std::time::Duration::ZERO);
        }
    }
}

impl TestAgent {
    /// `relay`: forwards what is ready, then waits for the next value.
    fn relay(&mut self, mut got: Option<crate::Completion>) {
        let Some((from, to)) = self.relay.clone() else { return };
        loop {
            if let Some(c) = got.take() {
                match (c.status, c.value) {
                    (Status::Ok, Some(v)) => match self.host.try_send(&to, v) {
                        Ok(true) => {}
                        _ => return self.host.fail("relay: the output channel is full or closed".into()),
                    },
                    _ => return self.host.settle(Ok(Value::Undefined.to_payload().expect("encodes"))),
                }
            }
            match self.host.recv(&from) {
                OpStart::Done(c) => got = Some(c),
                OpStart::Pending(_) => return,
            }
        }
    }

    fn start_relay(&mut self, spec: &crate::AgentSpec) {
        let chans = Value::from_payload(&spec.args).ok().and_then(|v| match v {
            Value::Array(items) if items.len() == 2 => {
                let ch = |v: &Value| crate::Channel::from_value(v).map(|c| c.raw().clone());
                Some((ch(&items[0])?, ch(&items[1])?))
            }
            _ => None,
        });
        match chans {
            Some(c) => {
                self.relay = Some(c);
                self.relay(None);
            }
            None => self.host.fail("relay takes two channels".into()),
        }
    }
}

impl Agent for TestAgent {
    fn run_task(&mut self, task: Task) {
        match task {
            Task::Start(spec) => {
                if matches!(&spec.source, Source::Script { code, .. } if code == "panic") {
                    panic!("the test engine was asked to panic");
                }
                if matches!(&spec.source, Source::Script { code, .. } if code == "panic-when-terminated") {
                    let flag = self.host.terminate_flag();
                    while !flag.load(std::sync::atomic::Ordering::Acquire) {
                        std::thread::yield_now();
                    }
                    panic!("the test engine was terminated, and panicked");
                }
                if matches!(&spec.source, Source::Script { code, .. } if code == "relay") {
                    return self.start_relay(&spec);
                }
                let turns = match &spec.source {
                    Source::Script { code, .. } | Source::Program { code, .. } => code.trim().parse().ok(),
                    _ => None,
                };
                match turns {
                    Some(n) => {
                        self.remaining = n;
                        self.turn();
                    }
                    None => self.host.fail("the test engine runs scripts that are a number of turns".into()),
                }
            }
            Task::Complete { op, completion } => {
                if self.host.take_op(op) {
                    if self.relay.is_some() { self.relay(Some(completion)) } else { self.turn() }
                }
            }
        }
    }
}
