//! hz-atomics: memory that belongs to no single engine.
//!
//! - [`heap`]: the allocator every engine instance's memory comes from. A
//!   block records its own size, so whoever holds it can free it: that is
//!   what lets an ArrayBuffer's backing store move from one agent (or
//!   engine) to another without a copy.
//! - [`OwnedBuffer`]: a transferred backing store, owned outside any engine.
//! - [`SharedMemory`]: a SharedArrayBuffer's memory, reference counted, the
//!   same bytes in every agent that holds it.
//!
//! (The futex for Atomics.wait/notify comes with the Atomics work.)

pub mod heap;
mod owned;
mod shared;

/// A transferred ArrayBuffer's bytes.
pub use owned::OwnedBuffer;
/// A SharedArrayBuffer's memory, shared by every holder.
pub use shared::SharedMemory;
