//! loom models of the futex (`RUSTFLAGS="--cfg hz_loom" cargo test -p
//! hz-atomics --release --lib`). The value is a loom atomic; the futex's own
//! lock is what makes the check-then-wait race free.

use loom::sync::atomic::{AtomicI32, Ordering};
use loom::thread;

use crate::sync::{Arc, Mutex, lock};
use crate::{Futex, WaitResult, WaitSlot};

const KEY: (usize, usize) = (1, 0);

#[test]
fn no_lost_wakeup_between_check_and_wait() {
    loom::model(|| {
        let f = Futex::new();
        let v = Arc::new(AtomicI32::new(0));
        let (f2, v2) = (f.clone(), v.clone());
        let waiter =
            thread::spawn(move || f2.wait(KEY, || v2.load(Ordering::SeqCst) == 0, None, &WaitSlot::new(), || {}));
        v.store(1, Ordering::SeqCst);
        let woke = f.notify(KEY, 1);
        let r = waiter.join().unwrap();
        // Either the waiter saw the new value, or it was queued and this
        // notify woke it (and counted it). A lost wake-up deadlocks the model.
        assert!(matches!((r, woke), (WaitResult::Ok, 1) | (WaitResult::NotEqual, 0)), "{r:?} {woke}");
    });
}

#[test]
fn terminate_while_waiting_ends_the_wait_once() {
    loom::model(|| {
        let f = Futex::new();
        let slot = Arc::new(WaitSlot::new());
        let (f2, s2) = (f.clone(), slot.clone());
        // The cancellation may land before the wait, while it registers, or
        // while it sleeps: each way the wait ends (a lost cancellation
        // deadlocks the model), and only a notify can make it Ok.
        let waiter = thread::spawn(move || f2.wait(KEY, || true, None, &s2, || {}));
        let f3 = f.clone();
        let notifier = thread::spawn(move || f3.notify(KEY, 1));
        slot.cancel(&f);
        let woke = notifier.join().unwrap();
        let r = waiter.join().unwrap();
        match r {
            WaitResult::Ok => assert_eq!(woke, 1),
            WaitResult::Cancelled => assert_eq!(woke, 0),
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(f.waiting(KEY), 0);
    });
}

#[test]
fn notify_and_timeout_race_agrees_with_the_count() {
    loom::model(|| {
        let f = Futex::new();
        let f2 = f.clone();
        // A deadline already past: the waiter times out as soon as it looks,
        // racing the notify.
        let deadline = Some(std::time::Instant::now());
        let waiter = thread::spawn(move || f2.wait(KEY, || true, deadline, &WaitSlot::new(), || {}));
        let woke = f.notify(KEY, 1);
        let r = waiter.join().unwrap();
        // Woken "ok" exactly when notify counted it; else "timed-out".
        match r {
            WaitResult::Ok => assert_eq!(woke, 1),
            WaitResult::TimedOut => assert_eq!(woke, 0),
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(f.waiting(KEY), 0);
    });
}

#[test]
fn async_waiter_is_woken_once() {
    loom::model(|| {
        let f = Futex::new();
        let hits = Arc::new(Mutex::new(Vec::new()));
        let h = hits.clone();
        let w = f.wait_async(KEY, || true, move |r| lock(&h).push(r)).expect("queued");
        let f2 = f.clone();
        let notifier = thread::spawn(move || f2.notify(KEY, 1));
        let timed_out = f.cancel(&w, WaitResult::TimedOut);
        let woke = notifier.join().unwrap();
        let hits = lock(&hits).clone();
        assert_eq!(hits.len(), 1, "completed exactly once: {hits:?}");
        assert_eq!(woke == 1, timed_out.is_none());
        assert_eq!(hits[0], if woke == 1 { WaitResult::Ok } else { WaitResult::TimedOut });
    });
}
