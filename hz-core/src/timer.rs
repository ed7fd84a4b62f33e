//! One timer thread per runtime: a deadline heap whose callbacks enqueue
//! tasks (setTimeout) or claim waiters (select timeouts).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use rustc_hash::FxHashMap as HashMap;

use crate::sync::{Condvar, Mutex, lock};

/// Identifies a timer for [`Timers::cancel`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct TimerKey(u64);

type Callback = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct State {
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    callbacks: HashMap<u64, Callback>,
    next: u64,
    /// Callbacks taken off the heap and not yet run (so `pending` never
    /// reads 0 between a timer's removal and the task it enqueues).
    firing: usize,
    shutdown: bool,
}

#[derive(Default)]
pub(crate) struct Timers {
    state: Mutex<State>,
    cv: Condvar,
}

impl Timers {
    pub(crate) fn add(&self, deadline: Instant, f: impl FnOnce() + Send + 'static) -> TimerKey {
        let mut st = lock(&self.state);
        st.next += 1;
        let key = st.next;
        let earliest = st.heap.peek().is_none_or(|Reverse((d, _))| deadline < *d);
        st.heap.push(Reverse((deadline, key)));
        st.callbacks.insert(key, Box::new(f));
        drop(st);
        if earliest {
            self.cv.notify_one();
        }
        TimerKey(key)
    }

    pub(crate) fn cancel(&self, key: TimerKey) {
        let cb = lock(&self.state).callbacks.remove(&key.0);
        drop(cb);
    }

    /// Timers armed or firing.
    pub(crate) fn pending(&self) -> usize {
        let st = lock(&self.state);
        st.callbacks.len() + st.firing
    }

    pub(crate) fn shutdown(&self) {
        let mut st = lock(&self.state);
        st.shutdown = true;
        st.callbacks.clear();
        drop(st);
        self.cv.notify_one();
    }

    /// The timer thread's loop.
    pub(crate) fn run(&self) {
        let mut st = lock(&self.state);
        loop {
            if st.shutdown {
                return;
            }
            let now = Instant::now();
            let mut due = Vec::new();
            while let Some(Reverse((d, key))) = st.heap.peek().copied() {
                if d > now {
                    break;
                }
                st.heap.pop();
                if let Some(cb) = st.callbacks.remove(&key) {
                    due.push(cb);
                }
            }
            if !due.is_empty() {
                st.firing = due.len();
                drop(st);
                for cb in due {
                    cb();
                }
                st = lock(&self.state);
                st.firing = 0;
                continue;
            }
            let next = st.heap.peek().map(|Reverse((d, _))| *d);
            st = match next {
                Some(d) => match self.cv.wait_timeout(st, d.saturating_duration_since(now)) {
                    Ok((g, _)) => g,
                    Err(p) => p.into_inner().0,
                },
                None => match self.cv.wait(st) {
                    Ok(g) => g,
                    Err(p) => p.into_inner(),
                },
            };
        }
    }
}
