//! The wire format: a header, then one value, tag byte first. See `FORMAT.md`.

use std::sync::Arc;

use crate::{CloneError, DecodeError, HostObject, Payload, Transferred};

/// The format version written in every header. A reader rejects other versions.
pub const VERSION: u8 = 1;
const MAGIC: [u8; 2] = *b"hz";

/// How deep values may nest, when writing and when reading. Deeper input is a
/// clean error (DataCloneError / [`DecodeError::TooDeep`]), never a native
/// stack overflow.
pub const MAX_DEPTH: usize = 2048;

pub(crate) mod tag {
    pub(crate) const UNDEFINED: u8 = 0x00;
    pub(crate) const NULL: u8 = 0x01;
    pub(crate) const FALSE: u8 = 0x02;
    pub(crate) const TRUE: u8 = 0x03;
    pub(crate) const INT: u8 = 0x04;
    pub(crate) const DOUBLE: u8 = 0x05;
    pub(crate) const BIGINT: u8 = 0x06;
    pub(crate) const UTF8: u8 = 0x07;
    pub(crate) const UTF16: u8 = 0x08;
    pub(crate) const HOLE: u8 = 0x09;
    pub(crate) const LATIN1: u8 = 0x0a;
    pub(crate) const OBJECT: u8 = 0x10;
    pub(crate) const DENSE_ARRAY: u8 = 0x11;
    pub(crate) const SPARSE_ARRAY: u8 = 0x12;
    pub(crate) const DATE: u8 = 0x13;
    pub(crate) const MAP: u8 = 0x14;
    pub(crate) const SET: u8 = 0x15;
    pub(crate) const ARRAY_BUFFER: u8 = 0x16;
    pub(crate) const VIEW: u8 = 0x17;
    pub(crate) const ERROR: u8 = 0x18;
    pub(crate) const BACK_REF: u8 = 0x19;
    pub(crate) const HOST: u8 = 0x1a;
    pub(crate) const PRIMITIVE_OBJECT: u8 = 0x1b;
    pub(crate) const REGEXP: u8 = 0x1c;
    pub(crate) const RESIZABLE_ARRAY_BUFFER: u8 = 0x1d;
    pub(crate) const TRACKING_VIEW: u8 = 0x1e;
    pub(crate) const END: u8 = 0x1f;
    pub(crate) const TRANSFERRED: u8 = 0x20;
    pub(crate) const SHARED_ARRAY_BUFFER: u8 = 0x21;
}

/// The kind of an ArrayBuffer view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
#[allow(missing_docs)]
pub enum ViewKind {
    Int8 = 0,
    Uint8 = 1,
    Uint8Clamped = 2,
    Int16 = 3,
    Uint16 = 4,
    Int32 = 5,
    Uint32 = 6,
    Float16 = 7,
    Float32 = 8,
    Float64 = 9,
    BigInt64 = 10,
    BigUint64 = 11,
    DataView = 12,
}

impl ViewKind {
    /// Every kind, in tag order.
    pub const ALL: [ViewKind; 13] = [
        ViewKind::Int8,
        ViewKind::Uint8,
        ViewKind::Uint8Clamped,
        ViewKind::Int16,
        ViewKind::Uint16,
        ViewKind::Int32,
        ViewKind::Uint32,
        ViewKind::Float16,
        ViewKind::Float32,
        ViewKind::Float64,
        ViewKind::BigInt64,
        ViewKind::BigUint64,
        ViewKind::DataView,
    ];

    /// Bytes per element (1 for DataView, whose length is in bytes).
    pub fn element_size(self) -> usize {
        match self {
            ViewKind::Int8 | ViewKind::Uint8 | ViewKind::Uint8Clamped | ViewKind::DataView => 1,
            ViewKind::Int16 | ViewKind::Uint16 | ViewKind::Float16 => 2,
            ViewKind::Int32 | ViewKind::Uint32 | ViewKind::Float32 => 4,
            ViewKind::Float64 | ViewKind::BigInt64 | ViewKind::BigUint64 => 8,
        }
    }

    /// The JavaScript constructor name (`"Uint8Array"`, `"DataView"`...).
    pub fn constructor_name(self) -> &'static str {
        match self {
            ViewKind::Int8 => "Int8Array",
            ViewKind::Uint8 => "Uint8Array",
            ViewKind::Uint8Clamped => "Uint8ClampedArray",
            ViewKind::Int16 => "Int16Array",
            ViewKind::Uint16 => "Uint16Array",
            ViewKind::Int32 => "Int32Array",
            ViewKind::Uint32 => "Uint32Array",
            ViewKind::Float16 => "Float16Array",
            ViewKind::Float32 => "Float32Array",
            ViewKind::Float64 => "Float64Array",
            ViewKind::BigInt64 => "BigInt64Array",
            ViewKind::BigUint64 => "BigUint64Array",
            ViewKind::DataView => "DataView",
        }
    }

    /// The kind whose [`ViewKind::constructor_name`] is `name`.
    pub fn from_constructor_name(name: &str) -> Option<ViewKind> {
        Self::ALL.into_iter().find(|k| k.constructor_name() == name)
    }

    fn from_u8(b: u8) -> Option<ViewKind> {
        Self::ALL.get(usize::from(b)).copied()
    }
}

/// A string as it sits in the wire: UTF-8, Latin-1 (an engine's one-byte
/// string, copied as it is), or UTF-16 code units (little endian bytes) for
/// strings with lone surrogates.
#[derive(Debug, Clone, Copy)]
pub enum JsStr<'a> {
    /// Well-formed text.
    Utf8(&'a str),
    /// Latin-1: each byte is the code point U+0000 to U+00FF.
    Latin1(&'a [u8]),
    /// UTF-16 code units as little-endian byte pairs (may hold lone surrogates).
    Utf16(&'a [u8]),
}

impl JsStr<'_> {
    /// The string as Rust text, lone surrogates replaced by U+FFFD.
    pub fn to_string_lossy(&self) -> String {
        match self {
            JsStr::Utf8(s) => (*s).to_owned(),
            JsStr::Latin1(b) => b.iter().map(|&c| char::from(c)).collect(),
            JsStr::Utf16(b) => {
                let units = b.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]]));
                char::decode_utf16(units).map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER)).collect()
            }
        }
    }
}

/// The parts of a serialized Error.
#[derive(Debug, Clone)]
pub struct ErrorFields<S> {
    /// `name`: one of the standard error names (or `LimitError`), as
    /// [`serializable_error_name`] makes it (a value built in Rust may carry
    /// another).
    pub name: String,
    /// `message`, if it was an own data property.
    pub message: Option<String>,
    /// `stack`, if the engine provided one.
    pub stack: Option<String>,
    /// `cause`, decoded (set after the error object exists, so it may refer back to it).
    pub cause: Option<S>,
    /// A custom error's own properties, as a plain object (set after `cause`).
    pub props: Option<S>,
}

/// Writes one value in the wire format. Object-like values get ids in the
/// order they are written; a backend keeps its own identity map and writes
/// [`Writer::back_ref`] for an object it has seen.
pub struct Writer {
    buf: Vec<u8>,
    hosts: Vec<HostObject>,
    next_id: u32,
}

impl Default for Writer {
    fn default() -> Self {
        Self::new()
    }
}

impl Writer {
    /// A writer with the header already written.
    pub fn new() -> Self {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(&MAGIC);
        buf.push(VERSION);
        Writer { buf, hosts: Vec::new(), next_id: 0 }
    }

    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    fn take_id(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// `undefined`.
    pub fn undefined(&mut self) {
        self.buf.push(tag::UNDEFINED);
    }
    /// `null`.
    pub fn null(&mut self) {
        self.buf.push(tag::NULL);
    }
    /// A boolean primitive.
    pub fn boolean(&mut self, b: bool) {
        self.buf.push(if b { tag::TRUE } else { tag::FALSE });
    }
    /// An array hole (only inside a dense array).
    pub fn hole(&mut self) {
        self.buf.push(tag::HOLE);
    }
    /// A number primitive; small integers are written compactly, `-0` and NaN exactly.
    pub fn number(&mut self, n: f64) {
        let i = n as i32;
        if f64::from(i) == n && !(n == 0.0 && n.is_sign_negative()) {
            self.buf.push(tag::INT);
            let zz = ((i << 1) ^ (i >> 31)) as u32;
            self.varint(u64::from(zz));
        } else {
            self.buf.push(tag::DOUBLE);
            self.buf.extend_from_slice(&n.to_le_bytes());
        }
    }
    /// A BigInt primitive: sign and little-endian magnitude bytes.
    pub fn bigint(&mut self, negative: bool, magnitude_le: &[u8]) {
        let len = magnitude_le.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
        self.buf.push(tag::BIGINT);
        self.buf.push(u8::from(negative && len > 0));
        self.varint(len as u64);
        self.buf.extend_from_slice(&magnitude_le[..len]);
    }
    /// A string primitive (or a property key).
    pub fn string(&mut self, s: &str) {
        self.buf.push(tag::UTF8);
        self.varint(s.len() as u64);
        self.buf.extend_from_slice(s.as_bytes());
    }
    /// A string given as Latin-1 characters (an engine's one-byte string:
    /// each byte is one code point below U+0100). Copied as it is, with no
    /// scan or conversion on either side.
    pub fn string_latin1(&mut self, chars: &[u8]) {
        self.buf.push(tag::LATIN1);
        self.varint(chars.len() as u64);
        self.buf.extend_from_slice(chars);
    }
    /// A string given as UTF-16 code units (may hold lone surrogates).
    pub fn string_utf16(&mut self, units: &[u16]) {
        self.buf.push(tag::UTF16);
        self.varint(units.len() as u64);
        self.buf.reserve(units.len() * 2);
        for u in units {
            self.buf.extend_from_slice(&u.to_le_bytes());
        }
    }
    /// Starts a plain object; follow with key/value pairs and [`Writer::end`]. Returns its id.
    pub fn begin_object(&mut self) -> u32 {
        self.buf.push(tag::OBJECT);
        self.take_id()
    }
    /// Starts a dense array of `length` elements (each a value or [`Writer::hole`]),
    /// then extra key/value pairs and [`Writer::end`]. Returns its id.
    pub fn begin_dense_array(&mut self, length: u32) -> u32 {
        self.buf.push(tag::DENSE_ARRAY);
        self.varint(u64::from(length));
        self.take_id()
    }
    /// Starts a sparse array: `length`, then key/value pairs and [`Writer::end`]. Returns its id.
    pub fn begin_sparse_array(&mut self, length: u32) -> u32 {
        self.buf.push(tag::SPARSE_ARRAY);
        self.varint(u64::from(length));
        self.take_id()
    }
    /// Starts a Map; follow with key, value, key, value... and [`Writer::end`]. Returns its id.
    pub fn begin_map(&mut self) -> u32 {
        self.buf.push(tag::MAP);
        self.take_id()
    }
    /// Starts a Set; follow with values and [`Writer::end`]. Returns its id.
    pub fn begin_set(&mut self) -> u32 {
        self.buf.push(tag::SET);
        self.take_id()
    }
    /// Ends an object, array, Map or Set.
    pub fn end(&mut self) {
        self.buf.push(tag::END);
    }
    /// A Date with its time value. Returns its id.
    pub fn date(&mut self, time: f64) -> u32 {
        self.buf.push(tag::DATE);
        self.buf.extend_from_slice(&time.to_le_bytes());
        self.take_id()
    }
    /// An ArrayBuffer, copied. Returns its id.
    pub fn array_buffer(&mut self, bytes: &[u8]) -> u32 {
        self.buf.push(tag::ARRAY_BUFFER);
        self.varint(bytes.len() as u64);
        self.buf.extend_from_slice(bytes);
        self.take_id()
    }
    /// Starts a typed array or DataView; follow with its buffer (an ArrayBuffer or a back reference).
    /// `length` counts elements (bytes for a DataView). Returns its id.
    pub fn begin_view(&mut self, kind: ViewKind, byte_offset: u64, length: u64) -> u32 {
        self.buf.push(tag::VIEW);
        self.buf.push(kind as u8);
        self.varint(byte_offset);
        self.varint(length);
        self.take_id()
    }
    /// Starts an Error; when `has_cause`, follow with the cause value, then
    /// when `has_props`, with a plain object of its other own properties
    /// (a custom error's `code`...). Returns its id.
    pub fn begin_error(
        &mut self,
        name: &str,
        message: Option<&str>,
        stack: Option<&str>,
        has_cause: bool,
        has_props: bool,
    ) -> u32 {
        self.buf.push(tag::ERROR);
        let flags = u8::from(message.is_some())
            | (u8::from(stack.is_some()) << 1)
            | (u8::from(has_cause) << 2)
            | (u8::from(has_props) << 3);
        self.buf.push(flags);
        self.string(name);
        if let Some(m) = message {
            self.string(m);
        }
        if let Some(s) = stack {
            self.string(s);
        }
        self.take_id()
    }
    /// A Boolean, Number, String or BigInt wrapper object; follow with its
    /// primitive value. Returns its id.
    pub fn begin_primitive_object(&mut self) -> u32 {
        self.buf.push(tag::PRIMITIVE_OBJECT);
        self.take_id()
    }
    /// A RegExp by its source and flags. Returns its id.
    pub fn regexp(&mut self, source: &str, flags: &str) -> u32 {
        self.buf.push(tag::REGEXP);
        self.string(source);
        self.string(flags);
        self.take_id()
    }
    /// A resizable ArrayBuffer, copied, with its `maxByteLength`. Returns its id.
    pub fn resizable_array_buffer(&mut self, bytes: &[u8], max_byte_length: u64) -> u32 {
        self.buf.push(tag::RESIZABLE_ARRAY_BUFFER);
        self.varint(bytes.len() as u64);
        self.varint(max_byte_length);
        self.buf.extend_from_slice(bytes);
        self.take_id()
    }
    /// Starts a length-tracking view (its length follows its resizable
    /// buffer's); follow with the buffer. Returns its id.
    pub fn begin_tracking_view(&mut self, kind: ViewKind, byte_offset: u64) -> u32 {
        self.buf.push(tag::TRACKING_VIEW);
        self.buf.push(kind as u8);
        self.varint(byte_offset);
        self.take_id()
    }
    /// Reserves a side-table slot for a buffer in the transfer list, to be
    /// filled once serialization has succeeded (the buffer is detached only
    /// then). Returns the slot's index for [`Writer::transferred`].
    pub fn reserve_transfer(&mut self, slot: Arc<Transferred>) -> usize {
        self.hosts.push(HostObject::new(slot));
        self.hosts.len() - 1
    }
    /// An ArrayBuffer moved by the transfer list, in side-table slot `index`
    /// (from [`Writer::reserve_transfer`]). Returns its id.
    pub fn transferred(&mut self, index: usize) -> u32 {
        self.buf.push(tag::TRANSFERRED);
        self.varint(index as u64);
        self.take_id()
    }
    /// A SharedArrayBuffer: a handle to its memory (in the side table), its
    /// `byteLength`, and its `maxByteLength` if growable. Returns its id.
    pub fn shared_array_buffer(
        &mut self,
        memory: Arc<hz_atomics::SharedMemory>,
        byte_length: u64,
        max_byte_length: Option<u64>,
    ) -> u32 {
        self.hosts.push(HostObject::new(memory));
        let index = self.hosts.len() - 1;
        self.buf.push(tag::SHARED_ARRAY_BUFFER);
        self.varint(index as u64);
        self.varint(byte_length);
        self.varint(max_byte_length.map_or(0, |m| m + 1));
        self.take_id()
    }
    /// A reference to the object with id `id`, written earlier in this message.
    pub fn back_ref(&mut self, id: u32) {
        self.buf.push(tag::BACK_REF);
        self.varint(u64::from(id));
    }
    /// A host value, carried in the payload's side table.
    pub fn host(&mut self, object: HostObject) {
        let index = match self.hosts.iter().position(|h| h.ptr_eq(&object)) {
            Some(i) => i,
            None => {
                self.hosts.push(object);
                self.hosts.len() - 1
            }
        };
        self.buf.push(tag::HOST);
        self.varint(index as u64);
    }
    /// Checks a nesting depth against [`MAX_DEPTH`], and the thread's stack
    /// room (see [`crate::set_thread_stack`]); writers call it at every level.
    pub fn check_depth(depth: usize) -> Result<(), CloneError> {
        if depth > MAX_DEPTH || !crate::stack::has_room() { Err(CloneError::TooDeep(MAX_DEPTH)) } else { Ok(()) }
    }
    /// Which elements of an array of `length` to write densely (each present
    /// or a hole), given the indices of its own enumerable elements; `None`
    /// if it is sparse (under half present: `new Array(2**32 - 1)`) and its
    /// elements go as properties.
    pub fn dense_elements(length: u32, present: impl IntoIterator<Item = u32>) -> Option<Vec<bool>> {
        let present: Vec<u32> = present.into_iter().collect();
        if (present.len() as u64) * 2 < u64::from(length) {
            return None;
        }
        let mut has = vec![false; length as usize];
        for i in present {
            if let Some(slot) = has.get_mut(i as usize) {
                *slot = true;
            }
        }
        Some(has)
    }
    /// The finished message.
    pub fn finish(self) -> Payload {
        Payload { bytes: self.buf, hosts: self.hosts }
    }
}

/// The array index a property key names (its canonical decimal form, below
/// 2^32 - 1), if it names one.
pub fn array_index(key: &str) -> Option<u32> {
    key.parse::<u32>().ok().filter(|i| *i != u32::MAX && i.to_string() == key)
}

/// An Error's name as HTML's serialization keeps it: the standard names as
/// they are (and hz's own `LimitError`), any other as "Error".
pub fn serializable_error_name(name: &str) -> &str {
    match name {
        "Error" | "EvalError" | "RangeError" | "ReferenceError" | "SyntaxError" | "TypeError" | "URIError"
        | "LimitError" => name,
        _ => "Error",
    }
}

/// What a decoder builds: one implementation per engine (and one for [`crate::Value`]).
///
/// [`decode`] owns the walk: it checks every length against the bytes left
/// before the sink allocates, bounds the depth, resolves back references and
/// host indices, and validates views, so a sink only creates values.
#[allow(missing_docs)]
pub trait Sink {
    /// The engine's value handle.
    type Value: Clone;
    /// The engine's error; decoding errors convert into it.
    type Error: From<DecodeError>;

    fn undefined(&mut self) -> Result<Self::Value, Self::Error>;
    fn null(&mut self) -> Result<Self::Value, Self::Error>;
    fn boolean(&mut self, b: bool) -> Result<Self::Value, Self::Error>;
    fn number(&mut self, n: f64) -> Result<Self::Value, Self::Error>;
    fn bigint(&mut self, negative: bool, magnitude_le: &[u8]) -> Result<Self::Value, Self::Error>;
    fn string(&mut self, s: JsStr<'_>) -> Result<Self::Value, Self::Error>;
    /// A new empty plain object.
    fn object(&mut self) -> Result<Self::Value, Self::Error>;
    /// A new array with `length` (no elements yet). `dense` says its
    /// elements follow by index (each present or a hole), not as properties.
    fn array(&mut self, length: u32, dense: bool) -> Result<Self::Value, Self::Error>;
    /// Defines an own data property (CreateDataProperty: never a setter, never `__proto__`).
    fn define(&mut self, target: &Self::Value, key: JsStr<'_>, value: Self::Value) -> Result<(), Self::Error>;
    /// Defines an own element of an array.
    fn define_index(&mut self, target: &Self::Value, index: u32, value: Self::Value) -> Result<(), Self::Error>;
    fn date(&mut self, time: f64) -> Result<Self::Value, Self::Error>;
    fn map(&mut self) -> Result<Self::Value, Self::Error>;
    fn map_set(&mut self, map: &Self::Value, key: Self::Value, value: Self::Value) -> Result<(), Self::Error>;
    fn set(&mut self) -> Result<Self::Value, Self::Error>;
    fn set_add(&mut self, set: &Self::Value, value: Self::Value) -> Result<(), Self::Error>;
    fn array_buffer(&mut self, bytes: &[u8]) -> Result<Self::Value, Self::Error>;
    /// A resizable ArrayBuffer (`bytes.len() <= max_byte_length`, checked).
    fn resizable_array_buffer(&mut self, bytes: &[u8], max_byte_length: usize) -> Result<Self::Value, Self::Error>;
    /// A view over `buffer` (already validated to fit); `length` is `None`
    /// for a length-tracking view (over a resizable buffer).
    fn view(
        &mut self,
        kind: ViewKind,
        buffer: &Self::Value,
        byte_offset: usize,
        length: Option<usize>,
    ) -> Result<Self::Value, Self::Error>;
    /// A Boolean, Number, String or BigInt object wrapping `primitive`.
    fn primitive_object(&mut self, primitive: Self::Value) -> Result<Self::Value, Self::Error>;
    /// A RegExp.
    fn regexp(&mut self, source: JsStr<'_>, flags: &str) -> Result<Self::Value, Self::Error>;
    /// An Error object (its cause comes after, through [`Sink::error_cause`]).
    fn error(&mut self, fields: ErrorFields<Self::Value>) -> Result<Self::Value, Self::Error>;
    fn error_cause(&mut self, error: &Self::Value, cause: Self::Value) -> Result<(), Self::Error>;
    /// Copies the own properties of `props` (a plain object) onto `error`.
    fn error_props(&mut self, error: &Self::Value, props: Self::Value) -> Result<(), Self::Error>;
    fn host(&mut self, object: &HostObject) -> Result<Self::Value, Self::Error>;
    /// An ArrayBuffer moved by a transfer list: take its bytes (once).
    fn transferred(&mut self, buffer: &Transferred) -> Result<Self::Value, Self::Error>;
    /// A SharedArrayBuffer over `memory` (lengths checked against its capacity).
    fn shared_array_buffer(
        &mut self,
        memory: &Arc<hz_atomics::SharedMemory>,
        byte_length: usize,
        max_byte_length: Option<usize>,
    ) -> Result<Self::Value, Self::Error>;
}

#[derive(Clone, Copy)]
enum Kind {
    /// An ArrayBuffer: its length, and whether it is resizable.
    Buffer(usize, bool),
    Other,
}

struct Decoder<'p, S: Sink> {
    bytes: &'p [u8],
    pos: usize,
    hosts: &'p [HostObject],
    objects: Vec<(S::Value, Kind)>,
}

/// Reads one payload into values built by `sink`.
pub fn decode<S: Sink>(payload: &Payload, sink: &mut S) -> Result<S::Value, S::Error> {
    let bytes = &payload.bytes[..];
    if bytes.len() < 3 || bytes[..2] != MAGIC {
        return Err(DecodeError::BadHeader.into());
    }
    if bytes[2] != VERSION {
        return Err(DecodeError::UnsupportedVersion(bytes[2]).into());
    }
    let mut d = Decoder::<S> { bytes, pos: 3, hosts: &payload.hosts, objects: Vec::new() };
    let v = d.value(sink, 0)?;
    if d.pos != bytes.len() {
        return Err(DecodeError::TrailingBytes(bytes.len() - d.pos).into());
    }
    Ok(v)
}

impl<'p, S: Sink> Decoder<'p, S> {
    fn left(&self) -> usize {
        self.bytes.len() - self.pos
    }
    fn byte(&mut self) -> Result<u8, DecodeError> {
        let b = *self.bytes.get(self.pos).ok_or(DecodeError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }
    fn peek(&self) -> Result<u8, DecodeError> {
        self.bytes.get(self.pos).copied().ok_or(DecodeError::Truncated)
    }
    fn varint(&mut self) -> Result<u64, DecodeError> {
        let start = self.pos;
        let mut v: u64 = 0;
        for shift in (0..70).step_by(7) {
            let b = self.byte()?;
            if shift == 63 && b > 1 {
                return Err(DecodeError::BadVarint(start));
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DecodeError::BadVarint(start))
    }
    /// A length that must fit in what is left, at `unit` bytes each.
    fn len(&mut self, unit: usize) -> Result<usize, DecodeError> {
        let n = self.varint()?;
        let left = self.left();
        if n.checked_mul(unit as u64).is_none_or(|b| b > left as u64) {
            return Err(DecodeError::LengthTooLarge(n, left));
        }
        Ok(n as usize)
    }
    fn take(&mut self, n: usize) -> Result<&'p [u8], DecodeError> {
        if self.left() < n {
            return Err(DecodeError::Truncated);
        }
        let bytes: &'p [u8] = self.bytes;
        let s = &bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn f64(&mut self) -> Result<f64, DecodeError> {
        let b = self.take(8)?;
        Ok(f64::from_le_bytes(b.try_into().expect("8 bytes")))
    }
    fn string_body(&mut self, t: u8) -> Result<JsStr<'p>, DecodeError> {
        match t {
            tag::UTF8 => {
                let n = self.len(1)?;
                let b = self.take(n)?;
                std::str::from_utf8(b).map(JsStr::Utf8).map_err(|_| DecodeError::BadString)
            }
            tag::LATIN1 => {
                let n = self.len(1)?;
                Ok(JsStr::Latin1(self.take(n)?))
            }
            tag::UTF16 => {
                let n = self.len(2)?;
                Ok(JsStr::Utf16(self.take(n * 2)?))
            }
            _ => Err(DecodeError::Malformed("expected a string")),
        }
    }
    fn own_string(&mut self) -> Result<String, DecodeError> {
        let t = self.byte()?;
        Ok(self.string_body(t)?.to_string_lossy())
    }
    fn register(&mut self, v: &S::Value, kind: Kind) {
        self.objects.push((v.clone(), kind));
    }

    /// Reads key/value pairs into `target` until END.
    fn properties(&mut self, sink: &mut S, target: &S::Value, depth: usize) -> Result<(), S::Error> {
        loop {
            let t = self.byte()?;
            if t == tag::END {
                return Ok(());
            }
            if !matches!(t, tag::UTF8 | tag::LATIN1 | tag::UTF16) {
                return Err(DecodeError::Malformed("property key must be a string").into());
            }
            let key = match self.string_body(t)? {
                // An ASCII key is handed over as UTF-8 (it is), so that a
                // backend's key path sees Latin-1 only above U+007F.
                JsStr::Latin1(b) if b.is_ascii() => std::str::from_utf8(b).map_or(JsStr::Latin1(b), JsStr::Utf8),
                key => key,
            };
            let v = self.value(sink, depth + 1)?;
            sink.define(target, key, v)?;
        }
    }

    fn value(&mut self, sink: &mut S, depth: usize) -> Result<S::Value, S::Error> {
        if depth > MAX_DEPTH || !crate::stack::has_room() {
            return Err(DecodeError::TooDeep(MAX_DEPTH).into());
        }
        let at = self.pos;
        let t = self.byte()?;
        // Each container lives in its own function so that this recursive
        // frame stays small (debug builds give one frame every branch's locals).
        match t {
            tag::UNDEFINED => sink.undefined(),
            tag::NULL => sink.null(),
            tag::FALSE => sink.boolean(false),
            tag::TRUE => sink.boolean(true),
            tag::INT => self.int(sink, at),
            tag::DOUBLE => {
                let n = self.f64()?;
                sink.number(n)
            }
            tag::BIGINT => self.bigint(sink),
            tag::UTF8 | tag::LATIN1 | tag::UTF16 => {
                let s = self.string_body(t)?;
                sink.string(s)
            }
            tag::OBJECT => self.object(sink, depth),
            tag::DENSE_ARRAY => self.dense_array(sink, depth),
            tag::SPARSE_ARRAY => self.sparse_array(sink, depth),
            tag::DATE => {
                let t = self.f64()?;
                let d = sink.date(t)?;
                self.register(&d, Kind::Other);
                Ok(d)
            }
            tag::MAP => self.map(sink, depth),
            tag::SET => self.set(sink, depth),
            tag::ARRAY_BUFFER => self.array_buffer(sink),
            tag::RESIZABLE_ARRAY_BUFFER => self.resizable_array_buffer(sink),
            tag::VIEW => self.view(sink, false),
            tag::TRACKING_VIEW => self.view(sink, true),
            tag::PRIMITIVE_OBJECT => self.primitive_object(sink, depth),
            tag::TRANSFERRED => self.transferred(sink),
            tag::SHARED_ARRAY_BUFFER => self.shared_array_buffer(sink),
            tag::REGEXP => self.regexp(sink),
            tag::ERROR => self.error(sink, depth),
            tag::BACK_REF => {
                let id = self.varint()?;
                match self.objects.get(id as usize) {
                    Some((v, _)) => Ok(v.clone()),
                    None => Err(DecodeError::BadReference(id).into()),
                }
            }
            tag::HOST => {
                let i = self.varint()?;
                let h = self.hosts.get(i as usize).ok_or(DecodeError::BadHostObject(i))?;
                sink.host(h)
            }
            other => Err(DecodeError::BadTag(other, at).into()),
        }
    }

    #[inline(never)]
    fn int(&mut self, sink: &mut S, at: usize) -> Result<S::Value, S::Error> {
        let zz = self.varint()?;
        let zz = u32::try_from(zz).map_err(|_| DecodeError::BadVarint(at + 1))?;
        let i = ((zz >> 1) as i32) ^ -((zz & 1) as i32);
        sink.number(f64::from(i))
    }

    #[inline(never)]
    fn bigint(&mut self, sink: &mut S) -> Result<S::Value, S::Error> {
        let negative = match self.byte()? {
            0 => false,
            1 => true,
            _ => return Err(DecodeError::Malformed("bad BigInt sign").into()),
        };
        let n = self.len(1)?;
        let magnitude = self.take(n)?;
        sink.bigint(negative, magnitude)
    }

    #[inline(never)]
    fn object(&mut self, sink: &mut S, depth: usize) -> Result<S::Value, S::Error> {
        let o = sink.object()?;
        self.register(&o, Kind::Other);
        self.properties(sink, &o, depth)?;
        Ok(o)
    }

    #[inline(never)]
    fn dense_array(&mut self, sink: &mut S, depth: usize) -> Result<S::Value, S::Error> {
        // Every element takes at least one byte: checked before allocating.
        let n = self.len(1)?;
        let length = u32::try_from(n).map_err(|_| DecodeError::Malformed("array length"))?;
        let a = sink.array(length, true)?;
        self.register(&a, Kind::Other);
        for i in 0..length {
            if self.peek()? == tag::HOLE {
                self.pos += 1;
                continue;
            }
            let v = self.value(sink, depth + 1)?;
            sink.define_index(&a, i, v)?;
        }
        self.properties(sink, &a, depth)?;
        Ok(a)
    }

    #[inline(never)]
    fn sparse_array(&mut self, sink: &mut S, depth: usize) -> Result<S::Value, S::Error> {
        let n = self.varint()?;
        let length = u32::try_from(n).map_err(|_| DecodeError::Malformed("array length"))?;
        let a = sink.array(length, false)?;
        self.register(&a, Kind::Other);
        self.properties(sink, &a, depth)?;
        Ok(a)
    }

    #[inline(never)]
    fn map(&mut self, sink: &mut S, depth: usize) -> Result<S::Value, S::Error> {
        let m = sink.map()?;
        self.register(&m, Kind::Other);
        while self.peek()? != tag::END {
            let k = self.value(sink, depth + 1)?;
            let v = self.value(sink, depth + 1)?;
            sink.map_set(&m, k, v)?;
        }
        self.pos += 1;
        Ok(m)
    }

    #[inline(never)]
    fn set(&mut self, sink: &mut S, depth: usize) -> Result<S::Value, S::Error> {
        let s = sink.set()?;
        self.register(&s, Kind::Other);
        while self.peek()? != tag::END {
            let v = self.value(sink, depth + 1)?;
            sink.set_add(&s, v)?;
        }
        self.pos += 1;
        Ok(s)
    }

    #[inline(never)]
    fn array_buffer(&mut self, sink: &mut S) -> Result<S::Value, S::Error> {
        let n = self.len(1)?;
        let bytes = self.take(n)?;
        let b = sink.array_buffer(bytes)?;
        self.register(&b, Kind::Buffer(n, false));
        Ok(b)
    }

    #[inline(never)]
    fn shared_array_buffer(&mut self, sink: &mut S) -> Result<S::Value, S::Error> {
        let i = self.varint()?;
        let memory = self
            .hosts
            .get(i as usize)
            .and_then(|h| h.downcast::<hz_atomics::SharedMemory>())
            .ok_or(DecodeError::BadHostObject(i))?;
        let len = self.varint()?;
        let max = match self.varint()? {
            0 => None,
            m => Some(m - 1),
        };
        let capacity = memory.capacity() as u64;
        if len > capacity || max.is_some_and(|m| m < len || m > capacity) {
            return Err(DecodeError::Malformed("SharedArrayBuffer lengths exceed its memory").into());
        }
        let b = sink.shared_array_buffer(&memory, len as usize, max.map(|m| m as usize))?;
        self.register(&b, Kind::Buffer(len as usize, max.is_some()));
        Ok(b)
    }

    #[inline(never)]
    fn transferred(&mut self, sink: &mut S) -> Result<S::Value, S::Error> {
        let i = self.varint()?;
        let t = self
            .hosts
            .get(i as usize)
            .and_then(|h| h.downcast::<Transferred>())
            .ok_or(DecodeError::BadHostObject(i))?;
        let (len, max) = t.shape().ok_or(DecodeError::Malformed("a transferred buffer was already received"))?;
        let b = sink.transferred(&t)?;
        self.register(&b, Kind::Buffer(len, max.is_some()));
        Ok(b)
    }

    #[inline(never)]
    fn resizable_array_buffer(&mut self, sink: &mut S) -> Result<S::Value, S::Error> {
        let n = self.varint()?;
        let max = self.varint()?;
        // The maximum is only reserved by the engine, but it must be sane:
        // at least the length, and no more than a 32-bit engine allows.
        if max < n || max > u64::from(u32::MAX) {
            return Err(DecodeError::Malformed("resizable buffer maxByteLength").into());
        }
        let left = self.left();
        if n > left as u64 {
            return Err(DecodeError::LengthTooLarge(n, left).into());
        }
        let bytes = self.take(n as usize)?;
        let b = sink.resizable_array_buffer(bytes, max as usize)?;
        self.register(&b, Kind::Buffer(n as usize, true));
        Ok(b)
    }

    #[inline(never)]
    fn primitive_object(&mut self, sink: &mut S, depth: usize) -> Result<S::Value, S::Error> {
        // The wrapped primitive: a boolean, number, string or BigInt only.
        match self.peek()? {
            tag::FALSE | tag::TRUE | tag::INT | tag::DOUBLE | tag::UTF8 | tag::LATIN1 | tag::UTF16 | tag::BIGINT => {}
            _ => return Err(DecodeError::Malformed("a wrapper object must wrap a primitive").into()),
        }
        let slot = self.objects.len();
        let primitive = self.value(sink, depth + 1)?;
        let o = sink.primitive_object(primitive)?;
        self.objects.insert(slot, (o.clone(), Kind::Other));
        Ok(o)
    }

    #[inline(never)]
    fn regexp(&mut self, sink: &mut S) -> Result<S::Value, S::Error> {
        let t = self.byte()?;
        let source = self.string_body(t)?;
        let flags = self.own_string()?;
        if !flags.bytes().all(|b| b"dgimsuvy".contains(&b)) {
            return Err(DecodeError::Malformed("unknown RegExp flag").into());
        }
        let r = sink.regexp(source, &flags)?;
        self.register(&r, Kind::Other);
        Ok(r)
    }

    #[inline(never)]
    fn view(&mut self, sink: &mut S, tracking: bool) -> Result<S::Value, S::Error> {
        let kind = ViewKind::from_u8(self.byte()?).ok_or(DecodeError::BadView("unknown view kind"))?;
        let byte_offset = self.varint()?;
        let length = if tracking { None } else { Some(self.varint()?) };
        // The writer numbered the view before its buffer: remember the
        // view's slot and insert it there once it exists (a buffer read
        // inline below is registered first and shifts up by one).
        let slot = self.objects.len();
        let (buffer, buffer_len, resizable) = match self.peek()? {
            tag::ARRAY_BUFFER | tag::RESIZABLE_ARRAY_BUFFER | tag::TRANSFERRED | tag::SHARED_ARRAY_BUFFER => {
                let b = match self.byte()? {
                    tag::ARRAY_BUFFER => self.array_buffer(sink)?,
                    tag::RESIZABLE_ARRAY_BUFFER => self.resizable_array_buffer(sink)?,
                    tag::TRANSFERRED => self.transferred(sink)?,
                    _ => self.shared_array_buffer(sink)?,
                };
                match self.objects.last() {
                    Some((_, Kind::Buffer(n, r))) => (b, *n, *r),
                    _ => unreachable!("a buffer was just registered"),
                }
            }
            tag::BACK_REF => {
                self.pos += 1;
                let id = self.varint()?;
                match self.objects.get(id as usize).cloned() {
                    Some((b, Kind::Buffer(n, r))) => (b, n, r),
                    Some((_, Kind::Other)) => return Err(DecodeError::BadView("view over a non-buffer").into()),
                    None => return Err(DecodeError::BadReference(id).into()),
                }
            }
            _ => return Err(DecodeError::BadView("view must be followed by its buffer").into()),
        };
        let size = kind.element_size() as u64;
        if byte_offset % size != 0 {
            return Err(DecodeError::BadView("misaligned offset").into());
        }
        if tracking && !resizable {
            return Err(DecodeError::BadView("a length-tracking view needs a resizable buffer").into());
        }
        let byte_len = match length {
            Some(l) => l.checked_mul(size).ok_or(DecodeError::BadView("length overflows"))?,
            None => 0,
        };
        if byte_offset.checked_add(byte_len).is_none_or(|end| end > buffer_len as u64) {
            return Err(DecodeError::BadView("view exceeds its buffer").into());
        }
        let v = sink.view(kind, &buffer, byte_offset as usize, length.map(|l| l as usize))?;
        self.objects.insert(slot, (v.clone(), Kind::Other));
        Ok(v)
    }

    #[inline(never)]
    fn error(&mut self, sink: &mut S, depth: usize) -> Result<S::Value, S::Error> {
        let flags = self.byte()?;
        if flags & !0b1111 != 0 {
            return Err(DecodeError::Malformed("bad error flags").into());
        }
        let name = self.own_string()?;
        let message = if flags & 1 != 0 { Some(self.own_string()?) } else { None };
        let stack = if flags & 2 != 0 { Some(self.own_string()?) } else { None };
        let e = sink.error(ErrorFields { name, message, stack, cause: None, props: None })?;
        self.register(&e, Kind::Other);
        if flags & 4 != 0 {
            let cause = self.value(sink, depth + 1)?;
            sink.error_cause(&e, cause)?;
        }
        if flags & 8 != 0 {
            let props = self.value(sink, depth + 1)?;
            sink.error_props(&e, props)?;
        }
        Ok(e)
    }
}
