//! The hz heap: `malloc`-like functions over Rust's global allocator, each
//! block prefixed by a header holding its size, so a block can be freed or
//! resized knowing only its address (as C engines require).
//!
//! Layout of a block of `size` usable bytes:
//!
//! ```text
//! [ size: usize | padding to HEADER ][ size bytes ... ]
//! ^ allocation start                 ^ the pointer handed out (16-aligned)
//! ```

use std::alloc::Layout;

/// Bytes before each block; keeps the handed-out pointer 16-byte aligned
/// (enough for any scalar, and for 64-bit atomics).
pub const HEADER: usize = 16;
const ALIGN: usize = 16;

fn layout(size: usize) -> Option<Layout> {
    let total = size.checked_add(HEADER)?;
    Layout::from_size_align(total, ALIGN).ok()
}

/// Writes the header of a fresh allocation and returns the user pointer.
///
/// # Safety
/// `base` is null or a fresh allocation of `size + HEADER` bytes.
unsafe fn finish(base: *mut u8, size: usize) -> *mut u8 {
    if base.is_null() {
        return base;
    }
    // SAFETY: `base` has room for the header, and is 16-aligned (so a usize
    // write is aligned); the user pointer is HEADER bytes in, in bounds.
    unsafe {
        base.cast::<usize>().write(size);
        base.add(HEADER)
    }
}

/// Allocates `size` bytes (uninitialised). Null on failure.
pub fn alloc(size: usize) -> *mut u8 {
    let Some(l) = layout(size) else { return std::ptr::null_mut() };
    // SAFETY: the layout has a non-zero size (at least HEADER).
    unsafe { finish(std::alloc::alloc(l), size) }
}

/// Allocates `size` zeroed bytes. Null on failure.
pub fn alloc_zeroed(size: usize) -> *mut u8 {
    let Some(l) = layout(size) else { return std::ptr::null_mut() };
    // SAFETY: the layout has a non-zero size (at least HEADER).
    unsafe { finish(std::alloc::alloc_zeroed(l), size) }
}

/// The usable size of a block.
///
/// # Safety
/// `ptr` was returned by this module and not freed.
pub unsafe fn size_of(ptr: *const u8) -> usize {
    // SAFETY: the header sits HEADER bytes before every block (caller's contract).
    unsafe { ptr.sub(HEADER).cast::<usize>().read() }
}

/// Resizes a block (like `realloc`); null `ptr` allocates. Returns null on
/// failure, leaving the old block valid.
///
/// # Safety
/// `ptr` is null or was returned by this module and not freed.
pub unsafe fn realloc(ptr: *mut u8, new_size: usize) -> *mut u8 {
    if ptr.is_null() {
        return alloc(new_size);
    }
    let Some(new) = layout(new_size) else { return std::ptr::null_mut() };
    // SAFETY: caller's contract: `ptr` is a live block of this module, so its
    // header is valid and the allocation used `layout(old)`.
    unsafe {
        let old = size_of(ptr);
        let base = ptr.sub(HEADER);
        let old_layout = layout(old).expect("a live block's layout was valid");
        finish(std::alloc::realloc(base, old_layout, new.size()), new_size)
    }
}

/// Frees a block; null is ignored.
///
/// # Safety
/// `ptr` is null or was returned by this module and not freed; it is not
/// used afterwards.
pub unsafe fn free(ptr: *mut u8) {
    if ptr.is_null() {
        return;
    }
    // SAFETY: caller's contract: a live block, allocated with `layout(size)`.
    unsafe {
        let size = size_of(ptr);
        std::alloc::dealloc(ptr.sub(HEADER), layout(size).expect("a live block's layout was valid"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_know_their_size_and_keep_contents_across_realloc() {
        let p = alloc_zeroed(100);
        assert!(!p.is_null());
        assert_eq!(p as usize % 16, 0);
        // SAFETY: `p` is a live 100-byte block of this heap.
        unsafe {
            assert_eq!(size_of(p), 100);
            assert!(std::slice::from_raw_parts(p, 100).iter().all(|b| *b == 0));
            p.write(42);
            let q = realloc(p, 1 << 20);
            assert_eq!(size_of(q), 1 << 20);
            assert_eq!(q.read(), 42);
            let r = realloc(q, 8);
            assert_eq!((size_of(r), r.read()), (8, 42));
            free(r);
            free(std::ptr::null_mut());
        }
        assert!(alloc(usize::MAX).is_null(), "an impossible size fails cleanly");
    }
}
