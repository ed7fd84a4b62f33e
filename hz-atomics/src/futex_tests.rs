//! The futex under real threads (the loom models check the races).

use std::sync::Mutex;
use std::sync::atomic::{AtomicI32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::sync::Arc;
use crate::{Futex, WaitResult, WaitSlot};

const KEY: (usize, usize) = (0x1000, 8);

fn wait_until_queued(f: &Futex, n: usize) {
    while f.waiting(KEY) < n {
        thread::yield_now();
    }
}

#[test]
fn not_equal_when_the_value_differs() {
    let f = Futex::new();
    assert_eq!(f.wait(KEY, || false, None, &WaitSlot::new(), || {}), WaitResult::NotEqual);
    assert_eq!(f.notify(KEY, usize::MAX), 0);
}

#[test]
fn notify_wakes_in_fifo_order_and_counts() {
    let f = Futex::new();
    let order = std::sync::Arc::new(Mutex::new(Vec::new()));
    let mut threads = Vec::new();
    for i in 0..3 {
        let (f2, order) = (f.clone(), order.clone());
        threads.push(thread::spawn(move || {
            let r = f2.wait(KEY, || true, None, &WaitSlot::new(), || {});
            order.lock().unwrap().push(i);
            r
        }));
        wait_until_queued(&f, i + 1);
    }
    assert_eq!(f.notify(KEY, 1), 1);
    while order.lock().unwrap().is_empty() {
        thread::yield_now();
    }
    assert_eq!(f.notify(KEY, usize::MAX), 2);
    for t in threads {
        assert_eq!(t.join().unwrap(), WaitResult::Ok);
    }
    assert_eq!(order.lock().unwrap()[0], 0, "the oldest waiter wakes first");
    assert_eq!(f.notify((0x1000, 12), 5), 0, "other offsets are other queues");
}

#[test]
fn timeouts_end_waits_and_are_not_counted() {
    let f = Futex::new();
    let t0 = Instant::now();
    let r = f.wait(KEY, || true, Some(Instant::now() + Duration::from_millis(30)), &WaitSlot::new(), || {});
    assert_eq!(r, WaitResult::TimedOut);
    assert!(t0.elapsed() >= Duration::from_millis(30));
    assert_eq!(f.waiting(KEY), 0);
    assert_eq!(f.notify(KEY, 1), 0);
}

#[test]
fn async_waiters_and_cancellation() {
    let f = Futex::new();
    let got = std::sync::Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    let w = f.wait_async(KEY, || true, move |r| g.lock().unwrap().push(r)).expect("queued");
    assert!(f.wait_async(KEY, || false, |_| unreachable!()).is_none(), "not-equal is the caller's");
    assert_eq!(f.notify(KEY, 1), 1);
    assert_eq!(f.cancel(&w, WaitResult::TimedOut), None, "already woken");
    let g = got.clone();
    let w2 = f.wait_async(KEY, || true, move |r| g.lock().unwrap().push(r)).unwrap();
    assert_eq!(f.cancel(&w2, WaitResult::TimedOut), Some(WaitResult::TimedOut));
    assert_eq!(*got.lock().unwrap(), vec![WaitResult::Ok, WaitResult::TimedOut]);
    // Cancelling a blocked waiter (terminate) wakes its thread.
    let slot = Arc::new(WaitSlot::new());
    let (f2, s2) = (f.clone(), slot.clone());
    let t = thread::spawn(move || f2.wait(KEY, || true, None, &s2, || {}));
    wait_until_queued(&f, 1);
    slot.cancel(&f);
    assert_eq!(t.join().unwrap(), WaitResult::Cancelled);
    assert_eq!(f.waiting(KEY), 0);
    // A cancelled slot ends later waits at once, without queueing.
    assert_eq!(f.wait(KEY, || true, None, &slot, || {}), WaitResult::Cancelled);
    assert_eq!(f.waiting(KEY), 0);
}

#[test]
fn before_park_runs_only_when_the_wait_sleeps() {
    let f = Futex::new();
    let parked = std::sync::Arc::new(AtomicI32::new(0));
    let p = parked.clone();
    let r = f.wait(
        KEY,
        || true,
        Some(Instant::now() + Duration::from_millis(20)),
        &WaitSlot::new(),
        move || {
            p.fetch_add(1, Ordering::SeqCst);
        },
    );
    assert_eq!(r, WaitResult::TimedOut);
    assert_eq!(parked.load(Ordering::SeqCst), 1, "a 20 ms wait outlasts the spin and sleeps");
    let p = parked.clone();
    assert_eq!(f.wait(KEY, || false, None, &WaitSlot::new(), move || drop(p)), WaitResult::NotEqual);
    assert_eq!(std::sync::Arc::strong_count(&parked), 1, "not-equal never parks");
}

#[test]
fn value_checked_under_the_lock_loses_no_wakeup() {
    // Many rounds of: a waiter waits while the value is 0; a notifier sets
    // it to 1 then notifies. The waiter must return (Ok or NotEqual).
    for _ in 0..2000 {
        let f = Futex::new();
        let v = std::sync::Arc::new(AtomicI32::new(0));
        let (f2, v2) = (f.clone(), v.clone());
        let waiter =
            thread::spawn(move || f2.wait(KEY, || v2.load(Ordering::SeqCst) == 0, None, &WaitSlot::new(), || {}));
        v.store(1, Ordering::SeqCst);
        let woke = f.notify(KEY, 1);
        let r = waiter.join().unwrap();
        assert!(matches!((r, woke), (WaitResult::Ok, 1) | (WaitResult::NotEqual, 0)), "{r:?} {woke}");
    }
}
