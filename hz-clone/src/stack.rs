//! Stack room for the recursive clone walks.
//!
//! A depth limit alone cannot keep a walk off the end of the stack: frames
//! differ by engine and build (a debug build of the QuickJS serializer uses
//! over 8 KiB per nesting level). A thread that knows its stack (hz's
//! workers) declares it with [`set_thread_stack`]; the walks then also stop,
//! with a clean "too deep" error, while `reserve` bytes remain.

use std::cell::Cell;

thread_local! {
    /// Lowest stack address a walk may reach on this thread (0: unknown).
    static LIMIT: Cell<usize> = const { Cell::new(0) };
}

/// An address in the caller's frame (the stack grows down on every
/// platform hz runs on).
#[inline(never)]
fn stack_pointer() -> usize {
    let marker = 0u8;
    std::hint::black_box(&marker) as *const u8 as usize
}

/// Declares that the calling thread's stack has `size` bytes from about
/// here, and that clone walks must leave `reserve` of them unused.
pub fn set_thread_stack(size: usize, reserve: usize) {
    let sp = stack_pointer();
    LIMIT.with(|l| l.set(sp.saturating_sub(size.saturating_sub(reserve))));
}

/// Whether a walk may go one level deeper on this thread.
pub(crate) fn has_room() -> bool {
    let limit = LIMIT.with(Cell::get);
    limit == 0 || stack_pointer() > limit
}
