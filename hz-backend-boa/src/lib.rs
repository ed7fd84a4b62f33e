//! hz backend on Boa, the JavaScript engine written in Rust.
//!
//! Boa's garbage collector is thread-local, so a Boa context never leaves
//! the thread that made it: Boa agents are pinned to a home thread
//! (`MIGRATABLE = false`) and the scheduler balances them by placement.
//!
//! Boa 0.22 is used with two small patches (`vendor/boa_engine`,
//! `HZ-PATCHES.md`) that the backend needs and Boa's API lacks:
//! - an interrupt flag, so terminate can end running code from another
//!   thread (checked at loop back-edges and calls; uncatchable). The flag is
//!   the agent's own terminate flag ([`Host::terminate_flag`]);
//! - shared memory the host owns, so every SharedArrayBuffer a Boa agent
//!   makes is hz memory ([`memory`]), shareable with any engine.
//!
//! Jobs (promise reactions, module loading) run in a job executor of this
//! crate, drained after every task. Timers are hz's, as on every engine.

mod clone;
pub mod memory;
mod modules;
mod natives;

#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use boa_engine::builtins::promise::OperationType;
use boa_engine::context::HostHooks;
use boa_engine::error::{EngineError, RuntimeLimitError};
use boa_engine::job::{GenericJob, Job, JobExecutor, NativeAsyncJob, PromiseJob};
use boa_engine::object::builtins::JsPromise;
use boa_engine::{Context, JsError, JsObject, JsResult, JsValue};
use hz_clone::Payload;
use hz_core::{AgentBox, Engine, Error, Host, Source, Task};

/// The Boa engine.
#[derive(Debug, Clone)]
pub struct BoaEngine {
    /// The deepest nesting of JavaScript calls an agent may reach; deeper,
    /// the agent ends with a RangeError (Boa's limit is not catchable).
    pub max_recursion: usize,
    /// The most values Boa's VM stack may hold per agent.
    pub max_stack_values: usize,
}

impl Default for BoaEngine {
    fn default() -> Self {
        // Boa's own defaults (512 calls) are far below what programs written
        // for other engines expect (V8 allows about 10,000 frames). Boa's
        // frames live on the heap; only calls that re-enter the VM from Rust
        // (getters, callbacks of builtins) use the worker's native stack.
        BoaEngine { max_recursion: 4096, max_stack_values: 1 << 20 }
    }
}

impl BoaEngine {
    /// The engine with default settings.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Engine for BoaEngine {
    const NAME: &'static str = "boa";
    const MIGRATABLE: bool = false;
    type Agent = BoaAgent;

    fn create_agent(&self, host: Host) -> Result<BoaAgent, Error> {
        memory::install();
        BoaAgent::new(self, host)
    }

    fn boxed(agent: BoaAgent) -> AgentBox {
        AgentBox::Pinned(Box::new(agent))
    }

    /// Gaps: Boa allocates from the process's Rust heap with no per-context
    /// account, and limits recursion by depth, not bytes.
    fn check_limits(&self, limits: &hz_core::Limits) -> Result<(), Error> {
        if limits.heap_bytes.is_some() {
            return Err(Error::NotSupported("limits.heapBytes: the boa engine cannot account a per-agent heap"));
        }
        if limits.stack_bytes.is_some() {
            return Err(Error::NotSupported(
                "limits.stackBytes: the boa engine limits recursion depth, not stack bytes",
            ));
        }
        Ok(())
    }
}

pub(crate) fn engine_error(e: impl std::fmt::Display) -> Error {
    Error::Engine { engine: BoaEngine::NAME, message: e.to_string() }
}

/// One Boa agent: a context, pinned to the thread that made it.
pub struct BoaAgent {
    context: Context,
    host: Host,
    terminate: Arc<AtomicBool>,
    hooks: Rc<Hooks>,
}

/// The job queue: promise jobs in FIFO order, and the few other jobs Boa
/// makes (module loading). Boa's own timeouts are not used: hz's timers
/// serve `setTimeout` and `Atomics.waitAsync` on every engine.
#[derive(Default)]
struct Jobs {
    promise: RefCell<VecDeque<PromiseJob>>,
    generic: RefCell<VecDeque<GenericJob>>,
    asynchronous: RefCell<VecDeque<NativeAsyncJob>>,
}

impl JobExecutor for Jobs {
    fn enqueue_job(self: Rc<Self>, job: Job, _context: &mut Context) {
        match job {
            Job::PromiseJob(p) => self.promise.borrow_mut().push_back(p),
            Job::GenericJob(g) => self.generic.borrow_mut().push_back(g),
            Job::AsyncJob(a) => self.asynchronous.borrow_mut().push_back(a),
            // FinalizationRegistry cleanup is optional (ECMA-262 9.13); Boa's
            // timeout jobs are not made by anything hz exposes.
            _ => {}
        }
    }

    fn run_jobs(self: Rc<Self>, context: &mut Context) -> JsResult<()> {
        loop {
            let job = self.promise.borrow_mut().pop_front();
            if let Some(job) = job {
                job.call(context)?;
                continue;
            }
            let job = self.generic.borrow_mut().pop_front();
            if let Some(job) = job {
                job.call(context)?;
                continue;
            }
            let job = self.asynchronous.borrow_mut().pop_front();
            if let Some(job) = job {
                run_async(job, context)?;
                continue;
            }
            return Ok(());
        }
    }
}

/// Runs an async job to completion. hz's module loader is synchronous, so
/// these futures are ready when first polled.
fn run_async(job: NativeAsyncJob, context: &mut Context) -> JsResult<()> {
    let cell = RefCell::new(context);
    let mut future = std::pin::pin!(job.call(&cell));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(r) => r.map(drop),
        std::task::Poll::Pending => Err(boa_engine::JsNativeError::error()
            .with_message("an asynchronous job of the Boa backend did not complete")
            .into()),
    }
}

/// Host hooks: the promise rejection tracker (HTML "unhandled rejections").
#[derive(Default)]
struct Hooks {
    /// Promises rejected with no handler yet.
    rejected: RefCell<Vec<JsObject>>,
}

impl HostHooks for Hooks {
    fn promise_rejection_tracker(
        &self,
        promise: &JsObject<boa_engine::builtins::promise::Promise>,
        operation: OperationType,
        _context: &mut Context,
    ) {
        let promise = promise.clone().upcast();
        let mut rejected = self.rejected.borrow_mut();
        match operation {
            OperationType::Reject => rejected.push(promise),
            OperationType::Handle => rejected.retain(|p| !JsObject::equals(p, &promise)),
        }
    }
}

impl BoaAgent {
    fn new(engine: &BoaEngine, host: Host) -> Result<Self, Error> {
        let hooks = Rc::new(Hooks::default());
        let mut context = Context::builder()
            .job_executor(Rc::new(Jobs::default()))
            .module_loader(Rc::new(modules::Loader::default()))
            .host_hooks(hooks.clone())
            .can_block(host.can_block())
            .build()
            .map_err(engine_error)?;
        let terminate = host.terminate_flag();
        // Terminate sets this flag from any thread; Boa checks it at every
        // loop back-edge and call, uncatchably. No other interrupt is needed.
        context.set_interrupt_flag(terminate.clone());
        let limits = context.runtime_limits_mut();
        limits.set_recursion_limit(engine.max_recursion);
        limits.set_stack_size_limit(engine.max_stack_values);
        natives::install(&mut context, host.clone()).map_err(engine_error)?;
        Ok(BoaAgent { context, host, terminate, hooks })
    }

    fn terminating(&self) -> bool {
        self.terminate.load(Ordering::Relaxed)
    }

    /// An exception nobody caught fails the agent (unless it is being
    /// terminated: then the interrupt is the expected end of the turn).
    fn uncaught(&mut self, e: JsError) {
        if self.terminating() {
            return;
        }
        let payload = thrown_payload(&mut self.context, e);
        self.host.uncaught(payload);
    }

    /// Drains the job queue, then reports a rejection nobody handled as an
    /// uncaught error (as Node does by default).
    fn drain_jobs(&mut self) {
        while let Err(e) = self.context.run_jobs() {
            if self.terminating() {
                return;
            }
            self.uncaught(e);
        }
        self.context.clear_kept_objects();
        let rejected = std::mem::take(&mut *self.hooks.rejected.borrow_mut());
        if let Some(promise) = rejected.into_iter().next()
            && let Ok(promise) = JsPromise::from_object(promise)
            && let boa_engine::builtins::promise::PromiseState::Rejected(reason) = promise.state()
        {
            self.uncaught(JsError::from_opaque(reason));
        }
    }

    fn start(&mut self, spec: hz_core::AgentSpec) -> JsResult<()> {
        let ctx = &mut self.context;
        let args = clone::from_payload(ctx, &spec.args)?;
        let (set_args, start) = natives::internals(ctx, |i| (i.set_args.clone(), i.start.clone()));
        set_args.call(&JsValue::undefined(), std::slice::from_ref(&args), ctx)?;
        let (kind, what) = match &spec.source {
            Source::Function { code } => (0, eval(ctx, code, "<spawn>")?),
            Source::Script { name, code } => (1, eval(ctx, code, name)?),
            Source::Scripts { scripts } => {
                let mut last = JsValue::undefined();
                for (name, code) in scripts {
                    last = eval(ctx, code, name)?;
                }
                (1, last)
            }
            Source::Program { name, code } => {
                eval(ctx, code, name)?;
                (2, JsValue::undefined())
            }
            Source::Module { path } => (3, modules::import(ctx, path)?.into()),
            other => {
                return Err(boa_engine::JsNativeError::typ()
                    .with_message(format!("the boa backend cannot run {other:?}"))
                    .into());
            }
        };
        start.call(&JsValue::undefined(), &[kind.into(), what, args], ctx)?;
        Ok(())
    }

    /// Hands a completed op to the prelude's `dispatch`.
    fn complete(&mut self, op: u64, completion: hz_core::Completion) -> JsResult<()> {
        if !self.host.take_op(op) {
            return Ok(());
        }
        let ctx = &mut self.context;
        let mut status = completion.status as i32;
        let value = match &completion.value {
            Some(p) => match clone::decode(ctx, p) {
                Ok(v) => v,
                // A message that cannot be read rejects this op (a
                // "messageerror"); the agent goes on.
                Err(e) => {
                    status = hz_core::Status::Error as i32;
                    clone::error_value(ctx, e)?
                }
            },
            None => JsValue::undefined(),
        };
        let dispatch = natives::internals(ctx, |i| i.dispatch.clone());
        let args = [(op as f64).into(), status.into(), value, completion.index.into()];
        dispatch.call(&JsValue::undefined(), &args, ctx)?;
        Ok(())
    }
}

/// Parses and runs `code` as a classic script named `name`.
fn eval(ctx: &mut Context, code: &str, name: &str) -> JsResult<JsValue> {
    let path = std::path::Path::new(name);
    let source = boa_engine::Source::from_bytes(code).with_path(path);
    let script = boa_engine::Script::parse(source, None, ctx).map_err(|e| natives::locate(ctx, e, name))?;
    script.evaluate(ctx)
}

/// Serializes a thrown value for join/`hz run`. Boa's uncatchable limits
/// arrive as the RangeError other engines throw; a value that cannot be
/// cloned is described by a plain Error instead.
fn thrown_payload(ctx: &mut Context, e: JsError) -> Payload {
    if let Some(EngineError::RuntimeLimit(limit)) = e.as_engine() {
        let message = match limit {
            RuntimeLimitError::Recursion | RuntimeLimitError::StackSize => {
                "Maximum call stack size exceeded".to_owned()
            }
            other => other.to_string(),
        };
        return hz_core::JsError::error_value("RangeError", message).to_payload().unwrap_or_default();
    }
    let message = e.to_string();
    let value = match e.into_opaque(ctx) {
        Ok(v) => v,
        Err(other) => {
            return hz_core::JsError::error_value("Error", other.to_string()).to_payload().unwrap_or_default();
        }
    };
    match clone::to_payload(ctx, &value, &[]) {
        Ok(p) => p,
        Err(_) => hz_core::JsError::error_value("Error", message).to_payload().unwrap_or_default(),
    }
}

impl hz_core::Agent for BoaAgent {
    fn run_task(&mut self, task: Task) {
        if self.terminating() {
            return self.host.discard(task);
        }
        let r = match task {
            Task::Start(spec) => self.start(spec),
            Task::Complete { op, completion } => self.complete(op, completion),
            _ => Ok(()),
        };
        if let Err(e) = r {
            self.uncaught(e);
        }
        if !self.terminating() {
            self.drain_jobs();
        }
    }
}
