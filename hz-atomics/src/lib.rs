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
//! - [`Futex`]: the wait queues of Atomics.wait / notify / waitAsync, one
//!   per runtime, shared by every engine (see `futex.rs` for the rules).

mod futex;
pub mod heap;
mod owned;
mod shared;
mod sync;

#[cfg(all(test, not(hz_loom)))]
mod futex_tests;
#[cfg(all(test, hz_loom))]
mod loom_tests;

/// The futex and its waiters.
pub use futex::{Futex, FutexKey, WaitResult, WaitSlot, Waiter};

/// A transferred ArrayBuffer's bytes.
pub use owned::OwnedBuffer;
/// A SharedArrayBuffer's memory, shared by every holder.
pub use shared::{GrowError, SharedMemory};
