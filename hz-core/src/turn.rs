//! A worker slot's turn word: who may end the turn that runs on the slot's
//! thread now, that thread or the scheduler's monitor (see SCHEDULER.md,
//! "Long turns").
//!
//! The word counts up. It is even while the slot's thread runs no turn
//! that may be taken from it, odd while it does. The thread starts such a
//! turn by making the word odd ([`TurnWord::begin`]); the turn then ends
//! exactly once, by the first of two compare-and-swaps from that odd value
//! to the next even one:
//!
//! - the thread's own at the turn's end ([`TurnWord::end`]): the slot is
//!   still its own;
//! - a taker's ([`TurnWord::take`]), the monitor's after it saw the same
//!   odd value on two ticks (the turn ran long), or the thread's own before
//!   it blocks: the slot now belongs to the thread the taker gives it to,
//!   and the old thread finishes its turn without it.
//!
//! Each value is taken by the word once (it only counts up), so a stale
//! value seen by a taker never matches a later turn.

use crate::sync::{AtomicU64, Ordering};

#[derive(Default)]
pub(crate) struct TurnWord(AtomicU64);

impl TurnWord {
    /// The slot's thread starts a turn that may be taken; returns its number
    /// (odd). Only the slot's thread calls it, and only while the word is
    /// even, which no taker changes.
    pub(crate) fn begin(&self) -> u64 {
        let n = self.0.fetch_add(1, Ordering::AcqRel) + 1;
        debug_assert!(n % 2 == 1, "a turn began inside another");
        n
    }

    /// The slot's thread ends turn `n`: true if the slot is still its own,
    /// false if it was taken during the turn.
    pub(crate) fn end(&self, n: u64) -> bool {
        self.0.compare_exchange(n, n + 1, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    /// Takes the slot from the thread running turn `n`: true if that turn
    /// was still running (the caller now gives the slot to another thread).
    pub(crate) fn take(&self, n: u64) -> bool {
        n % 2 == 1 && self.0.compare_exchange(n, n + 1, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    /// The word now: an odd value is a running turn a taker may take.
    pub(crate) fn now(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
}
