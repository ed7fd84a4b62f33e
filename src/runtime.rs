use std::ops::Deref;

use hz_core::Engine;

/// A runtime with every engine this build has (see the crate features).
/// Derefs to [`hz_core::Runtime`] for spawning, channels, host functions,
/// waiting and shutdown.
///
/// ```
/// # #[cfg(feature = "quickjs")] {
/// use hz::{AgentSpec, Runtime, Value};
///
/// let rt = Runtime::builder().threads(2).build().unwrap();
/// // A Rust channel an agent sends on, and the agent's own result.
/// let out = rt.channel(4);
/// let agent = rt
///     .spawn_default(
///         AgentSpec::function("async (out) => { await out.send('hi'); out.close(); return 42; }")
///             .args(vec![out.to_value()])
///             .unwrap(),
///     )
///     .unwrap();
/// assert_eq!(out.recv().unwrap(), Some(Value::from("hi")));
/// assert_eq!(out.recv().unwrap(), None); // closed
/// assert_eq!(agent.join().unwrap(), Value::from(42.0));
/// rt.shutdown();
/// # }
/// ```
#[derive(Clone)]
pub struct Runtime {
    inner: hz_core::Runtime,
}

impl Runtime {
    /// Starts building a runtime.
    ///
    /// ```
    /// let rt = hz::Runtime::builder().threads(2).max_threads(64).build().unwrap();
    /// assert_eq!(rt.threads(), 2);
    /// ```
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder { inner: hz_core::RuntimeBuilder::new() }
    }

    /// A runtime with default settings: one worker thread per core, every
    /// engine of the build.
    ///
    /// ```
    /// let rt = hz::Runtime::new().unwrap();
    /// assert!(!rt.engines().is_empty());
    /// ```
    pub fn new() -> Result<Runtime, hz_core::Error> {
        Self::builder().build()
    }

    /// Spawns on the default engine (the first of the build's engines).
    ///
    /// ```
    /// # #[cfg(feature = "quickjs")] {
    /// use hz::{AgentSpec, Value};
    /// let rt = hz::Runtime::new().unwrap();
    /// let agent = rt.spawn_default(AgentSpec::script("main.js", "6 * 7")).unwrap();
    /// assert_eq!(agent.join().unwrap(), Value::from(42.0));
    /// # }
    /// ```
    pub fn spawn_default(&self, spec: hz_core::AgentSpec) -> Result<hz_core::AgentHandle, hz_core::Error> {
        let engine = self.inner.engines()[0];
        self.inner.spawn_on(engine, spec)
    }
}

impl Deref for Runtime {
    type Target = hz_core::Runtime;
    fn deref(&self) -> &hz_core::Runtime {
        &self.inner
    }
}

/// Builds a [`Runtime`].
pub struct RuntimeBuilder {
    inner: hz_core::RuntimeBuilder,
}

impl RuntimeBuilder {
    /// Worker threads (default: available parallelism).
    pub fn threads(mut self, n: usize) -> Self {
        self.inner = self.inner.threads(n);
        self
    }

    /// The most OS threads the runtime may run at once, counting one per
    /// agent blocked in `Atomics.wait` (see [`hz_core::RuntimeBuilder::max_threads`]).
    pub fn max_threads(mut self, n: usize) -> Self {
        self.inner = self.inner.max_threads(n);
        self
    }

    /// Agents of each engine kept made ahead of need, so a spawn skips
    /// making an engine instance (default 2; 0 turns it off; see
    /// [`hz_core::RuntimeBuilder::warm_agents`]).
    pub fn warm_agents(mut self, n: usize) -> Self {
        self.inner = self.inner.warm_agents(n);
        self
    }

    /// Whether each worker keeps to a CPU (default false; `hz run` pins its
    /// worker-per-CPU runtime; see [`hz_core::RuntimeBuilder::pin_threads`]).
    pub fn pin_threads(mut self, pin: bool) -> Self {
        self.inner = self.inner.pin_threads(pin);
        self
    }

    /// Registers an engine (for example one configured differently).
    ///
    /// ```
    /// # #[cfg(feature = "quickjs")] {
    /// use hz::{AgentSpec, QuickJsEngine, Value};
    /// let rt = hz::Runtime::builder().engine(QuickJsEngine::new()).build().unwrap();
    /// let agent = rt.spawn::<QuickJsEngine>(AgentSpec::script("a.js", "'quickjs'")).unwrap();
    /// assert_eq!(agent.join().unwrap(), Value::from("quickjs"));
    /// # }
    /// ```
    pub fn engine<E: Engine>(mut self, engine: E) -> Self {
        self.inner = self.inner.engine(engine);
        self
    }

    /// Starts the runtime; built-in engines not registered explicitly are added.
    pub fn build(mut self) -> Result<Runtime, hz_core::Error> {
        #[cfg(feature = "quickjs")]
        if !self.inner.has_engine(hz_backend_quickjs::QuickJsEngine::NAME) {
            self.inner = self.inner.engine(hz_backend_quickjs::QuickJsEngine::new());
        }
        #[cfg(feature = "v8")]
        {
            // Before the runtime's threads exist: V8 must be initialised
            // before the threads that will lock isolates are created.
            hz_backend_v8::init();
            if !self.inner.has_engine(hz_backend_v8::V8Engine::NAME) {
                self.inner = self.inner.engine(hz_backend_v8::V8Engine::new());
            }
        }
        #[cfg(feature = "boa")]
        if !self.inner.has_engine(hz_backend_boa::BoaEngine::NAME) {
            self.inner = self.inner.engine(hz_backend_boa::BoaEngine::new());
        }
        Ok(Runtime { inner: self.inner.build()? })
    }
}
