//! Go-semantics channels, engine-free: capacity 0 (rendezvous) or bounded,
//! `close`, and `select`. The protocol is in `CHANNELS.md` beside this file.
//!
//! Every blocked operation is a [`Waiter`]. A waiter is completed exactly
//! once: whoever completes it first wins [`Waiter::try_claim`] (a CAS) while
//! holding the lock of the channel it found the waiter in, and calls
//! [`Waiter::complete`] after releasing that lock. A select registers one
//! waiter in every channel it names while holding all their locks, so no one
//! can see it half registered.

use std::collections::VecDeque;

use crate::sync::{Arc, AtomicBool, Mutex, MutexGuard, Ordering, lock};

static NEXT_CHANNEL_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// What a waiter learns when it is completed.
#[derive(Debug, PartialEq)]
pub enum Outcome<T> {
    /// Case `case` (a receive) got `value`.
    Received {
        /// Which select case (0 for a plain operation).
        case: usize,
        /// The value.
        value: T,
    },
    /// Case `case` (a receive) found the channel closed and drained.
    RecvClosed {
        /// Which select case.
        case: usize,
    },
    /// Case `case` (a send) delivered its value.
    Sent {
        /// Which select case.
        case: usize,
    },
    /// Case `case` (a send) found the channel closed; the value comes back.
    SendClosed {
        /// Which select case.
        case: usize,
        /// The value that was not sent.
        value: T,
    },
    /// The select's timeout fired first.
    Timeout,
}

/// A waiter's wake function, until it is called or dropped.
pub trait Wake<T>: Send + Sync {
    /// Calls the function with `outcome` (at most once: later calls do nothing).
    fn wake(&self, outcome: Outcome<T>);
    /// Drops the function uncalled.
    fn discard(&self);
}

impl<T, F: FnOnce(Outcome<T>) + Send> Wake<T> for Mutex<Option<F>> {
    fn wake(&self, outcome: Outcome<T>) {
        let f = lock(self).take();
        if let Some(f) = f {
            f(outcome);
        }
    }
    fn discard(&self) {
        drop(lock(self).take());
    }
}

/// One blocked operation (or select): completed at most once. Its wake
/// function lives in the same allocation (`W` is unsized once made).
pub struct Waiter<T, W: ?Sized = dyn Wake<T>> {
    claimed: AtomicBool,
    _outcome: std::marker::PhantomData<fn(Outcome<T>)>,
    wake: W,
}

impl<T: 'static> Waiter<T> {
    /// A waiter that calls `wake` with its outcome.
    pub fn new(wake: impl FnOnce(Outcome<T>) + Send + 'static) -> Arc<Self> {
        let w: std::sync::Arc<Self> = std::sync::Arc::new(Waiter {
            claimed: AtomicBool::new(false),
            _outcome: std::marker::PhantomData,
            wake: Mutex::new(Some(wake)),
        });
        crate::sync::arc_from_std(w)
    }

    /// A waiter for a blocking caller (a Rust thread): the closure returned
    /// with it blocks until the waiter is completed and yields the outcome.
    pub(crate) fn blocking() -> (Arc<Self>, impl FnOnce() -> Outcome<T>)
    where
        T: std::marker::Send,
    {
        let signal = Arc::new(crate::sync::Signal::new());
        let slot = Arc::new(Mutex::new(None));
        let (s, sl) = (signal.clone(), slot.clone());
        let w = Waiter::new(move |o| {
            *lock(&sl) = Some(o);
            s.notify();
        });
        let wait = move || {
            signal.wait();
            lock(&slot).take().expect("the outcome is stored before the signal")
        };
        (w, wait)
    }
}

impl<T, W: ?Sized + Wake<T>> Waiter<T, W> {
    /// Takes the right to complete this waiter. AcqRel: the winner sees
    /// everything the registering thread wrote before it published the waiter.
    pub fn try_claim(&self) -> bool {
        self.claimed.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    /// Whether someone claimed (or cancelled) it.
    pub fn is_claimed(&self) -> bool {
        self.claimed.load(Ordering::Acquire)
    }

    /// Delivers the outcome; only the thread that won [`Waiter::try_claim`] calls this.
    pub fn complete(&self, outcome: Outcome<T>) {
        self.wake.wake(outcome);
    }

    /// Cancels the waiter if no one completed it yet; true if this call cancelled it.
    pub fn cancel(&self) -> bool {
        if self.try_claim() {
            self.wake.discard();
            true
        } else {
            false
        }
    }
}

struct RecvEntry<T> {
    waiter: Arc<Waiter<T>>,
    case: usize,
}

struct SendEntry<T> {
    waiter: Arc<Waiter<T>>,
    case: usize,
    value: T,
}

struct State<T> {
    buf: VecDeque<T>,
    closed: bool,
    recvq: VecDeque<RecvEntry<T>>,
    sendq: VecDeque<SendEntry<T>>,
}

/// A completion to deliver once the channel locks are released.
pub(crate) type Deferred<T> = (Arc<Waiter<T>>, Outcome<T>);

/// The completion an op may owe (a send, receive, select or give-back
/// completes one waiter at most; `close` many).
type OneDeferred<T> = Option<Deferred<T>>;

/// Result of a non-blocking attempt.
#[derive(Debug, PartialEq)]
pub enum Attempt<T, R> {
    /// The operation happened (or found the channel closed): its outcome.
    Done(R),
    /// It would block; for a send the value comes back.
    WouldBlock(T),
}

/// An MPMC channel of `T` with Go semantics.
pub struct Chan<T> {
    id: u64,
    cap: usize,
    state: Mutex<State<T>>,
}

/// Error of `close` on a channel that is already closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlreadyClosed;

/// What a receive got.
#[derive(Debug, PartialEq)]
pub enum Recv<T> {
    /// A value.
    Value(T),
    /// The channel is closed and drained.
    Closed,
}

/// What a send did.
#[derive(Debug, PartialEq)]
pub enum SendResult<T> {
    /// The value was delivered (to a receiver or the buffer).
    Sent,
    /// The channel is closed; the value comes back.
    Closed(T),
}

/// One case of a select.
pub enum Case<T> {
    /// Receive from the channel.
    Recv(Arc<Chan<T>>),
    /// Send the value on the channel.
    Send(Arc<Chan<T>>, T),
}

/// The immediate result of [`select`].
pub enum Selected<T> {
    /// A case was ready and ran.
    Ready(Outcome<T>),
    /// No case was ready and the select has a default.
    Default,
    /// The select's waiter is registered on every channel; it completes later.
    Waiting(Registration<T>),
}

/// A select registered on its channels. Drop it (or call
/// [`Registration::unregister`]) after completion to remove its stale
/// entries from the other channels; unsent values are dropped then.
pub struct Registration<T> {
    waiter: Arc<Waiter<T>>,
    chans: Chans<T>,
}

/// A registration's channels: a plain op's one needs no vector.
enum Chans<T> {
    One(Arc<Chan<T>>),
    Many(Vec<Arc<Chan<T>>>),
}

impl<T> Registration<T> {
    /// The registration of a plain (one-channel) blocking op.
    pub fn single(waiter: Arc<Waiter<T>>, chan: Arc<Chan<T>>) -> Self {
        Registration { waiter, chans: Chans::One(chan) }
    }
    /// The registered waiter.
    pub fn waiter(&self) -> &Arc<Waiter<T>> {
        &self.waiter
    }
    /// Removes the waiter's entries from every channel it was registered on.
    pub fn unregister(&self) {
        // Only channel entries (and whoever just took one out to complete
        // it) share the waiter with its registration: if none do, no
        // channel holds an entry, and no lock need be taken to look. (No
        // entry is added after registration.)
        if Arc::strong_count(&self.waiter) == 1 {
            return;
        }
        let chans = match &self.chans {
            Chans::One(c) => std::slice::from_ref(c),
            Chans::Many(v) => v.as_slice(),
        };
        for c in chans {
            c.remove_waiter(&self.waiter);
        }
    }
}

impl<T> Chan<T> {
    /// A channel with capacity `cap` (0 = rendezvous).
    pub fn new(cap: usize) -> Arc<Self> {
        Arc::new(Chan {
            id: NEXT_CHANNEL_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            cap,
            state: Mutex::new(State {
                // Grown as it fills: a large or unbounded channel (a
                // MessagePort's) costs nothing until used.
                buf: VecDeque::with_capacity(cap.min(16)),
                closed: false,
                recvq: VecDeque::new(),
                sendq: VecDeque::new(),
            }),
        })
    }

    /// The capacity.
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Buffered values.
    pub fn len(&self) -> usize {
        lock(&self.state).buf.len()
    }

    /// Whether no values are buffered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `close` was called.
    pub fn is_closed(&self) -> bool {
        lock(&self.state).closed
    }

    /// A process-unique id (also the lock order for select).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Sends, blocking through `waiter` if it must wait: `Ok(Done)` if it
    /// completed now, `Ok(WouldBlock(()))` if the waiter was queued (it will
    /// be completed with `Sent` or `SendClosed`).
    pub fn send(&self, value: T, waiter: impl FnOnce() -> Arc<Waiter<T>>) -> Attempt<(), SendResult<T>> {
        let mut deferred = None;
        let r = {
            let mut st = lock(&self.state);
            match Self::try_send_locked(&mut st, self.cap, value, &mut deferred) {
                Attempt::Done(r) => Attempt::Done(r),
                Attempt::WouldBlock(value) => {
                    st.sendq.push_back(SendEntry { waiter: waiter(), case: 0, value });
                    Attempt::WouldBlock(())
                }
            }
        };
        run_deferred(deferred);
        r
    }

    /// Sends, blocking the calling thread while it must wait (for Rust
    /// threads, never agents). `Err` gives the value back if closed.
    pub fn send_blocking(&self, value: T) -> Result<(), T>
    where
        T: std::marker::Send + 'static,
    {
        let (w, wait) = Waiter::blocking();
        match self.send(value, || w) {
            Attempt::Done(SendResult::Sent) => Ok(()),
            Attempt::Done(SendResult::Closed(v)) => Err(v),
            Attempt::WouldBlock(()) => match wait() {
                Outcome::SendClosed { value, .. } => Err(value),
                _ => Ok(()),
            },
        }
    }

    /// Receives, blocking the calling thread while it must wait; `None` once
    /// the channel is closed and drained.
    pub fn recv_blocking(&self) -> Option<T>
    where
        T: std::marker::Send + 'static,
    {
        let (w, wait) = Waiter::blocking();
        match self.recv(|| w) {
            Attempt::Done(Recv::Value(v)) => Some(v),
            Attempt::Done(Recv::Closed) => None,
            Attempt::WouldBlock(()) => match wait() {
                Outcome::Received { value, .. } => Some(value),
                _ => None,
            },
        }
    }

    /// Sends without blocking.
    pub fn try_send(&self, value: T) -> Attempt<T, SendResult<T>> {
        let mut deferred = None;
        let r = {
            let mut st = lock(&self.state);
            Self::try_send_locked(&mut st, self.cap, value, &mut deferred)
        };
        run_deferred(deferred);
        r
    }

    /// Receives, blocking through `waiter` if it must wait.
    pub fn recv(&self, waiter: impl FnOnce() -> Arc<Waiter<T>>) -> Attempt<(), Recv<T>> {
        let mut deferred = None;
        let r = {
            let mut st = lock(&self.state);
            match Self::try_recv_locked(&mut st, self.cap, &mut deferred) {
                Some(r) => Attempt::Done(r),
                None => {
                    st.recvq.push_back(RecvEntry { waiter: waiter(), case: 0 });
                    Attempt::WouldBlock(())
                }
            }
        };
        run_deferred(deferred);
        r
    }

    /// Receives without blocking.
    pub fn try_recv(&self) -> Attempt<(), Recv<T>> {
        let mut deferred = None;
        let r = {
            let mut st = lock(&self.state);
            Self::try_recv_locked(&mut st, self.cap, &mut deferred)
        };
        run_deferred(deferred);
        match r {
            Some(r) => Attempt::Done(r),
            None => Attempt::WouldBlock(()),
        }
    }

    /// Closes the channel: blocked receivers see `RecvClosed`, blocked senders
    /// get their value back with `SendClosed`; buffered values stay for
    /// receivers to drain.
    pub fn close(&self) -> Result<(), AlreadyClosed> {
        let mut deferred = Vec::new();
        {
            let mut st = lock(&self.state);
            if st.closed {
                return Err(AlreadyClosed);
            }
            st.closed = true;
            for e in st.recvq.drain(..) {
                if e.waiter.try_claim() {
                    deferred.push((e.waiter, Outcome::RecvClosed { case: e.case }));
                }
            }
            for e in st.sendq.drain(..) {
                if e.waiter.try_claim() {
                    deferred.push((e.waiter, Outcome::SendClosed { case: e.case, value: e.value }));
                }
            }
        }
        run_deferred(deferred);
        Ok(())
    }

    /// Gives back a value a receive took but whose receiver ended before it
    /// could use it (an agent terminated with the completion queued): the
    /// first waiting receiver gets it, or it goes to the front of the
    /// buffer, past the capacity and even after `close`, for the next
    /// receive. So a value a sender was told is sent is never lost.
    pub fn give_back(&self, value: T) {
        let mut deferred = None;
        {
            let mut st = lock(&self.state);
            let mut value = Some(value);
            while let Some(e) = st.recvq.pop_front() {
                if e.waiter.try_claim() {
                    let value = value.take().expect("given once");
                    deferred = Some((e.waiter, Outcome::Received { case: e.case, value }));
                    break;
                }
            }
            if let Some(v) = value {
                st.buf.push_front(v);
            }
        }
        run_deferred(deferred);
    }

    fn try_send_locked(
        st: &mut State<T>,
        cap: usize,
        value: T,
        deferred: &mut OneDeferred<T>,
    ) -> Attempt<T, SendResult<T>> {
        if st.closed {
            return Attempt::Done(SendResult::Closed(value));
        }
        // A waiting receiver takes the value directly (the buffer is empty
        // whenever receivers wait).
        while let Some(e) = st.recvq.pop_front() {
            if e.waiter.try_claim() {
                *deferred = Some((e.waiter, Outcome::Received { case: e.case, value }));
                return Attempt::Done(SendResult::Sent);
            }
        }
        if st.buf.len() < cap {
            st.buf.push_back(value);
            return Attempt::Done(SendResult::Sent);
        }
        Attempt::WouldBlock(value)
    }

    fn try_recv_locked(st: &mut State<T>, cap: usize, deferred: &mut OneDeferred<T>) -> Option<Recv<T>> {
        if let Some(v) = st.buf.pop_front() {
            // Room was made: move the first live blocked sender into the
            // buffer. (A value given back can overfill the buffer by one, and
            // a rendezvous channel has no room to make.)
            while st.buf.len() < cap
                && let Some(e) = st.sendq.pop_front()
            {
                if e.waiter.try_claim() {
                    st.buf.push_back(e.value);
                    *deferred = Some((e.waiter, Outcome::Sent { case: e.case }));
                    break;
                }
            }
            return Some(Recv::Value(v));
        }
        while let Some(e) = st.sendq.pop_front() {
            if e.waiter.try_claim() {
                *deferred = Some((e.waiter, Outcome::Sent { case: e.case }));
                return Some(Recv::Value(e.value));
            }
        }
        if st.closed { Some(Recv::Closed) } else { None }
    }

    fn remove_waiter(&self, w: &Arc<Waiter<T>>) {
        let mut st = lock(&self.state);
        st.recvq.retain(|e| !Arc::ptr_eq(&e.waiter, w));
        st.sendq.retain(|e| !Arc::ptr_eq(&e.waiter, w));
    }

    /// Drops queue entries whose waiters were completed elsewhere or cancelled.
    pub fn prune(&self) {
        let mut st = lock(&self.state);
        st.recvq.retain(|e| !e.waiter.is_claimed());
        st.sendq.retain(|e| !e.waiter.is_claimed());
    }

    /// Entries queued, live or not (for the models).
    #[cfg(all(test, hz_loom))]
    pub(crate) fn queued(&self) -> usize {
        let st = lock(&self.state);
        st.recvq.len() + st.sendq.len()
    }
}

fn run_deferred<T>(deferred: impl IntoIterator<Item = Deferred<T>>) {
    for (w, outcome) in deferred {
        w.complete(outcome);
    }
}

/// Go's `select`: runs the first ready case (in the order given); else takes
/// the default if `has_default`; else registers `waiter()` on every channel.
///
/// All the cases' channels are locked together, in id order, for the
/// attempt and the registration, so a select is never seen half registered.
pub fn select<T>(cases: Vec<Case<T>>, has_default: bool, waiter: impl FnOnce() -> Arc<Waiter<T>>) -> Selected<T> {
    let mut chans: Vec<Arc<Chan<T>>> = cases
        .iter()
        .map(|c| match c {
            Case::Recv(ch) | Case::Send(ch, _) => ch.clone(),
        })
        .collect();
    chans.sort_by_key(|c| c.id);
    chans.dedup_by_key(|c| c.id);
    let mut deferred = None;
    let result = {
        let mut guards: Vec<MutexGuard<'_, State<T>>> = chans.iter().map(|c| lock(&c.state)).collect();
        let slot = |ch: &Arc<Chan<T>>| chans.iter().position(|c| c.id == ch.id).expect("channel was collected");
        // Pass 1: the first ready case.
        let mut pending: Vec<Case<T>> = Vec::with_capacity(cases.len());
        let mut ready = None;
        for (i, case) in cases.into_iter().enumerate() {
            if ready.is_some() {
                pending.push(case);
                continue;
            }
            match case {
                Case::Recv(ch) => {
                    let st = &mut guards[slot(&ch)];
                    match Chan::try_recv_locked(st, ch.cap, &mut deferred) {
                        Some(Recv::Value(value)) => ready = Some(Outcome::Received { case: i, value }),
                        Some(Recv::Closed) => ready = Some(Outcome::RecvClosed { case: i }),
                        None => pending.push(Case::Recv(ch)),
                    }
                }
                Case::Send(ch, value) => {
                    let st = &mut guards[slot(&ch)];
                    match Chan::try_send_locked(st, ch.cap, value, &mut deferred) {
                        Attempt::Done(SendResult::Sent) => ready = Some(Outcome::Sent { case: i }),
                        Attempt::Done(SendResult::Closed(value)) => {
                            ready = Some(Outcome::SendClosed { case: i, value })
                        }
                        Attempt::WouldBlock(value) => pending.push(Case::Send(ch, value)),
                    }
                }
            }
        }
        if let Some(outcome) = ready {
            Selected::Ready(outcome)
        } else if has_default {
            Selected::Default
        } else {
            // Pass 2: register one waiter everywhere. Case indices are the
            // original positions: no case was ready, so `pending` kept them all.
            let w = waiter();
            for (i, case) in pending.into_iter().enumerate() {
                match case {
                    Case::Recv(ch) => guards[slot(&ch)].recvq.push_back(RecvEntry { waiter: w.clone(), case: i }),
                    Case::Send(ch, value) => {
                        guards[slot(&ch)].sendq.push_back(SendEntry { waiter: w.clone(), case: i, value })
                    }
                }
            }
            drop(guards);
            Selected::Waiting(Registration { waiter: w, chans: Chans::Many(chans) })
        }
    };
    run_deferred(deferred);
    result
}
