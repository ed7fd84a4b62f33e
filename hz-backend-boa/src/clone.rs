//! Boa values <-> the hz-clone wire format (the engine-neutral structured
//! clone every engine reads).
//!
//! Objects are told apart by Boa's internal data types (`JsObject::is`);
//! what Boa's Rust API does not expose alike for every type (views, errors,
//! RegExp flags, resizable buffers) goes through the prelude's clone
//! helpers, as on the other engines.

use std::collections::HashMap;
use std::sync::Arc;

use boa_engine::builtins::array_buffer::{ArrayBuffer, SharedArrayBuffer};
use boa_engine::builtins::dataview::DataView;
use boa_engine::builtins::date::Date;
use boa_engine::builtins::error::Error as ErrorData;
use boa_engine::builtins::promise::Promise;
use boa_engine::builtins::proxy::Proxy;
use boa_engine::builtins::regexp::RegExp;
use boa_engine::builtins::set::ordered_set::OrderedSet;
use boa_engine::builtins::typed_array::TypedArray;
use boa_engine::object::builtins::{JsArray, JsArrayBuffer, JsFunction, JsMap, JsSet, JsSharedArrayBuffer};
use boa_engine::property::{PropertyDescriptor, PropertyKey};
use boa_engine::{Context, JsBigInt, JsError, JsObject, JsResult, JsString, JsSymbol, JsValue, js_string};
use hz_atomics::{OwnedBuffer, SharedMemory};
use hz_clone::{
    CloneError, DecodeError, ErrorFields, HostObject, JsStr, Payload, Sink, Transferred, ViewKind, Writer,
    decode as decode_payload,
};
use hz_core::PayloadChan;

use crate::natives::{self, get_function};

/// A clone failure: not cloneable, not decodable, or a JS exception (a
/// getter threw).
pub(crate) enum CloneErr {
    Clone(CloneError),
    Decode(DecodeError),
    Js(JsError),
}

impl From<CloneError> for CloneErr {
    fn from(e: CloneError) -> Self {
        CloneErr::Clone(e)
    }
}
impl From<DecodeError> for CloneErr {
    fn from(e: DecodeError) -> Self {
        CloneErr::Decode(e)
    }
}
impl From<JsError> for CloneErr {
    fn from(e: JsError) -> Self {
        CloneErr::Js(e)
    }
}

/// The error to throw for `e`: a DataCloneError, or the JS exception as is.
pub(crate) fn raise(ctx: &mut Context, e: CloneErr) -> JsError {
    let message = match e {
        CloneErr::Js(e) => return e,
        CloneErr::Clone(e) => e.to_string(),
        CloneErr::Decode(e) => format!("could not read message: {e}"),
    };
    natives::error(ctx, "DataCloneError", &message)
}

/// The value `raise` would throw, for rejecting an op with it.
pub(crate) fn error_value(ctx: &mut Context, e: CloneErr) -> JsResult<JsValue> {
    raise(ctx, e).into_opaque(ctx)
}

fn uncloneable(what: &str) -> CloneErr {
    CloneErr::Clone(CloneError::Uncloneable(what.into()))
}

/// The prelude's clone helpers (captured intrinsics), and `Object.keys`.
pub(crate) struct Helpers {
    date_value: JsFunction,
    new_date: JsFunction,
    view_info: JsFunction,
    new_view: JsFunction,
    new_error: JsFunction,
    set_error_props: JsFunction,
    buffer_info: JsFunction,
    new_resizable: JsFunction,
    regexp_info: JsFunction,
    new_regexp: JsFunction,
    error_info: JsFunction,
    sab_info: JsFunction,
    primitive_of: JsFunction,
    new_primitive_object: JsFunction,
    keys: JsFunction,
}

impl Helpers {
    pub(crate) fn new(ctx: &mut Context, o: &JsObject) -> Result<Self, String> {
        let object = ctx.intrinsics().constructors().object().constructor();
        Ok(Helpers {
            date_value: get_function(ctx, o, "dateValue")?,
            new_date: get_function(ctx, o, "newDate")?,
            view_info: get_function(ctx, o, "viewInfo")?,
            new_view: get_function(ctx, o, "newView")?,
            new_error: get_function(ctx, o, "newError")?,
            set_error_props: get_function(ctx, o, "setErrorProps")?,
            buffer_info: get_function(ctx, o, "bufferInfo")?,
            new_resizable: get_function(ctx, o, "newResizable")?,
            regexp_info: get_function(ctx, o, "regexpInfo")?,
            new_regexp: get_function(ctx, o, "newRegExp")?,
            error_info: get_function(ctx, o, "errorInfo")?,
            sab_info: get_function(ctx, o, "sabInfo")?,
            primitive_of: get_function(ctx, o, "primitiveOf")?,
            new_primitive_object: get_function(ctx, o, "newPrimitiveObject")?,
            keys: get_function(ctx, &object, "keys")?,
        })
    }
}

/// Calls a helper with `args`.
fn call(ctx: &mut Context, pick: impl FnOnce(&Helpers) -> &JsFunction, args: &[JsValue]) -> JsResult<JsValue> {
    let f = natives::internals(ctx, |i| pick(&i.helpers).clone());
    f.call(&JsValue::undefined(), args, ctx)
}

/// Element `i` of an array a helper returned.
fn item(ctx: &mut Context, a: &JsValue, i: u32) -> Result<JsValue, CloneErr> {
    let a = a.as_object().ok_or_else(|| uncloneable("helper result"))?;
    Ok(a.get(i, ctx)?)
}

fn number(v: &JsValue) -> f64 {
    v.as_number().unwrap_or(0.0)
}

fn string_of(v: &JsValue) -> Option<String> {
    v.as_string().map(|s| s.to_std_string_escaped())
}

/// The array index a property key is, if it is one.
fn index_of(key: &PropertyKey) -> Option<u32> {
    match key {
        PropertyKey::Index(i) => Some(i.get()),
        _ => None,
    }
}

/// An ArrayBuffer's bytes, copied.
fn buffer_bytes(ab: &JsArrayBuffer) -> Vec<u8> {
    ab.data().map(|d| d.to_vec()).unwrap_or_default()
}

/// Serializes one value, moving the ArrayBuffers of `transfer` (HTML
/// StructuredSerializeWithTransfer): nothing is detached unless the whole
/// value serialized.
pub(crate) fn to_payload(ctx: &mut Context, v: &JsValue, transfer: &[JsValue]) -> Result<Payload, CloneErr> {
    let mut s = Serializer { w: Writer::new(), memory: HashMap::new(), transfers: Vec::new() };
    // 1. Each transferable is an ArrayBuffer, not shared, not detached,
    //    listed once (every Boa ArrayBuffer is detachable).
    let mut buffers = Vec::with_capacity(transfer.len());
    for t in transfer {
        let Some(o) = t.as_object() else {
            return Err(uncloneable("a transfer list entry that is not an ArrayBuffer"));
        };
        if o.is::<SharedArrayBuffer>() {
            return Err(uncloneable("a SharedArrayBuffer in the transfer list"));
        }
        let Ok(ab) = JsArrayBuffer::from_object(o.clone()) else {
            return Err(uncloneable("a transfer list entry that is not an ArrayBuffer"));
        };
        if buffers.iter().any(|(b, _): &(JsArrayBuffer, _)| JsObject::equals(&JsObject::from(b.clone()), &o)) {
            return Err(uncloneable("an ArrayBuffer listed twice in the transfer list"));
        }
        if ab.data().is_none() {
            return Err(uncloneable("a detached ArrayBuffer in the transfer list"));
        }
        let slot = Transferred::empty();
        let index = s.w.reserve_transfer(slot.clone());
        s.transfers.push((o.clone(), index));
        buffers.push((ab, slot));
    }
    // 2. Serialize; transferables are written as moved.
    s.write(ctx, v, 0)?;
    // 3. A getter may have detached one meanwhile: check all before moving any.
    let mut moving = Vec::with_capacity(buffers.len());
    for (ab, slot) in buffers {
        if ab.data().is_none() {
            return Err(uncloneable("an ArrayBuffer in the transfer list, detached during the clone"));
        }
        let info = call(ctx, |h| &h.buffer_info, &[ab.clone().into()])?;
        let resizable = item(ctx, &info, 0)?.to_boolean();
        let max = number(&item(ctx, &info, 1)?) as usize;
        moving.push((ab, resizable.then_some(max), slot));
    }
    // 4. Detach each and move its bytes (Boa keeps them in its own
    //    allocation: they are copied once into an hz buffer).
    for (ab, max, slot) in moving {
        let bytes = ab.detach(&JsValue::undefined())?;
        let owned = OwnedBuffer::copy_of(&bytes, max).ok_or(CloneErr::Clone(CloneError::TooLarge))?;
        slot.fill(owned);
    }
    Ok(s.w.finish())
}

struct Serializer {
    w: Writer,
    /// Objects already written, by identity.
    memory: HashMap<JsObject, u32>,
    /// ArrayBuffers of the transfer list with their side-table slot.
    transfers: Vec<(JsObject, usize)>,
}

/// A string's exact contents: Latin-1 as it is, else UTF-8 if it has no
/// lone surrogate, else its UTF-16 code units.
fn write_string(w: &mut Writer, s: &JsString) {
    if let boa_engine::string::JsStrVariant::Latin1(chars) = s.as_str().variant() {
        w.string_latin1(chars);
        return;
    }
    match s.to_std_string() {
        Ok(text) => w.string(&text),
        Err(_) => {
            let units: Vec<u16> = s.iter().collect();
            w.string_utf16(&units);
        }
    }
}

impl Serializer {
    fn remember(&mut self, o: &JsObject, id: u32) {
        self.memory.insert(o.clone(), id);
    }

    fn write(&mut self, ctx: &mut Context, v: &JsValue, depth: usize) -> Result<(), CloneErr> {
        if v.is_undefined() {
            self.w.undefined();
        } else if v.is_null() {
            self.w.null();
        } else if let Some(b) = v.as_boolean() {
            self.w.boolean(b);
        } else if let Some(n) = v.as_number() {
            self.w.number(n);
        } else if let Some(s) = v.as_string() {
            write_string(&mut self.w, &s);
        } else if let Some(b) = v.as_bigint() {
            self.bigint(&b);
        } else if v.is_symbol() {
            return Err(uncloneable("Symbol"));
        } else if let Some(o) = v.as_object() {
            self.object(ctx, &o, depth)?;
        } else {
            return Err(uncloneable("value"));
        }
        Ok(())
    }

    fn bigint(&mut self, b: &JsBigInt) {
        let hex = b.to_string_radix(16);
        let (negative, digits) = match hex.strip_prefix('-') {
            Some(d) => (true, d),
            None => (false, hex.as_str()),
        };
        // Little-endian bytes from the hex digits, two per byte from the end.
        let digits = digits.as_bytes();
        let mut bytes = Vec::with_capacity(digits.len() / 2 + 1);
        let mut end = digits.len();
        while end > 0 {
            let start = end.saturating_sub(2);
            let pair = std::str::from_utf8(&digits[start..end]).unwrap_or("0");
            bytes.push(u8::from_str_radix(pair, 16).unwrap_or(0));
            end = start;
        }
        while bytes.last() == Some(&0) {
            bytes.pop();
        }
        self.w.bigint(negative && !bytes.is_empty(), &bytes);
    }

    fn object(&mut self, ctx: &mut Context, o: &JsObject, depth: usize) -> Result<(), CloneErr> {
        Writer::check_depth(depth)?;
        if let Some(&id) = self.memory.get(o) {
            self.w.back_ref(id);
            return Ok(());
        }
        let v: JsValue = o.clone().into();
        if o.is::<Proxy>() {
            return Err(uncloneable("Proxy"));
        }
        if o.is_callable() {
            return Err(uncloneable("function"));
        }
        if o.is::<Promise>() {
            return Err(uncloneable("Promise"));
        }
        if o.is_array() {
            return self.array(ctx, o, depth);
        }
        if o.is::<SharedArrayBuffer>() {
            return self.shared_array_buffer(ctx, o);
        }
        if let Some(&(_, slot)) = self.transfers.iter().find(|(t, _)| JsObject::equals(t, o)) {
            let id = self.w.transferred(slot);
            self.remember(o, id);
            return Ok(());
        }
        if o.is::<ArrayBuffer>() {
            let ab = JsArrayBuffer::from_object(o.clone())?;
            if ab.data().is_none() {
                return Err(uncloneable("a detached ArrayBuffer"));
            }
            let info = call(ctx, |h| &h.buffer_info, &[v])?;
            let resizable = item(ctx, &info, 0)?.to_boolean();
            let max = number(&item(ctx, &info, 1)?);
            let bytes = buffer_bytes(&ab);
            let id =
                if resizable { self.w.resizable_array_buffer(&bytes, max as u64) } else { self.w.array_buffer(&bytes) };
            self.remember(o, id);
            return Ok(());
        }
        if o.is::<TypedArray>() || o.is::<DataView>() {
            return self.view(ctx, o, depth);
        }
        if o.is::<Date>() {
            let t = call(ctx, |h| &h.date_value, &[v])?.as_number().unwrap_or(f64::NAN);
            let id = self.w.date(t);
            self.remember(o, id);
            return Ok(());
        }
        if o.is::<RegExp>() {
            let info = call(ctx, |h| &h.regexp_info, &[v])?;
            let source = item(ctx, &info, 0)?;
            let flags = string_of(&item(ctx, &info, 1)?).unwrap_or_default();
            let id = match source.as_string() {
                Some(s) => match s.to_std_string() {
                    Ok(text) => self.w.regexp(&text, &flags),
                    Err(_) => self.w.regexp(&s.to_std_string_escaped(), &flags),
                },
                None => self.w.regexp("(?:)", &flags),
            };
            self.remember(o, id);
            return Ok(());
        }
        if let Ok(m) = JsMap::from_object(o.clone()) {
            let id = self.w.begin_map();
            self.remember(o, id);
            // A snapshot: entries a getter adds during the clone are not written.
            let mut entries = Vec::new();
            m.for_each_native(|k, v| {
                entries.push((k, v));
                Ok(())
            })?;
            for (k, v) in entries {
                self.write(ctx, &k, depth + 1)?;
                self.write(ctx, &v, depth + 1)?;
            }
            self.w.end();
            return Ok(());
        }
        if o.is::<OrderedSet>() {
            let s = JsSet::from_object(o.clone()).map_err(|_| uncloneable("Set"))?;
            let id = self.w.begin_set();
            self.remember(o, id);
            let mut values = Vec::new();
            s.for_each_native(|v| {
                values.push(v);
                Ok(())
            })?;
            for v in values {
                self.write(ctx, &v, depth + 1)?;
            }
            self.w.end();
            return Ok(());
        }
        if o.is::<ErrorData>() {
            return self.error(ctx, o, depth);
        }
        if o.is::<bool>() || o.is::<f64>() || o.is::<JsString>() || o.is::<JsBigInt>() {
            let id = self.w.begin_primitive_object();
            self.remember(o, id);
            let primitive = call(ctx, |h| &h.primitive_of, &[v])?;
            return self.write(ctx, &primitive, depth + 1);
        }
        if let Some(ch) = natives::channel_of(&v) {
            self.w.host(HostObject::new(ch));
            return Ok(());
        }
        // Anything else with internal slots (Symbol wrappers, WeakMap,
        // WeakRef, generators, module namespaces...) is not cloneable.
        if o.is::<JsSymbol>() || !o.is_ordinary() {
            return Err(uncloneable("this kind of object"));
        }
        let id = self.w.begin_object();
        self.remember(o, id);
        let keys = self.keys(ctx, o)?;
        self.properties(ctx, o, keys, depth, None)?;
        self.w.end();
        Ok(())
    }

    /// Own enumerable string keys (`Object.keys`), with their array index.
    /// Own enumerable string keys (`Object.keys`), each with its property
    /// key (an array index is `PropertyKey::Index`, as `hz_clone::array_index`
    /// decides it).
    fn keys(&mut self, ctx: &mut Context, o: &JsObject) -> Result<Vec<(JsString, PropertyKey)>, CloneErr> {
        let f = natives::internals(ctx, |i| i.helpers.keys.clone());
        let names = f.call(&JsValue::undefined(), &[o.clone().into()], ctx)?;
        let names = names.as_object().ok_or_else(|| uncloneable("keys"))?;
        let names = JsArray::from_object(names.clone())?;
        let n = names.length(ctx)?;
        let mut keys = Vec::with_capacity(n as usize);
        for i in 0..n {
            let k = names.get(i, ctx)?;
            let Some(k) = k.as_string() else { continue };
            let key = PropertyKey::from(k.clone());
            keys.push((k, key));
        }
        Ok(keys)
    }

    /// Own enumerable string keys (snapshotted), each re-checked with
    /// HasOwnProperty and read with [[Get]]. With `skip`, index keys below
    /// it were already written as elements.
    fn properties(
        &mut self,
        ctx: &mut Context,
        o: &JsObject,
        keys: Vec<(JsString, PropertyKey)>,
        depth: usize,
        skip: Option<u32>,
    ) -> Result<(), CloneErr> {
        for (name, key) in keys {
            if let (Some(n), Some(i)) = (skip, index_of(&key))
                && i < n
            {
                continue;
            }
            if !o.has_own_property(key.clone(), ctx)? {
                continue;
            }
            let value = o.get(key, ctx)?;
            write_string(&mut self.w, &name);
            self.write(ctx, &value, depth + 1)?;
        }
        Ok(())
    }

    fn array(&mut self, ctx: &mut Context, o: &JsObject, depth: usize) -> Result<(), CloneErr> {
        let length = o.get(js_string!("length"), ctx)?.as_number().unwrap_or(0.0) as u32;
        let keys = self.keys(ctx, o)?;
        if let Some(has) = Writer::dense_elements(length, keys.iter().filter_map(|(_, k)| index_of(k))) {
            let id = self.w.begin_dense_array(length);
            self.remember(o, id);
            for (i, has) in has.into_iter().enumerate() {
                if has {
                    let e = o.get(i as u32, ctx)?;
                    self.write(ctx, &e, depth + 1)?;
                } else {
                    self.w.hole();
                }
            }
            self.properties(ctx, o, keys, depth, Some(length))?;
        } else {
            let id = self.w.begin_sparse_array(length);
            self.remember(o, id);
            self.properties(ctx, o, keys, depth, None)?;
        }
        self.w.end();
        Ok(())
    }

    fn view(&mut self, ctx: &mut Context, o: &JsObject, depth: usize) -> Result<(), CloneErr> {
        let info = call(ctx, |h| &h.view_info, &[o.clone().into()])?;
        let name = string_of(&item(ctx, &info, 0)?).unwrap_or_default();
        let kind = ViewKind::from_constructor_name(&name).ok_or_else(|| uncloneable(&name))?;
        let buffer = item(ctx, &info, 1)?;
        if item(ctx, &info, 6)?.to_boolean() {
            return Err(uncloneable("a view of a detached ArrayBuffer"));
        }
        if item(ctx, &info, 5)?.to_boolean() {
            return Err(uncloneable("a view out of bounds of its shrunk buffer"));
        }
        let offset = number(&item(ctx, &info, 2)?) as u64;
        let length = number(&item(ctx, &info, 3)?) as u64;
        let id = if item(ctx, &info, 4)?.to_boolean() {
            self.w.begin_tracking_view(kind, offset)
        } else {
            self.w.begin_view(kind, offset, length)
        };
        self.remember(o, id);
        self.write(ctx, &buffer, depth + 1)
    }

    /// A SharedArrayBuffer travels as a new reference to its memory.
    fn shared_array_buffer(&mut self, ctx: &mut Context, o: &JsObject) -> Result<(), CloneErr> {
        let info = call(ctx, |h| &h.sab_info, &[o.clone().into()])?;
        let growable = item(ctx, &info, 0)?.to_boolean();
        let max = number(&item(ctx, &info, 1)?) as u64;
        let len = number(&item(ctx, &info, 2)?) as u64;
        let memory = natives::shared_memory(&o.clone().into())
            .ok_or_else(|| uncloneable("a SharedArrayBuffer whose memory is not hz's"))?;
        let id = self.w.shared_array_buffer(Arc::new(memory), len, growable.then_some(max));
        self.remember(o, id);
        Ok(())
    }

    fn error(&mut self, ctx: &mut Context, o: &JsObject, depth: usize) -> Result<(), CloneErr> {
        let info = call(ctx, |h| &h.error_info, &[o.clone().into()])?;
        let name = string_of(&item(ctx, &info, 0)?).unwrap_or_else(|| "Error".into());
        let message = string_of(&item(ctx, &info, 1)?);
        let stack = string_of(&item(ctx, &info, 2)?);
        let has_cause = item(ctx, &info, 3)?.to_boolean();
        let props = item(ctx, &info, 5)?;
        let has_props = !props.is_undefined();
        let id = self.w.begin_error(
            hz_clone::serializable_error_name(&name),
            message.as_deref(),
            stack.as_deref(),
            has_cause,
            has_props,
        );
        self.remember(o, id);
        if has_cause {
            let cause = item(ctx, &info, 4)?;
            self.write(ctx, &cause, depth + 1)?;
        }
        if has_props {
            self.write(ctx, &props, depth + 1)?;
        }
        Ok(())
    }
}

/// Deserializes one payload; a failure is the error to throw.
pub(crate) fn from_payload(ctx: &mut Context, p: &Payload) -> JsResult<JsValue> {
    decode(ctx, p).map_err(|e| raise(ctx, e))
}

/// Deserializes one payload.
pub(crate) fn decode(ctx: &mut Context, p: &Payload) -> Result<JsValue, CloneErr> {
    decode_payload(p, &mut Builder { ctx })
}

struct Builder<'a> {
    ctx: &'a mut Context,
}

fn as_object(v: &JsValue) -> Result<JsObject, CloneErr> {
    v.as_object().ok_or(CloneErr::Decode(DecodeError::Malformed("expected an object")))
}

fn js_str(s: JsStr<'_>) -> JsString {
    match s {
        JsStr::Utf8(s) => JsString::from(s),
        JsStr::Latin1(chars) => JsString::from(boa_engine::string::JsStr::latin1(chars)),
        JsStr::Utf16(bytes) => {
            let units: Vec<u16> = bytes.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
            JsString::from(&units[..])
        }
    }
}

impl Builder<'_> {
    fn helper(&mut self, pick: impl FnOnce(&Helpers) -> &JsFunction, args: &[JsValue]) -> Result<JsValue, CloneErr> {
        Ok(call(self.ctx, pick, args)?)
    }

    fn copy_buffer(&mut self, bytes: &[u8]) -> Result<JsArrayBuffer, CloneErr> {
        let ab = JsArrayBuffer::new(bytes.len(), self.ctx)?;
        if let Some(mut data) = ab.data_mut() {
            data.copy_from_slice(bytes);
        }
        Ok(ab)
    }
}

impl Sink for Builder<'_> {
    type Value = JsValue;
    type Error = CloneErr;

    fn undefined(&mut self) -> Result<JsValue, CloneErr> {
        Ok(JsValue::undefined())
    }
    fn null(&mut self) -> Result<JsValue, CloneErr> {
        Ok(JsValue::null())
    }
    fn boolean(&mut self, b: bool) -> Result<JsValue, CloneErr> {
        Ok(b.into())
    }
    fn number(&mut self, n: f64) -> Result<JsValue, CloneErr> {
        Ok(n.into())
    }
    fn bigint(&mut self, negative: bool, magnitude_le: &[u8]) -> Result<JsValue, CloneErr> {
        let mut hex: String = magnitude_le.iter().rev().map(|b| format!("{b:02x}")).collect();
        if hex.is_empty() {
            hex.push('0');
        }
        let b = JsBigInt::from_string_radix(&hex, 16).ok_or(CloneErr::Decode(DecodeError::Malformed("bigint")))?;
        Ok(if negative { JsBigInt::neg(&b) } else { b }.into())
    }
    fn string(&mut self, s: JsStr<'_>) -> Result<JsValue, CloneErr> {
        Ok(js_str(s).into())
    }
    fn object(&mut self) -> Result<JsValue, CloneErr> {
        Ok(JsObject::with_object_proto(self.ctx.intrinsics()).into())
    }
    fn array(&mut self, length: u32, _dense: bool) -> Result<JsValue, CloneErr> {
        let a = JsArray::new(self.ctx)?;
        a.set(js_string!("length"), length, true, self.ctx)?;
        Ok(a.into())
    }
    fn define(&mut self, target: &JsValue, key: JsStr<'_>, value: JsValue) -> Result<(), CloneErr> {
        // CreateDataProperty: never a setter, `__proto__` stays an ordinary key.
        as_object(target)?.create_data_property_or_throw(js_str(key), value, self.ctx)?;
        Ok(())
    }
    fn define_index(&mut self, target: &JsValue, index: u32, value: JsValue) -> Result<(), CloneErr> {
        as_object(target)?.create_data_property_or_throw(index, value, self.ctx)?;
        Ok(())
    }
    fn date(&mut self, time: f64) -> Result<JsValue, CloneErr> {
        self.helper(|h| &h.new_date, &[time.into()])
    }
    fn map(&mut self) -> Result<JsValue, CloneErr> {
        Ok(JsMap::new(self.ctx).into())
    }
    fn map_set(&mut self, map: &JsValue, key: JsValue, value: JsValue) -> Result<(), CloneErr> {
        let m = JsMap::from_object(as_object(map)?).map_err(|_| DecodeError::Malformed("expected a Map"))?;
        m.set(key, value, self.ctx)?;
        Ok(())
    }
    fn set(&mut self) -> Result<JsValue, CloneErr> {
        Ok(JsSet::new(self.ctx).into())
    }
    fn set_add(&mut self, set: &JsValue, value: JsValue) -> Result<(), CloneErr> {
        let s = JsSet::from_object(as_object(set)?).map_err(|_| DecodeError::Malformed("expected a Set"))?;
        s.add(value, self.ctx)?;
        Ok(())
    }
    fn array_buffer(&mut self, bytes: &[u8]) -> Result<JsValue, CloneErr> {
        Ok(self.copy_buffer(bytes)?.into())
    }
    fn resizable_array_buffer(&mut self, bytes: &[u8], max_byte_length: usize) -> Result<JsValue, CloneErr> {
        let copy = self.copy_buffer(bytes)?;
        self.helper(|h| &h.new_resizable, &[copy.into(), (max_byte_length as f64).into()])
    }
    fn view(
        &mut self,
        kind: ViewKind,
        buffer: &JsValue,
        byte_offset: usize,
        length: Option<usize>,
    ) -> Result<JsValue, CloneErr> {
        let name = JsString::from(kind.constructor_name()).into();
        let length = length.map_or(JsValue::undefined(), |l| (l as f64).into());
        self.helper(|h| &h.new_view, &[name, buffer.clone(), (byte_offset as f64).into(), length])
    }
    fn primitive_object(&mut self, primitive: JsValue) -> Result<JsValue, CloneErr> {
        self.helper(|h| &h.new_primitive_object, &[primitive])
    }
    fn regexp(&mut self, source: JsStr<'_>, flags: &str) -> Result<JsValue, CloneErr> {
        let source = js_str(source).into();
        self.helper(|h| &h.new_regexp, &[source, JsString::from(flags).into()])
    }
    fn error(&mut self, f: ErrorFields<JsValue>) -> Result<JsValue, CloneErr> {
        let name = JsString::from(f.name.as_str()).into();
        let message = f.message.map_or(JsValue::undefined(), |m| JsString::from(m.as_str()).into());
        let stack = f.stack.map_or(JsValue::undefined(), |s| JsString::from(s.as_str()).into());
        self.helper(|h| &h.new_error, &[name, message, stack])
    }
    fn error_cause(&mut self, error: &JsValue, cause: JsValue) -> Result<(), CloneErr> {
        let desc = PropertyDescriptor::builder().value(cause).writable(true).enumerable(false).configurable(true);
        as_object(error)?.define_property_or_throw(js_string!("cause"), desc, self.ctx)?;
        Ok(())
    }
    fn error_props(&mut self, error: &JsValue, props: JsValue) -> Result<(), CloneErr> {
        self.helper(|h| &h.set_error_props, &[error.clone(), props]).map(drop)
    }
    fn transferred(&mut self, t: &Transferred) -> Result<JsValue, CloneErr> {
        let buffer =
            t.take().ok_or(CloneErr::Decode(DecodeError::Malformed("a transferred buffer was already received")))?;
        // Boa keeps ArrayBuffer bytes in its own allocation: copied once.
        match buffer.max_len() {
            Some(max) => self.resizable_array_buffer(buffer.as_slice(), max),
            None => self.array_buffer(buffer.as_slice()),
        }
    }
    fn shared_array_buffer(
        &mut self,
        memory: &Arc<SharedMemory>,
        byte_length: usize,
        max_byte_length: Option<usize>,
    ) -> Result<JsValue, CloneErr> {
        // The same memory; a growable one shares its length word, so growth
        // by any agent is seen here.
        let growable = max_byte_length.is_some();
        let buffer = crate::memory::shared_array_buffer(SharedMemory::clone(memory), growable, byte_length);
        Ok(JsSharedArrayBuffer::from_buffer(buffer, self.ctx).into())
    }
    fn host(&mut self, object: &HostObject) -> Result<JsValue, CloneErr> {
        match object.downcast::<PayloadChan>() {
            Some(chan) => Ok(natives::channel_object(self.ctx, chan).into()),
            None => Err(CloneErr::Clone(CloneError::Uncloneable("an unknown host object".into()))),
        }
    }
}
