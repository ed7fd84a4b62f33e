//! loom models of the channel protocol (see CHANNELS.md). Run with
//! `RUSTFLAGS="--cfg hz_loom" cargo test -p hz-core --release --lib`.
//! At most three threads each, as loom's state space demands.

use loom::thread;

use crate::channel::{Attempt, Case, Chan, Outcome, Recv, Selected, SendResult, Waiter, select};

fn send(ch: &Chan<u32>, v: u32) -> Result<(), u32> {
    ch.send_blocking(v)
}

fn recv(ch: &Chan<u32>) -> Option<u32> {
    ch.recv_blocking()
}

#[test]
fn rendezvous_hands_over_exactly_once() {
    loom::model(|| {
        let ch = Chan::new(0);
        let tx = ch.clone();
        let t = thread::spawn(move || send(&tx, 7));
        assert_eq!(recv(&ch), Some(7));
        assert_eq!(t.join().unwrap(), Ok(()));
    });
}

#[test]
fn close_wakes_a_blocked_receiver() {
    loom::model(|| {
        let ch = Chan::new(0);
        let rx = ch.clone();
        let t = thread::spawn(move || recv(&rx));
        ch.close().unwrap();
        assert_eq!(t.join().unwrap(), None);
    });
}

#[test]
fn send_racing_close_is_delivered_or_returned() {
    loom::model(|| {
        let ch = Chan::new(1);
        let tx = ch.clone();
        let t = thread::spawn(move || send(&tx, 1));
        let closer = ch.clone();
        let c = thread::spawn(move || closer.close().unwrap());
        c.join().unwrap();
        let sent = t.join().unwrap();
        // Receivers drain after close: a value reported sent is there.
        let drained = recv(&ch);
        match sent {
            Ok(()) => assert_eq!(drained, Some(1)),
            Err(v) => {
                assert_eq!(v, 1);
                assert_eq!(drained, None);
            }
        }
    });
}

#[test]
fn blocked_sender_racing_close_is_told() {
    loom::model(|| {
        let ch = Chan::new(0);
        let tx = ch.clone();
        let t = thread::spawn(move || send(&tx, 5));
        let rx = ch.clone();
        let r = thread::spawn(move || rx.try_recv());
        let got = match r.join().unwrap() {
            Attempt::Done(Recv::Value(v)) => Some(v),
            _ => None,
        };
        ch.close().unwrap();
        match t.join().unwrap() {
            Ok(()) => assert_eq!(got, Some(5)),
            Err(v) => {
                assert_eq!(v, 5);
                assert_eq!(got, None);
            }
        }
    });
}

#[test]
fn select_completes_one_case_and_loses_nothing() {
    loom::model(|| {
        let a = Chan::new(0);
        let b = Chan::new(0);
        let (ta, tb) = (a.clone(), b.clone());
        let sa = thread::spawn(move || send(&ta, 1));
        let sb = thread::spawn(move || send(&tb, 2));
        let (w, wait) = Waiter::blocking();
        let chosen = match select(vec![Case::Recv(a.clone()), Case::Recv(b.clone())], false, || w) {
            Selected::Ready(o) => o,
            Selected::Waiting(reg) => {
                let o = wait();
                reg.unregister();
                o
            }
            Selected::Default => unreachable!("no default"),
        };
        let (case, value) = match chosen {
            Outcome::Received { case, value } => (case, value),
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(value, [1, 2][case]);
        // The other sender is still blocked with its value: it is received, not lost.
        let other = if case == 0 { &b } else { &a };
        assert_eq!(recv(other), Some([2, 1][case]));
        assert_eq!(sa.join().unwrap(), Ok(()));
        assert_eq!(sb.join().unwrap(), Ok(()));
    });
}

#[test]
fn cancel_racing_send_never_loses_the_value() {
    loom::model(|| {
        let ch = Chan::new(1);
        let (w, _wait) = Waiter::<u32>::blocking();
        assert_eq!(ch.recv(|| w.clone()), Attempt::WouldBlock(()));
        let tx = ch.clone();
        let t = thread::spawn(move || tx.try_send(9));
        // The receiver goes away (a terminated agent): cancel its waiter.
        let cancelled = w.cancel();
        let sent = t.join().unwrap();
        assert_eq!(sent, Attempt::Done(SendResult::Sent));
        if cancelled {
            // The send did not hand the value to the dead receiver: it is buffered.
            assert_eq!(ch.try_recv(), Attempt::Done(Recv::Value(9)));
        } else {
            // The receiver won the value before it was cancelled.
            assert_eq!(ch.try_recv(), Attempt::WouldBlock(()));
        }
    });
}
