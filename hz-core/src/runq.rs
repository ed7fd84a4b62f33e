//! The scheduler's queues: a `VecDeque` under a mutex, with its length
//! kept beside it so a worker looking for work can pass an empty queue
//! without taking its lock.
//!
//! An idle worker looks at every run queue on each round of its spin
//! (its own, the injector, then every other worker's to steal). Taking
//! a busy worker's queue lock only to find it empty made that worker wait
//! on its own queue when it pushed the agents it woke (on this 2-vCPU VM,
//! `lock_contended` was 2.5% of a V8 ping-pong's samples).
//!
//! The length is a hint: a `pop` that reads 0 just as another thread
//! pushes misses that item, and the spinning worker finds it on its next
//! round. Anything that decides to sleep on it uses [`Queue::is_empty`],
//! which takes the lock (see the parking protocol in SCHEDULER.md).

use std::collections::VecDeque;

use crate::sync::{AtomicUsize, Mutex, MutexGuard, Ordering, lock};

pub(crate) struct Queue<T> {
    items: Mutex<VecDeque<T>>,
    len: AtomicUsize,
}

impl<T> Default for Queue<T> {
    fn default() -> Self {
        Queue { items: Mutex::new(VecDeque::new()), len: AtomicUsize::new(0) }
    }
}

/// The queue, locked; the length hint follows the items when it is dropped.
pub(crate) struct Locked<'a, T> {
    items: MutexGuard<'a, VecDeque<T>>,
    len: &'a AtomicUsize,
}

impl<T> std::ops::Deref for Locked<'_, T> {
    type Target = VecDeque<T>;
    fn deref(&self) -> &VecDeque<T> {
        &self.items
    }
}

impl<T> std::ops::DerefMut for Locked<'_, T> {
    fn deref_mut(&mut self) -> &mut VecDeque<T> {
        &mut self.items
    }
}

impl<T> Drop for Locked<'_, T> {
    fn drop(&mut self) {
        self.len.store(self.items.len(), Ordering::Release);
    }
}

impl<T> Queue<T> {
    /// The queue under its lock.
    pub(crate) fn lock(&self) -> Locked<'_, T> {
        Locked { items: lock(&self.items), len: &self.len }
    }

    pub(crate) fn push_back(&self, item: T) {
        self.lock().push_back(item);
    }

    /// The first item, unless the queue looks empty (no lock taken then).
    pub(crate) fn pop_front(&self) -> Option<T> {
        if self.len.load(Ordering::Acquire) == 0 {
            return None;
        }
        self.lock().pop_front()
    }

    /// The last item, unless the queue looks empty (no lock taken then).
    pub(crate) fn pop_back(&self) -> Option<T> {
        if self.len.load(Ordering::Acquire) == 0 {
            return None;
        }
        self.lock().pop_back()
    }

    /// Whether the queue is empty, under its lock (exact).
    pub(crate) fn is_empty(&self) -> bool {
        lock(&self.items).is_empty()
    }

    /// Its length, under its lock (exact).
    pub(crate) fn len(&self) -> usize {
        lock(&self.items).len()
    }
}
