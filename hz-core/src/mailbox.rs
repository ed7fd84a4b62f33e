//! An agent's task queue and life, engine-free so the loom models can check
//! the teardown races on the real code (see `loom_tests.rs`).
//!
//! The rule that keeps messages from vanishing: a task is either taken by
//! the agent's runner ([`Mailbox::pop`]) before termination was requested,
//! or it comes back to whoever can still use it: [`Mailbox::push`] refuses
//! it once the agent has finished, and [`Mailbox::finish`] returns the ones
//! still queued. Termination is requested under the same lock `pop` takes,
//! so no task is handed to an agent that is being terminated.

// Under loom only the models use it.
#![cfg_attr(hz_loom, allow(dead_code))]

use std::collections::VecDeque;

use crate::sync::{Arc, AtomicBool, Mutex, Ordering, lock};

/// Where an agent is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Life {
    /// Spawned; its engine instance is not made yet.
    New,
    /// Its engine instance exists.
    Running,
    /// Ended: it takes no more tasks.
    Finished,
}

struct State<T> {
    tasks: VecDeque<T>,
    /// In a run queue or running: whoever makes it true schedules the agent.
    scheduled: bool,
    life: Life,
}

/// An agent's queued tasks, whether it is scheduled, its life, and its
/// terminate flag (which engines poll from their interrupt handlers).
pub(crate) struct Mailbox<T> {
    state: Mutex<State<T>>,
    terminate: Arc<AtomicBool>,
}

impl<T> Mailbox<T> {
    /// A new agent's mailbox holding its first task; it starts scheduled.
    pub(crate) fn new(first: T) -> Self {
        let mut tasks = VecDeque::new();
        tasks.push_back(first);
        Mailbox {
            state: Mutex::new(State { tasks, scheduled: true, life: Life::New }),
            terminate: Arc::new(AtomicBool::new(false)),
        }
    }

    /// A mailbox with no task yet, scheduled (its runner is about to make
    /// the engine instance; the first task comes later, through `push`).
    pub(crate) fn idle() -> Self {
        Mailbox {
            state: Mutex::new(State { tasks: VecDeque::new(), scheduled: true, life: Life::New }),
            terminate: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The terminate flag itself, for an engine's interrupt handler.
    pub(crate) fn terminate_flag(&self) -> Arc<AtomicBool> {
        self.terminate.clone()
    }

    /// Queues a task: `Ok(true)` if the caller must schedule the agent (it
    /// was idle), `Ok(false)` if it is scheduled already, and `Err(task)`
    /// if the agent has finished and will never run it.
    pub(crate) fn push(&self, task: T) -> Result<bool, T> {
        let mut s = lock(&self.state);
        if s.life == Life::Finished {
            return Err(task);
        }
        s.tasks.push_back(task);
        Ok(!std::mem::replace(&mut s.scheduled, true))
    }

    /// Requests termination: `None` if the agent had finished or was being
    /// terminated already, else whether the caller must schedule it.
    pub(crate) fn request_terminate(&self) -> Option<bool> {
        let mut s = lock(&self.state);
        if s.life == Life::Finished || self.terminate.swap(true, Ordering::AcqRel) {
            return None;
        }
        Some(!std::mem::replace(&mut s.scheduled, true))
    }

    /// Whether termination was requested.
    pub(crate) fn is_terminating(&self) -> bool {
        self.terminate.load(Ordering::Acquire)
    }

    /// The next task for the runner, unless the agent is being terminated.
    pub(crate) fn pop(&self) -> Option<T> {
        let mut s = lock(&self.state);
        if self.terminate.load(Ordering::Acquire) {
            return None;
        }
        s.tasks.pop_front()
    }

    /// Whether no task is queued.
    pub(crate) fn is_empty(&self) -> bool {
        lock(&self.state).tasks.is_empty()
    }

    pub(crate) fn life(&self) -> Life {
        lock(&self.state).life
    }

    /// The engine instance now exists.
    pub(crate) fn set_running(&self) {
        let mut s = lock(&self.state);
        if s.life == Life::New {
            s.life = Life::Running;
        }
    }

    /// After a batch of turns: true if the agent must be scheduled again
    /// (tasks are queued or it is being terminated); false, and it is idle
    /// until the next push, otherwise.
    pub(crate) fn reschedule(&self) -> bool {
        let mut s = lock(&self.state);
        if s.tasks.is_empty() && !self.terminate.load(Ordering::Acquire) {
            s.scheduled = false;
            false
        } else {
            true
        }
    }

    /// Ends the agent: it takes no more tasks; returns the ones still queued,
    /// oldest first, for the caller to hand back.
    pub(crate) fn finish(&self) -> VecDeque<T> {
        let mut s = lock(&self.state);
        s.life = Life::Finished;
        std::mem::take(&mut s.tasks)
    }
}

type Joiner<R> = Box<dyn FnOnce(&R) + Send>;

enum ResultState<R> {
    Running(Vec<Joiner<R>>),
    Finished(R),
}

/// An agent's final result and the joiners waiting for it: each joiner runs
/// exactly once, whether it came before the result or after.
pub(crate) struct ResultCell<R> {
    state: Mutex<ResultState<R>>,
}

impl<R: Clone> ResultCell<R> {
    pub(crate) fn new() -> Self {
        ResultCell { state: Mutex::new(ResultState::Running(Vec::new())) }
    }

    /// Runs `f` with the result once it is set (now, if it is).
    pub(crate) fn on_finish(&self, f: Joiner<R>) {
        let mut s = lock(&self.state);
        match &mut *s {
            ResultState::Running(j) => j.push(f),
            ResultState::Finished(r) => {
                let r = r.clone();
                drop(s);
                f(&r);
            }
        }
    }

    /// The result, if set.
    pub(crate) fn get(&self) -> Option<R> {
        match &*lock(&self.state) {
            ResultState::Finished(r) => Some(r.clone()),
            ResultState::Running(_) => None,
        }
    }

    /// Sets the result and runs the joiners (outside the lock). The first
    /// result wins; false if one was set already. `won` runs only for the
    /// result that wins, under the lock: before anyone can see the result.
    pub(crate) fn set(&self, result: R, won: impl FnOnce()) -> bool {
        let joiners = {
            let mut s = lock(&self.state);
            if matches!(*s, ResultState::Finished(_)) {
                return false;
            }
            won();
            match std::mem::replace(&mut *s, ResultState::Finished(result.clone())) {
                ResultState::Running(j) => j,
                ResultState::Finished(_) => unreachable!("checked above"),
            }
        };
        for j in joiners {
            j(&result);
        }
        true
    }
}
