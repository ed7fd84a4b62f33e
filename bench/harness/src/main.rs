//! hz-bench: runs the same workloads on hz (every engine the `hz` binary was
//! built with) and on the peers found on the machine (Node's worker_threads,
//! Deno and Bun Web Workers), in one run, and writes `docs/BENCHMARKS.md`
//! with tables (medians, hz/peer ratios) and SVG plots.
//!
//! `bench/run.sh` builds hz, installs the peers and runs this; see
//! `hz-bench --help`.

mod report;
mod run;
mod svg;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::run::{Outcome, Runtime};

/// Whether a workload's headline figure is better low (times) or high (rates).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Better {
    Lower,
    Higher,
}

/// One workload: a script in bench/hz/ID.mjs and bench/peers/ID.mjs.
#[derive(Debug)]
pub(crate) struct Workload {
    pub(crate) id: &'static str,
    pub(crate) title: &'static str,
    pub(crate) about: &'static str,
    pub(crate) args: &'static str,
    pub(crate) quick: &'static str,
    /// Peers run it too (the token ring is hz's alone).
    pub(crate) peers: bool,
    pub(crate) timeout_s: u64,
    pub(crate) better: Better,
}

pub(crate) const WORKLOADS: &[Workload] = &[
    Workload {
        id: "spawn",
        title: "1. Spawn an agent → its first message",
        about: "Time from the spawn call (hz.spawn / new Worker) until the parent has the first message the new agent sends. Sequential, after 5 warm-up spawns: back to back (each spawn right after the last one's join), then paced (one spawn every 5 ms, a rate the runtime can sustain, as a server spawning per request). hz keeps 2 agents per engine made ahead of need (RuntimeBuilder::warm_agents), refilled by idle worker threads: paced spawns find one ready; back to back, making agents takes longer than the loop, and a spawn that finds none ready takes the one a worker is making (it waits for the rest of that agent).",
        args: "n=100 warm=5",
        quick: "n=20 warm=2",
        peers: true,
        timeout_s: 300,
        better: Better::Lower,
    },
    Workload {
        id: "memory",
        title: "1b. Resident memory per live agent",
        about: "Agents (workers) that are started and idle, waiting for a message; the process's resident set (VmRSS) read at 0, 1, 100, then every 1,000 up to 10,000 of them. Per agent: (RSS at n − RSS at 0) / n. A runtime stops when it passes 12 GiB or 240 s; the report gives how far it got.",
        args: "counts=1,100,1000,2000,3000,4000,5000,6000,7000,8000,9000,10000",
        quick: "counts=1,100",
        peers: true,
        timeout_s: 240,
        better: Better::Lower,
    },
    Workload {
        id: "roundtrip",
        title: "2. Ping-pong round trip",
        about: "The parent sends a value to an echo agent and awaits the answer; each round trip is timed on its own (performance.now). hz: two rendezvous channels; peers: postMessage both ways. The *one agent (engine floor)* rows run the same ping-pong code with both ends in the parent and a channel written in JS (bench/lib.mjs): no thread, no copy, no runtime code, only the engine's promises and awaits, which every round trip on that engine pays too; the targets table gives each round trip above its floor.",
        args: "n=20000 warm=2000",
        quick: "n=2000 warm=200",
        peers: true,
        timeout_s: 300,
        better: Better::Lower,
    },
    Workload {
        id: "throughput",
        title: "3. One-way throughput of small messages",
        about: "A producer agent sends integers as fast as it can and the parent receives them all (median of 3 runs). hz: channels of capacity 0 (rendezvous), 1 and 1024, each message awaited on both sides; peers: postMessage, which has no capacity (unbounded). Fan-in: 4 producers into one receiver (hz: capacity 1024).",
        args: "n=200000",
        quick: "n=20000",
        peers: true,
        timeout_s: 300,
        better: Better::Higher,
    },
    Workload {
        id: "clone",
        title: "4. Structured clone by payload shape",
        about: "structuredClone(value) in one agent, per shape: a 10-property object, 1,000 small objects, a 1 MB JSON-like graph, a 1 MB string. It is the serializer a message goes through on each runtime.",
        args: "small=20000 large=50",
        quick: "small=2000 large=10",
        peers: true,
        timeout_s: 300,
        better: Better::Lower,
    },
    Workload {
        id: "transfer",
        title: "5. ArrayBuffer round trip: transfer vs copy",
        about: "An ArrayBuffer sent to an echo agent and back, moved (transfer list) or copied, from 1 KiB to 64 MiB.",
        args: "sizes=1024,16384,262144,4194304,67108864 reps=40",
        quick: "sizes=1024,262144,4194304 reps=10",
        peers: true,
        timeout_s: 300,
        better: Better::Lower,
    },
    Workload {
        id: "atomics",
        title: "6. Atomics.wait / notify ping-pong",
        about: "Two agents on one SharedArrayBuffer, each blocking in Atomics.wait in turn; each round trip timed.",
        args: "n=20000 warm=2000",
        quick: "n=2000 warm=200",
        peers: true,
        timeout_s: 300,
        better: Better::Lower,
    },
    Workload {
        id: "speedup",
        title: "7. CPU-bound parallel speedup",
        about: "Dense matrix product (B transposed), sized so one agent computes for about 0.6 s on that runtime, on warm pools of 1, 2 and 4 agents. Coarse: one row band per agent; fine: 64 bands taken by whichever agent is free. 7 rounds, pool sizes alternating; speedup = best time on 1 agent / best time on k (interference on a shared VM only adds time; the medians are shown too).",
        args: "target=600 rounds=7 fine=64 agents=1,2,4",
        quick: "target=150 rounds=2 fine=32 agents=1,2",
        peers: true,
        timeout_s: 600,
        better: Better::Lower,
    },
    Workload {
        id: "ring",
        title: "8. Token ring through 10,000 agents",
        about: "10,000 agents in a ring of channels (capacity 1), each forwarding a token to the next; 5 laps after a warm-up lap. hz only: the peers' workers cannot be chained by channels (a ring of MessagePorts would be a different workload).",
        args: "n=10000 laps=5",
        quick: "n=500 laps=3",
        peers: false,
        timeout_s: 600,
        better: Better::Higher,
    },
];

#[derive(Debug)]
pub(crate) struct Options {
    pub(crate) root: PathBuf,
    pub(crate) hz: PathBuf,
    pub(crate) peers_bin: Option<PathBuf>,
    pub(crate) out: PathBuf,
    pub(crate) quick: bool,
    pub(crate) only: Option<Vec<String>>,
    pub(crate) runtimes: Option<Vec<String>>,
    pub(crate) rss_cap: u64,
    /// Exit 1 if a run fails (CI's check that every script still runs).
    pub(crate) strict: bool,
    /// Runs of each timed workload per runtime (the median is reported).
    pub(crate) repeat: usize,
}

const HELP: &str = "hz-bench: hz beside Node, Deno and Bun, one run, one report

usage: hz-bench [--hz PATH] [--peers-bin DIR] [--out DIR] [--quick]
                [--only W1,W2] [--runtimes R1,R2] [--repeat N] [--strict]

  --hz PATH        the hz binary (default: target/release/hz)
  --peers-bin DIR  where deno and bun are (default: bench/.peers/node_modules/.bin);
                   node is taken from PATH
  --out DIR        where BENCHMARKS.md and the plots go (default: docs)
  --quick          small sizes: checks the whole pipeline in a few minutes
  --only           workloads: spawn,memory,roundtrip,throughput,clone,transfer,atomics,speedup,ring
  --runtimes       e.g. hz-quickjs,hz-v8,hz-boa,node,deno,bun
  --repeat N       runs of each timed workload per runtime, taking turns;
                   figures are the medians of the runs (default 3; 1 with --quick)
  --strict         exit 1 if any run fails";

fn parse() -> Result<Options> {
    let root = std::env::current_dir()?;
    let mut o = Options {
        hz: std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from).join("release/hz"),
        peers_bin: Some(root.join("bench/.peers/node_modules/.bin")),
        out: root.join("docs"),
        root,
        quick: false,
        only: None,
        runtimes: None,
        rss_cap: 12 << 30,
        strict: false,
        repeat: 1,
    };
    let mut repeat = None;
    let mut args = std::env::args().skip(1);
    let list = |v: String| v.split(',').map(str::to_owned).collect::<Vec<_>>();
    while let Some(a) = args.next() {
        let mut value = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--hz" => o.hz = value()?.into(),
            "--peers-bin" => o.peers_bin = Some(value()?.into()),
            "--out" => o.out = value()?.into(),
            "--quick" => o.quick = true,
            "--repeat" => repeat = Some(value()?.parse::<usize>().context("--repeat needs a number")?.max(1)),
            "--strict" => o.strict = true,
            "--only" => o.only = Some(list(value()?)),
            "--runtimes" => o.runtimes = Some(list(value()?)),
            "-h" | "--help" => {
                println!("{HELP}");
                std::process::exit(0);
            }
            _ => bail!("unknown argument {a:?}\n\n{HELP}"),
        }
    }
    o.repeat = repeat.unwrap_or(if o.quick { 1 } else { 3 });
    if let Some(only) = &o.only {
        for w in only {
            if !WORKLOADS.iter().any(|x| x.id == w) {
                bail!("unknown workload {w:?}");
            }
        }
    }
    if !o.root.join("bench/lib.mjs").exists() {
        bail!("run hz-bench from the repository's root (bench/lib.mjs not found)");
    }
    Ok(o)
}

fn main() -> Result<()> {
    let o = parse()?;
    let started = Instant::now();
    let runtimes: Vec<Runtime> = run::discover(&o)?
        .into_iter()
        .filter(|r| o.runtimes.as_ref().is_none_or(|list| list.contains(&r.id)))
        .collect();
    if !runtimes.iter().any(|r| r.hz) {
        bail!("no hz engine runs: is {} built?", o.hz.display());
    }
    for r in &runtimes {
        eprintln!("runtime {}: {}", r.id, r.version);
    }
    let mut results = Vec::new();
    // The memory-hungry workloads run last: the peers die at their limits,
    // and the kernel reclaiming gigabytes afterwards slowed the timed
    // workloads that followed (round trips 5-8x slower, measured).
    let hungry_ids = |w: &Workload| w.id == "memory" || w.id == "ring";
    let (hungry, timed): (Vec<&Workload>, Vec<&Workload>) = WORKLOADS.iter().partition(|w| hungry_ids(w));
    for w in timed.into_iter().chain(hungry) {
        if o.only.as_ref().is_some_and(|only| !only.iter().any(|x| x == w.id)) {
            continue;
        }
        // The timed workloads run `repeat` times, the runtimes taking turns,
        // so a slow phase of the VM hits every runtime alike; each figure is
        // the median of its runs (see Outcome::merge).
        // (Not the speedup workload: each run sizes its own matrices and
        // alternates its rounds already.)
        let repeat = if hungry_ids(w) || w.id == "speedup" { 1 } else { o.repeat };
        let mut runs: Vec<Vec<Outcome>> = vec![Vec::new(); runtimes.len()];
        for round in 0..repeat {
            for (i, r) in runtimes.iter().enumerate() {
                if !r.hz && !w.peers {
                    continue;
                }
                eprint!("{:>10} on {:<10} ({}/{repeat}) ", w.id, r.id, round + 1);
                let t = Instant::now();
                let out = run::workload(&o, w, r);
                eprintln!("{:>6.1} s  {}", t.elapsed().as_secs_f64(), out.status);
                runs[i].push(out);
            }
        }
        for (r, outs) in runtimes.iter().zip(runs) {
            let outcome =
                if !r.hz && !w.peers { Outcome::not_applicable("hz-only workload") } else { Outcome::merge(outs) };
            results.push((w, r.id.clone(), outcome));
        }
    }
    std::fs::create_dir_all(o.out.join("bench"))?;
    let md = report::write(&o, &runtimes, &results, started.elapsed())?;
    std::fs::write(o.out.join("BENCHMARKS.md"), md)?;
    eprintln!("wrote {}", o.out.join("BENCHMARKS.md").display());
    let failed = results.iter().filter(|(_, _, out)| matches!(out.status, run::Status::Failed(_))).count();
    if o.strict && failed > 0 {
        bail!("{failed} runs failed");
    }
    Ok(())
}
