//! QuickJS on the hz heap, and taking a large ArrayBuffer's memory out of a
//! runtime without copying it.
//!
//! quickjs-ng puts allocations of up to 512 bytes in arena slabs; a larger
//! one is its own block from the runtime's allocator, behind an 8-byte
//! `JSMallocBlockHeader` (quickjs.c: `arena_malloc_large`). With the hz heap
//! as that allocator, a large ArrayBuffer's data lives at `block + 8` of an
//! hz heap block. To take it, mark the block ([`keep_next_free`]) and detach
//! the buffer: QuickJS frees the data as usual, and the free of the marked
//! block is skipped, leaving the block to Rust. [`probe`] checks the layout
//! once per engine; if it ever differs, transfer copies instead.

use std::cell::Cell;
use std::ptr::{self, NonNull};

use hz_atomics::heap;
use hz_core::Host;
use rquickjs::allocator::Allocator;

/// quickjs.c's `sizeof(JSMallocBlockHeader)` (checked by [`probe`]).
pub(crate) const ARENA_HEADER: usize = 8;
/// quickjs.c's `JS_ARENA_FREE_NIL`: the block index of a large block.
const ARENA_FREE_NIL: u16 = 0xffff;

thread_local! {
    /// A block whose next free must be skipped: its ownership is leaving.
    static KEEP: Cell<*mut u8> = const { Cell::new(ptr::null_mut()) };
}

/// The allocator every hz QuickJS runtime uses, counting every block
/// against the agent's heap limit ([`hz_core::Limits::heap_bytes`]) if it
/// has one.
pub(crate) struct HzAllocator {
    /// The agent, if it has a heap limit.
    meter: Option<Host>,
}

impl HzAllocator {
    /// The allocator of the agent `host` runs.
    pub(crate) fn new(host: &Host) -> Self {
        HzAllocator { meter: host.limits().heap_bytes.map(|_| host.clone()) }
    }

    /// An allocator with no limit (the engine's own probe runtime).
    pub(crate) fn unlimited() -> Self {
        HzAllocator { meter: None }
    }

    /// Whether `more` bytes may be allocated; past the limit, ends the agent.
    fn admit(&self, more: usize) -> bool {
        self.meter.as_ref().is_none_or(|h| h.heap_admit(more))
    }

    /// Counts a block in (`sign` 1) or out (-1).
    ///
    /// # Safety
    /// `block` is null or a live hz heap block.
    unsafe fn count(&self, block: *mut u8, sign: i8) {
        let Some(h) = &self.meter else { return };
        if block.is_null() {
            return;
        }
        // SAFETY: the caller's contract.
        let n = unsafe { heap::size_of(block) };
        if sign > 0 { h.heap_hold(n) } else { h.heap_release(n) }
    }
}

// SAFETY: the functions follow malloc/calloc/realloc/free semantics over the
// hz heap, whose blocks record their size (usable_size reads it back).
unsafe impl Allocator for HzAllocator {
    fn alloc(&mut self, size: usize) -> *mut u8 {
        if !self.admit(size) {
            return ptr::null_mut();
        }
        let p = heap::alloc(size);
        // SAFETY: null or the block just allocated.
        unsafe { self.count(p, 1) };
        p
    }

    fn calloc(&mut self, count: usize, size: usize) -> *mut u8 {
        let Some(n) = count.checked_mul(size) else { return ptr::null_mut() };
        if !self.admit(n) {
            return ptr::null_mut();
        }
        let p = heap::alloc_zeroed(n);
        // SAFETY: null or the block just allocated.
        unsafe { self.count(p, 1) };
        p
    }

    unsafe fn dealloc(&mut self, ptr: *mut u8) {
        // SAFETY: QuickJS frees only blocks this allocator handed out.
        unsafe { self.count(ptr, -1) };
        // A kept block leaves the runtime (a transfer): not freed.
        if release_kept(ptr) {
            return;
        }
        // SAFETY: as above.
        unsafe { heap::free(ptr) }
    }

    unsafe fn realloc(&mut self, ptr: *mut u8, new_size: usize) -> *mut u8 {
        // SAFETY: QuickJS reallocates only blocks this allocator handed out.
        let old = if ptr.is_null() { 0 } else { unsafe { heap::size_of(ptr) } };
        if new_size > old && !self.admit(new_size - old) {
            return ptr::null_mut();
        }
        // SAFETY: as above.
        unsafe { self.count(ptr, -1) };
        // SAFETY: as above.
        let p = unsafe { heap::realloc(ptr, new_size) };
        // SAFETY: null (then `ptr` is untouched and still counted) or the new block.
        unsafe { self.count(if p.is_null() { ptr } else { p }, 1) };
        p
    }

    unsafe fn usable_size(ptr: *mut u8) -> usize {
        // SAFETY: as above; null never reaches here (QuickJS checks).
        unsafe { heap::size_of(ptr) }
    }
}

/// If `ptr` is the kept block, forgets the mark and tells the caller not to free it.
fn release_kept(ptr: *mut u8) -> bool {
    KEEP.with(|k| {
        if !ptr.is_null() && k.get() == ptr {
            k.set(ptr::null_mut());
            true
        } else {
            false
        }
    })
}

/// The 8 bytes before the data of every buffer hz adopts: the same marker
/// a large arena block carries (block index FREE_NIL, size index 0xff), so
/// [`large_block`] recognises an adopted buffer as takeable too.
pub(crate) const ADOPTED_PREFIX: [u8; ARENA_HEADER] = [0xff, 0xff, 0xff, 0, 0, 0, 0, 0];

/// Marks `block` so the next free of it (on this thread) is skipped.
pub(crate) fn keep_next_free(block: *mut u8) {
    KEEP.with(|k| k.set(block));
}

/// Clears the mark; true if the marked free happened (the block is ours).
pub(crate) fn take_kept(block: *mut u8) -> bool {
    KEEP.with(|k| {
        if k.get() == block {
            k.set(ptr::null_mut());
            false
        } else {
            true
        }
    })
}

/// Checks, in a runtime on the hz heap, that a large ArrayBuffer's data is
/// an arena block right after an 8-byte header, in an hz heap block of the
/// expected size: the layout [`large_block`] relies on.
pub(crate) fn probe(ctx: &rquickjs::Ctx<'_>) -> rquickjs::Result<bool> {
    let len = 1usize << 14;
    let ab: rquickjs::Value<'_> = ctx.eval(format!("new ArrayBuffer({len})"))?;
    let mut size: rquickjs::qjs::size_t = 0;
    // SAFETY: `ab` is a live ArrayBuffer; JS_GetArrayBuffer only reads it.
    let data = unsafe { rquickjs::qjs::JS_GetArrayBuffer(ctx.as_raw().as_ptr(), &mut size, ab.as_raw()) };
    if data.is_null() || size as usize != len {
        return Ok(false);
    }
    // SAFETY: a live ArrayBuffer's data of `len` bytes in an hz-heap runtime.
    let Some(block) = (unsafe { large_block(data, len) }) else { return Ok(false) };
    // SAFETY: if the layout holds, `block` is a live hz heap block; its size
    // header is then header + data. (If not, this reads 8 bytes that are
    // still inside the runtime's own allocation, and compares them.)
    Ok(unsafe { heap::size_of(block.as_ptr()) } == len + ARENA_HEADER)
}

/// The hz heap block behind a QuickJS ArrayBuffer's data, if the data is a
/// large (stand-alone) arena block.
///
/// # Safety
/// `data` is the live data pointer of an ArrayBuffer of a runtime that
/// uses [`HzAllocator`], of at least 1 byte, and the header layout was
/// checked by [`probe`].
pub(crate) unsafe fn large_block(data: *mut u8, len: usize) -> Option<NonNull<u8>> {
    // Slab blocks hold at most 512 bytes including their header.
    if len + ARENA_HEADER <= 512 {
        return None;
    }
    // SAFETY: every arena block has its header right before the data.
    let block = unsafe { data.sub(ARENA_HEADER) };
    // SAFETY: the header's first field is the u16 block index (FREE_NIL for
    // a large block); the header is 8-aligned.
    let idx = unsafe { block.cast::<u16>().read() };
    if idx != ARENA_FREE_NIL {
        return None;
    }
    NonNull::new(block)
}

/// Where an agent's buffers outside its runtime's allocator are counted:
/// its [`Host`] if it has a heap limit, else nothing. Passed to QuickJS as
/// the opaque of the SharedArrayBuffer hooks and of adopted buffers.
#[derive(Clone, Copy)]
pub(crate) struct Meter(*const Host);

// SAFETY: a pointer to a `Host` (Send + Sync) that the agent keeps boxed
// for as long as its runtime lives; used only through `Host`'s methods.
unsafe impl Send for Meter {}
// SAFETY: as above.
unsafe impl Sync for Meter {}

impl Meter {
    /// Counts nothing (a runtime with no agent, or no heap limit).
    pub(crate) const NONE: Meter = Meter(ptr::null());

    /// The meter of the agent whose host is `host` (kept alive, boxed, for
    /// the runtime's life), or none without a heap limit.
    pub(crate) fn of(host: &Host) -> Meter {
        Meter(if host.limits().heap_bytes.is_some() { host } else { ptr::null() })
    }

    pub(crate) fn opaque(self) -> *mut std::ffi::c_void {
        self.0.cast_mut().cast()
    }

    /// # Safety
    /// `opaque` came from [`Meter::opaque`] of an agent whose host is alive.
    unsafe fn host<'a>(opaque: *mut std::ffi::c_void) -> Option<&'a Host> {
        // SAFETY: the caller's contract.
        unsafe { opaque.cast::<Host>().cast_const().as_ref() }
    }

    /// Counts memory the agent was handed (a transferred block).
    ///
    /// # Safety
    /// As [`Meter::host`]; `block` is a live hz heap block.
    pub(crate) unsafe fn hold_block(self, block: *mut u8) {
        // SAFETY: the caller's contract.
        if let Some(h) = unsafe { Meter::host(self.opaque()) } {
            // SAFETY: the caller's contract.
            h.heap_hold(unsafe { heap::size_of(block) });
        }
    }
}

/// The `realloc_func` of ArrayBuffers made from transferred blocks: their
/// data is [`ARENA_HEADER`] bytes into an hz heap block, counted against
/// the agent's heap limit through the [`Meter`] (the opaque).
///
/// # Safety
/// Called by QuickJS with the data pointer of such a buffer.
pub(crate) unsafe extern "C" fn adopted_realloc(
    _rt: *mut rquickjs::qjs::JSRuntime,
    opaque: *mut std::ffi::c_void,
    data: *mut std::ffi::c_void,
    size: rquickjs::qjs::size_t,
) -> *mut std::ffi::c_void {
    let offset = ARENA_HEADER;
    if data.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: the opaque is the adopting agent's meter, alive with its runtime.
    let meter = unsafe { Meter::host(opaque) };
    // SAFETY: the data of an adopted buffer is `offset` bytes into a block.
    let block = unsafe { data.cast::<u8>().sub(offset) };
    // SAFETY: a live hz heap block.
    let old = unsafe { heap::size_of(block) };
    if size == 0 {
        // Freed, or moved out by a transfer: the agent holds it no more.
        if let Some(h) = meter {
            h.heap_release(old);
        }
        if !release_kept(block) {
            // SAFETY: the buffer owned the block; QuickJS is done with it.
            unsafe { heap::free(block) };
        }
        return ptr::null_mut();
    }
    let wanted = offset + size as usize;
    if let Some(h) = meter
        && !h.heap_admit(wanted.saturating_sub(old))
    {
        return ptr::null_mut();
    }
    // SAFETY: resizing the owned block, keeping the `offset` prefix.
    let new = unsafe { heap::realloc(block, wanted) };
    if new.is_null() {
        return ptr::null_mut();
    }
    if let Some(h) = meter {
        h.heap_release(old);
        // SAFETY: the block just resized.
        h.heap_hold(unsafe { heap::size_of(new) });
    }
    // SAFETY: the new block has room for the prefix.
    unsafe { new.add(offset).cast() }
}

/// SharedArrayBuffers of every hz runtime live in hz-atomics' reference
/// counted [`SharedMemory`]: the memory a SAB in any agent (of any engine)
/// points at, freed with the last holder. Installed before any JS runs.
/// Each SAB object's memory counts in full against its agent's heap limit
/// (through `meter`), as long as the object lives.
pub(crate) fn install_shared_memory(ctx: &rquickjs::Ctx<'_>, meter: Meter) {
    let funcs = rquickjs::qjs::JSSharedArrayBufferFunctions {
        sab_alloc: Some(sab_alloc),
        sab_free: Some(sab_free),
        sab_dup: Some(sab_dup),
        sab_opaque: meter.opaque(),
    };
    // SAFETY: a live runtime; QuickJS copies the struct.
    unsafe {
        rquickjs::qjs::JS_SetSharedArrayBufferFunctions(rquickjs::qjs::JS_GetRuntime(ctx.as_raw().as_ptr()), &funcs)
    };
}

/// The capacity of the shared memory at `data`.
///
/// # Safety
/// `data` is SharedMemory some holder references.
unsafe fn capacity(data: *mut std::ffi::c_void) -> usize {
    // SAFETY: the caller's contract; the extra reference is dropped here.
    unsafe { hz_atomics::SharedMemory::retain(data.cast()) }.capacity()
}

/// # Safety
/// Called by QuickJS to allocate a SharedArrayBuffer's memory.
unsafe extern "C" fn sab_alloc(opaque: *mut std::ffi::c_void, size: rquickjs::qjs::size_t) -> *mut std::ffi::c_void {
    // SAFETY: the opaque is the agent's meter, alive with its runtime.
    let meter = unsafe { Meter::host(opaque) };
    if let Some(h) = meter
        && !h.heap_admit(size as usize)
    {
        return ptr::null_mut();
    }
    match hz_atomics::SharedMemory::new(size as usize) {
        Some(m) => {
            if let Some(h) = meter {
                h.heap_hold(m.capacity());
            }
            m.into_raw().cast()
        }
        None => ptr::null_mut(),
    }
}

/// # Safety
/// Called by QuickJS when a SharedArrayBuffer object holding `data` dies.
unsafe extern "C" fn sab_free(opaque: *mut std::ffi::c_void, data: *mut std::ffi::c_void) {
    // SAFETY: the opaque is the agent's meter, alive with its runtime.
    if let Some(h) = unsafe { Meter::host(opaque) } {
        // SAFETY: `data` is still referenced by the dying object.
        h.heap_release(unsafe { capacity(data) });
    }
    // SAFETY: every SAB of this runtime points at SharedMemory (alloc/dup
    // above), and QuickJS releases each reference once.
    unsafe { hz_atomics::SharedMemory::release(data.cast()) }
}

/// # Safety
/// Called by QuickJS when a new SharedArrayBuffer object wraps `data`.
unsafe extern "C" fn sab_dup(opaque: *mut std::ffi::c_void, data: *mut std::ffi::c_void) {
    // SAFETY: `data` is SharedMemory some holder references; the new
    // reference belongs to the new SAB object (released by sab_free).
    let memory = unsafe { hz_atomics::SharedMemory::retain(data.cast()) };
    // SAFETY: the opaque is the agent's meter, alive with its runtime.
    if let Some(h) = unsafe { Meter::host(opaque) } {
        h.heap_hold(memory.capacity());
    }
    std::mem::forget(memory);
}
