//! SharedArrayBuffers over hz memory: Boa allocates every shared buffer's
//! memory through [`install`]'s allocator, an hz-atomics [`SharedMemory`]
//! block, so the memory of `new SharedArrayBuffer(n)` made in a Boa agent
//! can be handed to any agent of any engine; and memory from another agent
//! becomes a Boa buffer with [`shared_array_buffer`].

use std::sync::Once;

use boa_engine::builtins::array_buffer::{ExternalSharedMemory, SharedArrayBuffer, set_shared_memory_allocator};
use hz_atomics::SharedMemory;

/// Makes hz memory the storage of every Boa SharedArrayBuffer of the
/// process. Idempotent; call it before any Boa context runs code.
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        set_shared_memory_allocator(allocate);
    });
}

fn allocate(capacity: usize, growable: Option<usize>) -> Option<ExternalSharedMemory> {
    let memory = SharedMemory::new(capacity)?;
    if let Some(len) = growable {
        memory.observe_length(len);
    }
    Some(external(memory, growable.is_some()))
}

fn external(memory: SharedMemory, growable: bool) -> ExternalSharedMemory {
    external_with(memory, growable, usize::MAX)
}

/// `fixed_length`: the byte length of a fixed-length buffer (at most the
/// block's capacity).
fn external_with(memory: SharedMemory, growable: bool, fixed_length: usize) -> ExternalSharedMemory {
    let capacity = if growable { memory.capacity() } else { memory.capacity().min(fixed_length) };
    ExternalSharedMemory {
        // A live block's data pointer is never null.
        data: std::ptr::NonNull::new(memory.as_ptr()).expect("shared memory is never null"),
        capacity,
        length: growable.then(|| memory.length_word()),
        keep: Box::new(memory),
    }
}

/// A Boa buffer over `memory` (received from another agent): growable
/// (sharing the length word) or fixed at `byte_length` (at most the block's
/// capacity).
pub fn shared_array_buffer(memory: SharedMemory, growable: bool, byte_length: usize) -> SharedArrayBuffer {
    // SAFETY: the block's data and length word live as long as the
    // SharedMemory reference kept in `keep`.
    unsafe { SharedArrayBuffer::from_external(external_with(memory, growable, byte_length)) }
}

/// The hz memory under a Boa buffer (every one is, once [`install`] ran).
pub fn memory_of(buffer: &SharedArrayBuffer) -> Option<SharedMemory> {
    buffer.external_keep()?.downcast_ref::<SharedMemory>().cloned()
}
