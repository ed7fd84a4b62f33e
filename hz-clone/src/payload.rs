use std::any::Any;
use std::fmt;
use std::sync::Arc;

/// A host value carried beside the bytes of a message: a channel handle, and
/// later a SharedArrayBuffer handle or a transferred backing store.
///
/// hz-clone knows nothing of what is inside; the crate that made the value
/// downcasts it back ([`HostObject::downcast`]).
#[derive(Clone)]
pub struct HostObject(Arc<dyn Any + Send + Sync>);

impl HostObject {
    /// Wraps a shared host value.
    pub fn new<T: Any + Send + Sync>(value: Arc<T>) -> Self {
        HostObject(value)
    }

    /// The host value, if it is a `T`.
    pub fn downcast<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.0.clone().downcast::<T>().ok()
    }

    /// Whether both handles point to the same host value.
    pub fn ptr_eq(&self, other: &HostObject) -> bool {
        std::ptr::addr_eq(Arc::as_ptr(&self.0), Arc::as_ptr(&other.0))
    }
}

impl PartialEq for HostObject {
    fn eq(&self, other: &Self) -> bool {
        self.ptr_eq(other)
    }
}

impl fmt::Debug for HostObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HostObject({:p})", Arc::as_ptr(&self.0))
    }
}

/// One serialized message: the bytes and the side table of host values they
/// refer to by index. Cheap to clone (the host values are shared handles).
#[derive(Clone, Debug, Default)]
pub struct Payload {
    /// The wire bytes (see `FORMAT.md`).
    pub bytes: Vec<u8>,
    /// Host values referred to by `Host` tags in the bytes.
    pub hosts: Vec<HostObject>,
}

impl Payload {
    /// A payload holding `undefined`.
    pub fn undefined() -> Self {
        let mut w = crate::Writer::new();
        w.undefined();
        w.finish()
    }
}

/// An ArrayBuffer moved by a transfer list. It travels in a payload's side
/// table, and the receiver takes the bytes once (a second take finds none).
#[derive(Debug)]
pub struct Transferred {
    buffer: std::sync::Mutex<Option<hz_atomics::OwnedBuffer>>,
}

impl Transferred {
    /// Wraps moved bytes.
    pub fn new(buffer: hz_atomics::OwnedBuffer) -> Arc<Self> {
        Arc::new(Transferred { buffer: std::sync::Mutex::new(Some(buffer)) })
    }

    /// A slot reserved before the bytes are moved (see `Writer::reserve_transfer`).
    pub fn empty() -> Arc<Self> {
        Arc::new(Transferred { buffer: std::sync::Mutex::new(None) })
    }

    /// Puts the moved bytes into a reserved slot.
    pub fn fill(&self, buffer: hz_atomics::OwnedBuffer) {
        match self.buffer.lock() {
            Ok(mut b) => *b = Some(buffer),
            Err(p) => *p.into_inner() = Some(buffer),
        }
    }

    /// Takes the bytes; `None` if they were taken already.
    pub fn take(&self) -> Option<hz_atomics::OwnedBuffer> {
        match self.buffer.lock() {
            Ok(mut b) => b.take(),
            Err(p) => p.into_inner().take(),
        }
    }

    /// `(byteLength, maxByteLength)` while the bytes are still here.
    pub fn shape(&self) -> Option<(usize, Option<usize>)> {
        let b = match self.buffer.lock() {
            Ok(b) => b,
            Err(p) => p.into_inner(),
        };
        b.as_ref().map(|b| (b.len(), b.max_len()))
    }
}
