//! The two traits between hz-core and a backend.

use crate::{Error, Host, Task};

/// A JavaScript engine backend (the generic layer, for backend authors).
///
/// A backend is translation only: engine values <-> hz-clone payloads, and
/// engine hooks <-> [`Host`]. Everything concurrent lives in hz-core.
pub trait Engine: Send + Sync + 'static {
    /// The name JS code and the CLI use to pick this engine (`"quickjs"`).
    const NAME: &'static str;
    /// Whether an agent may run its next turn on another OS thread. Pinned
    /// engines (false) keep a home thread chosen at spawn.
    const MIGRATABLE: bool;
    /// One agent: an engine instance with its globals and job queue.
    type Agent: Agent;

    /// Creates an agent, on the thread that will run its first turn. The
    /// agent installs the JS API by calling back into `host`.
    fn create_agent(&self, host: Host) -> Result<Self::Agent, Error>;

    /// Boxes an agent for the scheduler: [`AgentBox::Migratable`] needs `Send`.
    fn boxed(agent: Self::Agent) -> AgentBox;

    /// Whether the runtime may make agents of this engine ahead of need,
    /// before their spec is known (see
    /// [`RuntimeBuilder::warm_agents`](crate::RuntimeBuilder::warm_agents)).
    /// By default a migratable engine may (a warm agent is made on whatever
    /// thread is idle); an engine that caps its live instances should not.
    fn can_warm(&self) -> bool {
        Self::MIGRATABLE
    }

    /// Refuses, at spawn, limits this engine cannot enforce (a limit asked
    /// for must never be ignored silently). Every limit is enforced by default.
    fn check_limits(&self, limits: &crate::Limits) -> Result<(), Error> {
        let _ = limits;
        Ok(())
    }

    /// The calling pool thread has no agent to run and is about to sleep,
    /// wait as a spare or exit. An engine that keeps per-thread state
    /// between turns (V8 keeps each isolate's lock on the thread that ran
    /// it last) lets go of what it can here. Called outside any turn;
    /// nothing by default.
    fn thread_idle(&self) {}
}

/// An agent as the scheduler holds it.
pub enum AgentBox {
    /// May move between worker threads between turns.
    Migratable(Box<dyn Agent + Send>),
    /// Stays on the thread that created it.
    Pinned(Box<dyn Agent>),
}

/// The object-safe part the scheduler drives.
pub trait Agent {
    /// Runs one host task, then drains the engine's microtask queue to empty.
    /// JS exceptions are the agent's business (it settles its result through
    /// its [`Host`]); this never panics across the engine.
    fn run_task(&mut self, task: Task);
}

/// Type-erased [`Engine`], so the runtime can hold engines by name.
pub(crate) trait DynEngine: Send + Sync {
    fn name(&self) -> &'static str;
    fn migratable(&self) -> bool;
    fn create(&self, host: Host) -> Result<AgentBox, Error>;
    fn check_limits(&self, limits: &crate::Limits) -> Result<(), Error>;
    fn can_warm(&self) -> bool;
    fn thread_idle(&self);
}

impl<E: Engine> DynEngine for E {
    fn name(&self) -> &'static str {
        E::NAME
    }
    fn migratable(&self) -> bool {
        E::MIGRATABLE
    }
    fn create(&self, host: Host) -> Result<AgentBox, Error> {
        self.create_agent(host).map(E::boxed)
    }
    fn check_limits(&self, limits: &crate::Limits) -> Result<(), Error> {
        Engine::check_limits(self, limits)
    }
    fn can_warm(&self) -> bool {
        E::MIGRATABLE && Engine::can_warm(self)
    }
    fn thread_idle(&self) {
        Engine::thread_idle(self)
    }
}
