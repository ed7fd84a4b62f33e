//! What only the V8 backend has: its heap limit.

use std::time::Duration;

use hz::{AgentSpec, JoinError, Runtime, V8Engine, Value};

/// An agent that exhausts its heap ends alone, with a RangeError naming the
/// limit (not catchable by its own code); its parent, a sibling running at
/// the same time and later agents go on. Without V8's near-heap-limit
/// callback the whole process would abort.
#[test]
fn heap_exhaustion_ends_only_that_agent() {
    let rt = Runtime::builder().threads(2).engine(V8Engine { max_heap: Some(64 << 20) }).build().unwrap();
    let main = rt
        .spawn_on(
            "v8",
            AgentSpec::script(
                "main.js",
                r#"
                const ch = hz.channel();
                const sibling = hz.spawn(async (ch) => (await ch.recv()).value * 2, ch);
                const hog = hz.spawn(() => {
                  const keep = [];
                  try {
                    for (;;) keep.push({ n: keep.length, a: new Array(64).fill(keep.length) });
                  } catch (e) {
                    return "caught " + e; // must not happen: the limit is uncatchable
                  }
                });
                hog.join().then(
                  (v) => { throw new Error("hog returned " + v); },
                  async (e) => {
                    await ch.send(21);
                    const doubled = await sibling.join();
                    return [e.name, e.message, e instanceof RangeError, doubled];
                  });
                "#,
            ),
        )
        .unwrap();
    let out = main.join_timeout(Duration::from_secs(60)).expect("main agent did not finish");
    let Value::Array(items) = out.unwrap() else { panic!("not an array") };
    assert_eq!(items[0], Value::String("RangeError".into()));
    let Value::String(message) = &items[1] else { panic!("no message: {items:?}") };
    assert!(message.contains("heap") && message.contains("64 MiB"), "{message}");
    assert_eq!(items[2], Value::Bool(true));
    assert_eq!(items[3], Value::Number(42.0));

    // From Rust: the same typed error; then the runtime still runs agents.
    let hog = rt.spawn_on("v8", AgentSpec::function("() => { const a = []; for (;;) a.push([a.length]); }")).unwrap();
    match hog.join() {
        Err(JoinError::Js(e)) => {
            assert_eq!(e.name.as_deref(), Some("RangeError"));
            assert!(e.message.contains("heap"), "{}", e.message);
        }
        other => panic!("expected a RangeError, got {other:?}"),
    }
    let after = rt.spawn_on("v8", AgentSpec::function("() => 6 * 7")).unwrap();
    assert_eq!(after.join().unwrap(), Value::Number(42.0));
}
