//! The `ops` object the shared prelude (hz_core::PRELUDE) is built on.
//!
//! Natives are plain functions; what they need (the agent's [`Host`], the
//! prelude's internals) lives in the context's data as [`State`].

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use boa_engine::builtins::array_buffer::SharedArrayBuffer;
use boa_engine::error::RuntimeLimitError;
use boa_engine::object::builtins::{JsArray, JsFunction};
use boa_engine::property::PropertyKey;
use boa_engine::{
    Context, Finalize, JsData, JsError, JsNativeError, JsNativeErrorKind, JsObject, JsResult, JsString, JsValue,
    NativeFunction, Trace, js_string,
};
use hz_clone::Payload;
use hz_core::{AgentSpec, Completion, Host, OpStart, PayloadChan, Source, wait_timeout};

use crate::clone::{self, Helpers};

/// The prelude's functions the backend calls.
pub(crate) struct Internals {
    pub(crate) dispatch: JsFunction,
    pub(crate) start: JsFunction,
    pub(crate) set_args: JsFunction,
    pub(crate) make_error: JsFunction,
    pub(crate) helpers: Helpers,
}

/// Per-agent state, in the context's data.
pub(crate) struct State {
    host: Host,
    internals: Option<Internals>,
    channel_proto: JsObject,
}

fn state(ctx: &Context) -> &State {
    ctx.get_data::<State>().expect("hz agent state is installed at creation")
}

pub(crate) fn host(ctx: &Context) -> Host {
    state(ctx).host.clone()
}

/// Reads the prelude's internals.
pub(crate) fn internals<R>(ctx: &Context, f: impl FnOnce(&Internals) -> R) -> R {
    f(state(ctx).internals.as_ref().expect("the prelude ran at creation"))
}

/// `new <name>(message)` made by the prelude (DataCloneError included), as
/// an error to throw.
pub(crate) fn error(ctx: &mut Context, name: &str, message: &str) -> JsError {
    let make_error = internals(ctx, |i| i.make_error.clone());
    let args = [JsString::from(name).into(), JsString::from(message).into()];
    match make_error.call(&JsValue::undefined(), &args, ctx) {
        Ok(e) => JsError::from_opaque(e),
        Err(e) => e,
    }
}

fn type_error(message: impl Into<String>) -> JsError {
    JsNativeError::typ().with_message(message.into()).into()
}

/// A Boa SyntaxError from parsing the script `name`, with `at name:line:col`
/// in its stack, as other engines report one.
pub(crate) fn locate(ctx: &mut Context, e: JsError, name: &str) -> JsError {
    let Some(message) =
        e.as_native().filter(|n| matches!(n.kind(), JsNativeErrorKind::Syntax)).map(|n| n.message().to_owned())
    else {
        return e;
    };
    // boa_parser ends its messages with "at line L, col C".
    let location = message.rsplit_once(" at line ").and_then(|(_, at)| {
        let (line, col) = at.split_once(", col ")?;
        Some((line.trim().parse::<u32>().ok()?, col.trim().parse::<u32>().ok()?))
    });
    let Some((line, col)) = location else { return e };
    let Ok(value) = e.into_opaque(ctx) else {
        return JsNativeError::syntax().with_message(message).into();
    };
    if let Some(o) = value.as_object() {
        let stack = format!("SyntaxError: {message}\n    at {name}:{line}:{col}");
        let _ = o.create_data_property_or_throw(js_string!("stack"), JsString::from(stack.as_str()), ctx);
    }
    JsError::from_opaque(value)
}

/// A channel object's internal data: one reference to the channel.
#[derive(Trace, Finalize, JsData)]
pub(crate) struct ChannelData {
    #[unsafe_ignore_trace]
    chan: Arc<PayloadChan>,
}

/// A new JS channel object over `chan`.
pub(crate) fn channel_object(ctx: &Context, chan: Arc<PayloadChan>) -> JsObject {
    let proto = state(ctx).channel_proto.clone();
    JsObject::from_proto_and_data(Some(proto), ChannelData { chan })
}

/// The channel behind a JS channel object, or `None`.
pub(crate) fn channel_of(v: &JsValue) -> Option<Arc<PayloadChan>> {
    Some(v.as_object()?.downcast_ref::<ChannelData>()?.chan.clone())
}

fn chan(v: &JsValue) -> JsResult<Arc<PayloadChan>> {
    channel_of(v).ok_or_else(|| type_error("not a channel"))
}

fn arg(args: &[JsValue], i: usize) -> JsValue {
    args.get(i).cloned().unwrap_or_default()
}

fn number(v: &JsValue) -> f64 {
    v.as_number().unwrap_or(f64::NAN)
}

fn string_arg(v: &JsValue) -> Option<String> {
    v.as_string().map(|s| s.to_std_string_escaped())
}

/// The elements of a JS array.
pub(crate) fn elements(ctx: &mut Context, v: &JsValue) -> JsResult<Vec<JsValue>> {
    let a = v
        .as_object()
        .and_then(|o| JsArray::from_object(o.clone()).ok())
        .ok_or_else(|| type_error("expected an array"))?;
    let n = a.length(ctx)?;
    (0..n).map(|i| a.get(i, ctx)).collect()
}

fn array(ctx: &mut Context, items: impl IntoIterator<Item = JsValue>) -> JsValue {
    JsArray::from_iter(items, ctx).into()
}

fn serialize(ctx: &mut Context, v: &JsValue) -> JsResult<Payload> {
    serialize_moving(ctx, v, &JsValue::undefined())
}

/// Serializes `v`, moving the ArrayBuffers of `transfer` (an array, or
/// undefined/null for none).
fn serialize_moving(ctx: &mut Context, v: &JsValue, transfer: &JsValue) -> JsResult<Payload> {
    let list = if transfer.is_null_or_undefined() {
        Vec::new()
    } else {
        if !transfer.as_object().is_some_and(|o| o.is_array()) {
            return Err(type_error("transfer must be an array"));
        }
        elements(ctx, transfer)?
    };
    clone::to_payload(ctx, v, &list).map_err(|e| clone::raise(ctx, e))
}

/// An op's JS-visible start: a pending op id, or `[status, value, index]`.
fn op_result(ctx: &mut Context, start: OpStart) -> JsResult<JsValue> {
    match start {
        OpStart::Pending(id) => Ok((id as f64).into()),
        OpStart::Done(c) => completion(ctx, &c),
    }
}

fn completion(ctx: &mut Context, c: &Completion) -> JsResult<JsValue> {
    let value = match &c.value {
        Some(p) => clone::from_payload(ctx, p)?,
        None => JsValue::undefined(),
    };
    Ok(array(ctx, [(c.status as i32).into(), value, c.index.into()]))
}

type Result = JsResult<JsValue>;

fn op_channel(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> Result {
    let cap = number(&arg(args, 0));
    let chan = host(ctx).channel(if cap.is_finite() && cap > 0.0 { cap as usize } else { 0 });
    Ok(channel_object(ctx, chan).into())
}

fn op_send(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> Result {
    let ch = chan(&arg(args, 0))?;
    let p = serialize_moving(ctx, &arg(args, 1), &arg(args, 2))?;
    let start = host(ctx).send(&ch, p);
    op_result(ctx, start)
}

fn op_recv(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> Result {
    let ch = chan(&arg(args, 0))?;
    let start = host(ctx).recv(&ch);
    op_result(ctx, start)
}

fn op_try_send(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> Result {
    let ch = chan(&arg(args, 0))?;
    let p = serialize(ctx, &arg(args, 1))?;
    match host(ctx).try_send(&ch, p) {
        Ok(sent) => Ok(sent.into()),
        Err(_) => Err(error(ctx, "Error", "send on a closed channel")),
    }
}

fn op_try_recv(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> Result {
    let ch = chan(&arg(args, 0))?;
    match host(ctx).try_recv(&ch) {
        Some(c) => completion(ctx, &c),
        None => Ok(JsValue::undefined()),
    }
}

fn op_close(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> Result {
    let ch = chan(&arg(args, 0))?;
    if ch.close().is_err() {
        return Err(error(ctx, "Error", "close of a closed channel"));
    }
    Ok(JsValue::undefined())
}

fn op_close_on_end(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> Result {
    let ch = chan(&arg(args, 0))?;
    host(ctx).close_on_end(&ch, arg(args, 1).to_boolean());
    Ok(JsValue::undefined())
}

fn op_info(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> Result {
    let ch = chan(&arg(args, 0))?;
    let items = [(ch.capacity() as f64).into(), (ch.len() as f64).into(), ch.is_closed().into()];
    Ok(array(ctx, items))
}

fn op_select(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> Result {
    let list = arg(args, 0);
    if !list.as_object().is_some_and(|o| o.is_array()) {
        return Err(type_error("select: expected a list of cases"));
    }
    let has_default = arg(args, 1).to_boolean();
    let timeout = number(&arg(args, 2));
    let mut cases = Vec::new();
    for c in elements(ctx, &list)? {
        let c = elements(ctx, &c).map_err(|_| type_error("select: bad case"))?;
        let ch = chan(c.first().unwrap_or(&JsValue::undefined()))?;
        let value = if c.get(1).is_some_and(JsValue::to_boolean) {
            Some(serialize(ctx, c.get(2).unwrap_or(&JsValue::undefined()))?)
        } else {
            None
        };
        cases.push((ch, value));
    }
    let timeout = (timeout >= 0.0).then(|| Duration::from_secs_f64(timeout.min(1e9) / 1000.0));
    let start = host(ctx).select(cases, has_default, timeout);
    op_result(ctx, start)
}

/// The file of the innermost script or module on the stack that has one
/// (not the prelude or one of its units, `hz:...`), for `hz.spawn({ module })`.
pub(crate) fn calling_file(ctx: &Context) -> Option<String> {
    ctx.stack_trace().find_map(|frame| match frame.position().path {
        boa_engine::vm::SourcePath::Path(p) if !hz_core::is_own_script(&p.to_string_lossy()) => {
            Some(p.to_string_lossy().into_owned())
        }
        _ => None,
    })
}

fn op_spawn(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> Result {
    let kind = number(&arg(args, 0)) as i32;
    let code = arg(args, 1).to_string(ctx)?.to_std_string_escaped();
    let name = string_arg(&arg(args, 2));
    let engine = string_arg(&arg(args, 3));
    let can_block = arg(args, 5);
    let can_block = can_block.is_undefined() || can_block.to_boolean();
    let source = match kind {
        0 => Source::Function { code },
        2 => {
            let caller = calling_file(ctx);
            match hz_core::modules::resolve_spawn(caller.as_deref(), &code) {
                Ok(path) => Source::Module { path },
                Err(m) => return Err(error(ctx, "TypeError", &m)),
            }
        }
        _ => Source::Script { name: name.clone().unwrap_or_else(|| "<spawn>".into()), code },
    };
    let mut spec = AgentSpec::new(source).can_block(can_block);
    spec.args = serialize(ctx, &arg(args, 4))?;
    spec.name = name;
    let options = arg(args, 6);
    if !options.is_undefined() {
        spec.options_from_payload(&serialize(ctx, &options)?).map_err(|e| error(ctx, "TypeError", &e.to_string()))?;
    }
    match host(ctx).spawn(engine.as_deref(), spec) {
        Ok(id) => Ok((id as f64).into()),
        Err(e) => Err(error(ctx, "TypeError", &e.to_string())),
    }
}

fn op_join(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> Result {
    let id = number(&arg(args, 0));
    let start = host(ctx).join(id as u64);
    op_result(ctx, start)
}

fn op_call_host(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> Result {
    let name = arg(args, 0).to_string(ctx)?.to_std_string_escaped();
    let p = serialize(ctx, &arg(args, 1))?;
    let start = host(ctx).call_host(&name, &p);
    op_result(ctx, start)
}

/// A prelude unit evaluated as a script of its own (`hz:NAME` in stack
/// traces), not through `eval`: Boa runs code from `eval` with its
/// bindings looked up by name, which made Atomics.notify through the unit
/// ten times slower.
fn op_load(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> Result {
    let name = arg(args, 0).to_string(ctx)?.to_std_string_escaped();
    let source = hz_core::unit(&name).ok_or_else(|| type_error(format!("no prelude unit {name}")))?;
    let path = hz_core::script_name(&name);
    ctx.eval(boa_engine::Source::from_bytes(source).with_path(std::path::Path::new(&path)))
}

fn op_terminate(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> Result {
    let id = number(&arg(args, 0));
    Ok(host(ctx).terminate(id as u64).into())
}

fn op_timer(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> Result {
    let ms = number(&arg(args, 0));
    let ms = if ms.is_nan() { 0.0 } else { ms.clamp(0.0, 1e10) };
    let id = host(ctx).timer(Duration::from_secs_f64(ms / 1000.0));
    Ok((id as f64).into())
}

fn op_cancel(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> Result {
    let op = number(&arg(args, 0));
    Ok(host(ctx).cancel_op(op as u64).into())
}

fn op_settle(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> Result {
    let ok = arg(args, 0).to_boolean();
    let p = serialize(ctx, &arg(args, 1))?;
    host(ctx).settle(if ok { Ok(p) } else { Err(p) });
    Ok(JsValue::undefined())
}

fn op_clone(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> Result {
    let p = serialize_moving(ctx, &arg(args, 0), &arg(args, 1))?;
    clone::from_payload(ctx, &p)
}

fn op_print(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> Result {
    let stream = number(&arg(args, 0));
    let mut parts = Vec::with_capacity(args.len().saturating_sub(1));
    for a in args.iter().skip(1) {
        parts.push(a.to_string(ctx)?.to_std_string_lossy());
    }
    let line = parts.join(" ");
    // A closed stdout (`hz run x.js | head`) must not kill the agent.
    if stream == 2.0 {
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    } else {
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    }
    Ok(JsValue::undefined())
}

/// The hz memory under a SharedArrayBuffer value (every Boa SAB is hz
/// memory), a new reference.
pub(crate) fn shared_memory(v: &JsValue) -> Option<hz_atomics::SharedMemory> {
    let o = v.as_object()?;
    let sab = o.downcast_ref::<SharedArrayBuffer>()?;
    crate::memory::memory_of(&sab)
}

/// What an `Atomics.wait`/`waitAsync` waits on: the memory, the byte
/// offset, whether 64-bit, and the expected value (the prelude has coerced
/// it already).
fn wait_target(args: &[JsValue]) -> JsResult<(hz_atomics::SharedMemory, usize, bool, i64)> {
    let memory = shared_memory(&arg(args, 0)).ok_or_else(|| type_error("expected a SharedArrayBuffer"))?;
    let at = number(&arg(args, 1)) as usize;
    let big = arg(args, 2).to_boolean();
    let value = arg(args, 3);
    let expected = if big {
        let b = value.as_bigint().ok_or_else(|| type_error("expected a BigInt"))?;
        b.to_i128() as i64
    } else {
        number(&value) as i32 as i64
    };
    Ok((memory, at, big, expected))
}

/// The uncatchable end of a turn whose agent is being terminated.
fn interrupted() -> JsError {
    RuntimeLimitError::Interrupted.into()
}

fn op_wait(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> Result {
    let (memory, at, big, expected) = wait_target(args)?;
    let timeout = wait_timeout(number(&arg(args, 4)));
    let still_expected = || memory.load(at, big) == Some(expected);
    match host(ctx).wait(&memory, at, still_expected, timeout) {
        Ok(r) => match r.as_js_str() {
            Some(text) => Ok(JsString::from(text).into()),
            // Terminated while waiting: end the turn, uncatchably.
            None => Err(interrupted()),
        },
        Err(_) => Err(error(ctx, "TypeError", "Atomics.wait cannot block in this agent")),
    }
}

fn op_wait_async(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> Result {
    let (memory, at, big, expected) = wait_target(args)?;
    let timeout = wait_timeout(number(&arg(args, 4)));
    let still_expected = || memory.load(at, big) == Some(expected);
    match host(ctx).wait_async(&memory, at, still_expected, timeout) {
        OpStart::Pending(op) => Ok((op as f64).into()),
        OpStart::Done(c) => Ok(JsString::from(c.text().unwrap_or_default().as_str()).into()),
    }
}

fn op_notify(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> Result {
    let memory = shared_memory(&arg(args, 0)).ok_or_else(|| type_error("expected a SharedArrayBuffer"))?;
    let at = number(&arg(args, 1)) as usize;
    let count = number(&arg(args, 2));
    let count = if count >= usize::MAX as f64 { usize::MAX } else { count.max(0.0) as usize };
    let n = host(ctx).notify(&memory, at, count);
    Ok((n as f64).into())
}

fn op_thread_id(_: &JsValue, _args: &[JsValue], ctx: &mut Context) -> Result {
    Ok(host(ctx).worker_index().map_or(-1.0, |i| i as f64).into())
}

fn op_now(_: &JsValue, _args: &[JsValue], ctx: &mut Context) -> Result {
    Ok(host(ctx).now_ms().into())
}

fn op_gc(_: &JsValue, _args: &[JsValue], _ctx: &mut Context) -> Result {
    boa_gc::force_collect();
    Ok(JsValue::undefined())
}

fn op_new_realm(_: &JsValue, _args: &[JsValue], ctx: &mut Context) -> Result {
    let realm = ctx.create_realm()?;
    let old = ctx.enter_realm(realm);
    let global = ctx.global_object();
    ctx.enter_realm(old);
    Ok(global.into())
}

fn set(ctx: &mut Context, o: &JsObject, name: &str, v: impl Into<JsValue>) -> JsResult<()> {
    o.set(JsString::from(name), v, true, ctx).map(drop)
}

fn get(ctx: &mut Context, o: &JsObject, name: &str) -> JsResult<JsValue> {
    o.get(PropertyKey::from(JsString::from(name)), ctx)
}

/// The function at `o[name]`.
pub(crate) fn get_function(ctx: &mut Context, o: &JsObject, name: &str) -> std::result::Result<JsFunction, String> {
    let v = get(ctx, o, name).map_err(|e| format!("{name}: {e}"))?;
    v.as_object().and_then(|f| JsFunction::from_object(f.clone())).ok_or_else(|| format!("{name} is not a function"))
}

/// Builds `ops`, runs the prelude with it and stores the internals.
pub(crate) fn install(ctx: &mut Context, host: Host) -> std::result::Result<(), String> {
    let channel_proto = JsObject::with_object_proto(ctx.intrinsics());
    let threads = host.threads();
    let epoch = host.epoch_ms();
    ctx.insert_data(State { host, internals: None, channel_proto: channel_proto.clone() });

    let ops = JsObject::with_object_proto(ctx.intrinsics());
    let fail = |e: JsError| e.to_string();
    set(ctx, &ops, "channelPrototype", channel_proto).map_err(fail)?;
    set(ctx, &ops, "engine", js_string!("boa")).map_err(fail)?;
    set(ctx, &ops, "threads", threads as f64).map_err(fail)?;
    set(ctx, &ops, "epoch", epoch).map_err(fail)?;
    type Native = fn(&JsValue, &[JsValue], &mut Context) -> Result;
    let natives: [(&str, Native); 26] = [
        ("channel", op_channel),
        ("send", op_send),
        ("recv", op_recv),
        ("trySend", op_try_send),
        ("tryRecv", op_try_recv),
        ("close", op_close),
        ("closeOnEnd", op_close_on_end),
        ("info", op_info),
        ("select", op_select),
        ("spawn", op_spawn),
        ("join", op_join),
        ("callHost", op_call_host),
        ("load", op_load),
        ("terminate", op_terminate),
        ("timer", op_timer),
        ("cancel", op_cancel),
        ("settle", op_settle),
        ("clone", op_clone),
        ("print", op_print),
        ("wait", op_wait),
        ("waitAsync", op_wait_async),
        ("notify", op_notify),
        ("threadId", op_thread_id),
        ("now", op_now),
        ("gc", op_gc),
        ("newRealm", op_new_realm),
    ];
    for (name, f) in natives {
        let f = NativeFunction::from_fn_ptr(f).to_js_function(ctx.realm());
        set(ctx, &ops, name, f).map_err(fail)?;
    }

    // The prelude is a function expression: (function (ops, global) {...}).
    let source =
        boa_engine::Source::from_bytes(hz_core::PRELUDE).with_path(std::path::Path::new(hz_core::PRELUDE_SCRIPT));
    let prelude = ctx.eval(source).map_err(|e| format!("the prelude did not compile: {e}"))?;
    let prelude =
        prelude.as_object().and_then(|f| JsFunction::from_object(f.clone())).ok_or("the prelude is not a function")?;
    let global = ctx.global_object();
    let internals = prelude
        .call(&JsValue::undefined(), &[ops.into(), global.into()], ctx)
        .map_err(|e| format!("the prelude failed: {e}"))?;
    let internals = internals.as_object().ok_or("the prelude returned no internals")?.clone();
    let dispatch = get_function(ctx, &internals, "dispatch")?;
    let start = get_function(ctx, &internals, "start")?;
    let set_args = get_function(ctx, &internals, "setArgs")?;
    let make_error = get_function(ctx, &internals, "makeError")?;
    let helpers = get(ctx, &internals, "clone").map_err(fail)?;
    let helpers = Helpers::new(ctx, &helpers.as_object().ok_or("internals.clone")?)?;
    let internals = Internals { dispatch, start, set_args, make_error, helpers };
    if let Some(s) = ctx.host_defined_mut().get_mut::<State>() {
        s.internals = Some(internals);
    }
    Ok(())
}
