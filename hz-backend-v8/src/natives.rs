//! The `ops` object the shared prelude (hz_core::PRELUDE) is built on.
//!
//! V8 callbacks are plain functions; what they need (the agent's [`Host`],
//! the prelude's internals) lives in the isolate's slot as [`State`].

use std::io::Write;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use hz_clone::Payload;
use hz_core::{AgentSpec, Completion, Host, OpStart, PayloadChan, Source, wait_timeout};

use crate::clone::{self, Helpers};

/// The prelude's functions the backend calls.
pub(crate) struct Internals {
    pub(crate) dispatch: v8::Global<v8::Function>,
    pub(crate) start: v8::Global<v8::Function>,
    pub(crate) set_args: v8::Global<v8::Function>,
    pub(crate) make_error: v8::Global<v8::Function>,
    /// `Object.keys`, as the prelude found it (before user code ran).
    pub(crate) object_keys: v8::Global<v8::Function>,
    pub(crate) helpers: Helpers,
}

/// Per-agent state, in the isolate's slot.
pub(crate) struct State {
    host: Host,
    /// The prelude's `ops.resultMeta`: two i32s that send and recv write
    /// their result's status and index into (see [`result_meta`]).
    meta: ResultMeta,
    internals: Option<Internals>,
    /// Promises rejected with no handler yet, with their reasons.
    rejections: Vec<(v8::Global<v8::Promise>, v8::Global<v8::Value>)>,
    channel_proto: v8::Global<v8::Object>,
    /// Makes channel objects (see [`CHANNEL_FIELDS`]).
    channel_template: v8::Global<v8::ObjectTemplate>,
}

/// A channel object's internal fields: 0 its carrier (an ArrayBuffer whose
/// backing store owns a `Box<Arc<PayloadChan>>`), 1 an aligned pointer to
/// [`CHANNEL_BRAND`], 2 an aligned pointer to that box. No other object
/// has three: V8 gives its own objects two at most (array buffers and
/// views), and the channel template is the only template hz makes.
const CHANNEL_FIELDS: usize = 3;

/// What field 1 of a channel object points to.
static CHANNEL_BRAND: u64 = 0;

/// The embedder-data tag of a channel object's pointer fields: V8's
/// default (it checks a tag's range; the brand tells channels apart).
const CHANNEL_TAG: u16 = 0;

/// The isolate data slot holding the address of the agent's [`State`]:
/// natives read it on every call, where a lookup in the isolate's slot
/// map costs a hash.
const STATE_SLOT: u32 = 0;

/// Owns the agent's [`State`], from the isolate's slot map, so the state
/// goes with the isolate on every path (`clear` takes it out first). Only
/// [`state`] and [`state_mut`] reach the state, through [`STATE_SLOT`].
struct StateOwner(std::ptr::NonNull<State>);

impl Drop for StateOwner {
    fn drop(&mut self) {
        // SAFETY: the pointer came from `Box::into_raw` in `set_state`, and
        // this owner, the only one, is dropped once.
        drop(unsafe { Box::from_raw(self.0.as_ptr()) });
    }
}

/// Installs `state` as the agent's.
fn set_state(isolate: &mut v8::Isolate, state: State) {
    let at = std::ptr::NonNull::from(Box::leak(Box::new(state)));
    isolate.set_data(STATE_SLOT, at.as_ptr().cast());
    isolate.set_slot(StateOwner(at));
}

fn state(isolate: &v8::Isolate) -> &State {
    let at = isolate.get_data(STATE_SLOT).cast::<State>();
    // SAFETY: the slot holds null or the address of the live state its
    // `StateOwner` owns (`clear` nulls it before dropping the owner). The
    // state is borrowed only through this function and `state_mut`, each
    // for as long as it borrows the isolate (shared here, unique there),
    // so no unique borrow of the state lives beside this one.
    unsafe { at.as_ref() }.expect("hz agent state is installed at creation")
}

fn state_mut(isolate: &mut v8::Isolate) -> Option<&mut State> {
    let at = isolate.get_data(STATE_SLOT).cast::<State>();
    // SAFETY: as in `state`; the isolate is borrowed uniquely for as long
    // as the result lives.
    unsafe { at.as_mut() }
}

/// The agent's host (borrowed: a clone per op would touch its reference
/// count twice).
pub(crate) fn host(isolate: &v8::Isolate) -> &Host {
    &state(isolate).host
}

/// Reads the prelude's internals.
pub(crate) fn internals<R>(isolate: &v8::Isolate, f: impl FnOnce(&Internals) -> R) -> R {
    f(state(isolate).internals.as_ref().expect("the prelude ran at creation"))
}

/// Drops every handle the state holds (before the isolate goes).
pub(crate) fn clear(isolate: &mut v8::Isolate) {
    crate::modules::clear(isolate);
    isolate.set_data(STATE_SLOT, std::ptr::null_mut());
    drop(isolate.remove_slot::<StateOwner>());
}

/// The promise rejection callback (HTML "unhandled rejections").
pub(crate) extern "C" fn track_rejection(msg: v8::PromiseRejectMessage) {
    v8::callback_scope!(unsafe scope, &msg);
    let promise = msg.get_promise();
    match msg.get_event() {
        v8::PromiseRejectEvent::PromiseRejectWithNoHandler => {
            let reason = msg.get_value().unwrap_or_else(|| v8::undefined(scope).into());
            let entry = (v8::Global::new(scope, promise), v8::Global::new(scope, reason));
            if let Some(s) = state_mut(scope) {
                s.rejections.push(entry);
            }
        }
        v8::PromiseRejectEvent::PromiseHandlerAddedAfterReject => {
            let promise = v8::Global::new(scope, promise);
            if let Some(s) = state_mut(scope) {
                s.rejections.retain(|(p, _)| *p != promise);
            }
        }
        _ => {}
    }
}

/// The reasons of promises still rejected with no handler.
pub(crate) fn take_rejections(isolate: &mut v8::Isolate) -> Vec<v8::Global<v8::Value>> {
    match state_mut(isolate) {
        Some(s) => std::mem::take(&mut s.rejections).into_iter().map(|(_, r)| r).collect(),
        None => Vec::new(),
    }
}

/// Throws `new <name>(message)` made by the prelude (DataCloneError included).
pub(crate) fn throw_error(scope: &mut v8::PinScope<'_, '_>, name: &str, message: &str) {
    let make_error = internals(scope, |i| i.make_error.clone());
    let make_error = v8::Local::new(scope, make_error);
    let (Some(n), Some(m)) = (v8::String::new(scope, name), v8::String::new(scope, message)) else { return };
    let undefined = v8::undefined(scope).into();
    if let Some(e) = make_error.call(scope, undefined, &[n.into(), m.into()]) {
        scope.throw_exception(e);
    }
}

fn throw_type(scope: &mut v8::PinScope<'_, '_>, message: &str) {
    if let Some(m) = v8::String::new(scope, message) {
        let e = v8::Exception::type_error(scope, m);
        scope.throw_exception(e);
    }
}

/// A new JS channel object over `chan`.
pub(crate) fn channel_object<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    chan: Arc<PayloadChan>,
) -> Option<v8::Local<'s, v8::Object>> {
    let proto = v8::Local::new(scope, &state(scope).channel_proto);
    let template = v8::Local::new(scope, &state(scope).channel_template);
    let obj = template.new_instance(scope)?;
    obj.set_prototype(scope, proto.into())?;
    // The carrier: an ArrayBuffer whose backing store owns one reference to
    // the channel and drops it when V8 collects the buffer (V8 has no weak
    // handles on shared isolates, but it does free backing stores).
    let boxed = Box::into_raw(Box::new(chan));
    // SAFETY: `boxed` points at a live Box<Arc<PayloadChan>> of that many
    // bytes; V8 never reads it (the buffer is private) and calls
    // `drop_channel` exactly once when the backing store dies.
    let store = unsafe {
        v8::ArrayBuffer::new_backing_store_from_ptr(
            boxed.cast(),
            std::mem::size_of::<Arc<PayloadChan>>(),
            drop_channel,
            std::ptr::null_mut(),
        )
    };
    let carrier = v8::ArrayBuffer::with_backing_store(scope, &store.make_shared());
    obj.set_internal_field(0, carrier.into());
    obj.set_aligned_pointer_in_internal_field(1, std::ptr::from_ref(&CHANNEL_BRAND).cast(), CHANNEL_TAG);
    obj.set_aligned_pointer_in_internal_field(2, boxed.cast_const().cast(), CHANNEL_TAG);
    Some(obj)
}

/// # Safety
/// Called by V8 once, when a channel carrier's backing store dies.
unsafe extern "C" fn drop_channel(data: *mut std::ffi::c_void, _len: usize, _: *mut std::ffi::c_void) {
    // SAFETY: `data` is the Box<Arc<PayloadChan>> made in channel_object.
    drop(unsafe { Box::from_raw(data.cast::<Arc<PayloadChan>>()) });
}

/// The channel behind a JS channel object, or `None`.
pub(crate) fn channel_of(v: v8::Local<'_, v8::Value>) -> Option<Arc<PayloadChan>> {
    let obj = v8::Local::<v8::Object>::try_from(v).ok()?;
    // Pointers in internal fields, not a private property or a handle:
    // reading one is a load (a property lookup took the generic path on
    // every channel op, and reading the carrier made handles and asked its
    // backing store).
    if obj.internal_field_count() != CHANNEL_FIELDS {
        return None;
    }
    // SAFETY: only channel objects have CHANNEL_FIELDS internal fields (see
    // there), and channel_object sets fields 1 and 2 as aligned pointers
    // with CHANNEL_TAG before any JS sees the object.
    let brand = unsafe { obj.get_aligned_pointer_from_internal_field(1, CHANNEL_TAG) };
    if !std::ptr::eq(brand.cast::<u64>(), &CHANNEL_BRAND) {
        return None;
    }
    // SAFETY: as above; field 2 points at the Box<Arc<PayloadChan>> that the
    // carrier in field 0 owns, which `obj` keeps alive.
    let chan = unsafe { obj.get_aligned_pointer_from_internal_field(2, CHANNEL_TAG) };
    // SAFETY: a live, aligned Box<Arc<PayloadChan>> (above).
    Some(unsafe { &*chan.cast::<Arc<PayloadChan>>() }.clone())
}

fn chan(scope: &mut v8::PinScope<'_, '_>, v: v8::Local<'_, v8::Value>) -> Option<Arc<PayloadChan>> {
    let c = channel_of(v);
    if c.is_none() {
        throw_type(scope, "not a channel");
    }
    c
}

fn serialize<'s>(scope: &mut v8::PinScope<'s, '_>, v: v8::Local<'s, v8::Value>) -> Option<Payload> {
    serialize_moving(scope, v, None)
}

/// Serializes `v`, moving the ArrayBuffers of `transfer` (an array, or
/// undefined/null for none). Throws and returns `None` on failure.
fn serialize_moving<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    v: v8::Local<'s, v8::Value>,
    transfer: Option<v8::Local<'s, v8::Value>>,
) -> Option<Payload> {
    let mut list = Vec::new();
    if let Some(t) = transfer.filter(|t| !t.is_null_or_undefined()) {
        let Ok(a) = v8::Local::<v8::Array>::try_from(t) else {
            throw_type(scope, "transfer must be an array");
            return None;
        };
        for i in 0..a.length() {
            list.push(a.get_index(scope, i)?);
        }
    }
    match clone::to_payload(scope, v, &list) {
        Ok(p) => Some(p),
        Err(e) => {
            clone::raise(scope, e);
            None
        }
    }
}

/// The bytes of `ops.resultMeta` (an `Int32Array(2)`), kept alive by the
/// buffer's handle.
struct ResultMeta {
    at: std::ptr::NonNull<i32>,
    _buffer: v8::Global<v8::ArrayBuffer>,
}

impl ResultMeta {
    fn new<'s>(scope: &mut v8::PinScope<'s, '_>) -> Option<(ResultMeta, v8::Local<'s, v8::Int32Array>)> {
        let buffer = v8::ArrayBuffer::new(scope, 8);
        let view = v8::Int32Array::new(scope, buffer, 0, 2)?;
        let at = buffer.data()?.cast::<i32>();
        Some((ResultMeta { at, _buffer: v8::Global::new(scope, buffer) }, view))
    }

    fn write(&self, status: i32, index: i32) {
        // SAFETY: `at` is the 8-byte, 4-aligned backing store of a buffer
        // this struct keeps alive; no JS can detach or resize it (only the
        // prelude holds its view), and JS reads it only on this thread,
        // after the native that writes it returns.
        unsafe {
            self.at.as_ptr().write(status);
            self.at.as_ptr().add(1).write(index);
        }
    }
}

/// An op's result for the prelude's `op` through `ops.resultMeta`: the op
/// id (pending) or the value, with the status and index in the meta (no
/// array made, as [`op_result`] makes).
fn result_meta<'s>(scope: &mut v8::PinScope<'s, '_>, start: OpStart) -> Option<v8::Local<'s, v8::Value>> {
    match start {
        OpStart::Pending(id) => {
            state(scope).meta.write(-1, 0);
            Some(v8::Number::new(scope, id as f64).into())
        }
        OpStart::Done(c) => {
            let value = completion_value(scope, &c)?;
            state(scope).meta.write(c.status as i32, c.index);
            Some(value)
        }
    }
}

/// An op's JS-visible start: a pending op id, or `[status, value, index]`.
fn op_result<'s>(scope: &mut v8::PinScope<'s, '_>, start: OpStart) -> Option<v8::Local<'s, v8::Value>> {
    match start {
        OpStart::Pending(id) => Some(v8::Number::new(scope, id as f64).into()),
        OpStart::Done(c) => completion(scope, &c),
    }
}

/// A completed op's value (undefined if it has none); `None` if it cannot
/// be read (an exception is pending).
fn completion_value<'s>(scope: &mut v8::PinScope<'s, '_>, c: &Completion) -> Option<v8::Local<'s, v8::Value>> {
    match &c.value {
        Some(p) => clone::from_payload(scope, p),
        None => Some(v8::undefined(scope).into()),
    }
}

fn completion<'s>(scope: &mut v8::PinScope<'s, '_>, c: &Completion) -> Option<v8::Local<'s, v8::Value>> {
    let value = completion_value(scope, c)?;
    let items = [v8::Integer::new(scope, c.status as i32).into(), value, v8::Integer::new(scope, c.index).into()];
    Some(v8::Array::new_with_elements(scope, &items).into())
}

fn number(scope: &mut v8::PinScope<'_, '_>, v: v8::Local<'_, v8::Value>) -> f64 {
    v.number_value(scope).unwrap_or(f64::NAN)
}

fn string_arg(scope: &mut v8::PinScope<'_, '_>, v: v8::Local<'_, v8::Value>) -> Option<String> {
    v.is_string().then(|| v.to_rust_string_lossy(scope))
}

type Args<'s> = v8::FunctionCallbackArguments<'s>;
type Ret<'s> = v8::ReturnValue<'s, v8::Value>;

fn op_channel<'s>(scope: &mut v8::PinScope<'s, '_>, args: Args<'s>, mut rv: Ret<'s>) {
    let cap = number(scope, args.get(0));
    let chan = host(scope).channel(if cap.is_finite() && cap > 0.0 { cap as usize } else { 0 });
    if let Some(o) = channel_object(scope, chan) {
        rv.set(o.into());
    }
}

fn op_send<'s>(scope: &mut v8::PinScope<'s, '_>, args: Args<'s>, mut rv: Ret<'s>) {
    let Some(ch) = chan(scope, args.get(0)) else { return };
    let Some(p) = serialize_moving(scope, args.get(1), Some(args.get(2))) else { return };
    let start = host(scope).send(&ch, p);
    if let Some(r) = result_meta(scope, start) {
        rv.set(r);
    }
}

fn op_recv<'s>(scope: &mut v8::PinScope<'s, '_>, args: Args<'s>, mut rv: Ret<'s>) {
    let Some(ch) = chan(scope, args.get(0)) else { return };
    let start = host(scope).recv(&ch);
    if let Some(r) = result_meta(scope, start) {
        rv.set(r);
    }
}

fn op_try_send<'s>(scope: &mut v8::PinScope<'s, '_>, args: Args<'s>, mut rv: Ret<'s>) {
    let Some(ch) = chan(scope, args.get(0)) else { return };
    let Some(p) = serialize(scope, args.get(1)) else { return };
    match host(scope).try_send(&ch, p) {
        Ok(sent) => rv.set_bool(sent),
        Err(_) => throw_error(scope, "Error", "send on a closed channel"),
    }
}

fn op_try_recv<'s>(scope: &mut v8::PinScope<'s, '_>, args: Args<'s>, mut rv: Ret<'s>) {
    let Some(ch) = chan(scope, args.get(0)) else { return };
    if let Some(c) = host(scope).try_recv(&ch)
        && let Some(r) = completion(scope, &c)
    {
        rv.set(r);
    }
}

fn op_close<'s>(scope: &mut v8::PinScope<'s, '_>, args: Args<'s>, _rv: Ret<'s>) {
    let Some(ch) = chan(scope, args.get(0)) else { return };
    if ch.close().is_err() {
        throw_error(scope, "Error", "close of a closed channel");
    }
}

fn op_close_on_end<'s>(scope: &mut v8::PinScope<'s, '_>, args: Args<'s>, _rv: Ret<'s>) {
    let Some(ch) = chan(scope, args.get(0)) else { return };
    let on = args.get(1).boolean_value(scope);
    host(scope).close_on_end(&ch, on);
}

fn op_info<'s>(scope: &mut v8::PinScope<'s, '_>, args: Args<'s>, mut rv: Ret<'s>) {
    let Some(ch) = chan(scope, args.get(0)) else { return };
    let items = [
        v8::Number::new(scope, ch.capacity() as f64).into(),
        v8::Number::new(scope, ch.len() as f64).into(),
        v8::Boolean::new(scope, ch.is_closed()).into(),
    ];
    rv.set(v8::Array::new_with_elements(scope, &items).into());
}

fn op_select<'s>(scope: &mut v8::PinScope<'s, '_>, args: Args<'s>, mut rv: Ret<'s>) {
    let Ok(list) = v8::Local::<v8::Array>::try_from(args.get(0)) else {
        return throw_type(scope, "select: expected a list of cases");
    };
    let has_default = args.get(1).boolean_value(scope);
    let timeout = number(scope, args.get(2));
    let mut cases = Vec::with_capacity(list.length() as usize);
    for i in 0..list.length() {
        let Some(c) = list.get_index(scope, i) else { return };
        let Ok(c) = v8::Local::<v8::Array>::try_from(c) else { return throw_type(scope, "select: bad case") };
        let Some(ch) = c.get_index(scope, 0) else { return };
        let Some(ch) = chan(scope, ch) else { return };
        let Some(is_send) = c.get_index(scope, 1) else { return };
        let value = if is_send.boolean_value(scope) {
            let Some(v) = c.get_index(scope, 2) else { return };
            let Some(p) = serialize(scope, v) else { return };
            Some(p)
        } else {
            None
        };
        cases.push((ch, value));
    }
    let timeout = (timeout >= 0.0).then(|| Duration::from_secs_f64(timeout.min(1e9) / 1000.0));
    let start = host(scope).select(cases, has_default, timeout);
    if let Some(r) = op_result(scope, start) {
        rv.set(r);
    }
}

fn op_spawn<'s>(scope: &mut v8::PinScope<'s, '_>, args: Args<'s>, mut rv: Ret<'s>) {
    let kind = number(scope, args.get(0)) as i32;
    let code = args.get(1).to_rust_string_lossy(scope);
    let name = string_arg(scope, args.get(2));
    let engine = string_arg(scope, args.get(3));
    let can_block = args.get(5);
    let can_block = can_block.is_undefined() || can_block.boolean_value(scope);
    let source = match kind {
        0 => Source::Function { code },
        2 => {
            let caller = crate::modules::calling_file(scope);
            match hz_core::modules::resolve_spawn(caller.as_deref(), &code) {
                Ok(path) => Source::Module { path },
                Err(m) => return throw_error(scope, "TypeError", &m),
            }
        }
        _ => Source::Script { name: name.clone().unwrap_or_else(|| "<spawn>".into()), code },
    };
    let mut spec = AgentSpec::new(source).can_block(can_block);
    let Some(p) = serialize(scope, args.get(4)) else { return };
    spec.args = p;
    spec.name = name;
    if !args.get(6).is_undefined() {
        let Some(p) = serialize(scope, args.get(6)) else { return };
        if let Err(e) = spec.options_from_payload(&p) {
            return throw_error(scope, "TypeError", &e.to_string());
        }
    }
    match host(scope).spawn(engine.as_deref(), spec) {
        Ok(id) => rv.set(v8::Number::new(scope, id as f64).into()),
        Err(e) => throw_error(scope, "TypeError", &e.to_string()),
    }
}

fn op_join<'s>(scope: &mut v8::PinScope<'s, '_>, args: Args<'s>, mut rv: Ret<'s>) {
    let id = number(scope, args.get(0));
    let start = host(scope).join(id as u64);
    if let Some(r) = op_result(scope, start) {
        rv.set(r);
    }
}

fn op_call_host<'s>(scope: &mut v8::PinScope<'s, '_>, args: Args<'s>, mut rv: Ret<'s>) {
    let name = args.get(0).to_rust_string_lossy(scope);
    let Some(p) = serialize(scope, args.get(1)) else { return };
    let start = host(scope).call_host(&name, &p);
    if let Some(r) = op_result(scope, start) {
        rv.set(r);
    }
}

/// A prelude unit run as a script of its own (`hz:NAME` in stack traces).
fn op_load<'s>(scope: &mut v8::PinScope<'s, '_>, args: Args<'s>, mut rv: Ret<'s>) {
    let name = args.get(0).to_rust_string_lossy(scope);
    let Some(source) = hz_core::unit(&name) else {
        return throw_type(scope, &format!("no prelude unit {name}"));
    };
    if let Some(v) = crate::eval(scope, source, &hz_core::script_name(&name)) {
        rv.set(v);
    }
}

fn op_terminate<'s>(scope: &mut v8::PinScope<'s, '_>, args: Args<'s>, mut rv: Ret<'s>) {
    let id = number(scope, args.get(0));
    rv.set_bool(host(scope).terminate(id as u64));
}

fn op_timer<'s>(scope: &mut v8::PinScope<'s, '_>, args: Args<'s>, mut rv: Ret<'s>) {
    let ms = number(scope, args.get(0));
    let ms = if ms.is_nan() { 0.0 } else { ms.clamp(0.0, 1e10) };
    let id = host(scope).timer(Duration::from_secs_f64(ms / 1000.0));
    rv.set(v8::Number::new(scope, id as f64).into());
}

fn op_cancel<'s>(scope: &mut v8::PinScope<'s, '_>, args: Args<'s>, mut rv: Ret<'s>) {
    let op = number(scope, args.get(0));
    rv.set_bool(host(scope).cancel_op(op as u64));
}

fn op_settle<'s>(scope: &mut v8::PinScope<'s, '_>, args: Args<'s>, _rv: Ret<'s>) {
    let ok = args.get(0).boolean_value(scope);
    let Some(p) = serialize(scope, args.get(1)) else { return };
    host(scope).settle(if ok { Ok(p) } else { Err(p) });
}

fn op_clone<'s>(scope: &mut v8::PinScope<'s, '_>, args: Args<'s>, mut rv: Ret<'s>) {
    let Some(p) = serialize_moving(scope, args.get(0), Some(args.get(1))) else { return };
    if let Some(v) = clone::from_payload(scope, &p) {
        rv.set(v);
    }
}

fn op_print<'s>(scope: &mut v8::PinScope<'s, '_>, args: Args<'s>, _rv: Ret<'s>) {
    let stream = number(scope, args.get(0));
    let mut parts = Vec::with_capacity(args.length().max(1) as usize - 1);
    for i in 1..args.length() {
        parts.push(args.get(i).to_rust_string_lossy(scope));
    }
    let line = parts.join(" ");
    // A closed stdout (`hz run x.js | head`) must not kill the agent.
    if stream == 2.0 {
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    } else {
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    }
}

/// What an `Atomics.wait`/`waitAsync` waits on: the memory, the byte
/// offset, and the expected value (the prelude has coerced it already).
/// A SharedArrayBuffer whose memory is V8's own (a growable one) is
/// `Foreign`: the natives then return undefined and the prelude uses V8's own
/// Atomics, which are all that can reach that memory. `None`: thrown.
fn wait_target<'s>(scope: &mut v8::PinScope<'s, '_>, args: &Args<'s>) -> Option<WaitOn> {
    let buffer = args.get(0);
    let Some(memory) = clone::shared_memory(scope, buffer) else {
        if buffer.is_shared_array_buffer() {
            return Some(WaitOn::Foreign);
        }
        throw_type(scope, "expected a SharedArrayBuffer");
        return None;
    };
    let at = number(scope, args.get(1)) as usize;
    let big = args.get(2).boolean_value(scope);
    let value = args.get(3);
    let expected = if big {
        match v8::Local::<v8::BigInt>::try_from(value) {
            Ok(b) => b.i64_value().0,
            Err(_) => {
                throw_type(scope, "expected a BigInt");
                return None;
            }
        }
    } else {
        i64::from(value.int32_value(scope).unwrap_or(0))
    };
    Some(WaitOn::Hz(memory, at, big, expected))
}

enum WaitOn {
    /// hz memory, the byte offset, whether 64-bit, the expected value.
    Hz(hz_atomics::SharedMemory, usize, bool, i64),
    Foreign,
}

fn op_wait<'s>(scope: &mut v8::PinScope<'s, '_>, args: Args<'s>, mut rv: Ret<'s>) {
    let Some(WaitOn::Hz(memory, at, big, expected)) = wait_target(scope, &args) else { return };
    let timeout = wait_timeout(number(scope, args.get(4)));
    let still_expected = || memory.load(at, big) == Some(expected);
    match host(scope).wait(&memory, at, still_expected, timeout) {
        Ok(r) => match r.as_js_str() {
            Some(text) => {
                if let Some(s) = v8::String::new(scope, text) {
                    rv.set(s.into());
                }
            }
            None => {
                // Terminated while waiting: end the turn, uncatchably.
                scope.terminate_execution();
            }
        },
        Err(_) => throw_error(scope, "TypeError", "Atomics.wait cannot block in this agent"),
    }
}

fn op_wait_async<'s>(scope: &mut v8::PinScope<'s, '_>, args: Args<'s>, mut rv: Ret<'s>) {
    let Some(WaitOn::Hz(memory, at, big, expected)) = wait_target(scope, &args) else { return };
    let timeout = wait_timeout(number(scope, args.get(4)));
    let still_expected = || memory.load(at, big) == Some(expected);
    match host(scope).wait_async(&memory, at, still_expected, timeout) {
        OpStart::Pending(op) => rv.set(v8::Number::new(scope, op as f64).into()),
        OpStart::Done(c) => {
            let text = c.text().unwrap_or_default();
            if let Some(s) = v8::String::new(scope, &text) {
                rv.set(s.into());
            }
        }
    }
}

fn op_notify<'s>(scope: &mut v8::PinScope<'s, '_>, args: Args<'s>, mut rv: Ret<'s>) {
    let Some(memory) = clone::shared_memory(scope, args.get(0)) else {
        // V8's own memory (a growable SharedArrayBuffer): undefined tells the
        // prelude to use V8's own notify.
        return;
    };
    let at = number(scope, args.get(1)) as usize;
    let count = number(scope, args.get(2));
    let count = if count >= usize::MAX as f64 { usize::MAX } else { count.max(0.0) as usize };
    let n = host(scope).notify(&memory, at, count);
    rv.set(v8::Number::new(scope, n as f64).into());
}

fn op_thread_id<'s>(scope: &mut v8::PinScope<'s, '_>, _args: Args<'s>, mut rv: Ret<'s>) {
    let id = host(scope).worker_index().map_or(-1.0, |i| i as f64);
    rv.set(v8::Number::new(scope, id).into());
}

fn op_now<'s>(scope: &mut v8::PinScope<'s, '_>, _args: Args<'s>, mut rv: Ret<'s>) {
    let now = host(scope).now_ms();
    rv.set(v8::Number::new(scope, now).into());
}

fn op_gc<'s>(scope: &mut v8::PinScope<'s, '_>, _args: Args<'s>, _rv: Ret<'s>) {
    scope.low_memory_notification();
}

fn op_new_realm<'s>(scope: &mut v8::PinScope<'s, '_>, _args: Args<'s>, mut rv: Ret<'s>) {
    let context = v8::Context::new(scope, Default::default());
    // Same security token: the realms of one agent may touch each other's objects.
    let current = scope.get_current_context();
    context.set_security_token(current.get_security_token(scope));
    rv.set(context.global(scope).into());
}

/// The prelude's V8 code cache (bytecode and metadata), made by the first
/// agent of the process once it has run the prelude, so that it also holds
/// the functions the prelude compiled lazily. Later agents deserialise it
/// instead of parsing the prelude (about 0.9 ms of a V8 spawn). V8 checks
/// the cache against the source, its version and the flags, and compiles
/// from source if it does not match.
static PRELUDE_CACHE: OnceLock<Vec<u8>> = OnceLock::new();

fn compile_prelude<'s>(scope: &mut v8::PinScope<'s, '_>) -> Option<v8::Local<'s, v8::Script>> {
    use v8::script_compiler::{self, CachedData, CompileOptions, NoCacheReason};
    let code = v8::String::new(scope, hz_core::PRELUDE)?;
    let origin = crate::origin(scope, hz_core::PRELUDE_SCRIPT, false)?;
    match PRELUDE_CACHE.get() {
        Some(bytes) => {
            let mut source = script_compiler::Source::new_with_cached_data(code, Some(&origin), CachedData::new(bytes));
            script_compiler::compile(scope, &mut source, CompileOptions::ConsumeCodeCache, NoCacheReason::NoReason)
        }
        None => {
            let mut source = script_compiler::Source::new(code, Some(&origin));
            script_compiler::compile(scope, &mut source, CompileOptions::NoCompileOptions, NoCacheReason::NoReason)
        }
    }
}

/// Builds `ops`, runs the prelude with it and stores the internals.
pub(crate) fn install(scope: &mut v8::PinScope<'_, '_>, host: Host) -> Result<(), String> {
    let channel_proto = v8::Object::new(scope);
    let channel_template = v8::ObjectTemplate::new(scope);
    channel_template.set_internal_field_count(CHANNEL_FIELDS);
    let threads = host.threads();
    let epoch = host.epoch_ms();
    let (meta, meta_view) = ResultMeta::new(scope).ok_or("ops.resultMeta")?;
    let state = State {
        host,
        meta,
        internals: None,
        rejections: Vec::new(),
        channel_proto: v8::Global::new(scope, channel_proto),
        channel_template: v8::Global::new(scope, channel_template),
    };
    set_state(scope, state);

    let ops = v8::Object::new(scope);
    let set = |scope: &mut v8::PinScope<'_, '_>, name: &str, v: v8::Local<'_, v8::Value>| -> Result<(), String> {
        let k = v8::String::new(scope, name).ok_or("out of memory")?;
        ops.set(scope, k.into(), v).ok_or_else(|| format!("ops.{name}"))?;
        Ok(())
    };
    set(scope, "channelPrototype", channel_proto.into())?;
    set(scope, "resultMeta", meta_view.into())?;
    let engine = v8::String::new(scope, "v8").ok_or("out of memory")?;
    set(scope, "engine", engine.into())?;
    let threads = v8::Number::new(scope, threads as f64);
    set(scope, "threads", threads.into())?;
    let epoch = v8::Number::new(scope, epoch);
    set(scope, "epoch", epoch.into())?;
    macro_rules! native {
        ($name:literal, $f:expr) => {{
            let f = v8::Function::new(scope, $f).ok_or(concat!("ops.", $name))?;
            set(scope, $name, f.into())?;
        }};
    }
    native!("channel", op_channel);
    native!("send", op_send);
    native!("recv", op_recv);
    native!("trySend", op_try_send);
    native!("tryRecv", op_try_recv);
    native!("close", op_close);
    native!("closeOnEnd", op_close_on_end);
    native!("info", op_info);
    native!("select", op_select);
    native!("spawn", op_spawn);
    native!("join", op_join);
    native!("callHost", op_call_host);
    native!("load", op_load);
    native!("terminate", op_terminate);
    native!("timer", op_timer);
    native!("cancel", op_cancel);
    native!("settle", op_settle);
    native!("clone", op_clone);
    native!("print", op_print);
    native!("wait", op_wait);
    native!("waitAsync", op_wait_async);
    native!("notify", op_notify);
    native!("threadId", op_thread_id);
    native!("now", op_now);
    native!("gc", op_gc);
    native!("newRealm", op_new_realm);

    // The prelude is a function expression: (function (ops, global) {...}).
    v8::tc_scope!(let tc, scope);
    let script = compile_prelude(tc);
    let prelude = script.and_then(|s| s.run(tc));
    let Some(prelude) = prelude.and_then(|p| v8::Local::<v8::Function>::try_from(p).ok()) else {
        let e = tc.exception().map(|e| e.to_rust_string_lossy(tc)).unwrap_or_default();
        return Err(format!("the prelude did not compile: {e}"));
    };
    let global = tc.get_current_context().global(tc);
    let undefined = v8::undefined(tc).into();
    let Some(internals) = prelude.call(tc, undefined, &[ops.into(), global.into()]) else {
        let e = tc.exception().map(|e| e.to_rust_string_lossy(tc)).unwrap_or_default();
        return Err(format!("the prelude failed: {e}"));
    };
    if PRELUDE_CACHE.get().is_none()
        && let Some(cache) = script.and_then(|s| s.get_unbound_script(tc).create_code_cache())
    {
        let _ = PRELUDE_CACHE.set(cache.to_vec());
    }
    let internals = v8::Local::<v8::Object>::try_from(internals).map_err(|_| "the prelude returned no internals")?;
    let get = |tc: &mut v8::PinScope<'_, '_>, name: &str| -> Result<v8::Global<v8::Function>, String> {
        let k = v8::String::new(tc, name).ok_or("out of memory")?;
        let v = internals.get(tc, k.into()).ok_or_else(|| format!("internals.{name}"))?;
        let f = v8::Local::<v8::Function>::try_from(v).map_err(|_| format!("internals.{name} is not a function"))?;
        Ok(v8::Global::new(tc, f))
    };
    let dispatch = get(tc, "dispatch")?;
    let start = get(tc, "start")?;
    let set_args = get(tc, "setArgs")?;
    let make_error = get(tc, "makeError")?;
    let object_keys = get(tc, "objectKeys")?;
    let k = v8::String::new(tc, "clone").ok_or("out of memory")?;
    let helpers = internals.get(tc, k.into()).and_then(|h| v8::Local::<v8::Object>::try_from(h).ok());
    let helpers = Helpers::new(tc, helpers.ok_or("internals.clone")?)?;
    let internals = Internals { dispatch, start, set_args, make_error, object_keys, helpers };
    if let Some(s) = state_mut(tc) {
        s.internals = Some(internals);
    }
    Ok(())
}
