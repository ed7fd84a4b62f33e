//! hz backend on QuickJS (quickjs-ng through rquickjs, `parallel`).
//!
//! Each agent owns a QuickJS runtime and context. With rquickjs's
//! `parallel` feature they are `Send`, and every entry into the context
//! (`Context::with`) calls `JS_UpdateStackTop` for the current thread, so an
//! agent can run its next turn on any worker thread (`MIGRATABLE = true`).

mod alloc;
mod clone;
mod modules;
mod natives;
mod patches;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use hz_clone::Payload;
use hz_core::{AgentBox, Engine, Error, Host, Source, Task};
use rquickjs::{CatchResultExt, Context, Ctx, Module, Runtime, Value};

pub(crate) use clone::{from_payload, to_payload};

/// The QuickJS engine.
#[derive(Debug, Clone)]
pub struct QuickJsEngine {
    /// Max native stack QuickJS may use per agent, in bytes.
    pub max_stack: usize,
    /// Prepared once per engine: the prelude compiled to this build's own
    /// bytecode (parsing it per agent cost ~1.1 ms of a ~2 ms spawn, loading
    /// it ~0.1 ms), and the builtin class ids the clone code recognises.
    prepared: Arc<OnceLock<Result<Prepared, String>>>,
    /// The functions agents were spawned with, compiled once
    /// ([`natives::SpawnCache`]), shared by this engine's agents.
    spawned: Arc<natives::SpawnCache>,
}

impl Default for QuickJsEngine {
    fn default() -> Self {
        // Workers have 16 MiB stacks; leave room for hz's own frames.
        QuickJsEngine { max_stack: 4 << 20, prepared: Arc::default(), spawned: Arc::default() }
    }
}

#[derive(Debug)]
pub(crate) struct Prepared {
    pub(crate) bytecode: Vec<u8>,
    /// The prelude's units ([`hz_core::UNITS`]), compiled the same way:
    /// an agent loads one on its first use (`ops.load`).
    pub(crate) units: natives::Units,
    pub(crate) class_ids: clone::ClassIds,
}

/// Whether large ArrayBuffers can leave a runtime without a copy (the
/// allocator layout checked by `alloc::probe`); else transfer copies.
static ZERO_COPY: OnceLock<bool> = OnceLock::new();

pub(crate) fn zero_copy() -> bool {
    ZERO_COPY.get().copied().unwrap_or(false)
}

/// Compiles the prelude and its units to QuickJS bytecode, and probes the
/// class ids.
fn prepare() -> Result<Prepared, String> {
    let rt = Runtime::new_with_alloc(alloc::HzAllocator::unlimited()).map_err(|e| e.to_string())?;
    let ctx = Context::full(&rt).map_err(|e| e.to_string())?;
    ctx.with(|ctx| {
        alloc::install_shared_memory(&ctx, alloc::Meter::NONE);
        let bytecode = natives::compile_script(&ctx, hz_core::PRELUDE_SCRIPT, hz_core::PRELUDE)?;
        let units = hz_core::UNITS
            .iter()
            .map(|&(name, source)| {
                Ok((name, natives::compile_script(&ctx, &hz_core::script_name(name), source)?.into_boxed_slice()))
            })
            .collect::<Result<Vec<_>, String>>()?;
        let class_ids = clone::ClassIds::probe(&ctx).catch(&ctx).map_err(|e| e.to_string())?;
        let zero_copy = alloc::probe(&ctx).catch(&ctx).map_err(|e| e.to_string())?;
        let _ = ZERO_COPY.set(zero_copy);
        Ok(Prepared { bytecode, units: units.into(), class_ids })
    })
}

impl QuickJsEngine {
    /// The engine with default settings.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Engine for QuickJsEngine {
    const NAME: &'static str = "quickjs";
    const MIGRATABLE: bool = true;
    type Agent = QuickJsAgent;

    fn create_agent(&self, host: Host) -> Result<QuickJsAgent, Error> {
        QuickJsAgent::new(self, host)
    }

    fn boxed(agent: QuickJsAgent) -> AgentBox {
        AgentBox::Migratable(Box::new(agent))
    }
}

fn engine_error(e: impl std::fmt::Display) -> Error {
    Error::Engine { engine: QuickJsEngine::NAME, message: e.to_string() }
}

/// One QuickJS agent: a runtime and its context.
pub struct QuickJsAgent {
    // Field order matters: the context drops before its runtime.
    ctx: Context,
    rt: Runtime,
    /// The host its buffers outside the runtime's allocator are counted
    /// through ([`alloc::Meter`]): boxed so its address is stable, and
    /// dropped after the runtime, whose buffers point at it.
    _meter: Box<Host>,
    host: Host,
    terminate: Arc<AtomicBool>,
    spawned: Arc<natives::SpawnCache>,
}

impl QuickJsAgent {
    fn new(engine: &QuickJsEngine, host: Host) -> Result<Self, Error> {
        // Every runtime allocates from the hz heap, so a large ArrayBuffer's
        // block can leave it without a copy (see alloc.rs).
        let rt = Runtime::new_with_alloc(alloc::HzAllocator::new(&host)).map_err(engine_error)?;
        let stack = host.limits().stack_bytes.map_or(engine.max_stack, |s| s.min(engine.max_stack));
        rt.set_max_stack_size(stack);
        let terminate = host.terminate_flag();
        let flag = terminate.clone();
        // Polled by QuickJS during execution; returning true raises an
        // uncatchable error, so `try { while (true) {} } catch {}` still ends.
        rt.set_interrupt_handler(Some(Box::new(move || flag.load(Ordering::Relaxed))));
        rt.set_host_promise_rejection_tracker(Some(Box::new(natives::track_rejection)));
        rt.set_loader(modules::FileResolver, modules::FileLoader(host.modules().clone()));
        let ctx = Context::full(&rt).map_err(engine_error)?;
        let meter_host = Box::new(host.clone());
        let meter = alloc::Meter::of(&meter_host);
        ctx.with(|ctx| alloc::install_shared_memory(&ctx, meter));
        let prepared = engine.prepared.get_or_init(prepare).as_ref().map_err(engine_error)?;
        ctx.with(|ctx| natives::install(&ctx, host.clone(), prepared, meter).catch(&ctx).map_err(engine_error))?;
        Ok(QuickJsAgent { ctx, rt, _meter: meter_host, host, terminate, spawned: engine.spawned.clone() })
    }

    /// Drains the job queue, then reports a rejection nobody handled as an
    /// uncaught error (as Node does by default). A job that fails is an
    /// uncaught error too, unless the agent is being terminated.
    fn drain_jobs(&self) {
        self.drain_queue();
        self.ctx.with(|ctx| {
            let unhandled = std::mem::take(&mut *natives::data(&ctx).rejections.borrow_mut());
            if let Some((_, reason)) = unhandled.into_iter().next() {
                self.uncaught(&ctx, reason);
            }
        });
    }

    fn drain_queue(&self) {
        loop {
            match self.rt.execute_pending_job() {
                Ok(true) => continue,
                Ok(false) => break,
                Err(e) => {
                    if self.terminate.load(Ordering::Relaxed) {
                        break;
                    }
                    e.0.with(|ctx| {
                        let exc = ctx.catch();
                        self.uncaught(&ctx, exc);
                    });
                }
            }
        }
    }

    /// An exception nobody caught: it fails the agent.
    fn uncaught<'js>(&self, ctx: &Ctx<'js>, exc: Value<'js>) {
        if self.terminate.load(Ordering::Relaxed) || exc.is_uncatchable_error() {
            return;
        }
        let payload = thrown_payload(ctx, &exc);
        self.host.uncaught(payload);
    }

    fn start(&self, spec: hz_core::AgentSpec) {
        self.ctx.with(|ctx| {
            let r: rquickjs::Result<()> = (|| {
                let data = natives::data(&ctx);
                let args = from_payload(&ctx, &data.helpers, &spec.args).map_err(|e| e.throw(&ctx, &data))?;
                let start = data.start.clone();
                let set_args = data.set_args.clone();
                drop(data);
                set_args.call::<_, ()>((args.clone(),))?;
                let (kind, what) = match &spec.source {
                    Source::Function { code } => (0, self.spawned.eval(&ctx, code, "<spawn>")?),
                    Source::Script { name, code } => (1, eval(&ctx, code, name)?),
                    Source::Scripts { scripts } => {
                        let mut last = Value::new_undefined(ctx.clone());
                        for (name, code) in scripts {
                            last = eval(&ctx, code, name)?;
                        }
                        (1, last)
                    }
                    Source::Program { name, code } => {
                        eval(&ctx, code, name)?;
                        (2, Value::new_undefined(ctx.clone()))
                    }
                    Source::Module { path } => {
                        let path = hz_core::modules::absolute(path);
                        (3, Module::import(&ctx, path.to_string_lossy().into_owned())?.into_value())
                    }
                    other => {
                        return Err(rquickjs::Exception::throw_type(&ctx, &format!("unsupported source {other:?}")));
                    }
                };
                start.call::<_, ()>((kind, what, args))
            })();
            if let Err(e) = r.catch(&ctx) {
                self.caught(&ctx, e);
            }
        });
    }

    fn complete(&self, op: u64, completion: hz_core::Completion) {
        if !self.host.take_op(op) {
            return;
        }
        self.ctx.with(|ctx| {
            if let Err(e) = dispatch(&ctx, op, &completion).catch(&ctx) {
                self.caught(&ctx, e);
            }
        });
    }

    fn caught<'js>(&self, ctx: &Ctx<'js>, e: rquickjs::CaughtError<'js>) {
        match e {
            rquickjs::CaughtError::Exception(exc) => self.uncaught(ctx, exc.into_value()),
            rquickjs::CaughtError::Value(v) => self.uncaught(ctx, v),
            rquickjs::CaughtError::Error(e) => {
                if !self.terminate.load(Ordering::Relaxed) {
                    self.host.fail(e.to_string());
                }
            }
        }
    }
}

/// Hands a completed op to the prelude's `dispatch`.
fn dispatch<'js>(ctx: &Ctx<'js>, op: u64, completion: &hz_core::Completion) -> rquickjs::Result<()> {
    let data = natives::data(ctx);
    let mut status = completion.status as i32;
    let value = match &completion.value {
        Some(p) => match from_payload(ctx, &data.helpers, p) {
            Ok(v) => v,
            Err(e) => {
                // A message that cannot be read rejects this op (a
                // "messageerror"); the agent goes on.
                let _ = e.throw(ctx, &data);
                status = hz_core::Status::Error as i32;
                ctx.catch()
            }
        },
        None => Value::new_undefined(ctx.clone()),
    };
    let dispatch = data.dispatch.clone();
    drop(data);
    dispatch.call::<_, ()>((op as f64, status, value, completion.index))
}

pub(crate) fn eval<'js>(ctx: &Ctx<'js>, code: &str, name: &str) -> rquickjs::Result<Value<'js>> {
    let mut opts = rquickjs::context::EvalOptions::default();
    opts.global = true;
    opts.strict = false;
    opts.filename = Some(name.to_owned());
    ctx.eval_with_options(code, opts)
}

/// Serializes a thrown value for join/`hz run`; a value that cannot be
/// cloned is described by a plain Error instead.
fn thrown_payload<'js>(ctx: &Ctx<'js>, exc: &Value<'js>) -> Payload {
    let data = natives::data(ctx);
    match to_payload(&data.helpers, exc, &[]) {
        Ok(p) => p,
        Err(_) => {
            drop(data);
            let _ = ctx.catch();
            let msg = exc
                .as_object()
                .and_then(|o| o.get::<_, String>("message").ok())
                .unwrap_or_else(|| "uncloneable exception".into());
            hz_core::JsError::error_value("Error", msg).to_payload().unwrap_or_default()
        }
    }
}

impl hz_core::Agent for QuickJsAgent {
    fn run_task(&mut self, task: Task) {
        if self.terminate.load(Ordering::Relaxed) {
            return self.host.discard(task);
        }
        match task {
            Task::Start(spec) => self.start(spec),
            Task::Complete { op, completion } => self.complete(op, completion),
            _ => {}
        }
        self.drain_jobs();
    }
}

impl Drop for QuickJsAgent {
    fn drop(&mut self) {
        // JS values held in userdata must go before the runtime frees its objects.
        self.ctx.with(|ctx| {
            let _ = ctx.remove_userdata::<natives::AgentData<'_>>();
        });
    }
}

#[cfg(test)]
mod tests {
    /// A LEB128 number of QuickJS bytecode at `at`, which it moves past.
    fn leb128(bytes: &[u8], at: &mut usize) -> u64 {
        let (mut value, mut shift) = (0u64, 0);
        loop {
            let b = bytes[*at];
            *at += 1;
            value |= u64::from(b & 0x7f) << shift;
            shift += 7;
            if b < 0x80 {
                return value;
            }
        }
    }

    /// QuickJS patch 15 predefines the atoms of the prelude's bytecode, so
    /// that every agent reads them as indices instead of making each (see
    /// vendor/rquickjs-sys/HZ-PATCHES.md). Its bytecode starts with its
    /// atom table: a version byte, a checksum, the count, then each atom as
    /// a predefined atom's index (a byte with the top bit set) or as a
    /// string. A prelude edit that brings new names fails this test, which
    /// lists them for the patch's block in quickjs-atom.h.
    #[test]
    fn prelude_atoms_are_predefined() {
        let prepared = super::prepare().unwrap();
        let b = &prepared.bytecode;
        let mut at = 5;
        let mut strings = Vec::new();
        for _ in 0..leb128(b, &mut at) {
            let kind = b[at];
            at += 1;
            if kind & 0x80 != 0 {
                if kind & 0x40 != 0 {
                    leb128(b, &mut at);
                }
                continue;
            }
            let header = leb128(b, &mut at);
            let len = ((header >> 1) as usize) << (header & 1);
            strings.push(String::from_utf8_lossy(&b[at..at + len]).into_owned());
            at += len;
        }
        // None may be left: QuickJS reads a file whose atoms are all
        // predefined without mapping its functions' atoms (hz patch 18).
        assert!(strings.is_empty(), "atoms of the prelude to add to quickjs-atom.h (hz patch 15): {strings:?}");
    }
}
