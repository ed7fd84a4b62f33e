//! The `ops` object the shared prelude (hz_core::PRELUDE) is built on.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::CString;
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hz_clone::Payload;
use hz_core::{AgentSpec, Completion, Host, OpStart, PayloadChan, Source, Status, wait_timeout};
use rquickjs::class::{JsClass, Readable, Trace, Tracer};
use rquickjs::function::{Opt, Rest};
use rquickjs::{Array, Class, Ctx, Exception, Function, JsLifetime, Object, Value, qjs};

use crate::clone::{CloneErr, Helpers, from_payload, to_payload};
use crate::patches::{JS_HzBuiltin, JS_HzIntrinsic};

/// A channel as a JS object: the native class whose prototype the prelude
/// fills with `send`, `recv`... The clone code recognises it as a host value.
pub(crate) struct JsChannel {
    pub(crate) chan: Arc<PayloadChan>,
}

// SAFETY: JsChannel holds no JS values, so it is the same type for every
// lifetime and can never let a `'js` value escape its context.
unsafe impl<'js> JsLifetime<'js> for JsChannel {
    type Changed<'to> = JsChannel;
}

impl<'js> Trace<'js> for JsChannel {
    fn trace<'a>(&self, _tracer: Tracer<'a, 'js>) {}
}

impl<'js> JsClass<'js> for JsChannel {
    const NAME: &'static str = "Channel";
    type Mutable = Readable;

    fn constructor(_ctx: &Ctx<'js>) -> rquickjs::Result<Option<rquickjs::function::Constructor<'js>>> {
        Ok(None)
    }
}

/// Per-agent JS state the natives and the event loop need, kept in the
/// runtime's userdata (cleared before the runtime frees its objects).
pub(crate) struct AgentData<'js> {
    pub(crate) helpers: Helpers<'js>,
    /// Promises rejected with no handler yet, with their reasons (the host
    /// rejection tracker's list); what is still here after a turn's
    /// microtasks is an unhandled rejection.
    pub(crate) rejections: RefCell<Vec<(Value<'js>, Value<'js>)>>,
    pub(crate) dispatch: Function<'js>,
    pub(crate) start: Function<'js>,
    pub(crate) set_args: Function<'js>,
    pub(crate) make_error: Function<'js>,
    /// Where buffers adopted from messages are counted.
    pub(crate) meter: crate::alloc::Meter,
}

// SAFETY: `Changed<'to>` is the same struct with every `'js` replaced by
// `'to`, which is what JsLifetime requires.
unsafe impl<'js> JsLifetime<'js> for AgentData<'js> {
    type Changed<'to> = AgentData<'to>;
}

/// The host promise rejection tracker (HTML "unhandled rejections").
pub(crate) fn track_rejection<'js>(ctx: Ctx<'js>, promise: Value<'js>, reason: Value<'js>, handled: bool) {
    let Some(d) = ctx.userdata::<AgentData<'js>>() else { return };
    let mut list = d.rejections.borrow_mut();
    if handled {
        list.retain(|(p, _)| *p != promise);
    } else {
        list.push((promise, reason));
    }
}

/// The agent's data. Installed before any user code runs.
pub(crate) fn data<'a, 'js>(ctx: &'a Ctx<'js>) -> rquickjs::runtime::UserDataGuard<'a, AgentData<'js>> {
    ctx.userdata::<AgentData<'js>>().expect("hz agent data is installed at creation")
}

fn throw_error(ctx: &Ctx<'_>, name: &str, message: &str) -> rquickjs::Error {
    let e = data(ctx).make_error.call::<_, Value<'_>>((name, message));
    match e {
        Ok(v) => ctx.throw(v),
        Err(e) => e,
    }
}

fn chan<'js>(ctx: &Ctx<'js>, v: &Value<'js>) -> rquickjs::Result<Arc<PayloadChan>> {
    match crate::clone::object_of(v).and_then(Class::<JsChannel>::from_object) {
        Some(c) => Ok(c.borrow().chan.clone()),
        None => Err(Exception::throw_type(ctx, "not a channel")),
    }
}

/// What an `Atomics.wait`/`waitAsync` waits on: the memory, the byte
/// offset, and the expected value (the prelude has coerced it already).
fn wait_target<'js>(
    ctx: &Ctx<'js>,
    buffer: &Value<'js>,
    byte_index: f64,
    big: bool,
    value: &Value<'js>,
) -> rquickjs::Result<(hz_atomics::SharedMemory, usize, i64)> {
    let memory = sab(ctx, buffer)?;
    let expected: i64 = if big {
        match value.as_big_int() {
            Some(b) => b.clone().to_i64()?,
            None => return Err(Exception::throw_type(ctx, "expected a BigInt")),
        }
    } else {
        i64::from(value.as_number().unwrap_or(0.0) as i32)
    };
    Ok((memory, byte_index as usize, expected))
}

/// Throws the uncatchable error that unwinds a terminated agent's turn
/// (what QuickJS's interrupt handler throws, so `catch` cannot stop it).
fn throw_terminated(ctx: &Ctx<'_>) -> rquickjs::Error {
    let e = data(ctx).make_error.call::<_, Value<'_>>(("InternalError", "interrupted"));
    match e {
        Ok(v) => {
            // SAFETY: both pointers are live: the context runs this call and
            // `v` is a value of it.
            unsafe { rquickjs::qjs::JS_SetUncatchableError(ctx.as_raw().as_ptr(), v.as_raw()) };
            ctx.throw(v)
        }
        Err(e) => e,
    }
}

/// The shared memory of a SharedArrayBuffer argument (checked by class).
fn sab<'js>(ctx: &Ctx<'js>, v: &Value<'js>) -> rquickjs::Result<hz_atomics::SharedMemory> {
    let d = data(ctx);
    crate::clone::shared_memory(&d.helpers, v).ok_or_else(|| Exception::throw_type(ctx, "expected a SharedArrayBuffer"))
}

fn serialize<'js>(ctx: &Ctx<'js>, v: &Value<'js>) -> rquickjs::Result<Payload> {
    serialize_moving(ctx, v, Opt(None))
}

/// Serializes `v`, moving the ArrayBuffers of the `transfer` list (an array,
/// or undefined/null for none).
fn serialize_moving<'js>(ctx: &Ctx<'js>, v: &Value<'js>, transfer: Opt<Value<'js>>) -> rquickjs::Result<Payload> {
    let list: Vec<Value<'js>> = match transfer.0 {
        None => Vec::new(),
        Some(t) if t.is_undefined() || t.is_null() => Vec::new(),
        Some(t) => match t.as_array() {
            Some(a) => a.iter::<Value<'js>>().collect::<rquickjs::Result<_>>()?,
            None => return Err(Exception::throw_type(ctx, "transfer must be an array")),
        },
    };
    let d = data(ctx);
    let r = to_payload(&d.helpers, v, &list);
    r.map_err(|e| e.throw(ctx, &d))
}

/// An op's JS-visible start: a pending op id, or `[status, value, index]`.
fn op_result<'js>(ctx: &Ctx<'js>, start: OpStart) -> rquickjs::Result<Value<'js>> {
    match start {
        OpStart::Pending(id) => Ok(Value::new_number(ctx.clone(), id as f64)),
        OpStart::Done(c) => completion(ctx, &c),
    }
}

fn completion<'js>(ctx: &Ctx<'js>, c: &Completion) -> rquickjs::Result<Value<'js>> {
    let value = match &c.value {
        Some(p) => {
            let d = data(ctx);
            let r = from_payload(ctx, &d.helpers, p);
            r.map_err(|e| e.throw(ctx, &d))?
        }
        None => Value::new_undefined(ctx.clone()),
    };
    // The three slots in place (no property sets: this is every op's result).
    // The array gets a reference of its own to `value` (numbers have none);
    // `value` drops its own, and its context reference, as usual.
    let values = [
        Value::new_int(ctx.clone(), c.status as i32).as_raw(),
        // SAFETY: a live value of this context.
        unsafe { qjs::JS_DupValue(ctx.as_raw().as_ptr(), value.as_raw()) },
        Value::new_int(ctx.clone(), c.index).as_raw(),
    ];
    drop(value);
    // SAFETY: three live values of this context, each owned and given to
    // JS_NewArrayFrom, which keeps them in the array or frees them on failure.
    let array = unsafe { qjs::JS_NewArrayFrom(ctx.as_raw().as_ptr(), 3, values.as_ptr()) };
    if is_exception(array) {
        return Err(rquickjs::Error::Exception);
    }
    // SAFETY: a new array of this context, owned here.
    Ok(unsafe { Value::from_raw(ctx.clone(), array) })
}

/// The prelude's units compiled to bytecode, by name (see `Prepared`).
pub(crate) type Units = Arc<[(&'static str, Box<[u8]>)]>;

/// Compiles `source`, a function expression, as a strict script named
/// `name`, to bytecode without its source text (kept per function for
/// toString, which no one calls on the prelude's functions: without it each
/// agent holds 52 KiB less). Line tables stay: stack traces through the
/// prelude keep their lines.
///
/// A script, not a module: QuickJS keeps every module an agent loads (its
/// record, namespace and top-level code) until the runtime ends, while a
/// script's top-level code, and each of the prelude's functions that no
/// closure still uses, is freed once evaluated.
pub(crate) fn compile_script(ctx: &Ctx<'_>, name: &str, source: &str) -> Result<Vec<u8>, String> {
    let name = std::ffi::CString::new(name).map_err(|e| e.to_string())?;
    let function = compile_raw(ctx, &name, source, true);
    if is_exception(function) {
        return Err(format!("{:?}", ctx.catch()));
    }
    let written = (qjs::JS_WRITE_OBJ_BYTECODE | qjs::JS_WRITE_OBJ_STRIP_SOURCE) as i32 | HZ_STRIP_NAMES;
    // SAFETY: `function` is the compiled script, a live value of this
    // context that we own, freed once written.
    let bytecode = unsafe {
        let bytecode = write_raw(ctx, function, written);
        qjs::JS_FreeValue(ctx.as_raw().as_ptr(), function);
        bytecode
    };
    bytecode.ok_or_else(|| format!("{:?}", ctx.catch()))
}

/// Compiles `source` as a global script named `name` (strict or sloppy)
/// without running it: the compiled function, owned by the caller, or
/// QuickJS's exception marker with the exception (a SyntaxError) pending.
fn compile_raw(ctx: &Ctx<'_>, name: &std::ffi::CStr, source: &str, strict: bool) -> qjs::JSValue {
    // JS_Eval reads the input up to a terminating NUL.
    let mut input = Vec::with_capacity(source.len() + 1);
    input.extend_from_slice(source.as_bytes());
    input.push(0);
    let mut flags = qjs::JS_EVAL_TYPE_GLOBAL | qjs::JS_EVAL_FLAG_COMPILE_ONLY;
    if strict {
        flags |= qjs::JS_EVAL_FLAG_STRICT;
    }
    // SAFETY: the context of `ctx` is live; `input` is NUL-terminated and
    // `source.len()` long before the NUL; `name` is a C string.
    unsafe {
        qjs::JS_Eval(ctx.as_raw().as_ptr(), input.as_ptr().cast(), source.len() as _, name.as_ptr(), flags as i32)
    }
}

/// `function` written as bytecode with `flags` (`JS_WRITE_OBJ_*`); `None`
/// if QuickJS could not (out of memory: the exception is pending).
///
/// # Safety
/// `function` is a live compiled function of `ctx`'s context; it stays the
/// caller's.
unsafe fn write_raw(ctx: &Ctx<'_>, function: qjs::JSValue, flags: i32) -> Option<Vec<u8>> {
    let raw = ctx.as_raw().as_ptr();
    let mut len = std::mem::MaybeUninit::<usize>::uninit();
    // SAFETY: the caller's contract; JS_WriteObject sets `len` when it
    // returns a buffer, which is copied and freed at once.
    unsafe {
        let buf = qjs::JS_WriteObject(raw, len.as_mut_ptr().cast(), function, flags);
        if buf.is_null() {
            return None;
        }
        let bytecode = std::slice::from_raw_parts(buf, len.assume_init()).to_vec();
        qjs::js_free(raw, buf.cast());
        Some(bytecode)
    }
}

/// Whether a raw value is QuickJS's exception marker.
fn is_exception(v: qjs::JSValue) -> bool {
    // SAFETY: only reads the value's tag.
    unsafe { qjs::JS_IsException(v) }
}

/// The value a patched QuickJS function returned, or the exception it left
/// pending (`made` is then the exception marker).
///
/// # Safety
/// `made` is the exception marker or a new reference of `ctx`'s context,
/// which this takes over.
unsafe fn made_value<'js>(ctx: &Ctx<'js>, made: qjs::JSValue) -> rquickjs::Result<Value<'js>> {
    if is_exception(made) {
        return Err(ctx.throw(ctx.catch()));
    }
    // SAFETY: a new value of this context, whose reference the caller gave.
    Ok(unsafe { Value::from_raw(ctx.clone(), made) })
}

/// `JS_WRITE_OBJ_HZ_STRIP_NAMES` (vendor/rquickjs-sys, an hz patch): the
/// bytecode keeps no names of local and closure variables, each an atom
/// every agent would hold. The prelude runs no direct eval, the one reader
/// of those names.
const HZ_STRIP_NAMES: i32 = 1 << 6;

/// Evaluates bytecode compiled by [`compile_script`], and returns its
/// completion value (the function expression).
///
/// # Safety
/// `bytecode` was written by `compile_script` of this same QuickJS build,
/// in this process (QuickJsEngine's cache); it is never input.
unsafe fn evaluate<'js>(ctx: &Ctx<'js>, bytecode: &[u8]) -> rquickjs::Result<Value<'js>> {
    let raw = ctx.as_raw().as_ptr();
    // SAFETY: the caller's contract (trusted bytecode of this build);
    // JS_EvalFunction takes the function it is given.
    let value = unsafe {
        let function =
            qjs::JS_ReadObject(raw, bytecode.as_ptr(), bytecode.len() as _, qjs::JS_READ_OBJ_BYTECODE as i32);
        if is_exception(function) {
            return Err(ctx.throw(ctx.catch()));
        }
        qjs::JS_EvalFunction(raw, function)
    };
    if is_exception(value) {
        return Err(ctx.throw(ctx.catch()));
    }
    // SAFETY: a value of this context, whose reference we own.
    Ok(unsafe { Value::from_raw(ctx.clone(), value) })
}

/// The functions agents were spawned with (`hz.spawn(fn)`), as bytecode by
/// source text: a program spawns the same few functions again and again,
/// and compiling one, even a small one, runs the whole parser (about a
/// quarter of what a spawn of a small function executed). The bytecode
/// keeps the source (for `toString`) and the line tables (for stack
/// traces); evaluating it is what `eval` of the source does.
#[derive(Default)]
pub(crate) struct SpawnCache {
    map: Mutex<HashMap<Box<str>, Arc<[u8]>>>,
}

impl std::fmt::Debug for SpawnCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpawnCache").finish_non_exhaustive()
    }
}

impl SpawnCache {
    /// Distinct sources kept; past it the cache starts over.
    const ENTRIES: usize = 64;
    /// Longer sources are compiled each time (not kept).
    const MAX_SOURCE: usize = 64 << 10;

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, Arc<[u8]>>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Evaluates `code` as a sloppy global script named `name`, as
    /// `crate::eval` does, from its cached bytecode when there is some.
    pub(crate) fn eval<'js>(&self, ctx: &Ctx<'js>, code: &str, name: &str) -> rquickjs::Result<Value<'js>> {
        if code.len() > Self::MAX_SOURCE {
            return crate::eval(ctx, code, name);
        }
        let cached = self.map().get(code).cloned();
        if let Some(bytecode) = cached {
            // SAFETY: written below, by this build, in this process.
            return unsafe { evaluate(ctx, &bytecode) };
        }
        let cname = std::ffi::CString::new(name).map_err(|_| rquickjs::Error::Unknown)?;
        let function = compile_raw(ctx, &cname, code, false);
        if is_exception(function) {
            // A SyntaxError: pending in the context, as eval leaves it.
            return Err(rquickjs::Error::Exception);
        }
        // SAFETY: `function` is the compiled script, a live value of this
        // context that we own (evaluated below).
        let bytecode = unsafe { write_raw(ctx, function, qjs::JS_WRITE_OBJ_BYTECODE as i32) };
        match bytecode {
            Some(bytecode) => {
                let mut map = self.map();
                if map.len() >= Self::ENTRIES {
                    map.clear();
                }
                map.insert(code.into(), bytecode.into());
            }
            // Not written (out of memory): run it uncached.
            None => drop(ctx.catch()),
        }
        // SAFETY: JS_EvalFunction takes the compiled function it is given.
        let value = unsafe { qjs::JS_EvalFunction(ctx.as_raw().as_ptr(), function) };
        if is_exception(value) {
            return Err(rquickjs::Error::Exception);
        }
        // SAFETY: a value of this context, whose reference we own.
        Ok(unsafe { Value::from_raw(ctx.clone(), value) })
    }
}

/// Adds the natives most agents never call to `ops` (see `more` in
/// [`install`]).
fn install_more<'js>(ctx: &Ctx<'js>, ops: &Object<'js>, host: &Host) -> rquickjs::Result<()> {
    ops.set(
        "closeOnEnd",
        Function::new(ctx.clone(), {
            let host = host.clone();
            move |ctx: Ctx<'js>, ch: Value<'js>, on: bool| -> rquickjs::Result<()> {
                host.close_on_end(&chan(&ctx, &ch)?, on);
                Ok(())
            }
        })?,
    )?;
    ops.set(
        "select",
        Function::new(ctx.clone(), {
            let host = host.clone();
            move |ctx: Ctx<'js>, list: Array<'js>, has_default: bool, timeout: f64| {
                let mut cases = Vec::with_capacity(list.len());
                for c in list.iter::<Array<'js>>() {
                    let c = c?;
                    let ch = chan(&ctx, &c.get::<Value<'js>>(0)?)?;
                    let value = if c.get::<bool>(1)? { Some(serialize(&ctx, &c.get::<Value<'js>>(2)?)?) } else { None };
                    cases.push((ch, value));
                }
                let timeout = (timeout >= 0.0).then(|| Duration::from_secs_f64(timeout.min(1e9) / 1000.0));
                op_result(&ctx, host.select(cases, has_default, timeout))
            }
        })?,
    )?;
    ops.set(
        "spawn",
        Function::new(ctx.clone(), {
            let host = host.clone();
            move |ctx: Ctx<'js>,
                  kind: i32,
                  code: String,
                  name: Opt<Value<'js>>,
                  engine: Opt<Value<'js>>,
                  args: Value<'js>,
                  rest: Rest<Value<'js>>|
                  -> rquickjs::Result<f64> {
                let string = |v: Opt<Value<'js>>| v.0.and_then(|v| v.as_string().and_then(|s| s.to_string().ok()));
                let name = string(name);
                let engine = string(engine);
                let source = match kind {
                    0 => Source::Function { code },
                    2 => {
                        let path = crate::modules::resolve_from_agent(&ctx, &code)
                            .map_err(|m| throw_error(&ctx, "TypeError", &m))?;
                        Source::Module { path }
                    }
                    _ => Source::Script { name: name.clone().unwrap_or_else(|| "<spawn>".into()), code },
                };
                // (canBlock, options): past the arity of a native function.
                let can_block = rest.0.first().and_then(Value::as_bool).unwrap_or(true);
                let mut spec = AgentSpec::new(source).can_block(can_block);
                spec.args = serialize(&ctx, &args)?;
                spec.name = name;
                if let Some(o) = rest.0.get(1).filter(|o| !o.is_undefined()) {
                    spec.options_from_payload(&serialize(&ctx, o)?)
                        .map_err(|e| throw_error(&ctx, "TypeError", &e.to_string()))?;
                }
                host.spawn(engine.as_deref(), spec)
                    .map(|id| id as f64)
                    .map_err(|e| throw_error(&ctx, "TypeError", &e.to_string()))
            }
        })?,
    )?;
    ops.set(
        "join",
        Function::new(ctx.clone(), {
            let host = host.clone();
            move |ctx: Ctx<'js>, id: f64| op_result(&ctx, host.join(id as u64))
        })?,
    )?;
    ops.set(
        "callHost",
        Function::new(ctx.clone(), {
            let host = host.clone();
            move |ctx: Ctx<'js>, name: String, args: Value<'js>| {
                let p = serialize(&ctx, &args)?;
                op_result(&ctx, host.call_host(&name, &p))
            }
        })?,
    )?;
    ops.set(
        "terminate",
        Function::new(ctx.clone(), {
            let host = host.clone();
            move |id: f64| host.terminate(id as u64)
        })?,
    )?;
    ops.set(
        "timer",
        Function::new(ctx.clone(), {
            let host = host.clone();
            move |ms: f64| host.timer(Duration::from_secs_f64(ms.clamp(0.0, 1e10) / 1000.0)) as f64
        })?,
    )?;
    ops.set(
        "cancel",
        Function::new(ctx.clone(), {
            let host = host.clone();
            move |op: f64| host.cancel_op(op as u64)
        })?,
    )?;
    ops.set(
        "waitAsync",
        Function::new(ctx.clone(), {
            let host = host.clone();
            move |ctx: Ctx<'js>,
                  buffer: Value<'js>,
                  byte_index: f64,
                  big: bool,
                  value: Value<'js>,
                  timeout: f64|
                  -> rquickjs::Result<Value<'js>> {
                let (memory, at, expected) = wait_target(&ctx, &buffer, byte_index, big, &value)?;
                let still_expected = || memory.load(at, big) == Some(expected);
                match host.wait_async(&memory, at, still_expected, wait_timeout(timeout)) {
                    OpStart::Pending(op) => Ok(Value::new_number(ctx.clone(), op as f64)),
                    OpStart::Done(c) => {
                        let text = c.text().unwrap_or_default();
                        Ok(rquickjs::String::from_str(ctx.clone(), &text)?.into_value())
                    }
                }
            }
        })?,
    )?;
    ops.set(
        "wait",
        Function::new(ctx.clone(), {
            let host = host.clone();
            move |ctx: Ctx<'js>, buffer: Value<'js>, byte_index: f64, big: bool, value: Value<'js>, timeout: f64| {
                let (memory, at, expected) = wait_target(&ctx, &buffer, byte_index, big, &value)?;
                let still_expected = || memory.load(at, big) == Some(expected);
                let text = match host.wait(&memory, at, still_expected, wait_timeout(timeout)) {
                    Ok(r) => match r.as_js_str() {
                        Some(text) => text,
                        None => return Err(throw_terminated(&ctx)),
                    },
                    Err(_) => return Err(throw_error(&ctx, "TypeError", "Atomics.wait cannot block in this agent")),
                };
                rquickjs::String::from_str(ctx.clone(), text)
            }
        })?,
    )?;
    ops.set(
        "notify",
        Function::new(ctx.clone(), {
            let host = host.clone();
            move |ctx: Ctx<'js>, buffer: Value<'js>, byte_index: f64, count: f64| -> rquickjs::Result<f64> {
                let memory = sab(&ctx, &buffer)?;
                let count = if count >= usize::MAX as f64 { usize::MAX } else { count.max(0.0) as usize };
                Ok(host.notify(&memory, byte_index as usize, count) as f64)
            }
        })?,
    )?;
    ops.set(
        "sabGrow",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, buffer: Value<'js>, seen: f64, new_len: f64| {
            let memory = sab(&ctx, &buffer)?;
            memory.observe_length(seen as usize);
            Ok::<_, rquickjs::Error>(memory.grow(new_len as usize).is_ok())
        })?,
    )?;
    ops.set(
        "newRealm",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>| -> rquickjs::Result<Value<'js>> {
            // SAFETY: the runtime is live (we are running in it). The new
            // context is reference counted: every function it creates holds
            // it, so dropping our reference here leaves it alive exactly as
            // long as its global object or any of its functions is reachable
            // (cycles included: contexts are GC objects), and the runtime's
            // teardown frees it with everything else. Its global object is a
            // value of the same runtime, so it is valid in `ctx`.
            unsafe {
                let rt = rquickjs::qjs::JS_GetRuntime(ctx.as_raw().as_ptr());
                let realm = rquickjs::qjs::JS_NewContext(rt);
                if realm.is_null() {
                    return Err(rquickjs::Error::Allocation);
                }
                let global = rquickjs::qjs::JS_GetGlobalObject(realm);
                rquickjs::qjs::JS_FreeContext(realm);
                Ok(Value::from_raw(ctx.clone(), global))
            }
        })?,
    )?;
    ops.set(
        "print",
        Function::new(ctx.clone(), move |stream: i32, text: Rest<String>| {
            let line = text.0.join(" ");
            // A closed stdout (`hz run x.js | head`) must not kill the agent.
            if stream == 2 {
                let _ = writeln!(std::io::stderr().lock(), "{line}");
            } else {
                let _ = writeln!(std::io::stdout().lock(), "{line}");
            }
        })?,
    )?;
    Ok(())
}

/// A property as a host defines its globals and methods: configurable and
/// not enumerable; a data property also writable. (rquickjs's `Accessor`
/// takes Rust functions; these are the prelude's.)
enum HostProperty<'js> {
    Data(Value<'js>),
    /// A getter and a setter, each a function or undefined.
    Accessor(Value<'js>, Value<'js>),
}

impl<'js> rquickjs::object::AsProperty<'js, ()> for HostProperty<'js> {
    fn config(
        self,
        ctx: &Ctx<'js>,
    ) -> rquickjs::Result<(rquickjs::object::PropertyFlags, Value<'js>, Value<'js>, Value<'js>)> {
        let host = qjs::JS_PROP_CONFIGURABLE | qjs::JS_PROP_HAS_CONFIGURABLE | qjs::JS_PROP_HAS_ENUMERABLE;
        let undefined = || Value::new_undefined(ctx.clone());
        Ok(match self {
            HostProperty::Data(value) => {
                let flags = host | qjs::JS_PROP_HAS_VALUE | qjs::JS_PROP_WRITABLE | qjs::JS_PROP_HAS_WRITABLE;
                (flags as rquickjs::object::PropertyFlags, value, undefined(), undefined())
            }
            HostProperty::Accessor(get, set) => {
                let flags = host | qjs::JS_PROP_HAS_GET | qjs::JS_PROP_HAS_SET;
                (flags as rquickjs::object::PropertyFlags, undefined(), get, set)
            }
        })
    }
}

/// Builds `ops`, evaluates the prelude (`prepared.bytecode`) with it and
/// stores the internals.
pub(crate) fn install<'js>(
    ctx: &Ctx<'js>,
    host: Host,
    prepared: &crate::Prepared,
    meter: crate::alloc::Meter,
) -> rquickjs::Result<()> {
    let ops = Object::new(ctx.clone())?;
    let proto = Class::<JsChannel>::prototype(ctx)?.ok_or(rquickjs::Error::Unknown)?;
    ops.set("channelPrototype", proto)?;
    ops.set("engine", "quickjs")?;
    ops.set("threads", host.threads() as f64)?;
    ops.set("epoch", host.epoch_ms())?;
    // The prelude's `defineData(target, source)`: each own property of
    // `source` defined on `target` as a writable, configurable,
    // non-enumerable data property (as a host defines its globals and
    // methods), without a descriptor object per property to make and read.
    // The natives most agents never call (spawn, join, select, timers,
    // Atomics.wait and notify, print, ...), added to `ops` by the prelude's
    // first need of one (`more` in prelude.js) instead of at every agent's
    // start: each native function costs its making.
    ops.set(
        "more",
        Function::new(ctx.clone(), {
            let host = host.clone();
            move |ctx: Ctx<'js>, ops: Object<'js>| install_more(&ctx, &ops, &host)
        })?,
    )?;
    ops.set(
        "defineData",
        Function::new(ctx.clone(), |target: Object<'js>, source: Object<'js>| -> rquickjs::Result<()> {
            let keys = rquickjs::object::Filter::new().string().symbol();
            for key in source.own_keys::<rquickjs::Atom<'js>>(keys) {
                let key = key?;
                let value: Value<'js> = source.get(key.clone())?;
                target.prop(key, HostProperty::Data(value))?;
            }
            Ok(())
        })?,
    )?;
    // The prelude's `defineAccessors(target, [key, get, set, ...])`: each
    // key an accessor property of `target` (configurable, not enumerable)
    // with that getter and setter (`set` may be undefined), without a
    // descriptor object per property.
    ops.set(
        "defineAccessors",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, target: Object<'js>, list: Array<'js>| -> rquickjs::Result<()> {
            for i in (0..list.len()).step_by(3) {
                let key = rquickjs::Atom::from_value(ctx.clone(), &list.get(i)?)?;
                target.prop(key, HostProperty::Accessor(list.get(i + 1)?, list.get(i + 2)?))?;
            }
            Ok(())
        })?,
    )?;

    ops.set(
        "channel",
        Function::new(ctx.clone(), {
            let host = host.clone();
            move |ctx: Ctx<'js>, cap: f64| -> rquickjs::Result<Class<'js, JsChannel>> {
                Class::instance(ctx, JsChannel { chan: host.channel(cap as usize) })
            }
        })?,
    )?;
    ops.set(
        "send",
        Function::new(ctx.clone(), {
            let host = host.clone();
            move |ctx: Ctx<'js>, ch: Value<'js>, v: Value<'js>, transfer: Opt<Value<'js>>| {
                let ch = chan(&ctx, &ch)?;
                let p = serialize_moving(&ctx, &v, transfer)?;
                op_result(&ctx, host.send(&ch, p))
            }
        })?,
    )?;
    ops.set(
        "recv",
        Function::new(ctx.clone(), {
            let host = host.clone();
            move |ctx: Ctx<'js>, ch: Value<'js>| {
                let ch = chan(&ctx, &ch)?;
                op_result(&ctx, host.recv(&ch))
            }
        })?,
    )?;
    ops.set(
        "trySend",
        Function::new(ctx.clone(), {
            let host = host.clone();
            move |ctx: Ctx<'js>, ch: Value<'js>, v: Value<'js>| -> rquickjs::Result<bool> {
                let ch = chan(&ctx, &ch)?;
                let p = serialize(&ctx, &v)?;
                host.try_send(&ch, p).map_err(|_| throw_error(&ctx, "Error", "send on a closed channel"))
            }
        })?,
    )?;
    ops.set(
        "tryRecv",
        Function::new(ctx.clone(), {
            let host = host.clone();
            move |ctx: Ctx<'js>, ch: Value<'js>| -> rquickjs::Result<Value<'js>> {
                let ch = chan(&ctx, &ch)?;
                match host.try_recv(&ch) {
                    Some(c) => completion(&ctx, &c),
                    None => Ok(Value::new_undefined(ctx.clone())),
                }
            }
        })?,
    )?;
    ops.set(
        "close",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, ch: Value<'js>| -> rquickjs::Result<()> {
            let ch = chan(&ctx, &ch)?;
            ch.close().map_err(|_| throw_error(&ctx, "Error", "close of a closed channel"))
        })?,
    )?;
    ops.set(
        "info",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, ch: Value<'js>| -> rquickjs::Result<Array<'js>> {
            let ch = chan(&ctx, &ch)?;
            let a = Array::new(ctx.clone())?;
            a.set(0, ch.capacity() as f64)?;
            a.set(1, ch.len() as f64)?;
            a.set(2, ch.is_closed())?;
            Ok(a)
        })?,
    )?;
    ops.set(
        "load",
        Function::new(ctx.clone(), {
            let units = prepared.units.clone();
            move |ctx: Ctx<'js>, name: String| -> rquickjs::Result<Value<'js>> {
                let Some((_, bytecode)) = units.iter().find(|u| u.0 == name) else {
                    return Err(Exception::throw_type(&ctx, &format!("no prelude unit {name}")));
                };
                // SAFETY: compiled by `prepare` (compile_script) in this process.
                unsafe { evaluate(&ctx, bytecode) }
            }
        })?,
    )?;
    // The builtins the prelude's units call, made on a unit's first load
    // from QuickJS's own tables (`builtin` in prelude.js, JS_HzBuiltin in
    // the vendored quickjs.c), so that no agent makes them before it needs
    // them and user code cannot have replaced them.
    ops.set(
        "builtin",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, holder: String, key: String, getter: bool| -> rquickjs::Result<Value<'js>> {
                let (Ok(holder), Ok(key)) = (CString::new(holder), CString::new(key)) else {
                    return Ok(Value::new_undefined(ctx));
                };
                // SAFETY: the context is live; the names are NUL-terminated
                // strings that outlive the call, which keeps neither. It
                // returns a new value of this context or the exception marker.
                unsafe { made_value(&ctx, JS_HzBuiltin(ctx.as_raw().as_ptr(), holder.as_ptr(), key.as_ptr(), getter)) }
            },
        )?,
    )?;
    // QuickJS makes DOMException, Date and the typed-array constructors on
    // first use; the prelude asks for them when it first needs them (a
    // DataCloneError, a unit's primordials). Undefined for other names.
    ops.set(
        "intrinsic",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, name: String| -> rquickjs::Result<Value<'js>> {
            let Ok(name) = CString::new(name) else {
                return Ok(Value::new_undefined(ctx));
            };
            // SAFETY: the context is live; `name` is a NUL-terminated string
            // that outlives the call, which keeps nothing. It returns a new
            // value of this context (undefined for other names) or the
            // exception marker.
            let made = unsafe { JS_HzIntrinsic(ctx.as_raw().as_ptr(), name.as_ptr()) };
            // SAFETY: `made` is a new reference of this context or the
            // exception marker.
            unsafe { made_value(&ctx, made) }
        })?,
    )?;
    ops.set(
        "settle",
        Function::new(ctx.clone(), {
            let host = host.clone();
            move |ctx: Ctx<'js>, ok: bool, v: Value<'js>| -> rquickjs::Result<()> {
                let p = serialize(&ctx, &v)?;
                host.settle(if ok { Ok(p) } else { Err(p) });
                Ok(())
            }
        })?,
    )?;
    ops.set(
        "clone",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, v: Value<'js>, transfer: Opt<Value<'js>>| {
            let p = serialize_moving(&ctx, &v, transfer)?;
            let d = data(&ctx);
            let r = from_payload(&ctx, &d.helpers, &p);
            r.map_err(|e| e.throw(&ctx, &d))
        })?,
    )?;
    // QuickJS keeps a growable SharedArrayBuffer's byte length per JS
    // object; the prelude syncs each object with the length in the shared
    // memory, so growth in one agent is seen by the others.
    ops.set(
        "sabLength",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, buffer: Value<'js>, seen: f64| {
            Ok::<_, rquickjs::Error>(sab(&ctx, &buffer)?.observe_length(seen as usize) as f64)
        })?,
    )?;
    ops.set(
        "gc",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>| {
            // SAFETY: the runtime is live and not inside a GC (we are
            // running JS in it); JS_RunGC only frees unreachable objects.
            unsafe { rquickjs::qjs::JS_RunGC(rquickjs::qjs::JS_GetRuntime(ctx.as_raw().as_ptr())) };
        })?,
    )?;
    ops.set(
        "threadId",
        Function::new(ctx.clone(), {
            let host = host.clone();
            move || host.worker_index().map_or(-1.0, |i| i as f64)
        })?,
    )?;
    ops.set(
        "now",
        Function::new(ctx.clone(), {
            let host = host.clone();
            move || host.now_ms()
        })?,
    )?;

    // SAFETY: compiled by `prepare` (compile_script) in this process.
    let prelude = unsafe { evaluate(ctx, &prepared.bytecode) }?;
    let prelude = Function::from_value(prelude)?;
    let internals: Object<'js> = prelude.call((ops, ctx.globals()))?;
    let helpers = Helpers::new(internals.get("clone")?, prepared.class_ids);
    let data = AgentData {
        helpers,
        rejections: RefCell::new(Vec::new()),
        dispatch: internals.get("dispatch")?,
        start: internals.get("start")?,
        set_args: internals.get("setArgs")?,
        make_error: internals.get("makeError")?,
        meter,
    };
    if ctx.store_userdata(data).is_err() {
        return Err(rquickjs::Error::Unknown);
    }
    let _ = Status::Ok;
    Ok(())
}

impl CloneErr {
    /// Raises this error in JS: a DataCloneError, a decode error, or the
    /// exception a getter threw (already pending).
    pub(crate) fn throw<'js>(self, ctx: &Ctx<'js>, d: &AgentData<'js>) -> rquickjs::Error {
        match self {
            CloneErr::Js(e) => e,
            CloneErr::Clone(e) => match d.make_error.call::<_, Value<'js>>(("DataCloneError", e.to_string())) {
                Ok(v) => ctx.throw(v),
                Err(e) => e,
            },
            CloneErr::Decode(e) => {
                match d.make_error.call::<_, Value<'js>>(("DataCloneError", format!("could not read message: {e}"))) {
                    Ok(v) => ctx.throw(v),
                    Err(e) => e,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ops.builtin` makes every builtin of the prelude's table that
    /// QuickJS defines, as the same function the context itself defines
    /// (name and length), and nothing for those it lacks.
    #[test]
    fn builtin_makes_each_prelude_builtin_quickjs_has() {
        let rt = rquickjs::Runtime::new().expect("runtime");
        let cx = rquickjs::Context::full(&rt).expect("context");
        cx.with(|ctx| {
            let mut made = 0;
            for [name, holder, key, kind] in hz_core::prelude_builtins() {
                let path = holder.replace("%TypedArray%", "Object.getPrototypeOf(Int8Array)");
                let key_js =
                    if key == "[Symbol.toStringTag]" { "Symbol.toStringTag".to_string() } else { format!("'{key}'") };
                let read = if kind == "g" {
                    format!("Object.getOwnPropertyDescriptor({path}, {key_js})?.get")
                } else {
                    format!("({path})[{key_js}]")
                };
                let want: Value = ctx
                    .eval(format!("(() => {{ const f = {read}; return f && [f.name, f.length]; }})()"))
                    .expect(&read);
                let (holder_c, key_c) = (CString::new(holder).unwrap(), CString::new(key).unwrap());
                // SAFETY: a live context; NUL-terminated names.
                let raw =
                    unsafe { JS_HzBuiltin(ctx.as_raw().as_ptr(), holder_c.as_ptr(), key_c.as_ptr(), kind == "g") };
                // SAFETY: a new value of this context, whose reference we own.
                let got = unsafe { Value::from_raw(ctx.clone(), raw) };
                if want.is_undefined() {
                    assert!(got.is_undefined(), "{name}: QuickJS has no {read}, yet a builtin was made");
                    continue;
                }
                let f = got.as_function().unwrap_or_else(|| panic!("{name}: no function made for {read}"));
                let want = want.as_array().expect("name and length");
                let want: (String, i32) = (want.get(0).unwrap(), want.get(1).unwrap());
                let got: (String, i32) = (f.get("name").unwrap(), f.get("length").unwrap());
                assert_eq!(got, want, "{name}");
                made += 1;
            }
            // QuickJS lacks only Atomics.waitAsync.
            assert_eq!(made, hz_core::prelude_builtins().len() - 1);
            // A made builtin works on the context's objects.
            let set = CString::new("set").unwrap();
            let holder = CString::new("Map.prototype").unwrap();
            // SAFETY: as above.
            let raw = unsafe { JS_HzBuiltin(ctx.as_raw().as_ptr(), holder.as_ptr(), set.as_ptr(), false) };
            // SAFETY: as above.
            let map_set = unsafe { Value::from_raw(ctx.clone(), raw) };
            ctx.globals().set("mapSet", map_set).unwrap();
            let n: i32 = ctx.eval("const m = new Map(); mapSet.call(m, 'a', 7); m.get('a')").unwrap();
            assert_eq!(n, 7);
        });
    }
}
