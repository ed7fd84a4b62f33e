//! QuickJS values <-> the hz-clone wire format.

use std::cell::OnceCell;
use std::collections::HashMap;

use hz_atomics::OwnedBuffer;
use hz_clone::{
    BuildIdentity, CloneError, DecodeError, ErrorFields, HostObject, JsStr, Payload, Sink, Transferred, ViewKind,
    Writer, decode,
};
use hz_core::PayloadChan;
use rquickjs::object::Property;
use rquickjs::{Array, ArrayBuffer, Class, Ctx, Function, Object, Type, Value, qjs};

use crate::alloc;
use crate::natives::JsChannel;
use crate::patches::{
    JS_HzAtom8, JS_HzDefineData, JS_HzDefineIndex, JS_HzGetOwnData, JS_HzNewString8, JS_HzOwnKeys, JS_HzString8,
};

/// Whether a moved buffer can be adopted as it is: its bytes sit
/// ARENA_HEADER bytes into its block, after the large-block marker that
/// `alloc::large_block` checks (so it can be moved on again later).
fn buffer_has_prefix(b: &OwnedBuffer) -> bool {
    if b.offset() != Some(alloc::ARENA_HEADER) {
        return false;
    }
    // SAFETY: the bytes start `offset` bytes into the buffer's block, so the
    // `offset` bytes before the slice are inside the same allocation.
    let prefix = unsafe { std::slice::from_raw_parts(b.as_slice().as_ptr().sub(alloc::ARENA_HEADER), 2) };
    prefix == &alloc::ADOPTED_PREFIX[..2]
}

/// `JS_CLASS_OBJECT` in quickjs.c's class-id enum ("must be first"): the
/// class of ordinary objects. Anything else unrecognised is exotic.
const JS_CLASS_OBJECT: u32 = 1;

/// A clone failure: not cloneable, not decodable, or a JS exception (a
/// getter threw; it is pending in the context and propagates as is).
pub(crate) enum CloneErr {
    Clone(CloneError),
    Decode(DecodeError),
    Js(rquickjs::Error),
}

impl From<rquickjs::Error> for CloneErr {
    fn from(e: rquickjs::Error) -> Self {
        CloneErr::Js(e)
    }
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

/// The prelude's clone helpers (captured intrinsics).
pub(crate) struct Helpers<'js> {
    /// The prelude's clone helpers (`internals.clone`), taken one by one
    /// on the first clone that needs one: an agent that never clones a Map,
    /// a Date, a typed array... holds none of them.
    table: Object<'js>,
    funcs: OnceCell<Funcs<'js>>,
    ids: ClassIds,
}

/// The clone helpers, taken from the prelude.
struct Funcs<'js> {
    map_entries: Function<'js>,
    set_values: Function<'js>,
    new_map: Function<'js>,
    map_set: Function<'js>,
    new_set: Function<'js>,
    set_add: Function<'js>,
    date_value: Function<'js>,
    new_date: Function<'js>,
    bigint_hex: Function<'js>,
    new_bigint: Function<'js>,
    view_info: Function<'js>,
    new_view: Function<'js>,
    new_error: Function<'js>,
    set_error_props: Function<'js>,
    buffer_info: Function<'js>,
    new_resizable: Function<'js>,
    regexp_info: Function<'js>,
    new_regexp: Function<'js>,
    error_info: Function<'js>,
    sab_info: Function<'js>,
    primitive_of: Function<'js>,
    new_primitive_object: Function<'js>,
}

/// Class ids of the builtins the clone code recognises by class. They are
/// fixed in quickjs.c's class enum; probed once per engine rather than
/// copied from it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClassIds {
    wrappers: [u32; 4],
    shared_array_buffer: u32,
    array_buffer: u32,
}

impl ClassIds {
    pub(crate) fn probe(ctx: &Ctx<'_>) -> rquickjs::Result<Self> {
        let probes: Array<'_> =
            ctx.eval("[new Boolean(false), new Number(0), new String(''), Object(0n), new SharedArrayBuffer(0), new ArrayBuffer(0)]")?;
        let mut ids = [0u32; 6];
        for (i, id) in ids.iter_mut().enumerate() {
            let v: Value<'_> = probes.get(i)?;
            // SAFETY: `v` is a live value for this call; the function only reads its class id.
            *id = unsafe { qjs::JS_GetClassID(v.as_raw()) };
        }
        Ok(ClassIds { wrappers: [ids[0], ids[1], ids[2], ids[3]], shared_array_buffer: ids[4], array_buffer: ids[5] })
    }
}

impl<'js> Helpers<'js> {
    pub(crate) fn new(table: Object<'js>, ids: ClassIds) -> Self {
        Helpers { table, funcs: OnceCell::new(), ids }
    }

    fn funcs(&self) -> rquickjs::Result<&Funcs<'js>> {
        if let Some(f) = self.funcs.get() {
            return Ok(f);
        }
        let o = &self.table;
        let f = Funcs {
            map_entries: o.get("mapEntries")?,
            set_values: o.get("setValues")?,
            new_map: o.get("newMap")?,
            map_set: o.get("mapSet")?,
            new_set: o.get("newSet")?,
            set_add: o.get("setAdd")?,
            date_value: o.get("dateValue")?,
            new_date: o.get("newDate")?,
            bigint_hex: o.get("bigintHex")?,
            new_bigint: o.get("newBigInt")?,
            view_info: o.get("viewInfo")?,
            new_view: o.get("newView")?,
            new_error: o.get("newError")?,
            set_error_props: o.get("setErrorProps")?,
            buffer_info: o.get("bufferInfo")?,
            new_resizable: o.get("newResizable")?,
            regexp_info: o.get("regexpInfo")?,
            new_regexp: o.get("newRegExp")?,
            error_info: o.get("errorInfo")?,
            sab_info: o.get("sabInfo")?,
            primitive_of: o.get("primitiveOf")?,
            new_primitive_object: o.get("newPrimitiveObject")?,
        };
        Ok(self.funcs.get_or_init(|| f))
    }
}

/// Serializes one value, moving the ArrayBuffers of `transfer` (HTML
/// StructuredSerializeWithTransfer): nothing is detached unless the whole
/// value serialized.
pub(crate) fn to_payload<'js>(h: &Helpers<'js>, v: &Value<'js>, transfer: &[Value<'js>]) -> Result<Payload, CloneErr> {
    let mut s = Serializer { h, w: Writer::new(), memory: HashMap::default(), transfers: HashMap::default() };
    // 1. Each transferable is an ArrayBuffer, not shared, not detached, listed once.
    let mut slots = Vec::with_capacity(transfer.len());
    for t in transfer {
        let class_id = object_of(t).map(|o| {
            // SAFETY: a live object; only its class id is read.
            unsafe { qjs::JS_GetClassID(o.as_raw()) }
        });
        if class_id == Some(h.ids.shared_array_buffer) {
            return Err(uncloneable("a SharedArrayBuffer in the transfer list"));
        }
        if class_id != Some(h.ids.array_buffer) {
            return Err(CloneErr::Clone(CloneError::Uncloneable(
                "a transfer list entry that is not an ArrayBuffer".into(),
            )));
        }
        if s.transfers.contains_key(t) {
            return Err(uncloneable("an ArrayBuffer listed twice in the transfer list"));
        }
        if buffer_detached(h, t)? {
            return Err(uncloneable("a detached ArrayBuffer in the transfer list"));
        }
        // SAFETY: `t` is a live ArrayBuffer (class checked above).
        if unsafe { qjs::JS_IsImmutableArrayBuffer(t.as_raw()) } == 1 {
            return Err(uncloneable("an ArrayBuffer that cannot be detached"));
        }
        let slot = Transferred::empty();
        let index = s.w.reserve_transfer(slot.clone());
        s.transfers.insert(t.clone(), index);
        slots.push(slot);
    }
    // 2. Serialize; transferables are written as moved.
    s.write(v, 0)?;
    // 3. A getter may have detached one meanwhile: check all before moving any.
    for t in transfer {
        if buffer_detached(h, t)? {
            return Err(uncloneable("an ArrayBuffer in the transfer list, detached during the clone"));
        }
    }
    // 4. Move each buffer's bytes out and detach it.
    for (t, slot) in transfer.iter().zip(slots) {
        slot.fill(take_buffer(h, t)?);
    }
    Ok(s.w.finish())
}

fn buffer_detached<'js>(h: &Helpers<'js>, b: &Value<'js>) -> Result<bool, CloneErr> {
    let info: Array<'js> = h.funcs()?.buffer_info.call((b.clone(),))?;
    Ok(info.get(2)?)
}

/// Detaches an ArrayBuffer and returns its bytes: a large one's hz heap
/// block itself (no copy), a small one's (slab memory) copied. The caller
/// validated every buffer of the list first (detachable, not detached), so
/// a failure here (allocation) is the only way a list ends half moved.
fn take_buffer<'js>(h: &Helpers<'js>, b: &Value<'js>) -> Result<OwnedBuffer, CloneErr> {
    let info: Array<'js> = h.funcs()?.buffer_info.call((b.clone(),))?;
    let (resizable, max): (bool, f64) = (info.get(0)?, info.get(1)?);
    let max = resizable.then_some(max as usize);
    let ctx = b.ctx().as_raw().as_ptr();
    let raw = b.as_raw();
    let mut size: qjs::size_t = 0;
    // SAFETY: as above; JS_GetArrayBuffer returns its data and byte length
    // (null when detached, excluded by the caller's check).
    let data = unsafe { qjs::JS_GetArrayBuffer(ctx, &mut size, raw) };
    let len = size as usize;
    if data.is_null() {
        return Err(uncloneable("a detached ArrayBuffer in the transfer list"));
    }
    if crate::zero_copy() {
        // SAFETY: `data` is the live data of an ArrayBuffer of this (hz heap)
        // runtime, of `len` bytes, and the layout was probed.
        if let Some(block) = unsafe { alloc::large_block(data, len) } {
            alloc::keep_next_free(block.as_ptr());
            // SAFETY: a live, detachable ArrayBuffer; detaching frees its data
            // through the hz heap (arena) or adopted_realloc, both of which
            // skip the kept block.
            unsafe { qjs::JS_DetachArrayBuffer(ctx, raw) };
            if alloc::take_kept(block.as_ptr()) {
                // SAFETY: the free of `block` was skipped: nothing owns it but
                // us now, and its data is the buffer's `len` bytes.
                return Ok(unsafe { OwnedBuffer::from_raw(block, alloc::ARENA_HEADER, len, max) });
            }
            return Err(uncloneable("an ArrayBuffer whose memory could not be taken"));
        }
    }
    // SAFETY: `data` holds `len` bytes; they are copied before any JS runs.
    let bytes = unsafe { std::slice::from_raw_parts(data, len) };
    let owned = OwnedBuffer::copy_with_prefix(&alloc::ADOPTED_PREFIX, bytes, max)
        .ok_or(CloneErr::Clone(CloneError::TooLarge))?;
    // SAFETY: a live, detachable ArrayBuffer.
    unsafe { qjs::JS_DetachArrayBuffer(ctx, raw) };
    Ok(owned)
}

/// Deserializes one payload.
pub(crate) fn from_payload<'js>(ctx: &Ctx<'js>, h: &Helpers<'js>, p: &Payload) -> Result<Value<'js>, CloneErr> {
    let mut builder = Builder { keys: KeyAtoms::new(ctx), ctx: ctx.clone(), h };
    decode(p, &mut builder)
}

struct Serializer<'a, 'js> {
    h: &'a Helpers<'js>,
    w: Writer,
    /// Objects already written, by identity (a QuickJS `Value` hashes and
    /// compares by its raw JSValue, i.e. the object pointer).
    memory: HashMap<Value<'js>, u32, BuildIdentity>,
    /// ArrayBuffers of the transfer list, by identity, with their side-table slot.
    transfers: HashMap<Value<'js>, usize, BuildIdentity>,
}

/// The shared memory behind a SharedArrayBuffer of this runtime (a new
/// reference to it), or `None` if `v` is not one.
pub(crate) fn shared_memory(h: &Helpers<'_>, v: &Value<'_>) -> Option<hz_atomics::SharedMemory> {
    let o = object_of(v)?;
    // SAFETY: a live object; only its class id is read.
    if unsafe { qjs::JS_GetClassID(o.as_raw()) } != h.ids.shared_array_buffer {
        return None;
    }
    let mut size: qjs::size_t = 0;
    // SAFETY: a live SharedArrayBuffer; JS_GetArrayBuffer reads its data pointer.
    let data = unsafe { qjs::JS_GetArrayBuffer(v.ctx().as_raw().as_ptr(), &mut size, v.as_raw()) };
    if data.is_null() {
        return None;
    }
    // SAFETY: every SAB of an hz runtime points at SharedMemory (the
    // runtime's SAB hooks), and this object holds a reference to it.
    Some(unsafe { hz_atomics::SharedMemory::retain(data) })
}

fn uncloneable(what: &str) -> CloneErr {
    CloneErr::Clone(CloneError::Uncloneable(what.into()))
}

impl<'js> Serializer<'_, 'js> {
    fn write(&mut self, v: &Value<'js>, depth: usize) -> Result<(), CloneErr> {
        if let Some(obj) = object_of(v) {
            // SAFETY: a live object; only its class id is read.
            if unsafe { qjs::JS_GetClassID(obj.as_raw()) } == JS_CLASS_OBJECT {
                // An ordinary object: none of the kinds `type_of` sorts out.
                return self.object(v, depth);
            }
        }
        match v.type_of() {
            Type::Uninitialized | Type::Undefined => self.w.undefined(),
            Type::Null => self.w.null(),
            Type::Bool => self.w.boolean(v.as_bool().unwrap_or(false)),
            Type::Int => self.w.number(f64::from(v.as_int().unwrap_or(0))),
            Type::Float => self.w.number(v.as_float().unwrap_or(f64::NAN)),
            Type::String => self.string(v)?,
            Type::BigInt => self.bigint(v)?,
            Type::Symbol => return Err(uncloneable("Symbol")),
            Type::Function | Type::Constructor => return Err(uncloneable("function")),
            Type::Promise => return Err(uncloneable("Promise")),
            Type::Proxy => return Err(uncloneable("Proxy")),
            Type::Module => return Err(uncloneable("module")),
            Type::Object | Type::Array | Type::Exception => self.object(v, depth)?,
            _ => return Err(uncloneable("value")),
        }
        Ok(())
    }

    fn string(&mut self, v: &Value<'js>) -> Result<(), CloneErr> {
        // A one-byte string goes as it is (Latin-1): no scan, no UTF-8.
        if let Some(chars) = string8(v) {
            self.w.string_latin1(chars);
            return Ok(());
        }
        let w = &mut self.w;
        let written = with_text(v.ctx(), Text::Value(v.as_raw()), |bytes| {
            std::str::from_utf8(bytes).map(|s| w.string(s)).is_ok()
        })?;
        if !written {
            // Not valid UTF-8: a lone surrogate. Send the UTF-16 code units.
            self.w.string_utf16(&utf16_units(v)?);
        }
        Ok(())
    }

    fn bigint(&mut self, v: &Value<'js>) -> Result<(), CloneErr> {
        let hex: String = self.h.funcs()?.bigint_hex.call((v.clone(),))?;
        let (negative, digits) = match hex.strip_prefix('-') {
            Some(d) => (true, d),
            None => (false, hex.as_str()),
        };
        // Hex digits, most significant first -> little-endian bytes.
        let mut bytes = Vec::with_capacity(digits.len() / 2 + 1);
        let digits = digits.as_bytes();
        let mut end = digits.len();
        while end > 0 {
            let start = end.saturating_sub(2);
            let pair = std::str::from_utf8(&digits[start..end]).unwrap_or("0");
            bytes.push(u8::from_str_radix(pair, 16).unwrap_or(0));
            end = start;
        }
        self.w.bigint(negative, &bytes);
        Ok(())
    }

    fn remember(&mut self, v: &Value<'js>, id: u32) {
        self.memory.insert(v.clone(), id);
    }

    fn object(&mut self, v: &Value<'js>, depth: usize) -> Result<(), CloneErr> {
        Writer::check_depth(depth)?;
        if let Some(&id) = self.memory.get(v) {
            self.w.back_ref(id);
            return Ok(());
        }
        let obj = object_of(v).ok_or_else(|| uncloneable("value"))?;
        let raw = v.as_raw();
        // SAFETY: `raw` is a live value owned by `v` for this whole call;
        // only its class id is read.
        let class_id = unsafe { qjs::JS_GetClassID(raw) };
        if class_id == JS_CLASS_OBJECT {
            // The common case first: an ordinary object.
            let id = self.w.begin_object();
            self.remember(v, id);
            let keys = KeyList::own_enumerable(obj.ctx(), obj)?;
            self.properties(obj, &keys, depth, None)?;
            self.w.end();
            return Ok(());
        }
        // SAFETY: as above; these predicates only read its tag and class id.
        let (is_array, is_date, is_map, is_set, is_error, is_view, is_regexp) = unsafe {
            (
                qjs::JS_IsArray(raw),
                qjs::JS_IsDate(raw),
                qjs::JS_IsMap(raw),
                qjs::JS_IsSet(raw),
                qjs::JS_IsError(raw),
                qjs::JS_GetTypedArrayType(raw) >= 0 || qjs::JS_IsDataView(raw),
                qjs::JS_IsRegExp(raw),
            )
        };
        if class_id == self.h.ids.shared_array_buffer {
            return self.shared_array_buffer(v);
        }
        if self.h.ids.wrappers.contains(&class_id) {
            let id = self.w.begin_primitive_object();
            self.remember(v, id);
            // The prototypes' own valueOf (captured) read the wrapped value:
            // an instance whose valueOf was replaced still unwraps correctly.
            let primitive: Value<'js> = self.h.funcs()?.primitive_of.call((v.clone(),))?;
            return self.write(&primitive, depth + 1);
        }
        if is_regexp {
            let info: Array<'js> = self.h.funcs()?.regexp_info.call((v.clone(),))?;
            let source: Value<'js> = info.get(0)?;
            let flags: String = info.get(1)?;
            let source = match source.as_string().map(|s| s.to_string()) {
                Some(Ok(s)) => s,
                _ => String::from_utf16_lossy(&utf16_units(&source)?),
            };
            let id = self.w.regexp(&source, &flags);
            self.remember(v, id);
            return Ok(());
        }
        if is_array {
            return self.array(v, obj, depth);
        }
        if is_date {
            let t: f64 = self.h.funcs()?.date_value.call((v.clone(),))?;
            let id = self.w.date(t);
            self.remember(v, id);
            return Ok(());
        }
        if is_map || is_set {
            // Map: key, value, key, value...; Set: value, value...
            let (items, id): (Array<'js>, u32) = if is_map {
                (self.h.funcs()?.map_entries.call((v.clone(),))?, self.w.begin_map())
            } else {
                (self.h.funcs()?.set_values.call((v.clone(),))?, self.w.begin_set())
            };
            self.remember(v, id);
            for e in items.iter::<Value<'js>>() {
                self.write(&e?, depth + 1)?;
            }
            self.w.end();
            return Ok(());
        }
        if is_error {
            return self.error(v, depth);
        }
        if let Some(&slot) = self.transfers.get(v) {
            let id = self.w.transferred(slot);
            self.remember(v, id);
            return Ok(());
        }
        if class_id == self.h.ids.array_buffer {
            let info: Array<'js> = self.h.funcs()?.buffer_info.call((v.clone(),))?;
            let (resizable, max, detached): (bool, f64, bool) = (info.get(0)?, info.get(1)?, info.get(2)?);
            let ab = ArrayBuffer::from_object(obj.clone()).filter(|_| !detached);
            let Some(ab) = ab else { return Err(uncloneable("a detached ArrayBuffer")) };
            // SAFETY: the slice is copied into the writer at once; no
            // JavaScript runs while it is alive (HOSTILE.md #5).
            let bytes = unsafe { ab.as_bytes() }.ok_or_else(|| uncloneable("a detached ArrayBuffer"))?;
            let id =
                if resizable { self.w.resizable_array_buffer(bytes, max as u64) } else { self.w.array_buffer(bytes) };
            self.remember(v, id);
            return Ok(());
        }
        if is_view {
            let info: Array<'js> = self.h.funcs()?.view_info.call((v.clone(),))?;
            let name: String = info.get(0)?;
            let kind = ViewKind::from_constructor_name(&name).ok_or_else(|| uncloneable(&name))?;
            let buffer: Value<'js> = info.get(1)?;
            if info.get::<bool>(6)? {
                return Err(uncloneable("a view of a detached ArrayBuffer"));
            }
            if info.get::<bool>(5)? {
                return Err(uncloneable("a view out of bounds of its shrunk buffer"));
            }
            let offset: f64 = info.get(2)?;
            let length: f64 = info.get(3)?;
            let id = if info.get::<bool>(4)? {
                self.w.begin_tracking_view(kind, offset as u64)
            } else {
                self.w.begin_view(kind, offset as u64, length as u64)
            };
            self.remember(v, id);
            return self.write(&buffer, depth + 1);
        }
        // Last, after every builtin class: hz's own host objects.
        if let Some(ch) = Class::<JsChannel>::from_object(obj) {
            self.w.host(HostObject::new(ch.borrow().chan.clone()));
            return Ok(());
        }
        if class_id != JS_CLASS_OBJECT || obj.is_function() {
            return Err(uncloneable("this kind of object"));
        }
        let id = self.w.begin_object();
        self.remember(v, id);
        let keys = KeyList::own_enumerable(obj.ctx(), obj)?;
        self.properties(obj, &keys, depth, None)?;
        self.w.end();
        Ok(())
    }

    /// Own enumerable string keys, snapshotted, then each re-checked and read:
    /// one `JS_GetOwnProperty` gives both HasOwnProperty and, for a data
    /// property, the value (no user code); an accessor is read with [[Get]].
    /// With `skip`, index keys below it were already written as elements.
    fn properties(
        &mut self,
        obj: &Object<'js>,
        keys: &KeyList<'js>,
        depth: usize,
        skip: Option<u32>,
    ) -> Result<(), CloneErr> {
        let ctx = obj.ctx();
        for atom in keys.atoms() {
            if let Some(n) = skip
                && atom_index(ctx, atom)?.is_some_and(|i| i < n)
            {
                continue;
            }
            let Some(value) = own_property(ctx, obj, atom)? else { continue };
            self.key(ctx, atom)?;
            self.write(&value, depth + 1)?;
        }
        Ok(())
    }

    /// Writes a property key. QuickJS hands out a one-byte key's
    /// characters in place, so no cache is kept.
    fn key(&mut self, ctx: &Ctx<'js>, atom: qjs::JSAtom) -> Result<(), CloneErr> {
        if atom & ATOM_TAG_INT != 0 {
            self.w.string(&(atom & !ATOM_TAG_INT).to_string());
            return Ok(());
        }
        let mut len: qjs::size_t = 0;
        // SAFETY: `atom` is live (held by the caller's KeyList); the
        // characters are copied into the payload before anything can free it.
        let chars = unsafe { JS_HzAtom8(ctx.as_raw().as_ptr(), atom, &mut len) };
        if !chars.is_null() {
            // SAFETY: JS_HzAtom8 returned `len` characters of the live atom.
            self.w.string_latin1(unsafe { std::slice::from_raw_parts(chars, len as usize) });
            return Ok(());
        }
        let written =
            with_text(ctx, Text::Atom(atom), |bytes| std::str::from_utf8(bytes).map(|key| self.w.string(key)).is_ok())?;
        if !written {
            // Not valid UTF-8: a lone surrogate. Send the UTF-16 code units.
            // SAFETY: `atom` is live (held by the caller's KeyList);
            // JS_AtomToString returns a new owned value (or an exception).
            let key = unsafe { Value::from_raw(ctx.clone(), qjs::JS_AtomToString(ctx.as_raw().as_ptr(), atom)) };
            if key.is_exception() {
                return Err(CloneErr::Js(rquickjs::Error::Exception));
            }
            self.w.string_utf16(&utf16_units(&key)?);
        }
        Ok(())
    }

    fn array(&mut self, v: &Value<'js>, obj: &Object<'js>, depth: usize) -> Result<(), CloneErr> {
        let ctx = obj.ctx();
        let length: f64 = obj.get("length")?;
        let length = length as u32;
        // One snapshot of the keys serves the elements and the extra
        // properties (HTML snapshots them once, before any getter runs).
        let keys = KeyList::own_enumerable(ctx, obj)?;
        let mut present = Vec::with_capacity(keys.len as usize);
        for atom in keys.atoms() {
            if let Some(i) = atom_index(ctx, atom)? {
                present.push(i);
            }
        }
        if let Some(has) = Writer::dense_elements(length, present) {
            // Dense: every element, holes marked.
            let id = self.w.begin_dense_array(length);
            self.remember(v, id);
            for (i, has) in has.into_iter().enumerate() {
                if has {
                    let e: Value<'js> = obj.get(i as u32)?;
                    self.write(&e, depth + 1)?;
                } else {
                    self.w.hole();
                }
            }
            self.properties(obj, &keys, depth, Some(length))?;
        } else {
            // Sparse (`new Array(2**32 - 1)`): only what is there.
            let id = self.w.begin_sparse_array(length);
            self.remember(v, id);
            self.properties(obj, &keys, depth, None)?;
        }
        self.w.end();
        Ok(())
    }

    /// A SharedArrayBuffer travels as a new reference to its memory.
    fn shared_array_buffer(&mut self, v: &Value<'js>) -> Result<(), CloneErr> {
        let info: Array<'js> = self.h.funcs()?.sab_info.call((v.clone(),))?;
        let (growable, max, len): (bool, f64, f64) = (info.get(0)?, info.get(1)?, info.get(2)?);
        let memory = shared_memory(self.h, v).ok_or_else(|| uncloneable("a SharedArrayBuffer without memory"))?;
        // A growable one travels with its current length (another agent may
        // have grown it since this object last looked).
        let len = if growable { memory.observe_length(len as usize) as u64 } else { len as u64 };
        let id = self.w.shared_array_buffer(std::sync::Arc::new(memory), len, growable.then_some(max as u64));
        self.remember(v, id);
        Ok(())
    }

    fn error(&mut self, v: &Value<'js>, depth: usize) -> Result<(), CloneErr> {
        let info: Array<'js> = self.h.funcs()?.error_info.call((v.clone(),))?;
        let name: String = info.get(0)?;
        let message: Option<String> = info.get(1)?;
        let stack: Option<String> = info.get(2)?;
        let has_cause: bool = info.get(3)?;
        let props: Value<'js> = info.get(5)?;
        let has_props = !props.is_undefined();
        let id = self.w.begin_error(
            hz_clone::serializable_error_name(&name),
            message.as_deref(),
            stack.as_deref(),
            has_cause,
            has_props,
        );
        self.remember(v, id);
        if has_cause {
            let cause: Value<'js> = info.get(4)?;
            self.write(&cause, depth + 1)?;
        }
        if has_props {
            self.write(&props, depth + 1)?;
        }
        Ok(())
    }
}

/// A string's UTF-16 code units (exact, lone surrogates included).
fn utf16_units(v: &Value<'_>) -> Result<Vec<u16>, CloneErr> {
    let ctx = v.ctx().as_raw().as_ptr();
    let mut len: qjs::size_t = 0;
    // SAFETY: `v` is a live string; QuickJS returns a buffer of `len` code
    // units that we copy before freeing it with its matching free function.
    unsafe {
        let ptr = qjs::JS_ToCStringLenUTF16(ctx, &mut len, v.as_raw());
        if ptr.is_null() {
            return Err(CloneErr::Js(rquickjs::Error::Exception));
        }
        let units = std::slice::from_raw_parts(ptr, len as usize).to_vec();
        qjs::JS_FreeCStringUTF16(ctx, ptr);
        Ok(units)
    }
}

/// A one-byte string's characters (Latin-1), read in place while `v` lives.
fn string8<'a>(v: &'a Value<'_>) -> Option<&'a [u8]> {
    let mut len: qjs::size_t = 0;
    // SAFETY: only reads `v`'s tag and, for an 8-bit string, its header.
    let chars = unsafe { JS_HzString8(v.as_raw(), &mut len) };
    // SAFETY: the `len` characters belong to the string `v` holds, which
    // outlives the borrow.
    (!chars.is_null()).then(|| unsafe { std::slice::from_raw_parts(chars, len as usize) })
}

/// quickjs.c's `JS_ATOM_TAG_INT`: an atom with this bit is the integer
/// below it (an array index under 2^31), with no string behind it.
const ATOM_TAG_INT: u32 = 1 << 31;

/// The array index an atom names, if any.
fn atom_index(ctx: &Ctx<'_>, atom: qjs::JSAtom) -> Result<Option<u32>, CloneErr> {
    if atom & ATOM_TAG_INT != 0 {
        return Ok(Some(atom & !ATOM_TAG_INT));
    }
    // Indices from 2^31 to 2^32 - 2 are string atoms.
    with_text(ctx, Text::Atom(atom), |bytes| std::str::from_utf8(bytes).ok().and_then(hz_clone::array_index))
}

/// What [`with_text`] reads: a string atom or a string value.
enum Text {
    Atom(qjs::JSAtom),
    Value(qjs::JSValue),
}

/// Runs `f` on the UTF-8 text of a string atom or value (QuickJS's bytes:
/// ASCII without a copy; a lone surrogate is not valid UTF-8).
fn with_text<R>(ctx: &Ctx<'_>, text: Text, f: impl FnOnce(&[u8]) -> R) -> Result<R, CloneErr> {
    let p = ctx.as_raw().as_ptr();
    let mut len: qjs::size_t = 0;
    // SAFETY: the atom or string is live (held by the caller: a KeyList, a
    // Value); the bytes are read before the C string is freed with its
    // matching function.
    unsafe {
        let c = match text {
            Text::Atom(atom) => qjs::JS_AtomToCStringLen(p, &mut len, atom),
            Text::Value(v) => qjs::JS_ToCStringLen2(p, &mut len, v, false),
        };
        if c.is_null() {
            return Err(CloneErr::Js(rquickjs::Error::Exception));
        }
        let r = f(std::slice::from_raw_parts(c.cast::<u8>(), len as usize));
        qjs::JS_FreeCString(p, c);
        Ok(r)
    }
}

/// How many keys of an ordinary object a [`KeyList`] holds inline.
const INLINE_KEYS: usize = 16;

/// The own enumerable string-keyed property atoms of an object, owned
/// until dropped (a snapshot: later deletions do not change it).
struct KeyList<'js> {
    ctx: Ctx<'js>,
    /// JS_GetOwnPropertyNames's table; null if the keys are inline.
    tab: *mut qjs::JSPropertyEnum,
    len: u32,
    /// An ordinary object's keys read off its shape (the first `len`).
    inline: [qjs::JSAtom; INLINE_KEYS],
}

impl<'js> KeyList<'js> {
    fn own_enumerable(ctx: &Ctx<'js>, obj: &Object<'js>) -> Result<Self, CloneErr> {
        let mut inline = [qjs::JS_ATOM_NULL as qjs::JSAtom; INLINE_KEYS];
        // SAFETY: `obj` is a live object; QuickJS writes at most
        // INLINE_KEYS atoms, each a new reference we own, or none.
        let n = unsafe { JS_HzOwnKeys(ctx.as_raw().as_ptr(), obj.as_raw(), inline.as_mut_ptr(), INLINE_KEYS as i32) };
        if let Ok(len) = u32::try_from(n) {
            return Ok(KeyList { ctx: ctx.clone(), tab: std::ptr::null_mut(), len, inline });
        }
        let mut tab = std::ptr::null_mut();
        let mut len = 0u32;
        let flags = (qjs::JS_GPN_STRING_MASK | qjs::JS_GPN_ENUM_ONLY) as i32;
        // SAFETY: `obj` is a live ordinary object or array (no proxy, so no
        // trap runs); on success QuickJS hands us `len` entries to free.
        let r = unsafe { qjs::JS_GetOwnPropertyNames(ctx.as_raw().as_ptr(), &mut tab, &mut len, obj.as_raw(), flags) };
        if r < 0 {
            return Err(CloneErr::Js(rquickjs::Error::Exception));
        }
        Ok(KeyList { ctx: ctx.clone(), tab, len, inline: [qjs::JS_ATOM_NULL as qjs::JSAtom; INLINE_KEYS] })
    }

    fn atoms(&self) -> impl Iterator<Item = qjs::JSAtom> + '_ {
        let (inline, entries): (&[qjs::JSAtom], &[qjs::JSPropertyEnum]) = if self.tab.is_null() {
            (&self.inline[..self.len as usize], &[])
        } else {
            // SAFETY: QuickJS returned `len` initialised entries at `tab`.
            (&[], unsafe { std::slice::from_raw_parts(self.tab, self.len as usize) })
        };
        inline.iter().copied().chain(entries.iter().map(|e| e.atom))
    }
}

impl Drop for KeyList<'_> {
    fn drop(&mut self) {
        let p = self.ctx.as_raw().as_ptr();
        if self.tab.is_null() {
            for &atom in &self.inline[..self.len as usize] {
                // SAFETY: each inline atom is a reference we own, freed once.
                unsafe { qjs::JS_FreeAtom(p, atom) };
            }
            return;
        }
        // SAFETY: the table came from JS_GetOwnPropertyNames and is freed once.
        unsafe { qjs::JS_FreePropertyEnum(p, self.tab, self.len) }
    }
}

/// HasOwnProperty then [[Get]]: `None` if the property is gone (a getter
/// deleted it). A data property's value comes from the descriptor (no user
/// code); an accessor's getter runs through [[Get]].
fn own_property<'js>(ctx: &Ctx<'js>, obj: &Object<'js>, atom: qjs::JSAtom) -> Result<Option<Value<'js>>, CloneErr> {
    let p = ctx.as_raw().as_ptr();
    // An ordinary object's plain data property, read in place.
    let mut value = std::mem::MaybeUninit::<qjs::JSValue>::uninit();
    // SAFETY: a live object and a live atom; on 1 QuickJS wrote a new
    // reference to the value, which we then own.
    match unsafe { JS_HzGetOwnData(p, obj.as_raw(), atom, value.as_mut_ptr()) } {
        0 => return Ok(None),
        // SAFETY: written on 1 (above).
        1 => return Ok(Some(unsafe { Value::from_raw(ctx.clone(), value.assume_init()) })),
        _ => {}
    }
    let mut desc = std::mem::MaybeUninit::<qjs::JSPropertyDescriptor>::uninit();
    // SAFETY: a live ordinary object and a live atom; on 1 QuickJS filled
    // `desc`, whose three values we then own (wrapped below, so freed).
    unsafe {
        let r = qjs::JS_GetOwnProperty(p, desc.as_mut_ptr(), obj.as_raw(), atom);
        if r < 0 {
            return Err(CloneErr::Js(rquickjs::Error::Exception));
        }
        if r == 0 {
            return Ok(None);
        }
        let d = desc.assume_init();
        let value = Value::from_raw(ctx.clone(), d.value);
        let getter = Value::from_raw(ctx.clone(), d.getter);
        drop(Value::from_raw(ctx.clone(), d.setter));
        if d.flags & qjs::JS_PROP_GETSET as i32 == 0 {
            return Ok(Some(value));
        }
        drop((value, getter));
        let v = Value::from_raw(ctx.clone(), qjs::JS_GetProperty(p, obj.as_raw(), atom));
        if v.is_exception() {
            return Err(CloneErr::Js(rquickjs::Error::Exception));
        }
        Ok(Some(v))
    }
}

struct Builder<'a, 'js> {
    keys: KeyAtoms,
    ctx: Ctx<'js>,
    h: &'a Helpers<'js>,
}

/// The longest key [`KeyAtoms`] keeps.
const KEY_MAX: usize = 22;
/// How many keys [`KeyAtoms`] keeps (a power of two).
const KEY_SLOTS: usize = 64;
/// How many keys a decode defines before [`KeyAtoms`] starts keeping them:
/// a small message would pay more for the table than it saves.
const KEY_WARMUP: u32 = 32;

/// The atoms of the short property keys one decode has defined, by a hash
/// of their text. Keys repeat from object to object (1,000 objects of one
/// shape have 3 keys between them), and making an atom hashes the text and
/// looks it up in the runtime's table every time. Each kept atom is freed
/// when it is replaced or the decode ends.
struct KeyAtoms {
    ctx: *mut qjs::JSContext,
    /// Keys defined so far, up to [`KEY_WARMUP`].
    seen: u32,
    /// Empty until [`KEY_WARMUP`] keys have been defined.
    slots: Vec<KeySlot>,
}

#[derive(Clone, Copy)]
struct KeySlot {
    len: u8,
    text: [u8; KEY_MAX],
    /// `JS_ATOM_NULL` in an empty slot.
    atom: qjs::JSAtom,
}

impl KeyAtoms {
    fn new(ctx: &Ctx<'_>) -> Self {
        KeyAtoms { ctx: ctx.as_raw().as_ptr(), seen: 0, slots: Vec::new() }
    }

    /// Runs `f` with the atom of `key` (valid during the call).
    fn with_atom<R>(&mut self, key: &str, f: impl FnOnce(qjs::JSAtom) -> R) -> Result<R, CloneErr> {
        let bytes = key.as_bytes();
        if self.seen < KEY_WARMUP {
            self.seen += 1;
        }
        if bytes.len() > KEY_MAX || self.seen < KEY_WARMUP {
            let atom = self.make(bytes)?;
            let r = f(atom);
            // SAFETY: `atom` was made above and is not used again.
            unsafe { qjs::JS_FreeAtom(self.ctx, atom) };
            return Ok(r);
        }
        if self.slots.is_empty() {
            let empty = KeySlot { len: 0, text: [0; KEY_MAX], atom: qjs::JS_ATOM_NULL as qjs::JSAtom };
            self.slots = vec![empty; KEY_SLOTS];
        }
        let mut h = bytes.len() as u32;
        for &b in bytes {
            h = (h.rotate_left(5) ^ u32::from(b)).wrapping_mul(0x9e37_79b9);
        }
        let i = (h >> (32 - KEY_SLOTS.trailing_zeros())) as usize;
        let slot = self.slots[i];
        if slot.atom != qjs::JS_ATOM_NULL as qjs::JSAtom && &slot.text[..usize::from(slot.len)] == bytes {
            return Ok(f(slot.atom));
        }
        let atom = self.make(bytes)?;
        if slot.atom != qjs::JS_ATOM_NULL as qjs::JSAtom {
            // SAFETY: the slot owned this atom; it is replaced below.
            unsafe { qjs::JS_FreeAtom(self.ctx, slot.atom) };
        }
        let mut text = [0; KEY_MAX];
        text[..bytes.len()].copy_from_slice(bytes);
        self.slots[i] = KeySlot { len: bytes.len() as u8, text, atom };
        Ok(f(atom))
    }

    /// A new atom for the UTF-8 text `bytes`.
    fn make(&self, bytes: &[u8]) -> Result<qjs::JSAtom, CloneErr> {
        // SAFETY: `ctx` is the decode's live context; the text is copied.
        let atom = unsafe { qjs::JS_NewAtomLen(self.ctx, bytes.as_ptr().cast(), bytes.len() as _) };
        if atom == qjs::JS_ATOM_NULL as qjs::JSAtom {
            return Err(CloneErr::Js(rquickjs::Error::Exception));
        }
        Ok(atom)
    }
}

impl Drop for KeyAtoms {
    fn drop(&mut self) {
        for slot in &self.slots {
            if slot.atom != qjs::JS_ATOM_NULL as qjs::JSAtom {
                // SAFETY: each kept atom is owned by its slot, freed once,
                // while the context lives (the Builder holds it).
                unsafe { qjs::JS_FreeAtom(self.ctx, slot.atom) };
            }
        }
    }
}

impl From<CloneErr> for rquickjs::Error {
    fn from(_: CloneErr) -> Self {
        rquickjs::Error::Unknown
    }
}

fn as_object<'a, 'js>(v: &'a Value<'js>) -> Result<&'a Object<'js>, CloneErr> {
    object_of(v).ok_or(CloneErr::Decode(DecodeError::Malformed("expected an object")))
}

/// `v` as an object, if it is one, from its tag alone. rquickjs's
/// `Value::as_object` first classifies the value (array, constructor,
/// function, promise, error, proxy: six calls into QuickJS), which costs
/// more than defining a property.
pub(crate) fn object_of<'a, 'js>(v: &'a Value<'js>) -> Option<&'a Object<'js>> {
    // SAFETY: every value tagged JS_TAG_OBJECT is an rquickjs `Object`
    // (which wraps any object, whatever its class).
    v.is_object().then(|| unsafe { v.ref_object() })
}

/// CreateDataProperty: an own, writable, enumerable, configurable data
/// property; never a setter, and `__proto__` stays an ordinary key.
fn data_property<'js>(target: &Value<'js>, key: DataKey, value: Value<'js>) -> Result<(), CloneErr> {
    let obj = as_object(target)?;
    let p = obj.ctx().as_raw().as_ptr();
    let flags = (qjs::JS_PROP_CONFIGURABLE | qjs::JS_PROP_WRITABLE | qjs::JS_PROP_ENUMERABLE) as i32;
    // SAFETY: `obj` is a live object of this context; JS_DefinePropertyValue*
    // take a new reference to the value (`value` drops its own); an atom
    // made here is freed once used.
    let r = unsafe {
        match key {
            // Appended straight to a fast array, added straight to a fresh
            // object's shape (the decoder's own arrays and objects), else
            // defined through JS_DefinePropertyValue*.
            DataKey::Index(i) => JS_HzDefineIndex(p, obj.as_raw(), i, qjs::JS_DupValue(p, value.as_raw())),
            DataKey::Atom(atom) => JS_HzDefineData(p, obj.as_raw(), atom, qjs::JS_DupValue(p, value.as_raw())),
            DataKey::String(k) => {
                let atom = qjs::JS_ValueToAtom(p, k);
                if atom == qjs::JS_ATOM_NULL as qjs::JSAtom {
                    return Err(CloneErr::Js(rquickjs::Error::Exception));
                }
                let r = qjs::JS_DefinePropertyValue(p, obj.as_raw(), atom, qjs::JS_DupValue(p, value.as_raw()), flags);
                qjs::JS_FreeAtom(p, atom);
                r
            }
        }
    };
    if r < 0 {
        return Err(CloneErr::Js(rquickjs::Error::Exception));
    }
    Ok(())
}

/// A property key the decoder defines.
enum DataKey {
    Index(u32),
    /// Held by the caller.
    Atom(qjs::JSAtom),
    /// A string value (UTF-16 text, maybe with a lone surrogate), held by
    /// the caller.
    String(qjs::JSValue),
}

impl<'js> Sink for Builder<'_, 'js> {
    type Value = Value<'js>;
    type Error = CloneErr;

    fn undefined(&mut self) -> Result<Value<'js>, CloneErr> {
        Ok(Value::new_undefined(self.ctx.clone()))
    }
    fn null(&mut self) -> Result<Value<'js>, CloneErr> {
        Ok(Value::new_null(self.ctx.clone()))
    }
    fn boolean(&mut self, b: bool) -> Result<Value<'js>, CloneErr> {
        Ok(Value::new_bool(self.ctx.clone(), b))
    }
    fn number(&mut self, n: f64) -> Result<Value<'js>, CloneErr> {
        // Not `Value::new_number`: it narrows -0 to the int 0.
        let i = n as i32;
        if f64::from(i) == n && !(n == 0.0 && n.is_sign_negative()) {
            Ok(Value::new_int(self.ctx.clone(), i))
        } else {
            Ok(Value::new_float(self.ctx.clone(), n))
        }
    }
    fn bigint(&mut self, negative: bool, magnitude_le: &[u8]) -> Result<Value<'js>, CloneErr> {
        let mut hex = String::with_capacity(magnitude_le.len() * 2 + 1);
        for b in magnitude_le.iter().rev() {
            hex.push_str(&format!("{b:02x}"));
        }
        if hex.is_empty() {
            hex.push('0');
        }
        Ok(self.h.funcs()?.new_bigint.call((hex, negative))?)
    }
    fn string(&mut self, s: JsStr<'_>) -> Result<Value<'js>, CloneErr> {
        match s {
            JsStr::Utf8(s) => Ok(rquickjs::String::from_str(self.ctx.clone(), s)?.into_value()),
            JsStr::Latin1(chars) => {
                let ctx = self.ctx.as_raw().as_ptr();
                // SAFETY: `chars` is a valid buffer of `len` bytes that
                // QuickJS copies; the result is a new owned value (or an
                // exception).
                let v = unsafe {
                    Value::from_raw(self.ctx.clone(), JS_HzNewString8(ctx, chars.as_ptr(), chars.len() as _))
                };
                if v.is_exception() {
                    return Err(CloneErr::Js(rquickjs::Error::Exception));
                }
                Ok(v)
            }
            JsStr::Utf16(bytes) => {
                let units: Vec<u16> = bytes.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
                let ctx = self.ctx.as_raw().as_ptr();
                // SAFETY: `units` is a valid buffer of `len` code units that
                // QuickJS copies; the returned value is owned by us (from_raw).
                let v = unsafe { qjs::JS_NewStringUTF16(ctx, units.as_ptr(), units.len() as _) };
                // SAFETY: JS_NewStringUTF16 returns a new owned value (or an exception).
                let v = unsafe { Value::from_raw(self.ctx.clone(), v) };
                if v.is_exception() {
                    return Err(CloneErr::Js(rquickjs::Error::Exception));
                }
                Ok(v)
            }
        }
    }
    fn object(&mut self) -> Result<Value<'js>, CloneErr> {
        Ok(Object::new(self.ctx.clone())?.into_value())
    }
    fn array(&mut self, length: u32, _dense: bool) -> Result<Value<'js>, CloneErr> {
        let a = Array::new(self.ctx.clone())?;
        a.as_object().set("length", f64::from(length))?;
        Ok(a.into_value())
    }
    fn define(&mut self, target: &Value<'js>, key: JsStr<'_>, value: Value<'js>) -> Result<(), CloneErr> {
        match key {
            JsStr::Utf8(k) => self.keys.with_atom(k, |atom| data_property(target, DataKey::Atom(atom), value))?,
            // Latin-1 above U+007F, or UTF-16 that may hold a lone
            // surrogate: the key is the exact JS string.
            other => {
                let key = self.string(other)?;
                data_property(target, DataKey::String(key.as_raw()), value)
            }
        }
    }
    fn define_index(&mut self, target: &Value<'js>, index: u32, value: Value<'js>) -> Result<(), CloneErr> {
        data_property(target, DataKey::Index(index), value)
    }
    fn date(&mut self, time: f64) -> Result<Value<'js>, CloneErr> {
        Ok(self.h.funcs()?.new_date.call((time,))?)
    }
    fn map(&mut self) -> Result<Value<'js>, CloneErr> {
        Ok(self.h.funcs()?.new_map.call(())?)
    }
    fn map_set(&mut self, map: &Value<'js>, key: Value<'js>, value: Value<'js>) -> Result<(), CloneErr> {
        self.h.funcs()?.map_set.call::<_, ()>((map.clone(), key, value))?;
        Ok(())
    }
    fn set(&mut self) -> Result<Value<'js>, CloneErr> {
        Ok(self.h.funcs()?.new_set.call(())?)
    }
    fn set_add(&mut self, set: &Value<'js>, value: Value<'js>) -> Result<(), CloneErr> {
        self.h.funcs()?.set_add.call::<_, ()>((set.clone(), value))?;
        Ok(())
    }
    fn array_buffer(&mut self, bytes: &[u8]) -> Result<Value<'js>, CloneErr> {
        Ok(ArrayBuffer::new_copy(self.ctx.clone(), bytes)?.into_value())
    }
    fn resizable_array_buffer(&mut self, bytes: &[u8], max_byte_length: usize) -> Result<Value<'js>, CloneErr> {
        let copy = ArrayBuffer::new_copy(self.ctx.clone(), bytes)?;
        Ok(self.h.funcs()?.new_resizable.call((copy, max_byte_length as f64))?)
    }
    fn view(
        &mut self,
        kind: ViewKind,
        buffer: &Value<'js>,
        byte_offset: usize,
        length: Option<usize>,
    ) -> Result<Value<'js>, CloneErr> {
        let name = kind.constructor_name();
        Ok(self.h.funcs()?.new_view.call((name, buffer.clone(), byte_offset as f64, length.map(|l| l as f64)))?)
    }
    fn primitive_object(&mut self, primitive: Value<'js>) -> Result<Value<'js>, CloneErr> {
        Ok(self.h.funcs()?.new_primitive_object.call((primitive,))?)
    }
    fn regexp(&mut self, source: JsStr<'_>, flags: &str) -> Result<Value<'js>, CloneErr> {
        let source = self.string(source)?;
        Ok(self.h.funcs()?.new_regexp.call((source, flags))?)
    }
    fn error(&mut self, f: ErrorFields<Value<'js>>) -> Result<Value<'js>, CloneErr> {
        Ok(self.h.funcs()?.new_error.call((f.name, f.message, f.stack))?)
    }
    fn error_cause(&mut self, error: &Value<'js>, cause: Value<'js>) -> Result<(), CloneErr> {
        as_object(error)?.prop("cause", Property::from(cause).writable().configurable())?;
        Ok(())
    }
    fn error_props(&mut self, error: &Value<'js>, props: Value<'js>) -> Result<(), CloneErr> {
        Ok(self.h.funcs()?.set_error_props.call((error.clone(), props))?)
    }
    fn transferred(&mut self, t: &Transferred) -> Result<Value<'js>, CloneErr> {
        let buffer =
            t.take().ok_or(CloneErr::Decode(DecodeError::Malformed("a transferred buffer was already received")))?;
        let max = buffer.max_len();
        if max == Some(0) {
            // JS_NewArrayBuffer reads a zero maximum as "not resizable".
            return self.resizable_array_buffer(&[], 0);
        }
        // Adopted buffers keep the marker prefix (see alloc.rs): re-layout
        // bytes that arrive without it (from Rust or another engine).
        let buffer = if buffer_has_prefix(&buffer) {
            buffer
        } else {
            OwnedBuffer::copy_with_prefix(&alloc::ADOPTED_PREFIX, buffer.as_slice(), max)
                .ok_or(CloneErr::Clone(CloneError::TooLarge))?
        };
        let (block, offset, len) = buffer
            .into_raw()
            .map_err(|_| CloneErr::Decode(DecodeError::Malformed("a transferred buffer without a block")))?;
        debug_assert_eq!(offset, alloc::ARENA_HEADER);
        let meter = crate::natives::data(&self.ctx).meter;
        let ctx = self.ctx.as_raw().as_ptr();
        // SAFETY: `block` is an hz heap block we own, with `len` bytes at
        // `offset` (ARENA_HEADER); the new ArrayBuffer takes ownership and
        // releases it through adopted_realloc (which finds the block
        // ARENA_HEADER before the data, and counts it against the agent's
        // heap limit through the meter, the opaque). On failure QuickJS has
        // not taken it.
        let v = unsafe {
            let data = block.as_ptr().add(offset);
            let v = qjs::JS_NewArrayBuffer(
                ctx,
                data,
                len as _,
                max.unwrap_or(0) as _,
                Some(alloc::adopted_realloc),
                meter.opaque(),
                false,
            );
            Value::from_raw(self.ctx.clone(), v)
        };
        if v.is_exception() {
            // SAFETY: QuickJS did not adopt the block; it is still ours alone.
            unsafe { hz_atomics::heap::free(block.as_ptr()) };
            return Err(CloneErr::Js(rquickjs::Error::Exception));
        }
        // SAFETY: the agent's own meter; the block is the buffer's, alive.
        unsafe { meter.hold_block(block.as_ptr()) };
        Ok(v)
    }
    fn shared_array_buffer(
        &mut self,
        memory: &std::sync::Arc<hz_atomics::SharedMemory>,
        byte_length: usize,
        max_byte_length: Option<usize>,
    ) -> Result<Value<'js>, CloneErr> {
        if max_byte_length == Some(0) {
            // A growable SAB of maximum 0 cannot say so through JS_NewArrayBuffer.
            return Err(CloneErr::Clone(CloneError::Uncloneable("a growable SharedArrayBuffer of maximum 0".into())));
        }
        let byte_length = match max_byte_length {
            Some(_) => memory.observe_length(byte_length),
            None => byte_length.min(memory.capacity()),
        };
        let ctx = self.ctx.as_raw().as_ptr();
        // SAFETY: the memory outlives this call (we hold a reference); QuickJS
        // takes its own reference through the runtime's sab_dup hook.
        let v = unsafe {
            let v = qjs::JS_NewArrayBuffer(
                ctx,
                memory.as_ptr(),
                byte_length as _,
                max_byte_length.unwrap_or(0) as _,
                None,
                std::ptr::null_mut(),
                true,
            );
            Value::from_raw(self.ctx.clone(), v)
        };
        if v.is_exception() {
            return Err(CloneErr::Js(rquickjs::Error::Exception));
        }
        Ok(v)
    }
    fn host(&mut self, object: &HostObject) -> Result<Value<'js>, CloneErr> {
        match object.downcast::<PayloadChan>() {
            Some(chan) => Ok(Class::instance(self.ctx.clone(), JsChannel { chan })?.into_value()),
            None => Err(CloneErr::Clone(CloneError::Uncloneable("an unknown host object".into()))),
        }
    }
}
