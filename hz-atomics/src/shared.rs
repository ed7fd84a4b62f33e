//! Storage for SharedArrayBuffers: a reference-counted block of the hz
//! heap, shared by every agent (and engine) that holds the buffer.
//!
//! Layout: `[ count: AtomicUsize | capacity: usize | length: AtomicUsize |
//! pad ][ data ... ]`, the data 16-byte aligned (enough for 64-bit atomics).
//! `length` is a growable buffer's byte length as every holder sees it
//! (engines that keep a length per JS object sync with it). Engines hold references as
//! the raw data pointer (C hooks alloc/dup/free); Rust holds [`SharedMemory`].

use std::fmt;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering, fence};

use crate::heap;

const HEADER: usize = 32;

/// Why [`SharedMemory::grow`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrowError {
    /// The new length is below the current one (SharedArrayBuffers only grow).
    Shrink,
    /// The new length is above the capacity (the maximum byte length).
    TooLarge,
}

/// One reference to shared memory. Clone adds a reference; drop releases it;
/// the memory is freed with the last one.
pub struct SharedMemory {
    data: NonNull<u8>,
}

// SAFETY: the memory is meant to be shared between threads; access to its
// bytes goes through raw pointers (engines' atomics), never through `&mut`;
// the count is atomic.
unsafe impl Send for SharedMemory {}
// SAFETY: as above: `&SharedMemory` exposes only the pointer and length.
unsafe impl Sync for SharedMemory {}

impl SharedMemory {
    /// `capacity` zeroed bytes with one reference. `None` if out of memory.
    pub fn new(capacity: usize) -> Option<Self> {
        let base = heap::alloc_zeroed(capacity.checked_add(HEADER)?);
        let base = NonNull::new(base)?;
        // SAFETY: the fresh, zeroed block has room for the header; the heap
        // aligns blocks to 16, so both words are aligned.
        unsafe {
            base.as_ptr().cast::<AtomicUsize>().write(AtomicUsize::new(1));
            base.as_ptr().add(8).cast::<usize>().write(capacity);
            base.as_ptr().add(16).cast::<AtomicUsize>().write(AtomicUsize::new(0));
            Some(SharedMemory { data: NonNull::new_unchecked(base.as_ptr().add(HEADER)) })
        }
    }

    fn count(&self) -> &AtomicUsize {
        // SAFETY: the header sits HEADER bytes before the data of a live block.
        unsafe { &*self.data.as_ptr().sub(HEADER).cast::<AtomicUsize>() }
    }

    /// The data pointer (what engines hold).
    pub fn as_ptr(&self) -> *mut u8 {
        self.data.as_ptr()
    }

    /// Usable bytes (a growable buffer's maximum).
    pub fn capacity(&self) -> usize {
        // SAFETY: the header of a live block.
        unsafe { self.data.as_ptr().sub(HEADER).add(8).cast::<usize>().read() }
    }

    fn length(&self) -> &AtomicUsize {
        // SAFETY: the length word sits 16 bytes into the header of a live block.
        unsafe { &*self.data.as_ptr().sub(HEADER).add(16).cast::<AtomicUsize>() }
    }

    /// A growable buffer's byte length as far as any holder knows: the
    /// largest of what was [observed](SharedMemory::observe_length) and
    /// what it [grew](SharedMemory::grow) to. A buffer only grows, so that
    /// is the current length. `seen` (this holder's own idea, at most the
    /// capacity) is recorded first.
    pub fn observe_length(&self, seen: usize) -> usize {
        let seen = seen.min(self.capacity());
        self.length().fetch_max(seen, Ordering::SeqCst).max(seen)
    }

    /// The shared length word itself, for an engine that keeps a growable
    /// buffer's length in place (valid while this memory lives).
    pub fn length_word(&self) -> NonNull<AtomicUsize> {
        NonNull::from(self.length())
    }

    /// `SharedArrayBuffer.prototype.grow`'s compare-and-exchange loop:
    /// sets the shared length to `new_len` unless that is below the current
    /// length (another holder may have grown it meanwhile) or above the
    /// capacity. Growing to the current length succeeds and changes nothing.
    pub fn grow(&self, new_len: usize) -> Result<(), GrowError> {
        if new_len > self.capacity() {
            return Err(GrowError::TooLarge);
        }
        let mut current = self.length().load(Ordering::SeqCst);
        loop {
            if new_len < current {
                return Err(GrowError::Shrink);
            }
            match self.length().compare_exchange(current, new_len, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => return Ok(()),
                Err(now) => current = now,
            }
        }
    }

    /// Gives the reference to an engine as its data pointer (released later
    /// with [`SharedMemory::release`]).
    pub fn into_raw(self) -> *mut u8 {
        let p = self.as_ptr();
        std::mem::forget(self);
        p
    }

    /// A new reference to the memory an engine holds at `data`.
    ///
    /// # Safety
    /// `data` came from [`SharedMemory::into_raw`] (or a clone of it) and a
    /// reference to it is still held.
    pub unsafe fn retain(data: *mut u8) -> Self {
        let m = SharedMemory {
            // SAFETY: non-null by the caller's contract.
            data: unsafe { NonNull::new_unchecked(data) },
        };
        // Relaxed: a new reference is made from an existing one (as Arc does).
        m.count().fetch_add(1, Ordering::Relaxed);
        m
    }

    /// Drops the reference an engine held at `data`.
    ///
    /// # Safety
    /// As [`SharedMemory::retain`]; the engine does not use `data` afterwards.
    pub unsafe fn release(data: *mut u8) {
        drop(SharedMemory {
            // SAFETY: non-null by the caller's contract.
            data: unsafe { NonNull::new_unchecked(data) },
        });
    }

    /// An atomic (SeqCst) load of the 4-byte integer at `byte_offset`;
    /// `None` if out of bounds or misaligned.
    pub fn load_i32(&self, byte_offset: usize) -> Option<i32> {
        if !byte_offset.is_multiple_of(4) || byte_offset.checked_add(4)? > self.capacity() {
            return None;
        }
        // SAFETY: in bounds and 4-aligned (the data is 16-aligned); engines
        // access this memory only through atomics or plain racy JS reads,
        // which the memory model allows.
        let a = unsafe { &*self.data.as_ptr().add(byte_offset).cast::<std::sync::atomic::AtomicI32>() };
        Some(a.load(Ordering::SeqCst))
    }

    /// An atomic (SeqCst) load of the 8-byte integer at `byte_offset`;
    /// `None` if out of bounds or misaligned.
    pub fn load_i64(&self, byte_offset: usize) -> Option<i64> {
        if !byte_offset.is_multiple_of(8) || byte_offset.checked_add(8)? > self.capacity() {
            return None;
        }
        // SAFETY: as load_i32, 8-aligned.
        let a = unsafe { &*self.data.as_ptr().add(byte_offset).cast::<std::sync::atomic::AtomicI64>() };
        Some(a.load(Ordering::SeqCst))
    }

    /// An atomic load of the integer an `Atomics.wait` compares: 8 bytes
    /// (BigInt64Array) if `wide`, else 4, widened; `None` if out of bounds
    /// or misaligned.
    pub fn load(&self, byte_offset: usize, wide: bool) -> Option<i64> {
        if wide { self.load_i64(byte_offset) } else { self.load_i32(byte_offset).map(i64::from) }
    }

    /// Whether two handles share memory.
    pub fn ptr_eq(&self, other: &SharedMemory) -> bool {
        self.data == other.data
    }
}

impl Clone for SharedMemory {
    fn clone(&self) -> Self {
        self.count().fetch_add(1, Ordering::Relaxed);
        SharedMemory { data: self.data }
    }
}

impl Drop for SharedMemory {
    fn drop(&mut self) {
        // Release on the decrement, acquire before freeing (as Arc does), so
        // every use of the memory happens before it is freed.
        if self.count().fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        fence(Ordering::Acquire);
        // SAFETY: this was the last reference; the block starts HEADER before
        // the data and came from the hz heap.
        unsafe { heap::free(self.data.as_ptr().sub(HEADER)) }
    }
}

impl fmt::Debug for SharedMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedMemory").field("ptr", &self.data).field("capacity", &self.capacity()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_share_memory_and_free_with_the_last() {
        let a = SharedMemory::new(64).unwrap();
        assert_eq!(a.as_ptr() as usize % 16, 0);
        assert_eq!(a.capacity(), 64);
        assert_eq!(a.observe_length(8), 8);
        assert_eq!(a.observe_length(4), 8, "the largest length seen wins");
        assert_eq!(a.grow(16), Ok(()));
        assert_eq!(a.grow(12), Err(GrowError::Shrink));
        assert_eq!(a.grow(16), Ok(()));
        assert_eq!(a.grow(65), Err(GrowError::TooLarge));
        assert_eq!(a.observe_length(1000), 64, "clamped to the capacity");
        let b = a.clone();
        // SAFETY: in bounds of a live 64-byte block; no other access races.
        unsafe { a.as_ptr().add(3).write(7) };
        // SAFETY: as above.
        assert_eq!(unsafe { b.as_ptr().add(3).read() }, 7);
        let raw = b.into_raw();
        // SAFETY: `raw` came from into_raw; a reference (a) is held.
        let c = unsafe { SharedMemory::retain(raw) };
        assert!(c.ptr_eq(&a));
        // SAFETY: releases the reference into_raw gave away.
        unsafe { SharedMemory::release(raw) };
        drop(a);
        // `c` is the last reference; the memory is still there.
        // SAFETY: in bounds of the live block.
        assert_eq!(unsafe { c.as_ptr().add(3).read() }, 7);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let c = c.clone();
                std::thread::spawn(move || drop(c.clone()))
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }
}
