//! hz backend on V8 (the `v8` crate).
//!
//! Each agent is a V8 isolate with one context. Isolates are
//! [`v8::SharedIsolate`]s: every turn takes the isolate's `v8::Locker` on
//! the worker thread that runs it, so an idle thread can run an agent's
//! next turn (`MIGRATABLE = true`). A thread keeps the lock of an isolate
//! it ran between turns, released but not torn down (`parked`), so the
//! next turn on the same thread skips V8's per-thread setup. Microtasks run
//! under the explicit policy: the queue is drained after every task.
//! Terminate goes through `TerminateExecution`, which also ends a turn
//! blocked in `Atomics.wait` (the wait itself is woken by hz-core).
//!
//! V8 is initialised once per process by [`init`], which must run before
//! the threads that will lock isolates are created (V8's memory protection
//! keys are per thread, inherited at creation): the facade's runtime
//! builder calls it first.

mod alloc;
mod clone;
mod modules;
mod natives;
mod parked;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use hz_clone::Payload;
use hz_core::{AgentBox, Engine, Error, Host, Source, Task};

/// Flags set before V8 starts:
/// - the proposals the Test262 subset covers;
/// - `--no-turboshaft-loop-unrolling`: in V8 15.2 a loop unrolled by the
///   optimising compiler can lose its interrupt check, so
///   `for (;;) keep.push(new Array(64))`, once optimised on stack (OSR), can
///   be neither terminated nor stopped at its heap limit and grows until V8
///   aborts the process. Without unrolling every loop keeps its check (the
///   suite's `terminate_ends_an_allocating_loop` and the heap-limit test
///   fail without this flag).
const FLAGS: &str = "--js-float16array --js-immutable-arraybuffer --no-turboshaft-loop-unrolling";

static INIT: OnceLock<()> = OnceLock::new();

/// Initialises V8 for this process (the platform, then V8 itself), once.
/// The runtime builder calls it; agents may run on threads created before
/// or after it (see the platform's comment).
pub fn init() {
    INIT.get_or_init(|| {
        v8::V8::set_flags_from_string(FLAGS);
        // Extra V8 flags for this process (as `node --v8-options`), e.g.
        // HZ_V8_FLAGS="--max-lazy --trace-gc".
        if let Ok(extra) = std::env::var("HZ_V8_FLAGS") {
            v8::V8::set_flags_from_string(&extra);
        }
        // Without thread-isolated allocation: on CPUs with memory
        // protection keys (x86-64 `pku`), the default platform guards V8's
        // memory with a key that only threads created after this call (as
        // descendants of this thread) may use. A library cannot promise
        // that: a runtime built on any other thread (a server's request
        // thread, a test harness's next test) starts workers that lack the
        // key and fault the first time they run JavaScript (SIGSEGV, seen
        // in V8 15.2 on such a machine; chromium issue 360909072). Node
        // turns the feature off for the same reason.
        let platform = v8::new_unprotected_default_platform(0, false).make_shared();
        v8::V8::initialize_platform(platform);
        v8::V8::initialize();
    });
}

/// The V8 engine.
#[derive(Debug, Clone, Default)]
pub struct V8Engine {
    /// The most heap one agent may use, in bytes (V8's default if `None`).
    pub max_heap: Option<usize>,
    /// The most V8 agents of this engine alive at once; past it a new
    /// agent fails to start (its join rejects) and the others go on. The
    /// process-wide cap from `vm.max_map_count` (see `isolate_cap`)
    /// applies either way.
    pub max_agents: Option<usize>,
    /// Live agents of this engine (clones share it).
    live: Arc<AtomicUsize>,
}

impl V8Engine {
    /// The engine with default settings.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`max_heap`](Self::max_heap).
    pub fn with_max_heap(mut self, bytes: usize) -> Self {
        self.max_heap = Some(bytes);
        self
    }

    /// Sets [`max_agents`](Self::max_agents).
    pub fn with_max_agents(mut self, n: usize) -> Self {
        self.max_agents = Some(n);
        self
    }

    /// V8 isolates alive in this process (all runtimes): those of live
    /// agents, warm ones, and those of ended agents a worker thread has not
    /// let go of yet (a thread keeps the lock of each isolate it ran until
    /// it next starts a turn or goes idle). For tests and diagnostics.
    pub fn live_isolates() -> usize {
        parked::isolates()
    }
}

impl Engine for V8Engine {
    const NAME: &'static str = "v8";
    const MIGRATABLE: bool = true;
    type Agent = V8Agent;

    fn create_agent(&self, host: Host) -> Result<V8Agent, Error> {
        init();
        V8Agent::new(self, host)
    }

    fn boxed(agent: V8Agent) -> AgentBox {
        AgentBox::Migratable(Box::new(agent))
    }

    /// Not under `max_agents`: a warm isolate would hold one of its places.
    fn can_warm(&self) -> bool {
        self.max_agents.is_none()
    }

    /// Ends the isolate locks this thread keeps between turns.
    fn thread_idle(&self) {
        parked::end_idle();
    }
}

pub(crate) fn engine_error(e: impl std::fmt::Display) -> Error {
    Error::Engine { engine: V8Engine::NAME, message: e.to_string() }
}

/// One V8 agent: an isolate and its context.
pub struct V8Agent {
    /// `None` only while dropping. Shared with the isolate locks threads
    /// keep between turns (see `parked`).
    isolate: Option<Arc<parked::IsolateCell>>,
    context: Option<v8::Global<v8::Context>>,
    host: Host,
    terminate: Arc<AtomicBool>,
    /// Its ArrayBuffer allocator's meter, if it has a heap limit.
    meter: Option<Arc<alloc::Metered>>,
    /// The near-heap-limit callback's data; outlives the isolate (fields
    /// drop after `Drop::drop` has disposed of it).
    _heap_guard: Box<HeapGuard>,
    _slot: IsolateSlot,
}

/// Live isolates in this process.
static LIVE_ISOLATES: std::sync::LazyLock<Arc<AtomicUsize>> = std::sync::LazyLock::new(Arc::default);

/// How many isolates may live at once. V8 maps its memory in many regions
/// (about 8 per idle isolate, and one per 256 KiB heap page in use) and
/// aborts the whole process when the kernel refuses a mapping, which it
/// does past `vm.max_map_count` (65,530 by default: about 7,000 idle
/// isolates, measured). So hz keeps 8,192 mappings in reserve, budgets 12
/// per isolate, and fails the spawn of an agent past that (4,778 agents
/// by default) instead of letting V8 abort. Raise `vm.max_map_count`
/// (sysctl) for more.
fn isolate_cap() -> usize {
    static CAP: OnceLock<usize> = OnceLock::new();
    *CAP.get_or_init(|| {
        let max = std::fs::read_to_string("/proc/sys/vm/max_map_count")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .unwrap_or(65_530);
        (max.saturating_sub(8192) / 12).max(16)
    })
}

/// One place under a cap of live isolates, given back when dropped.
struct Counted(Arc<AtomicUsize>);

impl Counted {
    fn take(count: &Arc<AtomicUsize>, cap: usize) -> Option<Counted> {
        count.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < cap).then_some(n + 1)).ok()?;
        Some(Counted(count.clone()))
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// An isolate's places under its engine's `max_agents` and the process's
/// [`isolate_cap`], held for the isolate's life.
struct IsolateSlot {
    _engine: Counted,
    _process: Counted,
}

impl IsolateSlot {
    fn take(engine: &V8Engine) -> Result<IsolateSlot, Error> {
        let max = engine.max_agents.unwrap_or(usize::MAX);
        let engine_slot = Counted::take(&engine.live, max)
            .ok_or_else(|| engine_error(format!("too many live V8 agents: this engine's max_agents is {max}")))?;
        let cap = isolate_cap();
        let process_slot = Counted::take(&LIVE_ISOLATES, cap).ok_or_else(|| {
            engine_error(format!(
                "too many live V8 agents ({cap}): each maps memory in many regions, and past the kernel's \
                 vm.max_map_count V8 would abort the process (raise vm.max_map_count for more)"
            ))
        })?;
        Ok(IsolateSlot { _engine: engine_slot, _process: process_slot })
    }
}

/// What the near-heap-limit callback needs: the agent to end.
struct HeapGuard {
    host: Host,
    /// The agent's isolate, for its heap statistics.
    isolate: IsolatePtr,
    /// The configured limit ([`V8Engine::max_heap`]), named in the error.
    max_heap: Option<usize>,
    /// Whether the agent's own limit ([`hz_core::Limits::heap_bytes`]) is
    /// the tighter one: then it ends with a LimitError.
    own_limit: bool,
}

/// The isolate's address, kept beside it.
struct IsolatePtr(v8::UnsafeRawIsolatePtr);

// SAFETY: the pointer moves with the agent between threads but is used
// only by the near-heap-limit callback, which V8 calls on the thread that
// holds the isolate's lock.
unsafe impl Send for IsolatePtr {}
// SAFETY: as above; no shared use happens off that thread.
unsafe impl Sync for IsolatePtr {}

/// V8 calls this when the agent's heap nears its limit (V8's default, or
/// [`V8Engine::max_heap`]). Without it V8 aborts the whole process. The
/// agent alone ends instead: it is aborted with a RangeError naming the
/// limit (uncatchable, as a terminate), and V8 gets half as much again so
/// that the interrupted JS can unwind.
///
/// V8 also calls it, as a last resort, when an ArrayBuffer's memory cannot
/// be allocated (`new ArrayBuffer(2 ** 50)`), with the heap far from full:
/// then the limit stays and the allocation fails with the RangeError the
/// language specifies.
///
/// # Safety
/// `data` is the agent's `HeapGuard`, alive as long as the isolate.
unsafe extern "C" fn near_heap_limit(data: *mut std::ffi::c_void, current: usize, initial: usize) -> usize {
    // SAFETY: registered with a pointer to the agent's boxed HeapGuard,
    // which is dropped only after the isolate.
    let guard = unsafe { &*(data as *const HeapGuard) };
    // SAFETY: V8 calls this on the isolate's thread, under its lock, and
    // the isolate outlives its HeapGuard's registration; `Isolate` is a
    // plain handle (no drop).
    let mut isolate = unsafe { v8::Isolate::from_raw_isolate_ptr(guard.isolate.0) };
    if isolate.get_heap_statistics().used_heap_size() < current / 2 {
        return current;
    }
    // No panic may unwind into V8.
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        if guard.own_limit {
            guard.host.exceeded(hz_core::Limit::Heap);
            return;
        }
        let limit = guard.max_heap.unwrap_or(initial);
        let message = format!("out of memory: the agent's heap reached its limit of {} MiB", limit >> 20);
        if let Ok(error) = hz_core::JsError::error_value("RangeError", message).to_payload() {
            guard.host.abort(error);
        }
    }));
    current.saturating_add(current / 2)
}

impl V8Agent {
    fn new(engine: &V8Engine, host: Host) -> Result<Self, Error> {
        let slot = IsolateSlot::take(engine)?;
        // An agent with a heap limit counts its ArrayBuffer memory (which V8
        // keeps outside its heap) through an allocator of its own.
        let (allocator, meter) = match host.limits().heap_bytes {
            Some(_) => {
                let (allocator, meter) = alloc::metered(&host);
                (allocator, Some(meter))
            }
            None => (alloc::allocator(), None),
        };
        let mut params = v8::CreateParams::default().array_buffer_allocator(allocator);
        // The agent's own heap limit, if tighter than the engine's.
        let own = host.limits().heap_bytes.filter(|own| engine.max_heap.is_none_or(|max| *own < max));
        if let Some(max) = own.or(engine.max_heap) {
            params = params.heap_limits(0, max);
        }
        let isolate = v8::Isolate::new(params);
        // SAFETY: only dereferenced by the near-heap-limit callback, on the
        // isolate's thread while it is locked (the same isolate once shared).
        // It is also what `parked` locks and enters the isolate by, for as
        // long as its cell lives.
        let raw_isolate = unsafe { isolate.as_raw_isolate_ptr() };
        let raw = IsolatePtr(raw_isolate);
        // SAFETY: the isolate is fresh: no weak handles, finalizers or cppgc
        // heap; it is converted on the thread that created it.
        let shared = unsafe { isolate.try_into_shared() }.map_err(|e| engine_error(format!("{e:?}")))?;
        let terminate = host.terminate_flag();
        let handle = shared.thread_safe_handle();
        host.set_interrupt(move || {
            handle.terminate_execution();
        });
        let heap_guard = Box::new(HeapGuard {
            host: host.clone(),
            isolate: raw,
            max_heap: engine.max_heap,
            own_limit: own.is_some(),
        });
        let context = {
            let mut locker = shared.lock();
            let data = std::ptr::from_ref::<HeapGuard>(&heap_guard).cast_mut().cast();
            locker.add_near_heap_limit_callback(near_heap_limit, data);
            locker.set_microtasks_policy(v8::MicrotasksPolicy::Explicit);
            // V8's own Atomics.wait serves only memory V8 keeps itself.
            locker.set_allow_atomics_wait(host.can_block());
            locker.set_promise_reject_callback(natives::track_rejection);
            locker.set_host_import_module_dynamically_callback(modules::dynamic_import);
            let scope = std::pin::pin!(v8::HandleScope::new(&mut *locker));
            let mut scope = scope.init();
            let context = v8::Context::new(&scope, Default::default());
            let global_context = v8::Global::new(&scope, context);
            let scope = &mut v8::ContextScope::new(&mut scope, context);
            natives::install(scope, host.clone()).map_err(engine_error)?;
            global_context
        };
        Ok(V8Agent {
            isolate: Some(parked::IsolateCell::new(shared, raw_isolate)),
            context: Some(context),
            host,
            terminate,
            meter,
            _heap_guard: heap_guard,
            _slot: slot,
        })
    }

    fn terminating(&self) -> bool {
        self.terminate.load(Ordering::Relaxed)
    }
}

/// Runs `f` with `task` in the agent's context under a TryCatch; an
/// exception it leaves is the agent's uncaught error (unless the agent is
/// being terminated).
///
/// The terminate flag is checked again once the isolate is locked: V8
/// keeps a requested termination in the locking thread's state, which it
/// archives when that thread lets the isolate go. A terminate that came
/// after `run_task` checked the flag, while another thread still held the
/// isolate (parked), was lost that way, and the turn ran on unterminated.
/// One that comes after this check finds the isolate locked by this thread.
fn with_context(agent: &mut V8Agent, task: Task, f: impl FnOnce(&mut v8::PinScope<'_, '_>, &Host, Task)) {
    let Some(isolate) = agent.isolate.as_ref() else { return };
    let Some(context) = agent.context.as_ref() else { return };
    let host = &agent.host;
    let terminate = &agent.terminate;
    let meter = agent.meter.as_deref();
    let mut locker = parked::turn(isolate);
    if terminate.load(Ordering::Acquire) {
        return host.discard(task);
    }
    if let Some(bytes) = host.limits().stack_bytes {
        set_stack_limit(&mut locker, bytes);
    }
    let scope = std::pin::pin!(v8::HandleScope::new(&mut *locker));
    let mut scope = scope.init();
    let context = v8::Local::new(&scope, context);
    let scope = &mut v8::ContextScope::new(&mut scope, context);
    {
        v8::tc_scope!(let tc, scope);
        f(tc, host, task);
        if tc.has_caught() {
            let exc = tc.exception();
            if let Some(exc) = exc {
                locate_syntax_error(tc, exc);
            }
            tc.reset();
            if let Some(exc) = exc
                && !terminate.load(Ordering::Relaxed)
            {
                let payload = thrown_payload(tc, exc);
                host.uncaught(payload);
            }
        }
    }
    drain_jobs(scope, host, terminate);
    // The heap limit counts V8's heap and the buffers together: checked
    // as each turn ends, and the buffers get what the heap leaves.
    if let Some(meter) = meter
        && meter.set_engine_heap(scope.get_heap_statistics().used_heap_size())
    {
        host.exceeded(hz_core::Limit::Heap);
    }
}

/// The most stack an agent's `stackBytes` may give its JavaScript: hz
/// worker threads have 16 MiB, and clone walks and the scheduler need some.
const MAX_STACK_BYTES: usize = 8 << 20;

/// Bounds the stack the isolate's JavaScript may use on this thread to
/// `bytes` below the current frame ([`hz_core::Limits::stack_bytes`]).
/// V8's stack limit is an address, kept per thread, so it is set at the
/// start of every turn: agents move between threads. Past it V8 throws a
/// catchable RangeError ("Maximum call stack size exceeded").
fn set_stack_limit(isolate: &mut v8::Isolate, bytes: usize) {
    unsafe extern "C" {
        /// `void v8::Isolate::SetStackLimit(uintptr_t)`: the `v8` crate
        /// does not bind it, and the static library exports it.
        #[link_name = "_ZN2v87Isolate13SetStackLimitEm"]
        fn v8_isolate_set_stack_limit(isolate: *mut std::ffi::c_void, limit: usize);
    }
    let here = std::ptr::addr_of!(bytes) as usize;
    let limit = here.saturating_sub(bytes.min(MAX_STACK_BYTES));
    // SAFETY: a plain handle to a live isolate whose lock this thread holds,
    // as SetStackLimit requires; UnsafeRawIsolatePtr is a transparent
    // pointer to the C++ isolate, the member function's `this` (x86-64 and
    // AArch64 pass it as the first argument). The limit lies inside this
    // thread's stack (16 MiB, MAX_STACK_BYTES at most below this frame).
    unsafe {
        let raw: *mut std::ffi::c_void = std::mem::transmute(isolate.as_raw_isolate_ptr());
        v8_isolate_set_stack_limit(raw, limit);
    }
}

/// V8's SyntaxError from compiling a script has no location in its stack;
/// this adds `at name:line:column` from the TryCatch's message, as the
/// stack of a runtime error has.
fn locate_syntax_error<'s>(
    tc: &mut v8::PinnedRef<'s, v8::TryCatch<'_, '_, v8::HandleScope<'_>>>,
    exc: v8::Local<'s, v8::Value>,
) {
    let Ok(error) = v8::Local::<v8::Object>::try_from(exc) else { return };
    if !exc.is_native_error() {
        return;
    }
    let Some(message) = tc.message() else { return };
    let name_key = v8::String::new(tc, "name").map(Into::into);
    let name = name_key.and_then(|k| error.get(tc, k)).map(|n| n.to_rust_string_lossy(tc));
    if name.as_deref() != Some("SyntaxError") {
        return;
    }
    let resource = message.get_script_resource_name(tc).map(|r| r.to_rust_string_lossy(tc)).unwrap_or_default();
    let line = message.get_line_number(tc).unwrap_or(0);
    let column = message.get_start_column() + 1;
    let Some(stack_key) = v8::String::new(tc, "stack") else { return };
    let stack = error.get(tc, stack_key.into()).map(|s| s.to_rust_string_lossy(tc)).unwrap_or_default();
    if let Some(located) = v8::String::new(tc, &format!("{stack}\n    at {resource}:{line}:{column}")) {
        let _ = error.set(tc, stack_key.into(), located.into());
    }
}

/// Drains the microtask queue, then reports a rejection nobody handled as
/// an uncaught error (as Node does by default).
fn drain_jobs(scope: &mut v8::PinScope<'_, '_>, host: &Host, terminate: &AtomicBool) {
    {
        v8::tc_scope!(let tc, scope);
        tc.perform_microtask_checkpoint();
        if tc.has_caught()
            && !terminate.load(Ordering::Relaxed)
            && let Some(exc) = tc.exception()
        {
            let payload = thrown_payload(tc, exc);
            host.uncaught(payload);
        }
    }
    if terminate.load(Ordering::Relaxed) {
        return;
    }
    let unhandled = natives::take_rejections(scope);
    if let Some(reason) = unhandled.into_iter().next() {
        let reason = v8::Local::new(scope, reason);
        let payload = thrown_payload(scope, reason);
        host.uncaught(payload);
    }
}

/// Serializes a thrown value for join/`hz run`; a value that cannot be
/// cloned is described by a plain Error instead.
fn thrown_payload<'s>(scope: &mut v8::PinScope<'s, '_>, exc: v8::Local<'s, v8::Value>) -> Payload {
    v8::tc_scope!(let tc, scope);
    match clone::to_payload(tc, exc, &[]) {
        Ok(p) => p,
        Err(_) => {
            tc.reset();
            let message = exc
                .to_object(tc)
                .and_then(|o| {
                    let k = v8::String::new(tc, "message")?;
                    o.get(tc, k.into())
                })
                .filter(|m| m.is_string())
                .map(|m| m.to_rust_string_lossy(tc))
                .unwrap_or_else(|| "uncloneable exception".into());
            hz_core::JsError::error_value("Error", message).to_payload().unwrap_or_default()
        }
    }
}

fn start(scope: &mut v8::PinScope<'_, '_>, host: &Host, spec: hz_core::AgentSpec) {
    let Some(args) = clone::from_payload(scope, &spec.args) else { return };
    let (set_args, start) =
        natives::internals(scope, |i| (v8::Local::new(scope, &i.set_args), v8::Local::new(scope, &i.start)));
    let undefined = v8::undefined(scope).into();
    if set_args.call(scope, undefined, &[args]).is_none() {
        return;
    }
    let (kind, what) = match &spec.source {
        Source::Function { code } => (0, eval(scope, code, "<spawn>")),
        Source::Script { name, code } => (1, eval(scope, code, name)),
        Source::Scripts { scripts } => {
            let mut last = Some(v8::undefined(scope).into());
            for (name, code) in scripts {
                last = eval(scope, code, name);
                if last.is_none() {
                    break;
                }
            }
            (1, last)
        }
        Source::Program { name, code } => (2, eval(scope, code, name).map(|_| v8::undefined(scope).into())),
        Source::Module { path } => (3, modules::import(scope, path).map(Into::into)),
        other => {
            let _ = host;
            natives::throw_error(scope, "TypeError", &format!("the v8 backend cannot run {other:?}"));
            return;
        }
    };
    let Some(what) = what else { return };
    let kind = v8::Integer::new(scope, kind).into();
    let _ = start.call(scope, undefined, &[kind, what, args]);
}

/// The origin of a script or module (`module`) named `name`: its name in
/// stack traces and errors.
pub(crate) fn origin<'s>(scope: &mut v8::PinScope<'s, '_>, name: &str, module: bool) -> Option<v8::ScriptOrigin<'s>> {
    let name = v8::String::new(scope, name)?;
    Some(v8::ScriptOrigin::new(scope, name.into(), 0, 0, false, 0, None, false, false, module, None))
}

/// Compiles and runs `code` as a classic script named `name`.
pub(crate) fn eval<'s>(scope: &mut v8::PinScope<'s, '_>, code: &str, name: &str) -> Option<v8::Local<'s, v8::Value>> {
    let source = v8::String::new(scope, code)?;
    let origin = origin(scope, name, false)?;
    let script = v8::Script::compile(scope, source, Some(&origin))?;
    script.run(scope)
}

/// Hands a completed op to the prelude's `dispatch`.
fn complete(scope: &mut v8::PinScope<'_, '_>, host: &Host, op: u64, completion: hz_core::Completion) {
    if !host.take_op(op) {
        return;
    }
    let mut status = completion.status as i32;
    let value = match &completion.value {
        Some(p) => {
            v8::tc_scope!(let tc, scope);
            match clone::decode(tc, p) {
                Ok(v) => v,
                Err(e) => {
                    // A message that cannot be read rejects this op (a
                    // "messageerror"); the agent goes on.
                    status = hz_core::Status::Error as i32;
                    let thrown = clone::raise(tc, e);
                    tc.reset();
                    thrown.unwrap_or_else(|| v8::undefined(tc).into())
                }
            }
        }
        None => v8::undefined(scope).into(),
    };
    let dispatch = natives::internals(scope, |i| v8::Local::new(scope, &i.dispatch));
    let undefined = v8::undefined(scope).into();
    let args = [
        v8::Number::new(scope, op as f64).into(),
        v8::Integer::new(scope, status).into(),
        value,
        v8::Integer::new(scope, completion.index).into(),
    ];
    let _ = dispatch.call(scope, undefined, &args);
}

impl hz_core::Agent for V8Agent {
    fn run_task(&mut self, task: Task) {
        if self.terminating() {
            return self.host.discard(task);
        }
        with_context(self, task, |scope, host, task| match task {
            Task::Start(spec) => start(scope, host, spec),
            Task::Complete { op, completion } => complete(scope, host, op, completion),
            _ => {}
        });
    }
}

impl Drop for V8Agent {
    fn drop(&mut self) {
        // Handles into the isolate go first, under its lock. Other threads
        // may still keep a lock pair for it (see `parked`): the last of them
        // to let go disposes of the isolate, so nothing here may outlive
        // this agent in it (the heap-limit callback's data goes with it).
        if let Some(cell) = self.isolate.take() {
            parked::end_here(&cell);
            {
                let mut locker = cell.shared().lock();
                locker.remove_near_heap_limit_callback(near_heap_limit, 0);
                self.context = None;
                natives::clear(&mut locker);
            }
            if cell.mark_dead() {
                self.host.nudge_idle_workers();
            }
        }
    }
}
