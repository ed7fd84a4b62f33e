//! hz-core: everything concurrent in hz, engine-free.
//!
//! A backend implements [`Engine`] and [`Agent`]; its natives call [`Host`].
//! Embedders use [`Runtime`], [`AgentHandle`] and [`Channel`].

mod sync;

pub mod channel;

mod mailbox;

#[cfg(any(not(hz_loom), test))]
mod turn;

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
mod runq;
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
pub const PRELUDE: &str = include_str!("js/prelude.js");

/// The parts of the JS API the prelude loads in an agent on their first
/// use, so that an agent that never uses one does not hold it: each a
/// function expression, by name. Backends evaluate a unit as a script of
/// its own, named `hz:NAME` in stack traces, when the prelude calls
/// `ops.load(name)` (QuickJS from bytecode compiled once per engine).
///
/// - `web`: the Web Worker API (`Worker`, `MessageChannel`, ...).
/// - `clone`: the helpers the backends' structured clone calls.
/// - `atomics`: `Atomics.wait` / `notify` / `waitAsync`.
/// - `console`: `console.log`'s formatting.
/// - `agents`: `hz.spawn` and `hz.select`, and agent handles.
/// - `dom`: `DOMException`, `atob` and `btoa`, for an engine without its
///   own (V8, Boa).
pub const UNITS: [(&str, &str); 6] = [
    ("web", include_str!("js/web.js")),
    ("clone", include_str!("js/clone.js")),
    ("atomics", include_str!("js/atomics.js")),
    ("console", include_str!("js/console.js")),
    ("agents", include_str!("js/agents.js")),
    ("dom", include_str!("js/dom.js")),
];

/// The script name the prelude runs under in every backend (stack traces
/// show it); a unit runs as [`script_name`]`(NAME)`.
pub const PRELUDE_SCRIPT: &str = "hz:prelude";

/// The script name of the prelude's unit `unit`: `hz:NAME`.
pub fn script_name(unit: &str) -> String {
    format!("hz:{unit}")
}

/// Whether a script or module name is hz's own code (the prelude or a
/// unit), which the lookup of a caller's file skips.
pub fn is_own_script(name: &str) -> bool {
    name.starts_with("hz:")
}

/// The source of the prelude's unit `name` (see [`UNITS`]).
pub fn unit(name: &str) -> Option<&'static str> {
    UNITS.iter().find(|u| u.0 == name).map(|u| u.1)
}

/// The builtin methods and getters the prelude's units call, from its
/// `builtinTable`: `[name, holder, key, kind]`, kind `"m"` (the method
/// `holder.key`) or `"g"` (the getter of `holder`'s accessor `key`). A
/// backend that provides `ops.builtin` makes them on a unit's first load;
/// its tests check it makes each one the engine has.
pub fn prelude_builtins() -> Vec<[&'static str; 4]> {
    let table = &PRELUDE[PRELUDE.find("const builtinTable = (m, g) => ({").expect("the table")..];
    let table = &table[..table.find("\n  });").expect("the table ends")];
    table
        .lines()
        .filter_map(|l| {
            // `    name: m('holder', 'key'),`
            let (name, rest) = l.trim().split_once(": ")?;
            let (kind, rest) = rest.split_once("('")?;
            let (holder, rest) = rest.split_once("', '")?;
            let (key, _) = rest.split_once("')")?;
            Some([name, holder, key, kind])
        })
        .collect()
}

#[cfg(all(test, not(hz_loom)))]
mod tests {
    /// The names between `open` and `close` in `text` (after `from`), split
    /// at commas, spaces and quotes.
    fn words<'a>(text: &'a str, from: &str, open: &str, close: &str) -> Vec<&'a str> {
        let text = &text[text.find(from).expect(from)..];
        let start = text.find(open).expect(open) + open.len();
        let end = start + text[start..].find(close).expect(close);
        text[start..end]
            .split(|c: char| c == ',' || c == '\'' || c == '+' || c.is_whitespace())
            .filter(|w| !w.is_empty())
            .collect()
    }

    /// The prelude's primordials: every builtin is a method or a getter,
    /// names are unique, and each unit takes only names the prelude gives.
    #[test]
    fn the_primordials_are_named_once_and_units_take_known_names() {
        let builtins = super::prelude_builtins();
        let table = &super::PRELUDE[super::PRELUDE.find("const builtinTable").expect("the table")..];
        let lines = table[..table.find("\n  });").expect("its end")].lines().count();
        assert_eq!(builtins.len() + 2, lines, "each line but the first two: `name: m('holder', 'key'),`");
        assert!(builtins.len() > 40, "{builtins:?}");
        // `{ __proto__: null, name: value, shorthand, ... }`
        let values = &super::PRELUDE[super::PRELUDE.find("const primordialValues = {").expect("the values") + 26..];
        let mut named: Vec<&str> = values[..values.find('}').expect("their end")]
            .split(',')
            .map(|e| e.split(':').next().unwrap_or_default().trim())
            .filter(|n| !n.is_empty() && *n != "__proto__")
            .collect();
        assert!(named.contains(&"SetCtor") && named.contains(&"engineAtomics"), "{named:?}");
        for [name, holder, _, kind] in &builtins {
            assert!(kind == &"m" || kind == &"g", "{name}: kind {kind}");
            assert!(holder.chars().next().is_some_and(|c| c.is_ascii_uppercase() || c == '%'), "{name}: {holder}");
            named.push(name);
        }
        // Those set where the primordials are made: `      p.NAME = ...`.
        let set: Vec<&str> = super::PRELUDE
            .lines()
            .filter_map(|l| l.strip_prefix("      p.")?.split_once(" = ").map(|(n, _)| n))
            .collect();
        assert!(set.contains(&"viewCtors") && set.contains(&"reFlagGetters"), "{set:?}");
        named.extend(set);
        let mut unique = named.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), named.len(), "a name given twice: {named:?}");
        let mut units = 0;
        for (name, source) in super::UNITS {
            if source.contains("} = primordials;") {
                let taken = words(source, "} = deps;", "const {", "} = primordials;");
                assert!(!taken.is_empty(), "unit {name}");
                for w in taken {
                    assert!(named.contains(&w), "unit {name} takes {w}, which the prelude does not name");
                }
                units += 1;
            }
        }
        assert_eq!(units, 3);
        assert_eq!(super::unit("clone"), Some(super::UNITS[1].1));
        assert_eq!(super::unit("nope"), None);
    }
}
