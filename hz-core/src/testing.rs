//! A test engine with no JavaScript: the scheduler's own tests (and
//! doctests) drive agents through it. It is a test double for hz-core,
//! never a stand-in for a real engine in a feature's tests.
//!
//! An agent's script is a number `N`: it runs N+1 turns (a start and N
//! zero-delay timers), records the worker thread of each, and returns the
//! list of worker indices as its result. The script `panic` panics, to test
//! that a bug in a backend ends only its agent.

use hz_clone::Value;

use crate::{Agent, AgentBox, Engine, Error, Host, Source, Task};

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
}

impl<const M: bool> Engine for TestEngine<M> {
    const NAME: &'static str = if M { "test" } else { "test-pinned" };
    const MIGRATABLE: bool = M;
    type Agent = TestAgent;

    fn create_agent(&self, host: Host) -> Result<TestAgent, Error> {
        Ok(TestAgent { host, remaining: 0, threads: Vec::new() })
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

impl Agent for TestAgent {
    fn run_task(&mut self, task: Task) {
        match task {
            Task::Start(spec) => {
                if matches!(&spec.source, Source::Script { code, .. } if code == "panic") {
                    panic!("the test engine was asked to panic");
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
            Task::Complete { op, .. } => {
                if self.host.take_op(op) {
                    self.turn();
                }
            }
        }
    }
}
