//! hz backend on Boa, the JavaScript engine written in Rust.
//!
//! Boa's garbage collector is thread-local, so a Boa context never leaves
//! the thread that made it: Boa agents are pinned to a home thread.
//!
//! Boa 0.22 is used with two small patches (`vendor/boa_engine`,
//! `HZ-PATCHES.md`) that the backend needs and Boa's API lacks:
//! - an interrupt flag, so terminate can end running code from another
//!   thread (checked at loop back-edges and calls; uncatchable);
//! - shared memory the host owns, so every SharedArrayBuffer a Boa agent
//!   makes is hz memory ([`memory`]), shareable with any engine.
//!
//! This crate is being built in steps (issue 7): these foundations first,
//! the `Engine` implementation next.

pub mod memory;

#[cfg(test)]
mod tests;
