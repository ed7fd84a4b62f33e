//! hz: parallel JavaScript.
//!
//! One program, many *agents*: each agent is an engine instance (QuickJS
//! today) with its own globals, event loop and microtask queue. Agents run
//! on a few OS threads (M:N), talk through Go-style channels carrying
//! structured clones, and are driven from JavaScript (`hz.spawn`,
//! `hz.channel`, `hz.select`) or from Rust (this crate).
//!
//! ```
//! # #[cfg(feature = "quickjs")] {
//! use hz::{AgentSpec, Runtime, Value};
//!
//! let rt = Runtime::builder().threads(2).build().unwrap();
//! let agent = rt
//!     .spawn_default(AgentSpec::function("(a, b) => a + b").args(vec![2.into(), 3.into()]).unwrap())
//!     .unwrap();
//! assert_eq!(agent.join().unwrap(), Value::Number(5.0));
//! # }
//! ```

#![warn(missing_docs)]

mod runtime;

// The README's Rust examples compile and run as doctests of this crate.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// The runtime and its builder, with the compiled-in engines registered.
pub use runtime::{Runtime, RuntimeBuilder};

/// Values that cross agents, engines and the Rust boundary.
pub use hz_clone::{BigInt, ErrorValue, HostObject, Payload, Value, ViewKind, from_value, to_value};
/// Agents, channels and errors of the core.
pub use hz_core::{
    Activity, AgentHandle, AgentId, AgentSpec, Channel, Error, JoinError, JsError, Limit, Limits, Source,
};
/// For backend authors: the engine traits and the host API.
pub use hz_core::{Agent, AgentBox, Engine, Host};
/// Host functions ([`hz_core::Runtime::register_fn`], [`hz_core::Runtime::register_async_fn`]).
pub use hz_core::{Caller, HostData, HostFnError, Reply};

/// The QuickJS backend.
#[cfg(feature = "quickjs")]
pub use hz_backend_quickjs::QuickJsEngine;

/// The V8 backend.
#[cfg(feature = "v8")]
pub use hz_backend_v8::V8Engine;

/// The Boa backend.
#[cfg(feature = "boa")]
pub use hz_backend_boa::BoaEngine;
