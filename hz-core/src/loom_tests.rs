//! loom models of the channel protocol (see CHANNELS.md). Run with
//! `RUSTFLAGS="--cfg hz_loom" cargo test -p hz-core --release --lib`.
//! At most three threads each, as loom's state space demands.

use loom::thread;

use crate::channel::{Attempt, Case, Chan, Outcome, Recv, Registration, Selected, SendResult, Waiter, select};
use crate::mailbox::{Mailbox, ResultCell};
use crate::sync::{Arc, AtomicUsize, Ordering};
use crate::turn::TurnWord;

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

#[test]
fn unregistering_a_select_leaves_no_entry_on_any_channel() {
    // A select receiving on two channels: a send on the first completes it
    // while its owner cancels it (its agent ends). Whichever wins, once the
    // owner unregisters, neither channel keeps an entry: unregister may
    // skip the channels' locks only when no entry shares the waiter, and
    // the second channel's entry does until it is removed.
    loom::model(|| {
        let (a, b) = (Chan::new(0), Chan::new(0));
        let got = Arc::new(AtomicUsize::new(0));
        let g = got.clone();
        let waiter = || {
            Waiter::new(move |o| {
                if let Outcome::Received { value, .. } = o {
                    g.store(value as usize, Ordering::SeqCst);
                }
            })
        };
        let Selected::Waiting(reg) = select(vec![Case::Recv(a.clone()), Case::Recv(b.clone())], false, waiter) else {
            panic!("nothing was ready");
        };
        let tx = a.clone();
        let sender = thread::spawn(move || tx.try_send(5));
        let cancelled = reg.waiter().cancel();
        reg.unregister();
        let sent = sender.join().unwrap();
        assert_eq!((a.queued(), b.queued()), (0, 0), "an entry was left behind");
        match (cancelled, sent) {
            (true, Attempt::WouldBlock(5)) => assert_eq!(got.load(Ordering::SeqCst), 0),
            (false, Attempt::Done(SendResult::Sent)) => assert_eq!(got.load(Ordering::SeqCst), 5),
            other => panic!("cancelled and sent disagree: {other:?}"),
        }
    });
}

// Agent teardown: the mailbox and result cell the scheduler uses, with the
// hand-back rule of `AgentShared` (a received value its agent will never
// run goes back to the front of its channel).

/// The first task of every model agent (its start), not a message.
const START: u32 = u32::MAX;

/// An agent blocked in a receive on `ch`: its waiter queues the received
/// value as a task, or hands it back if the agent has finished.
fn blocked_receiver(ch: &Arc<Chan<u32>>, mailbox: &Arc<Mailbox<u32>>) -> Registration<u32> {
    let (mb, back) = (mailbox.clone(), ch.clone());
    let w = Waiter::new(move |o| {
        if let Outcome::Received { value, .. } = o
            && let Err(v) = mb.push(value)
        {
            back.give_back(v);
        }
    });
    assert_eq!(ch.recv(|| w.clone()), Attempt::WouldBlock(()));
    Registration::single(w, ch.clone())
}

/// What terminate does once the agent's runner sees it: ends the mailbox,
/// hands back the queued values (newest first), cancels the pending receive.
fn tear_down(mailbox: &Mailbox<u32>, ch: &Chan<u32>, reg: &Registration<u32>) {
    for v in mailbox.finish().into_iter().rev() {
        if v != START {
            ch.give_back(v);
        }
    }
    reg.waiter().cancel();
    reg.unregister();
}

#[test]
fn terminate_racing_a_send_delivers_or_gives_back() {
    loom::model(|| {
        let ch = Chan::new(1);
        let mailbox = Arc::new(Mailbox::new(START));
        let reg = blocked_receiver(&ch, &mailbox);
        let tx = ch.clone();
        let sender = thread::spawn(move || send(&tx, 7));
        let (mb, ch2) = (mailbox.clone(), ch.clone());
        let terminator = thread::spawn(move || {
            if mb.request_terminate().is_some() {
                // (The runner would see the flag; the model tears down here.)
            }
            (mb, ch2)
        });
        // The runner takes tasks until termination is requested.
        let mut ran = Vec::new();
        while let Some(t) = mailbox.pop() {
            if t != START {
                ran.push(t);
            }
        }
        let (mb, ch2) = terminator.join().unwrap();
        tear_down(&mb, &ch2, &reg);
        assert_eq!(sender.join().unwrap(), Ok(()));
        // 7 ran in the agent, or is in the channel: once.
        let left = match ch.try_recv() {
            Attempt::Done(Recv::Value(v)) => vec![v],
            _ => vec![],
        };
        let mut all = ran;
        all.extend(left);
        assert_eq!(all, vec![7]);
        assert_eq!(ch.try_recv(), Attempt::WouldBlock(()));
    });
}

#[test]
fn terminate_racing_close_and_a_send_accounts_for_the_value() {
    loom::model(|| {
        let ch = Chan::new(0);
        let mailbox = Arc::new(Mailbox::new(START));
        let reg = blocked_receiver(&ch, &mailbox);
        let tx = ch.clone();
        let sender = thread::spawn(move || send(&tx, 3));
        let closer_ch = ch.clone();
        let closer = thread::spawn(move || closer_ch.close().unwrap());
        // Terminate and tear down on this thread, racing both.
        mailbox.request_terminate();
        assert_eq!(mailbox.pop(), None, "no task after terminate");
        tear_down(&mailbox, &ch, &reg);
        closer.join().unwrap();
        let sent = sender.join().unwrap();
        // The agent ran nothing; a value reported sent is in the channel.
        let left = match ch.try_recv() {
            Attempt::Done(Recv::Value(v)) => Some(v),
            _ => None,
        };
        match sent {
            Ok(()) => assert_eq!(left, Some(3)),
            Err(v) => {
                assert_eq!(v, 3);
                assert_eq!(left, None);
            }
        }
        // And a push after the end comes back to the pusher.
        assert_eq!(mailbox.push(1), Err(1));
    });
}

#[test]
fn join_racing_the_end_hears_it_once() {
    loom::model(|| {
        let cell = Arc::new(ResultCell::<u32>::new());
        let heard = Arc::new(AtomicUsize::new(0));
        // The winner's hook (an agent's unhoming) runs once, before any
        // joiner hears of the end.
        let won = Arc::new(AtomicUsize::new(0));
        let (c, h, w) = (cell.clone(), heard.clone(), won.clone());
        let joiner = thread::spawn(move || {
            // Counts the calls, and keeps the result in the low bits.
            c.on_finish(Box::new(move |r: &u32| {
                assert_eq!(w.load(Ordering::SeqCst), 1, "a joiner heard of the end before its hook ran");
                h.fetch_add(1000 + *r as usize, Ordering::SeqCst);
            }));
        });
        let (c2, w2) = (cell.clone(), won.clone());
        let ender = thread::spawn(move || {
            c2.set(42, || {
                w2.fetch_add(1, Ordering::SeqCst);
            })
        });
        // A terminate racing the natural end: the first result wins.
        let second = cell.set(7, || {
            won.fetch_add(1, Ordering::SeqCst);
        });
        let first = ender.join().unwrap();
        joiner.join().unwrap();
        assert!(first ^ second, "exactly one result is set");
        assert_eq!(won.load(Ordering::SeqCst), 1, "only the winner's hook runs");
        let r = cell.get().unwrap();
        assert!(r == 42 || r == 7);
        // The joiner heard it exactly once, whenever it registered.
        assert_eq!(heard.load(Ordering::SeqCst), 1000 + r as usize);
    });
}

#[test]
fn a_long_turn_ends_once_by_its_thread_or_the_monitor() {
    loom::model(|| {
        let word = Arc::new(TurnWord::default());
        let n = word.begin();
        let w = word.clone();
        let monitor = thread::spawn(move || {
            let seen = w.now();
            if !w.take(seen) {
                return false;
            }
            // The thread the slot goes to runs turns of its own on it.
            let m = w.begin();
            assert!(w.end(m), "the new thread's turn was taken");
            true
        });
        let kept = word.end(n);
        let took = monitor.join().unwrap();
        assert!(kept ^ took, "the turn ended twice or never: kept {kept}, took {took}");
        // Either way the word is even: no turn runs, none can be taken.
        assert!(!word.take(word.now()));
    });
}

#[test]
fn a_hand_off_before_a_block_races_the_monitor() {
    loom::model(|| {
        let word = Arc::new(TurnWord::default());
        let n = word.begin();
        let w = word.clone();
        let monitor = thread::spawn(move || w.take(w.now()));
        // The slot's thread, about to block, gives the slot away itself.
        let gave = word.take(n);
        let took = monitor.join().unwrap();
        assert!(gave ^ took, "the slot went to two threads or none");
        // The turn's end then finds the slot gone.
        assert!(!word.end(n));
    });
}
