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
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

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

/// The allocator of an agent with a heap limit: every buffer V8 allocates
/// for it counts against the limit, with V8's own heap as of the agent's
/// last turn ([`Metered::set_engine_heap`]).
pub(crate) struct Metered {
    host: hz_core::Host,
    /// V8's heap in use at the end of the agent's last turn, in bytes.
    engine: AtomicUsize,
}

impl Metered {
    /// Records V8's heap in use; true if it and the buffers together are
    /// past the agent's limit.
    pub(crate) fn set_engine_heap(&self, bytes: usize) -> bool {
        self.engine.store(bytes, Ordering::Relaxed);
        self.host.limits().heap_bytes.is_some_and(|limit| bytes.saturating_add(self.host.heap_used()) > limit)
    }
}

static METERED: v8::RustAllocatorVtable<Metered> = v8::RustAllocatorVtable {
    allocate: metered_allocate,
    allocate_uninitialized: metered_allocate,
    free: metered_free,
    drop: drop_metered,
};

/// # Safety
/// Called by V8, on the agent's thread, for a new buffer of `len` zeroed bytes.
unsafe extern "C" fn metered_allocate(m: &Metered, len: usize) -> *mut c_void {
    // Past the limit this ends the agent (uncatchably) and refuses: V8
    // then throws its RangeError into JS that is being terminated anyway.
    if !m.host.heap_admit(len.saturating_add(m.engine.load(Ordering::Relaxed))) {
        return std::ptr::null_mut();
    }
    // SAFETY: the plain allocation, as V8 asked.
    let p = unsafe { allocate(&HANDLE, len) };
    if !p.is_null() {
        m.host.heap_hold(len);
    }
    p
}

/// # Safety
/// Called by V8 (on any thread) once for each buffer `metered_allocate`
/// returned.
unsafe extern "C" fn metered_free(m: &Metered, data: *mut c_void, len: usize) {
    if !data.is_null() {
        m.host.heap_release(len);
    }
    // SAFETY: `data` came from `allocate`, through `metered_allocate`.
    unsafe { free(&HANDLE, data, len) }
}

/// # Safety
/// Called by V8 once, when the allocator is dropped: `m` is the reference
/// [`metered`] gave it.
unsafe extern "C" fn drop_metered(m: *const Metered) {
    // SAFETY: made by Arc::into_raw in `metered`; released once, here.
    drop(unsafe { Arc::from_raw(m) })
}

/// A new allocator for the agent `host` runs, which has a heap limit, and
/// its meter.
pub(crate) fn metered(host: &hz_core::Host) -> (v8::SharedRef<v8::Allocator>, Arc<Metered>) {
    let meter = Arc::new(Metered { host: host.clone(), engine: AtomicUsize::new(0) });
    let handle = Arc::into_raw(meter.clone());
    // SAFETY: the handle is one reference to the meter, alive until V8
    // drops the allocator (drop_metered releases it); the vtable's functions
    // expect exactly it.
    let allocator = unsafe { v8::new_rust_allocator(handle, &METERED) };
    (allocator.make_shared(), meter)
}

/// The deleter data of a buffer a metered agent was handed (see
/// [`hold_handed`]): the agent, to count the memory out again.
pub(crate) struct Handed(hz_core::Host);

/// Counts `len` bytes of memory handed to the agent `host` runs (a
/// transferred buffer, shared memory it was sent) against its heap limit,
/// if it has one, and gives the deleter data that counts them out again
/// ([`release_handed`]), or null.
pub(crate) fn hold_handed(host: &hz_core::Host, len: usize) -> *mut c_void {
    if host.limits().heap_bytes.is_none() {
        return std::ptr::null_mut();
    }
    host.heap_hold(len);
    Box::into_raw(Box::new(Handed(host.clone()))).cast()
}

/// Counts out what [`hold_handed`] counted in.
///
/// # Safety
/// `data` is null or came from [`hold_handed`] for `len` bytes; called once.
pub(crate) unsafe fn release_handed(data: *mut c_void, len: usize) {
    if !data.is_null() {
        // SAFETY: the caller's contract.
        let handed = unsafe { Box::from_raw(data.cast::<Handed>()) };
        handed.0.heap_release(len);
    }
}

struct SendAllocator(v8::SharedRef<v8::Allocator>);
// SAFETY: the allocator is V8's thread-safe C++ object wrapping our stateless
// vtable; a shared_ptr to it is meant to be shared by isolates on any thread.
unsafe impl Send for SendAllocator {}
// SAFETY: as above.
unsafe impl Sync for SendAllocator {}
