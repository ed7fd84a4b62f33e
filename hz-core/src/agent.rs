//! Agents as the core sees them: the shared record the scheduler moves
//! around, and [`Host`], the engine-neutral API a backend's natives call.

use std::sync::Weak;
use std::time::{Duration, Instant};

use hz_clone::{Payload, Value};
use rustc_hash::FxHashMap as HashMap;

use crate::channel::{self, Attempt, Case, Chan, Outcome, Recv, Registration, Selected, Waiter};
use crate::engine::{AgentBox, DynEngine};
use crate::limits::{Clock, Limit, Limits};
use crate::mailbox::{Mailbox, ResultCell};
use crate::runtime::RuntimeInner;
use crate::sync::{Arc, AtomicBool, AtomicUsize, Mutex, Ordering, lock};
use crate::timer::TimerKey;
use crate::{Error, JoinError, JsError};

/// A process-unique agent id.
pub type AgentId = u64;

/// The channel type agents exchange: payloads of hz-clone.
pub type PayloadChan = Chan<Payload>;

/// What an agent runs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Source {
    /// A function's source text, called with the agent's arguments; its
    /// (awaited) return value is the agent's result.
    Function {
        /// `function (a, b) { ... }` or an arrow function.
        code: String,
    },
    /// A program (the `hz run` entry point): a classic script whose result
    /// is `undefined`; it ends once nothing is pending.
    Program {
        /// The file name used in stack traces.
        name: String,
        /// The text.
        code: String,
    },
    /// An ES module file (an absolute path, or relative to the working
    /// directory). If its default export is a function it is called with the
    /// agent's arguments, and its (awaited) result is the agent's result.
    Module {
        /// The module file.
        path: String,
    },
    /// A classic script; its (awaited) completion value is the result.
    Script {
        /// The file name used in stack traces.
        name: String,
        /// The text.
        code: String,
    },
    /// Classic scripts (name, text) evaluated one after another in the
    /// agent's realm, each a separate ScriptEvaluation (as a page's
    /// `<script>` elements are: one's top-level `var` does not hoist above
    /// the ones before it). A throw stops the sequence; the last one's
    /// (awaited) completion value is the result.
    Scripts {
        /// (file name, text), in order.
        scripts: Vec<(String, String)>,
    },
}

/// Everything needed to start an agent.
#[derive(Debug, Clone)]
pub struct AgentSpec {
    /// The code.
    pub source: Source,
    /// The arguments, as one payload holding an array (see [`AgentSpec::args`]).
    pub args: Payload,
    /// A name for diagnostics.
    pub name: Option<String>,
    /// The agent's `[[CanBlock]]`: whether `Atomics.wait` may block it
    /// (default true). Where false, `Atomics.wait` throws a TypeError. An
    /// agent spawned by one that cannot block cannot block either.
    pub can_block: bool,
    /// Resource limits (none by default). A child's are at most its parent's.
    pub limits: Limits,
    /// Channels the runtime closes when the agent ends, however it ends
    /// (it completes, fails, is terminated or passes a limit), as a Go
    /// producer's `defer close(ch)` would if termination ran defers: a
    /// receiver drains what the agent sent, then sees the end, instead of
    /// waiting for a peer that is gone; a sender gets a closed-channel
    /// error. JS: `hz.spawn({ fn, closeOnEnd: [ch] })`.
    pub close_on_end: Vec<crate::Channel>,
    /// The embedder's data for this agent, which host functions read from
    /// their [`Caller`](crate::Caller) (see [`AgentSpec::data`]). An agent
    /// spawned from JS shares its parent's unless its spec sets its own.
    pub data: Option<crate::HostData>,
}

impl AgentSpec {
    /// A spec running `code` as a script named `name`.
    pub fn script(name: impl Into<String>, code: impl Into<String>) -> Self {
        Self::new(Source::Script { name: name.into(), code: code.into() })
    }

    /// A spec running `source` with no arguments.
    pub fn new(source: Source) -> Self {
        AgentSpec {
            source,
            args: empty_args(),
            name: None,
            can_block: true,
            limits: Limits::default(),
            close_on_end: Vec::new(),
            data: None,
        }
    }

    /// Gives the agent (and, unless they set their own, the agents it
    /// spawns) `value` as its host data: a host function reads it with
    /// [`Caller::data`](crate::Caller::data), as a wasmtime host function
    /// reads its store's data. A function host keeps its tenant there, a
    /// game engine the entity a script drives.
    ///
    /// ```
    /// use hz_core::{AgentSpec, Runtime};
    /// # let rt = Runtime::builder().engine(hz_core::testing::TestEngine::<true>).build().unwrap();
    /// struct Tenant(&'static str);
    /// let spec = AgentSpec::script("job.js", "hz.host('tenant')()").data(Tenant("acme"));
    /// assert!(spec.data.is_some());
    /// ```
    pub fn data<T: std::any::Any + Send + Sync>(mut self, value: T) -> Self {
        self.data = Some(crate::HostData::new(value));
        self
    }

    /// A spec running `scripts` (name, text) in order (see [`Source::Scripts`]).
    pub fn scripts(scripts: Vec<(String, String)>) -> Self {
        Self::new(Source::Scripts { scripts })
    }

    /// A spec running `code` as the program named `name` (see [`Source::Program`]).
    pub fn program(name: impl Into<String>, code: impl Into<String>) -> Self {
        Self::new(Source::Program { name: name.into(), code: code.into() })
    }

    /// A spec running the ES module at `path` (see [`Source::Module`]).
    pub fn module(path: impl Into<String>) -> Self {
        Self::new(Source::Module { path: path.into() })
    }

    /// A spec calling the function whose source is `code`.
    pub fn function(code: impl Into<String>) -> Self {
        Self::new(Source::Function { code: code.into() })
    }

    /// Sets the agent's [`Limits`] (see [`AgentSpec::limits`]).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Adds a channel to close when the agent ends (see
    /// [`AgentSpec::close_on_end`]).
    pub fn close_on_end(mut self, channel: &crate::Channel) -> Self {
        self.close_on_end.push(channel.clone());
        self
    }

    /// Applies `hz.spawn`'s options as the prelude passes them (cloned):
    /// `[heapBytes, stackBytes, turnMs, cpuMs, closeOnEnd]`, `-1` for no
    /// limit of that kind (the prelude has checked each).
    pub fn options_from_payload(&mut self, p: &Payload) -> Result<(), Error> {
        let bad = || Error::NotSupported("spawn options: expected [heapBytes, stackBytes, turnMs, cpuMs, closeOnEnd]");
        let Value::Array(mut items) = Value::from_payload(p)? else { return Err(bad()) };
        let Some(Value::Array(closes)) = items.pop() else { return Err(bad()) };
        self.limits = Limits::from_value(&Value::Array(items))?;
        for c in &closes {
            self.close_on_end.push(crate::Channel::from_value(c).ok_or_else(bad)?);
        }
        Ok(())
    }

    /// Whether a warm agent, made before its spec was known, can run this
    /// spec: one with no limits, `[[CanBlock]]` true and no host data of
    /// its own (the settings an engine instance is made with). The others
    /// get an engine instance made for them.
    pub fn is_plain(&self) -> bool {
        self.can_block && self.limits == Limits::default() && self.data.is_none()
    }

    /// Sets `[[CanBlock]]` (see [`AgentSpec::can_block`]).
    pub fn can_block(mut self, can_block: bool) -> Self {
        self.can_block = can_block;
        self
    }

    /// Sets the arguments (each is cloned into the agent).
    pub fn args(mut self, args: Vec<Value>) -> Result<Self, Error> {
        self.args = Value::Array(args).to_payload()?;
        Ok(self)
    }
}

fn empty_args() -> Payload {
    Value::Array(Vec::new()).to_payload().expect("an empty array encodes")
}

/// A task for an agent's event loop.
#[derive(Debug)]
#[non_exhaustive]
pub enum Task {
    /// Evaluate the agent's source (always the first task).
    Start(AgentSpec),
    /// A pending operation completed; hand its result to JS.
    Complete {
        /// The operation id [`Host`] returned when it started.
        op: u64,
        /// The result.
        completion: Completion,
    },
}

/// How an operation ended, as the JS layer sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Status {
    /// Succeeded, maybe with a value.
    Ok = 0,
    /// A receive found the channel closed and drained.
    Done = 1,
    /// Failed; the value is the error.
    Error = 2,
    /// A select's timeout fired.
    Timeout = 3,
    /// A select took its default.
    Default = 4,
}

/// The result of an operation.
#[derive(Debug, Clone)]
pub struct Completion {
    /// How it ended.
    pub status: Status,
    /// Its value (a received message, a join result, an error...).
    pub value: Option<Payload>,
    /// The select case that ran (-1 if none).
    pub index: i32,
    /// The channel a received value came from: it goes back there if the
    /// agent ends before it runs this completion (see [`Chan::give_back`]).
    from: Option<Weak<PayloadChan>>,
}

/// An `Atomics.wait` timeout in milliseconds, as the prelude coerced it
/// (≥ 0, or +∞), as a duration; `None` is forever.
pub fn wait_timeout(ms: f64) -> Option<Duration> {
    ms.is_finite().then(|| Duration::from_secs_f64(ms.clamp(0.0, 1e12) / 1000.0))
}

impl Completion {
    /// The value as a string, if it is one (an `Atomics.waitAsync` that
    /// completed at once carries its result word this way).
    pub fn text(&self) -> Option<String> {
        let v = Value::from_payload(self.value.as_ref()?).ok()?;
        v.as_str().map(str::to_owned)
    }

    fn new(status: Status, value: Option<Payload>, index: i32) -> Self {
        Completion { status, value, index, from: None }
    }
    pub(crate) fn ok(value: Option<Payload>) -> Self {
        Completion::new(Status::Ok, value, -1)
    }
    pub(crate) fn error(name: &str, message: &str) -> Self {
        Completion::new(Status::Error, error_payload(name, message), -1)
    }
    /// `cases[i]`: the channel of select case `i` (of case 0 for a plain receive).
    fn from_outcome(o: Outcome<Payload>, cases: &[Weak<PayloadChan>]) -> Self {
        match o {
            Outcome::Received { case, value } => {
                Completion { from: cases.get(case).cloned(), ..Completion::new(Status::Ok, Some(value), case as i32) }
            }
            Outcome::RecvClosed { case } => Completion::new(Status::Done, None, case as i32),
            Outcome::Sent { case } => Completion::new(Status::Ok, None, case as i32),
            Outcome::SendClosed { case, .. } => {
                Completion { index: case as i32, ..Completion::error("Error", "send on a closed channel") }
            }
            Outcome::Timeout => Completion::new(Status::Timeout, None, -1),
        }
    }

    /// Returns a received value nobody will see to its channel.
    fn give_back(self) {
        if let (Some(value), Some(from)) = (self.value, self.from)
            && let Some(ch) = from.upgrade()
        {
            ch.give_back(value);
        }
    }
}

impl Task {
    /// Hands back what a task carries that its agent will never see: a
    /// received value returns to its channel.
    fn give_back(self) {
        if let Task::Complete { completion, .. } = self {
            completion.give_back();
        }
    }
}

fn error_payload(name: &str, message: &str) -> Option<Payload> {
    JsError::error_value(name, message).to_payload().ok()
}

/// An operation's immediate result: done now, or pending with an id whose
/// [`Task::Complete`] comes later.
#[derive(Debug)]
pub enum OpStart {
    /// Completed synchronously.
    Done(Completion),
    /// Pending: completes through a [`Task::Complete`] with this op id.
    Pending(u64),
}

/// How an agent ended.
#[derive(Debug, Clone)]
pub(crate) enum Failure {
    /// It threw this value.
    Thrown(Payload),
    /// It was terminated.
    Terminated,
    /// The engine failed.
    Engine(String),
    /// It exceeded a limit (the message names it and its value).
    Limit(Limit, String),
}

/// An agent's result: its value, or why it has none.
pub(crate) type AgentResult = Result<Payload, Failure>;

pub(crate) fn join_error(f: &Failure) -> JoinError {
    match f {
        Failure::Thrown(p) => match Value::from_payload(p) {
            Ok(v) => JoinError::Js(JsError::from_value(v)),
            Err(e) => JoinError::Engine(format!("undecodable error: {e}")),
        },
        Failure::Terminated => JoinError::Terminated,
        Failure::Engine(m) => JoinError::Engine(m.clone()),
        Failure::Limit(limit, message) => JoinError::Limit { limit: *limit, message: message.clone() },
    }
}

/// A pending operation, kept so termination can cancel it and so a late
/// completion of a cancelled op is ignored.
enum PendingOp {
    /// A channel op or select registered on channels, with an optional timeout.
    Chan(Registration<Payload>, Option<TimerKey>),
    /// A timer (`setTimeout`).
    Timer(TimerKey),
    /// A join on another agent.
    Join,
    /// A call of an async host function, answered through its `Reply`.
    HostCall,
    /// `Atomics.waitAsync`: the futex waiter, its timeout, and a reference
    /// keeping the memory (whose address is the futex key) alive.
    Futex(std::sync::Arc<hz_atomics::Waiter>, Option<TimerKey>, hz_atomics::SharedMemory),
}

#[derive(Default)]
pub(crate) struct HostState {
    next_op: u64,
    ops: HashMap<u64, PendingOp>,
    settled: Option<AgentResult>,
    /// Set by [`Host::abort`] or a limit: the result even of a terminated agent.
    aborted: Option<Failure>,
    children: HashMap<AgentId, Arc<AgentShared>>,
    /// [`AgentSpec::close_on_end`].
    close_on_end: Vec<crate::Channel>,
    /// [`Host::close_on_end`]: held weakly, as a channel nobody else holds
    /// has nobody to tell (and a long-lived agent's dropped ports must not
    /// pile up here).
    held: Vec<Weak<PayloadChan>>,
}

type Joiner = Box<dyn FnOnce(&AgentResult) + Send>;

/// The scheduler's record of one agent.
pub(crate) struct AgentShared {
    pub(crate) id: AgentId,
    pub(crate) rt: Arc<RuntimeInner>,
    pub(crate) engine: Arc<dyn DynEngine>,
    /// The home worker of a pinned agent.
    pub(crate) home: Option<usize>,
    /// Its queued tasks, life and terminate flag.
    pub(crate) mailbox: Mailbox<Task>,
    /// A migratable agent's engine instance, between turns.
    pub(crate) body: Mutex<Option<Box<dyn crate::engine::Agent + Send>>>,
    /// Made ahead of need and not yet given a spec (see [`AgentShared::warm`]).
    warm: AtomicBool,
    /// `[[CanBlock]]`.
    can_block: bool,
    limits: Limits,
    /// Its `tracing` span (`hz.agent`, debug level): each turn's span
    /// (`hz.turn`, trace level) is its child.
    pub(crate) span: tracing::Span,
    /// The bytes it holds, for the heap limit.
    heap: crate::limits::HeapMeter,
    /// The time it has run, for the time limits.
    clock: Mutex<Clock>,
    /// Ends a blocking `Atomics.wait` on terminate.
    wait_slot: hz_atomics::WaitSlot,
    interrupt: Mutex<Option<Box<dyn Fn() + Send + Sync>>>,
    /// The embedder's data (see [`AgentSpec::data`]).
    pub(crate) data: Option<crate::HostData>,
    host: Mutex<HostState>,
    result: ResultCell<AgentResult>,
}

impl AgentShared {
    pub(crate) fn new(
        id: AgentId,
        rt: Arc<RuntimeInner>,
        engine: Arc<dyn DynEngine>,
        home: Option<usize>,
        mut spec: AgentSpec,
    ) -> Arc<Self> {
        let (can_block, limits) = (spec.can_block, spec.limits);
        let close_on_end = std::mem::take(&mut spec.close_on_end);
        let data = spec.data.take();
        let span = tracing::debug_span!(
            "hz.agent",
            id,
            engine = engine.name(),
            name = spec.name.as_deref().unwrap_or(""),
            warm = false
        );
        tracing::debug!(parent: &span, "spawned");
        let mailbox = Mailbox::new(Task::Start(spec));
        Self::make(id, rt, engine, home, mailbox, (can_block, limits, data), close_on_end, span, false)
    }

    /// An agent made ahead of need (see [`RuntimeBuilder::warm_agents`]):
    /// no task yet, scheduled so that a worker makes its engine instance,
    /// and the settings of a spec that [`AgentSpec::is_plain`] accepts.
    ///
    /// [`RuntimeBuilder::warm_agents`]: crate::RuntimeBuilder::warm_agents
    pub(crate) fn warm(id: AgentId, rt: Arc<RuntimeInner>, engine: Arc<dyn DynEngine>) -> Arc<Self> {
        let span =
            tracing::debug_span!("hz.agent", id, engine = engine.name(), name = tracing::field::Empty, warm = true);
        let plain = (true, Limits::default(), None);
        Self::make(id, rt, engine, None, Mailbox::idle(), plain, Vec::new(), span, true)
    }

    #[allow(clippy::too_many_arguments)]
    fn make(
        id: AgentId,
        rt: Arc<RuntimeInner>,
        engine: Arc<dyn DynEngine>,
        home: Option<usize>,
        mailbox: Mailbox<Task>,
        (can_block, limits, data): (bool, Limits, Option<crate::HostData>),
        close_on_end: Vec<crate::Channel>,
        span: tracing::Span,
        warm: bool,
    ) -> Arc<Self> {
        Arc::new(AgentShared {
            id,
            rt,
            engine,
            home,
            mailbox,
            body: Mutex::new(None),
            warm: AtomicBool::new(warm),
            can_block,
            limits,
            span,
            heap: Default::default(),
            clock: Mutex::new(Clock::default()),
            wait_slot: hz_atomics::WaitSlot::new(),
            interrupt: Mutex::new(None),
            data,
            host: Mutex::new(HostState { close_on_end, ..HostState::default() }),
            result: ResultCell::new(),
        })
    }

    /// Whether this is a warm agent still waiting for its spec.
    pub(crate) fn is_warm(&self) -> bool {
        self.warm.load(Ordering::Acquire)
    }

    /// Gives a warm agent, whose engine instance exists, the spec it runs
    /// (one [`AgentSpec::is_plain`] accepts): its start task is queued and
    /// the agent scheduled, as a new agent's would be.
    pub(crate) fn assign(self: &Arc<Self>, mut spec: AgentSpec) {
        debug_assert!(spec.is_plain());
        self.warm.store(false, Ordering::Release);
        lock(&self.host).close_on_end = std::mem::take(&mut spec.close_on_end);
        self.span.record("name", spec.name.as_deref().unwrap_or(""));
        tracing::debug!(parent: &self.span, "spawned");
        self.enqueue(Task::Start(spec));
    }

    /// Queues a task and schedules the agent if it was idle. A task for a
    /// finished agent is handed back (a received value returns to its
    /// channel); nothing else in it has anyone left to tell.
    pub(crate) fn enqueue(self: &Arc<Self>, task: Task) {
        match self.mailbox.push(task) {
            Ok(true) => self.rt.schedule(self.clone()),
            Ok(false) => {}
            Err(task) => task.give_back(),
        }
    }

    pub(crate) fn complete(self: &Arc<Self>, op: u64, completion: Completion) {
        self.enqueue(Task::Complete { op, completion });
    }

    /// Requests termination: interrupts running JS and makes sure the
    /// scheduler sees the agent so it tears it down. False if it had ended.
    pub(crate) fn request_terminate(self: &Arc<Self>) -> bool {
        let Some(schedule) = self.mailbox.request_terminate() else {
            return false;
        };
        if let Some(interrupt) = lock(&self.interrupt).as_ref() {
            interrupt();
        }
        self.wait_slot.cancel(&self.rt.futex);
        if schedule {
            self.rt.schedule(self.clone());
        }
        true
    }

    /// Ends the agent with `failure` as its result (the first wins).
    fn abort(self: &Arc<Self>, failure: Failure) {
        {
            let mut h = lock(&self.host);
            if h.aborted.is_some() {
                return;
            }
            h.aborted = Some(failure);
        }
        self.request_terminate();
    }

    /// A turn starts: with a time limit, the watchdog is armed for it.
    pub(crate) fn begin_turn(self: &Arc<Self>) {
        if !self.limits.timed() {
            return;
        }
        let now = Instant::now();
        let mut c = lock(&self.clock);
        c.turn += 1;
        c.started = Some(now);
        c.blocked = Duration::ZERO;
        c.waiting_since = None;
        self.arm(&mut c, now);
    }

    /// Arms the watchdog for what the running turn has left.
    fn arm(self: &Arc<Self>, c: &mut Clock, now: Instant) {
        let Some((left, _)) = c.left(&self.limits, now) else { return };
        let (me, turn) = (Arc::downgrade(self), c.turn);
        c.timer = Some(self.rt.timers.add(now + left, move || {
            if let Some(me) = me.upgrade() {
                me.watchdog(turn);
            }
        }));
    }

    /// The watchdog fired: ends the agent if the turn it was armed for is
    /// still running and has used its time (waits do not count), else arms
    /// it again for what is left.
    fn watchdog(self: &Arc<Self>, turn: u64) {
        let now = Instant::now();
        let exceeded = {
            let mut c = lock(&self.clock);
            if c.turn != turn || c.started.is_none() {
                return;
            }
            c.timer = None;
            match c.left(&self.limits, now) {
                Some((left, limit)) if left.is_zero() => Some(limit),
                _ => {
                    self.arm(&mut c, now);
                    None
                }
            }
        };
        if let Some(limit) = exceeded {
            self.exceed(limit);
        }
    }

    /// A turn ended: its time is added to the total. True if that spent the
    /// agent's CPU time (the caller then ends it with [`Self::exceed`]).
    pub(crate) fn end_turn(&self) -> bool {
        if !self.limits.timed() {
            return false;
        }
        let now = Instant::now();
        let mut c = lock(&self.clock);
        let busy = c.busy(now);
        c.used += busy;
        c.started = None;
        if let Some(t) = c.timer.take() {
            self.rt.timers.cancel(t);
        }
        self.limits.cpu_time.is_some_and(|cpu| c.used >= cpu)
    }

    /// Ends the agent for exceeding `limit`, with a LimitError naming it.
    pub(crate) fn exceed(self: &Arc<Self>, limit: Limit) {
        self.abort(Failure::Limit(limit, self.limit_message(limit)));
    }

    fn limit_message(&self, limit: Limit) -> String {
        let ms = |d: Option<Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1000.0);
        match limit {
            Limit::Turn => format!("the agent's turn ran past its limit of {} ms", ms(self.limits.turn_time)),
            Limit::Cpu => format!("the agent ran past its CPU time limit of {} ms", ms(self.limits.cpu_time)),
            Limit::Heap => {
                format!("the agent's heap reached its limit of {} bytes", self.limits.heap_bytes.unwrap_or(0))
            }
        }
    }

    pub(crate) fn is_terminating(&self) -> bool {
        self.mailbox.is_terminating()
    }

    /// Whether the agent has ended: it failed, or its result is settled, no
    /// operation is pending and no task is queued.
    pub(crate) fn is_done(&self) -> bool {
        let h = lock(&self.host);
        match h.settled {
            // A failed agent ends now: what it still waits for is moot.
            Some(Err(_)) => true,
            Some(Ok(_)) => h.ops.is_empty() && self.mailbox.is_empty(),
            None => false,
        }
    }

    /// Ends the agent: cancels what is pending, hands back queued tasks
    /// (received values return to their channels), records the result and
    /// tells every joiner. Called once, by the scheduler.
    ///
    /// An agent joins its children before its own end is reported: its
    /// joiners hear of it once every child (and so every descendant) has
    /// ended, so no orphan is left behind (a nested Node worker keeps its
    /// parent alive the same way). An agent that fails or is terminated
    /// terminates them first, so none is left blocked in a wait; one that
    /// completes lets them run to their own end.
    pub(crate) fn finish(self: &Arc<Self>, result: Option<AgentResult>) {
        let (ops, settled, aborted, children, close_on_end, held) = {
            let mut h = lock(&self.host);
            (
                std::mem::take(&mut h.ops),
                h.settled.take(),
                h.aborted.take(),
                std::mem::take(&mut h.children),
                std::mem::take(&mut h.close_on_end),
                std::mem::take(&mut h.held),
            )
        };
        for (_, op) in ops {
            self.cancel_op(op);
        }
        // Newest first: each goes to the front of its channel, so values
        // from one channel return in their order.
        for task in self.mailbox.finish().into_iter().rev() {
            task.give_back();
        }
        // After the give-back: what the agent sent, or had taken and gave
        // back, is drained by receivers before they see the end.
        for channel in close_on_end {
            let _ = channel.close();
        }
        for channel in held.iter().filter_map(Weak::upgrade) {
            let _ = channel.close();
        }
        let result = match aborted {
            Some(failure) => Err(failure),
            None => result.or(settled).unwrap_or(Err(Failure::Terminated)),
        };
        let live: Vec<_> = children.into_values().filter(|c| c.result().is_none()).collect();
        let terminate = result.is_err();
        if live.is_empty() {
            self.report(result);
            return;
        }
        let left = Arc::new(AtomicUsize::new(live.len()));
        let pending = Arc::new(Mutex::new(Some(result)));
        for child in live {
            if terminate {
                child.request_terminate();
            }
            let (me, left, pending) = (self.clone(), left.clone(), pending.clone());
            child.on_finish(Box::new(move |_| {
                if left.fetch_sub(1, Ordering::AcqRel) == 1
                    && let Some(result) = lock(&pending).take()
                {
                    me.report(result);
                }
            }));
        }
    }

    /// Records the final result and tells every joiner.
    fn report(self: &Arc<Self>, result: AgentResult) {
        let how = match &result {
            Ok(_) => "completed",
            Err(Failure::Thrown(_)) => "failed",
            Err(Failure::Terminated) => "terminated",
            Err(Failure::Engine(_)) => "engine error",
            Err(Failure::Limit(..)) => "limit",
        };
        // Before the joiners hear of it: a joiner may look for this event.
        tracing::debug!(parent: &self.span, end = how, "ended");
        // Unhomed before the joiners hear of the end: a joiner that spawns
        // next must not find this agent's home still counting it.
        let unhome = || {
            if let Some(home) = self.home {
                self.rt.unhome(home);
            }
        };
        if !self.result.set(result, unhome) {
            return;
        }
        self.rt.agent_finished(self.id);
    }

    fn cancel_op(&self, op: PendingOp) {
        match op {
            PendingOp::Chan(reg, timer) => {
                reg.waiter().cancel();
                reg.unregister();
                if let Some(t) = timer {
                    self.rt.timers.cancel(t);
                }
            }
            PendingOp::Timer(t) => self.rt.timers.cancel(t),
            PendingOp::Join | PendingOp::HostCall => {}
            PendingOp::Futex(w, timer, _memory) => {
                self.rt.futex.cancel(&w, hz_atomics::WaitResult::Cancelled);
                if let Some(t) = timer {
                    self.rt.timers.cancel(t);
                }
            }
        }
    }

    /// Runs `f` with the result once the agent has finished (now, if it has).
    pub(crate) fn on_finish(&self, f: Joiner) {
        self.result.on_finish(f);
    }

    pub(crate) fn result(&self) -> Option<AgentResult> {
        self.result.get()
    }

    pub(crate) fn take_body(&self) -> Option<Box<dyn crate::engine::Agent + Send>> {
        lock(&self.body).take()
    }

    pub(crate) fn create_body(self: &Arc<Self>) -> Result<AgentBox, Error> {
        self.engine.create(Host { agent: self.clone() })
    }
}

/// The engine-neutral API of one agent: what its natives call to make
/// channels, wait, spawn, set timers and report its result. Cheap to clone.
#[derive(Clone)]
pub struct Host {
    pub(crate) agent: Arc<AgentShared>,
}

impl Host {
    /// This agent's id.
    pub fn id(&self) -> AgentId {
        self.agent.id
    }

    /// The runtime's module files, read once and shared by every agent
    /// (see [`crate::modules::ModuleCache`]).
    pub fn modules(&self) -> &std::sync::Arc<crate::modules::ModuleCache> {
        &self.agent.rt.modules
    }

    /// Has every idle worker thread call its engines'
    /// [`Engine::thread_idle`](crate::Engine::thread_idle) again soon: the
    /// backend freed something (an ended agent's engine instance) that a
    /// worker which went idle earlier may still hold.
    pub fn nudge_idle_workers(&self) {
        self.agent.rt.nudge_idle();
    }

    /// How many worker threads the runtime has (`hz.threads`).
    pub fn threads(&self) -> usize {
        self.agent.rt.threads()
    }

    /// The index of the worker thread running this turn (`hz.threadId()`).
    pub fn worker_index(&self) -> Option<usize> {
        self.agent.rt.current_worker()
    }

    /// Milliseconds on a monotonic clock, with sub-microsecond resolution,
    /// from a process-wide origin (`performance.now()` subtracts the value
    /// it read when the agent started).
    pub fn now_ms(&self) -> f64 {
        clock_origin().0.elapsed().as_secs_f64() * 1000.0
    }

    /// The wall-clock time of [`Host::now_ms`]'s origin, in milliseconds
    /// since the Unix epoch: `epoch_ms() + now_ms()` is the current time,
    /// on one clock for every agent of the process (`performance.timeOrigin
    /// + performance.now()` compares across agents to the microsecond).
    pub fn epoch_ms(&self) -> f64 {
        clock_origin().1
    }

    /// The flag an engine's interrupt handler polls: true once the agent is
    /// being terminated. Termination is uncatchable: the backend keeps
    /// interrupting until the turn returns.
    pub fn terminate_flag(&self) -> Arc<AtomicBool> {
        self.agent.mailbox.terminate_flag()
    }

    /// Registers what to call to interrupt running JS on terminate (for
    /// engines that do not poll [`Host::terminate_flag`]).
    pub fn set_interrupt(&self, f: impl Fn() + Send + Sync + 'static) {
        *lock(&self.agent.interrupt) = Some(Box::new(f));
    }

    fn register(&self, op: PendingOp) -> u64 {
        let mut h = lock(&self.agent.host);
        h.next_op += 1;
        let id = h.next_op;
        h.ops.insert(id, op);
        id
    }

    fn next_op_id(&self) -> u64 {
        let mut h = lock(&self.agent.host);
        h.next_op += 1;
        h.next_op
    }

    fn insert_op(&self, id: u64, op: PendingOp) {
        lock(&self.agent.host).ops.insert(id, op);
    }

    /// A waiter whose outcome becomes a [`Task::Complete`] for op `op`.
    /// `cases[i]` is the channel of case `i`, where a received value goes
    /// back if this agent has ended (empty for a plain send).
    /// (A plain op's cases are an array: no vector to allocate.)
    fn waiter(
        &self,
        op: u64,
        cases: impl AsRef<[Weak<PayloadChan>]> + Send + 'static,
        slot: &mut Option<Arc<Waiter<Payload>>>,
    ) -> Arc<Waiter<Payload>> {
        let agent = Arc::downgrade(&self.agent);
        let w = Waiter::new(move |outcome| {
            let completion = Completion::from_outcome(outcome, cases.as_ref());
            match agent.upgrade() {
                Some(agent) => agent.complete(op, completion),
                None => completion.give_back(),
            }
        });
        *slot = Some(w.clone());
        w
    }

    /// Called by the backend when a [`Task::Complete`] arrives: true if the
    /// op is still wanted (false if it was cancelled, e.g. `clearTimeout`).
    pub fn take_op(&self, op: u64) -> bool {
        let removed = lock(&self.agent.host).ops.remove(&op);
        match removed {
            Some(PendingOp::Chan(reg, timer)) => {
                reg.unregister();
                if let Some(t) = timer {
                    self.agent.rt.timers.cancel(t);
                }
                true
            }
            Some(PendingOp::Futex(_, Some(t), _)) => {
                self.agent.rt.timers.cancel(t);
                true
            }
            Some(_) => true,
            None => false,
        }
    }

    /// Cancels a pending op (`clearTimeout`). False if it was not pending.
    pub fn cancel_op(&self, op: u64) -> bool {
        let removed = lock(&self.agent.host).ops.remove(&op);
        match removed {
            Some(op) => {
                self.agent.cancel_op(op);
                true
            }
            None => false,
        }
    }

    /// A new channel.
    pub fn channel(&self, capacity: usize) -> Arc<PayloadChan> {
        Chan::new(capacity)
    }

    /// `ch.send(value)`.
    pub fn send(&self, ch: &Arc<PayloadChan>, value: Payload) -> OpStart {
        let op = self.next_op_id();
        let mut slot = None;
        match ch.send(value, || self.waiter(op, [], &mut slot)) {
            Attempt::Done(channel::SendResult::Sent) => OpStart::Done(Completion::ok(None)),
            Attempt::Done(channel::SendResult::Closed(_)) => {
                OpStart::Done(Completion::error("Error", "send on a closed channel"))
            }
            Attempt::WouldBlock(()) => {
                let w = slot.expect("waiter was made");
                self.insert_op(op, PendingOp::Chan(Registration::single(w, ch.clone()), None));
                OpStart::Pending(op)
            }
        }
    }

    /// `ch.recv()`.
    pub fn recv(&self, ch: &Arc<PayloadChan>) -> OpStart {
        let op = self.next_op_id();
        let mut slot = None;
        match ch.recv(|| self.waiter(op, [Arc::downgrade(ch)], &mut slot)) {
            Attempt::Done(r) => OpStart::Done(recv_completion(r)),
            Attempt::WouldBlock(()) => {
                let w = slot.expect("waiter was made");
                self.insert_op(op, PendingOp::Chan(Registration::single(w, ch.clone()), None));
                OpStart::Pending(op)
            }
        }
    }

    /// `ch.trySend(value)`: `Ok(true)` sent, `Ok(false)` would block, `Err` closed.
    pub fn try_send(&self, ch: &Arc<PayloadChan>, value: Payload) -> Result<bool, Error> {
        match ch.try_send(value) {
            Attempt::Done(channel::SendResult::Sent) => Ok(true),
            Attempt::Done(channel::SendResult::Closed(_)) => Err(Error::Closed),
            Attempt::WouldBlock(_) => Ok(false),
        }
    }

    /// `ch.tryRecv()`: `None` if it would block.
    pub fn try_recv(&self, ch: &Arc<PayloadChan>) -> Option<Completion> {
        match ch.try_recv() {
            Attempt::Done(r) => Some(recv_completion(r)),
            Attempt::WouldBlock(()) => None,
        }
    }

    /// `hz.select(cases, { default, timeout })`. `cases` are (channel, value
    /// to send or `None` to receive).
    pub fn select(
        &self,
        cases: Vec<(Arc<PayloadChan>, Option<Payload>)>,
        has_default: bool,
        timeout: Option<Duration>,
    ) -> OpStart {
        let op = self.next_op_id();
        let mut slot = None;
        let from: Vec<_> = cases.iter().map(|(ch, _)| Arc::downgrade(ch)).collect();
        let cases = cases
            .into_iter()
            .map(|(ch, v)| match v {
                Some(v) => Case::Send(ch, v),
                None => Case::Recv(ch),
            })
            .collect();
        // A select with a zero timeout and nothing ready times out at once.
        let has_default = has_default || timeout == Some(Duration::ZERO);
        match channel::select(cases, has_default, || self.waiter(op, from, &mut slot)) {
            Selected::Ready(o) => OpStart::Done(Completion::from_outcome(o, &[])),
            Selected::Default if timeout == Some(Duration::ZERO) => {
                OpStart::Done(Completion::from_outcome(Outcome::Timeout, &[]))
            }
            Selected::Default => OpStart::Done(Completion::new(Status::Default, None, -1)),
            Selected::Waiting(reg) => {
                let timer = timeout.map(|d| {
                    let w = reg.waiter().clone();
                    self.agent.rt.timers.add(Instant::now() + d, move || {
                        if w.try_claim() {
                            w.complete(Outcome::Timeout);
                        }
                    })
                });
                self.insert_op(op, PendingOp::Chan(reg, timer));
                OpStart::Pending(op)
            }
        }
    }

    /// `hz.host(name)(...args)`: calls the host function `name` the
    /// embedder registered ([`crate::Runtime::register_fn`]) with `args` (a
    /// cloned array). A sync one completes now, with its value or its
    /// error; an async one is a pending op its `Reply` completes.
    pub fn call_host(&self, name: &str, args: &Payload) -> OpStart {
        crate::hostfn::call(&self.agent, name, args, || {
            let op = self.next_op_id();
            self.insert_op(op, PendingOp::HostCall);
            op
        })
    }

    /// `setTimeout`: an op that completes after `delay`.
    pub fn timer(&self, delay: Duration) -> u64 {
        let op = self.next_op_id();
        let agent = Arc::downgrade(&self.agent);
        let key = self.agent.rt.timers.add(Instant::now() + delay, move || {
            if let Some(a) = agent.upgrade() {
                a.complete(op, Completion::ok(None));
            }
        });
        self.insert_op(op, PendingOp::Timer(key));
        op
    }

    /// `Atomics.waitAsync` on the integer at `byte_offset` of `memory`: waits
    /// while `still_expected()` holds (checked under the futex lock), for at
    /// most `timeout` (`None`: forever). Completes with the string `"ok"`,
    /// `"timed-out"` or `"not-equal"`, now or as a pending op.
    pub fn wait_async(
        &self,
        memory: &hz_atomics::SharedMemory,
        byte_offset: usize,
        still_expected: impl FnOnce() -> bool,
        timeout: Option<Duration>,
    ) -> OpStart {
        use hz_atomics::WaitResult;
        // The result as JS sees it: the string "ok", "timed-out" or "not-equal".
        fn word(r: WaitResult) -> Completion {
            let text = r.as_js_str().unwrap_or("not-equal");
            Completion::ok(Value::from(text).to_payload().ok())
        }
        let key = (memory.as_ptr() as usize, byte_offset);
        if timeout == Some(Duration::ZERO) {
            // No waiting at all: only the comparison.
            return OpStart::Done(word(if still_expected() { WaitResult::TimedOut } else { WaitResult::NotEqual }));
        }
        let op = self.next_op_id();
        let me = Arc::downgrade(&self.agent);
        let on_wake = move |r: WaitResult| {
            // Cancelled: the agent is going away, nobody to tell.
            if r != WaitResult::Cancelled
                && let Some(me) = me.upgrade()
            {
                me.complete(op, word(r));
            }
        };
        let Some(w) = self.agent.rt.futex.wait_async(key, still_expected, on_wake) else {
            return OpStart::Done(word(WaitResult::NotEqual));
        };
        let timer = timeout.map(|d| {
            let (futex, w) = (self.agent.rt.futex.clone(), w.clone());
            self.agent.rt.timers.add(Instant::now() + d, move || {
                futex.cancel(&w, WaitResult::TimedOut);
            })
        });
        self.insert_op(op, PendingOp::Futex(w, timer, memory.clone()));
        OpStart::Pending(op)
    }

    /// Whether this agent may block in `Atomics.wait` (`[[CanBlock]]`).
    pub fn can_block(&self) -> bool {
        self.agent.can_block
    }

    /// `Atomics.wait` on the integer at `byte_offset` of `memory`: blocks
    /// this agent while `still_expected()` holds (checked under the futex
    /// lock) for at most `timeout` (`None`: forever). While it sleeps, the
    /// other agents of its worker thread go on running on another thread.
    ///
    /// Returns `Ok`, `NotEqual` or `TimedOut`; `Cancelled` when the agent is
    /// being terminated (the backend then unwinds the turn, uncatchably).
    /// [`Error::NotSupported`] if the agent cannot block ([`Host::can_block`]).
    pub fn wait(
        &self,
        memory: &hz_atomics::SharedMemory,
        byte_offset: usize,
        still_expected: impl FnOnce() -> bool,
        timeout: Option<Duration>,
    ) -> Result<hz_atomics::WaitResult, Error> {
        use hz_atomics::WaitResult;
        if !self.agent.can_block {
            return Err(Error::NotSupported("Atomics.wait: this agent cannot block"));
        }
        if self.agent.is_terminating() {
            return Ok(WaitResult::Cancelled);
        }
        if timeout == Some(Duration::ZERO) {
            return Ok(if still_expected() { WaitResult::TimedOut } else { WaitResult::NotEqual });
        }
        let key = (memory.as_ptr() as usize, byte_offset);
        // A timeout too far away to represent is no timeout.
        let deadline = timeout.and_then(|d| Instant::now().checked_add(d));
        let rt = &self.agent.rt;
        // Counted as blocked once its waiter is queued: under the futex's
        // queue lock, so whoever sees the count and then makes another
        // waiter on the key queues it behind this one.
        let mut blocked = None;
        let still_expected = || {
            let expected = still_expected();
            if expected {
                blocked = Some(rt.blocked(deadline.is_none()));
            }
            expected
        };
        let _pinned = self.agent.home.map(|h| rt.pinned_blocked(h));
        let migratable = self.agent.home.is_none();
        // Time blocked here is not run time (see `Limits`).
        let timed = self.agent.limits.timed();
        if timed {
            lock(&self.agent.clock).waiting_since = Some(Instant::now());
        }
        let r = rt.futex.wait(key, still_expected, deadline, &self.agent.wait_slot, || rt.before_block(migratable));
        drop(blocked);
        if timed {
            let mut c = lock(&self.agent.clock);
            if let Some(since) = c.waiting_since.take() {
                c.blocked += since.elapsed();
            }
        }
        Ok(r)
    }

    /// `Atomics.notify` on the integer at `byte_offset` of `memory`: wakes up
    /// to `count` waiters (of any agent, any engine); returns how many.
    pub fn notify(&self, memory: &hz_atomics::SharedMemory, byte_offset: usize, count: usize) -> usize {
        let woken = self.agent.rt.futex.notify((memory.as_ptr() as usize, byte_offset), count);
        if woken > 0 {
            self.agent.rt.wakes.fetch_add(woken as u64, Ordering::SeqCst);
        }
        woken
    }

    /// Spawns a child agent on `engine` (this agent's engine if `None`).
    pub fn spawn(&self, engine: Option<&str>, spec: AgentSpec) -> Result<AgentId, Error> {
        let engine = engine.unwrap_or(self.agent.engine.name());
        let mut spec = spec;
        spec.can_block &= self.agent.can_block;
        spec.limits = spec.limits.within(&self.agent.limits);
        if spec.data.is_none() {
            spec.data = self.agent.data.clone();
        }
        let child = self.agent.rt.spawn_agent(engine, spec)?;
        let id = child.id;
        lock(&self.agent.host).children.insert(id, child);
        Ok(id)
    }

    /// Closes `ch` when this agent ends, however it ends (`on` true), or no
    /// longer (`on` false), as [`AgentSpec::close_on_end`] does for the
    /// channels a spawn names. A MessagePort's two channels close with the
    /// agent that owns the port (until it transfers the port away), so the
    /// entangled port hears of the end instead of waiting forever.
    /// The agent holds the channel weakly: one nobody else holds any more
    /// is forgotten.
    pub fn close_on_end(&self, ch: &Arc<PayloadChan>, on: bool) {
        let mut h = lock(&self.agent.host);
        h.held.retain(|w| w.strong_count() > 0 && !std::ptr::eq(w.as_ptr(), Arc::as_ptr(ch)));
        if on {
            h.held.push(Arc::downgrade(ch));
        }
    }

    /// `handle.join()` on a child this agent spawned. Once a join has its
    /// result the child's record goes (a parent spawning many children
    /// holds only the live and the unjoined ones); the prelude keeps each
    /// handle's join promise, so joining twice gives the same result.
    pub fn join(&self, child: AgentId) -> OpStart {
        let Some(target) = lock(&self.agent.host).children.get(&child).cloned() else {
            return OpStart::Done(Completion::error("TypeError", "unknown agent"));
        };
        if let Some(r) = target.result() {
            lock(&self.agent.host).children.remove(&child);
            return OpStart::Done(result_completion(&r));
        }
        let op = self.register(PendingOp::Join);
        let me = Arc::downgrade(&self.agent);
        target.on_finish(Box::new(move |r| {
            if let Some(me) = me.upgrade() {
                lock(&me.host).children.remove(&child);
                me.complete(op, result_completion(r));
            }
        }));
        OpStart::Pending(op)
    }

    /// `handle.terminate()` on a child: false if it had already ended.
    pub fn terminate(&self, child: AgentId) -> bool {
        let target = lock(&self.agent.host).children.get(&child).cloned();
        target.is_some_and(|t| t.request_terminate())
    }

    /// Records the agent's result (its function returned / its script
    /// completed, or it threw). The first call wins. The agent ends once
    /// nothing is pending.
    pub fn settle(&self, result: Result<Payload, Payload>) {
        let mut h = lock(&self.agent.host);
        if h.settled.is_none() {
            h.settled = Some(result.map_err(Failure::Thrown));
        }
    }

    /// An exception nobody caught (in a timer callback, a task...): the
    /// agent fails with it even if it had already returned a value, as a
    /// worker dies of an uncaught exception. The first failure wins.
    pub fn uncaught(&self, thrown: Payload) {
        let mut h = lock(&self.agent.host);
        if !matches!(h.settled, Some(Err(_))) {
            h.settled = Some(Err(Failure::Thrown(thrown)));
        }
    }

    /// Ends the agent as terminate does (uncatchably: queued tasks are
    /// dropped, running JS is interrupted, waits are cancelled), with
    /// `error` as its result instead of "terminated": for a limit the agent
    /// exceeded, such as its heap. The first abort wins. Safe to call from
    /// an engine callback on the agent's own thread.
    pub fn abort(&self, error: Payload) {
        self.agent.abort(Failure::Thrown(error));
    }

    /// Ends the agent as [`Host::abort`] does, for exceeding `limit`: its
    /// join fails with a `LimitError` naming it ([`JoinError::Limit`]).
    /// Safe to call from an engine callback (an allocator) on the agent's
    /// own thread; the first call wins.
    pub fn exceeded(&self, limit: Limit) {
        self.agent.exceed(limit);
    }

    /// Whether the agent may take `bytes` more memory under its heap limit
    /// (always, if it has none); the backend counts them in with
    /// [`Host::heap_hold`] once allocated. The first allocation past the
    /// limit ends the agent ([`Host::exceeded`]) and is refused; later ones
    /// get a small grace so the engine can unwind. Safe to call from an
    /// allocator.
    pub fn heap_admit(&self, bytes: usize) -> bool {
        let Some(limit) = self.agent.limits.heap_bytes else { return true };
        match self.agent.heap.admit(limit, bytes) {
            crate::limits::Admit::Yes => true,
            crate::limits::Admit::No => false,
            crate::limits::Admit::Exceeded => {
                self.agent.exceed(Limit::Heap);
                false
            }
        }
    }

    /// Counts `bytes` of memory the agent now holds against its heap limit:
    /// what it allocated (after [`Host::heap_admit`]) or was handed (a
    /// transferred buffer, shared memory). Memory handed over past the
    /// limit ends the agent. Free without a limit.
    pub fn heap_hold(&self, bytes: usize) {
        let Some(limit) = self.agent.limits.heap_bytes else { return };
        if self.agent.heap.hold(limit, bytes) {
            self.agent.exceed(Limit::Heap);
        }
    }

    /// Counts `bytes` the agent no longer holds out. Safe from any thread.
    pub fn heap_release(&self, bytes: usize) {
        if self.agent.limits.heap_bytes.is_some() {
            self.agent.heap.release(bytes);
        }
    }

    /// The bytes counted against the agent's heap limit (0 without one).
    pub fn heap_used(&self) -> usize {
        self.agent.heap.used()
    }

    /// Drops a task the agent will not run because it is being terminated
    /// (the flag was set after the task was taken): a received value it
    /// carries goes back to its channel.
    pub fn discard(&self, task: Task) {
        task.give_back();
    }

    /// The agent's limits (a backend applies the heap and stack ones).
    pub fn limits(&self) -> Limits {
        self.agent.limits
    }

    /// Records an engine failure as the agent's result.
    pub fn fail(&self, message: String) {
        let mut h = lock(&self.agent.host);
        if h.settled.is_none() {
            h.settled = Some(Err(Failure::Engine(message)));
        }
    }

    /// Whether the result is already settled.
    pub fn is_settled(&self) -> bool {
        lock(&self.agent.host).settled.is_some()
    }
}

fn recv_completion(r: Recv<Payload>) -> Completion {
    match r {
        Recv::Value(v) => Completion::ok(Some(v)),
        Recv::Closed => Completion::new(Status::Done, None, -1),
    }
}

fn result_completion(r: &AgentResult) -> Completion {
    match r {
        Ok(p) => Completion::ok(Some(p.clone())),
        Err(Failure::Thrown(p)) => Completion::new(Status::Error, Some(p.clone()), -1),
        Err(Failure::Terminated) => Completion::error("Error", "agent was terminated"),
        Err(Failure::Engine(m)) => Completion::error("Error", m),
        Err(Failure::Limit(_, m)) => Completion::error("LimitError", m),
    }
}

/// The process's monotonic clock origin and the wall-clock time read with
/// it (milliseconds since the Unix epoch), both taken once.
fn clock_origin() -> &'static (Instant, f64) {
    static ORIGIN: std::sync::OnceLock<(Instant, f64)> = std::sync::OnceLock::new();
    ORIGIN.get_or_init(|| {
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0);
        (Instant::now(), wall)
    })
}
