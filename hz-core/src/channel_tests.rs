//! Channel behaviour under real threads (the loom models check the races).

use std::thread;
use std::time::Duration;

use crate::channel::{Attempt, Case, Chan, Outcome, Recv, Selected, SendResult, Waiter, select};
use crate::sync::Arc;

fn send(ch: &Chan<u32>, v: u32) -> bool {
    ch.send_blocking(v).is_ok()
}

fn recv(ch: &Chan<u32>) -> Option<u32> {
    ch.recv_blocking()
}

#[test]
fn mpmc_delivers_every_value_once_in_per_sender_order() {
    for cap in [0, 1, 16] {
        let ch = Chan::new(cap);
        let senders: Vec<_> = (0..3u32)
            .map(|s| {
                let ch = ch.clone();
                thread::spawn(move || {
                    for i in 0..500 {
                        assert!(send(&ch, s * 1000 + i));
                    }
                })
            })
            .collect();
        let receivers: Vec<_> = (0..3)
            .map(|_| {
                let ch = ch.clone();
                thread::spawn(move || {
                    let mut got = Vec::new();
                    while let Some(v) = recv(&ch) {
                        got.push(v);
                    }
                    got
                })
            })
            .collect();
        for s in senders {
            s.join().unwrap();
        }
        ch.close().unwrap();
        let mut all: Vec<u32> = Vec::new();
        for r in receivers {
            let got = r.join().unwrap();
            // Each receiver sees each sender's values in send order.
            for s in 0..3 {
                let mine: Vec<_> = got.iter().filter(|v| **v / 1000 == s).collect();
                assert!(mine.windows(2).all(|w| w[0] < w[1]), "cap {cap}: out of order");
            }
            all.extend(got);
        }
        all.sort_unstable();
        let expected: Vec<u32> = (0..3).flat_map(|s| (0..500).map(move |i| s * 1000 + i)).collect();
        assert_eq!(all, expected, "cap {cap}: lost or duplicated values");
    }
}

#[test]
fn bounded_channel_blocks_at_capacity() {
    let ch = Chan::new(2);
    assert_eq!(ch.try_send(1), Attempt::Done(SendResult::Sent));
    assert_eq!(ch.try_send(2), Attempt::Done(SendResult::Sent));
    assert_eq!(ch.try_send(3), Attempt::WouldBlock(3));
    let tx = ch.clone();
    let t = thread::spawn(move || send(&tx, 3));
    thread::sleep(Duration::from_millis(20));
    assert!(!t.is_finished(), "send must wait while full");
    assert_eq!(recv(&ch), Some(1));
    assert!(t.join().unwrap());
    assert_eq!((recv(&ch), recv(&ch)), (Some(2), Some(3)));
}

#[test]
fn select_registration_is_removed_after_completion() {
    let (a, b) = (Chan::new(0), Chan::new(0));
    let (w, wait) = Waiter::blocking();
    let reg = match select(vec![Case::Recv(a.clone()), Case::Send(b.clone(), 5)], false, || w) {
        Selected::Waiting(reg) => reg,
        _ => panic!("nothing was ready"),
    };
    assert_eq!(a.try_send(1), Attempt::Done(SendResult::Sent));
    assert_eq!(wait(), Outcome::Received { case: 0, value: 1 });
    reg.unregister();
    // The losing send case left nothing on `b`.
    assert_eq!(b.try_recv(), Attempt::WouldBlock(()));
}

#[test]
fn select_default_and_close() {
    let a: Arc<Chan<u32>> = Chan::new(0);
    let never = || -> Arc<Waiter<u32>> { unreachable!("a default select registers nothing") };
    assert!(matches!(select(vec![Case::Recv(a.clone())], true, never), Selected::Default));
    a.close().unwrap();
    assert_eq!(a.close(), Err(crate::channel::AlreadyClosed));
    let never = || -> Arc<Waiter<u32>> { unreachable!("a closed channel is ready") };
    assert!(matches!(
        select(vec![Case::Recv(a.clone()), Case::Send(a.clone(), 1)], false, never),
        Selected::Ready(Outcome::RecvClosed { case: 0 })
    ));
}

#[test]
fn the_same_channel_twice_in_one_select() {
    let a: Arc<Chan<u32>> = Chan::new(1);
    let never = || -> Arc<Waiter<u32>> { unreachable!() };
    // Send then receive on one buffered channel: the send is ready first.
    assert!(matches!(
        select(vec![Case::Send(a.clone(), 4), Case::Recv(a.clone())], false, never),
        Selected::Ready(Outcome::Sent { case: 0 })
    ));
    assert_eq!(a.try_recv(), Attempt::Done(Recv::Value(4)));
}
