//! `cargo run -p conformance --release -- [--engine NAME] [PATH_FILTER...]`
//!
//! Runs the Test262 subset on one engine, prints pass/fail/skip counts per
//! directory, writes a result file, and exits non-zero on any result the
//! engine's expectations file does not predict.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use conformance::{Expectations, Outcome, Suite, Verdict};

const USAGE: &str = "usage: conformance [--engine NAME] [--jobs N] [--timeout SECS] [--root DIR]
                   [--expectations FILE] [--out FILE] [--readme FILE] [PATH_FILTER...]

  --engine NAME        quickjs (default), or any engine this build has
  --jobs N             tests run at once (default: available parallelism)
  --timeout SECS       per run of a test (default 60)
  --root DIR           the Test262 tree (default: $HZ_TEST262 or shared/test262)
  --expectations FILE  expected failures (default conformance/expectations/<engine>.txt)
  --out FILE           result file (default target/conformance-<engine>.json)
  --readme FILE        rewrite that README's conformance table row for the engine
                       (only on a full run: no PATH_FILTER)";

struct Args {
    engine: String,
    jobs: usize,
    timeout: Duration,
    root: Option<PathBuf>,
    expectations: Option<PathBuf>,
    out: Option<PathBuf>,
    readme: Option<PathBuf>,
    filters: Vec<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        engine: "quickjs".into(),
        jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
        timeout: Duration::from_secs(60),
        root: None,
        expectations: None,
        out: None,
        readme: None,
        filters: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--engine" => a.engine = value("--engine")?,
            "--jobs" => a.jobs = value("--jobs")?.parse().map_err(|e| format!("--jobs: {e}"))?,
            "--timeout" => {
                a.timeout = Duration::from_secs_f64(value("--timeout")?.parse().map_err(|e| format!("--timeout: {e}"))?)
            }
            "--root" => a.root = Some(value("--root")?.into()),
            "--expectations" => a.expectations = Some(value("--expectations")?.into()),
            "--out" => a.out = Some(value("--out")?.into()),
            "--readme" => a.readme = Some(value("--readme")?.into()),
            "-h" | "--help" => return Err(String::new()),
            s if s.starts_with("--") => return Err(format!("unknown option {s}")),
            _ => a.filters.push(arg),
        }
    }
    Ok(a)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("conformance: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let Some(root) = args.root.clone().or_else(Suite::locate) else {
        eprintln!("conformance: no Test262 tree found (set HZ_TEST262 or pass --root)");
        return ExitCode::from(2);
    };
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let exp_path =
        args.expectations.clone().unwrap_or_else(|| manifest.join(format!("expectations/{}.txt", args.engine)));
    let expected = match std::fs::read_to_string(&exp_path) {
        Ok(t) => match Expectations::parse(&t) {
            Ok(e) => e,
            Err(e) => {
                eprintln!("conformance: {}: {e}", exp_path.display());
                return ExitCode::from(2);
            }
        },
        Err(_) => Expectations::default(),
    };
    let suite = Suite::new(&root);
    let tests = match suite.tests(&args.filters) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("conformance: reading {}: {e}", root.display());
            return ExitCode::from(2);
        }
    };
    eprintln!(
        "conformance: {} tests on {} ({} at a time) from {}",
        tests.len(),
        args.engine,
        args.jobs,
        root.display()
    );
    let t0 = Instant::now();
    let tty = std::io::stderr().is_terminal();
    let total = tests.len();
    let progress = |done: usize, r: &conformance::TestResult| {
        if tty {
            eprint!("\r[{done}/{total}] {:<70.70}", r.path);
        } else if done.is_multiple_of(500) || done == total {
            eprintln!("[{done}/{total}] {:.0} s", t0.elapsed().as_secs_f64());
        }
        if matches!(r.outcome, Outcome::Panic(_)) {
            eprintln!("\npanic in {}: {:?}", r.path, r.outcome);
        }
    };
    let results = conformance::run_all(&suite, &tests, &args.engine, args.timeout, args.jobs, &progress);
    if tty {
        eprintln!();
    }
    let elapsed = t0.elapsed();
    print!("{}", conformance::summary_table(&results));
    let panics = results.iter().filter(|r| matches!(r.outcome, Outcome::Panic(_))).count();
    let timeouts = results.iter().filter(|r| r.outcome == Outcome::Timeout).count();
    println!("{} tests in {:.1} s; {panics} panics, {timeouts} timeouts", results.len(), elapsed.as_secs_f64());

    let out = args.out.clone().unwrap_or_else(|| {
        let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| manifest.join("../target"), PathBuf::from);
        target.join(format!("conformance-{}.json", args.engine))
    });
    if let Some(dir) = out.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    match std::fs::write(&out, conformance::result_json(&args.engine, &results).to_string()) {
        Ok(()) => println!("results: {}", out.display()),
        Err(e) => eprintln!("conformance: writing {}: {e}", out.display()),
    }

    if let Some(readme) = &args.readme {
        if !args.filters.is_empty() {
            eprintln!("conformance: --readme needs a full run (no PATH_FILTER)");
            return ExitCode::from(2);
        }
        let row = conformance::markdown_row(&args.engine, &results);
        let updated = std::fs::read_to_string(readme)
            .map_err(|e| e.to_string())
            .and_then(|t| conformance::update_readme(&t, &args.engine, &row));
        match updated.and_then(|t| std::fs::write(readme, t).map_err(|e| e.to_string())) {
            Ok(()) => println!("updated {}", readme.display()),
            Err(e) => {
                eprintln!("conformance: {}: {e}", readme.display());
                return ExitCode::FAILURE;
            }
        }
    }

    let verdict = Verdict::new(&results, &expected);
    for (path, why) in &verdict.unexpected_failures {
        println!("UNEXPECTED FAILURE {path}: {why}");
    }
    for path in &verdict.unexpected_passes {
        println!("UNEXPECTED PASS {path} (remove it from {})", exp_path.display());
    }
    if verdict.ok() {
        println!("ok: every result as expected ({} expected failures listed)", expected.entries.len());
        ExitCode::SUCCESS
    } else {
        println!(
            "FAILED: {} unexpected failures, {} unexpected passes",
            verdict.unexpected_failures.len(),
            verdict.unexpected_passes.len()
        );
        ExitCode::FAILURE
    }
}
