//! The M:N scheduler: N worker threads run the turns of M agents.
//!
//! Each worker has a local run queue (migratable agents, stealable) and a
//! pinned queue (agents whose engine cannot move, placed on it at spawn).
//! A woken agent goes to the waking worker's local queue (so talking agents
//! stay close), or to the injector when woken from outside the pool. Idle
//! workers spin briefly, then park; pushing work unparks one. See
//! `SCHEDULER.md` for the protocol.

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::fence;
use std::thread::JoinHandle;

use rustc_hash::FxHashMap as HashMap;

use crate::Error;
use crate::agent::{AgentId, AgentShared, AgentSpec, Failure, Task};
use crate::engine::{Agent, AgentBox, DynEngine, Engine};
use crate::mailbox::Life;
use crate::runq::Queue;
use crate::sync::{Arc, AtomicBool, AtomicU64, AtomicUsize, Condvar, Mutex, MutexGuard, Ordering, lock, wait_for};
use crate::timer::Timers;
use crate::turn::TurnWord;

/// How many tasks one agent runs before the worker looks at other agents.
const BATCH: usize = 64;
/// How many times an idle worker looks for work before it parks.
const SPINS: usize = 256;
/// Worker stack size: engines recurse deeply (and so do clone walks).
const STACK_SIZE: usize = 16 << 20;
/// Threads parked as spares (for the next hand-off) beyond which a thread
/// whose blocked agent woke up exits instead.
const MAX_SPARES: usize = 64;
/// How long a spare waits for a slot before its thread exits (idle extra
/// threads retire).
const SPARE_IDLE: std::time::Duration =
    if cfg!(test) { std::time::Duration::from_secs(1) } else { std::time::Duration::from_secs(10) };
/// Default for [`RuntimeBuilder::warm_agents`].
const WARM_AGENTS: usize = 2;
/// Ended agents' engine instances that may wait to be freed (see
/// [`RuntimeInner::bury`]).
const MAX_GRAVES: usize = 8;
/// Default cap on threads (workers plus those of blocked agents). Past it a
/// blocking agent keeps its worker (no hand-off).
const MAX_THREADS: usize = 1024;
/// How often the monitor looks at the worker slots while agents run: a
/// turn seen on two looks in a row has run at least this long.
const TICK: std::time::Duration = std::time::Duration::from_millis(5);

static NEXT_RUNTIME_ID: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);

thread_local! {
    /// (runtime id, worker index) of the worker running on this thread.
    static CURRENT: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
    /// Engine instances of pinned agents whose home is this thread.
    static PINNED: RefCell<HashMap<AgentId, Box<dyn Agent>>> = RefCell::new(HashMap::default());
    /// Set when this thread gave its worker slot away (its agent blocked):
    /// it finishes the agent's turn, then parks as a spare.
    static HANDED_OFF: Cell<bool> = const { Cell::new(false) };
    /// The number of the turn this thread runs now on its slot's
    /// [`TurnWord`], if that turn may be taken from it (0: none).
    static TURN: Cell<u64> = const { Cell::new(0) };
}

/// Builds a [`Runtime`].
pub struct RuntimeBuilder {
    threads: Option<usize>,
    max_threads: usize,
    engines: Vec<Arc<dyn DynEngine>>,
    warm: usize,
    pin: bool,
}

impl Default for RuntimeBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl RuntimeBuilder {
    /// A builder with no engines and the default thread count.
    pub fn new() -> Self {
        RuntimeBuilder { threads: None, max_threads: MAX_THREADS, engines: Vec::new(), warm: WARM_AGENTS, pin: false }
    }

    /// Worker threads (default: available parallelism).
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = Some(n.max(1));
        self
    }

    /// The most OS threads the runtime may run at once (default 1024): its
    /// workers plus one per agent blocked in `Atomics.wait` (each blocked
    /// agent hands its worker's queue to another thread). Past the cap a
    /// blocking agent holds its worker. At least the worker count.
    pub fn max_threads(mut self, n: usize) -> Self {
        self.max_threads = n;
        self
    }

    /// How many agents of each engine the runtime keeps made ahead of need
    /// (default 2), so that a spawn skips making an engine instance: a warm
    /// agent has its engine instance and hz's JS API in place, and gets its
    /// code at spawn. A pool fills on the second spawn on its engine (a
    /// program whose only agent is its main one makes none), and after that
    /// tops itself up on whatever worker thread has nothing else to do.
    /// Only specs with the settings an engine instance is made with use it
    /// (see [`AgentSpec::is_plain`]); only engines whose agents migrate
    /// (see [`Engine::can_warm`]). 0 turns it off.
    pub fn warm_agents(mut self, n: usize) -> Self {
        self.warm = n;
        self
    }

    /// Whether each worker thread keeps to a CPU (worker `i` to the `i`th
    /// CPU the process may use, modulo their count; default false). For a
    /// process that owns the machine and has a worker per CPU, as `hz run`
    /// does; where other runtimes or threads share the CPUs, pinned workers
    /// cannot move away from a busy one, so leave it off.
    ///
    /// Why: a worker that wakes a parked one (to run an agent it readied)
    /// may find the woken thread placed on its own CPU, as Linux does under
    /// KVM when the other virtual CPU sits halted, and then waits while it
    /// runs; kept apart, both run. Measured on a 2-CPU VM: a spawned agent's
    /// first message 0.70 ms unpinned, 0.20 ms pinned. A thread that takes
    /// over a blocked agent's worker takes its CPU too; the thread that gave
    /// the worker away may run on any CPU until it serves one again.
    pub fn pin_threads(mut self, pin: bool) -> Self {
        self.pin = pin;
        self
    }

    /// Registers an engine; the first registered is the default for
    /// [`Runtime::spawn_script`]. Registering a name again replaces it.
    pub fn engine<E: Engine>(mut self, engine: E) -> Self {
        self.engines.retain(|e| e.name() != E::NAME);
        self.engines.push(Arc::new(engine));
        self
    }

    /// Whether an engine of that name is registered.
    pub fn has_engine(&self, name: &str) -> bool {
        self.engines.iter().any(|e| e.name() == name)
    }

    /// Starts the worker threads.
    pub fn build(self) -> Result<Runtime, Error> {
        if self.engines.is_empty() {
            return Err(Error::NotSupported("a runtime needs at least one engine"));
        }
        let n = self.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let inner = Arc::new(RuntimeInner {
            affinity: Affinity::new(self.pin, n),
            id: NEXT_RUNTIME_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            warm: self.engines.iter().map(|_| Mutex::new(WarmPool::default())).collect(),
            warm_jobs: Queue::default(),
            graves: Queue::default(),
            warm_target: self.warm,
            engines: self.engines,
            workers: (0..n).map(|_| Worker::default()).collect(),
            injector: Queue::default(),
            idle: Mutex::new(Vec::new()),
            num_idle: AtomicUsize::new(0),
            nudges: AtomicUsize::new(0),
            shutdown: AtomicBool::new(false),
            closing: AtomicBool::new(false),
            timers: Timers::default(),
            futex: hz_atomics::Futex::new(),
            live: Mutex::new(HashMap::default()),
            live_cv: Condvar::new(),
            next_agent: AtomicU64::new(1),
            next_home: AtomicUsize::new(0),
            threads: Mutex::new(Vec::new()),
            turns: AtomicU64::new(0),
            active: AtomicUsize::new(0),
            blocked_forever: AtomicUsize::new(0),
            wakes: AtomicU64::new(0),
            spares: Mutex::new(Vec::new()),
            monitor: Monitor::default(),
            thread_count: AtomicUsize::new(n),
            max_threads: self.max_threads.max(n),
            host_fns: Default::default(),
            broadcast: Default::default(),
            modules: Default::default(),
        });
        let mut handles = Vec::with_capacity(n + 1);
        for i in 0..n {
            let h = inner
                .spawn_thread(format!("hz-worker-{i}"), move |rt| rt.thread_main(i))
                .map_err(|e| Error::Engine { engine: "runtime", message: format!("spawning a worker: {e}") })?;
            handles.push(h);
        }
        let rt = inner.clone();
        handles.push(
            std::thread::Builder::new()
                .name("hz-timer".into())
                .spawn(move || rt.timers.run())
                .map_err(|e| Error::Engine { engine: "runtime", message: format!("spawning the timer: {e}") })?,
        );
        let rt = inner.clone();
        handles.push(
            std::thread::Builder::new()
                .name("hz-monitor".into())
                .spawn(move || rt.monitor_main())
                .map_err(|e| Error::Engine { engine: "runtime", message: format!("spawning the monitor: {e}") })?,
        );
        *lock(&inner.threads) = handles;
        Ok(Runtime { inner: inner.clone(), _guard: Arc::new(ShutdownGuard(inner)) })
    }
}

/// A running hz runtime: worker threads, a timer thread and the agents on
/// them. Cheap to clone; when the last clone is dropped every agent is
/// terminated and the threads are joined.
#[derive(Clone)]
pub struct Runtime {
    pub(crate) inner: Arc<RuntimeInner>,
    _guard: Arc<ShutdownGuard>,
}

struct ShutdownGuard(Arc<RuntimeInner>);

impl Drop for ShutdownGuard {
    fn drop(&mut self) {
        self.0.shutdown();
    }
}

#[derive(Default)]
struct Worker {
    local: Queue<Arc<AgentShared>>,
    pinned: Queue<Arc<AgentShared>>,
    parker: Parker,
    /// Live pinned agents whose home this is (placement balances these).
    homed: AtomicUsize,
    /// Pinned agents of this home blocked in a wait now: while one is, the
    /// thread runs nothing else, so new pinned agents are placed elsewhere.
    blocked: AtomicUsize,
    /// The turn running on this slot's thread, for the monitor (see
    /// [`TurnWord`]).
    turn: TurnWord,
    /// The OS id of the thread serving the slot (0 if unknown), for the
    /// monitor to unpin when it takes the slot away (see [`Affinity`]).
    tid: std::sync::atomic::AtomicI32,
}

/// Where pool threads run. With [`RuntimeBuilder::pin_threads`], the
/// thread serving a worker slot keeps to the slot's CPU. A thread that
/// gives its slot away (to block in a wait, or to finish a long turn the
/// monitor took the slot from) may run on any of the process's CPUs again
/// until it serves a slot once more: kept to the slot's CPU, it would
/// share that CPU with the thread that took the slot over, while another
/// CPU idles. (core_affinity pins to one CPU only: the way back to all of
/// them is `sched_setaffinity`, on Linux.)
struct Affinity {
    /// The CPU of each slot (empty: threads are not pinned).
    cpus: Vec<core_affinity::CoreId>,
    /// The process's CPUs, as the runtime was built.
    #[cfg(target_os = "linux")]
    all: Option<rustix::process::CpuSet>,
}

impl Affinity {
    fn new(pin: bool, slots: usize) -> Self {
        let cpus = match pin {
            true => {
                let cpus = core_affinity::get_core_ids().unwrap_or_default();
                (0..slots).filter_map(|i| cpus.get(i % cpus.len().max(1)).copied()).collect()
            }
            false => Vec::new(),
        };
        Affinity {
            #[cfg(target_os = "linux")]
            all: if cpus.is_empty() { None } else { rustix::process::sched_getaffinity(None).ok() },
            cpus,
        }
    }

    /// Keeps the calling thread, which is to serve slot `idx`, to the
    /// slot's CPU.
    fn pin(&self, idx: usize, slot: &Worker) {
        let Some(cpu) = self.cpus.get(idx) else { return };
        core_affinity::set_for_current(*cpu);
        #[cfg(target_os = "linux")]
        slot.tid.store(rustix::thread::gettid().as_raw_nonzero().get(), std::sync::atomic::Ordering::Relaxed);
        #[cfg(not(target_os = "linux"))]
        let _ = slot;
    }

    /// Lets thread `tid` (0: the calling thread), which gave its slot
    /// away, run on any of the process's CPUs.
    fn unpin(&self, tid: i32) {
        #[cfg(target_os = "linux")]
        if let Some(all) = &self.all {
            let _ = rustix::process::sched_setaffinity(rustix::process::Pid::from_raw(tid), all);
        }
        #[cfg(not(target_os = "linux"))]
        let _ = tid;
    }
}

/// The monitor's sleep: it ticks while agents run and sleeps while none
/// does, until `run_agent` wakes it.
#[derive(Default)]
struct Monitor {
    lock: Mutex<()>,
    cv: Condvar,
    asleep: AtomicBool,
}

/// A thread whose blocked agent woke up, parked until a worker slot is
/// handed to it.
#[derive(Default)]
struct Spare {
    slot: Mutex<Option<usize>>,
    cv: Condvar,
}

#[derive(Default)]
struct Parker {
    notified: Mutex<bool>,
    cv: Condvar,
}

impl Parker {
    fn park(&self) {
        let mut n = lock(&self.notified);
        while !*n {
            n = match self.cv.wait(n) {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
        }
        *n = false;
    }
    fn unpark(&self) {
        *lock(&self.notified) = true;
        self.cv.notify_one();
    }
}

/// What making an agent's engine instance gave (a panic is caught).
type Made = std::thread::Result<Result<AgentBox, Error>>;

/// One engine's agents made ahead of need.
#[derive(Default)]
struct WarmPool {
    /// Made, waiting for a spec.
    ready: Vec<Arc<AgentShared>>,
    /// Being made by a worker now, oldest first: a spawn that finds none
    /// ready takes the oldest of these (see [`RuntimeInner::take_warm`]).
    in_progress: Vec<Arc<AgentShared>>,
    /// Queued or being made.
    making: usize,
    /// A plain spawn has taken place (the pool fills from the second on).
    spawned: bool,
}

pub(crate) struct RuntimeInner {
    id: usize,
    engines: Vec<Arc<dyn DynEngine>>,
    /// Warm agents, per engine (same order as `engines`).
    warm: Box<[Mutex<WarmPool>]>,
    /// Warm agents to make, when a worker has nothing else to do.
    warm_jobs: Queue<Arc<AgentShared>>,
    /// Engine instances of ended agents, to free when a worker has nothing
    /// else to do (see [`RuntimeInner::bury`]).
    graves: Queue<Box<dyn Agent + Send>>,
    warm_target: usize,
    /// The CPU each worker slot keeps to (see [`Affinity`]).
    affinity: Affinity,
    workers: Box<[Worker]>,
    injector: Queue<Arc<AgentShared>>,
    idle: Mutex<Vec<usize>>,
    num_idle: AtomicUsize,
    /// Bumped by [`RuntimeInner::nudge_idle`]: a worker that saw it change
    /// while going idle runs its engines' `thread_idle` again instead of
    /// parking.
    nudges: AtomicUsize,
    shutdown: AtomicBool,
    /// [`Runtime::shutdown`] was called: no new agents.
    closing: AtomicBool,
    pub(crate) timers: Timers,
    /// The runtime's one futex: Atomics waits and notifies of every agent.
    pub(crate) futex: std::sync::Arc<hz_atomics::Futex>,
    /// Agents that have not finished, for `wait_idle` and shutdown.
    live: Mutex<HashMap<AgentId, std::sync::Weak<AgentShared>>>,
    live_cv: Condvar,
    next_agent: AtomicU64,
    next_home: AtomicUsize,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// Tasks run so far, and agents inside `run_agent` now (for [`Activity`]).
    turns: AtomicU64,
    active: AtomicUsize,
    /// Agents blocked in `Atomics.wait` with no timeout.
    blocked_forever: AtomicUsize,
    /// Waiters woken by `Atomics.notify` (see [`Activity::wakes`]).
    pub(crate) wakes: AtomicU64,
    /// Threads waiting to take over a worker slot.
    spares: Mutex<Vec<Arc<Spare>>>,
    monitor: Monitor,
    /// OS threads running workers or blocked agents (not the timer).
    thread_count: AtomicUsize,
    max_threads: usize,
    /// Host functions the embedder registered.
    pub(crate) host_fns: crate::hostfn::HostFns,
    /// BroadcastChannel subscribers, by name.
    pub(crate) broadcast: crate::hostfn::Broadcast,
    /// Module files, shared by every agent.
    pub(crate) modules: std::sync::Arc<crate::modules::ModuleCache>,
}

/// Counts an agent blocked with no timeout while alive (see [`Activity`]).
pub(crate) struct BlockedGuard<'a>(Option<&'a AtomicUsize>);

impl Drop for BlockedGuard<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.0 {
            c.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// A snapshot of what a runtime is doing, for liveness checks (`hz run`
/// reports a deadlock when nothing can ever run again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Activity {
    /// Tasks run since the runtime started.
    pub turns: u64,
    /// Agents being run by a worker right now.
    pub running: usize,
    /// Agents waiting in a run queue.
    pub queued: usize,
    /// Timers armed (or firing).
    pub timers: usize,
    /// Running agents blocked in `Atomics.wait` with no timeout (counted in
    /// `running` too).
    pub blocked: usize,
    /// Agents that have not ended.
    pub live: usize,
    /// Waiters woken by `Atomics.notify` since the runtime started (agents
    /// blocked in `Atomics.wait` make progress inside one turn).
    pub wakes: u64,
    /// OS threads the pool has: one per worker slot, plus those whose
    /// agent blocked or ran a long turn (their slot went to another
    /// thread) and spares waiting to take a slot over.
    pub threads: usize,
}

impl Activity {
    /// Whether, going by this snapshot and one taken earlier, no agent can
    /// run again unless something outside the runtime (a Rust thread using
    /// a channel) wakes one: no turn ran in between, none is running or
    /// queued, and no timer is armed in either snapshot.
    pub fn is_stalled_since(&self, earlier: &Activity) -> bool {
        let quiet = |a: &Activity| a.running == a.blocked && a.queued == 0 && a.timers == 0 && a.live > 0;
        quiet(self) && quiet(earlier) && self.turns == earlier.turns && self.wakes == earlier.wakes
    }
}

enum Body {
    Migratable(Box<dyn Agent + Send>),
    Pinned(Box<dyn Agent>),
}

impl Body {
    fn run_task(&mut self, task: crate::Task) {
        match self {
            Body::Migratable(b) => b.run_task(task),
            Body::Pinned(b) => b.run_task(task),
        }
    }
}

fn panic_message(when: &str, panic: &Box<dyn std::any::Any + Send>) -> String {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    format!("internal error while {when}: {what}")
}

impl RuntimeInner {
    pub(crate) fn engine(&self, name: &str) -> Result<Arc<dyn DynEngine>, Error> {
        self.engine_index(name).map(|i| self.engines[i].clone())
    }

    /// Where the engine `name` is in `engines` (and so in `warm`).
    fn engine_index(&self, name: &str) -> Result<usize, Error> {
        self.engines.iter().position(|e| e.name() == name).ok_or_else(|| Error::UnknownEngine(name.into()))
    }

    pub(crate) fn default_engine(&self) -> &Arc<dyn DynEngine> {
        &self.engines[0]
    }

    pub(crate) fn engine_names(&self) -> Vec<&'static str> {
        self.engines.iter().map(|e| e.name()).collect()
    }

    /// The index of the worker thread running the caller, if it is one of ours.
    pub(crate) fn current_worker(&self) -> Option<usize> {
        let (rt, idx) = CURRENT.with(Cell::get);
        (rt == self.id).then_some(idx)
    }

    pub(crate) fn threads(&self) -> usize {
        self.workers.len()
    }

    pub(crate) fn spawn_agent(self: &Arc<Self>, engine: &str, spec: AgentSpec) -> Result<Arc<AgentShared>, Error> {
        // Set before `shutdown`, by every way the runtime ends.
        if self.closing.load(Ordering::Acquire) {
            return Err(Error::ShutDown);
        }
        let index = self.engine_index(engine)?;
        let engine = self.engines[index].clone();
        engine.check_limits(&spec.limits)?;
        if spec.is_plain()
            && let Some(agent) = self.take_warm(index)
        {
            agent.assign(spec);
            return Ok(agent);
        }
        let home = (!engine.migratable()).then(|| self.place_pinned());
        let id = self.next_agent.fetch_add(1, Ordering::Relaxed);
        let agent = AgentShared::new(id, self.clone(), engine, home, spec);
        lock(&self.live).insert(id, std::sync::Arc::downgrade(&agent));
        self.schedule(agent.clone());
        Ok(agent)
    }

    /// A warm agent of engine `index` for a plain spawn, now in `live`: one
    /// that is ready, else the oldest one a worker is making now (its
    /// instance is part made, and that worker runs it as soon as it is:
    /// [`RuntimeInner::warm_made`]), so that back-to-back spawns, which
    /// outrun the pool, wait for less than a whole instance and make none
    /// twice. From the pool's second spawn on, queues the warm agents that
    /// bring it back to [`RuntimeBuilder::warm_agents`].
    fn take_warm(self: &Arc<Self>, index: usize) -> Option<Arc<AgentShared>> {
        let engine = &self.engines[index];
        if self.warm_target == 0 || !engine.can_warm() {
            return None;
        }
        let (agent, missing) = {
            let mut pool = lock(&self.warm[index]);
            let mut agent = pool.ready.pop();
            if agent.is_none() && !pool.in_progress.is_empty() {
                agent = Some(pool.in_progress.remove(0));
                pool.making = pool.making.saturating_sub(1);
            }
            // Live before the pool lets go: a claimed agent whose instance
            // fails ends on its worker, which must find it there.
            if let Some(a) = &agent {
                lock(&self.live).insert(a.id, std::sync::Arc::downgrade(a));
            }
            let missing = match std::mem::replace(&mut pool.spawned, true) {
                false => 0,
                true => self.warm_target.saturating_sub(pool.ready.len() + pool.making),
            };
            pool.making += missing;
            (agent, missing)
        };
        if missing > 0 {
            let mut jobs = self.warm_jobs.lock();
            for _ in 0..missing {
                let id = self.next_agent.fetch_add(1, Ordering::Relaxed);
                jobs.push_back(AgentShared::warm(id, self.clone(), engine.clone()));
            }
            drop(jobs);
        }
        agent
    }

    /// The pool of warm agent `agent`'s engine, locked.
    fn warm_pool_of(&self, agent: &AgentShared) -> Option<MutexGuard<'_, WarmPool>> {
        let index = self.engine_index(agent.engine.name()).ok()?;
        Some(lock(&self.warm[index]))
    }

    /// A worker is about to make warm agent `agent`'s engine instance.
    fn warm_started(&self, agent: &Arc<AgentShared>) {
        if let Some(mut pool) = self.warm_pool_of(agent) {
            pool.in_progress.push(agent.clone());
        }
    }

    /// A worker made a warm agent's engine instance (`Err`: it failed).
    /// If a spawn took the agent meanwhile ([`RuntimeInner::take_warm`]),
    /// hands the outcome back for the worker to run it as a new agent's;
    /// else into its pool it goes, unless the runtime is ending.
    fn warm_made(&self, agent: &Arc<AgentShared>, made: Made) -> Option<Made> {
        let mut pool = self.warm_pool_of(agent)?;
        match pool.in_progress.iter().position(|a| Arc::ptr_eq(a, agent)) {
            Some(i) => drop(pool.in_progress.remove(i)),
            None => return Some(made),
        }
        pool.making = pool.making.saturating_sub(1);
        let body = match made {
            Ok(Ok(AgentBox::Migratable(body))) => body,
            // Nobody waits on it: the pool stays short, and the next spawn
            // makes its own (which reports the failure to its spawner).
            Ok(Ok(AgentBox::Pinned(_))) => return None,
            Ok(Err(e)) => {
                tracing::warn!(parent: &agent.span, error = %e, "a warm agent's engine instance failed");
                return None;
            }
            Err(panic) => {
                let message = panic_message("creating a warm agent", &panic);
                tracing::warn!(parent: &agent.span, %message, "a warm agent's engine instance failed");
                return None;
            }
        };
        if self.closing.load(Ordering::Acquire) {
            drop(pool);
            drop(body);
            return None;
        }
        *lock(&agent.body) = Some(body);
        // Idle until its start task is pushed: that push schedules it.
        let queued = agent.mailbox.reschedule();
        debug_assert!(!queued, "a warm agent has no task before it is assigned");
        pool.ready.push(agent.clone());
        None
    }

    /// Drops every warm agent and every ended agent's engine instance (the
    /// runtime is ending). Their records hold the runtime, so they must go
    /// for it to be freed.
    fn drop_leftovers(&self) {
        self.warm_jobs.lock().clear();
        let graves = std::mem::take(&mut *self.graves.lock());
        drop(graves);
        let ready: Vec<_> = self.warm.iter().flat_map(|p| std::mem::take(&mut lock(p).ready)).collect();
        for agent in ready {
            // The engine instance holds its record (through its `Host`).
            let body = agent.take_body();
            drop(body);
        }
    }

    /// The home thread for a new pinned agent: one with no agent blocked in a
    /// wait (a pinned agent that blocks holds its thread), then the fewest
    /// live pinned agents; ties rotate.
    fn place_pinned(&self) -> usize {
        let n = self.workers.len();
        let start = self.next_home.fetch_add(1, Ordering::Relaxed);
        let home = (0..n)
            .map(|k| (start + k) % n)
            .min_by_key(|&i| {
                let w = &self.workers[i];
                (w.blocked.load(Ordering::SeqCst) > 0, w.homed.load(Ordering::SeqCst))
            })
            .unwrap_or(0);
        self.workers[home].homed.fetch_add(1, Ordering::SeqCst);
        home
    }

    /// A pinned agent homed at `home` ended.
    pub(crate) fn unhome(&self, home: usize) {
        self.workers[home].homed.fetch_sub(1, Ordering::SeqCst);
    }

    /// Counts a pinned agent of `home` as blocked while the guard lives.
    pub(crate) fn pinned_blocked(&self, home: usize) -> BlockedGuard<'_> {
        self.workers[home].blocked.fetch_add(1, Ordering::SeqCst);
        BlockedGuard(Some(&self.workers[home].blocked))
    }

    /// Whether agents of `engine` may move between threads (`None`: no such engine).
    pub(crate) fn engine_migratable(&self, engine: &str) -> Option<bool> {
        self.engine(engine).ok().map(|e| e.migratable())
    }

    /// Puts a scheduled agent on a run queue and wakes a worker for it.
    pub(crate) fn schedule(&self, agent: Arc<AgentShared>) {
        if let Some(home) = agent.home {
            self.workers[home].pinned.push_back(agent);
            fence(Ordering::SeqCst);
            self.wake_worker(home);
            return;
        }
        let (rt, idx) = CURRENT.with(Cell::get);
        if rt == self.id {
            self.workers[idx].local.push_back(agent);
        } else {
            self.injector.push_back(agent);
        }
        fence(Ordering::SeqCst);
        self.wake_one();
    }

    /// Has every idle worker run its engines' `thread_idle` again (an
    /// engine let go of something a worker may hold since it went idle).
    /// A worker about to park re-checks `nudges` after registering as idle,
    /// as it re-checks the queues, so none misses it.
    pub(crate) fn nudge_idle(&self) {
        self.nudges.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if self.num_idle.load(Ordering::SeqCst) == 0 {
            return;
        }
        let idle = std::mem::take(&mut *lock(&self.idle));
        self.num_idle.fetch_sub(idle.len(), Ordering::SeqCst);
        for w in idle {
            self.workers[w].parker.unpark();
        }
    }

    fn wake_one(&self) {
        if self.num_idle.load(Ordering::SeqCst) == 0 {
            return;
        }
        let w = {
            let mut idle = lock(&self.idle);
            let w = idle.pop();
            if w.is_some() {
                self.num_idle.fetch_sub(1, Ordering::SeqCst);
            }
            w
        };
        if let Some(w) = w {
            self.workers[w].parker.unpark();
        }
    }

    fn wake_worker(&self, i: usize) {
        let was_idle = {
            let mut idle = lock(&self.idle);
            match idle.iter().position(|&w| w == i) {
                Some(p) => {
                    idle.swap_remove(p);
                    self.num_idle.fetch_sub(1, Ordering::SeqCst);
                    true
                }
                None => false,
            }
        };
        if was_idle {
            self.workers[i].parker.unpark();
        }
    }

    fn find_work(&self, idx: usize) -> Option<Arc<AgentShared>> {
        if let Some(a) = self.workers[idx].pinned.pop_front() {
            return Some(a);
        }
        if let Some(a) = self.workers[idx].local.pop_front() {
            return Some(a);
        }
        if let Some(a) = self.injector.pop_front() {
            return Some(a);
        }
        let n = self.workers.len();
        (1..n).find_map(|k| self.workers[(idx + k) % n].local.pop_front())
    }

    /// Does one piece of work for worker `idx`, if there is any: a ready
    /// agent's turns first; with none, it makes a warm agent (a spawn may
    /// be waiting for it), else frees an ended agent's engine instance
    /// (nobody waits for that). False if there was nothing.
    fn step(&self, idx: usize) -> bool {
        if let Some(a) = self.find_work(idx) {
            self.run_agent(a);
            return true;
        }
        let warm = self.warm_jobs.pop_front();
        if let Some(a) = warm {
            self.run_agent(a);
            return true;
        }
        let grave = self.graves.pop_back();
        if let Some(body) = grave {
            drop(body);
            return true;
        }
        false
    }

    /// Frees an ended agent's engine instance, or leaves it for a worker
    /// with nothing else to do ([`RuntimeInner::step`]): tearing an engine
    /// down is slow (a full GC) and nobody waits on it, while the agents it
    /// talked to may be ready to run on this thread now. At most
    /// [`MAX_GRAVES`] wait; an engine that caps its live instances frees
    /// them at once (see [`Engine::can_warm`]).
    fn bury(&self, agent: &AgentShared, body: Body) {
        if let Body::Migratable(b) = body {
            if agent.engine.can_warm() {
                let mut graves = self.graves.lock();
                if graves.len() < MAX_GRAVES {
                    graves.push_back(b);
                    return;
                }
            }
            drop(b);
        }
    }

    fn has_work(&self, idx: usize) -> bool {
        !self.workers[idx].pinned.is_empty()
            || !self.injector.is_empty()
            || self.workers.iter().any(|w| !w.local.is_empty())
            || !self.warm_jobs.is_empty()
            || !self.graves.is_empty()
    }

    /// A pool thread: serves worker slot `idx` until shutdown or until its
    /// agent blocks and it hands the slot off; then waits as a spare for a
    /// slot of its own again.
    fn thread_main(self: Arc<Self>, mut idx: usize) {
        // Clone walks stop cleanly with 4 MiB left for the engine below them.
        hz_clone::set_thread_stack(STACK_SIZE, 4 << 20);
        loop {
            self.affinity.pin(idx, &self.workers[idx]);
            CURRENT.with(|c| c.set((self.id, idx)));
            HANDED_OFF.with(|h| h.set(false));
            self.serve(idx);
            if !HANDED_OFF.with(Cell::get) {
                break; // shutdown
            }
            self.thread_idle();
            match self.become_spare() {
                Some(i) => idx = i,
                None => break,
            }
        }
        self.thread_idle();
        self.thread_count.fetch_sub(1, Ordering::SeqCst);
        // Pinned engines whose home this was are dropped on this thread.
        PINNED.with(|p| p.borrow_mut().clear());
    }

    /// Starts a pool thread (a worker's stack size) running `body`.
    fn spawn_thread(
        self: &Arc<Self>,
        name: String,
        body: impl FnOnce(Arc<Self>) + Send + 'static,
    ) -> std::io::Result<JoinHandle<()>> {
        let rt = self.clone();
        std::thread::Builder::new().name(name).stack_size(STACK_SIZE).spawn(move || body(rt))
    }

    /// Tells every engine this thread is going idle (to sleep, to wait as
    /// a spare, or to exit): see [`Engine::thread_idle`](crate::Engine::thread_idle).
    fn thread_idle(&self) {
        for engine in &self.engines {
            engine.thread_idle();
        }
    }

    /// Parks this thread as a spare until a slot is handed to it; `None` on
    /// shutdown or when enough spares wait already (the thread exits).
    fn become_spare(&self) -> Option<usize> {
        let me = Arc::new(Spare::default());
        {
            let mut spares = lock(&self.spares);
            if self.shutdown.load(Ordering::Acquire) || spares.len() >= MAX_SPARES {
                return None;
            }
            spares.push(me.clone());
        }
        self.wait_for_slot(&me)
    }

    /// Waits as spare `me` until a slot is handed to it; `None` on shutdown,
    /// or once it has waited [`SPARE_IDLE`] on the spare list (the thread
    /// retires). A spare taken off the list by a giver waits on: the giver
    /// gives it a slot or puts it back.
    fn wait_for_slot(&self, me: &Arc<Spare>) -> Option<usize> {
        let mut slot = lock(&me.slot);
        loop {
            if let Some(i) = slot.take() {
                return Some(i);
            }
            if self.shutdown.load(Ordering::Acquire) {
                return None;
            }
            let (guard, idle) = wait_for(&me.cv, slot, SPARE_IDLE);
            slot = guard;
            if idle && slot.is_none() {
                drop(slot);
                let mut spares = lock(&self.spares);
                if let Some(p) = spares.iter().position(|s| Arc::ptr_eq(s, me)) {
                    spares.swap_remove(p);
                    return None;
                }
                drop(spares);
                slot = lock(&me.slot);
            }
        }
    }

    /// A spare thread to give a slot to: a parked one, or a new one (up to
    /// `max_threads`). `None` on shutdown or when there is none to be had.
    /// The caller gives it a slot ([`RuntimeInner::give_slot`]) or puts it
    /// back ([`RuntimeInner::put_spare`]).
    fn get_spare(self: &Arc<Self>) -> Option<Arc<Spare>> {
        {
            let mut spares = lock(&self.spares);
            if self.shutdown.load(Ordering::Acquire) {
                return None;
            }
            if let Some(s) = spares.pop() {
                return Some(s);
            }
        }
        if self.thread_count.fetch_add(1, Ordering::SeqCst) >= self.max_threads {
            self.thread_count.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        let me = Arc::new(Spare::default());
        let spare = me.clone();
        let spawned = self.spawn_thread("hz-worker".into(), move |rt| match rt.wait_for_slot(&spare) {
            Some(idx) => rt.thread_main(idx),
            None => {
                rt.thread_count.fetch_sub(1, Ordering::SeqCst);
            }
        });
        match spawned {
            Ok(h) => {
                let mut threads = lock(&self.threads);
                threads.retain(|t| !t.is_finished());
                threads.push(h);
                Some(me)
            }
            Err(_) => {
                self.thread_count.fetch_sub(1, Ordering::SeqCst);
                None
            }
        }
    }

    /// Hands worker slot `idx` to spare `s`.
    fn give_slot(&self, s: Arc<Spare>, idx: usize) {
        *lock(&s.slot) = Some(idx);
        s.cv.notify_one();
    }

    /// Puts back a spare that got no slot (after shutdown began, it exits).
    fn put_spare(&self, s: Arc<Spare>) {
        let mut spares = lock(&self.spares);
        if self.shutdown.load(Ordering::Acquire) {
            drop(spares);
            let _slot = lock(&s.slot);
            s.cv.notify_one();
        } else {
            spares.push(s);
        }
    }

    /// Called by an agent about to sleep in a blocking wait: if it runs on a
    /// worker slot, the slot (its queues, hence the other agents) goes to a
    /// spare or new thread, as Go hands off its P on a blocking syscall.
    /// Pinned engines live on their thread, so a thread holding any stays
    /// (its turns are not takeable: see `run_agent_inner`). If the monitor
    /// took the slot during this turn already, there is nothing to give.
    pub(crate) fn before_block(self: &Arc<Self>, migratable: bool) {
        let Some(idx) = self.current_worker() else { return };
        let turn = TURN.with(Cell::get);
        if !migratable || turn == 0 || HANDED_OFF.with(Cell::get) {
            return;
        }
        // No thread to hand off to (`None`): block holding the slot. Not
        // taken by us: the monitor took it during this turn.
        if self.hand_off(idx, turn).is_some() {
            HANDED_OFF.with(|h| h.set(true));
            self.affinity.unpin(0);
        }
    }

    /// Takes slot `idx` from the thread running turn `turn` and gives it to
    /// a spare thread: `Some(true)` if given, `Some(false)` if that turn had
    /// ended or was taken already, `None` if there is no thread to give it to.
    fn hand_off(self: &Arc<Self>, idx: usize, turn: u64) -> Option<bool> {
        let spare = self.get_spare()?;
        let taken = self.workers[idx].turn.take(turn);
        if taken {
            self.give_slot(spare, idx);
        } else {
            self.put_spare(spare);
        }
        Some(taken)
    }

    /// The monitor thread: while agents run, it looks at every worker slot
    /// each [`TICK`]. A turn it sees on two looks in a row (it ran long: a
    /// CPU-bound loop, a busy-wait on `Atomics.load`) while agents wait
    /// that no free worker will take, loses its slot to a spare thread, as
    /// Go's sysmon retakes a P from a long syscall. The long turn goes on
    /// on its own thread, which then parks as a spare.
    fn monitor_main(self: Arc<Self>) {
        let mut seen = vec![0u64; self.workers.len()];
        let mut idle_looks = 0;
        let mut guard = lock(&self.monitor.lock);
        loop {
            // Checked under the lock `shutdown` notifies under, so its
            // notification cannot fall between this check and the wait.
            if self.shutdown.load(Ordering::Acquire) {
                break;
            }
            guard = wait_for(&self.monitor.cv, guard, TICK).0;
            if self.shutdown.load(Ordering::Acquire) {
                break;
            }
            // Nothing has run on two looks in a row: sleep until `run_agent`
            // wakes us. (One look would put it to sleep in the gaps between
            // the turns of a busy runtime, and each wake-up costs the waker
            // a system call.)
            idle_looks = if self.active.load(Ordering::SeqCst) == 0 { idle_looks + 1 } else { 0 };
            if idle_looks >= 2 {
                idle_looks = 0;
                self.monitor.asleep.store(true, Ordering::SeqCst);
                while self.monitor.asleep.load(Ordering::SeqCst)
                    && self.active.load(Ordering::SeqCst) == 0
                    && !self.shutdown.load(Ordering::Acquire)
                {
                    guard = match self.monitor.cv.wait(guard) {
                        Ok(g) => g,
                        Err(p) => p.into_inner(),
                    };
                }
                self.monitor.asleep.store(false, Ordering::SeqCst);
                seen.fill(0);
                // Woken as an agent starts: look again once its turn has
                // begun, not a whole tick later, so that a long turn from
                // idle is taken after about one tick too.
                guard = wait_for(&self.monitor.cv, guard, TICK / 5).0;
                if self.shutdown.load(Ordering::Acquire) {
                    break;
                }
            }
            drop(guard);
            for (i, w) in self.workers.iter().enumerate() {
                let turn = w.turn.now();
                if turn % 2 == 1 && turn == seen[i] && self.waits_for_a_thread(i) {
                    // The long turn's thread: the one serving the slot
                    // (read before a spare takes the slot over).
                    let tid = w.tid.load(std::sync::atomic::Ordering::Relaxed);
                    let given = self.hand_off(i, turn);
                    if given == Some(true) && tid != 0 {
                        self.affinity.unpin(tid);
                    }
                    tracing::debug!(worker = i, ?given, "hz: a long turn's worker slot to another thread");
                }
                seen[i] = turn;
            }
            guard = lock(&self.monitor.lock);
        }
    }

    /// Whether agents are ready that no free worker will take while slot
    /// `idx`'s thread runs a long turn: pinned agents homed on the slot
    /// (only its thread runs them), or any queued agent while no worker
    /// is idle.
    fn waits_for_a_thread(&self, idx: usize) -> bool {
        if !self.workers[idx].pinned.is_empty() {
            return true;
        }
        self.num_idle.load(Ordering::SeqCst) == 0
            && (!self.injector.is_empty() || self.workers.iter().any(|w| !w.local.is_empty()))
    }

    /// Wakes the monitor if it sleeps (an agent is about to run).
    fn wake_monitor(&self) {
        let _guard = lock(&self.monitor.lock);
        if self.monitor.asleep.swap(false, Ordering::SeqCst) {
            self.monitor.cv.notify_one();
        }
    }

    /// Counts a blocked agent for [`Activity::blocked`] while the guard lives.
    pub(crate) fn blocked(&self, forever: bool) -> BlockedGuard<'_> {
        if forever {
            self.blocked_forever.fetch_add(1, Ordering::SeqCst);
        }
        BlockedGuard(forever.then_some(&self.blocked_forever))
    }

    /// The worker loop of slot `idx`; returns on shutdown, or once this
    /// thread has handed the slot off.
    fn serve(&self, idx: usize) {
        'outer: loop {
            // Set by `before_block` while this thread ran an agent.
            if HANDED_OFF.with(Cell::get) {
                return;
            }
            if self.step(idx) {
                continue;
            }
            for i in 0..SPINS {
                if self.step(idx) {
                    continue 'outer;
                }
                if i % 32 == 31 {
                    std::thread::yield_now();
                } else {
                    std::hint::spin_loop();
                }
            }
            if self.shutdown.load(Ordering::Acquire) {
                break;
            }
            let nudged = self.nudges.load(Ordering::SeqCst);
            self.thread_idle();
            {
                let mut idle = lock(&self.idle);
                idle.push(idx);
                self.num_idle.fetch_add(1, Ordering::SeqCst);
            }
            fence(Ordering::SeqCst);
            if !self.has_work(idx)
                && self.nudges.load(Ordering::SeqCst) == nudged
                && !self.shutdown.load(Ordering::Acquire)
            {
                self.workers[idx].parker.park();
            }
            let mut idle = lock(&self.idle);
            if let Some(p) = idle.iter().position(|&w| w == idx) {
                idle.swap_remove(p);
                self.num_idle.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }

    /// Runs up to [`BATCH`] tasks of one agent (one turn each), then ends,
    /// parks or requeues it.
    fn run_agent(&self, agent: Arc<AgentShared>) {
        self.active.fetch_add(1, Ordering::SeqCst);
        if self.monitor.asleep.load(Ordering::SeqCst) {
            self.wake_monitor();
        }
        self.run_agent_inner(agent);
        self.active.fetch_sub(1, Ordering::SeqCst);
    }

    fn run_agent_inner(&self, agent: Arc<AgentShared>) {
        let body = match agent.home {
            Some(_) => PINNED.with(|p| p.borrow_mut().remove(&agent.id)).map(Body::Pinned),
            None => agent.take_body().map(Body::Migratable),
        };
        let mut body = match body {
            Some(b) => b,
            None => {
                if agent.mailbox.life() != Life::New {
                    return; // already finished
                }
                if agent.is_terminating() {
                    agent.finish(Some(Err(Failure::Terminated)));
                    return;
                }
                agent.mailbox.set_running();
                let warm = agent.is_warm();
                if warm {
                    if self.closing.load(Ordering::Acquire) {
                        if let Some(mut pool) = self.warm_pool_of(&agent) {
                            pool.making = pool.making.saturating_sub(1);
                        }
                        return;
                    }
                    self.warm_started(&agent);
                }
                let mut made = catch_unwind(AssertUnwindSafe(|| agent.create_body()));
                if warm {
                    // Into its pool (an engine that may warm is migratable),
                    // unless a spawn took it meanwhile: then it runs now.
                    match self.warm_made(&agent, made) {
                        Some(m) => made = m,
                        None => return,
                    }
                }
                match made {
                    Ok(Ok(AgentBox::Migratable(b))) => Body::Migratable(b),
                    Ok(Ok(AgentBox::Pinned(b))) => Body::Pinned(b),
                    // Terminated while its engine was being set up (an engine
                    // that polls the terminate flag fails the setup).
                    Ok(Err(_)) if agent.is_terminating() => {
                        agent.finish(Some(Err(Failure::Terminated)));
                        return;
                    }
                    Ok(Err(e)) => {
                        agent.finish(Some(Err(Failure::Engine(e.to_string()))));
                        return;
                    }
                    Err(panic) => {
                        agent.finish(Some(Err(Failure::Engine(panic_message("creating the agent", &panic)))));
                        return;
                    }
                }
            }
        };
        // A turn may be taken from this thread (its slot given to another)
        // unless the thread holds pinned engines, which cannot leave it.
        let slot = match agent.home.is_none() && PINNED.with(|p| p.borrow().is_empty()) {
            true => Some(&self.workers[CURRENT.with(Cell::get).1].turn),
            false => None,
        };
        for _ in 0..BATCH {
            // A thread that handed its slot off finishes this turn only.
            if HANDED_OFF.with(Cell::get) {
                break;
            }
            // None once termination is requested: a task the engine gets was
            // taken before, and belongs to the agent.
            let Some(task) = agent.mailbox.pop() else { break };
            self.turns.fetch_add(1, Ordering::Relaxed);
            // A panic (a bug in a backend or in hz) ends this agent only; the
            // worker and every other agent go on. The engine instance is
            // leaked, not dropped: freeing an engine left inconsistent by a
            // panic can abort the process.
            let span = tracing::trace_span!(
                parent: &agent.span,
                "hz.turn",
                task = match &task {
                    Task::Start(_) => "start",
                    Task::Complete { .. } => "complete",
                },
                worker = CURRENT.with(Cell::get).1
            );
            let turn = span.enter();
            agent.begin_turn();
            if let Some(slot) = slot {
                TURN.with(|t| t.set(slot.begin()));
            }
            let ran = catch_unwind(AssertUnwindSafe(|| body.run_task(task)));
            if let Some(slot) = slot {
                // A taken slot (by the monitor or `before_block`) is no
                // longer this thread's: finish as a handed-off thread.
                if !slot.end(TURN.with(|t| t.replace(0))) {
                    HANDED_OFF.with(|h| h.set(true));
                }
            }
            let cpu_spent = agent.end_turn();
            drop(turn);
            if let Err(panic) = ran {
                let message = panic_message("running a task", &panic);
                // A terminate that said it ended the agent decides how the
                // agent ended, whatever its last turn did meanwhile.
                let why = match agent.is_terminating() {
                    true => {
                        tracing::warn!(parent: &agent.span, %message, "a terminated agent's last turn panicked");
                        Failure::Terminated
                    }
                    false => Failure::Engine(message),
                };
                agent.finish(Some(Err(why)));
                std::mem::forget(body);
                return;
            }
            if cpu_spent {
                agent.exceed(crate::Limit::Cpu);
            }
        }
        // Joiners hear of the end before the engine instance is freed.
        if agent.is_terminating() {
            agent.finish(Some(Err(Failure::Terminated)));
            self.bury(&agent, body);
            return;
        }
        if agent.is_done() {
            agent.finish(None);
            self.bury(&agent, body);
            return;
        }
        match body {
            Body::Migratable(b) => *lock(&agent.body) = Some(b),
            Body::Pinned(b) => {
                PINNED.with(|p| p.borrow_mut().insert(agent.id, b));
            }
        }
        if agent.mailbox.reschedule() {
            self.schedule(agent);
        }
    }

    pub(crate) fn activity(&self) -> Activity {
        let queued = self.injector.len() + self.workers.iter().map(|w| w.local.len() + w.pinned.len()).sum::<usize>();
        Activity {
            turns: self.turns.load(Ordering::SeqCst),
            running: self.active.load(Ordering::SeqCst),
            queued,
            timers: self.timers.pending(),
            blocked: self.blocked_forever.load(Ordering::SeqCst),
            live: lock(&self.live).len(),
            wakes: self.wakes.load(Ordering::SeqCst),
            threads: self.thread_count.load(Ordering::SeqCst),
        }
    }

    pub(crate) fn agent_finished(&self, id: AgentId) {
        let mut live = lock(&self.live);
        live.remove(&id);
        if live.is_empty() {
            self.live_cv.notify_all();
        }
    }

    /// Waits until every agent has finished or `timeout` passes; true if all finished.
    pub(crate) fn wait_idle_timeout(&self, timeout: std::time::Duration) -> bool {
        crate::sync::wait_until(&self.live_cv, lock(&self.live), timeout, |live| live.is_empty())
    }

    pub(crate) fn wait_idle(&self) {
        let mut live = lock(&self.live);
        while !live.is_empty() {
            live = match self.live_cv.wait(live) {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
        }
    }

    /// Refuses new agents, terminates every live one and waits until all
    /// have ended (the threads keep running: see [`Runtime::shutdown`]).
    /// On one of the runtime's own threads (a host function) it does not
    /// wait: the agent whose turn called it cannot end before it returns.
    pub(crate) fn terminate_all(&self) {
        self.closing.store(true, Ordering::Release);
        let inside = CURRENT.with(Cell::get).0 == self.id;
        // A spawn that passed its check just before `closing` was set lands
        // after the snapshot: the next pass terminates it.
        loop {
            let agents: Vec<_> = lock(&self.live).values().filter_map(std::sync::Weak::upgrade).collect();
            if agents.is_empty() {
                break;
            }
            for a in &agents {
                a.request_terminate();
            }
            drop(agents);
            if inside || self.wait_idle_timeout(std::time::Duration::from_millis(50)) {
                break;
            }
        }
    }

    fn shutdown(&self) {
        self.terminate_all();
        self.shutdown.store(true, Ordering::Release);
        self.timers.shutdown();
        {
            let _guard = lock(&self.monitor.lock);
            self.monitor.cv.notify_all();
        }
        for w in self.workers.iter() {
            w.parker.unpark();
        }
        for s in lock(&self.spares).drain(..) {
            let _guard = lock(&s.slot);
            s.cv.notify_one();
        }
        let me = std::thread::current().id();
        loop {
            let threads = std::mem::take(&mut *lock(&self.threads));
            if threads.is_empty() {
                break;
            }
            for t in threads {
                // A runtime dropped from one of its own threads cannot join itself.
                if t.thread().id() != me {
                    let _ = t.join();
                }
            }
        }
        // After the joins: no worker is making one any more.
        self.drop_leftovers();
    }
}
