//! The embedder-facing Rust API: spawning agents, joining them, and
//! channels that Rust threads and agents share.

use hz_clone::{HostObject, Payload, Value};

use crate::agent::{AgentId, AgentShared, AgentSpec, join_error};
use crate::channel::{self, Attempt, Chan, Recv};
use crate::engine::Engine;
use crate::sync::{Arc, Mutex, Signal, lock};
use crate::{Error, JoinError, PayloadChan, Runtime};

impl Runtime {
    /// Starts building a runtime.
    pub fn builder() -> crate::RuntimeBuilder {
        crate::RuntimeBuilder::new()
    }

    /// Spawns an agent on engine `E`. (These examples run on hz-core's
    /// test engine, whose script `N` runs N+1 turns and returns the worker
    /// index of each; the `hz` crate's engines run JavaScript.)
    ///
    /// ```
    /// use hz_core::{AgentSpec, Runtime, testing::MigratableTestEngine};
    /// let rt = Runtime::builder().threads(2).engine(MigratableTestEngine::default()).build().unwrap();
    /// let agent = rt.spawn::<MigratableTestEngine>(AgentSpec::script("three-turns", "2")).unwrap();
    /// let turns = agent.join().unwrap();
    /// assert!(matches!(turns, hz_clone::Value::Array(ref t) if t.len() == 3));
    /// ```
    pub fn spawn<E: Engine>(&self, spec: AgentSpec) -> Result<AgentHandle, Error> {
        self.spawn_on(E::NAME, spec)
    }

    /// Spawns an agent on the engine named `engine` (an unknown name is
    /// [`Error::UnknownEngine`]).
    ///
    /// ```
    /// use hz_core::{AgentSpec, Error, Runtime};
    /// # let rt = Runtime::builder().engine(hz_core::testing::TestEngine::<true>).build().unwrap();
    /// let agent = rt.spawn_on("test", AgentSpec::script("one-turn", "0")).unwrap();
    /// assert!(agent.join().is_ok());
    /// assert!(matches!(rt.spawn_on("nope", AgentSpec::script("x", "0")), Err(Error::UnknownEngine(_))));
    /// ```
    pub fn spawn_on(&self, engine: &str, spec: AgentSpec) -> Result<AgentHandle, Error> {
        self.inner.spawn_agent(engine, spec).map(|agent| AgentHandle { agent })
    }

    /// Spawns a script on the default (first registered) engine.
    ///
    /// ```
    /// # use hz_core::Runtime;
    /// # let rt = Runtime::builder().engine(hz_core::testing::TestEngine::<true>).build().unwrap();
    /// let agent = rt.spawn_script("main.js", "1").unwrap();
    /// assert!(agent.join().is_ok());
    /// ```
    pub fn spawn_script(&self, name: &str, code: &str) -> Result<AgentHandle, Error> {
        let engine = self.inner.default_engine().name();
        self.spawn_on(engine, AgentSpec::script(name, code))
    }

    /// A new channel with capacity `capacity` (0 = rendezvous), for Rust
    /// threads and agents alike (pass it with [`Channel::to_value`]).
    ///
    /// ```
    /// use hz_clone::Value;
    /// use hz_core::Runtime;
    /// # let rt = Runtime::builder().engine(hz_core::testing::TestEngine::<true>).build().unwrap();
    /// let ch = rt.channel(1);
    /// let tx = ch.clone();
    /// std::thread::spawn(move || tx.send(&Value::from("hi")).unwrap());
    /// assert_eq!(ch.recv().unwrap(), Some(Value::from("hi")));
    /// ```
    pub fn channel(&self, capacity: usize) -> Channel {
        Channel::new(capacity)
    }

    /// Shuts the runtime down: refuses new agents ([`Error::ShutDown`]),
    /// terminates every live agent (interrupting running JS, waking its
    /// waits, giving back what it had received) and returns once all have
    /// ended. Idempotent. Dropping the last `Runtime` handle does the same,
    /// then stops the threads.
    ///
    /// Called from inside a host function (on one of the runtime's own
    /// threads) it cannot wait for the agent whose turn is calling it: it
    /// refuses new agents, terminates every agent, that one included (once
    /// the host function returns), and returns without waiting.
    ///
    /// ```
    /// # use hz_core::{AgentSpec, Error, JoinError, Runtime};
    /// # let rt = Runtime::builder().engine(hz_core::testing::TestEngine::<true>).build().unwrap();
    /// rt.shutdown();
    /// assert!(matches!(rt.spawn_script("late.js", "1"), Err(Error::ShutDown)));
    /// ```
    pub fn shutdown(&self) {
        self.inner.terminate_all();
    }

    /// Blocks until every agent has finished.
    ///
    /// ```
    /// # use hz_core::Runtime;
    /// # let rt = Runtime::builder().engine(hz_core::testing::TestEngine::<true>).build().unwrap();
    /// let jobs: Vec<_> = (0..4).map(|_| rt.spawn_script("job", "3").unwrap()).collect();
    /// rt.wait_idle();
    /// assert!(jobs.iter().all(|j| j.is_finished()));
    /// ```
    pub fn wait_idle(&self) {
        self.inner.wait_idle();
    }

    /// Like [`Runtime::wait_idle`], for at most `timeout`: true if every agent finished.
    pub fn wait_idle_timeout(&self, timeout: std::time::Duration) -> bool {
        self.inner.wait_idle_timeout(timeout)
    }

    /// What the runtime is doing now (see [`crate::Activity::is_stalled_since`]).
    pub fn activity(&self) -> crate::Activity {
        self.inner.activity()
    }

    /// Number of worker threads.
    pub fn threads(&self) -> usize {
        self.inner.threads()
    }

    /// Whether agents of `engine` may run their turns on any worker thread
    /// (false: pinned to a home thread); `None` if no such engine.
    pub fn engine_migratable(&self, engine: &str) -> Option<bool> {
        self.inner.engine_migratable(engine)
    }

    /// Names of the registered engines, the default first.
    pub fn engines(&self) -> Vec<&'static str> {
        self.inner.engine_names()
    }

    /// Gives the module file `path` the text `source`, which agents then
    /// load instead of reading the file, as if it had been read first (a
    /// path already loaded keeps its text). For a host that has read the
    /// main module already (`hz run` reads it to tell a module from a
    /// script): the file is then read once, and a change to it between the
    /// two reads cannot make them differ.
    pub fn preload_module(&self, path: &str, source: impl Into<String>) {
        self.inner.modules.preload(path, source.into());
    }
}

/// A handle to a spawned agent.
#[derive(Clone)]
pub struct AgentHandle {
    agent: Arc<AgentShared>,
}

impl std::fmt::Debug for AgentHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentHandle").field("id", &self.agent.id).finish()
    }
}

impl AgentHandle {
    /// The agent's id.
    pub fn id(&self) -> AgentId {
        self.agent.id
    }

    /// Waits for the agent to end and returns its result (or how it
    /// failed: [`JoinError`]). Blocks the calling thread: call it from a
    /// Rust thread, not from inside an agent.
    ///
    /// ```
    /// # use hz_core::Runtime;
    /// # let rt = Runtime::builder().engine(hz_core::testing::TestEngine::<true>).build().unwrap();
    /// let agent = rt.spawn_script("job", "0").unwrap();
    /// let result = agent.join().unwrap();
    /// assert!(agent.is_finished());
    /// # let _ = result;
    /// ```
    pub fn join(&self) -> Result<Value, JoinError> {
        let p = self.join_payload()?;
        Value::from_payload(&p).map_err(|e| JoinError::Engine(format!("undecodable result: {e}")))
    }

    /// Waits at most `timeout` for the agent to end: `None` if it has not.
    pub fn join_timeout(&self, timeout: std::time::Duration) -> Option<Result<Value, JoinError>> {
        let signal = Arc::new(Signal::new());
        let s = signal.clone();
        self.agent.on_finish(Box::new(move |_| s.notify()));
        if !signal.wait_timeout(timeout) {
            return None;
        }
        Some(self.join())
    }

    /// Like [`AgentHandle::join`], returning the raw payload.
    pub fn join_payload(&self) -> Result<Payload, JoinError> {
        let signal = Arc::new(Signal::new());
        let slot = Arc::new(Mutex::new(None));
        let (s, sl) = (signal.clone(), slot.clone());
        self.agent.on_finish(Box::new(move |r| {
            *lock(&sl) = Some(r.clone());
            s.notify();
        }));
        signal.wait();
        let r = lock(&slot).take().expect("result was stored before the signal");
        r.map_err(|f| join_error(&f))
    }

    /// Whether the agent has ended.
    pub fn is_finished(&self) -> bool {
        self.agent.result().is_some()
    }

    /// Terminates the agent: running JS is interrupted (uncatchably), its
    /// waits are cancelled and queued tasks dropped. False if it had ended;
    /// true if this ended it, and then the join says terminated, whatever
    /// the interrupted turn did meanwhile (threw, failed or panicked).
    ///
    /// ```
    /// use hz_core::{JoinError, Runtime};
    /// # let rt = Runtime::builder().engine(hz_core::testing::TestEngine::<true>).build().unwrap();
    /// // The test engine's `relay` waits on its first channel forever.
    /// let (from, to) = (rt.channel(0), rt.channel(0));
    /// let spec = hz_core::AgentSpec::script("relay", "relay").args(vec![from.to_value(), to.to_value()]).unwrap();
    /// let agent = rt.spawn_on("test", spec).unwrap();
    /// assert!(agent.terminate());
    /// assert!(matches!(agent.join(), Err(JoinError::Terminated)));
    /// ```
    pub fn terminate(&self) -> bool {
        self.agent.request_terminate()
    }
}

/// A channel, usable from Rust threads and passable to agents (as a
/// spawn argument or inside a message: see [`Channel::to_value`]).
#[derive(Clone)]
pub struct Channel {
    chan: Arc<PayloadChan>,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel").field("id", &self.chan.id()).field("capacity", &self.chan.capacity()).finish()
    }
}

impl Channel {
    /// A new channel (0 = rendezvous).
    pub fn new(capacity: usize) -> Self {
        Channel { chan: Chan::new(capacity) }
    }

    /// Wraps the shared channel an agent holds.
    pub fn from_raw(chan: Arc<PayloadChan>) -> Self {
        Channel { chan }
    }

    /// The shared channel.
    pub fn raw(&self) -> &Arc<PayloadChan> {
        &self.chan
    }

    /// The channel as a value to pass to an agent.
    pub fn to_value(&self) -> Value {
        Value::Host(HostObject::new(self.chan.clone()))
    }

    /// The channel inside a value an agent sent, if it is one.
    pub fn from_value(v: &Value) -> Option<Channel> {
        match v {
            Value::Host(h) => h.downcast::<PayloadChan>().map(Channel::from_raw),
            _ => None,
        }
    }

    /// Sends a value, blocking while the channel is full (or, for capacity
    /// 0, until a receiver takes it). `Err(Closed)` if the channel is closed.
    pub fn send(&self, value: &Value) -> Result<(), Error> {
        self.send_payload(value.to_payload()?)
    }

    /// Sends any serde value (as the [`Value`] serde makes of it).
    ///
    /// ```
    /// #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    /// struct Order { id: u32, items: Vec<String> }
    /// let ch = hz_core::Channel::new(1);
    /// ch.send_serde(&Order { id: 7, items: vec!["tea".into()] }).unwrap();
    /// assert_eq!(ch.recv_serde::<Order>().unwrap(), Some(Order { id: 7, items: vec!["tea".into()] }));
    /// ```
    pub fn send_serde<T: serde::Serialize + ?Sized>(&self, value: &T) -> Result<(), Error> {
        let v =
            hz_clone::to_value(value).map_err(|e| Error::Clone(hz_clone::CloneError::Uncloneable(e.to_string())))?;
        self.send(&v)
    }

    /// Sends a payload, blocking as [`Channel::send`].
    pub fn send_payload(&self, payload: Payload) -> Result<(), Error> {
        self.chan.send_blocking(payload).map_err(|_| Error::Closed)
    }

    /// Receives a value, blocking until one arrives; `Ok(None)` once the
    /// channel is closed and drained.
    pub fn recv(&self) -> Result<Option<Value>, Error> {
        match self.recv_payload()? {
            Some(p) => Ok(Some(Value::from_payload(&p)?)),
            None => Ok(None),
        }
    }

    /// Receives into any serde type.
    pub fn recv_serde<T: serde::de::DeserializeOwned>(&self) -> Result<Option<T>, Error> {
        match self.recv()? {
            Some(v) => hz_clone::from_value(&v)
                .map(Some)
                .map_err(|e| Error::Clone(hz_clone::CloneError::Uncloneable(e.to_string()))),
            None => Ok(None),
        }
    }

    /// Receives a payload, blocking as [`Channel::recv`].
    pub fn recv_payload(&self) -> Result<Option<Payload>, Error> {
        Ok(self.chan.recv_blocking())
    }

    /// Sends without blocking: `Ok(false)` if it would block.
    pub fn try_send(&self, value: &Value) -> Result<bool, Error> {
        match self.chan.try_send(value.to_payload()?) {
            Attempt::Done(channel::SendResult::Sent) => Ok(true),
            Attempt::Done(channel::SendResult::Closed(_)) => Err(Error::Closed),
            Attempt::WouldBlock(_) => Ok(false),
        }
    }

    /// Receives without blocking: `Ok(None)` if nothing is ready,
    /// `Ok(Some(None))` if closed and drained.
    pub fn try_recv(&self) -> Result<Option<Option<Value>>, Error> {
        match self.chan.try_recv() {
            Attempt::Done(Recv::Value(p)) => Ok(Some(Some(Value::from_payload(&p)?))),
            Attempt::Done(Recv::Closed) => Ok(Some(None)),
            Attempt::WouldBlock(()) => Ok(None),
        }
    }

    /// Closes the channel. Receivers drain what is buffered, then see the
    /// end; senders get [`Error::Closed`]. Closing twice is an error.
    ///
    /// ```
    /// use hz_clone::Value;
    /// use hz_core::{Channel, Error};
    /// let ch = Channel::new(2);
    /// ch.send(&Value::from(1.0)).unwrap();
    /// ch.close().unwrap();
    /// assert_eq!(ch.recv().unwrap(), Some(Value::from(1.0))); // drained
    /// assert_eq!(ch.recv().unwrap(), None); // then the end
    /// assert!(matches!(ch.send(&Value::from(2.0)), Err(Error::Closed)));
    /// assert_eq!(ch.try_recv().unwrap(), Some(None));
    /// ```
    pub fn close(&self) -> Result<(), Error> {
        self.chan.close().map_err(|_| Error::Closed)
    }
}
