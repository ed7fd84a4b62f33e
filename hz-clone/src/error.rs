use thiserror::Error;

/// Why a value could not be serialized: the HTML `DataCloneError` cases.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloneError {
    /// The value (a function, symbol, WeakMap, Promise, Proxy...) cannot be cloned.
    #[error("{0} could not be cloned")]
    Uncloneable(String),
    /// The value nests deeper than [`crate::MAX_DEPTH`] (or than the stack allows).
    #[error("value nests too deeply to be cloned (at most {0} levels, fewer where the stack is short)")]
    TooDeep(usize),
    /// The message is larger than the format can describe.
    #[error("value is too large to be cloned")]
    TooLarge,
}

/// Why a payload could not be read back: the bytes are not a valid hz-clone payload.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The payload does not start with the hz-clone header.
    #[error("not an hz-clone payload (bad header)")]
    BadHeader,
    /// The payload was written by an incompatible version of the format.
    #[error("unsupported hz-clone format version {0}")]
    UnsupportedVersion(u8),
    /// The bytes end in the middle of a value.
    #[error("truncated payload")]
    Truncated,
    /// An unknown tag byte.
    #[error("unknown tag 0x{0:02x} at byte {1}")]
    BadTag(u8, usize),
    /// A varint is longer than 10 bytes or overflows.
    #[error("malformed varint at byte {0}")]
    BadVarint(usize),
    /// A declared length is larger than the bytes that remain.
    #[error("declared length {0} exceeds the {1} bytes left")]
    LengthTooLarge(u64, usize),
    /// String bytes are not valid UTF-8 / UTF-16.
    #[error("invalid string encoding")]
    BadString,
    /// Nesting deeper than [`crate::MAX_DEPTH`].
    #[error("payload nests deeper than {0} levels")]
    TooDeep(usize),
    /// A back reference names an object that does not exist (yet).
    #[error("back reference to unknown object {0}")]
    BadReference(u64),
    /// A host-object index is not in the payload's side table.
    #[error("host object {0} is not in the message's side table")]
    BadHostObject(u64),
    /// A view's offset/length/alignment does not fit its buffer.
    #[error("invalid view: {0}")]
    BadView(&'static str),
    /// Bytes remain after the top-level value.
    #[error("{0} trailing bytes after the value")]
    TrailingBytes(usize),
    /// Any other structural violation.
    #[error("malformed payload: {0}")]
    Malformed(&'static str),
}
