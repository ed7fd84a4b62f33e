use std::fmt;
use std::ptr::NonNull;

use crate::{SharedMemory, heap};

/// The bytes of a transferred ArrayBuffer, owned by no engine while they
/// travel. They live either in an [`heap`] block, `offset` bytes in (an
/// engine's own per-block header may precede them), freed with the block
/// unless an engine adopts them ([`OwnedBuffer::into_raw`]); or in a
/// [`SharedMemory`] block an engine gave up (an engine whose every buffer is
/// one, as V8 under hz), handed on by reference ([`OwnedBuffer::into_shared`]).
pub struct OwnedBuffer {
    storage: Storage,
    len: usize,
    max_len: Option<usize>,
}

enum Storage {
    Block {
        block: Block,
        offset: usize,
    },
    /// The sender's engine no longer reads or writes these bytes (its
    /// buffer is detached), though it may still hold its reference until
    /// it frees the detached store.
    Shared(SharedMemory),
}

// SAFETY: an OwnedBuffer is the only owner of its block (no aliasing handle
// exists while it lives), and the heap can free a block from any thread.
unsafe impl Send for OwnedBuffer {}
// SAFETY: `&OwnedBuffer` only gives read access to the bytes.
unsafe impl Sync for OwnedBuffer {}

impl OwnedBuffer {
    /// A buffer holding a copy of `bytes` (for buffers an engine cannot hand over).
    pub fn copy_of(bytes: &[u8], max_len: Option<usize>) -> Option<Self> {
        let block = NonNull::new(heap::alloc(bytes.len().max(1)))?;
        // SAFETY: the block has room for `bytes.len()` bytes and does not overlap `bytes`.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), block.as_ptr(), bytes.len()) };
        Some(OwnedBuffer { storage: Storage::Block { block: Block(block), offset: 0 }, len: bytes.len(), max_len })
    }

    /// A buffer holding `prefix` then a copy of `bytes`, the bytes at offset
    /// `prefix.len()` (an engine that adopts blocks may expect its own
    /// per-block header there).
    pub fn copy_with_prefix(prefix: &[u8], bytes: &[u8], max_len: Option<usize>) -> Option<Self> {
        let offset = prefix.len();
        let block = NonNull::new(heap::alloc(offset.checked_add(bytes.len())?.max(1)))?;
        // SAFETY: the block has room for both parts, which do not overlap it.
        unsafe {
            std::ptr::copy_nonoverlapping(prefix.as_ptr(), block.as_ptr(), offset);
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), block.as_ptr().add(offset), bytes.len());
        }
        Some(OwnedBuffer { storage: Storage::Block { block: Block(block), offset }, len: bytes.len(), max_len })
    }

    /// Takes ownership of `len` bytes at `offset` into a heap block.
    ///
    /// # Safety
    /// `block` was returned by [`heap`] (alloc or realloc), is not freed or
    /// owned by anything else afterwards, and holds at least `offset + len`
    /// initialised bytes.
    pub unsafe fn from_raw(block: NonNull<u8>, offset: usize, len: usize, max_len: Option<usize>) -> Self {
        OwnedBuffer { storage: Storage::Block { block: Block(block), offset }, len, max_len }
    }

    /// The first `len` bytes of `memory`, moved without a copy. `None` if
    /// `len` exceeds its capacity.
    ///
    /// # Safety
    /// Whoever else holds a reference to `memory` no longer reads or writes
    /// it (an engine's detached ArrayBuffer), so the bytes are this buffer's
    /// alone.
    pub unsafe fn from_shared(memory: SharedMemory, len: usize, max_len: Option<usize>) -> Option<Self> {
        (len <= memory.capacity()).then_some(OwnedBuffer { storage: Storage::Shared(memory), len, max_len })
    }

    /// Gives up ownership: `(block, offset, len)`. The caller frees the block
    /// with [`heap::free`] (directly, or through an engine that adopted it).
    /// A buffer held by reference ([`OwnedBuffer::from_shared`]) has no block
    /// of its own and comes back as `Err`.
    pub fn into_raw(self) -> Result<(NonNull<u8>, usize, usize), Self> {
        match self.storage {
            Storage::Block { block, offset } => {
                let raw = block.0;
                // The caller's to free now, not ours.
                std::mem::forget(block);
                Ok((raw, offset, self.len))
            }
            storage => Err(OwnedBuffer { storage, ..self }),
        }
    }

    /// The shared memory holding the bytes of a buffer made by
    /// [`OwnedBuffer::from_shared`] (its first `len()` bytes); `Err` for a
    /// buffer in a block of its own.
    pub fn into_shared(self) -> Result<SharedMemory, Self> {
        match self.storage {
            Storage::Shared(memory) => Ok(memory),
            storage @ Storage::Block { .. } => Err(OwnedBuffer { storage, ..self }),
        }
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        let data = match &self.storage {
            // SAFETY: the block holds `offset + len` initialised bytes
            // (from_raw's contract, or copy_of).
            Storage::Block { block, offset } => unsafe { block.0.as_ptr().add(*offset) },
            Storage::Shared(memory) => memory.as_ptr(),
        };
        // SAFETY: `len` initialised bytes at `data` (for shared memory,
        // within its capacity: from_shared); nothing else writes them while
        // we own them.
        unsafe { std::slice::from_raw_parts(data, self.len) }
    }

    /// Where the bytes start in the block; `None` for a buffer held by
    /// reference to shared memory.
    pub fn offset(&self) -> Option<usize> {
        match self.storage {
            Storage::Block { offset, .. } => Some(offset),
            Storage::Shared(_) => None,
        }
    }

    /// `byteLength`.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `maxByteLength` of a resizable buffer.
    pub fn max_len(&self) -> Option<usize> {
        self.max_len
    }
}

/// A heap block owned by an [`OwnedBuffer`], freed when dropped.
struct Block(NonNull<u8>);

impl Drop for Block {
    fn drop(&mut self) {
        // SAFETY: an OwnedBuffer owns its block (the type's invariant), and
        // it is dropped once (into_raw forgets it instead).
        unsafe { heap::free(self.0.as_ptr()) }
    }
}

impl fmt::Debug for OwnedBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedBuffer").field("len", &self.len).field("max_len", &self.max_len).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_round_trip_and_raw_parts_move_ownership() {
        let b = OwnedBuffer::copy_of(&[1, 2, 3], Some(8)).unwrap();
        assert_eq!((b.as_slice(), b.max_len()), (&[1u8, 2, 3][..], Some(8)));
        let (block, offset, len) = b.into_raw().unwrap();
        // SAFETY: the parts came from into_raw and are used once.
        let again = unsafe { OwnedBuffer::from_raw(block, offset, len, None) };
        assert_eq!(again.as_slice(), &[1, 2, 3]);
        let empty = OwnedBuffer::copy_of(&[], None).unwrap();
        assert!(empty.is_empty());
        let prefixed = OwnedBuffer::copy_with_prefix(&[0xff; 8], &[9, 8], None).unwrap();
        assert_eq!(prefixed.as_slice(), &[9, 8]);
        assert_eq!(prefixed.offset(), Some(8));
        let (block, offset, _) = prefixed.into_raw().unwrap();
        assert_eq!(offset, 8);
        // SAFETY: the block is live; its first 8 bytes are the prefix.
        unsafe {
            assert_eq!(std::slice::from_raw_parts(block.as_ptr(), 8), &[0xff; 8]);
            heap::free(block.as_ptr());
        }
    }

    #[test]
    fn shared_memory_moves_by_reference() {
        let memory = SharedMemory::new(16).unwrap();
        // SAFETY: the test writes through the only reference.
        unsafe { memory.as_ptr().copy_from([7u8, 8, 9].as_ptr(), 3) };
        let sender_ref = memory.clone();
        // SAFETY: the "sender" does not touch the bytes any more.
        let b = unsafe { OwnedBuffer::from_shared(memory, 3, None) }.unwrap();
        assert_eq!((b.as_slice(), b.offset()), (&[7u8, 8, 9][..], None));
        let b = b.into_raw().unwrap_err();
        let back = b.into_shared().unwrap();
        assert!(back.ptr_eq(&sender_ref));
        drop(back);
        // The sender's reference is still good; too long a length is refused.
        // SAFETY: as above.
        assert!(unsafe { OwnedBuffer::from_shared(sender_ref, 17, None) }.is_none());
        let block = OwnedBuffer::copy_of(&[1], None).unwrap();
        assert!(block.into_shared().is_err());
    }
}
