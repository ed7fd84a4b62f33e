//! A Test262 runner over hz's own agents (see `../shared/test262/HOST.md`).
//!
//! Each test runs in a fresh hz [`Runtime`] as a script agent: the host
//! (`host.js`: `print`, `$262`, `$262.agent` with real agents spawned through
//! the scheduler), the harness files, then the test. Sloppy and strict runs
//! as the flags say; the main agent's `[[CanBlock]]` is false only for
//! `CanBlockIsFalse` tests. Expected failures are data
//! (`expectations/<engine>.txt`): an unlisted failure or a listed pass fails
//! the run.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hz::{AgentSpec, JoinError, Runtime, Value};

/// The host, a JS function expression (see `host.js`).
const HOST: &str = include_str!("host.js");

/// A test's frontmatter (the parts a runner needs).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Meta {
    /// `includes:`, harness file names in order.
    pub includes: Vec<String>,
    /// `flags:`.
    pub flags: Vec<String>,
    /// `features:`.
    pub features: Vec<String>,
    /// `negative:` (phase, type).
    pub negative: Option<(String, String)>,
}

impl Meta {
    fn flag(&self, f: &str) -> bool {
        self.flags.iter().any(|x| x == f)
    }
}

/// Reads the `/*--- ... ---*/` frontmatter: `key: [a, b]` lists, YAML
/// `- item` lists, and `negative:` with its `phase:`/`type:` lines.
pub fn parse_meta(source: &str) -> Meta {
    let mut meta = Meta::default();
    let Some(start) = source.find("/*---") else { return meta };
    let Some(len) = source[start..].find("---*/") else { return meta };
    let block = &source[start + 5..start + len];
    let mut current: Option<String> = None;
    let (mut phase, mut kind) = (None, None);
    for line in block.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        let indented = line.starts_with(' ') || line.starts_with('\t');
        if indented {
            match (current.as_deref(), trimmed.strip_prefix("- ")) {
                (Some(key), Some(item)) => push_list(&mut meta, key, item.trim()),
                (Some("negative"), None) => {
                    if let Some(v) = trimmed.strip_prefix("phase:") {
                        phase = Some(v.trim().to_owned());
                    } else if let Some(v) = trimmed.strip_prefix("type:") {
                        kind = Some(v.trim().to_owned());
                    }
                }
                _ => {}
            }
            continue;
        }
        let Some((key, value)) = trimmed.split_once(':') else {
            current = None;
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        current = Some(key.to_owned());
        if let Some(list) = value.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
            for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                push_list(&mut meta, key, item);
            }
        }
    }
    if let (Some(p), Some(t)) = (phase, kind) {
        meta.negative = Some((p, t));
    }
    meta
}

fn push_list(meta: &mut Meta, key: &str, item: &str) {
    let item = item.trim_matches(|c| c == '"' || c == '\'').to_owned();
    match key {
        "includes" => meta.includes.push(item),
        "flags" => meta.flags.push(item),
        "features" => meta.features.push(item),
        _ => {}
    }
}

/// How one test ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every run passed.
    Pass,
    /// A run failed: which (`strict`/`sloppy`) and why.
    Fail(String),
    /// Not run, and why.
    Skip(String),
    /// A run did not finish in time.
    Timeout,
    /// The runner or hz panicked (counted apart from failures).
    Panic(String),
}

impl Outcome {
    /// A short word for tables and the result file.
    pub fn word(&self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail(_) => "fail",
            Outcome::Skip(_) => "skip",
            Outcome::Timeout => "timeout",
            Outcome::Panic(_) => "panic",
        }
    }

    /// Whether the test counts as failing (for expectations).
    pub fn is_failure(&self) -> bool {
        matches!(self, Outcome::Fail(_) | Outcome::Timeout | Outcome::Panic(_))
    }

    fn detail(&self) -> &str {
        match self {
            Outcome::Fail(d) | Outcome::Skip(d) | Outcome::Panic(d) => d,
            Outcome::Timeout => "timed out",
            Outcome::Pass => "",
        }
    }
}

/// The Test262 tree and its harness files.
pub struct Suite {
    root: PathBuf,
    harness: Mutex<HashMap<String, String>>,
    /// The host script of a test's agent and the prefix of a started
    /// agent's source (see `host.js`), made once.
    host: Host,
}

struct Host {
    main: String,
    agent: String,
}

/// Features whose tests are skipped, with the reason: none today (`$262.gc`
/// is `hz.gc`, so `host-gc-required` tests run); kept so a feature the host
/// cannot provide is reported as a skip, not hidden.
const SKIPPED_FEATURES: &[(&str, &str)] = &[];

impl Suite {
    /// The suite at `root` (the directory holding `harness/` and `test/`).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let host =
            Host { main: format!("({HOST})(globalThis, false);"), agent: format!("({HOST})(globalThis, true);") };
        Suite { root: root.into(), harness: Mutex::new(HashMap::new()), host }
    }

    /// Finds the suite: `$HZ_TEST262`, else `shared/test262` beside the
    /// repository or above the working directory.
    pub fn locate() -> Option<PathBuf> {
        if let Some(p) = std::env::var_os("HZ_TEST262") {
            return Some(PathBuf::from(p));
        }
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut candidates = vec![manifest.join("../../shared/test262")];
        if let Ok(cwd) = std::env::current_dir() {
            candidates.extend(cwd.ancestors().map(|a| a.join("shared/test262")));
        }
        candidates.push(PathBuf::from("/work/shared/test262"));
        candidates.into_iter().find(|c| c.join("harness/assert.js").is_file())
    }

    /// Test files (paths relative to the root, `/`-separated, sorted) whose
    /// path contains any of `filters` (all, if none).
    pub fn tests(&self, filters: &[String]) -> std::io::Result<Vec<String>> {
        let mut out = Vec::new();
        let mut stack = vec![self.root.join("test")];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir)? {
                let path = entry?.path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                if !name.ends_with(".js") || name.contains("_FIXTURE") {
                    continue;
                }
                let rel = path.strip_prefix(&self.root).unwrap_or(&path).to_string_lossy().replace('\\', "/");
                if filters.is_empty() || filters.iter().any(|f| rel.contains(f.as_str())) {
                    out.push(rel);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    fn harness(&self, name: &str) -> Result<String, String> {
        if let Some(s) = self.harness.lock().unwrap_or_else(|p| p.into_inner()).get(name) {
            return Ok(s.clone());
        }
        let text = std::fs::read_to_string(self.root.join("harness").join(name))
            .map_err(|e| format!("harness file {name}: {e}"))?;
        self.harness.lock().unwrap_or_else(|p| p.into_inner()).insert(name.to_owned(), text.clone());
        Ok(text)
    }

    /// Runs one test (every run its flags ask for) on `engine`.
    pub fn run(&self, rel: &str, engine: &str, timeout: Duration) -> Outcome {
        let source = match std::fs::read_to_string(self.root.join(rel)) {
            Ok(s) => s,
            Err(e) => return Outcome::Fail(format!("reading the test: {e}")),
        };
        let meta = parse_meta(&source);
        if let Some((f, why)) = SKIPPED_FEATURES.iter().find(|(f, _)| meta.features.iter().any(|x| x == f)) {
            return Outcome::Skip(format!("{f}: {why}"));
        }
        if meta.flag("module") {
            return Outcome::Skip("module tests are not run (the subset has none)".into());
        }
        let modes: &[bool] = if meta.flag("raw") || meta.flag("noStrict") {
            &[false]
        } else if meta.flag("onlyStrict") {
            &[true]
        } else {
            &[false, true]
        };
        for &strict in modes {
            let outcome = match self.compose(&source, &meta, strict) {
                Ok(code) => run_script(&self.host, rel, engine, code, &meta, timeout),
                Err(e) => Outcome::Fail(e),
            };
            match outcome {
                Outcome::Pass => {}
                Outcome::Fail(why) => {
                    return Outcome::Fail(format!("{}: {why}", if strict { "strict" } else { "sloppy" }));
                }
                other => return other,
            }
        }
        Outcome::Pass
    }

    /// The script one run evaluates: the host, the harness, the test.
    fn compose(&self, source: &str, meta: &Meta, strict: bool) -> Result<String, String> {
        if meta.flag("raw") {
            return Ok(source.to_owned());
        }
        let mut code = String::with_capacity(source.len() + 64 * 1024);
        if strict {
            code.push_str("\"use strict\";\n");
        }
        let mut files = vec!["assert.js", "sta.js"];
        if meta.flag("async") {
            files.push("doneprintHandle.js");
        }
        files.extend(meta.includes.iter().map(String::as_str));
        for f in files {
            code.push_str(&self.harness(f)?);
            code.push('\n');
        }
        code.push_str(source);
        // The completion value is the agent's result: keep it plain.
        code.push_str("\n;void 0;\n");
        Ok(code)
    }
}

/// Runs one composed script in a fresh runtime and judges it.
fn run_script(host: &Host, rel: &str, engine: &str, code: String, meta: &Meta, timeout: Duration) -> Outcome {
    // The host is its own script, evaluated first: a test's top-level
    // `var $262` must not hoist above it (HOST.md: the host defines the
    // globals before the test runs).
    // Agent tests busy-wait on each other. Where agents migrate, one
    // worker does: the scheduler's monitor gives a long turn's worker slot
    // to another thread while agents wait. A pinned engine's agent holds
    // its home thread, so there each agent gets a thread of its own.
    let rt = match Runtime::builder().threads(1).build() {
        Ok(rt) if rt.engine_migratable(engine) != Some(false) => rt,
        Ok(_) => {
            let starts = code.matches("$262.agent.start").count();
            match Runtime::builder().threads((starts + 1).clamp(1, 16)).build() {
                Ok(rt) => rt,
                Err(e) => return Outcome::Fail(format!("runtime: {e}")),
            }
        }
        Err(e) => return Outcome::Fail(format!("runtime: {e}")),
    };
    let (out, reports) = (rt.channel(4096), rt.channel(4096));
    let main_host = if meta.flag("raw") { String::new() } else { host.main.clone() };
    let spec = AgentSpec::scripts(vec![("test262-host.js".into(), main_host), (rel.into(), code)]).args(vec![
        out.to_value(),
        reports.to_value(),
        Value::from(host.agent.as_str()),
    ]);
    let spec = match spec {
        Ok(s) => s.can_block(!meta.flag("CanBlockIsFalse")),
        Err(e) => return Outcome::Fail(format!("arguments: {e}")),
    };
    let handle = match rt.spawn_on(engine, spec) {
        Ok(h) => h,
        Err(e) => return Outcome::Fail(format!("spawn: {e}")),
    };
    let result = handle.join_timeout(timeout);
    let mut printed = Vec::new();
    while let Ok(Some(Some(v))) = out.try_recv() {
        printed.push(v.as_str().map(str::to_owned).unwrap_or_default());
    }
    // Dropping the runtime terminates the agents still running (started
    // agents waiting forever when a test fails) and joins its threads.
    drop(rt);
    let Some(result) = result else { return Outcome::Timeout };
    if let Some((_, kind)) = &meta.negative {
        return match result {
            Err(JoinError::Js(e)) if e.name.as_deref() == Some(kind.as_str()) => Outcome::Pass,
            Err(e) => Outcome::Fail(format!("expected {kind}, got {e}")),
            Ok(_) => Outcome::Fail(format!("expected {kind}, completed normally")),
        };
    }
    if let Err(e) = result {
        return Outcome::Fail(one_line(&e.to_string()));
    }
    if meta.flag("async") {
        if let Some(f) = printed.iter().find(|p| p.starts_with("Test262:AsyncTestFailure:")) {
            return Outcome::Fail(one_line(f));
        }
        if !printed.iter().any(|p| p == "Test262:AsyncTestComplete") {
            return Outcome::Fail("async test ended without printing Test262:AsyncTestComplete".into());
        }
    }
    Outcome::Pass
}

fn one_line(s: &str) -> String {
    let s = s.lines().next().unwrap_or_default();
    if s.chars().count() > 200 { s.chars().take(200).collect::<String>() + "…" } else { s.to_owned() }
}

/// The expected failures of one engine: test path → reason.
#[derive(Debug, Default)]
pub struct Expectations {
    /// Path → reason.
    pub entries: BTreeMap<String, String>,
}

impl Expectations {
    /// Parses `path reason...` lines (`#` starts a comment line).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut entries = BTreeMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (path, reason) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            if reason.trim().is_empty() {
                return Err(format!("line {}: {path} has no reason", n + 1));
            }
            entries.insert(path.to_owned(), reason.trim().to_owned());
        }
        Ok(Expectations { entries })
    }
}

/// One test's result.
#[derive(Debug, Clone)]
pub struct TestResult {
    /// The path relative to the suite root.
    pub path: String,
    /// How it ended.
    pub outcome: Outcome,
    /// Wall time of all its runs.
    pub time: Duration,
}

/// What differs from the expectations.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Failures not listed (path, detail).
    pub unexpected_failures: Vec<(String, String)>,
    /// Listed tests that passed.
    pub unexpected_passes: Vec<String>,
}

impl Verdict {
    /// Compares results with the expectations (tests not run are ignored).
    pub fn new(results: &[TestResult], expected: &Expectations) -> Self {
        let mut v = Verdict::default();
        for r in results {
            let listed = expected.entries.contains_key(&r.path);
            if r.outcome.is_failure() && !listed {
                v.unexpected_failures.push((r.path.clone(), format!("{}: {}", r.outcome.word(), r.outcome.detail())));
            } else if r.outcome == Outcome::Pass && listed {
                v.unexpected_passes.push(r.path.clone());
            }
        }
        v
    }

    /// No surprises.
    pub fn ok(&self) -> bool {
        self.unexpected_failures.is_empty() && self.unexpected_passes.is_empty()
    }
}

/// The README's directory groups.
pub const GROUPS: &[&str] =
    &["Atomics", "SharedArrayBuffer", "ArrayBuffer", "TypedArray", "TypedArrayConstructors", "DataView", "other"];

/// The group a test path belongs to.
pub fn group(path: &str) -> &'static str {
    let dir = path.strip_prefix("test/built-ins/").and_then(|p| p.split('/').next()).unwrap_or("");
    GROUPS.iter().copied().find(|g| *g == dir).unwrap_or("other")
}

/// Counts per group: (pass, fail, skip) where fail includes timeouts and panics.
pub fn counts(results: &[TestResult]) -> BTreeMap<&'static str, (usize, usize, usize)> {
    let mut m: BTreeMap<&'static str, (usize, usize, usize)> = BTreeMap::new();
    for r in results {
        let e = m.entry(group(&r.path)).or_default();
        match r.outcome {
            Outcome::Pass => e.0 += 1,
            Outcome::Skip(_) => e.2 += 1,
            _ => e.1 += 1,
        }
    }
    m
}

/// The per-directory summary table (plain text).
pub fn summary_table(results: &[TestResult]) -> String {
    let c = counts(results);
    let mut s = format!("{:<24} {:>6} {:>6} {:>6} {:>7}\n", "directory", "pass", "fail", "skip", "pass%");
    let mut total = (0, 0, 0);
    for g in GROUPS {
        let (p, f, k) = c.get(g).copied().unwrap_or_default();
        total = (total.0 + p, total.1 + f, total.2 + k);
        if p + f + k > 0 {
            let _ = writeln!(s, "{g:<24} {p:>6} {f:>6} {k:>6} {:>6.1}%", pct(p, f));
        }
    }
    let _ = writeln!(s, "{:<24} {:>6} {:>6} {:>6} {:>6.1}%", "total", total.0, total.1, total.2, pct(total.0, total.1));
    s
}

fn pct(pass: usize, fail: usize) -> f64 {
    if pass + fail == 0 { 100.0 } else { 100.0 * pass as f64 / (pass + fail) as f64 }
}

/// One README table row for `engine`: pass rate per group (of the tests run).
pub fn markdown_row(engine: &str, results: &[TestResult]) -> String {
    let c = counts(results);
    let mut row = format!("| {engine} |");
    let mut total = (0, 0);
    for g in GROUPS {
        let (p, f, _) = c.get(g).copied().unwrap_or_default();
        total = (total.0 + p, total.1 + f);
        let _ = write!(row, " {:.1}% ({p}/{}) |", pct(p, f), p + f);
    }
    let _ = write!(row, " {:.1}% ({}/{}) |", pct(total.0, total.1), total.0, total.0 + total.1);
    row
}

/// Rewrites the conformance table between the README's markers, replacing
/// (or adding) `engine`'s row and keeping the other engines' rows.
pub fn update_readme(readme: &str, engine: &str, row: &str) -> Result<String, String> {
    const START: &str = "<!-- conformance:start -->";
    const END: &str = "<!-- conformance:end -->";
    let (Some(a), Some(b)) = (readme.find(START), readme.find(END)) else {
        return Err(format!("the README has no {START} ... {END} section"));
    };
    let inner = &readme[a + START.len()..b];
    let mut rows: Vec<String> = inner
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| engine") && !l.starts_with("|---"))
        .filter(|l| !l.starts_with(&format!("| {engine} |")))
        .map(str::to_owned)
        .collect();
    rows.push(row.to_owned());
    rows.sort();
    let mut table = String::from("\n| engine |");
    for g in GROUPS {
        let _ = write!(table, " {g} |");
    }
    table.push_str(" all |\n|---|");
    for _ in GROUPS {
        table.push_str("---|");
    }
    table.push_str("---|\n");
    for r in rows {
        table.push_str(&r);
        table.push('\n');
    }
    Ok(format!("{}{START}{table}{}", &readme[..a], &readme[b..]))
}

/// Runs `tests` on `jobs` threads, calling `progress(done, result)` after each.
pub fn run_all(
    suite: &Suite,
    tests: &[String],
    engine: &str,
    timeout: Duration,
    jobs: usize,
    progress: &(dyn Fn(usize, &TestResult) + Sync),
) -> Vec<TestResult> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = Mutex::new(Vec::with_capacity(tests.len()));
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(path) = tests.get(i) else { break };
                    let t0 = Instant::now();
                    let outcome =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| suite.run(path, engine, timeout)))
                            .unwrap_or_else(|p| {
                                Outcome::Panic(
                                    p.downcast_ref::<&str>()
                                        .map(|s| (*s).to_owned())
                                        .or_else(|| p.downcast_ref::<String>().cloned())
                                        .unwrap_or_else(|| "panic".into()),
                                )
                            });
                    let r = TestResult { path: path.clone(), outcome, time: t0.elapsed() };
                    let done = {
                        let mut v = results.lock().unwrap_or_else(|p| p.into_inner());
                        v.push(r.clone());
                        v.len()
                    };
                    progress(done, &r);
                }
            });
        }
    });
    let mut v = results.into_inner().unwrap_or_else(|p| p.into_inner());
    v.sort_by(|a, b| a.path.cmp(&b.path));
    v
}

/// The machine-readable result: `{ engine, counts, tests: { path: { outcome, detail, ms } } }`.
pub fn result_json(engine: &str, results: &[TestResult]) -> serde_json::Value {
    let tests: serde_json::Map<String, serde_json::Value> = results
        .iter()
        .map(|r| {
            (
                r.path.clone(),
                serde_json::json!({
                    "outcome": r.outcome.word(),
                    "detail": r.outcome.detail(),
                    "ms": r.time.as_secs_f64() * 1000.0,
                }),
            )
        })
        .collect();
    let counts: serde_json::Map<String, serde_json::Value> = counts(results)
        .into_iter()
        .map(|(g, (p, f, s))| (g.to_owned(), serde_json::json!({ "pass": p, "fail": f, "skip": s })))
        .collect();
    serde_json::json!({ "engine": engine, "counts": counts, "tests": tests })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frontmatter_in_both_list_forms() {
        let m = parse_meta(
            "/*---\nesid: x\nincludes: [a.js, b.js]\nflags:\n  - async\n  - CanBlockIsFalse\nfeatures: [SharedArrayBuffer]\nnegative:\n  phase: parse\n  type: SyntaxError\n---*/\nbody",
        );
        assert_eq!(m.includes, ["a.js", "b.js"]);
        assert_eq!(m.flags, ["async", "CanBlockIsFalse"]);
        assert_eq!(m.features, ["SharedArrayBuffer"]);
        assert_eq!(m.negative, Some(("parse".into(), "SyntaxError".into())));
        assert_eq!(parse_meta("no frontmatter"), Meta::default());
    }

    #[test]
    fn expectations_need_reasons_and_verdicts_catch_both_surprises() {
        assert!(Expectations::parse("test/a.js\n").is_err());
        let e = Expectations::parse("# c\ntest/a.js  engine bug\ntest/b.js  another\n").unwrap();
        let r = |p: &str, o: Outcome| TestResult { path: p.into(), outcome: o, time: Duration::ZERO };
        let results = [
            r("test/a.js", Outcome::Fail("x".into())),
            r("test/b.js", Outcome::Pass),
            r("test/c.js", Outcome::Timeout),
            r("test/d.js", Outcome::Pass),
        ];
        let v = Verdict::new(&results, &e);
        assert_eq!(v.unexpected_passes, ["test/b.js"]);
        assert_eq!(v.unexpected_failures.len(), 1);
        assert_eq!(v.unexpected_failures[0].0, "test/c.js");
        assert!(!v.ok());
    }

    #[test]
    fn readme_rows_are_replaced_per_engine() {
        let readme = "a\n<!-- conformance:start -->\n| engine | x |\n|---|\n| boa | old |\n| quickjs | old |\n<!-- conformance:end -->\nz";
        let out = update_readme(readme, "quickjs", "| quickjs | new |").unwrap();
        assert!(out.contains("| boa | old |") && out.contains("| quickjs | new |") && !out.contains("quickjs | old"));
        assert!(out.starts_with("a\n") && out.ends_with("-->\nz"));
        assert_eq!(group("test/built-ins/Atomics/add/x.js"), "Atomics");
        assert_eq!(group("test/staging/sm/x.js"), "other");
    }
}
