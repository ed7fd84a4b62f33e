//! The `hz` command, run as a user would.

use std::process::Command;

use crate::scratch::Scratch;

fn hz(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_hz")).args(args).output().expect("hz runs")
}

#[test]
fn missing_file_is_reported() {
    let out = hz(&["run", "definitely-missing.js"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("definitely-missing.js") && err.contains("No such file"), "stderr: {err}");
}

#[test]
fn uncaught_error_exits_non_zero_with_name_message_and_location() {
    let dir = Scratch::new("cli-uncaught_error_exits_non_zero_with_name_message_and_location");
    let p = dir.write("boom.js", "console.log('before');\nfunction f() { throw new TypeError('bad thing'); }\nf();\n");
    let out = hz(&["run", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "before\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("TypeError: bad thing"), "stderr: {err}");
    assert!(err.contains("boom.js:2"), "stderr lacks the location: {err}");
}

#[test]
fn unhandled_rejection_in_main_file_exits_non_zero() {
    let dir = Scratch::new("cli-unhandled_rejection_in_main_file_exits_non_zero");
    let p = dir.write("reject.js", "(async () => {\n  await null;\n  throw new RangeError('async boom');\n})();\n");
    let out = hz(&["run", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("RangeError: async boom") && err.contains("reject.js:3"), "stderr: {err}");
}

#[test]
fn syntax_error_in_main_file_has_its_line() {
    let dir = Scratch::new("cli-syntax_error_in_main_file_has_its_line");
    let p = dir.write("syntax.js", "let a = 1;\nlet b = ;\n");
    let out = hz(&["run", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("SyntaxError") && err.contains("syntax.js:2"), "stderr: {err}");
}

#[test]
fn bad_arguments_and_engines() {
    let dir = Scratch::new("cli-bad_arguments_and_engines");
    assert_eq!(hz(&[]).status.code(), Some(2));
    assert_eq!(hz(&["run"]).status.code(), Some(2));
    assert_eq!(hz(&["run", "x.js", "--threads", "zero"]).status.code(), Some(2));
    let p = dir.write("ok.js", "1");
    let out = hz(&["run", p.to_str().unwrap(), "--engine", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown engine"));
}

#[test]
fn words_after_the_file_are_hz_args() {
    let dir = Scratch::new("cli-words_after_the_file_are_hz_args");
    let p = dir.write("args.js", "console.log(JSON.stringify(hz.args), hz.threads);\n");
    let out = hz(&["run", p.to_str().unwrap(), "a", "--threads", "3", "b c", "--", "--engine", "-x"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), r#"["a","b c","--engine","-x"] 3"#);
}

#[test]
fn program_waits_for_its_agents() {
    let dir = Scratch::new("cli-program_waits_for_its_agents");
    let p = dir.write(
        "wait.js",
        "hz.spawn(async () => { await new Promise((r) => setTimeout(r, 50)); console.log('child done'); });\nconsole.log('main done');\n",
    );
    let out = hz(&["run", p.to_str().unwrap()]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "main done\nchild done\n");
}

#[test]
fn pipeline_example_prints_the_right_result() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = hz(&["run", &format!("{root}/examples/pipeline.js"), "--threads", "2"]);
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Sum of squares of 1..=1000, computed by the workers.
    assert!(stdout.contains("sum of squares 1..1000 = 333833500"), "stdout: {stdout}");
    assert!(stdout.contains("items: 1000"), "stdout: {stdout}");
}

/// Runs `hz run main` from a working directory other than main's, expecting
/// success; its stdout.
fn run_elsewhere(main: &std::path::Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_hz"))
        .args(["run", main.to_str().unwrap()])
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn modules_resolve_against_the_main_file_not_the_cwd() {
    let dir = Scratch::new("cli-modules_resolve_against_the_main_file_not_the_cwd");
    let main = dir
        .write("main-mod.js", "hz.spawn({ module: './helper.mjs' }, 20).join().then((v) => console.log('got', v));\n");
    dir.write("helper.mjs", "import { twice } from './twice.mjs';\nexport default (n) => twice(n) + 2;\n");
    dir.write("twice.mjs", "export const twice = (n) => n * 2;\n");
    assert_eq!(run_elsewhere(&main), "got 42\n");
    // An .mjs main file runs as a module (import works at top level).
    let entry = dir.write("entry.mjs", "import { twice } from './twice.mjs';\nconsole.log('entry', twice(5));\n");
    let out = hz(&["run", entry.to_str().unwrap()]);
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "entry 10\n");
    // So does a .js file with module syntax (as Node detects it), with
    // top-level await.
    let js = dir.write(
        "entry-detected.js",
        "// a module\nimport { twice } from './twice.mjs';\nconsole.log('detected', twice(await Promise.resolve(6)));\n",
    );
    let out = hz(&["run", js.to_str().unwrap()]);
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "detected 12\n");
    // A module Worker's relative URL, and a spawn from a module the main
    // file imported, resolve against the calling file too (not the cwd,
    // nor hz's own code between the call and the engine).
    dir.write("worker.mjs", "import { twice } from './twice.mjs';\nonmessage = (e) => postMessage(twice(e.data));\n");
    dir.write("spawner.mjs", "export const run = (n) => hz.spawn({ module: './helper.mjs' }, n).join();\n");
    let main = dir.write(
        "main-worker.mjs",
        "import { run } from './spawner.mjs';\n\
         const w = new Worker('./worker.mjs', { type: 'module' });\n\
         w.onmessage = async (e) => { console.log('worker', e.data, 'spawn', await run(1)); w.terminate(); };\n\
         w.postMessage(21);\n",
    );
    assert_eq!(run_elsewhere(&main), "worker 42 spawn 4\n");
}

#[test]
fn a_deadlocked_program_is_reported_not_hung() {
    let dir = Scratch::new("cli-a_deadlocked_program_is_reported_not_hung");
    // The main agent waits on a channel no one will ever send on.
    let p = dir.write("deadlock.js", "const ch = hz.channel();\nch.recv().then(() => console.log('never'));\n");
    let t0 = std::time::Instant::now();
    let out = hz(&["run", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("deadlock"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(t0.elapsed() < std::time::Duration::from_secs(10));
    // A child stuck after main ended is a deadlock too; a long timer is not.
    let p = dir.write("stuck-child.js", "hz.spawn(async () => { await hz.channel().recv(); });\n");
    let out = hz(&["run", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    // Agents blocked in Atomics.wait that nobody will notify (HOSTILE 43):
    // reported, and terminate wakes them so the process exits.
    let p = dir.write(
        "stuck-wait.js",
        "const ia = new Int32Array(new SharedArrayBuffer(8));\nhz.spawn((ia) => Atomics.wait(ia, 0, 0), ia);\nAtomics.wait(ia, 0, 0);\n",
    );
    let out = hz(&["run", p.to_str().unwrap(), "--threads", "1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Atomics.wait"), "{}", String::from_utf8_lossy(&out.stderr));
    // A wait with a timeout is not a deadlock.
    let p =
        dir.write("timed-wait.js", "console.log(Atomics.wait(new Int32Array(new SharedArrayBuffer(8)), 0, 0, 600));\n");
    let out = hz(&["run", p.to_str().unwrap()]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "timed-out\n");
    let p = dir.write("slow-timer.js", "setTimeout(() => console.log('late'), 700);\n");
    let out = hz(&["run", p.to_str().unwrap()]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "late\n");
}
