//! V8's ArrayBuffer allocator over hz-atomics' [`SharedMemory`] blocks.
//!
//! Every buffer V8 allocates (ArrayBuffer or SharedArrayBuffer) is a
//! reference-counted hz heap block, so the memory of a SharedArrayBuffer made
//! by `new SharedArrayBuffer(n)` in a V8 agent can be handed to any other
//! agent, of any engine, as the same memory: sending it takes one more
//! reference ([`SharedMemory::retain`] on its data pointer), and V8's free
//! releases V8's. Growable SharedArrayBuffers are the exception: V8 reserves
//! their pages itself, outside any allocator (see `clone::shared_memory`).

use std::ffi::c_void;
use std::sync::OnceLock;

use hz_atomics::SharedMemory;

struct HzAllocator;

static VTABLE: v8::RustAllocatorVtable<HzAllocator> =
    v8::RustAllocatorVtable { allocate, allocate_uninitialized: allocate, free, drop: drop_allocator };

static HANDLE: HzAllocator = HzAllocator;

/// # Safety
/// Called by V8 for a new buffer of `len` zeroed bytes.
unsafe extern "C" fn allocate(_: &HzAllocator, len: usize) -> *mut c_void {
    match SharedMemory::new(len) {
        Some(m) => m.into_raw().cast(),
        None => std::ptr::null_mut(),
    }
}

/// # Safety
/// Called by V8 once for each buffer `allocate` returned, when it dies.
unsafe extern "C" fn free(_: &HzAllocator, data: *mut c_void, _len: usize) {
    if !data.is_null() {
        // SAFETY: `data` came from `allocate` (SharedMemory::into_raw), and
        // this is V8's one release of its reference.
        unsafe { SharedMemory::release(data.cast()) }
    }
}

/// # Safety
/// Called by V8 when the allocator itself is dropped; the handle is static.
unsafe extern "C" fn drop_allocator(_: *const HzAllocator) {}

/// The allocator every hz isolate uses (one, shared).
pub(crate) fn allocator() -> v8::SharedRef<v8::Allocator> {
    static ALLOCATOR: OnceLock<SendAllocator> = OnceLock::new();
    ALLOCATOR
        .get_or_init(|| {
            // SAFETY: the handle is a static that outlives every isolate, and
            // the vtable's functions expect exactly it.
            SendAllocator(unsafe { v8::new_rust_allocator(&HANDLE, &VTABLE) }.make_shared())
        })
        .0
        .clone()
}

struct SendAllocator(v8::SharedRef<v8::Allocator>);
// SAFETY: the allocator is V8's thread-safe C++ object wrapping our stateless
// vtable; a shared_ptr to it is meant to be shared by isolates on any thread.
unsafe impl Send for SendAllocator {}
// SAFETY: as above.
unsafe impl Sync for SendAllocator {}
