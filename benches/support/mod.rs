//! Shared by the bench files: driving a JS loop from Rust in batches.

use std::time::{Duration, Instant};

use hz::{Channel, Value};

/// Asks the agent on the other end of `control` to run `iters` iterations
/// and waits for its report on `done`: the time of one criterion batch.
pub(crate) fn run_batch(control: &Channel, done: &Channel, iters: u64) -> Duration {
    let t0 = Instant::now();
    control.send(&Value::Number(iters as f64)).expect("the bench agent is listening");
    done.recv().expect("the bench agent reports");
    t0.elapsed()
}
