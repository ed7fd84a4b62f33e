//! V8 values <-> the hz-clone wire format (the engine-neutral structured
//! clone every engine reads).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use hz_atomics::{OwnedBuffer, SharedMemory};
use hz_clone::{
    BuildIdentity, CloneError, DecodeError, ErrorFields, HostObject, JsStr, Payload, Sink, Transferred, ViewKind,
    Writer, decode as decode_payload,
};
use hz_core::PayloadChan;

use crate::natives;

/// A clone failure: not cloneable, not decodable, or a JS exception (a
/// getter threw; it is pending in the scope and propagates as is).
pub(crate) enum CloneErr {
    Clone(CloneError),
    Decode(DecodeError),
    Js,
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

/// Raises `e` in JS (a DataCloneError, or the pending exception) and
/// returns the thrown value when it made one.
pub(crate) fn raise<'s>(scope: &mut v8::PinScope<'s, '_>, e: CloneErr) -> Option<v8::Local<'s, v8::Value>> {
    let message = match e {
        CloneErr::Js => return None,
        CloneErr::Clone(e) => e.to_string(),
        CloneErr::Decode(e) => format!("could not read message: {e}"),
    };
    let make_error = natives::internals(scope, |i| v8::Local::new(scope, &i.make_error));
    let name = v8::String::new(scope, "DataCloneError")?;
    let message = v8::String::new(scope, &message)?;
    let undefined = v8::undefined(scope).into();
    let e = make_error.call(scope, undefined, &[name.into(), message.into()])?;
    scope.throw_exception(e);
    Some(e)
}

fn uncloneable(what: &str) -> CloneErr {
    CloneErr::Clone(CloneError::Uncloneable(what.into()))
}

/// The prelude's clone helpers (captured intrinsics).
pub(crate) struct Helpers {
    date_value: v8::Global<v8::Function>,
    view_info: v8::Global<v8::Function>,
    new_view: v8::Global<v8::Function>,
    new_error: v8::Global<v8::Function>,
    set_error_props: v8::Global<v8::Function>,
    buffer_info: v8::Global<v8::Function>,
    new_resizable: v8::Global<v8::Function>,
    regexp_info: v8::Global<v8::Function>,
    new_regexp: v8::Global<v8::Function>,
    error_info: v8::Global<v8::Function>,
    sab_info: v8::Global<v8::Function>,
    primitive_of: v8::Global<v8::Function>,
    new_primitive_object: v8::Global<v8::Function>,
    slotted: v8::Global<v8::Function>,
    immutable: v8::Global<v8::Function>,
}

impl Helpers {
    pub(crate) fn new(scope: &mut v8::PinScope<'_, '_>, o: v8::Local<'_, v8::Object>) -> Result<Self, String> {
        let get = |name: &str| -> Result<v8::Global<v8::Function>, String> {
            let k = v8::String::new(scope, name).ok_or("out of memory")?;
            let v = o.get(scope, k.into()).ok_or_else(|| format!("clone.{name}"))?;
            let f = v8::Local::<v8::Function>::try_from(v).map_err(|_| format!("clone.{name} is not a function"))?;
            Ok(v8::Global::new(scope, f))
        };
        Ok(Helpers {
            date_value: get("dateValue")?,
            view_info: get("viewInfo")?,
            new_view: get("newView")?,
            new_error: get("newError")?,
            set_error_props: get("setErrorProps")?,
            buffer_info: get("bufferInfo")?,
            new_resizable: get("newResizable")?,
            regexp_info: get("regexpInfo")?,
            new_regexp: get("newRegExp")?,
            error_info: get("errorInfo")?,
            sab_info: get("sabInfo")?,
            primitive_of: get("primitiveOf")?,
            new_primitive_object: get("newPrimitiveObject")?,
            slotted: get("slotted")?,
            immutable: get("immutable")?,
        })
    }
}

/// Calls a helper with `args`; `None` if it threw.
fn call<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    pick: impl FnOnce(&Helpers) -> &v8::Global<v8::Function>,
    args: &[v8::Local<'s, v8::Value>],
) -> Result<v8::Local<'s, v8::Value>, CloneErr> {
    // A local handle straight from the helper's global (no global copy).
    let f = natives::internals(scope, |i| v8::Local::new(scope, pick(&i.helpers)));
    let undefined = v8::undefined(scope).into();
    f.call(scope, undefined, args).ok_or(CloneErr::Js)
}

/// Element `i` of an array a helper returned.
fn item<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    a: v8::Local<'s, v8::Value>,
    i: u32,
) -> Result<v8::Local<'s, v8::Value>, CloneErr> {
    let a = v8::Local::<v8::Object>::try_from(a).map_err(|_| uncloneable("helper result"))?;
    a.get_index(scope, i).ok_or(CloneErr::Js)
}

/// The shared memory behind a SharedArrayBuffer (a new reference to it), or
/// `None` if `v` is not one or its memory is V8's own (a growable one: V8
/// reserves its pages outside the allocator).
pub(crate) fn shared_memory(_scope: &mut v8::PinScope<'_, '_>, v: v8::Local<'_, v8::Value>) -> Option<SharedMemory> {
    let sab = v8::Local::<v8::SharedArrayBuffer>::try_from(v).ok()?;
    let store = sab.get_backing_store();
    if store.is_resizable_by_user_javascript() {
        return None;
    }
    let data = store.data()?;
    // SAFETY: every non-growable SharedArrayBuffer of an hz isolate has
    // SharedMemory as its data: V8 allocated it through alloc.rs (one
    // SharedMemory per buffer), or it was made over SharedMemory by this
    // module's decoder. `store` holds a reference while we take ours.
    Some(unsafe { SharedMemory::retain(data.as_ptr().cast()) })
}

/// Serializes one value, moving the ArrayBuffers of `transfer` (HTML
/// StructuredSerializeWithTransfer): nothing is detached unless the whole
/// value serialized.
pub(crate) fn to_payload<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    v: v8::Local<'s, v8::Value>,
    transfer: &[v8::Local<'s, v8::Value>],
) -> Result<Payload, CloneErr> {
    let mut s = Serializer { w: Writer::new(), memory: HashMap::default(), last_hash: None, transfers: Vec::new() };
    // 1. Each transferable is an ArrayBuffer, not shared, not detached,
    //    detachable, listed once.
    let mut slots = Vec::with_capacity(transfer.len());
    let mut buffers = Vec::with_capacity(transfer.len());
    for t in transfer {
        if t.is_shared_array_buffer() {
            return Err(uncloneable("a SharedArrayBuffer in the transfer list"));
        }
        let Ok(ab) = v8::Local::<v8::ArrayBuffer>::try_from(*t) else {
            return Err(uncloneable("a transfer list entry that is not an ArrayBuffer"));
        };
        if buffers.contains(&ab) {
            return Err(uncloneable("an ArrayBuffer listed twice in the transfer list"));
        }
        if ab.was_detached() {
            return Err(uncloneable("a detached ArrayBuffer in the transfer list"));
        }
        if !ab.is_detachable() || call(scope, |h| &h.immutable, &[*t])?.is_true() {
            return Err(uncloneable("an ArrayBuffer that cannot be detached"));
        }
        let slot = Transferred::empty();
        let index = s.w.reserve_transfer(slot.clone());
        s.transfers.push((v8::Local::<v8::Object>::from(ab), index));
        buffers.push(ab);
        slots.push(slot);
    }
    // 2. Serialize; transferables are written as moved.
    s.write(scope, v, 0)?;
    // 3. A getter may have detached one meanwhile: check all before moving any.
    if buffers.iter().any(|b| b.was_detached()) {
        return Err(uncloneable("an ArrayBuffer in the transfer list, detached during the clone"));
    }
    // 4. Move each buffer's bytes out and detach it.
    for (ab, slot) in buffers.into_iter().zip(slots) {
        let info = call(scope, |h| &h.buffer_info, &[ab.into()])?;
        let resizable = item(scope, info, 0)?.boolean_value(scope);
        let max = item(scope, info, 1)?.number_value(scope).unwrap_or(0.0) as usize;
        let len = ab.byte_length();
        let owned = match ab.data() {
            // A fixed-length buffer's data is an hz SharedMemory block (the
            // isolate's allocator, or a store the decoder made over one):
            // take a reference, then detach, and the bytes move uncopied.
            // (V8 reserves a resizable buffer's pages itself: copied.)
            Some(data) if !resizable && len > 0 => {
                // SAFETY: `data` is the data pointer of a live SharedMemory
                // block V8 holds a reference to (see above).
                let memory = unsafe { SharedMemory::retain(data.as_ptr().cast()) };
                ab.detach(None).ok_or(CloneErr::Js)?;
                // SAFETY: detached, V8 never reads or writes these bytes
                // again; it only releases its reference.
                unsafe { OwnedBuffer::from_shared(memory, len, None) }.ok_or(CloneErr::Js)?
            }
            _ => {
                let owned = OwnedBuffer::copy_of(buffer_bytes(ab), resizable.then_some(max))
                    .ok_or(CloneErr::Clone(CloneError::TooLarge))?;
                ab.detach(None).ok_or(CloneErr::Js)?;
                owned
            }
        };
        slot.fill(owned);
    }
    Ok(s.w.finish())
}

/// An ArrayBuffer's bytes, borrowed (copy them before any JS runs).
fn buffer_bytes<'a>(ab: v8::Local<'a, v8::ArrayBuffer>) -> &'a [u8] {
    let len = ab.byte_length();
    match ab.data() {
        // SAFETY: a live buffer's data holds `len` bytes; callers copy them
        // before any JavaScript can run (HOSTILE.md #5).
        Some(p) if len > 0 => unsafe { std::slice::from_raw_parts(p.as_ptr().cast::<u8>(), len) },
        _ => &[],
    }
}

struct Serializer<'s> {
    w: Writer,
    /// Objects already written, by identity hash, then identity.
    memory: HashMap<i32, Seen<'s>, BuildIdentity>,
    /// The object whose identity hash `seen` last read, and that hash
    /// (`remember` follows `seen` for the same object).
    last_hash: Option<(v8::Local<'s, v8::Object>, i32)>,
    /// ArrayBuffers of the transfer list with their side-table slot.
    transfers: Vec<(v8::Local<'s, v8::Object>, usize)>,
}

/// The objects written under one identity hash (distinct objects may
/// share one), with their ids.
enum Seen<'s> {
    One(v8::Local<'s, v8::Object>, u32),
    Many(Vec<(v8::Local<'s, v8::Object>, u32)>),
}

/// A string's exact contents: Latin-1 as it is, else UTF-8 if it has no
/// lone surrogate, else its UTF-16 code units.
fn write_string(scope: &mut v8::PinScope<'_, '_>, w: &mut Writer, s: v8::Local<'_, v8::String>) {
    // Read in place (a ValueView: no copy, no allocation for ASCII); the
    // writer allocates on the Rust heap only, so V8's heap cannot move the
    // string meanwhile.
    let view = v8::ValueView::new(scope, s);
    match view.data() {
        // A one-byte string goes as it is (Latin-1): no scan, no UTF-8.
        v8::ValueViewData::OneByte(chars) => w.string_latin1(chars),
        v8::ValueViewData::TwoByte(units) => match String::from_utf16(units) {
            Ok(text) => w.string(&text),
            Err(_) => w.string_utf16(units),
        },
    }
}

/// Whether `s` is exactly `text` (ASCII), read in place.
fn string_is(scope: &mut v8::PinScope<'_, '_>, s: v8::Local<'_, v8::String>, text: &str) -> bool {
    let view = v8::ValueView::new(scope, s);
    matches!(view.data(), v8::ValueViewData::OneByte(bytes) if bytes == text.as_bytes())
}

fn string_of(scope: &mut v8::PinScope<'_, '_>, v: v8::Local<'_, v8::Value>) -> Option<String> {
    v.is_string().then(|| v.to_rust_string_lossy(scope))
}

impl<'s> Serializer<'s> {
    fn seen(&mut self, o: v8::Local<'s, v8::Object>) -> Option<u32> {
        let hash = o.get_identity_hash().get();
        self.last_hash = Some((o, hash));
        match self.memory.get(&hash)? {
            Seen::One(x, id) => (*x == o).then_some(*id),
            Seen::Many(list) => list.iter().find(|(x, _)| *x == o).map(|(_, id)| *id),
        }
    }

    fn remember(&mut self, o: v8::Local<'s, v8::Object>, id: u32) {
        let hash = match self.last_hash {
            Some((x, hash)) if x == o => hash,
            _ => o.get_identity_hash().get(),
        };
        match self.memory.entry(hash) {
            Entry::Vacant(e) => {
                e.insert(Seen::One(o, id));
            }
            Entry::Occupied(mut e) => {
                let seen = e.get_mut();
                if let Seen::One(x, first) = *seen {
                    *seen = Seen::Many(vec![(x, first)]);
                }
                if let Seen::Many(list) = seen {
                    list.push((o, id));
                }
            }
        }
    }

    fn write(
        &mut self,
        scope: &mut v8::PinScope<'s, '_>,
        v: v8::Local<'s, v8::Value>,
        depth: usize,
    ) -> Result<(), CloneErr> {
        if v.is_undefined() {
            self.w.undefined();
        } else if v.is_null() {
            self.w.null();
        } else if v.is_boolean() {
            self.w.boolean(v.is_true());
        } else if v.is_number() {
            self.w.number(v.number_value(scope).unwrap_or(f64::NAN));
        } else if let Ok(s) = v8::Local::<v8::String>::try_from(v) {
            write_string(scope, &mut self.w, s);
        } else if let Ok(b) = v8::Local::<v8::BigInt>::try_from(v) {
            self.bigint(b);
        } else if v.is_symbol() {
            return Err(uncloneable("Symbol"));
        } else if let Ok(o) = v8::Local::<v8::Object>::try_from(v) {
            self.object(scope, o, depth)?;
        } else {
            return Err(uncloneable("value"));
        }
        Ok(())
    }

    fn bigint(&mut self, b: v8::Local<'s, v8::BigInt>) {
        let mut words = vec![0u64; b.word_count()];
        let (negative, words) = b.to_words_array(&mut words);
        let mut bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        while bytes.last() == Some(&0) {
            bytes.pop();
        }
        self.w.bigint(negative && !bytes.is_empty(), &bytes);
    }

    fn object(
        &mut self,
        scope: &mut v8::PinScope<'s, '_>,
        o: v8::Local<'s, v8::Object>,
        depth: usize,
    ) -> Result<(), CloneErr> {
        Writer::check_depth(depth)?;
        if let Some(id) = self.seen(o) {
            self.w.back_ref(id);
            return Ok(());
        }
        let v: v8::Local<'s, v8::Value> = o.into();
        if v.is_proxy() {
            return Err(uncloneable("Proxy"));
        }
        if v.is_function() {
            return Err(uncloneable("function"));
        }
        if v.is_promise() {
            return Err(uncloneable("Promise"));
        }
        if v.is_array() {
            return self.array(scope, o, depth);
        }
        if v.is_shared_array_buffer() {
            return self.shared_array_buffer(scope, o);
        }
        if let Some(&(_, slot)) = self.transfers.iter().find(|(t, _)| *t == o) {
            let id = self.w.transferred(slot);
            self.remember(o, id);
            return Ok(());
        }
        if let Ok(ab) = v8::Local::<v8::ArrayBuffer>::try_from(v) {
            if ab.was_detached() {
                return Err(uncloneable("a detached ArrayBuffer"));
            }
            let info = call(scope, |h| &h.buffer_info, &[v])?;
            let resizable = item(scope, info, 0)?.boolean_value(scope);
            let max = item(scope, info, 1)?.number_value(scope).unwrap_or(0.0);
            let bytes = buffer_bytes(ab);
            let id =
                if resizable { self.w.resizable_array_buffer(bytes, max as u64) } else { self.w.array_buffer(bytes) };
            self.remember(o, id);
            return Ok(());
        }
        if v.is_array_buffer_view() {
            return self.view(scope, o, depth);
        }
        if v.is_date() {
            let t = call(scope, |h| &h.date_value, &[v])?.number_value(scope).unwrap_or(f64::NAN);
            let id = self.w.date(t);
            self.remember(o, id);
            return Ok(());
        }
        if v.is_reg_exp() {
            let info = call(scope, |h| &h.regexp_info, &[v])?;
            let source = item(scope, info, 0)?;
            let flags = item(scope, info, 1)?.to_rust_string_lossy(scope);
            let source = source.to_rust_string_lossy(scope);
            let id = self.w.regexp(&source, &flags);
            self.remember(o, id);
            return Ok(());
        }
        if let Ok(m) = v8::Local::<v8::Map>::try_from(v) {
            let id = self.w.begin_map();
            self.remember(o, id);
            let items = m.as_array(scope);
            self.items(scope, items, depth)?;
            self.w.end();
            return Ok(());
        }
        if let Ok(s) = v8::Local::<v8::Set>::try_from(v) {
            let id = self.w.begin_set();
            self.remember(o, id);
            let items = s.as_array(scope);
            self.items(scope, items, depth)?;
            self.w.end();
            return Ok(());
        }
        if v.is_native_error() {
            return self.error(scope, o, depth);
        }
        if v.is_boolean_object() || v.is_number_object() || v.is_string_object() || v.is_big_int_object() {
            let id = self.w.begin_primitive_object();
            self.remember(o, id);
            let primitive = call(scope, |h| &h.primitive_of, &[v])?;
            return self.write(scope, primitive, depth + 1);
        }
        if let Some(ch) = natives::channel_of(v) {
            self.w.host(HostObject::new(ch));
            return Ok(());
        }
        if v.is_symbol_object()
            || v.is_weak_map()
            || v.is_weak_set()
            || v.is_module_namespace_object()
            || v.is_generator_object()
            || v.is_external()
            || v.is_wasm_module_object()
            || v.is_wasm_memory_object()
            || o.internal_field_count() > 0
        {
            return Err(uncloneable("this kind of object"));
        }
        // WeakRef and FinalizationRegistry have no V8 predicate: objects that
        // are not plain `Object`s get a brand check.
        let constructor = o.get_constructor_name();
        if !string_is(scope, constructor, "Object") && call(scope, |h| &h.slotted, &[v])?.is_true() {
            return Err(uncloneable("this kind of object"));
        }
        let id = self.w.begin_object();
        self.remember(o, id);
        // Deep in a nested value, the walk's own frames may have used the
        // stack V8 allows JS (its limit is set as a turn starts): a call
        // into JS there throws a RangeError, so the API, which runs none,
        // lists the keys instead.
        let keys = if depth < ORDINARY_KEYS_DEPTH { ordinary_keys(scope, o)? } else { own_enumerable_keys(scope, o)? };
        self.properties(scope, o, keys, depth, None)?;
        self.w.end();
        Ok(())
    }

    fn items(
        &mut self,
        scope: &mut v8::PinScope<'s, '_>,
        items: v8::Local<'s, v8::Array>,
        depth: usize,
    ) -> Result<(), CloneErr> {
        for i in 0..items.length() {
            let e = items.get_index(scope, i).ok_or(CloneErr::Js)?;
            self.write(scope, e, depth + 1)?;
        }
        Ok(())
    }

    /// Own enumerable string keys (snapshotted), each re-checked with
    /// HasOwnProperty and read with [[Get]]. With `skip`, index keys below
    /// it were already written as elements.
    fn properties(
        &mut self,
        scope: &mut v8::PinScope<'s, '_>,
        o: v8::Local<'s, v8::Object>,
        keys: Vec<Key<'s>>,
        depth: usize,
        skip: Option<u32>,
    ) -> Result<(), CloneErr> {
        for (key, index) in keys {
            if let (Some(n), Some(i)) = (skip, index)
                && i < n
            {
                continue;
            }
            // An index comes as a number (see own_enumerable_keys).
            let name = match v8::Local::<v8::String>::try_from(key) {
                Ok(name) => name,
                Err(_) => key.to_string(scope).ok_or(CloneErr::Js)?,
            };
            if !o.has_own_property(scope, name.into()).ok_or(CloneErr::Js)? {
                continue;
            }
            let value = o.get(scope, key).ok_or(CloneErr::Js)?;
            // The exact key, lone surrogates included.
            write_string(scope, &mut self.w, name);
            self.write(scope, value, depth + 1)?;
        }
        Ok(())
    }

    fn array(
        &mut self,
        scope: &mut v8::PinScope<'s, '_>,
        o: v8::Local<'s, v8::Object>,
        depth: usize,
    ) -> Result<(), CloneErr> {
        let length = v8::Local::<v8::Array>::try_from(v8::Local::<v8::Value>::from(o)).map(|a| a.length()).unwrap_or(0);
        let keys = own_enumerable_keys(scope, o)?;
        if let Some(has) = Writer::dense_elements(length, keys.iter().filter_map(|(_, i)| *i)) {
            let id = self.w.begin_dense_array(length);
            self.remember(o, id);
            for (i, has) in has.into_iter().enumerate() {
                if has {
                    let e = o.get_index(scope, i as u32).ok_or(CloneErr::Js)?;
                    self.write(scope, e, depth + 1)?;
                } else {
                    self.w.hole();
                }
            }
            self.properties(scope, o, keys, depth, Some(length))?;
        } else {
            let id = self.w.begin_sparse_array(length);
            self.remember(o, id);
            self.properties(scope, o, keys, depth, None)?;
        }
        self.w.end();
        Ok(())
    }

    fn view(
        &mut self,
        scope: &mut v8::PinScope<'s, '_>,
        o: v8::Local<'s, v8::Object>,
        depth: usize,
    ) -> Result<(), CloneErr> {
        let info = call(scope, |h| &h.view_info, &[o.into()])?;
        let name = item(scope, info, 0)?.to_rust_string_lossy(scope);
        let kind = ViewKind::from_constructor_name(&name).ok_or_else(|| uncloneable(&name))?;
        let buffer = item(scope, info, 1)?;
        if item(scope, info, 6)?.boolean_value(scope) {
            return Err(uncloneable("a view of a detached ArrayBuffer"));
        }
        if item(scope, info, 5)?.boolean_value(scope) {
            return Err(uncloneable("a view out of bounds of its shrunk buffer"));
        }
        let offset = item(scope, info, 2)?.number_value(scope).unwrap_or(0.0) as u64;
        let length = item(scope, info, 3)?.number_value(scope).unwrap_or(0.0) as u64;
        let id = if item(scope, info, 4)?.boolean_value(scope) {
            self.w.begin_tracking_view(kind, offset)
        } else {
            self.w.begin_view(kind, offset, length)
        };
        self.remember(o, id);
        self.write(scope, buffer, depth + 1)
    }

    /// A SharedArrayBuffer travels as a new reference to its memory.
    fn shared_array_buffer(
        &mut self,
        scope: &mut v8::PinScope<'s, '_>,
        o: v8::Local<'s, v8::Object>,
    ) -> Result<(), CloneErr> {
        let info = call(scope, |h| &h.sab_info, &[o.into()])?;
        let growable = item(scope, info, 0)?.boolean_value(scope);
        let max = item(scope, info, 1)?.number_value(scope).unwrap_or(0.0) as u64;
        let len = item(scope, info, 2)?.number_value(scope).unwrap_or(0.0) as u64;
        let memory = shared_memory(scope, o.into()).ok_or_else(|| {
            uncloneable("a growable SharedArrayBuffer made by V8 (V8 keeps its memory; it cannot be shared with other agents yet)")
        })?;
        let id = self.w.shared_array_buffer(Arc::new(memory), len, growable.then_some(max));
        self.remember(o, id);
        Ok(())
    }

    fn error(
        &mut self,
        scope: &mut v8::PinScope<'s, '_>,
        o: v8::Local<'s, v8::Object>,
        depth: usize,
    ) -> Result<(), CloneErr> {
        let info = call(scope, |h| &h.error_info, &[o.into()])?;
        let name = item(scope, info, 0)?.to_rust_string_lossy(scope);
        let message = item(scope, info, 1)?;
        let message = string_of(scope, message);
        let stack = item(scope, info, 2)?;
        let stack = string_of(scope, stack);
        let has_cause = item(scope, info, 3)?.boolean_value(scope);
        let props = item(scope, info, 5)?;
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
            let cause = item(scope, info, 4)?;
            self.write(scope, cause, depth + 1)?;
        }
        if has_props {
            self.write(scope, props, depth + 1)?;
        }
        Ok(())
    }
}

/// A property key and its array index if it is one.
type Key<'s> = (v8::Local<'s, v8::Value>, Option<u32>);

/// Own enumerable string keys of `o`, each with its array index. V8 gives
/// every index key as a number (no number-to-string conversion per element
/// of an array) and every other key as a string: a string key is never an
/// index (V8 keeps each integer key below 2^32 - 1 as an element).
fn own_enumerable_keys<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    o: v8::Local<'s, v8::Object>,
) -> Result<Vec<Key<'s>>, CloneErr> {
    let args = v8::GetPropertyNamesArgs {
        mode: v8::KeyCollectionMode::OwnOnly,
        property_filter: v8::PropertyFilter::ONLY_ENUMERABLE | v8::PropertyFilter::SKIP_SYMBOLS,
        index_filter: v8::IndexFilter::IncludeIndices,
        key_conversion: v8::KeyConversionMode::KeepNumbers,
    };
    let names = o.get_own_property_names(scope, args).ok_or(CloneErr::Js)?;
    let mut keys = Vec::with_capacity(names.length() as usize);
    for i in 0..names.length() {
        let k = names.get_index(scope, i).ok_or(CloneErr::Js)?;
        let index = if k.is_number() { k.uint32_value(scope) } else { None };
        keys.push((k, index));
    }
    Ok(keys)
}

/// How deep in a value [`ordinary_keys`] may call into JS.
const ORDINARY_KEYS_DEPTH: usize = 64;

/// An ordinary object's own enumerable string keys (index keys as strings,
/// no index: its elements are written as properties). Through the
/// prelude's `Object.keys`: V8's builtin copies the object's enum cache,
/// where `GetOwnPropertyNames` (the API) adds the keys one by one to a hash
/// set (about 3 k instructions for an object of 3 keys).
fn ordinary_keys<'s>(scope: &mut v8::PinScope<'s, '_>, o: v8::Local<'s, v8::Object>) -> Result<Vec<Key<'s>>, CloneErr> {
    let f = natives::internals(scope, |i| v8::Local::new(scope, &i.object_keys));
    let undefined = v8::undefined(scope).into();
    let names = f.call(scope, undefined, &[o.into()]).ok_or(CloneErr::Js)?;
    let names = v8::Local::<v8::Array>::try_from(names).map_err(|_| uncloneable("an object whose keys"))?;
    let mut keys = Vec::with_capacity(names.length() as usize);
    for i in 0..names.length() {
        keys.push((names.get_index(scope, i).ok_or(CloneErr::Js)?, None));
    }
    Ok(keys)
}

/// Deserializes one payload; throws (DataCloneError) and returns `None` on failure.
pub(crate) fn from_payload<'s>(scope: &mut v8::PinScope<'s, '_>, p: &Payload) -> Option<v8::Local<'s, v8::Value>> {
    match decode(scope, p) {
        Ok(v) => Some(v),
        Err(e) => {
            raise(scope, e);
            None
        }
    }
}

/// Deserializes one payload.
pub(crate) fn decode<'s>(scope: &mut v8::PinScope<'s, '_>, p: &Payload) -> Result<v8::Local<'s, v8::Value>, CloneErr> {
    decode_payload(p, &mut Builder { scope })
}

/// `CreateDataProperty(target, index, value)` (ECMA-262 7.3.4) with the
/// index as a number: V8's index overload, which the `v8` crate does not
/// bind (its name overload made the key a string and parsed it back).
/// `None` if it threw.
fn create_data_property_at<'s>(
    context: v8::Local<'s, v8::Context>,
    target: v8::Local<'s, v8::Object>,
    index: u32,
    value: v8::Local<'s, v8::Value>,
) -> Option<bool> {
    /// `v8::Maybe<bool>`: two bools, returned by value.
    #[repr(C)]
    struct MaybeBool {
        has_value: bool,
        value: bool,
    }
    unsafe extern "C" {
        /// `v8::Maybe<bool> v8::Object::CreateDataProperty(v8::Local<v8::Context>,
        /// uint32_t, v8::Local<v8::Value>)`; the static library exports it.
        #[link_name = "_ZN2v86Object18CreateDataPropertyENS_5LocalINS_7ContextEEEjNS1_INS_5ValueEEE"]
        fn v8_object_create_data_property_index(
            this: *const v8::Object,
            context: *const v8::Context,
            index: u32,
            value: *const v8::Value,
        ) -> MaybeBool;
    }
    // SAFETY: as the `v8` crate's own bindings call V8: a `Local` is one
    // pointer to its handle, and the C++ `v8::Object*` (`this`) and a
    // `v8::Local<T>` passed by value are that pointer (`&*local`); all
    // three are live handles of the current scope, and the isolate is
    // locked and entered by this thread. `Maybe<bool>` is trivially
    // copyable and returned in a register, as `MaybeBool` is.
    let r = unsafe { v8_object_create_data_property_index(&*target, &*context, index, &*value) };
    r.has_value.then_some(r.value)
}

struct Builder<'a, 's, 'i> {
    scope: &'a mut v8::PinScope<'s, 'i>,
}

fn as_object<'s>(v: v8::Local<'s, v8::Value>) -> Result<v8::Local<'s, v8::Object>, CloneErr> {
    v8::Local::<v8::Object>::try_from(v).map_err(|_| CloneErr::Decode(DecodeError::Malformed("expected an object")))
}

/// # Safety
/// Called by V8 once, when a SharedArrayBuffer made over SharedMemory dies.
unsafe extern "C" fn release_shared(data: *mut std::ffi::c_void, len: usize, handed: *mut std::ffi::c_void) {
    // SAFETY: `handed` is the store's deleter data, from hold_handed for
    // `len` bytes, released once, here.
    unsafe { crate::alloc::release_handed(handed, len) };
    // SAFETY: the decoder gave this backing store one reference (into_raw).
    unsafe { SharedMemory::release(data.cast()) }
}

impl<'s> Builder<'_, 's, '_> {
    fn helper(
        &mut self,
        pick: impl FnOnce(&Helpers) -> &v8::Global<v8::Function>,
        args: &[v8::Local<'s, v8::Value>],
    ) -> Result<v8::Local<'s, v8::Value>, CloneErr> {
        call(self.scope, pick, args)
    }

    fn str(&mut self, s: &str) -> Result<v8::Local<'s, v8::Value>, CloneErr> {
        Ok(self.new_string(JsStr::Utf8(s), v8::NewStringType::Normal)?.into())
    }

    /// A string of the payload (UTF-8, Latin-1, or UTF-16 that may hold a
    /// lone surrogate), made as `kind`.
    fn new_string(&mut self, s: JsStr<'_>, kind: v8::NewStringType) -> Result<v8::Local<'s, v8::String>, CloneErr> {
        let made = match s {
            JsStr::Utf8(s) => v8::String::new_from_utf8(self.scope, s.as_bytes(), kind),
            JsStr::Latin1(chars) => v8::String::new_from_one_byte(self.scope, chars, kind),
            JsStr::Utf16(bytes) => {
                let units: Vec<u16> = bytes.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
                v8::String::new_from_two_byte(self.scope, &units, kind)
            }
        };
        made.ok_or(CloneErr::Clone(CloneError::TooLarge))
    }

    /// A property key: internalized now, as V8 would on defining it (keys
    /// repeat from message to message, so most are found in the table).
    fn key(&mut self, key: JsStr<'_>) -> Result<v8::Local<'s, v8::Name>, CloneErr> {
        Ok(self.new_string(key, v8::NewStringType::Internalized)?.into())
    }

    /// A new ArrayBuffer holding a copy of `bytes`. Its memory is an hz
    /// block made here, counted against the agent's heap limit as the
    /// isolate's allocator would count it: `v8::ArrayBuffer::New` aborts
    /// the whole process when the allocator refuses (an agent past its
    /// heap limit receiving a copied buffer), so it is not used. Refused,
    /// the copy is a clone error (the agent is ending with its limit).
    fn copy_buffer(&mut self, bytes: &[u8]) -> Result<v8::Local<'s, v8::ArrayBuffer>, CloneErr> {
        let len = bytes.len();
        if len == 0 {
            return Ok(v8::ArrayBuffer::new(self.scope, 0));
        }
        let host = natives::host(self.scope);
        if !host.heap_admit(len) {
            return Err(CloneErr::Clone(CloneError::TooLarge));
        }
        let memory = SharedMemory::new(len).ok_or(CloneErr::Clone(CloneError::TooLarge))?;
        // SAFETY: a fresh block of at least `len` bytes, not shared yet.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), memory.as_ptr(), len) };
        Ok(self.buffer_over(memory, len))
    }

    /// An ArrayBuffer of `len` bytes whose store is `memory` (held for the
    /// store's life, counted against the agent's heap limit). `memory` holds
    /// at least `len` bytes and no one else reads or writes them.
    fn buffer_over(&mut self, memory: SharedMemory, len: usize) -> v8::Local<'s, v8::ArrayBuffer> {
        let data = memory.into_raw();
        let handed = crate::alloc::hold_handed(natives::host(self.scope), len);
        // SAFETY: `data` is one reference to a block of at least `len`
        // bytes no one else uses, released once by `release_shared` (with
        // `handed`) when the store dies.
        let store = unsafe { v8::ArrayBuffer::new_backing_store_from_ptr(data.cast(), len, release_shared, handed) };
        v8::ArrayBuffer::with_backing_store(self.scope, &store.make_shared())
    }
}

impl<'s> Sink for Builder<'_, 's, '_> {
    type Value = v8::Local<'s, v8::Value>;
    type Error = CloneErr;

    fn undefined(&mut self) -> Result<Self::Value, CloneErr> {
        Ok(v8::undefined(self.scope).into())
    }
    fn null(&mut self) -> Result<Self::Value, CloneErr> {
        Ok(v8::null(self.scope).into())
    }
    fn boolean(&mut self, b: bool) -> Result<Self::Value, CloneErr> {
        Ok(v8::Boolean::new(self.scope, b).into())
    }
    fn number(&mut self, n: f64) -> Result<Self::Value, CloneErr> {
        Ok(v8::Number::new(self.scope, n).into())
    }
    fn bigint(&mut self, negative: bool, magnitude_le: &[u8]) -> Result<Self::Value, CloneErr> {
        let words: Vec<u64> = magnitude_le
            .chunks(8)
            .map(|c| {
                let mut w = [0u8; 8];
                w[..c.len()].copy_from_slice(c);
                u64::from_le_bytes(w)
            })
            .collect();
        let b = v8::BigInt::new_from_words(self.scope, negative, &words).ok_or(CloneErr::Js)?;
        Ok(b.into())
    }
    fn string(&mut self, s: JsStr<'_>) -> Result<Self::Value, CloneErr> {
        Ok(self.new_string(s, v8::NewStringType::Normal)?.into())
    }
    fn object(&mut self) -> Result<Self::Value, CloneErr> {
        Ok(v8::Object::new(self.scope).into())
    }
    fn array(&mut self, length: u32, _dense: bool) -> Result<Self::Value, CloneErr> {
        // Made with its length (holey) where `Array::new` takes it, which
        // spares a property set; past i32 the length is set.
        if let Ok(n) = i32::try_from(length) {
            return Ok(v8::Array::new(self.scope, n).into());
        }
        let a = v8::Array::new(self.scope, 0);
        let k = self.key(JsStr::Utf8("length"))?;
        let n = v8::Number::new(self.scope, f64::from(length));
        a.set(self.scope, k.into(), n.into()).ok_or(CloneErr::Js)?;
        Ok(a.into())
    }
    fn define(&mut self, target: &Self::Value, key: JsStr<'_>, value: Self::Value) -> Result<(), CloneErr> {
        // The exact key (UTF-16 may hold a lone surrogate).
        let k = self.key(key)?;
        // CreateDataProperty: never a setter, `__proto__` stays an ordinary key.
        as_object(*target)?.create_data_property(self.scope, k, value).ok_or(CloneErr::Js)?;
        Ok(())
    }
    fn define_index(&mut self, target: &Self::Value, index: u32, value: Self::Value) -> Result<(), CloneErr> {
        let target = as_object(*target)?;
        let context = self.scope.get_current_context();
        create_data_property_at(context, target, index, value).ok_or(CloneErr::Js)?;
        Ok(())
    }
    fn date(&mut self, time: f64) -> Result<Self::Value, CloneErr> {
        Ok(v8::Date::new(self.scope, time).ok_or(CloneErr::Js)?.into())
    }
    fn map(&mut self) -> Result<Self::Value, CloneErr> {
        Ok(v8::Map::new(self.scope).into())
    }
    fn map_set(&mut self, map: &Self::Value, key: Self::Value, value: Self::Value) -> Result<(), CloneErr> {
        let m = v8::Local::<v8::Map>::try_from(*map).map_err(|_| DecodeError::Malformed("expected a Map"))?;
        m.set(self.scope, key, value).ok_or(CloneErr::Js)?;
        Ok(())
    }
    fn set(&mut self) -> Result<Self::Value, CloneErr> {
        Ok(v8::Set::new(self.scope).into())
    }
    fn set_add(&mut self, set: &Self::Value, value: Self::Value) -> Result<(), CloneErr> {
        let s = v8::Local::<v8::Set>::try_from(*set).map_err(|_| DecodeError::Malformed("expected a Set"))?;
        s.add(self.scope, value).ok_or(CloneErr::Js)?;
        Ok(())
    }
    fn array_buffer(&mut self, bytes: &[u8]) -> Result<Self::Value, CloneErr> {
        Ok(self.copy_buffer(bytes)?.into())
    }
    fn resizable_array_buffer(&mut self, bytes: &[u8], max_byte_length: usize) -> Result<Self::Value, CloneErr> {
        let copy = self.copy_buffer(bytes)?;
        let max = v8::Number::new(self.scope, max_byte_length as f64);
        self.helper(|h| &h.new_resizable, &[copy.into(), max.into()])
    }
    fn view(
        &mut self,
        kind: ViewKind,
        buffer: &Self::Value,
        byte_offset: usize,
        length: Option<usize>,
    ) -> Result<Self::Value, CloneErr> {
        let name = self.str(kind.constructor_name())?;
        let offset = v8::Number::new(self.scope, byte_offset as f64).into();
        let length = match length {
            Some(l) => v8::Number::new(self.scope, l as f64).into(),
            None => v8::undefined(self.scope).into(),
        };
        self.helper(|h| &h.new_view, &[name, *buffer, offset, length])
    }
    fn primitive_object(&mut self, primitive: Self::Value) -> Result<Self::Value, CloneErr> {
        self.helper(|h| &h.new_primitive_object, &[primitive])
    }
    fn regexp(&mut self, source: JsStr<'_>, flags: &str) -> Result<Self::Value, CloneErr> {
        let source = self.string(source)?;
        let flags = self.str(flags)?;
        self.helper(|h| &h.new_regexp, &[source, flags])
    }
    fn error(&mut self, f: ErrorFields<Self::Value>) -> Result<Self::Value, CloneErr> {
        let name = self.str(&f.name)?;
        let message = match f.message {
            Some(m) => self.str(&m)?,
            None => v8::undefined(self.scope).into(),
        };
        let stack = match f.stack {
            Some(s) => self.str(&s)?,
            None => v8::undefined(self.scope).into(),
        };
        self.helper(|h| &h.new_error, &[name, message, stack])
    }
    fn error_cause(&mut self, error: &Self::Value, cause: Self::Value) -> Result<(), CloneErr> {
        let k = self.str("cause")?;
        let k = v8::Local::<v8::Name>::try_from(k).map_err(|_| CloneErr::Js)?;
        as_object(*error)?
            .define_own_property(self.scope, k, cause, v8::PropertyAttribute::DONT_ENUM)
            .ok_or(CloneErr::Js)?;
        Ok(())
    }
    fn error_props(&mut self, error: &Self::Value, props: Self::Value) -> Result<(), CloneErr> {
        self.helper(|h| &h.set_error_props, &[*error, props]).map(drop)
    }
    fn transferred(&mut self, t: &Transferred) -> Result<Self::Value, CloneErr> {
        let buffer =
            t.take().ok_or(CloneErr::Decode(DecodeError::Malformed("a transferred buffer was already received")))?;
        if let Some(max) = buffer.max_len() {
            return self.resizable_array_buffer(buffer.as_slice(), max);
        }
        let len = buffer.len();
        match buffer.into_shared() {
            // Shared memory given up by a sender (a V8 agent): the new
            // buffer's store is that memory, so every fixed-length V8 buffer
            // stays an hz SharedMemory block, as the sender side expects.
            Ok(memory) => Ok(self.buffer_over(memory, len).into()),
            // Bytes in a block of another engine's layout: copied into a
            // buffer of this isolate's allocator.
            Err(buffer) => self.array_buffer(buffer.as_slice()),
        }
    }
    fn shared_array_buffer(
        &mut self,
        memory: &Arc<SharedMemory>,
        byte_length: usize,
        max_byte_length: Option<usize>,
    ) -> Result<Self::Value, CloneErr> {
        // V8 cannot make a growable SharedArrayBuffer over memory it did not
        // reserve: a growable one arrives with its current length, fixed.
        let byte_length = match max_byte_length {
            Some(_) => memory.observe_length(byte_length),
            None => byte_length.min(memory.capacity()),
        };
        let data = SharedMemory::clone(memory).into_raw();
        let handed = crate::alloc::hold_handed(natives::host(self.scope), byte_length);
        // SAFETY: `data` is one reference to memory of at least
        // `byte_length` bytes, released once by `release_shared` (with
        // `handed`) when the backing store dies.
        let store = unsafe {
            v8::SharedArrayBuffer::new_backing_store_from_ptr(data.cast(), byte_length, release_shared, handed)
        };
        Ok(v8::SharedArrayBuffer::with_backing_store(self.scope, &store.make_shared()).into())
    }
    fn host(&mut self, object: &HostObject) -> Result<Self::Value, CloneErr> {
        match object.downcast::<PayloadChan>() {
            Some(chan) => Ok(natives::channel_object(self.scope, chan).ok_or(CloneErr::Js)?.into()),
            None => Err(CloneErr::Clone(CloneError::Uncloneable("an unknown host object".into()))),
        }
    }
}
