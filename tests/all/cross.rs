//! Cross-engine checks: every ordered pair of the engines this build has
//! (QuickJS, V8 and Boa, as built) exchanges every clone type, moves
//! ArrayBuffers both ways, and shares one SharedArrayBuffer whose
//! `Atomics.wait` each side wakes for the other.

use hz::{AgentSpec, Runtime, Value};

use crate::scratch::Scratch;

/// Every ordered pair of distinct engines of this build.
fn pairs(rt: &Runtime) -> Vec<(&'static str, &'static str)> {
    let engines = rt.engines();
    let mut out = Vec::new();
    for &a in &engines {
        for &b in &engines {
            if a != b {
                out.push((a, b));
            }
        }
    }
    assert!(!out.is_empty(), "cross-engine tests need two engines");
    out
}

/// Runs `src` as a script on `engine` with `other` in `hz.args[0]`;
/// returns its (awaited) completion value, which must be `"ok"`.
fn check(rt: &Runtime, engine: &str, other: &str, src: &str) {
    let spec = AgentSpec::script("cross.js", src).args(vec![Value::String(other.into())]).unwrap();
    let out = rt.spawn_on(engine, spec).unwrap().join();
    assert_eq!(out, Ok(Value::String("ok".into())), "{engine} -> {other}");
}

/// A canonical text of a value, computed the same way in each engine: equal
/// texts mean the clone kept types, values, shapes and identities.
const DESCRIBE: &str = r#"
function describe(v, seen = new Map()) {
  const tag = Object.prototype.toString.call(v);
  switch (typeof v) {
    case 'undefined': return 'u';
    case 'boolean': return 'b' + v;
    case 'number': return Object.is(v, -0) ? 'n-0' : 'n' + v;
    case 'bigint': return 'N' + v;
    case 'string': return 's' + Array.from({ length: v.length }, (_, i) => v.charCodeAt(i)).join('.');
  }
  if (v === null) return 'null';
  if (seen.has(v)) return '#' + seen.get(v);
  seen.set(v, seen.size);
  const d = (x) => describe(x, seen);
  const props = (o, skip = []) => Object.keys(o).filter((k) => !skip.includes(k)).map((k) => k + ':' + d(o[k])).join(',');
  if (v instanceof ArrayBuffer) {
    return 'AB' + v.byteLength + (v.resizable ? '/' + v.maxByteLength : '') + '[' + new Uint8Array(v).join('.') + ']';
  }
  if (v instanceof SharedArrayBuffer) {
    return 'SAB' + v.byteLength + (v.growable ? '/' + v.maxByteLength : '') + '[' + new Uint8Array(v).join('.') + ']';
  }
  if (ArrayBuffer.isView(v)) {
    const items = v instanceof DataView ? '' : Array.from(v, (x) => typeof x === 'bigint' ? x + 'n' : String(x)).join('.');
    return v.constructor.name + '@' + v.byteOffset + '+' + v.byteLength + '(' + items + ')' + d(v.buffer);
  }
  if (Array.isArray(v)) return 'A' + v.length + '{' + props(v) + '}';
  if (v instanceof Date) return 'D' + v.getTime();
  if (v instanceof RegExp) return 'R/' + v.source + '/' + v.flags;
  if (v instanceof Map) return 'M{' + [...v].map(([k, x]) => d(k) + '=>' + d(x)).join(',') + '}';
  if (v instanceof Set) return 'S{' + [...v].map(d).join(',') + '}';
  if (v instanceof Error) {
    // HTML's serialization keeps name, message and cause (and the stack),
    // not other own properties.
    return 'E' + v.name + ':' + v.message + ('cause' in v ? '<' + d(v.cause) + '>' : '');
  }
  if (tag !== '[object Object]') return 'W' + tag + d(v.valueOf());
  return 'O{' + props(v) + '}';
}
"#;

/// Builds one value holding every clone type (and the same object twice,
/// and a cycle).
const SAMPLE: &str = r#"
function sample() {
  const shared = { s: 'same object twice' };
  const sparse = [1, , 3];
  sparse[10] = 'ten';
  sparse.extra = 'prop';
  const ab = new ArrayBuffer(8);
  new Uint8Array(ab).set([1, 2, 3, 4, 5, 6, 7, 8]);
  const rab = new ArrayBuffer(4, { maxByteLength: 16 });
  new Uint8Array(rab).set([9, 8, 7, 6]);
  const err = new RangeError('out of range', { cause: new Error('root') });
  const v = {
    prims: [undefined, null, true, false, 0, -0, 1.5, NaN, Infinity, -Infinity, 2 ** 53 + 2],
    bigints: [0n, -1n, 2n ** 64n + 1n, -(2n ** 100n)],
    strings: ['', 'plain', 'ünïcödé', '😀 astral', '\ud800 lone \udc00', 'nul\0inside', 'ÿ\x80'.repeat(5000)],
    'clé ÿ': { 'ß': 1, '\xff': 2 },
    wrappers: [new Number(3), new String('str'), new Boolean(false), Object(7n)],
    date: new Date(1700000000123),
    regexps: [/a+b/gi, new RegExp('\\d{2}', 'suy')],
    map: new Map([[1, 'one'], ['two', { n: 2 }], [shared, shared]]),
    set: new Set([1, 'x', shared]),
    sparse,
    errors: [err, new TypeError('t'), new SyntaxError('s'), new EvalError('e'), new URIError('u'), new ReferenceError('r')],
    ab, rab,
    views: [new Uint8Array(ab, 1, 3), new Int16Array(ab), new Float64Array(1).fill(0.25), new BigInt64Array([-5n]),
            new BigUint64Array([5n]), new Uint8ClampedArray([300, -1]), new Float32Array([1.5]), new Int32Array([-7]),
            new Uint16Array([65535]), new Uint32Array([4294967295]), new Int8Array([-128]), new DataView(ab, 2, 4),
            new Uint8Array(rab)],
    nested: { deep: { deeper: [shared] } },
  };
  v.self = v;
  return v;
}
"#;

#[test]
fn every_clone_type_crosses_both_ways() {
    let rt = Runtime::builder().threads(2).build().unwrap();
    for (a, b) in pairs(&rt) {
        let src = format!(
            r#"{DESCRIBE}{SAMPLE}
            (async () => {{
              const there = hz.channel(0), back = hz.channel(0);
              const child = hz.spawn({{ engine: hz.args[0], args: [there, back], fn: async (there, back) => {{
                {DESCRIBE}
                const v = (await there.recv()).value;
                await back.send(describe(v));
                await back.send(v);
                return hz.engine;
              }} }});
              const v = sample();
              await there.send(v);
              const remote = (await back.recv()).value;
              const echoed = (await back.recv()).value;
              const here = describe(v);
              if (remote !== here) throw new Error('described differently there:\n' + here + '\n' + remote);
              if (describe(echoed) !== here) throw new Error('changed by the round trip:\n' + here + '\n' + describe(echoed));
              if (echoed.self !== echoed) throw new Error('cycle lost');
              const same = [...echoed.map.keys()][2];
              if (same !== [...echoed.set][2] || same !== echoed.nested.deep.deeper[0]) throw new Error('identity lost');
              if (!(echoed.errors[0] instanceof RangeError) || echoed.errors[0].cause.message !== 'root') throw new Error('error');
              if ((await child.join()) !== hz.args[0]) throw new Error('the child ran on the wrong engine');
              return 'ok';
            }})()"#
        );
        check(&rt, a, b, &src);
    }
}

#[test]
fn array_buffers_move_both_ways() {
    let rt = Runtime::builder().threads(2).build().unwrap();
    for (a, b) in pairs(&rt) {
        let src = r#"
            (async () => {
              const there = hz.channel(0), back = hz.channel(0);
              const child = hz.spawn({ engine: hz.args[0], args: [there, back], fn: async (there, back) => {
                for await (const buf of there) {
                  const bytes = new Uint8Array(buf);
                  for (let i = 0; i < bytes.length; i++) bytes[i] = 255 - bytes[i];
                  await back.send(buf, { transfer: [buf] });
                  if (buf.byteLength !== 0 || !buf.detached) throw new Error('sender copy not detached');
                }
              } });
              for (const size of [1, 1000, 1 << 20]) {
                const buf = new ArrayBuffer(size);
                const bytes = new Uint8Array(buf);
                for (let i = 0; i < size; i++) bytes[i] = i % 251;
                await there.send(buf, { transfer: [buf] });
                if (buf.byteLength !== 0 || !buf.detached) throw new Error('not detached after send');
                const got = new Uint8Array((await back.recv()).value);
                if (got.length !== size) throw new Error('length ' + got.length);
                for (let i = 0; i < size; i++) if (got[i] !== 255 - (i % 251)) throw new Error('byte ' + i);
              }
              there.close();
              await child.join();
              return 'ok';
            })()"#;
        check(&rt, a, b, src);
    }
}

#[test]
fn one_shared_array_buffer_and_each_side_wakes_the_other() {
    let rt = Runtime::builder().threads(2).build().unwrap();
    for (a, b) in pairs(&rt) {
        // The parent blocks in Atomics.wait (the child wakes it), then the
        // child blocks (the parent wakes it), 100 times each way; both count
        // into the same memory.
        let src = r#"
            const ia = new Int32Array(new SharedArrayBuffer(16));
            const child = hz.spawn({ engine: hz.args[0], args: [ia], fn: (ia) => {
              for (let i = 0; i < 100; i++) {
                while (Atomics.load(ia, 0) !== 1) Atomics.wait(ia, 0, 0);
                Atomics.add(ia, 2, 1);
                Atomics.store(ia, 0, 2);
                Atomics.notify(ia, 0);
              }
              return Atomics.load(ia, 2);
            } });
            let woken = 0;
            for (let i = 0; i < 100; i++) {
              Atomics.store(ia, 0, 1);
              Atomics.notify(ia, 0);
              while (Atomics.load(ia, 0) !== 2) { if (Atomics.wait(ia, 0, 1, 10000) === 'timed-out') throw new Error('not woken'); }
              woken++;
              Atomics.add(ia, 2, 1);
              Atomics.store(ia, 0, 0);
            }
            child.join().then((n) => {
              if (woken !== 100 || n < 100 || Atomics.load(ia, 2) !== 200) throw new Error('counts ' + woken + ' ' + n);
              return 'ok';
            })"#;
        check(&rt, a, b, src);
    }
}

/// A host function registered once on the runtime is callable from every
/// built engine with the same result: sync and async, values and errors,
/// a panic caught, an unknown name a TypeError, an unanswered reply a
/// rejection, not a hang.
#[test]
fn host_functions_answer_every_engine_alike() {
    use hz::{HostFnError, Value};
    let rt = hz::Runtime::builder().threads(2).build().unwrap();
    rt.register_fn("add", |args: Vec<Value>| {
        let n =
            |i: usize| args.get(i).and_then(Value::as_f64).ok_or_else(|| HostFnError::type_error("add: two numbers"));
        Ok(Value::from(n(0)? + n(1)?))
    });
    rt.register_fn("boom", |_| panic!("a host function panicked"));
    rt.register_async_fn("later", |args: Vec<Value>, reply| {
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(5));
            match args.first().and_then(Value::as_str) {
                Some(s) => reply.resolve(Value::from(format!("later {s}"))),
                None => reply.reject(HostFnError::range_error("later: a string")),
            }
        });
    });
    rt.register_async_fn("forgets", |_, reply| drop(reply));
    let src = r#"(async () => {
        const add = hz.host('add');
        const out = [add(2, 3), add({ deep: [1] }.deep[0], 0.5)];
        for (const f of [() => add('x'), () => hz.host('boom')(), () => hz.host('nope')()]) {
            try { f(); out.push('no error'); } catch (e) { out.push(e.name + ': ' + e.message); }
        }
        out.push(await hz.host('later')('hi'));
        out.push(await hz.host('later')(1).catch((e) => e.name + ': ' + e.message));
        out.push(await hz.host('forgets')().catch((e) => e.name));
        return out;
    })()"#;
    let expected = r#"[5,1.5,"TypeError: add: two numbers","Error: host function \"boom\" panicked","TypeError: hz.host: no host function named \"nope\"","later hi","RangeError: later: a string","Error"]"#;
    for engine in rt.engines() {
        let h = rt.spawn_on(engine, hz::AgentSpec::script("host.js", src)).unwrap();
        let out = h.join().unwrap().to_json().unwrap().to_string();
        assert_eq!(out, expected, "on {engine}");
    }
}

/// A payload's objects decode alike on every engine however their keys
/// come: many objects sharing keys (past the decoders' key caches' warm-up,
/// with more distinct keys than they keep, so entries are replaced), a key
/// given twice (the last value wins, once, in its first place), a long key,
/// an index-like key, `__proto__` as an own data property, and arrays
/// filled in order after holes.
#[test]
fn payload_objects_decode_alike_on_every_engine() {
    let rt = Runtime::builder().threads(2).build().unwrap();
    let long = "k".repeat(40);
    let objects: Vec<Value> = (0..200)
        .map(|i| {
            let mut props = vec![
                (format!("key{}", i % 90), Value::from(i)),
                ("a".to_string(), Value::from(1)),
                ("__proto__".to_string(), Value::from("own")),
                ("10".to_string(), Value::from("ten")),
                (long.clone(), Value::from(true)),
                ("a".to_string(), Value::from(2)),
            ];
            if i % 2 == 0 {
                props.push(("é".to_string(), Value::Array(vec![Value::Hole, Value::from(i), Value::from("x")])));
            }
            Value::Object(props)
        })
        .collect();
    let payload = Value::Array(objects);
    rt.register_fn("payload", move |_| Ok(payload.clone()));
    let src = r#"
        const out = [];
        for (const o of hz.host('payload')()) {
            const own = Object.getPrototypeOf(o) === Object.prototype && Object.hasOwn(o, '__proto__');
            out.push(Object.keys(o).map((k) => k.length > 12 ? k.length : k).join() + '=' + Object.values(o).map(String).join()
                + (own ? '' : ' (proto changed)') + ('é' in o ? ' ' + (1 in o['é']) + (0 in o['é']) : ''));
        }
        out.join('|')"#;
    let want: Vec<String> = (0..200)
        .map(|i| {
            let (keys, values) = if i % 2 == 0 {
                (format!("10,key{},a,__proto__,40,é", i % 90), format!("ten,{i},2,own,true,,{i},x"))
            } else {
                (format!("10,key{},a,__proto__,40", i % 90), format!("ten,{i},2,own,true"))
            };
            format!("{keys}={values}{}", if i % 2 == 0 { " truefalse" } else { "" })
        })
        .collect();
    let want = Value::from(want.join("|"));
    for engine in rt.engines() {
        let h = rt.spawn_on(engine, AgentSpec::script("payload.js", src)).unwrap();
        assert_eq!(h.join().unwrap(), want, "on {engine}");
    }
}

/// `Runtime::shutdown` called from a host function (on one of the runtime's
/// own threads) does not wait for the agent calling it, which would never
/// end: every agent, the caller and a busy sibling included, is
/// terminated, and the runtime refuses new agents.
#[test]
fn shutdown_from_a_host_function_terminates_without_waiting_on_its_caller() {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;
    for engine in Runtime::builder().build().unwrap().engines() {
        let rt = Runtime::builder().threads(2).build().unwrap();
        // The host function takes its runtime handle out on its call, so
        // the runtime does not keep itself alive through its own registry.
        let slot = Arc::new(Mutex::new(Some(rt.clone())));
        let inner = slot.clone();
        rt.register_fn("stop", move |_| {
            if let Some(rt) = inner.lock().unwrap().take() {
                rt.shutdown();
            }
            Ok(Value::from("stopped"))
        });
        let src = r#"
            hz.spawn(() => { for (;;) {} });
            const said = hz.host('stop')();
            if (said !== 'stopped') throw new Error(said);
            for (;;) {}"#;
        let caller = rt.spawn_on(engine, AgentSpec::script("stop.js", src)).unwrap();
        let joined = caller.join_timeout(Duration::from_secs(20)).expect("the calling agent ended");
        assert!(joined.is_err(), "on {engine}: {joined:?}");
        assert!(rt.wait_idle_timeout(Duration::from_secs(20)), "on {engine}: the sibling ended too");
        assert!(matches!(rt.spawn_script("late.js", "1"), Err(hz::Error::ShutDown)), "on {engine}");
        assert!(slot.lock().unwrap().is_none());
    }
}

/// A MessagePort made on one engine, transferred to a worker of each other
/// engine, carries messages between them; a BroadcastChannel reaches a
/// listener on every engine.
#[test]
fn ports_and_broadcasts_cross_engines() {
    let rt = hz::Runtime::builder().threads(2).build().unwrap();
    let engines: Vec<String> = rt.engines().iter().map(|e| e.to_string()).collect();
    if engines.len() < 2 {
        return;
    }
    let src = format!(
        r#"(async () => {{
        const engines = {engines:?};
        const listen = `
            const bc = new BroadcastChannel('all');
            bc.onmessage = (e) => {{ postMessage(['broadcast', hz.engine, e.data]); bc.close(); }};
            self.onmessage = (e) => {{
                const p = e.ports[0];
                p.onmessage = (m) => {{ p.postMessage([hz.engine, m.data]); p.close(); close(); }};
            }};
            postMessage('ready');`;
        const workers = engines.map((engine) => new Worker({{ source: listen }}, {{ engine }}));
        const heard = [];
        let ready = 0, allReady, allHeard;
        const readyP = new Promise((r) => {{ allReady = r; }});
        const heardP = new Promise((r) => {{ allHeard = r; }});
        for (const w of workers) w.onmessage = (e) => {{
            if (e.data === 'ready') {{ if (++ready === workers.length) allReady(); return; }}
            heard.push(e.data);
            if (heard.length === workers.length) allHeard();
        }};
        await readyP;
        const bc = new BroadcastChannel('all');
        bc.postMessage({{ from: hz.engine, list: [1, 2n, new Map([[1, 'one']])] }});
        const answers = [];
        for (const w of workers) {{
            const {{ port1, port2 }} = new MessageChannel();
            const answer = new Promise((r) => {{ port1.onmessage = (e) => {{ r(e.data); port1.close(); }}; }});
            w.postMessage(null, [port2]);
            port1.postMessage(new Uint8Array([1, 2, 3]));
            answers.push(await answer);
        }}
        await heardP;
        bc.close();
        return [answers.map(([e, bytes]) => e + ':' + bytes.join(',')),
                heard.map(([, e, d]) => e + ':' + d.from + ':' + (d.list[1] === 2n) + ':' + d.list[2].get(1)).sort()];
    }})()"#
    );
    let ports: Vec<String> = engines.iter().map(|e| format!("\"{e}:1,2,3\"")).collect();
    let mut broadcasts: Vec<String> = Vec::new();
    for main in &engines {
        broadcasts.clear();
        let mut b: Vec<String> = engines.iter().map(|e| format!("\"{e}:{main}:true:one\"")).collect();
        b.sort();
        broadcasts.extend(b);
        let h = rt.spawn_on(main, hz::AgentSpec::script("ports.js", src.as_str())).unwrap();
        let out = h.join().unwrap().to_json().unwrap().to_string();
        assert_eq!(out, format!("[[{}],[{}]]", ports.join(","), broadcasts.join(",")), "main on {main}");
    }
}

/// Host data per agent: a host function reads its caller's, an agent
/// spawned from JS shares its parent's, an agent without any reads none;
/// the caller's id and engine are the agent's.
#[test]
fn host_functions_read_their_callers_data() {
    use hz::{Caller, HostFnError, Value};
    struct Tenant(String);
    let rt = hz::Runtime::builder().threads(2).build().unwrap();
    rt.register_fn_with("tenant", |caller: &Caller, _| {
        Ok(Value::from(caller.data::<Tenant>().map_or("none".to_string(), |t| t.0.clone())))
    });
    rt.register_fn_with("engine", |caller: &Caller, _| Ok(Value::from(caller.engine())));
    rt.register_async_fn_with("tenantLater", |caller: &Caller, _, reply| {
        let data = caller.host_data().and_then(|d| d.get_arc::<Tenant>());
        std::thread::spawn(move || match data {
            Some(t) => reply.resolve(Value::from(format!("later {}", t.0))),
            None => reply.reject(HostFnError::new("no tenant")),
        });
    });
    let src = r#"(async () => {
        const child = hz.spawn(() => hz.host('tenant')());
        return [hz.host('tenant')(), await hz.host('tenantLater')(), hz.host('engine')() === hz.engine, await child.join()];
    })()"#;
    for engine in rt.engines() {
        let with =
            rt.spawn_on(engine, hz::AgentSpec::script("t.js", src).data(Tenant(format!("acme-{engine}")))).unwrap();
        let out = with.join().unwrap().to_json().unwrap().to_string();
        assert_eq!(out, format!(r#"["acme-{engine}","later acme-{engine}",true,"acme-{engine}"]"#), "on {engine}");
        let without = rt.spawn_on(engine, hz::AgentSpec::script("t.js", src)).unwrap();
        let err = without.join().unwrap_err().to_string();
        assert!(err.contains("no tenant"), "on {engine}: {err}");
    }
}

/// Module files are read once per runtime and shared by every agent of
/// every engine: a file changed after its first import still gives every
/// later agent the text the runtime read (as Node's and Deno's module maps
/// do); a second V8 agent compiles it from the first one's code cache.
#[test]
fn module_files_are_read_once_per_runtime() {
    let scratch = Scratch::new("module-cache");
    let dir = scratch.path();
    std::fs::create_dir_all(dir.join("lib")).unwrap();
    std::fs::write(dir.join("lib/value.mjs"), "export const value = 'first';\n").unwrap();
    std::fs::write(dir.join("main.mjs"), "export { value } from './lib/value.mjs';\n").unwrap();
    let main = dir.join("main.mjs");
    let src = format!("import({:?}).then((m) => m.value)", main.to_str().unwrap());
    let rt = hz::Runtime::builder().threads(2).build().unwrap();
    let import = |engine: &str| {
        let h = rt.spawn_on(engine, hz::AgentSpec::script("import.js", src.as_str())).unwrap();
        h.join().unwrap().to_json().unwrap().to_string()
    };
    let engines = rt.engines();
    assert_eq!(import(engines[0]), r#""first""#);
    std::fs::write(dir.join("lib/value.mjs"), "export const value = 'second';\n").unwrap();
    for engine in &engines {
        assert_eq!(import(engine), r#""first""#, "on {engine}");
        assert_eq!(import(engine), r#""first""#, "again on {engine}");
    }
    // A new runtime reads the file anew.
    let fresh = hz::Runtime::builder().threads(1).build().unwrap();
    let h = fresh.spawn_on(engines[0], hz::AgentSpec::script("import.js", src.as_str())).unwrap();
    assert_eq!(h.join().unwrap().to_json().unwrap().to_string(), r#""second""#);
}
