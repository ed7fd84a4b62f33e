//! Isolate locks kept on the thread that ran an agent's last turn.
//!
//! A turn needs the isolate's `v8::Locker`. A top-level Locker costs a
//! lot each time: V8 sets up the thread's state for the isolate when it is
//! taken (`ThreadManager::InitThread`) and frees it when it is dropped
//! (`FreeThreadResources`: handle blocks, the entered-context lists), about
//! 2.1 k instructions and four allocations per turn, measured. Agents that
//! talk take turns one after another, so that was paid on every message.
//!
//! Here a thread keeps the top-level Locker of each isolate it ran, and
//! ends a turn with a `v8::Unlocker` on top of it instead. The Unlocker
//! releases the isolate's mutex, so any thread may take the isolate next,
//! and V8 archives this thread's state *lazily*: it copies nothing unless
//! another thread does take the isolate. The next turn on this thread
//! drops the Unlocker, which takes the mutex back and, if no other thread
//! came in between, finds its state where it was (V8's
//! `ThreadManager::RestoreThread`). A turn on another thread takes the
//! isolate as before; V8 then archives the first thread's state properly.
//!
//! A kept pair (Locker under Unlocker) belongs to its thread, and only
//! that thread can end it (drop the Unlocker, then the Locker). An isolate
//! must not be disposed of while any thread keeps a pair for it: V8 would
//! leak that thread's archived handle blocks. So each pair holds the
//! isolate's [`IsolateCell`] (an `Arc`); the agent's own reference goes
//! when the agent is dropped, and the last pair to end disposes of it.
//!
//! A thread ends its pairs:
//! - at the start of a turn, those of isolates whose agent has been
//!   dropped since it last looked ([`DEATHS`]);
//! - when its pool thread goes to sleep or exits (hz-core calls
//!   [`Engine::thread_idle`](hz_core::Engine::thread_idle)): every pair
//!   whose isolate no other thread is running. One skipped because its
//!   agent was running ends when the agent is dropped: the drop has the
//!   idle workers called again ([`hz_core::Host::nudge_idle_workers`]);
//! - past [`MAX_KEPT`] pairs, a turn's own lock is ended with the turn, as
//!   before.
//!
//! Ending a pair takes the isolate's mutex back, which would wait for a
//! turn another thread is running on that isolate, and that turn may wait
//! for this thread (an `Atomics.wait` on an agent homed here). So a thread
//! claims an isolate before taking it, through [`IsolateCell::state`]:
//! a turn moves it from `IDLE` to `RUNNING`, an ending from `IDLE` to
//! `ENDING`. An ending skips a running isolate; a turn, or another
//! thread's ending, waits out an ending (which holds no other claim and
//! waits on no turn: microseconds).

use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};

unsafe extern "C" {
    // The `v8` crate's own C++ glue (binding.cc), linked into every binary
    // that uses the crate. The crate's safe `Locker` cannot be kept across
    // turns: it borrows its SharedIsolate and keeps the isolate entered.
    fn v8__Locker__CONSTRUCT(buf: *mut RawLocker, isolate: *mut c_void);
    fn v8__Locker__DESTRUCT(this: *mut RawLocker);
    fn v8__Unlocker__CONSTRUCT(buf: *mut RawUnlocker, isolate: *mut c_void);
    fn v8__Unlocker__DESTRUCT(this: *mut RawUnlocker);
    fn v8__Isolate__Enter(isolate: *mut c_void);
    fn v8__Isolate__Exit(isolate: *mut c_void);
}

/// Storage for a `v8::Locker` (two words; binding.cc asserts the size).
#[repr(C)]
struct RawLocker([usize; 2]);

/// Storage for a `v8::Unlocker` (one word; binding.cc asserts the size).
#[repr(C)]
struct RawUnlocker([usize; 1]);

/// Pairs one thread keeps at most; a turn past them ends its lock with it.
const MAX_KEPT: usize = 16;

const IDLE: u8 = 0;
const RUNNING: u8 = 1;
const ENDING: u8 = 2;

/// Agents dropped so far in this process: a thread whose count differs
/// looks for kept pairs of dead isolates.
static DEATHS: AtomicUsize = AtomicUsize::new(0);

/// An agent's isolate, shared by the agent and the pairs threads keep.
pub(crate) struct IsolateCell {
    isolate: v8::SharedIsolate,
    raw: RawIsolate,
    /// `IDLE`, `RUNNING` (a turn has it) or `ENDING` (a thread is ending
    /// its pair).
    state: AtomicU8,
    /// Set once the agent is dropped: pairs end at their thread's next look.
    dead: AtomicBool,
    /// Threads keeping a pair for the isolate.
    keepers: AtomicUsize,
    /// Counted in [`ISOLATES`] until the isolate above is disposed of.
    _alive: Alive,
}

/// Isolates made by this backend and not yet disposed of.
static ISOLATES: AtomicUsize = AtomicUsize::new(0);

/// Isolates alive in this process: those of live agents and those a
/// thread's kept lock still holds (see the module's comment).
pub(crate) fn isolates() -> usize {
    ISOLATES.load(Ordering::Acquire)
}

/// One count in [`ISOLATES`].
struct Alive;

impl Alive {
    fn new() -> Alive {
        ISOLATES.fetch_add(1, Ordering::AcqRel);
        Alive
    }
}

impl Drop for Alive {
    fn drop(&mut self) {
        ISOLATES.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The C++ isolate's address.
#[derive(Clone, Copy)]
struct RawIsolate(*mut c_void);

// SAFETY: the address is only passed to V8 by a thread that takes the
// isolate's lock (or ends its own pair), as V8 requires; the pointer itself
// is plain data.
unsafe impl Send for RawIsolate {}
// SAFETY: as above: no thread dereferences it without the lock.
unsafe impl Sync for RawIsolate {}

impl IsolateCell {
    pub(crate) fn new(isolate: v8::SharedIsolate, raw: v8::UnsafeRawIsolatePtr) -> Arc<IsolateCell> {
        // SAFETY: UnsafeRawIsolatePtr is a transparent wrapper of the C++
        // isolate's address (`#[repr(transparent)]` over a raw pointer).
        let raw = RawIsolate(unsafe { std::mem::transmute::<v8::UnsafeRawIsolatePtr, *mut c_void>(raw) });
        Arc::new(IsolateCell {
            isolate,
            raw,
            state: AtomicU8::new(IDLE),
            dead: AtomicBool::new(false),
            keepers: AtomicUsize::new(0),
            _alive: Alive::new(),
        })
    }

    /// The isolate, for work outside turns (creation, teardown), which takes
    /// the crate's own Locker.
    pub(crate) fn shared(&self) -> &v8::SharedIsolate {
        &self.isolate
    }

    /// Claims the isolate for a turn: waits out a thread ending its pair.
    fn claim(&self) {
        loop {
            match self.state.compare_exchange_weak(IDLE, RUNNING, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return,
                Err(_) => std::hint::spin_loop(),
            }
        }
    }

    fn release_claim(&self) {
        self.state.store(IDLE, Ordering::Release);
    }

    /// Marks the agent dropped: threads keeping a pair for it end it at
    /// their next turn, or when they go idle. True if some thread keeps one
    /// (a thread that went idle while the agent ran may keep it until told,
    /// see [`hz_core::Host::nudge_idle_workers`]).
    pub(crate) fn mark_dead(&self) -> bool {
        self.dead.store(true, Ordering::SeqCst);
        DEATHS.fetch_add(1, Ordering::SeqCst);
        self.keepers.load(Ordering::SeqCst) > 0
    }
}

/// A Locker this thread keeps for an isolate, with the Unlocker on top of
/// it between turns.
struct Kept {
    /// The isolate's address (what the thread looks its pairs up by).
    key: usize,
    cell: Arc<IsolateCell>,
    locker: Box<RawLocker>,
    unlocker: Box<RawUnlocker>,
}

impl Kept {
    /// Ends the pair: drops the Unlocker (taking the mutex back), then the
    /// top-level Locker (freeing this thread's state and releasing the
    /// mutex). The caller has claimed the cell as `ENDING`.
    fn end(mut self) {
        // SAFETY: the pair was made on this thread (it lives in this
        // thread's KEPT) with the Unlocker constructed on top of the Locker;
        // they are destroyed in reverse order, once, on this thread. No
        // other thread runs the isolate (its cell is ENDING), and the
        // isolate lives (this pair holds its cell).
        unsafe {
            v8__Unlocker__DESTRUCT(&mut *self.unlocker);
            v8__Locker__DESTRUCT(&mut *self.locker);
        }
        self.cell.keepers.fetch_sub(1, Ordering::SeqCst);
        self.cell.release_claim();
        // The last reference disposes of the isolate, here.
        drop(self.cell);
    }
}

thread_local! {
    /// Pairs this thread keeps (at most MAX_KEPT: looked up by a scan).
    static KEPT: RefCell<Vec<Kept>> = const { RefCell::new(Vec::new()) };
    /// DEATHS as this thread last looked.
    static SEEN: Cell<usize> = const { Cell::new(0) };
}

/// One turn's hold on an isolate: locked and entered on this thread.
/// Dereferences to the isolate for scopes.
pub(crate) struct Turn<'a> {
    cell: &'a Arc<IsolateCell>,
    isolate: v8::Isolate,
    /// The lock when this thread keeps no pair for it (past MAX_KEPT): it
    /// ends with the turn.
    own: Option<Box<RawLocker>>,
}

/// Locks and enters `cell`'s isolate for one turn on this thread.
///
/// The caller must not hold another isolate entered (turns do not nest).
pub(crate) fn turn(cell: &Arc<IsolateCell>) -> Turn<'_> {
    end_dead();
    cell.claim();
    let raw = cell.raw.0;
    let key = raw as usize;
    let own = KEPT.with(|k| {
        let mut kept = k.borrow_mut();
        if let Some(pair) = kept.iter_mut().find(|p| p.key == key) {
            // SAFETY: this thread made the pair and constructed its Unlocker
            // when its last turn ended; destroying it takes the mutex back
            // (no other thread runs the isolate: the cell is ours).
            unsafe { v8__Unlocker__DESTRUCT(&mut *pair.unlocker) };
            return None;
        }
        let mut locker = Box::new(RawLocker([0; 2]));
        // SAFETY: the isolate lives (the caller holds its cell) and this
        // thread does not hold its lock (it keeps no pair for it, and turns
        // do not nest); the storage is the size binding.cc asserts.
        unsafe { v8__Locker__CONSTRUCT(&mut *locker, raw) };
        if kept.len() < MAX_KEPT {
            cell.keepers.fetch_add(1, Ordering::SeqCst);
            kept.push(Kept { key, cell: cell.clone(), locker, unlocker: Box::new(RawUnlocker([0])) });
            None
        } else {
            Some(locker)
        }
    });
    // SAFETY: the isolate is locked by this thread (above).
    unsafe { v8__Isolate__Enter(raw) };
    // SAFETY: the address is the live isolate's; `Isolate` is a plain handle
    // (no drop) used only while this Turn holds the lock.
    let isolate =
        unsafe { v8::Isolate::from_raw_isolate_ptr(std::mem::transmute::<*mut c_void, v8::UnsafeRawIsolatePtr>(raw)) };
    Turn { cell, isolate, own }
}

impl std::ops::Deref for Turn<'_> {
    type Target = v8::Isolate;
    fn deref(&self) -> &v8::Isolate {
        &self.isolate
    }
}

impl std::ops::DerefMut for Turn<'_> {
    fn deref_mut(&mut self) -> &mut v8::Isolate {
        &mut self.isolate
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let raw = self.cell.raw.0;
        // SAFETY: entered by `turn` on this thread; every scope made from
        // this Turn borrowed it and is gone.
        unsafe { v8__Isolate__Exit(raw) };
        match self.own.take() {
            // SAFETY: constructed by `turn` on this thread, destroyed once.
            Some(mut locker) => unsafe { v8__Locker__DESTRUCT(&mut *locker) },
            None => KEPT.with(|k| {
                if let Some(pair) = k.borrow_mut().iter_mut().find(|p| p.key == raw as usize) {
                    // SAFETY: the pair's Locker is held by this thread (its
                    // Unlocker was destroyed when the turn began) and the
                    // isolate is exited, as an Unlocker requires.
                    unsafe { v8__Unlocker__CONSTRUCT(&mut *pair.unlocker, raw) };
                }
            }),
        }
        self.cell.release_claim();
    }
}

/// Ends the pairs of dead isolates, if any agent was dropped since this
/// thread last looked.
fn end_dead() {
    let deaths = DEATHS.load(Ordering::Acquire);
    if SEEN.with(Cell::get) == deaths {
        return;
    }
    SEEN.with(|s| s.set(deaths));
    end_where(|cell| cell.dead.load(Ordering::Acquire));
}

/// Ends this thread's pair for `cell`, if it keeps one (the agent is being
/// dropped on this thread, outside any turn).
pub(crate) fn end_here(cell: &IsolateCell) {
    let key = cell.raw.0 as usize;
    end_where(|c| c.raw.0 as usize == key);
}

/// Ends every pair this thread keeps whose isolate no other thread is
/// running (the thread is going to sleep or exit).
pub(crate) fn end_idle() {
    end_where(|_| true);
}

/// Ends the pairs whose cell `which` picks, one at a time, except those of
/// isolates another thread is running. A pair another thread is ending for
/// the same isolate is waited for (it holds nothing else and waits on no
/// turn); holding one claim at a time, no two threads can wait on each
/// other.
fn end_where(which: impl Fn(&IsolateCell) -> bool) {
    let keys: Vec<usize> = KEPT.with(|k| k.borrow().iter().map(|p| p.key).collect());
    for key in keys {
        let pair = KEPT.with(|k| {
            let mut kept = k.borrow_mut();
            let at = kept.iter().position(|p| p.key == key)?;
            let cell = &kept[at].cell;
            if !which(cell) {
                return None;
            }
            loop {
                match cell.state.compare_exchange_weak(IDLE, ENDING, Ordering::Acquire, Ordering::Relaxed) {
                    Ok(_) => break,
                    Err(RUNNING) => return None,
                    Err(_) => std::hint::spin_loop(),
                }
            }
            Some(kept.swap_remove(at))
        });
        // Outside the borrow: the last reference disposes of an isolate,
        // which must not find KEPT borrowed.
        if let Some(pair) = pair {
            pair.end();
        }
    }
}
