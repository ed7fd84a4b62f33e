use std::fmt;
use std::ptr::NonNull;

use crate::heap;

/// The bytes of a transferred ArrayBuffer, owned by no engine while they
/// travel. They live in an [`heap`] block, `offset` bytes in (an engine's own
/// per-block header may precede them), and are freed with the block unless
/// an engine adopts them ([`OwnedBuffer::into_raw`]).
pub struct OwnedBuffer {
    block: NonNull<u8>,
    offset: usize,
    len: usize,
    max_len: Option<usize>,
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
        Some(OwnedBuffer { block, offset: 0, len: bytes.len(), max_len })
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
        Some(OwnedBuffer { block, offset, len: bytes.len(), max_len })
    }

    /// Takes ownership of `len` bytes at `offset` into a heap block.
    ///
    /// # Safety
    /// `block` was returned by [`heap`] (alloc or realloc), is not freed or
    /// owned by anything else afterwards, and holds at least `offset + len`
    /// initialised bytes.
    pub unsafe fn from_raw(block: NonNull<u8>, offset: usize, len: usize, max_len: Option<usize>) -> Self {
        OwnedBuffer { block, offset, len, max_len }
    }

    /// Gives up ownership: `(block, offset, len)`. The caller frees the block
    /// with [`heap::free`] (directly, or through an engine that adopted it).
    pub fn into_raw(self) -> (NonNull<u8>, usize, usize) {
        let parts = (self.block, self.offset, self.len);
        std::mem::forget(self);
        parts
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: the block holds `offset + len` initialised bytes (from_raw's
        // contract, or copy_of) and nothing else writes them while we own it.
        unsafe { std::slice::from_raw_parts(self.block.as_ptr().add(self.offset), self.len) }
    }

    /// Where the bytes start in the block.
    pub fn offset(&self) -> usize {
        self.offset
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

impl Drop for OwnedBuffer {
    fn drop(&mut self) {
        // SAFETY: we own the block (the type's invariant) and drop it once.
        unsafe { heap::free(self.block.as_ptr()) }
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
        let (block, offset, len) = b.into_raw();
        // SAFETY: the parts came from into_raw and are used once.
        let again = unsafe { OwnedBuffer::from_raw(block, offset, len, None) };
        assert_eq!(again.as_slice(), &[1, 2, 3]);
        let empty = OwnedBuffer::copy_of(&[], None).unwrap();
        assert!(empty.is_empty());
        let prefixed = OwnedBuffer::copy_with_prefix(&[0xff; 8], &[9, 8], None).unwrap();
        assert_eq!(prefixed.as_slice(), &[9, 8]);
        let (block, offset, _) = prefixed.into_raw();
        assert_eq!(offset, 8);
        // SAFETY: the block is live; its first 8 bytes are the prefix.
        unsafe {
            assert_eq!(std::slice::from_raw_parts(block.as_ptr(), 8), &[0xff; 8]);
            heap::free(block.as_ptr());
        }
    }
}
