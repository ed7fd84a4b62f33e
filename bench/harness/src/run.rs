//! Finding the runtimes and running one workload on one of them.

use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::Value;

use crate::{Options, Workload};

/// A runtime the workloads run on.
#[derive(Debug, Clone)]
pub(crate) struct Runtime {
    /// `hz-quickjs`, `node`...
    pub(crate) id: String,
    /// For tables: `hz QuickJS`, `Node`...
    pub(crate) label: String,
    pub(crate) version: String,
    pub(crate) hz: bool,
    /// The command before the script's path.
    program: Vec<String>,
}

impl Runtime {
    fn command(&self, script: &Path, args: &str) -> Command {
        let mut c = Command::new(&self.program[0]);
        c.args(&self.program[1..]).arg(script);
        if self.hz {
            c.arg("--");
        }
        c.args(args.split_whitespace());
        c
    }
}

/// One reported figure: `{"case", "value", "unit", ...}` from a script.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    pub(crate) case: String,
    pub(crate) value: f64,
    pub(crate) unit: String,
    pub(crate) extra: serde_json::Map<String, Value>,
}

impl Sample {
    pub(crate) fn get(&self, key: &str) -> Option<f64> {
        self.extra.get(key).and_then(Value::as_f64)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Status {
    Ok,
    /// Ended before finishing: why (exit status and the end of stderr, a
    /// timeout, the memory cap).
    Failed(String),
    NotApplicable(String),
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::Ok => f.write_str("ok"),
            Status::Failed(why) => write!(f, "failed: {why}"),
            Status::NotApplicable(why) => write!(f, "not run: {why}"),
        }
    }
}

/// What one run produced; a failed run keeps what it reported before.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub(crate) samples: Vec<Sample>,
    /// `@rss LABEL` points: label and resident bytes.
    pub(crate) rss: Vec<(String, u64)>,
    pub(crate) status: Status,
}

impl Outcome {
    pub(crate) fn not_applicable(why: &str) -> Self {
        Outcome { samples: Vec::new(), rss: Vec::new(), status: Status::NotApplicable(why.into()) }
    }

    pub(crate) fn find(&self, case: &str) -> Option<&Sample> {
        self.samples.iter().find(|s| s.case == case)
    }

    /// Resident bytes at the `@rss` point `label`.
    pub(crate) fn rss_at(&self, label: &str) -> Option<u64> {
        self.rss.iter().find(|(l, _)| l == label).map(|x| x.1)
    }

    /// The `@rss` point with the most agents (a numeric label): the count
    /// and the resident bytes there.
    pub(crate) fn rss_most(&self) -> Option<(u64, u64)> {
        self.rss.iter().filter_map(|(l, b)| Some((l.parse::<u64>().ok()?, *b))).max()
    }

    /// KiB per agent at the point with the most agents, over the point "0",
    /// with that count.
    pub(crate) fn per_agent(&self) -> Option<(u64, f64)> {
        let (n, bytes) = self.rss_most().filter(|m| m.0 > 0)?;
        let base = self.rss_at("0")?;
        Some((n, bytes.saturating_sub(base) as f64 / n as f64 / 1024.0))
    }

    /// Several runs of one workload on one runtime as one outcome: each
    /// case's value and p99 are the medians over the runs that reported it,
    /// `best` the least; a failed run's status is kept.
    pub(crate) fn merge(mut runs: Vec<Outcome>) -> Outcome {
        if runs.len() <= 1 {
            return runs.pop().unwrap_or_else(|| Outcome::not_applicable("not run"));
        }
        let median = |mut xs: Vec<f64>| {
            xs.sort_by(f64::total_cmp);
            let n = xs.len();
            if n % 2 == 1 { xs[n / 2] } else { (xs[n / 2 - 1] + xs[n / 2]) / 2.0 }
        };
        let mut samples: Vec<Sample> = Vec::new();
        for run in &runs {
            for s in &run.samples {
                if samples.iter().any(|x| x.case == s.case) {
                    continue;
                }
                let all: Vec<&Sample> = runs.iter().filter_map(|r| r.find(&s.case)).collect();
                let mut merged = s.clone();
                merged.value = median(all.iter().map(|x| x.value).collect());
                if s.get("p99").is_some() {
                    let p99 = median(all.iter().filter_map(|x| x.get("p99")).collect());
                    merged.extra.insert("p99".into(), p99.into());
                }
                if s.get("best").is_some() {
                    let best = all.iter().filter_map(|x| x.get("best")).fold(f64::INFINITY, f64::min);
                    merged.extra.insert("best".into(), best.into());
                }
                merged.extra.insert("runs".into(), all.len().into());
                samples.push(merged);
            }
        }
        let status = runs.iter().map(|r| r.status.clone()).find(|s| *s != Status::Ok).unwrap_or(Status::Ok);
        Outcome { samples, rss: runs.swap_remove(0).rss, status }
    }
}

fn output(mut c: Command) -> Result<String> {
    let out = c.stderr(Stdio::null()).output()?;
    anyhow::ensure!(out.status.success(), "exited with {}", out.status);
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn probe(r: &Runtime, root: &Path) -> Result<Value> {
    let dir = if r.hz { "bench/hz" } else { "bench/peers" };
    let text = output(r.command(&root.join(dir).join("probe.mjs"), ""))?;
    Ok(serde_json::from_str(text.lines().last().unwrap_or_default())?)
}

/// The version of a package in Cargo.lock.
fn locked(root: &Path, name: &str) -> Option<String> {
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).ok()?;
    let key = format!("name = \"{name}\"\nversion = \"");
    let rest = &lock[lock.find(&key)? + key.len()..];
    Some(rest[..rest.find('"')?].to_owned())
}

/// The hz engines the binary was built with and the peers that run here.
pub(crate) fn discover(o: &Options) -> Result<Vec<Runtime>> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let rev = output({
        let mut c = Command::new("git");
        c.args(["rev-parse", "--short", "HEAD"]);
        c
    })
    .unwrap_or_else(|_| "unknown".into());
    let mut found = Vec::new();
    for (engine, label, package) in
        [("quickjs", "QuickJS", "rquickjs-sys"), ("v8", "V8", "v8"), ("boa", "Boa", "boa_engine")]
    {
        let r = Runtime {
            id: format!("hz-{engine}"),
            label: format!("hz {label}"),
            version: String::new(),
            hz: true,
            program: vec![
                o.hz.display().to_string(),
                "run".into(),
                "--threads".into(),
                threads.to_string(),
                "--engine".into(),
                engine.into(),
            ],
        };
        if probe(&r, &o.root).is_ok() {
            let crate_version = locked(&o.root, package).unwrap_or_default();
            found.push(Runtime { version: format!("hz {rev}, {package} {crate_version}"), ..r });
        }
    }
    let bin = |name: &str| -> Option<PathBuf> {
        let local = o.peers_bin.as_ref().map(|d| d.join(name)).filter(|p| p.exists());
        local.or_else(|| {
            std::env::var_os("PATH")?.to_str()?.split(':').map(|d| Path::new(d).join(name)).find(|p| p.exists())
        })
    };
    for (id, label, run) in [("node", "Node", &[][..]), ("deno", "Deno", &["run", "-A"][..]), ("bun", "Bun", &[][..])] {
        let Some(path) = bin(id) else {
            eprintln!("peer {id}: not found, skipped");
            continue;
        };
        let mut program = vec![path.display().to_string()];
        program.extend(run.iter().map(|s| s.to_string()));
        let r = Runtime { id: id.into(), label: label.into(), version: String::new(), hz: false, program };
        match probe(&r, &o.root) {
            Ok(v) => {
                let version = v["version"].as_str().unwrap_or("?").to_owned();
                found.push(Runtime { version: format!("{label} {version}"), ..r });
            }
            Err(e) => eprintln!("peer {id}: does not run ({e}), skipped"),
        }
    }
    Ok(found)
}

fn rss_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

enum Line {
    Out(String),
    Closed,
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Runs workload `w` on `r`: reads its JSON lines, samples resident memory
/// at each `@rss` line, and stops it at the workload's time limit or the
/// memory cap, keeping what it reported so far.
pub(crate) fn workload(o: &Options, w: &Workload, r: &Runtime) -> Outcome {
    let dir = if r.hz { "bench/hz" } else { "bench/peers" };
    let script = o.root.join(dir).join(format!("{}.mjs", w.id));
    let mut out = Outcome { samples: Vec::new(), rss: Vec::new(), status: Status::Ok };
    let mut child = match r
        .command(&script, if o.quick { w.quick } else { w.args })
        .current_dir(&o.root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", r.id))
    {
        Ok(c) => c,
        Err(e) => {
            out.status = Status::Failed(format!("{e:#}"));
            return out;
        }
    };
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().expect("piped");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(Line::Out(line)).is_err() {
                return;
            }
        }
        let _ = tx.send(Line::Closed);
    });
    let mut stderr = child.stderr.take().expect("piped");
    let err_text = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(if o.quick { w.timeout_s.min(120) } else { w.timeout_s });
    let mut peak = 0;
    let stopped = loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(Line::Out(line)) => {
                if let Some(label) = line.strip_prefix("@rss ") {
                    if let Some(bytes) = rss_of(pid) {
                        out.rss.push((label.trim().to_owned(), bytes));
                    }
                } else if let Ok(Value::Object(mut m)) = serde_json::from_str::<Value>(&line) {
                    let case = m.remove("case").and_then(|v| v.as_str().map(str::to_owned));
                    let value = m.remove("value").and_then(|v| v.as_f64());
                    let unit = m.remove("unit").and_then(|v| v.as_str().map(str::to_owned));
                    if let (Some(case), Some(value), Some(unit)) = (case, value, unit) {
                        out.samples.push(Sample { case, value, unit, extra: m });
                    }
                }
            }
            Ok(Line::Closed) => break None,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break None,
        }
        peak = peak.max(rss_of(pid).unwrap_or(0));
        if peak > o.rss_cap {
            break Some(format!("stopped: resident memory passed {} GiB", o.rss_cap >> 30));
        }
        if Instant::now() > deadline {
            break Some(format!("stopped: still running after {} s", w.timeout_s));
        }
    };
    if let Some(why) = stopped {
        kill(&mut child);
        out.status = Status::Failed(why);
        return out;
    }
    let status = child.wait();
    let err = err_text.join().unwrap_or_default();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => {
            let tail: Vec<&str> = err.lines().rev().take(3).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            out.status = Status::Failed(format!("{s}: {}", tail.join(" / ")));
        }
        Err(e) => out.status = Status::Failed(e.to_string()),
    }
    out
}
