//! Per-agent resource limits, set at spawn, and the watchdog that enforces
//! the time limits on every engine.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hz_clone::Value;

use crate::Error;

/// Per-agent resource limits, set at spawn ([`crate::AgentSpec::limits`], or
/// `hz.spawn({ fn, limits: { heapBytes, stackBytes, turnMs, cpuMs } })`).
/// `None`: no limit of that kind. A child's limits are at most its
/// parent's: an agent cannot escape its limits by spawning.
///
/// Exceeding the heap or a time limit ends that agent only, uncatchably,
/// with a `LimitError` at join ([`crate::JoinError::Limit`] in Rust); the
/// runtime and the other agents go on. Exceeding the stack throws a
/// `RangeError` in the agent, as every engine does for runaway recursion
/// (uncaught, it ends the agent with that error).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// The most heap the agent may hold, in bytes: the engine's heap plus
    /// the ArrayBuffer and SharedArrayBuffer memory it holds (a buffer
    /// transferred to it, or shared memory it was sent, counts once it
    /// arrives; each SharedArrayBuffer object counts its memory in full).
    pub heap_bytes: Option<usize>,
    /// The most native stack its JavaScript may use, in bytes.
    pub stack_bytes: Option<usize>,
    /// The longest one turn (one task and the microtasks after it) may run.
    pub turn_time: Option<Duration>,
    /// The most time the agent may run in all, over all its turns.
    pub cpu_time: Option<Duration>,
}

/// Which limit an agent exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Limit {
    /// [`Limits::heap_bytes`].
    Heap,
    /// [`Limits::turn_time`].
    Turn,
    /// [`Limits::cpu_time`].
    Cpu,
}

impl Limit {
    /// The name JS sees (`"heap"`, `"turn"`, `"cpu"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::Heap => "heap",
            Limit::Turn => "turn",
            Limit::Cpu => "cpu",
        }
    }
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

fn min_opt<T: Ord>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl Limits {
    /// No limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`Limits::heap_bytes`].
    pub fn heap_bytes(mut self, bytes: usize) -> Self {
        self.heap_bytes = Some(bytes);
        self
    }

    /// Sets [`Limits::stack_bytes`].
    pub fn stack_bytes(mut self, bytes: usize) -> Self {
        self.stack_bytes = Some(bytes);
        self
    }

    /// Sets [`Limits::turn_time`].
    pub fn turn_time(mut self, t: Duration) -> Self {
        self.turn_time = Some(t);
        self
    }

    /// Sets [`Limits::cpu_time`].
    pub fn cpu_time(mut self, t: Duration) -> Self {
        self.cpu_time = Some(t);
        self
    }

    /// Each limit, the tighter of `self`'s and `outer`'s.
    pub fn within(self, outer: &Limits) -> Limits {
        Limits {
            heap_bytes: min_opt(self.heap_bytes, outer.heap_bytes),
            stack_bytes: min_opt(self.stack_bytes, outer.stack_bytes),
            turn_time: min_opt(self.turn_time, outer.turn_time),
            cpu_time: min_opt(self.cpu_time, outer.cpu_time),
        }
    }

    /// Whether a time limit is set (the watchdog runs only then).
    pub(crate) fn timed(&self) -> bool {
        self.turn_time.is_some() || self.cpu_time.is_some()
    }

    /// The limits of `hz.spawn`'s `limits` option as the prelude passes
    /// them (the first four of [`crate::AgentSpec::options_from_payload`]'s
    /// array): `[heapBytes, stackBytes, turnMs, cpuMs]`, `-1` for none (the
    /// prelude has checked each is a non-negative number).
    pub fn from_value(v: &Value) -> Result<Limits, Error> {
        let bad = || Error::NotSupported("limits: expected [heapBytes, stackBytes, turnMs, cpuMs]");
        let Value::Array(items) = v else { return Err(bad()) };
        if items.len() != 4 {
            return Err(bad());
        }
        let n = |i: usize| items[i].as_f64().filter(|n| *n >= 0.0);
        let bytes = |i: usize| n(i).map(|n| n.min(usize::MAX as f64) as usize);
        let ms = |i: usize| n(i).map(|n| Duration::from_secs_f64(n.min(1e12) / 1000.0));
        Ok(Limits { heap_bytes: bytes(0), stack_bytes: bytes(1), turn_time: ms(2), cpu_time: ms(3) })
    }
}

/// The time an agent has run, and the turn running now (for the watchdog).
#[derive(Default)]
pub(crate) struct Clock {
    /// Time run in finished turns.
    pub(crate) used: Duration,
    /// Counts turns; a watchdog timer acts only on the turn it was set for.
    pub(crate) turn: u64,
    /// When the running turn started.
    pub(crate) started: Option<Instant>,
    /// Time the running turn spent blocked in `Atomics.wait` so far.
    pub(crate) blocked: Duration,
    /// When the current `Atomics.wait` began, if the turn is in one.
    pub(crate) waiting_since: Option<Instant>,
    /// The watchdog timer armed for the running turn.
    pub(crate) timer: Option<crate::timer::TimerKey>,
}

impl Clock {
    /// Time the running turn has run (not counting waits), at `now`.
    pub(crate) fn busy(&self, now: Instant) -> Duration {
        let Some(started) = self.started else { return Duration::ZERO };
        let waiting = self.waiting_since.map_or(Duration::ZERO, |w| now.saturating_duration_since(w));
        now.saturating_duration_since(started).saturating_sub(self.blocked).saturating_sub(waiting)
    }

    /// What the running turn may still use before a limit ends it, at `now`,
    /// and which limit that would be.
    pub(crate) fn left(&self, limits: &Limits, now: Instant) -> Option<(Duration, Limit)> {
        let busy = self.busy(now);
        let turn = limits.turn_time.map(|t| (t.saturating_sub(busy), Limit::Turn));
        let cpu = limits.cpu_time.map(|t| (t.saturating_sub(self.used + busy), Limit::Cpu));
        match (turn, cpu) {
            (Some(a), Some(b)) => Some(if b.0 < a.0 { b } else { a }),
            (a, b) => a.or(b),
        }
    }
}

/// The bytes an agent holds against [`Limits::heap_bytes`], as its backend
/// counts them: what the engine allocates through hz, and the ArrayBuffer
/// and SharedArrayBuffer memory the agent holds. Counted from any thread
/// (an engine may free memory off the agent's thread).
#[derive(Default)]
pub(crate) struct HeapMeter {
    used: AtomicUsize,
    /// The limit was passed: the agent is being ended.
    exceeded: AtomicBool,
}

/// What [`HeapMeter::admit`] says of an allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    /// It fits.
    Yes,
    /// Refused: the agent is already past its limit and past the grace.
    No,
    /// Refused, and this is the first time the limit is passed: the caller
    /// ends the agent.
    Exceeded,
}

impl HeapMeter {
    /// Whether `more` bytes fit under `limit` (they are not counted yet:
    /// [`HeapMeter::hold`] does that). Once the limit has been passed,
    /// allocations get a grace of a quarter of the limit (plus 1 MiB), so
    /// the engine can unwind cleanly until the agent's interrupt stops it.
    pub(crate) fn admit(&self, limit: usize, more: usize) -> Admit {
        let wanted = self.used.load(Ordering::Relaxed).saturating_add(more);
        if wanted <= limit {
            return Admit::Yes;
        }
        if self.exceeded.swap(true, Ordering::AcqRel) {
            if wanted <= limit.saturating_add(limit / 4 + (1 << 20)) { Admit::Yes } else { Admit::No }
        } else {
            Admit::Exceeded
        }
    }

    /// Counts `n` bytes in. True if that passes `limit` for the first time
    /// (memory the agent was handed cannot be refused: the caller ends it).
    pub(crate) fn hold(&self, limit: usize, n: usize) -> bool {
        let used = self.used.fetch_add(n, Ordering::Relaxed).saturating_add(n);
        used > limit && !self.exceeded.swap(true, Ordering::AcqRel)
    }

    /// Counts `n` bytes out.
    pub(crate) fn release(&self, n: usize) {
        // Saturating: a release never takes the count below zero.
        let _ = self.used.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| Some(u.saturating_sub(n)));
    }

    /// The bytes counted now.
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }
}

#[cfg(all(test, not(hz_loom)))]
mod tests {
    use super::{Admit, HeapMeter};

    #[test]
    fn the_meter_refuses_past_the_limit_once_then_grants_the_grace() {
        let m = HeapMeter::default();
        assert_eq!(m.admit(100, 100), Admit::Yes);
        assert!(!m.hold(100, 60));
        assert_eq!(m.admit(100, 41), Admit::Exceeded);
        // Past the limit: a grace of limit/4 + 1 MiB, then no.
        assert_eq!(m.admit(100, 1 << 20), Admit::Yes);
        assert_eq!(m.admit(100, 2 << 20), Admit::No);
        m.release(60);
        assert_eq!(m.used(), 0);
        m.release(5);
        assert_eq!(m.used(), 0);
    }

    #[test]
    fn memory_handed_over_counts_and_passing_the_limit_is_told_once() {
        let m = HeapMeter::default();
        assert!(!m.hold(100, 100));
        assert!(m.hold(100, 1));
        assert!(!m.hold(100, 1));
        assert_eq!(m.used(), 102);
    }
}
