//! hz-clone: the engine-neutral structured-clone format.
//!
//! Every backend writes JavaScript values with [`Writer`] and reads them back
//! through [`decode`] with its own [`Sink`], so a value written by one engine
//! is read by any other. Rust embedders use the [`Value`] tree, which encodes
//! to and decodes from the same bytes.
//!
//! The format is described in `FORMAT.md` beside this crate.

mod error;
mod hash;
mod payload;
mod stack;
mod value;
mod wire;

pub use error::{CloneError, DecodeError};
pub use hash::{BuildIdentity, IdentityHasher};
pub use payload::{HostObject, Payload, Transferred};
pub use stack::set_thread_stack;
pub use value::{BigInt, ErrorValue, Value, from_value, to_value};
pub use wire::{
    ErrorFields, JsStr, MAX_DEPTH, Sink, VERSION, ViewKind, Writer, array_index, decode, serializable_error_name,
};

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
