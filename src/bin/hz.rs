//! The `hz` command: `hz run FILE.js [--threads N] [--engine NAME]`.

use std::process::ExitCode;
use std::time::Duration;

use hz::{AgentSpec, JoinError, Runtime};

const USAGE: &str = "usage: hz run FILE.js [--threads N] [--engine NAME] [--module] [ARGS...] [-- ARGS...]

  FILE runs as a classic script, or as an ES module with --module, when
  its name ends in .mjs, or when a line starts with an import or export
  statement (as Node detects module syntax). ARGS, the other words after FILE (and
  all words after --), are the program's strings in hz.args.";

struct Options {
    file: String,
    module: bool,
    threads: Option<usize>,
    engine: Option<String>,
    args: Vec<String>,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut it = args.iter();
    match it.next().map(String::as_str) {
        Some("run") => {}
        Some("-h" | "--help") | None => return Err(USAGE.into()),
        Some(other) => return Err(format!("unknown command {other:?}\n{USAGE}")),
    }
    let (mut file, mut threads, mut engine, mut module, mut args) = (None, None, None, false, Vec::new());
    while let Some(a) = it.next() {
        match a.as_str() {
            "--threads" | "-t" => {
                let n = it.next().ok_or("--threads needs a number")?;
                threads = Some(n.parse::<usize>().ok().filter(|&n| n > 0).ok_or(format!("bad --threads {n:?}"))?);
            }
            "--engine" | "-e" => engine = Some(it.next().ok_or("--engine needs a name")?.clone()),
            "--module" | "-m" => module = true,
            "--" => {
                args.extend(it.by_ref().cloned());
                break;
            }
            f if file.is_none() && !f.starts_with('-') => file = Some(f.to_owned()),
            f if file.is_some() => args.push(f.to_owned()),
            other => return Err(format!("unexpected argument {other:?}\n{USAGE}")),
        }
    }
    let file: String = file.ok_or(USAGE)?;
    module |= file.ends_with(".mjs");
    Ok(Options { file, module, threads, engine, args })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = match parse(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let code = match std::fs::read_to_string(&opts.file) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("hz: cannot read {}: {e}", opts.file);
            return ExitCode::from(2);
        }
    };
    // The process is the program's: with a worker per CPU (the default),
    // each keeps to its own (see RuntimeBuilder::pin_threads).
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = opts.threads.unwrap_or(cpus);
    let builder = Runtime::builder().threads(threads).pin_threads(threads == cpus && cpus > 1);
    let rt = match builder.build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hz: {e}");
            return ExitCode::FAILURE;
        }
    };
    let engine = opts.engine.unwrap_or_else(|| rt.engines()[0].to_owned());
    let module = opts.module || has_module_syntax(&code);
    let spec = if module {
        // The module loads from the text read here: the file is read once.
        rt.preload_module(&opts.file, code);
        AgentSpec::module(opts.file.clone())
    } else {
        AgentSpec::program(opts.file.clone(), code)
    };
    let spec = match spec.args(opts.args.iter().map(|a| hz::Value::String(a.clone())).collect()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("hz: {e}");
            return ExitCode::from(2);
        }
    };
    let main = match rt.spawn_on(&engine, spec) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("hz: {e} (this build has: {})", rt.engines().join(", "));
            return ExitCode::from(2);
        }
    };
    // Wait for the main agent, then for every agent it started; report a
    // deadlock (as Go does) when all of them wait on something that can
    // never come: no turn runs, nothing is queued and no timer is armed.
    let poll = Duration::from_millis(200);
    let mut earlier = rt.activity();
    let result = loop {
        if let Some(r) = main.join_timeout(poll) {
            break r;
        }
        if let Some(code) = deadlock(&rt, &mut earlier) {
            return code;
        }
    };
    match result {
        Ok(_) => {
            while !rt.wait_idle_timeout(poll) {
                if let Some(code) = deadlock(&rt, &mut earlier) {
                    return code;
                }
            }
            ExitCode::SUCCESS
        }
        Err(JoinError::Js(e)) => {
            // A thrown non-Error displays as "Uncaught 42" already.
            if e.name.is_some() {
                eprintln!("Uncaught {e}");
            } else {
                eprintln!("{e}");
            }
            if let Some(stack) = e.stack.as_deref().filter(|s| !s.trim().is_empty()) {
                eprintln!("{}", stack.trim_end());
            }
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("hz: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `Some(exit code)` if no agent can ever run again.
fn deadlock(rt: &Runtime, earlier: &mut hz::Activity) -> Option<ExitCode> {
    let now = rt.activity();
    let stalled = now.is_stalled_since(earlier);
    *earlier = now;
    if stalled {
        eprintln!(
            "hz: deadlock: all {} agent(s) are waiting and nothing can wake them (a receive or send no other agent will match, or an Atomics.wait nobody will notify?)",
            now.live
        );
        return Some(ExitCode::FAILURE);
    }
    None
}

/// Whether `code` has a line that starts with an `import` or `export`
/// statement (or `import.meta`): module syntax, a SyntaxError in a classic
/// script, so running such a file as a module cannot break a script that
/// works (short of such a line inside a comment or a template literal).
/// `import(...)`, which scripts may use, does not count.
fn has_module_syntax(code: &str) -> bool {
    code.lines().any(|line| {
        let l = line.trim_start();
        let after = |kw: &str| l.strip_prefix(kw).and_then(|rest| rest.chars().next());
        match after("import") {
            Some(c) if c.is_whitespace() || matches!(c, '{' | '*' | '"' | '\'' | '.') => return true,
            _ => {}
        }
        matches!(after("export"), Some(c) if c.is_whitespace() || matches!(c, '{' | '*'))
    })
}

#[cfg(test)]
mod tests {
    use super::has_module_syntax;

    #[test]
    fn module_syntax_is_detected_at_the_start_of_a_line() {
        assert!(has_module_syntax("import { a } from './a.js';"));
        assert!(has_module_syntax("// x\n  import x from 'y';"));
        assert!(has_module_syntax("import './side-effect.js';"));
        assert!(has_module_syntax("export default 1;"));
        assert!(has_module_syntax("console.log(import.meta.url);\nimport.meta;"));
        assert!(!has_module_syntax("const m = await import('./a.js');"));
        assert!(!has_module_syntax("import('./a.js').then(console.log);"));
        assert!(!has_module_syntax("const importer = 1; exports.x = 2;"));
        assert!(!has_module_syntax("console.log('import x from y');"));
    }
}
