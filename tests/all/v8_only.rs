//! What only the V8 backend has: its heap limit and its cap on live agents.

use std::time::Duration;

use hz::{AgentSpec, JoinError, Runtime, V8Engine, Value};

/// An agent that exhausts its heap ends alone, with a RangeError naming the
/// limit (not catchable by its own code); its parent, a sibling running at
/// the same time and later agents go on. Without V8's near-heap-limit
/// callback the whole process would abort.
#[test]
fn heap_exhaustion_ends_only_that_agent() {
    let rt = Runtime::builder().threads(2).engine(V8Engine::new().with_max_heap(64 << 20)).build().unwrap();
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

    // A buffer too big to allocate is the language's RangeError (V8 calls
    // the near-heap-limit callback then too, with the heap nearly empty),
    // and the agent goes on; exhausting the heap afterwards still ends it.
    let huge = "() => { const out = []; for (const n of [2 ** 50, 2 ** 40]) { try { new ArrayBuffer(n); out.push('allocated'); } catch (e) { out.push(e.name); } } return out; }";
    let h = rt.spawn_on("v8", AgentSpec::function(huge)).unwrap();
    let expect = Value::Array(vec![Value::String("RangeError".into()), Value::String("RangeError".into())]);
    assert_eq!(h.join().unwrap(), expect);
    let src =
        "() => { try { new SharedArrayBuffer(2 ** 50); } catch {} const a = []; for (;;) a.push({ n: a.length }); }";
    match rt.spawn_on("v8", AgentSpec::function(src)).unwrap().join() {
        Err(JoinError::Js(e)) => assert!(e.message.contains("heap"), "{}", e.message),
        other => panic!("expected the heap limit, got {other:?}"),
    }
}

/// Past the engine's `max_agents`, a new V8 agent fails to start with a
/// typed engine error and the live ones go on; once one has ended (and its
/// isolate is gone), its place is free again. (The same guard, sized from `vm.max_map_count`, keeps
/// thousands of idle isolates from making V8 abort the process.)
#[test]
fn max_agents_fails_the_extra_spawn_not_the_process() {
    let rt = Runtime::builder().threads(2).engine(V8Engine::new().with_max_agents(3)).build().unwrap();
    let main = rt
        .spawn_on(
            "v8",
            AgentSpec::script(
                "main.js",
                r#"
                (async () => {
                  const ready = hz.channel(8), stop = hz.channel(0);
                  const park = async (ready, stop) => { await ready.send(1); await stop.recv(); return 'done'; };
                  const a = hz.spawn(park, ready, stop), b = hz.spawn(park, ready, stop);
                  await ready.recv(); await ready.recv();
                  const extra = await hz.spawn(() => 1).join().then((v) => 'ran ' + v, (e) => String(e.message));
                  stop.close();
                  const done = [await a.join(), await b.join()];
                  // A place frees when the ended agent's isolate is disposed
                  // of, just after its joiners hear of the end.
                  let again;
                  for (let i = 0; i < 200 && again === undefined; i++) {
                    again = await hz.spawn(() => 2).join().catch(() => new Promise((r) => setTimeout(r, 10)));
                  }
                  return [extra, done, again];
                })()
                "#,
            ),
        )
        .unwrap();
    let out = main.join_timeout(Duration::from_secs(60)).expect("main agent did not finish").unwrap();
    let Value::Array(items) = out else { panic!("not an array: {out:?}") };
    let Value::String(extra) = &items[0] else { panic!("{items:?}") };
    assert!(extra.contains("too many live V8 agents") && extra.contains("max_agents is 3"), "{extra}");
    assert_eq!(items[1], Value::Array(vec![Value::String("done".into()), Value::String("done".into())]));
    assert_eq!(items[2], Value::Number(2.0));
    // From Rust too, while the runtime is idle, every place is free.
    let h = rt.spawn_on("v8", AgentSpec::function("() => 3")).unwrap();
    assert_eq!(h.join().unwrap(), Value::Number(3.0));
}
