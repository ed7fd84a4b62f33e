//! The Rust-side value tree.

use crate::wire::{ErrorFields, JsStr, Sink, ViewKind, Writer, decode};
use crate::{CloneError, DecodeError, HostObject, Payload};

/// A JavaScript BigInt: sign and little-endian magnitude.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BigInt {
    /// True for values below zero.
    pub negative: bool,
    /// Little-endian magnitude bytes, without trailing zeros.
    pub magnitude: Vec<u8>,
}

impl From<i128> for BigInt {
    fn from(v: i128) -> Self {
        let mut magnitude = v.unsigned_abs().to_le_bytes().to_vec();
        while magnitude.last() == Some(&0) {
            magnitude.pop();
        }
        BigInt { negative: v < 0, magnitude }
    }
}

impl BigInt {
    /// The value as an `i128`, if it fits.
    pub fn to_i128(&self) -> Option<i128> {
        if self.magnitude.len() > 16 {
            return None;
        }
        let mut b = [0u8; 16];
        b[..self.magnitude.len()].copy_from_slice(&self.magnitude);
        let m = u128::from_le_bytes(b);
        if self.negative { 0i128.checked_sub_unsigned(m) } else { i128::try_from(m).ok() }
    }
}

/// A cloned Error: what crosses agents and engines when JS throws.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorValue {
    /// Its `name`: one of the standard error names (`Error`, `TypeError`...,
    /// and hz's `LimitError`); an engine sends a custom error's as `Error`,
    /// as HTML says.
    pub name: String,
    /// The message, if the error had one.
    pub message: Option<String>,
    /// The stack text, if the engine provided one.
    pub stack: Option<String>,
    /// The `cause`, if any.
    pub cause: Option<Value>,
    /// A custom error's other own enumerable properties (`code`...), where
    /// cloneable (functions and symbols are left out).
    pub props: Vec<(String, Value)>,
}

/// A structured-clone value as a Rust tree.
///
/// Object graphs may share objects or contain cycles: the first time an
/// object-like value (object, array, Map, Set, Date, buffer, view, Error)
/// appears in a depth-first walk it is written out and numbered (0, 1, 2...);
/// a later appearance is [`Value::Ref`] with that number. Encoding a tree
/// with `Ref`s and decoding it back keeps the numbering, so graphs survive
/// the trip between Rust and any engine.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `undefined`.
    Undefined,
    /// `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// A number.
    Number(f64),
    /// A BigInt.
    BigInt(BigInt),
    /// A string.
    String(String),
    /// A dense array; [`Value::Hole`] marks a missing element.
    Array(Vec<Value>),
    /// An array written by its own properties: `length`, then index and
    /// non-index keys with their values (`new Array(2**32 - 1)` costs nothing).
    SparseArray {
        /// The array's `length`.
        length: u32,
        /// Own enumerable properties, index keys as decimal strings.
        entries: Vec<(String, Value)>,
    },
    /// A missing element of a dense array.
    Hole,
    /// A plain object: own enumerable string-keyed properties, in order.
    Object(Vec<(String, Value)>),
    /// A Map, in insertion order.
    Map(Vec<(Value, Value)>),
    /// A Set, in insertion order.
    Set(Vec<Value>),
    /// A Date, by its time value (ms since the epoch).
    Date(f64),
    /// An ArrayBuffer's bytes.
    ArrayBuffer(Vec<u8>),
    /// A resizable ArrayBuffer: its bytes and `maxByteLength`.
    ResizableArrayBuffer {
        /// The current contents (`byteLength` bytes).
        bytes: Vec<u8>,
        /// The most it may grow to.
        max_byte_length: usize,
    },
    /// A typed array or DataView over a buffer (an ArrayBuffer, a resizable
    /// one, or a [`Value::Ref`] to one).
    View {
        /// Which view.
        kind: ViewKind,
        /// The viewed buffer.
        buffer: Box<Value>,
        /// Offset into the buffer, in bytes.
        byte_offset: usize,
        /// Length in elements (bytes for DataView); `None` for a view that
        /// tracks its resizable buffer's length.
        length: Option<usize>,
    },
    /// A SharedArrayBuffer: the same memory wherever it is received.
    SharedArrayBuffer {
        /// The memory (an `hz_atomics::SharedMemory`).
        memory: HostObject,
        /// `byteLength` when sent.
        byte_length: usize,
        /// `maxByteLength` of a growable one.
        max_byte_length: Option<usize>,
    },
    /// A Boolean, Number, String or BigInt wrapper object (`new Number(1)`),
    /// holding the primitive.
    PrimitiveObject(Box<Value>),
    /// A RegExp.
    RegExp {
        /// `source`.
        source: String,
        /// `flags`, e.g. `"gi"`.
        flags: String,
    },
    /// An Error.
    Error(Box<ErrorValue>),
    /// The object numbered `n` earlier in the same tree.
    Ref(u32),
    /// A host value (a channel handle...).
    Host(HostObject),
}

impl Value {
    /// Encodes the tree into a payload.
    pub fn to_payload(&self) -> Result<Payload, CloneError> {
        let mut w = Writer::new();
        encode(self, &mut w, 0)?;
        Ok(w.finish())
    }

    /// Decodes a payload into a tree.
    pub fn from_payload(payload: &Payload) -> Result<Value, DecodeError> {
        let mut sink = ArenaSink::default();
        let root = decode(payload, &mut sink)?;
        Ok(sink.assemble(root))
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The number, if this is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// The value of property `key` of a plain object.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(props) => props.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}
impl From<f64> for Value {
    fn from(n: f64) -> Self {
        Value::Number(n)
    }
}
impl From<i32> for Value {
    fn from(n: i32) -> Self {
        Value::Number(f64::from(n))
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
impl From<HostObject> for Value {
    fn from(h: HostObject) -> Self {
        Value::Host(h)
    }
}

fn encode(v: &Value, w: &mut Writer, depth: usize) -> Result<(), CloneError> {
    Writer::check_depth(depth)?;
    match v {
        Value::Undefined => w.undefined(),
        Value::Null => w.null(),
        Value::Bool(b) => w.boolean(*b),
        Value::Number(n) => w.number(*n),
        Value::BigInt(b) => w.bigint(b.negative, &b.magnitude),
        Value::String(s) => w.string(s),
        Value::Hole => return Err(CloneError::Uncloneable("a hole outside an array".into())),
        Value::Array(items) => {
            let len = u32::try_from(items.len()).map_err(|_| CloneError::TooLarge)?;
            w.begin_dense_array(len);
            for item in items {
                if let Value::Hole = item {
                    w.hole();
                } else {
                    encode(item, w, depth + 1)?;
                }
            }
            w.end();
        }
        Value::SparseArray { length, entries } => {
            w.begin_sparse_array(*length);
            props(entries, w, depth)?;
        }
        Value::Object(entries) => {
            w.begin_object();
            props(entries, w, depth)?;
        }
        Value::Map(entries) => {
            w.begin_map();
            for (k, v) in entries {
                encode(k, w, depth + 1)?;
                encode(v, w, depth + 1)?;
            }
            w.end();
        }
        Value::Set(items) => {
            w.begin_set();
            for v in items {
                encode(v, w, depth + 1)?;
            }
            w.end();
        }
        Value::Date(t) => {
            w.date(*t);
        }
        Value::ArrayBuffer(bytes) => {
            w.array_buffer(bytes);
        }
        Value::ResizableArrayBuffer { bytes, max_byte_length } => {
            w.resizable_array_buffer(bytes, *max_byte_length as u64);
        }
        Value::View { kind, buffer, byte_offset, length } => {
            if !matches!(
                **buffer,
                Value::ArrayBuffer(_)
                    | Value::ResizableArrayBuffer { .. }
                    | Value::SharedArrayBuffer { .. }
                    | Value::Ref(_)
            ) {
                return Err(CloneError::Uncloneable("a view whose buffer is not an ArrayBuffer".into()));
            }
            match length {
                Some(l) => w.begin_view(*kind, *byte_offset as u64, *l as u64),
                None => w.begin_tracking_view(*kind, *byte_offset as u64),
            };
            encode(buffer, w, depth + 1)?;
        }
        Value::SharedArrayBuffer { memory, byte_length, max_byte_length } => {
            let m = memory
                .downcast::<hz_atomics::SharedMemory>()
                .ok_or_else(|| CloneError::Uncloneable("shared memory that is not hz_atomics::SharedMemory".into()))?;
            w.shared_array_buffer(m, *byte_length as u64, max_byte_length.map(|m| m as u64));
        }
        Value::PrimitiveObject(p) => {
            if !matches!(**p, Value::Bool(_) | Value::Number(_) | Value::String(_) | Value::BigInt(_)) {
                return Err(CloneError::Uncloneable("a wrapper object around a non-primitive".into()));
            }
            w.begin_primitive_object();
            encode(p, w, depth + 1)?;
        }
        Value::RegExp { source, flags } => {
            w.regexp(source, flags);
        }
        Value::Error(e) => {
            let has_props = !e.props.is_empty();
            w.begin_error(&e.name, e.message.as_deref(), e.stack.as_deref(), e.cause.is_some(), has_props);
            if let Some(c) = &e.cause {
                encode(c, w, depth + 1)?;
            }
            if has_props {
                encode(&Value::Object(e.props.clone()), w, depth + 1)?;
            }
        }
        Value::Ref(id) => w.back_ref(*id),
        Value::Host(h) => w.host(h.clone()),
    }
    Ok(())
}

fn props(entries: &[(String, Value)], w: &mut Writer, depth: usize) -> Result<(), CloneError> {
    for (k, v) in entries {
        w.string(k);
        encode(v, w, depth + 1)?;
    }
    w.end();
    Ok(())
}

/// Decoding into a [`Value`]: the payload is read into an arena of nodes
/// (a back reference is just the index of an earlier node), then assembled
/// by a depth-first walk that numbers object-like nodes on first visit, as
/// [`Writer`] does, and writes [`Value::Ref`] on every later visit.
#[derive(Default)]
struct ArenaSink {
    nodes: Vec<Node>,
}

enum Node {
    Leaf(Value),
    Object(Vec<(String, usize)>),
    Array { length: u32, dense: Option<Vec<Option<usize>>>, props: Vec<(String, usize)> },
    Map(Vec<(usize, usize)>),
    Set(Vec<usize>),
    Date(f64),
    Buffer(Vec<u8>),
    Resizable(Vec<u8>, usize),
    View { kind: ViewKind, buffer: usize, byte_offset: usize, length: Option<usize> },
    Primitive(usize),
    RegExp(String, String),
    Shared(HostObject, usize, Option<usize>),
    Error(ErrorFields<usize>),
}

impl ArenaSink {
    fn push(&mut self, n: Node) -> Result<usize, DecodeError> {
        self.nodes.push(n);
        Ok(self.nodes.len() - 1)
    }

    /// The fields of the error node `at`; `Malformed(what)` if it is not one.
    fn error_fields(&mut self, at: usize, what: &'static str) -> Result<&mut ErrorFields<usize>, DecodeError> {
        match &mut self.nodes[at] {
            Node::Error(fields) => Ok(fields),
            _ => Err(DecodeError::Malformed(what)),
        }
    }

    fn assemble(&self, root: usize) -> Value {
        let mut ids: Vec<Option<u32>> = vec![None; self.nodes.len()];
        let mut next = 0u32;
        self.build(root, &mut ids, &mut next)
    }

    fn build(&self, at: usize, ids: &mut [Option<u32>], next: &mut u32) -> Value {
        let node = &self.nodes[at];
        if let Node::Leaf(v) = node {
            return v.clone();
        }
        if let Some(id) = ids[at] {
            return Value::Ref(id);
        }
        ids[at] = Some(*next);
        *next += 1;
        let props = |p: &[(String, usize)], ids: &mut [Option<u32>], next: &mut u32| {
            p.iter().map(|(k, v)| (k.clone(), self.build(*v, ids, next))).collect::<Vec<_>>()
        };
        match node {
            Node::Leaf(_) => unreachable!("handled above"),
            Node::Object(p) => Value::Object(props(p, ids, next)),
            Node::Array { length, dense: Some(items), props: p } if p.is_empty() => {
                let _ = length;
                Value::Array(
                    items
                        .iter()
                        .map(|i| match i {
                            Some(i) => self.build(*i, ids, next),
                            None => Value::Hole,
                        })
                        .collect(),
                )
            }
            Node::Array { length, dense, props: p } => {
                let mut entries = Vec::new();
                for (i, item) in dense.iter().flatten().enumerate() {
                    if let Some(item) = item {
                        entries.push((i.to_string(), self.build(*item, ids, next)));
                    }
                }
                entries.extend(props(p, ids, next));
                Value::SparseArray { length: *length, entries }
            }
            Node::Map(entries) => Value::Map(
                entries.iter().map(|(k, v)| (self.build(*k, ids, next), self.build(*v, ids, next))).collect(),
            ),
            Node::Set(items) => Value::Set(items.iter().map(|v| self.build(*v, ids, next)).collect()),
            Node::Date(t) => Value::Date(*t),
            Node::Buffer(b) => Value::ArrayBuffer(b.clone()),
            Node::Resizable(b, max) => Value::ResizableArrayBuffer { bytes: b.clone(), max_byte_length: *max },
            Node::Primitive(p) => Value::PrimitiveObject(Box::new(self.build(*p, ids, next))),
            Node::RegExp(source, flags) => Value::RegExp { source: source.clone(), flags: flags.clone() },
            Node::Shared(memory, byte_length, max_byte_length) => Value::SharedArrayBuffer {
                memory: memory.clone(),
                byte_length: *byte_length,
                max_byte_length: *max_byte_length,
            },
            Node::View { kind, buffer, byte_offset, length } => Value::View {
                kind: *kind,
                buffer: Box::new(self.build(*buffer, ids, next)),
                byte_offset: *byte_offset,
                length: *length,
            },
            Node::Error(f) => Value::Error(Box::new(ErrorValue {
                name: f.name.clone(),
                message: f.message.clone(),
                stack: f.stack.clone(),
                cause: f.cause.map(|c| self.build(c, ids, next)),
                props: match f.props.map(|p| self.build(p, ids, next)) {
                    Some(Value::Object(entries)) => entries,
                    _ => Vec::new(),
                },
            })),
        }
    }
}

impl Sink for ArenaSink {
    type Value = usize;
    type Error = DecodeError;

    fn undefined(&mut self) -> Result<usize, DecodeError> {
        self.push(Node::Leaf(Value::Undefined))
    }
    fn null(&mut self) -> Result<usize, DecodeError> {
        self.push(Node::Leaf(Value::Null))
    }
    fn boolean(&mut self, b: bool) -> Result<usize, DecodeError> {
        self.push(Node::Leaf(Value::Bool(b)))
    }
    fn number(&mut self, n: f64) -> Result<usize, DecodeError> {
        self.push(Node::Leaf(Value::Number(n)))
    }
    fn bigint(&mut self, negative: bool, magnitude_le: &[u8]) -> Result<usize, DecodeError> {
        self.push(Node::Leaf(Value::BigInt(BigInt { negative, magnitude: magnitude_le.to_vec() })))
    }
    fn string(&mut self, s: JsStr<'_>) -> Result<usize, DecodeError> {
        self.push(Node::Leaf(Value::String(s.to_string_lossy())))
    }
    fn object(&mut self) -> Result<usize, DecodeError> {
        self.push(Node::Object(Vec::new()))
    }
    fn array(&mut self, length: u32, dense: bool) -> Result<usize, DecodeError> {
        // The decoder checked a dense `length` against the bytes left.
        let dense = dense.then(|| vec![None; length as usize]);
        self.push(Node::Array { length, dense, props: Vec::new() })
    }
    fn define(&mut self, target: &usize, key: JsStr<'_>, value: usize) -> Result<(), DecodeError> {
        let key = key.to_string_lossy();
        match &mut self.nodes[*target] {
            Node::Object(props) | Node::Array { props, .. } => {
                props.push((key, value));
                Ok(())
            }
            _ => Err(DecodeError::Malformed("property on a non-object")),
        }
    }
    fn define_index(&mut self, target: &usize, index: u32, value: usize) -> Result<(), DecodeError> {
        match &mut self.nodes[*target] {
            Node::Array { length, dense: Some(items), .. } if index < *length => {
                items[index as usize] = Some(value);
                Ok(())
            }
            _ => Err(DecodeError::Malformed("element on a non-array")),
        }
    }
    fn date(&mut self, time: f64) -> Result<usize, DecodeError> {
        self.push(Node::Date(time))
    }
    fn map(&mut self) -> Result<usize, DecodeError> {
        self.push(Node::Map(Vec::new()))
    }
    fn map_set(&mut self, map: &usize, key: usize, value: usize) -> Result<(), DecodeError> {
        match &mut self.nodes[*map] {
            Node::Map(entries) => {
                entries.push((key, value));
                Ok(())
            }
            _ => Err(DecodeError::Malformed("map entry on a non-map")),
        }
    }
    fn set(&mut self) -> Result<usize, DecodeError> {
        self.push(Node::Set(Vec::new()))
    }
    fn set_add(&mut self, set: &usize, value: usize) -> Result<(), DecodeError> {
        match &mut self.nodes[*set] {
            Node::Set(items) => {
                items.push(value);
                Ok(())
            }
            _ => Err(DecodeError::Malformed("set entry on a non-set")),
        }
    }
    fn array_buffer(&mut self, bytes: &[u8]) -> Result<usize, DecodeError> {
        self.push(Node::Buffer(bytes.to_vec()))
    }
    fn resizable_array_buffer(&mut self, bytes: &[u8], max_byte_length: usize) -> Result<usize, DecodeError> {
        self.push(Node::Resizable(bytes.to_vec(), max_byte_length))
    }
    fn view(
        &mut self,
        kind: ViewKind,
        buffer: &usize,
        byte_offset: usize,
        length: Option<usize>,
    ) -> Result<usize, DecodeError> {
        self.push(Node::View { kind, buffer: *buffer, byte_offset, length })
    }
    fn primitive_object(&mut self, primitive: usize) -> Result<usize, DecodeError> {
        self.push(Node::Primitive(primitive))
    }
    fn regexp(&mut self, source: JsStr<'_>, flags: &str) -> Result<usize, DecodeError> {
        self.push(Node::RegExp(source.to_string_lossy(), flags.to_owned()))
    }
    fn error(&mut self, fields: ErrorFields<usize>) -> Result<usize, DecodeError> {
        self.push(Node::Error(fields))
    }
    fn error_cause(&mut self, error: &usize, cause: usize) -> Result<(), DecodeError> {
        self.error_fields(*error, "cause on a non-error")?.cause = Some(cause);
        Ok(())
    }
    fn error_props(&mut self, error: &usize, props: usize) -> Result<(), DecodeError> {
        self.error_fields(*error, "properties on a non-error")?.props = Some(props);
        Ok(())
    }
    fn transferred(&mut self, buffer: &crate::Transferred) -> Result<usize, DecodeError> {
        // Rust receives moved buffers as owned bytes (one copy, here).
        let b = buffer.take().ok_or(DecodeError::Malformed("a transferred buffer was already received"))?;
        let bytes = b.as_slice().to_vec();
        match b.max_len() {
            Some(max) => self.push(Node::Resizable(bytes, max)),
            None => self.push(Node::Buffer(bytes)),
        }
    }
    fn shared_array_buffer(
        &mut self,
        memory: &std::sync::Arc<hz_atomics::SharedMemory>,
        byte_length: usize,
        max_byte_length: Option<usize>,
    ) -> Result<usize, DecodeError> {
        self.push(Node::Shared(HostObject::new(memory.clone()), byte_length, max_byte_length))
    }
    fn host(&mut self, object: &HostObject) -> Result<usize, DecodeError> {
        self.push(Node::Leaf(Value::Host(object.clone())))
    }
}

/// Converts any serde-serializable value to a [`Value`] (through JSON's data model).
pub fn to_value<T: serde::Serialize + ?Sized>(value: &T) -> Result<Value, serde_json::Error> {
    serde_json::to_value(value).map(Value::from)
}

/// Converts a [`Value`] to any serde-deserializable type (through JSON's data model).
///
/// Values JSON cannot hold (Map, Set, BigInt, buffers, cycles...) are an error.
pub fn from_value<T: serde::de::DeserializeOwned>(value: &Value) -> Result<T, serde_json::Error> {
    let json = value
        .to_json()
        .map_err(|what| <serde_json::Error as serde::de::Error>::custom(format!("{what} has no JSON form")))?;
    serde_json::from_value(json)
}

impl From<serde_json::Value> for Value {
    fn from(j: serde_json::Value) -> Self {
        match j {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(b),
            serde_json::Value::Number(n) => Value::Number(n.as_f64().unwrap_or(f64::NAN)),
            serde_json::Value::String(s) => Value::String(s),
            serde_json::Value::Array(a) => Value::Array(a.into_iter().map(Value::from).collect()),
            serde_json::Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, Value::from(v))).collect()),
        }
    }
}

impl Value {
    /// The value in JSON's data model; `undefined` and holes become `null`.
    /// Errs with a description of the first value JSON cannot hold.
    pub fn to_json(&self) -> Result<serde_json::Value, &'static str> {
        use serde_json::Value as J;
        Ok(match self {
            Value::Undefined | Value::Null | Value::Hole => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Number(n) => {
                if n.fract() == 0.0 && n.abs() < 9.007_199_254_740_992e15 {
                    J::from(*n as i64)
                } else {
                    serde_json::Number::from_f64(*n).map_or(J::Null, J::Number)
                }
            }
            Value::String(s) => J::String(s.clone()),
            Value::Array(items) => J::Array(items.iter().map(Value::to_json).collect::<Result<_, _>>()?),
            Value::Object(p) => {
                J::Object(p.iter().map(|(k, v)| Ok((k.clone(), v.to_json()?))).collect::<Result<_, &'static str>>()?)
            }
            Value::BigInt(_) => return Err("a BigInt"),
            Value::SparseArray { .. } => return Err("a sparse array"),
            Value::Map(_) => return Err("a Map"),
            Value::Set(_) => return Err("a Set"),
            Value::Date(_) => return Err("a Date"),
            Value::ArrayBuffer(_) | Value::ResizableArrayBuffer { .. } | Value::View { .. } => return Err("a buffer"),
            Value::PrimitiveObject(_) => return Err("a wrapper object"),
            Value::SharedArrayBuffer { .. } => return Err("a SharedArrayBuffer"),
            Value::RegExp { .. } => return Err("a RegExp"),
            Value::Error(_) => return Err("an Error"),
            Value::Ref(_) => return Err("a shared or cyclic reference"),
            Value::Host(_) => return Err("a host object"),
        })
    }
}
