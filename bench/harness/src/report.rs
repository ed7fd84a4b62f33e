//! docs/BENCHMARKS.md and its plots, from the runs' outcomes.

use std::fmt::Write;
use std::time::Duration;

use anyhow::Result;

use crate::run::{Outcome, Runtime, Sample, Status};
use crate::svg::{self, Group, Line, colour, fmt_num};
use crate::{Better, Options, Workload};

type Results<'a> = [(&'a Workload, String, Outcome)];

fn unit(u: &str) -> &str {
    if u == "us" { "µs" } else { u }
}

fn outcome<'a>(results: &'a Results<'_>, w: &str, r: &str) -> Option<&'a Outcome> {
    results.iter().find(|(x, id, _)| x.id == w && id == r).map(|(_, _, o)| o)
}

fn cell(s: &Sample) -> String {
    let mut c = format!("{} {}", fmt_num(s.value), unit(&s.unit));
    if let Some(p99) = s.get("p99") {
        let _ = write!(c, " (p99 {})", fmt_num(p99));
    }
    c
}

/// "12× faster" / "1.5× slower" for `hz` against `peer`.
fn versus(hz: f64, peer: f64, better: Better) -> String {
    let ratio = if better == Better::Lower { peer / hz } else { hz / peer };
    if ratio >= 1.0 {
        format!("{}× {}", fmt_num(ratio), if better == Better::Lower { "faster" } else { "higher" })
    } else {
        format!("{}× {}", fmt_num(1.0 / ratio), if better == Better::Lower { "slower" } else { "lower" })
    }
}

fn best<'a>(xs: impl Iterator<Item = (&'a Runtime, f64)>, better: Better) -> Option<(&'a Runtime, f64)> {
    xs.fold(None, |acc, (r, v)| match acc {
        Some((_, b)) if (better == Better::Lower && b <= v) || (better == Better::Higher && b >= v) => acc,
        _ => Some((r, v)),
    })
}

/// The cases in order of first appearance, hz runtimes first.
fn cases(results: &Results<'_>, w: &Workload, runtimes: &[Runtime]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in runtimes {
        if let Some(o) = outcome(results, w.id, &r.id) {
            for s in &o.samples {
                if !out.contains(&s.case) && s.case != "reached" && s.case != "stopped" {
                    out.push(s.case.clone());
                }
            }
        }
    }
    out
}

fn status_notes(md: &mut String, results: &Results<'_>, w: &Workload, runtimes: &[Runtime]) {
    for r in runtimes {
        match outcome(results, w.id, &r.id).map(|o| &o.status) {
            Some(Status::Ok) | None => {}
            Some(s) => {
                let _ = writeln!(md, "- {}: {s}", r.label);
            }
        }
    }
}

/// The standard table: a row per case, a column per runtime, then the best
/// hz against the best peer.
fn table(md: &mut String, results: &Results<'_>, w: &Workload, runtimes: &[Runtime], better: Better) {
    let _ = write!(md, "| case |");
    for r in runtimes {
        let _ = write!(md, " {} |", r.label);
    }
    let _ = writeln!(md, " best hz vs best peer |");
    let _ = writeln!(md, "|---|{}---|", "---|".repeat(runtimes.len()));
    for case in cases(results, w, runtimes) {
        let _ = write!(md, "| {case} |");
        let mut hz = Vec::new();
        let mut peers = Vec::new();
        for r in runtimes {
            let s = outcome(results, w.id, &r.id).and_then(|o| o.find(&case));
            match s {
                Some(s) => {
                    let _ = write!(md, " {} |", cell(s));
                    if r.hz { &mut hz } else { &mut peers }.push((r, s.value));
                }
                None => md.push_str(" — |"),
            }
        }
        match (best(hz.into_iter(), better), best(peers.into_iter(), better)) {
            (Some((h, hv)), Some((p, pv))) => {
                let _ = writeln!(md, " {} {} than {} |", h.label, versus(hv, pv, better), p.label);
            }
            _ => md.push_str(" — |\n"),
        }
    }
}

fn plot(o: &Options, md: &mut String, name: &str, alt: &str, svg: String) -> Result<()> {
    std::fs::write(o.out.join("bench").join(format!("{name}.svg")), svg)?;
    let _ = writeln!(md, "\n![{alt}](bench/{name}.svg)\n");
    Ok(())
}

fn bar_plot(
    o: &Options,
    md: &mut String,
    results: &Results<'_>,
    w: &Workload,
    runtimes: &[Runtime],
    log: bool,
) -> Result<()> {
    let shown: Vec<&Runtime> = runtimes.iter().filter(|r| r.hz || w.peers).collect();
    let series: Vec<(String, String)> = shown.iter().map(|r| (r.label.clone(), colour(&r.id).to_owned())).collect();
    let mut unit_name = String::new();
    let groups: Vec<Group> = cases(results, w, runtimes)
        .into_iter()
        .map(|case| Group {
            bars: shown
                .iter()
                .enumerate()
                .filter_map(|(i, r)| {
                    let o = outcome(results, w.id, &r.id)?;
                    let s = o.find(&case);
                    if let Some(s) = s {
                        unit_name = unit(&s.unit).to_owned();
                    }
                    // A runtime that ran but has no such case (hz's channel
                    // capacities, the peers' postMessage) gets no bar.
                    match (&o.status, s) {
                        (_, Some(s)) => Some((i, Some(s.value))),
                        (Status::Ok, None) => None,
                        (_, None) => Some((i, None)),
                    }
                })
                .collect(),
            label: case,
        })
        .collect();
    let title = w.title.split_once(". ").map_or(w.title, |t| t.1);
    plot(o, md, w.id, title, svg::bars(title, &unit_name, log, &series, &groups))
}

fn memory(
    o: &Options,
    md: &mut String,
    results: &Results<'_>,
    w: &Workload,
    runtimes: &[Runtime],
) -> Result<Vec<(String, u64, f64)>> {
    let _ = writeln!(
        md,
        "| runtime | agents reached | resident at 0 | at 1 | at 100 | at the most reached | per agent, at the most reached |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|");
    let mut per_agent = Vec::new();
    let mut groups = Vec::new();
    let mut series = Vec::new();
    for r in runtimes {
        let Some(out) = outcome(results, w.id, &r.id) else { continue };
        let most = out.rss_most();
        let mib = |b: Option<u64>| b.map_or("—".into(), |b| format!("{:.0} MiB", b as f64 / 1048576.0));
        let per = match out.per_agent() {
            Some((n, kib)) => {
                per_agent.push((r.id.clone(), n, kib));
                series.push((r.label.clone(), colour(&r.id).to_owned()));
                groups.push(Group {
                    label: format!("{} ({n} agents)", r.label),
                    bars: vec![(series.len() - 1, Some(kib))],
                });
                format!("{} KiB", fmt_num(kib))
            }
            _ => "—".into(),
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {per} |",
            r.label,
            most.map_or("0".into(), |m| m.0.to_string()),
            mib(out.rss_at("0")),
            mib(out.rss_at("1")),
            mib(out.rss_at("100")),
            mib(most.map(|m| m.1)),
        );
    }
    plot(
        o,
        md,
        "memory",
        "memory per agent",
        svg::bars("Resident memory per live agent", "KiB per agent", true, &series, &groups),
    )?;
    status_notes(md, results, w, runtimes);
    for r in runtimes {
        if let Some(s) = outcome(results, w.id, &r.id).and_then(|o| o.find("stopped")) {
            let why = s.extra.get("reason").and_then(|v| v.as_str()).unwrap_or("?");
            let _ = writeln!(md, "- {}: stopped at {} agents: {why}", r.label, s.value);
        }
    }
    Ok(per_agent)
}

/// Speedups (time on 1 agent / time on k) per runtime and grain, from the
/// best times of the rounds: on a shared VM interference only ever adds
/// time, so the best is the stable estimate of what the code does (the
/// medians are in the table beside them).
fn speedups(results: &Results<'_>, r: &Runtime, grain: &str) -> Vec<(f64, f64)> {
    let Some(out) = outcome(results, "speedup", &r.id) else { return Vec::new() };
    let best = |s: &Sample| s.get("best").unwrap_or(s.value);
    let one = out.find(&format!("{grain}, 1 agent")).map(best);
    out.samples
        .iter()
        .filter(|s| s.case.starts_with(&format!("{grain}, ")))
        .filter_map(|s| Some((s.get("agents")?, one? / best(s))))
        .collect()
}

fn speedup(o: &Options, md: &mut String, results: &Results<'_>, w: &Workload, runtimes: &[Runtime]) -> Result<()> {
    let _ = writeln!(
        md,
        "| runtime | matrix | coarse: median (best) time on 1, 2, 4 agents → speedup of the best times | fine: the same |"
    );
    let _ = writeln!(md, "|---|---|---|---|");
    let mut lines = Vec::new();
    for r in runtimes {
        let Some(out) = outcome(results, w.id, &r.id) else { continue };
        let n = out.samples.first().and_then(|s| s.get("n")).map_or("—".into(), |n| format!("{n}×{n}"));
        let mut row = format!("| {} | {n} |", r.label);
        for grain in ["coarse", "fine"] {
            let times: Vec<String> = out
                .samples
                .iter()
                .filter(|s| s.case.starts_with(&format!("{grain}, ")))
                .map(|s| format!("{} ({}) ms", fmt_num(s.value), fmt_num(s.get("best").unwrap_or(s.value))))
                .collect();
            let sp: Vec<String> =
                speedups(results, r, grain).iter().map(|(k, s)| format!("{k}: {}×", fmt_num(*s))).collect();
            let _ = write!(row, " {} → {} |", times.join(", "), sp.join(", "));
            let points = speedups(results, r, grain);
            if !points.is_empty() {
                lines.push(Line {
                    label: format!("{} {grain}", r.label),
                    colour: colour(&r.id).into(),
                    dashed: grain == "fine",
                    points,
                });
            }
        }
        let _ = writeln!(md, "{row}");
    }
    status_notes(md, results, w, runtimes);
    plot(
        o,
        md,
        "speedup",
        "speedup",
        svg::lines(
            "Parallel speedup (solid: coarse, dashed: fine)",
            "agents",
            "speedup over 1 agent",
            (false, false),
            &lines,
        ),
    )
}

fn transfer_plot(o: &Options, md: &mut String, results: &Results<'_>, runtimes: &[Runtime]) -> Result<()> {
    let mut lines = Vec::new();
    for r in runtimes {
        let Some(out) = outcome(results, "transfer", &r.id) else { continue };
        for mode in ["transfer", "copy"] {
            let points: Vec<(f64, f64)> = out
                .samples
                .iter()
                .filter_map(|s| {
                    let (m, size) = s.case.split_once(' ')?;
                    (m == mode).then_some((size.parse::<f64>().ok()? / 1024.0, s.value))
                })
                .collect();
            if !points.is_empty() {
                lines.push(Line {
                    label: format!("{} {mode}", r.label),
                    colour: colour(&r.id).into(),
                    dashed: mode == "copy",
                    points,
                });
            }
        }
    }
    plot(
        o,
        md,
        "transfer",
        "transfer vs copy",
        svg::lines(
            "ArrayBuffer round trip (solid: transfer, dashed: copy)",
            "KiB",
            "µs (median)",
            (true, true),
            &lines,
        ),
    )
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|x| x.1.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| s.lines().next().and_then(|l| l.split_whitespace().nth(1)).and_then(|k| k.parse::<u64>().ok()))
        .map_or("?".into(), |k| format!("{:.0} GiB", k as f64 / 1048576.0));
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} cores ({cpu}), {mem} RAM, {} {}", std::env::consts::OS, std::env::consts::ARCH)
}

/// The spawn workload's cases (bench/hz/spawn.mjs, bench/peers/spawn.mjs).
const SPAWN_BACK_TO_BACK: &str = "spawn → first message";
const SPAWN_PACED: &str = "spawn → first message, 1 per 5 ms";

/// The acceptance targets, computed from the results.
fn targets(md: &mut String, results: &Results<'_>, runtimes: &[Runtime], per_agent: &[(String, u64, f64)]) {
    let peers: Vec<&Runtime> = runtimes.iter().filter(|r| !r.hz).collect();
    let hzs: Vec<&Runtime> = runtimes.iter().filter(|r| r.hz).collect();
    let value =
        |w: &str, r: &Runtime, case: &str| outcome(results, w, &r.id).and_then(|o| o.find(case)).map(|s| s.value);
    let best_peer =
        |w: &str, case: &str, better: Better| best(peers.iter().filter_map(|r| Some((*r, value(w, r, case)?))), better);
    let verdict = |ok: bool| if ok { "**met**" } else { "**not met**" };
    let _ = writeln!(md, "| target | result | |\n|---|---|---|");
    for (case, how) in [(SPAWN_BACK_TO_BACK, "back to back"), (SPAWN_PACED, "paced")] {
        if let (Some(q), Some((p, pv))) =
            (hzs.iter().find(|r| r.id == "hz-quickjs"), best_peer("spawn", case, Better::Lower))
            && let Some(v) = value("spawn", q, case)
        {
            let _ = writeln!(
                md,
                "| spawn ≥ 20× faster than the best peer (QuickJS, {how}) | {} ms vs {} {} ms: {} | {} |",
                fmt_num(v),
                p.label,
                fmt_num(pv),
                versus(v, pv, Better::Lower),
                verdict(pv / v >= 20.0)
            );
        }
    }
    for case in ["number", "object"] {
        if let Some((p, pv)) = best_peer("roundtrip", case, Better::Lower) {
            for h in &hzs {
                if let Some(v) = value("roundtrip", h, case) {
                    let _ = writeln!(
                        md,
                        "| round trip ({case}) ≤ ⅕ of the best peer's | {} {} µs vs {} {} µs: {} | {} |",
                        h.label,
                        fmt_num(v),
                        p.label,
                        fmt_num(pv),
                        versus(v, pv, Better::Lower),
                        verdict(v * 5.0 <= pv)
                    );
                }
            }
        }
    }
    // What the runtime adds to the engine's own promise floor (the same
    // ping-pong in one agent, bench/lib.mjs): no target, the cost that is
    // the runtime's to cut.
    for case in ["number", "object"] {
        let floor = format!("{case}, one agent (engine floor)");
        let above = |r: &Runtime| Some(value("roundtrip", r, case)? - value("roundtrip", r, &floor)?);
        if let Some((p, pv)) = best(peers.iter().filter_map(|r| Some((*r, above(r)?))), Better::Lower) {
            for h in &hzs {
                if above(h).is_some_and(|v| v < 0.0) {
                    // The floor's channel is JavaScript (bench/lib.mjs), hz's
                    // is native: on a slow interpreter the floor can cost
                    // more than hz's whole two-agent round trip.
                    let _ = writeln!(
                        md,
                        "| round trip ({case}) above its engine's floor (no target) | {}: below its floor, {} µs vs {} µs one agent (that floor's channel, written in JS, costs more on this engine than hz's) | |",
                        h.label,
                        fmt_num(value("roundtrip", h, case).unwrap_or(f64::NAN)),
                        fmt_num(value("roundtrip", h, &floor).unwrap_or(f64::NAN)),
                    );
                } else if let Some(v) = above(h) {
                    let _ = writeln!(
                        md,
                        "| round trip ({case}) above its engine's floor (no target) | {} {} µs vs {} {} µs: {} | |",
                        h.label,
                        fmt_num(v),
                        p.label,
                        fmt_num(pv),
                        if v > 0.0 && pv > 0.0 { versus(v, pv, Better::Lower) } else { "—".into() },
                    );
                }
            }
        }
    }
    for h in &hzs {
        if let (Some(small), Some(large)) =
            (value("transfer", h, "transfer 1024"), value("transfer", h, "transfer 67108864"))
        {
            let _ = writeln!(
                md,
                "| transfer flat in size (64 MiB within 3× of 1 KiB) | {}: {} µs at 1 KiB, {} µs at 64 MiB | {} |",
                h.label,
                fmt_num(small),
                fmt_num(large),
                verdict(large <= small * 3.0)
            );
        }
    }
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get()) as f64;
    for h in &hzs {
        if let Some((_, s)) = speedups(results, h, "coarse").into_iter().find(|(k, _)| *k == cores) {
            let _ = writeln!(
                md,
                "| ≥ 1.8× speedup on {cores} cores | {} coarse: {}× | {} |",
                h.label,
                fmt_num(s),
                verdict(s >= 1.8)
            );
        }
    }
    if let Some((_, n, kib)) = per_agent.iter().find(|(id, _, _)| id == "hz-quickjs") {
        let total = outcome(results, "memory", "hz-quickjs").and_then(|o| o.rss.iter().map(|x| x.1).max()).unwrap_or(0);
        let _ = writeln!(
            md,
            "| 10,000 live QuickJS agents in < 2 GiB | {n} agents: {:.2} GiB resident, {} KiB each | {} |",
            total as f64 / (1u64 << 30) as f64,
            fmt_num(*kib),
            verdict(*n >= 10_000 && total < 2 << 30)
        );
    }
}

pub(crate) fn write(o: &Options, runtimes: &[Runtime], results: &Results<'_>, took: Duration) -> Result<String> {
    let mut md = String::new();
    let _ = writeln!(md, "# Benchmarks: hz beside Node, Deno and Bun\n");
    let _ = writeln!(
        md,
        "Written by `bench/run.sh` (`hz-bench`{}) in {:.0} min: every workload on every hz engine the binary was built with and on every peer that runs here, in one run on one machine. Each timed workload ran {} time(s) per runtime, the runtimes taking turns; a figure is the median over those runs of each run's median (p99 likewise, where shown). A ratio compares the best hz engine with the best peer on the same row. Do not compare figures across runs on a shared VM: compare within this page.\n",
        if o.quick { " --quick: small sizes, a pipeline check, not figures to quote" } else { "" },
        took.as_secs_f64() / 60.0,
        o.repeat
    );
    let _ = writeln!(md, "- Machine: {}", machine());
    for r in runtimes {
        let _ = writeln!(md, "- {}: {}", r.label, r.version);
    }
    let _ = writeln!(
        md,
        "- hz runs with `--threads {}` (one worker thread per core).\n",
        std::thread::available_parallelism().map_or(2, |n| n.get())
    );
    let mut body = String::new();
    let mut per_agent = Vec::new();
    for w in crate::WORKLOADS {
        if !results.iter().any(|(x, _, _)| x.id == w.id) {
            continue;
        }
        let _ = writeln!(body, "## {}\n\n{}\n", w.title, w.about);
        match w.id {
            "memory" => per_agent = memory(o, &mut body, results, w, runtimes)?,
            "speedup" => speedup(o, &mut body, results, w, runtimes)?,
            _ => {
                table(&mut body, results, w, runtimes, w.better);
                status_notes(&mut body, results, w, runtimes);
                if w.id == "transfer" {
                    transfer_plot(o, &mut body, results, runtimes)?;
                } else {
                    bar_plot(o, &mut body, results, w, runtimes, w.id != "ring" && w.id != "throughput")?;
                }
                if w.id == "ring" {
                    for r in runtimes.iter().filter(|r| r.hz) {
                        let Some(out) = outcome(results, "ring", &r.id) else { continue };
                        if let Some((n, kib)) = out.per_agent() {
                            let _ = writeln!(
                                body,
                                "- {} ring of {n}: {} KiB resident per agent (with its channel).",
                                r.label,
                                fmt_num(kib)
                            );
                        }
                    }
                }
            }
        }
        body.push('\n');
    }
    let _ = writeln!(md, "## Targets\n");
    targets(&mut md, results, runtimes, &per_agent);
    md.push('\n');
    md.push_str(&body);
    Ok(md)
}
