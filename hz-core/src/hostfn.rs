//! Host functions: Rust functions registered once on a runtime
//! ([`Runtime::register_fn`], [`Runtime::register_async_fn`]) and callable
//! from every agent, of every engine, as `hz.host(name)(...args)`.
//!
//! Arguments arrive as [`Value`]s (cloned out of the agent, as a message
//! is), and the result goes back the same way. A host function runs on the
//! calling agent's worker thread, inside its turn: a slow one should be
//! async and answer from a thread of its own through its [`Reply`].

use std::any::Any;
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::RwLock;

use hz_clone::{Payload, Value};

use crate::agent::{AgentShared, Completion, PayloadChan};
use std::sync::Weak;

use crate::sync::Arc;
use crate::{OpStart, Runtime};

/// The error a host function gives its JavaScript caller: thrown (or the
/// promise rejected) as an Error of this name (`"Error"`, `"TypeError"`,
/// `"RangeError"`... as HTML clones errors) with this message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostFnError {
    /// The JS error's name.
    pub name: String,
    /// Its message.
    pub message: String,
}

impl HostFnError {
    /// An `Error` with `message`.
    pub fn new(message: impl Into<String>) -> Self {
        Self::named("Error", message)
    }

    /// A `TypeError` with `message`.
    pub fn type_error(message: impl Into<String>) -> Self {
        Self::named("TypeError", message)
    }

    /// A `RangeError` with `message`.
    pub fn range_error(message: impl Into<String>) -> Self {
        Self::named("RangeError", message)
    }

    /// An error named `name` (a name HTML does not clone arrives as "Error").
    pub fn named(name: impl Into<String>, message: impl Into<String>) -> Self {
        HostFnError { name: name.into(), message: message.into() }
    }
}

impl std::fmt::Display for HostFnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.name, self.message)
    }
}

impl std::error::Error for HostFnError {}

impl From<&str> for HostFnError {
    fn from(message: &str) -> Self {
        HostFnError::new(message)
    }
}

impl From<String> for HostFnError {
    fn from(message: String) -> Self {
        HostFnError::new(message)
    }
}

impl From<crate::Error> for HostFnError {
    fn from(e: crate::Error) -> Self {
        HostFnError::new(e.to_string())
    }
}

type SyncFn = dyn Fn(&Caller<'_>, Vec<Value>) -> Result<Value, HostFnError> + Send + Sync;
type AsyncFn = dyn Fn(&Caller<'_>, Vec<Value>, Reply) + Send + Sync;

/// The embedder's data of an agent (see [`crate::AgentSpec::data`]): any
/// `Send + Sync` value, shared (an `Arc`) with the agents it spawns.
#[derive(Clone)]
pub struct HostData(std::sync::Arc<dyn Any + Send + Sync>);

impl HostData {
    /// Wraps `value`.
    pub fn new<T: Any + Send + Sync>(value: T) -> Self {
        HostData(std::sync::Arc::new(value))
    }

    /// The value, if it is a `T`.
    pub fn get<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.0.downcast_ref::<T>()
    }

    /// The value as a shared `Arc<T>` (to keep past the call, e.g. on the
    /// thread that answers an async call), if it is a `T`.
    pub fn get_arc<T: Any + Send + Sync>(&self) -> Option<std::sync::Arc<T>> {
        self.0.clone().downcast::<T>().ok()
    }
}

impl std::fmt::Debug for HostData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HostData(..)")
    }
}

/// The agent calling a host function: its id, engine and host data.
pub struct Caller<'a> {
    agent: &'a AgentShared,
}

impl Caller<'_> {
    /// The calling agent's id.
    pub fn id(&self) -> crate::AgentId {
        self.agent.id
    }

    /// The calling agent's engine (`"quickjs"`, `"v8"`, `"boa"`...).
    pub fn engine(&self) -> &'static str {
        self.agent.engine.name()
    }

    /// The calling agent's host data (see [`crate::AgentSpec::data`]), if
    /// it has some and it is a `T`.
    pub fn data<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.agent.data.as_ref()?.get::<T>()
    }

    /// The calling agent's host data, whatever its type.
    pub fn host_data(&self) -> Option<&HostData> {
        self.agent.data.as_ref()
    }
}

impl std::fmt::Debug for Caller<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller").field("id", &self.id()).field("engine", &self.engine()).finish()
    }
}

enum HostFn {
    Sync(Box<SyncFn>),
    Async(Box<AsyncFn>),
}

/// The runtime's host functions, by name.
#[derive(Default)]
pub(crate) struct HostFns {
    map: RwLock<HashMap<String, std::sync::Arc<HostFn>>>,
}

impl HostFns {
    fn insert(&self, name: String, f: HostFn) {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        map.insert(name, std::sync::Arc::new(f));
    }

    fn get(&self, name: &str) -> Option<std::sync::Arc<HostFn>> {
        self.map.read().unwrap_or_else(|p| p.into_inner()).get(name).cloned()
    }
}

/// The answer to one call of an async host function: [`Reply::resolve`]
/// or [`Reply::reject`] it once, from any thread. A reply dropped
/// unanswered rejects the call (nothing is left pending forever); one
/// answered after its agent ended is ignored.
pub struct Reply {
    agent: Weak<AgentShared>,
    op: u64,
    name: String,
    answered: bool,
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reply").field("function", &self.name).field("op", &self.op).finish()
    }
}

impl Reply {
    /// Resolves the call's promise with `value`.
    pub fn resolve(mut self, value: Value) {
        self.answer(value_completion(value));
    }

    /// Rejects the call's promise with `error`.
    pub fn reject(mut self, error: impl Into<HostFnError>) {
        let e = error.into();
        self.answer(Completion::error(&e.name, &e.message));
    }

    /// Resolves with the value, or rejects with the error.
    pub fn send(self, result: Result<Value, HostFnError>) {
        match result {
            Ok(v) => self.resolve(v),
            Err(e) => self.reject(e),
        }
    }

    fn answer(&mut self, c: Completion) {
        self.answered = true;
        if let Some(agent) = self.agent.upgrade() {
            agent.complete(self.op, c);
        }
    }
}

impl Drop for Reply {
    fn drop(&mut self) {
        if !self.answered {
            let message = format!("host function {:?} dropped its reply without answering", self.name);
            self.answer(Completion::error("Error", &message));
        }
    }
}

fn value_completion(value: Value) -> Completion {
    match value.to_payload() {
        Ok(p) => Completion::ok(Some(p)),
        Err(e) => Completion::error("TypeError", &format!("a host function's result cannot be cloned: {e}")),
    }
}

impl Runtime {
    /// Registers `f` as the host function `name`, callable from every agent
    /// of this runtime (of every engine) as `hz.host(name)(...args)`: it
    /// gets the arguments as [`Value`]s, and its result is the call's value
    /// (or a thrown error). A panic is caught and thrown as an `Error`.
    /// Registering a name again replaces the function for later calls.
    ///
    /// ```
    /// use hz_clone::Value;
    /// use hz_core::{HostFnError, Runtime};
    /// # let rt = Runtime::builder().engine(hz_core::testing::TestEngine::<true>).build().unwrap();
    /// rt.register_fn("add", |args: Vec<Value>| {
    ///     let n = |i: usize| args.get(i).and_then(Value::as_f64).ok_or(HostFnError::type_error("add: numbers"));
    ///     Ok(Value::from(n(0)? + n(1)?))
    /// });
    /// ```
    pub fn register_fn<F>(&self, name: impl Into<String>, f: F)
    where
        F: Fn(Vec<Value>) -> Result<Value, HostFnError> + Send + Sync + 'static,
    {
        self.inner.host_fns.insert(name.into(), HostFn::Sync(Box::new(move |_: &Caller<'_>, args| f(args))));
    }

    /// As [`Runtime::register_fn`], with the calling agent ([`Caller`]):
    /// its id, engine and host data.
    ///
    /// ```
    /// use hz_clone::Value;
    /// use hz_core::{AgentSpec, Caller, HostFnError, Runtime};
    /// # let rt = Runtime::builder().engine(hz_core::testing::TestEngine::<true>).build().unwrap();
    /// struct Tenant(String);
    /// rt.register_fn_with("tenant", |caller: &Caller, _args: Vec<Value>| {
    ///     let tenant = caller.data::<Tenant>().ok_or(HostFnError::new("no tenant"))?;
    ///     Ok(Value::from(tenant.0.as_str()))
    /// });
    /// let spec = AgentSpec::script("job.js", "hz.host('tenant')()").data(Tenant("acme".into()));
    /// ```
    pub fn register_fn_with<F>(&self, name: impl Into<String>, f: F)
    where
        F: Fn(&Caller<'_>, Vec<Value>) -> Result<Value, HostFnError> + Send + Sync + 'static,
    {
        self.inner.host_fns.insert(name.into(), HostFn::Sync(Box::new(f)));
    }

    /// Registers `f` as the async host function `name`: in JS,
    /// `hz.host(name)(...args)` returns a promise, which `f` settles
    /// through its [`Reply`], now or later, from any thread. The agent
    /// stays alive while a call is unanswered; a terminated agent's calls
    /// are dropped (their replies go nowhere).
    ///
    /// ```
    /// use hz_clone::Value;
    /// use hz_core::Runtime;
    /// # let rt = Runtime::builder().engine(hz_core::testing::TestEngine::<true>).build().unwrap();
    /// rt.register_async_fn("later", |args: Vec<Value>, reply| {
    ///     std::thread::spawn(move || reply.resolve(Value::Array(args)));
    /// });
    /// ```
    pub fn register_async_fn<F>(&self, name: impl Into<String>, f: F)
    where
        F: Fn(Vec<Value>, Reply) + Send + Sync + 'static,
    {
        self.inner
            .host_fns
            .insert(name.into(), HostFn::Async(Box::new(move |_: &Caller<'_>, args, reply| f(args, reply))));
    }

    /// As [`Runtime::register_async_fn`], with the calling agent
    /// ([`Caller`]); take what the answer needs from it before leaving
    /// the call (e.g. [`HostData::get_arc`]).
    ///
    /// ```
    /// use hz_clone::Value;
    /// use hz_core::{Caller, Runtime};
    /// # let rt = Runtime::builder().engine(hz_core::testing::TestEngine::<true>).build().unwrap();
    /// rt.register_async_fn_with("whoami", |caller: &Caller, _args: Vec<Value>, reply| {
    ///     let id = caller.id() as f64;
    ///     std::thread::spawn(move || reply.resolve(Value::from(id)));
    /// });
    /// ```
    pub fn register_async_fn_with<F>(&self, name: impl Into<String>, f: F)
    where
        F: Fn(&Caller<'_>, Vec<Value>, Reply) + Send + Sync + 'static,
    {
        self.inner.host_fns.insert(name.into(), HostFn::Async(Box::new(f)));
    }
}

/// Calls the host function `name` for `agent` (see [`crate::Host::call_host`]).
pub(crate) fn call(agent: &Arc<AgentShared>, name: &str, args: &Payload, start_op: impl FnOnce() -> u64) -> OpStart {
    if name == BROADCAST {
        return OpStart::Done(match Value::from_payload(args) {
            Ok(Value::Array(args)) => agent.rt.broadcast.call(args),
            _ => Completion::error("TypeError", "BroadcastChannel: bad arguments"),
        });
    }
    let Some(f) = agent.rt.host_fns.get(name) else {
        return OpStart::Done(Completion::error("TypeError", &format!("hz.host: no host function named {name:?}")));
    };
    let args = match Value::from_payload(args) {
        Ok(Value::Array(args)) => args,
        Ok(other) => vec![other],
        Err(e) => return OpStart::Done(Completion::error("TypeError", &format!("hz.host: bad arguments: {e}"))),
    };
    let panicked = || Completion::error("Error", &format!("host function {name:?} panicked"));
    let caller = Caller { agent };
    match &*f {
        HostFn::Sync(f) => OpStart::Done(match catch_unwind(AssertUnwindSafe(|| f(&caller, args))) {
            Ok(Ok(v)) => value_completion(v),
            Ok(Err(e)) => Completion::error(&e.name, &e.message),
            Err(_) => panicked(),
        }),
        HostFn::Async(f) => {
            let op = start_op();
            let reply = Reply { agent: Arc::downgrade(agent), op, name: name.to_owned(), answered: false };
            // A panic drops the reply on the way out: the call rejects
            // (unless the function answered before it panicked).
            let _ = catch_unwind(AssertUnwindSafe(|| f(&caller, args, reply)));
            OpStart::Pending(op)
        }
    }
}

/// The name web.js calls hz's own BroadcastChannel host function by (an
/// embedder cannot register it: no JS string literal a user writes by
/// accident starts with NUL).
const BROADCAST: &str = "\u{0}hz:broadcast";

/// The runtime's BroadcastChannels: for each name, the channels of the
/// BroadcastChannel objects of that name (in every agent), held weakly so
/// that one whose agent ended drops out. A message is cloned once and
/// given to every open one but the sender's; each is unbounded, and its
/// agent's BroadcastChannel object receives from it.
#[derive(Default)]
pub(crate) struct Broadcast {
    names: std::sync::Mutex<HashMap<String, Vec<Weak<PayloadChan>>>>,
}

impl Broadcast {
    /// `["subscribe", name]` -> a new channel; `["post", name, own channel,
    /// message]` -> undefined.
    fn call(&self, args: Vec<Value>) -> Completion {
        let mut args = args.into_iter();
        let (op, name) = (args.next(), args.next());
        let (Some(Value::String(op)), Some(Value::String(name))) = (op, name) else {
            return Completion::error("TypeError", "BroadcastChannel: bad arguments");
        };
        let mut names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        match op.as_str() {
            "subscribe" => {
                let channel = crate::Channel::new(u32::MAX as usize);
                let subscribers = names.entry(name).or_default();
                subscribers.retain(|w| open(w).is_some());
                subscribers.push(std::sync::Arc::downgrade(channel.raw()));
                value_completion(channel.to_value())
            }
            "post" => {
                let own = args.next().as_ref().and_then(crate::Channel::from_value);
                let message = args.next().unwrap_or(Value::Undefined);
                let wire = match Value::Array(vec![message]).to_payload() {
                    Ok(p) => p,
                    Err(e) => return Completion::error("DataCloneError", &e.to_string()),
                };
                let Some(subscribers) = names.get_mut(&name) else { return Completion::ok(None) };
                subscribers.retain(|w| {
                    let Some(chan) = open(w) else { return false };
                    if !own.as_ref().is_some_and(|o| std::sync::Arc::ptr_eq(o.raw(), &chan)) {
                        // Unbounded: it never waits; closed since: dropped.
                        let _ = chan.try_send(wire.clone());
                    }
                    true
                });
                if subscribers.is_empty() {
                    names.remove(&name);
                }
                Completion::ok(None)
            }
            _ => Completion::error("TypeError", "BroadcastChannel: bad arguments"),
        }
    }
}

/// A subscriber's channel, while its BroadcastChannel is alive and open.
fn open(w: &Weak<PayloadChan>) -> Option<std::sync::Arc<PayloadChan>> {
    w.upgrade().filter(|c| !c.is_closed())
}
