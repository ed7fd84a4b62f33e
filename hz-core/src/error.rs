use hz_clone::{CloneError, DecodeError, ErrorValue, Value};
use thiserror::Error;

/// hz-core's error.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// No engine of that name is built in or registered.
    #[error("unknown engine {0:?}")]
    UnknownEngine(String),
    /// An engine failed outside JavaScript (out of memory creating a context...).
    #[error("{engine} engine error: {message}")]
    Engine {
        /// The engine's name.
        engine: &'static str,
        /// What it said.
        message: String,
    },
    /// A value could not be cloned.
    #[error("DataCloneError: {0}")]
    Clone(#[from] CloneError),
    /// A payload could not be decoded.
    #[error("could not decode message: {0}")]
    Decode(#[from] DecodeError),
    /// The channel is closed.
    #[error("channel is closed")]
    Closed,
    /// The runtime has shut down.
    #[error("runtime has shut down")]
    ShutDown,
    /// The operation is not supported here.
    #[error("not supported: {0}")]
    NotSupported(&'static str),
}

/// A JavaScript exception as data: it survives crossing agents and engines.
#[derive(Debug, Clone, PartialEq, Error)]
#[error("{}", self.display())]
pub struct JsError {
    /// `name` of the Error (`TypeError`...), or `None` when a non-Error was thrown.
    pub name: Option<String>,
    /// `message`.
    pub message: String,
    /// The engine's stack text, with locations.
    pub stack: Option<String>,
    /// The thrown value itself (an Error's fields, or `42` for `throw 42`).
    pub value: Value,
}

impl JsError {
    fn display(&self) -> String {
        match &self.name {
            Some(n) if self.message.is_empty() => n.clone(),
            Some(n) => format!("{n}: {}", self.message),
            None => format!("Uncaught {}", self.message),
        }
    }

    /// Builds the error from a thrown value.
    pub fn from_value(value: Value) -> JsError {
        match &value {
            Value::Error(e) => JsError {
                name: Some(e.name.clone()),
                message: e.message.clone().unwrap_or_default(),
                stack: e.stack.clone(),
                value,
            },
            other => JsError { name: None, message: describe(other), stack: None, value },
        }
    }

    /// An Error value with `name` and `message`.
    pub fn error_value(name: &str, message: impl Into<String>) -> Value {
        Value::Error(Box::new(ErrorValue {
            name: name.into(),
            message: Some(message.into()),
            stack: None,
            cause: None,
            props: Vec::new(),
        }))
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::Undefined => "undefined".into(),
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => {
            if n.fract() == 0.0 && n.abs() < 1e21 {
                format!("{}", *n as i64)
            } else {
                n.to_string()
            }
        }
        Value::String(s) => format!("{s:?}"),
        other => match other.to_json() {
            Ok(j) => j.to_string(),
            Err(what) => what.to_string(),
        },
    }
}

/// Why `join` did not produce a value.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum JoinError {
    /// The agent threw (or its result promise rejected).
    #[error("{0}")]
    Js(JsError),
    /// The agent was terminated.
    #[error("agent was terminated")]
    Terminated,
    /// The engine failed to create or run the agent.
    #[error("{0}")]
    Engine(String),
    /// The agent exceeded one of its [`crate::Limits`].
    #[error("LimitError: {message}")]
    Limit {
        /// Which.
        limit: crate::Limit,
        /// What JS sees as the error's message.
        message: String,
    },
}
