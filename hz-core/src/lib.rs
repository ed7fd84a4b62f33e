//! hz-core: everything concurrent in hz, engine-free.
//!
//! A backend implements [`Engine`] and [`Agent`]; its natives call [`Host`].
//! Embedders use [`Runtime`], [`AgentHandle`] and [`Channel`].

mod sync;

pub mod channel;

mod mailbox;

#[cfg(all(test, hz_loom))]
mod loom_tests;

#[cfg(all(test, not(hz_loom)))]
mod channel_tests;
#[cfg(all(test, not(hz_loom)))]
mod scheduler_tests;

/// A test engine with no JavaScript, for the scheduler's own tests.
#[cfg(not(hz_loom))]
pub mod testing;

#[cfg(not(hz_loom))]
mod agent;
#[cfg(not(hz_loom))]
mod api;
#[cfg(not(hz_loom))]
mod engine;
#[cfg(not(hz_loom))]
mod error;
#[cfg(not(hz_loom))]
mod hostfn;
#[cfg(not(hz_loom))]
mod limits;
#[cfg(not(hz_loom))]
pub mod modules;
#[cfg(not(hz_loom))]
mod runtime;
#[cfg(not(hz_loom))]
mod timer;

/// Agent and host API: what a backend's natives call.
#[cfg(not(hz_loom))]
pub use agent::{AgentId, AgentSpec, Completion, Host, OpStart, PayloadChan, Source, Status, Task, wait_timeout};
/// Embedder API: handles and channels.
#[cfg(not(hz_loom))]
pub use api::{AgentHandle, Channel};
/// The backend traits.
#[cfg(not(hz_loom))]
pub use engine::{Agent, AgentBox, Engine};
/// Errors.
#[cfg(not(hz_loom))]
pub use error::{Error, JoinError, JsError};
/// Host functions.
#[cfg(not(hz_loom))]
pub use hostfn::{Caller, HostData, HostFnError, Reply};
/// Per-agent limits.
#[cfg(not(hz_loom))]
pub use limits::{Limit, Limits};
/// The runtime and its builder.
#[cfg(not(hz_loom))]
pub use runtime::{Activity, Runtime, RuntimeBuilder};

/// The JavaScript half of the JS API, shared by every backend: a function
/// expression `(ops, global) => internals` (see `prelude.js`).
pub const PRELUDE: &str = include_str!("prelude.js");

/// The Web Worker API (`web.js`): a function expression the prelude
/// evaluates in an agent on its first use, which backends hand over as
/// `ops.webSource()`.
pub const WEB: &str = include_str!("web.js");
