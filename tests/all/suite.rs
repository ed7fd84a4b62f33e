//! The generic backend checks: each runs real JavaScript on `engine`.

use std::time::{Duration, Instant};

use hz::{AgentSpec, JoinError, Runtime, Value};

use crate::scratch::Scratch;

pub(crate) fn runtime(threads: usize) -> Runtime {
    Runtime::builder().threads(threads).build().expect("runtime starts")
}

/// Runs `src` as a script on `engine` (its completion value, awaited, is the result).
pub(crate) fn run_on(rt: &Runtime, engine: &str, src: &str) -> Result<Value, JoinError> {
    rt.spawn_on(engine, AgentSpec::script("test.js", src)).expect("spawn").join()
}

fn run(engine: &str, src: &str) -> Result<Value, JoinError> {
    run_on(&runtime(2), engine, src)
}

/// Runs `src`, expecting a JSON-compatible result, and returns it as JSON text.
fn json(engine: &str, src: &str) -> String {
    match run(engine, src) {
        Ok(v) => v.to_json().expect("JSON-compatible result").to_string(),
        Err(e) => panic!("script failed: {e:?}"),
    }
}

/// Known engine gaps, as data. Each test that meets one asserts the gap's
/// exact behaviour, so closing a gap fails that test until this is updated.
/// - v8: a growable SharedArrayBuffer's pages are reserved by V8 itself (no
///   allocator hook), so its memory cannot be hz shared memory yet: sending
///   one is a DataCloneError.
fn growable_sab_travels(e: &str) -> bool {
    e != "v8"
}

/// - boa: boa_parser 0.22 does not parse an async arrow function as a
///   module's default export (`export default async (a) => a`): the module
///   is a SyntaxError. `export default async function` parses.
fn exports_default_async_arrows(e: &str) -> bool {
    e != "boa"
}

pub(crate) fn rendezvous_send_waits_for_a_receiver(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            const ch = hz.channel(0);
            let sent = false;
            const p = ch.send(42).then(() => { sent = true; });
            await new Promise((r) => setTimeout(r, 30));
            const before = sent;
            const got = await ch.recv();
            await p;
            return [before, sent, got.value, got.done];
        })()"#,
    );
    assert_eq!(out, "[false,true,42,false]");
}

pub(crate) fn bounded_send_waits_when_full(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            const ch = hz.channel(2);
            const order = [];
            await ch.send(1); order.push('s1');
            await ch.send(2); order.push('s2');
            const p = ch.send(3).then(() => order.push('s3'));
            await new Promise((r) => setTimeout(r, 30));
            order.push('len=' + ch.length);
            const a = await ch.recv(); order.push('r' + a.value);
            await p;
            const b = await ch.recv(); const c = await ch.recv();
            order.push('r' + b.value, 'r' + c.value);
            return order;
        })()"#,
    );
    assert_eq!(out, r#"["s1","s2","len=2","r1","s3","r2","r3"]"#);
}

pub(crate) fn close_drains_then_done(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            const ch = hz.channel(3);
            await ch.send('a'); await ch.send('b');
            ch.close();
            const got = [];
            for await (const v of ch) got.push(v);
            const after = await ch.recv();
            return [got, after.done, ch.closed];
        })()"#,
    );
    assert_eq!(out, r#"[["a","b"],true,true]"#);
}

pub(crate) fn close_wakes_blocked_receivers_and_senders(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            const rx = hz.channel(0);
            const waiting = rx.recv();
            const tx = hz.channel(0);
            const blocked = tx.send('x').then(() => 'sent', (err) => err.message);
            await new Promise((r) => setTimeout(r, 10));
            rx.close(); tx.close();
            return [(await waiting).done, await blocked];
        })()"#,
    );
    assert_eq!(out, r#"[true,"send on a closed channel"]"#);
}

pub(crate) fn send_on_closed_channel_rejects(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            const ch = hz.channel(1);
            ch.close();
            let msg = 'no error';
            try { await ch.send(1); } catch (err) { msg = err.message; }
            let twice = 'no error';
            try { ch.close(); } catch (err) { twice = err.message; }
            let trySend = 'no error';
            try { ch.trySend(1); } catch (err) { trySend = err.message; }
            return [msg, twice, trySend];
        })()"#,
    );
    assert_eq!(out, r#"["send on a closed channel","close of a closed channel","send on a closed channel"]"#);
}

/// A channel's methods called on anything that is not a channel throw a
/// TypeError (a send or receive rejects with one), whatever the object
/// holds: its prototype, internal slots of its own (buffers, views,
/// promises, maps, regular expressions), or a
/// channel's own fields copied off. A channel passes as itself, not as any
/// of these.
pub(crate) fn channel_methods_reject_other_objects(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            const ch = hz.channel(1);
            const proto = Object.getPrototypeOf(ch);
            const others = [{}, Object.create(proto), new ArrayBuffer(16), new Uint8Array(16),
                new DataView(new ArrayBuffer(16)), Object.assign(Object.create(proto), ch), 42, undefined,
                new SharedArrayBuffer(16), Promise.resolve(), new Map(), /x/];
            const names = [];
            for (const x of others) {
                const row = [];
                try { await proto.send.call(x, 1); row.push('sent'); } catch (err) { row.push(err.name); }
                try { await proto.recv.call(x); row.push('received'); } catch (err) { row.push(err.name); }
                try { proto.close.call(x); row.push('closed'); } catch (err) { row.push(err.name); }
                try { proto.trySend.call(x, 1); row.push('sent'); } catch (err) { row.push(err.name); }
                names.push([...new Set(row)].join());
            }
            await ch.send('still');
            const copy = structuredClone(new Uint8Array([1, 2]));
            return [names, (await ch.recv()).value, Object.prototype.toString.call(copy), copy[1]];
        })()"#,
    );
    let rows = ["\"TypeError\""; 12].join(",");
    assert_eq!(out, format!(r#"[[{rows}],"still","[object Uint8Array]",2]"#));
}

/// Several ops pending at once complete in whatever order their peers
/// come, each with its own value: the first one waiting and those after
/// it are kept apart, and the place the first held is reused.
pub(crate) fn pending_ops_complete_in_any_order(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            const chans = [0, 1, 2, 3].map(() => hz.channel(0));
            const got = [];
            const waits = chans.map((ch, i) => ch.recv().then((r) => got.push([i, r.value])));
            await hz.spawn(async (chans) => {
                for (const i of [2, 0, 3, 1]) await chans[i].send('v' + i);
            }, chans).join();
            await Promise.all(waits);
            // Again, the first one last this time.
            const again = chans.map((ch) => ch.recv());
            await hz.spawn(async (chans) => {
                for (const i of [3, 2, 1, 0]) await chans[i].send(i * 10);
            }, chans).join();
            const values = (await Promise.all(again)).map((r) => r.value);
            return [got, values];
        })()"#,
    );
    assert_eq!(out, r#"[[[2,"v2"],[0,"v0"],[3,"v3"],[1,"v1"]],[0,10,20,30]]"#);
}

pub(crate) fn try_send_and_try_recv(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            const ch = hz.channel(1);
            const r = [ch.tryRecv() === undefined, ch.trySend(1), ch.trySend(2), ch.tryRecv().value, ch.tryRecv() === undefined];
            // A transfer list is refused (the buffer stays with its
            // owner), whether or not the send could go now; options
            // without one are accepted.
            const buf = new ArrayBuffer(8);
            for (const full of [false, true]) {
                if (full) ch.trySend(0);
                try { ch.trySend(buf, { transfer: [buf] }); r.push('sent'); } catch (err) { r.push(err.name); }
            }
            r.push(buf.byteLength, ch.tryRecv().value, ch.trySend(3, {}), ch.tryRecv().value);
            ch.close();
            r.push(ch.tryRecv().done);
            return r;
        })()"#,
    );
    assert_eq!(out, r#"[true,true,false,1,true,"TypeError","TypeError",8,0,true,3,true]"#);
}

pub(crate) fn select_picks_a_ready_case(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            const a = hz.channel(1), b = hz.channel(1), c = hz.channel(0);
            await b.send('from b');
            const r1 = await hz.select([{ recv: a }, { recv: b }]);
            const r2 = await hz.select([{ recv: a }, { send: a, value: 7 }]);
            const r3 = await hz.select([{ recv: c }, { recv: a }]);
            return [r1.index, r1.value, r2.index, r3.index, r3.value];
        })()"#,
    );
    assert_eq!(out, r#"[1,"from b",1,1,7]"#);
}

pub(crate) fn select_default_when_nothing_ready(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            const a = hz.channel(0);
            const r = await hz.select([{ recv: a }, { send: a, value: 1 }], { default: true });
            // The default left nothing behind: a later receive must not find the value.
            return [r.index, r.default, a.tryRecv() === undefined];
        })()"#,
    );
    assert_eq!(out, "[-1,true,true]");
}

pub(crate) fn select_timeout(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            const a = hz.channel(0);
            const t0 = Date.now();
            const r = await hz.select([{ recv: a }], { timeout: 50 });
            const waited = Date.now() - t0;
            // After the timeout the select is gone: a send must not be taken by it.
            const taken = a.trySend('late');
            return [r.index, r.timeout, waited >= 45, waited < 2000, taken];
        })()"#,
    );
    assert_eq!(out, "[-1,true,true,true,false]");
}

pub(crate) fn select_waits_then_completes_one_case(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            const a = hz.channel(0), b = hz.channel(0);
            const worker = hz.spawn(async (b) => { await b.send('hello'); return 'sent'; }, b);
            const r = await hz.select([{ recv: a }, { recv: b }]);
            await worker.join();
            // The losing case left no receiver behind on `a`.
            return [r.index, r.value, a.trySend('x')];
        })()"#,
    );
    assert_eq!(out, r#"[1,"hello",false]"#);
}

pub(crate) fn join_returns_the_value(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            const h = hz.spawn((x, y) => ({ sum: x + y, list: [x, y], nested: { ok: true } }), 2, 3);
            const asyncH = hz.spawn(async () => { await new Promise((r) => setTimeout(r, 5)); return 'later'; });
            const src = hz.spawn({ source: '6 * 7' });
            return [await h.join(), await asyncH.join(), await src.join(), typeof h.id];
        })()"#,
    );
    assert_eq!(out, r#"[{"list":[2,3],"nested":{"ok":true},"sum":5},"later",42,"number"]"#);
}

/// Spawns one after another, so that (on engines that have them) most run
/// on warm agents made ahead of need: each child still starts with fresh
/// globals, gets its own arguments and channels, and one with limits or
/// `[[CanBlock]]` false still gets them.
pub(crate) fn warm_agents_start_fresh_with_their_own_settings(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            const seen = [];
            for (let i = 0; i < 12; i++) {
                const ch = hz.channel(1);
                const h = hz.spawn(async (i, ch) => {
                    const before = typeof globalThis.mark;
                    globalThis.mark = i;
                    await ch.send(i * 10);
                    return [before, i];
                }, i, ch);
                const { value: sent } = await ch.recv();
                const [before, back] = await h.join();
                seen.push(before === 'undefined' && back === i && sent === i * 10);
            }
            const slow = hz.spawn({ fn: () => { for (;;) {} }, limits: { turnMs: 30 } });
            const limited = await slow.join().then(() => 'completed', (err) => err.name);
            const noBlock = hz.spawn({ source: `
                let r;
                try { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 0); r = 'waited'; }
                catch (err) { r = err.name; }
                r`, canBlock: false });
            return [seen.every(Boolean), seen.length, limited, await noBlock.join().catch((err) => 'spawn: ' + err.message)];
        })()"#,
    );
    assert_eq!(out, r#"[true,12,"LimitError","TypeError"]"#);
}

pub(crate) fn join_rejects_with_the_error(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            const h = hz.spawn(() => { throw new TypeError('boom'); });
            try { await h.join(); return 'resolved'; } catch (err) {
                return [err instanceof TypeError, err.name, err.message, typeof err.stack];
            }
        })()"#,
    );
    assert_eq!(out, r#"[true,"TypeError","boom","string"]"#);
    // The same through the Rust API.
    let rt = runtime(2);
    let h = rt.spawn_on(e, AgentSpec::function("() => { throw new RangeError('too far'); }")).unwrap();
    match h.join() {
        Err(JoinError::Js(err)) => {
            assert_eq!(err.name.as_deref(), Some("RangeError"));
            assert_eq!(err.message, "too far");
        }
        other => panic!("expected a RangeError, got {other:?}"),
    }
}

pub(crate) fn uncaught_throw_of_non_error(e: &str) {
    let rt = runtime(2);
    let h = rt.spawn_on(e, AgentSpec::function("() => { throw 42; }")).unwrap();
    match h.join() {
        Err(JoinError::Js(err)) => {
            assert_eq!(err.name, None);
            assert_eq!(err.value, Value::Number(42.0));
        }
        other => panic!("expected a thrown 42, got {other:?}"),
    }
    // An error thrown by a timer callback (no one to catch it) fails the agent.
    let h = rt
        .spawn_on(e, AgentSpec::function("() => { setTimeout(() => { throw new Error('in timer'); }, 1); }"))
        .unwrap();
    match h.join() {
        Err(JoinError::Js(err)) => assert_eq!(err.message, "in timer"),
        other => panic!("expected the timer's error, got {other:?}"),
    }
}

pub(crate) fn terminate_stops_an_infinite_loop(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            const h = hz.spawn(() => { while (true) {} });
            await new Promise((r) => setTimeout(r, 20));
            const t0 = Date.now();
            const first = h.terminate();
            let msg;
            try { await h.join(); msg = 'resolved'; } catch (err) { msg = err.message; }
            return [first, h.terminate(), msg, Date.now() - t0 < 1000];
        })()"#,
    );
    assert_eq!(out, r#"[true,false,"agent was terminated",true]"#);
    // From Rust, with no timer in between.
    let rt = runtime(2);
    let h = rt.spawn_on(e, AgentSpec::function("() => { for (;;) {} }")).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let t0 = Instant::now();
    assert!(h.terminate());
    assert_eq!(h.join(), Err(JoinError::Terminated));
    assert!(t0.elapsed() < Duration::from_secs(1), "terminate took {:?}", t0.elapsed());
    assert!(!h.terminate(), "a second terminate reports the agent had ended");
}

/// An endless chain of microtasks never ends its turn; terminate still
/// stops it (and a turn limit ends it), on every engine.
pub(crate) fn terminate_stops_an_endless_microtask_loop(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            const spin = () => {
                let n = 0;
                const step = () => { n++; Promise.resolve().then(step); };
                step();
                queueMicrotask(function again() { n++; queueMicrotask(again); });
            };
            const h = hz.spawn(spin);
            await new Promise((r) => setTimeout(r, 30));
            const first = h.terminate();
            const msg = await h.join().then(() => 'resolved', (err) => err.message);
            const limited = hz.spawn({ fn: spin, limits: { turnMs: 30 } });
            const limit = await limited.join().then(() => 'resolved', (err) => err.name);
            return [first, msg, limit];
        })()"#,
    );
    assert_eq!(out, r#"[true,"agent was terminated","LimitError"]"#);
}

/// A hot allocating loop, long enough to be optimised on stack (OSR),
/// still ends on terminate (V8 15.2 needs `--no-turboshaft-loop-unrolling`
/// for this; see hz-backend-v8's FLAGS).
pub(crate) fn terminate_ends_an_allocating_loop(e: &str) {
    let rt = runtime(2);
    let src = "() => { let keep = []; for (;;) { keep.push(new Array(64)); if (keep.length > 50000) keep = []; } }";
    let h = rt.spawn_on(e, AgentSpec::function(src)).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let t0 = Instant::now();
    assert!(h.terminate());
    match h.join_timeout(Duration::from_secs(10)) {
        Some(r) => assert_eq!(r, Err(JoinError::Terminated)),
        None => panic!("the allocating loop was not terminated"),
    }
    assert!(t0.elapsed() < Duration::from_secs(2), "terminate took {:?}", t0.elapsed());
}

pub(crate) fn terminate_is_uncatchable(e: &str) {
    let rt = runtime(2);
    let h = rt
        .spawn_on(e, AgentSpec::function("() => { for (;;) { try { while (true) {} } catch (e) {} finally { } } }"))
        .unwrap();
    std::thread::sleep(Duration::from_millis(20));
    h.terminate();
    assert_eq!(h.join(), Err(JoinError::Terminated));
}

pub(crate) fn state_persists_across_threads(e: &str) {
    // One agent keeps a counter across many turns; other agents keep the
    // workers busy so its turns land on different threads (a migratable
    // engine's), or stay on its home thread (a pinned engine's).
    let rt = runtime(2);
    let migratable = rt.engine_migratable(e).expect("a built engine");
    let out = run_on(
        &rt,
        e,
        r#"(async () => {
            const seen = new Set();
            let counter = 0;
            const spinner = () => { const end = Date.now() + 2; while (Date.now() < end) {} return 0; };
            for (let i = 0; i < 400 && seen.size < 2; i++) {
                const busy = hz.spawn(spinner);
                await new Promise((r) => setTimeout(r, 0));
                counter++;
                seen.add(hz.threadId());
                await busy.join();
            }
            return [seen.size, counter === [...Array(counter).keys()].length, counter > 0];
        })()"#,
    )
    .unwrap()
    .to_json()
    .unwrap()
    .to_string();
    let threads = if migratable { "2" } else { "1" };
    assert_eq!(out, format!("[{threads},true,true]"), "{e}: migratable {migratable}");
}

pub(crate) fn thousand_agents_round_trip_on_two_threads(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            const jobs = hz.channel(0), results = hz.channel(0);
            const handles = [];
            for (let i = 0; i < 1000; i++) {
                handles.push(hz.spawn(async (jobs, results) => {
                    const { value } = await jobs.recv();
                    await results.send(value * 2);
                }, jobs, results));
            }
            const sender = (async () => { for (let i = 0; i < 1000; i++) await jobs.send(i); })();
            let sum = 0;
            for (let i = 0; i < 1000; i++) sum += (await results.recv()).value;
            await sender;
            for (const h of handles) await h.join();
            return sum;
        })()"#,
    );
    assert_eq!(out, (999 * 1000).to_string());
}

pub(crate) fn syntax_error_in_spawned_source(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            const h = hz.spawn({ source: 'let ok = 1;\nlet x = ;\n', name: 'bad.js' });
            try { await h.join(); return 'resolved'; } catch (err) {
                return [err.name, /bad\.js:2/.test(err.stack || '') || /line 2/.test(err.message)];
            }
        })()"#,
    );
    assert_eq!(out, r#"["SyntaxError",true]"#);
}

pub(crate) fn sending_a_function_is_a_data_clone_error(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            const ch = hz.channel(1);
            const names = [];
            for (const bad of [() => 1, Symbol('s'), { f() {} }, new WeakMap(), Promise.resolve()]) {
                try { await ch.send(bad); names.push('sent'); } catch (err) { names.push(err.name); }
            }
            // The channel is still usable and holds nothing from the failed sends.
            await ch.send('fine');
            const r = await ch.recv();
            let cloneErr;
            try { structuredClone(() => 1); } catch (err) { cloneErr = err.name; }
            return [names, r.value, ch.length, cloneErr];
        })()"#,
    );
    assert_eq!(
        out,
        r#"[["DataCloneError","DataCloneError","DataCloneError","DataCloneError","DataCloneError"],"fine",0,"DataCloneError"]"#
    );
}

pub(crate) fn channels_travel_through_spawn_and_channels(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            const control = hz.channel(0);
            const h = hz.spawn(async (control) => {
                const { value: reply } = await control.recv(); // a channel, received over a channel
                await reply.send('pong');
                return 'done';
            }, control);
            const reply = hz.channel(0);
            await control.send(reply);
            const r = await reply.recv();
            return [r.value, await h.join(), String(reply)];
        })()"#,
    );
    assert_eq!(out, r#"["pong","done","[object Channel]"]"#);
}

pub(crate) fn clone_round_trips_values(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            const shared = { tag: 'shared' };
            const cyclic = { name: 'c' }; cyclic.self = cyclic;
            const v = {
                n: -0, nan: NaN, inf: -Infinity, big: 12345678901234567890123n, s: 'héllo ✓', d: new Date(1700000000000),
                m: new Map([[1, 'one'], ['k', shared]]), set: new Set([1, 'two', shared]),
                a: [1, , 3], sparse: new Array(2 ** 32 - 1), u8: new Uint8Array([1, 2, 3]),
                f64: new Float64Array([1.5]), e: new RangeError('bad', { cause: 'why' }),
                shared, cyclic, proto: JSON.parse('{"__proto__": 7}'),
            };
            v.sparse[5] = 'five';
            const c = await (async () => { const ch = hz.channel(1); await ch.send(v); return (await ch.recv()).value; })();
            return [
                Object.is(c.n, -0) && Number.isNaN(c.nan) && c.inf === -Infinity, c.big === v.big, c.s, c.d.getTime(), c.m.get(1), c.m.get('k') === c.shared,
                [...c.set].length, c.set.has(c.shared), c.a.length, 1 in c.a, c.sparse.length, c.sparse[5],
                Object.keys(c.sparse).length, [...c.u8], c.f64[0], c.e instanceof RangeError, c.e.message, c.e.cause,
                c.cyclic.self === c.cyclic, Object.getPrototypeOf(c.proto) === Object.prototype,
                Object.keys(c.proto), c.proto.__proto__ === 7 || Object.getOwnPropertyDescriptor(c.proto, '__proto__').value === 7,
            ];
        })()"#,
    );
    assert_eq!(
        out,
        r#"[true,true,"héllo ✓",1700000000000,"one",true,3,true,3,false,4294967295,"five",1,[1,2,3],1.5,true,"bad","why",true,true,["__proto__"],true]"#
    );
}

pub(crate) fn performance_now_is_monotonic_and_fine(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            const t0 = performance.now();
            let distinct = 0, last = t0, backwards = false;
            for (let i = 0; i < 1000; i++) {
                const t = performance.now();
                if (t < last) backwards = true;
                if (t !== last) distinct++;
                last = t;
            }
            await new Promise((r) => setTimeout(r, 30));
            const slept = performance.now() - last;
            const origin = performance.timeOrigin;
            return [t0 >= 0 && t0 < 60000, backwards, distinct > 10, slept >= 29 && slept < 5000,
                    Math.abs(origin + performance.now() - Date.now()) < 50, typeof JSON.stringify(performance)];
        })()"#,
    );
    assert_eq!(out, r#"[true,false,true,true,true,"string"]"#);
}

/// Spawning the same function again (QuickJS then runs it from bytecode it
/// compiled the first time) runs the same function: its own arguments,
/// its source for `toString`, the same stack for the same error; a source
/// that does not compile fails every time.
pub(crate) fn a_function_spawned_again_is_the_same_function(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            const f = function named(x) {
                if (x === 0) {
                    throw new RangeError('zero');
                }
                return [x * 2, named.toString().length];
            };
            // The first spawn compiles f; the others run it from bytecode.
            const stacks = [];
            for (let i = 0; i < 3; i++) stacks.push(await hz.spawn(f, 0).join().catch((err) => err.name + err.stack));
            const runs = [];
            for (const x of [1, 2, 3]) runs.push(await hz.spawn(f, x).join());
            const o = { m(x) { return x; } };
            const bad = [];
            for (let i = 0; i < 2; i++) bad.push(await hz.spawn(o.m, 1).join().then(() => 'ran', (err) => err.name));
            return [runs, f.toString().length, stacks[0].startsWith('RangeError') && stacks.every((s) => s === stacks[0]), bad];
        })()"#,
    );
    assert_eq!(out, r#"[[[2,189],[4,189],[6,189]],189,true,["SyntaxError","SyntaxError"]]"#);
}

/// A promise's resolving functions (QuickJS makes them on one shared shape,
/// an hz patch) have their own `length` 1 and `name` "", configurable and
/// nothing else; a property added to or deleted from one leaves the others
/// as they were.
pub(crate) fn promise_resolving_functions_have_their_own_properties(e: &str) {
    let out = json(
        e,
        r#"(() => {
            const pairs = [];
            for (let i = 0; i < 3; i++) new Promise((res, rej) => pairs.push([res, rej]));
            const [a, b, c] = pairs;
            a[0].extra = 1;
            delete a[1].length;
            b[0].name; b[1].length;
            const d = (f, k) => { const p = Object.getOwnPropertyDescriptor(f, k); return p && [p.value, p.writable, p.enumerable, p.configurable]; };
            const shape = (f) => [Object.getOwnPropertyNames(f), f.length, f.name, Object.getPrototypeOf(f) === Function.prototype];
            return [a.map(shape), b.map(shape), c.map(shape), d(c[0], 'length'), d(c[1], 'name'), 'extra' in c[0]];
        })()"#,
    );
    assert_eq!(
        out,
        r#"[[[["length","name","extra"],1,"",true],[["name"],0,"",true]],[[["length","name"],1,"",true],[["length","name"],1,"",true]],[[["length","name"],1,"",true],[["length","name"],1,"",true]],[1,false,false,true],["",false,false,true],false]"#
    );
}

/// `performance.timeOrigin + performance.now()` is one clock for every
/// agent (a child's reading falls between its parent's before the spawn and
/// after the join), and a child's `performance.now()` counts from its spawn,
/// also when it is a warm agent made well before (here: at least 60 ms).
pub(crate) fn performance_clock_is_shared_and_starts_at_spawn(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            const at = () => performance.timeOrigin + performance.now();
            const child = () => [performance.now(), performance.timeOrigin + performance.now()];
            const results = [];
            for (let i = 0; i < 4; i++) {
                // The pool fills after the first plain spawn, while we sleep.
                await new Promise((r) => setTimeout(r, 60));
                const before = at();
                const [sinceStart, then] = await hz.spawn(child).join();
                const after = at();
                results.push([sinceStart >= 0 && sinceStart < 55, then >= before && then <= after]);
            }
            return results.slice(1);
        })()"#,
    );
    assert_eq!(out, r#"[[true,true],[true,true],[true,true]]"#);
}

pub(crate) fn timers_and_microtasks_order(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            const log = [];
            setTimeout(() => log.push('t20'), 20);
            const t = setTimeout(() => log.push('cancelled'), 5);
            setTimeout(() => log.push('t0'), 0);
            clearTimeout(t);
            queueMicrotask(() => log.push('micro'));
            Promise.resolve().then(() => log.push('then'));
            log.push('sync');
            let ticks = 0;
            await new Promise((resolve) => { const i = setInterval(() => { if (++ticks === 3) { clearInterval(i); resolve(); } }, 1); });
            await new Promise((r) => setTimeout(r, 40));
            return [log, ticks];
        })()"#,
    );
    assert_eq!(out, r#"[["sync","micro","then","t0","t20"],3]"#);
}

pub(crate) fn unknown_engine_is_a_type_error(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            try { hz.spawn({ fn: () => 1, engine: 'nope' }); return 'spawned'; } catch (err) { return [err.name, err.message]; }
        })()"#,
    );
    assert_eq!(out, r#"["TypeError","unknown engine \"nope\""]"#);
}

pub(crate) fn unhandled_rejection_fails_the_agent(e: &str) {
    let rt = runtime(2);
    let h = rt
        .spawn_on(
            e,
            AgentSpec::function(
                "() => { (async () => { await null; throw new ReferenceError('nobody caught me'); })(); return 1; }",
            ),
        )
        .unwrap();
    match h.join() {
        Err(JoinError::Js(err)) => {
            assert_eq!(err.name.as_deref(), Some("ReferenceError"));
            assert_eq!(err.message, "nobody caught me");
        }
        other => panic!("expected the unhandled rejection, got {other:?}"),
    }
    // A rejection handled before the turn ends is not an error.
    let out = json(
        e,
        r#"(async () => {
            const p = Promise.reject(new Error('x'));
            await null;
            return await p.catch((err) => 'handled ' + err.message);
        })()"#,
    );
    assert_eq!(out, r#""handled x""#);
}

pub(crate) fn module_agents_import_relative_modules(e: &str) {
    let scratch = Scratch::new(&format!("modules-{e}"));
    let dir = scratch.path();
    std::fs::create_dir_all(dir.join("lib")).unwrap();
    std::fs::write(dir.join("lib/math.js"), "export const square = (x) => x * x;\n").unwrap();
    let arrow = "import { square } from './lib/math.js';\nexport default async (a, b) => square(a) + square(b) + hz.args.length;\n";
    let function = "import { square } from './lib/math.js';\nexport default async function (a, b) { return square(a) + square(b) + hz.args.length; }\n";
    std::fs::write(dir.join("arrow.js"), arrow).unwrap();
    std::fs::write(dir.join("worker.js"), if exports_default_async_arrows(e) { arrow } else { function }).unwrap();
    if !exports_default_async_arrows(e) {
        let rt = runtime(1);
        let h = rt.spawn_on(e, AgentSpec::module(dir.join("arrow.js").to_str().unwrap())).unwrap();
        match h.join() {
            Err(JoinError::Js(err)) => assert_eq!(err.name.as_deref(), Some("SyntaxError"), "the gap on {e}"),
            other => panic!("the async-arrow default export gap on {e} closed? {other:?}"),
        }
    }
    std::fs::write(dir.join("side.js"), "globalThis.ran = true;\n").unwrap();
    let worker = dir.join("worker.js");
    let out = json(
        e,
        &format!(
            r#"(async () => {{
                const r = await hz.spawn({{ module: {w:?} }}, 3, 4).join();
                const side = await hz.spawn({{ module: {s:?} }}).join();
                let missing;
                try {{ hz.spawn({{ module: './does-not-exist.js' }}); }} catch (err) {{ missing = err.name; }}
                return [r, side === undefined, missing];
            }})()"#,
            w = worker.to_str().unwrap(),
            s = dir.join("side.js").to_str().unwrap(),
        ),
    );
    assert_eq!(out, r#"[27,true,"TypeError"]"#);
    // From Rust, and an import that fails to resolve rejects join.
    std::fs::write(dir.join("broken.js"), "import { x } from './nowhere.js';\nexport default () => x;\n").unwrap();
    let rt = runtime(1);
    let h = rt.spawn_on(e, AgentSpec::module(dir.join("broken.js").to_str().unwrap())).unwrap();
    assert!(matches!(h.join(), Err(JoinError::Js(_))), "a missing import fails the agent");
}

/// Top-level await, dynamic `import()` (relative to the importing module,
/// once per agent), import cycles, and failures: a throwing module rejects
/// its import, a syntax error names the file.
pub(crate) fn modules_await_import_dynamically_and_fail_cleanly(e: &str) {
    let scratch = Scratch::new(&format!("modules2-{e}"));
    let dir = scratch.path();
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    let files = [
        ("a.js", "import { b } from './sub/b.js';\nexport const a = () => 'a' + b();\nexport const name = 'A';\n"),
        ("sub/b.js", "import { name } from '../a.js';\nexport const b = () => 'b' + name;\n"),
        ("sub/counter.js", "globalThis.loads = (globalThis.loads || 0) + 1;\nexport const n = globalThis.loads;\n"),
        ("throws.js", "export const x = 1;\nthrow new RangeError('module failed');\n"),
        ("syntax.js", "export const ok = 1;\nexport const = ;\n"),
        (
            "main.js",
            "const waited = await new Promise((r) => setTimeout(() => r('waited'), 5));\n\
             const { a } = await import('./a.js');\n\
             const c1 = await import('./sub/counter.js');\n\
             const c2 = await import('./sub/counter.js');\n\
             let thrown, syntax;\n\
             try { await import('./throws.js'); } catch (err) { thrown = err.name + ': ' + err.message; }\n\
             try { await import('./syntax.js'); } catch (err) { syntax = err.name; }\n\
             let bare; try { await import('left-pad'); } catch (err) { bare = err.name; }\n\
             export default () => [waited, a(), c1.n, c2.n, c1 === c2, thrown, syntax, bare];\n",
        ),
    ];
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let rt = runtime(2);
    let main = rt.spawn_on(e, AgentSpec::module(dir.join("main.js").to_str().unwrap())).unwrap();
    let out = main.join().expect("main module").to_json().unwrap().to_string();
    assert_eq!(out, r#"["waited","abA",1,1,true,"RangeError: module failed","SyntaxError","TypeError"]"#);
    // A module agent whose own file does not parse fails with the location.
    let h = rt.spawn_on(e, AgentSpec::module(dir.join("syntax.js").to_str().unwrap())).unwrap();
    match h.join() {
        Err(JoinError::Js(err)) => {
            assert_eq!(err.name.as_deref(), Some("SyntaxError"));
            let stack = err.stack.unwrap_or_default();
            assert!(stack.contains("syntax.js:2"), "no location in {stack:?} ({e})");
        }
        other => panic!("expected a SyntaxError, got {other:?}"),
    }
}

pub(crate) fn deep_nesting_is_a_clean_error(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            const results = [];
            for (const depth of [500, 100000]) {
                let o = {}, a = [];
                for (let i = 0; i < depth; i++) { o = { o }; a = [a]; }
                const ch = hz.channel(1);
                for (const v of [o, a]) {
                    try { await ch.send(v); await ch.recv(); results.push('ok'); }
                    catch (err) { results.push(err.name); }
                }
            }
            return results;
        })()"#,
    );
    assert_eq!(out, r#"["ok","ok","DataCloneError","DataCloneError"]"#);
}

pub(crate) fn unreadable_message_rejects_recv_only(e: &str) {
    let rt = runtime(2);
    let ch = rt.channel(4);
    let h = rt
        .spawn_on(
            e,
            AgentSpec::function(
                "async (ch) => {
                    let first;
                    try { await ch.recv(); first = 'read'; } catch (err) { first = err.name; }
                    const second = (await ch.recv()).value;
                    return [first, second];
                }",
            )
            .args(vec![ch.to_value()])
            .unwrap(),
        )
        .unwrap();
    // Hostile bytes: a string claiming 2^40 bytes.
    let bad = hz::Payload { bytes: b"hz\x01\x07\x80\x80\x80\x80\x80\x20x".to_vec(), hosts: vec![] };
    ch.send_payload(bad).unwrap();
    ch.send(&Value::from("fine")).unwrap();
    assert_eq!(h.join().unwrap(), Value::Array(vec![Value::from("DataCloneError"), Value::from("fine")]));
}

pub(crate) fn clone_covers_the_html_types(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            const rab = new ArrayBuffer(4, { maxByteLength: 16 });
            new Uint8Array(rab).set([1, 2, 3, 4]);
            const full = new ArrayBuffer(4, { maxByteLength: 4 });
            const re = /a(b)?/gimsuy;
            re.lastIndex = 3;
            class K { constructor() { this.a = 1; } }
            const lone = 'x\uD800y\uDC00z';
            const v = {
                wrappers: [new Boolean(false), new Number(-0), new String('s'), Object(12n)],
                re, rab, tracking: new Uint16Array(rab, 2), fixed: new Uint16Array(rab, 0, 1),
                trackingAtMax: new Uint8Array(full), lone, k: new K(),
                f16: typeof Float16Array === 'function' ? new Float16Array([1.5]) : null,
                big: new BigInt64Array([-1n]), dv: new DataView(new ArrayBuffer(4), 1, 2),
            };
            const ch = hz.channel(1);
            await ch.send(v);
            const c = (await ch.recv()).value;
            c.rab.resize(10);
            const fullClone = c.trackingAtMax.buffer;
            fullClone.resize(2);
            return [
                c.wrappers.map((x) => Object.prototype.toString.call(x)), Object.is(c.wrappers[1].valueOf(), -0),
                c.wrappers[3].valueOf() === 12n, String(c.re), c.re.lastIndex,
                c.rab.resizable, c.rab.maxByteLength, c.tracking.length, c.fixed.length, c.tracking.buffer === c.rab,
                c.trackingAtMax.length, rab.byteLength, [...new Uint8Array(rab)], full.byteLength,
                c.lone === lone, Object.getPrototypeOf(c.k) === Object.prototype, c.k.a,
                c.f16 === null || c.f16[0] === 1.5, c.big[0] === -1n, [c.dv.byteOffset, c.dv.byteLength],
            ];
        })()"#,
    );
    assert_eq!(
        out,
        r#"[["[object Boolean]","[object Number]","[object String]","[object BigInt]"],true,true,"/a(b)?/gimsuy",0,true,16,4,1,true,2,4,[1,2,3,4],4,true,true,1,true,true,[1,2]]"#
    );
}

/// Keys of every kind keep their order and value through a clone: integer
/// keys of an object, an array's elements (a dense one with extra
/// properties, a sparse one with an index past 2^31), non-ASCII names.
pub(crate) fn clone_keeps_keys_of_every_kind(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            const sparse = []; sparse[3000000000] = 'big'; sparse[2] = 'two'; sparse.x = 1;
            const dense = ['a', 'b']; dense.extra = true;
            const o = { b: 2, 10: 'ten', 1: 'one', 'é✓': 3 };
            const ch = hz.channel(1);
            await ch.send([o, sparse, dense]);
            const [co, cs, cd] = (await ch.recv()).value;
            return [Object.keys(co), co[1], co[10], co['é✓'], cs.length, cs[3000000000], cs[2], cs.x,
                Object.keys(cs), [...cd], cd.extra];
        })()"#,
    );
    assert_eq!(
        out,
        r#"[["1","10","b","é✓"],"one","ten",3,3000000001,"big","two",1,["2","3000000000","x"],["a","b"],true]"#
    );
}

/// A property key holding a lone surrogate keeps its exact UTF-16 through
/// structuredClone, a channel, and a hop through a QuickJS agent (keys are
/// strings like any other: nothing is replaced by U+FFFD).
pub(crate) fn clone_keeps_lone_surrogate_keys(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            const keys = ['a\uD800b', '\uDC00', 'x\uD83D\uDE00y', '\uD800\uD800'];
            const o = {}; keys.forEach((k, i) => { o[k] = i; });
            const units = (obj) => Object.keys(obj).map((k) => [...k].map((c) => c.charCodeAt(0).toString(16)).join(' '));
            const local = structuredClone(o);
            const ch = hz.channel(1);
            await ch.send(o);
            const sent = (await ch.recv()).value;
            const echo = hz.spawn({ fn: async (ch) => { const { value } = await ch.recv(); await ch.send(value); }, engine: 'quickjs' }, ch);
            await ch.send(o);
            await new Promise((r) => setTimeout(r, 20));
            const back = (await ch.recv()).value;
            await echo.join();
            const same = (c) => JSON.stringify(units(c)) === JSON.stringify(units(o)) && keys.every((k, i) => c[k] === i);
            return [same(local), same(sent), same(back), units(back)];
        })()"#,
    );
    assert_eq!(out, r#"[true,true,true,["61 d800 62","dc00","78 d83d 79","d800 d800"]]"#);
}

/// Builtin accessors behave as the standard says whether or not anything
/// read them before (QuickJS makes each on its first use: rquickjs-sys
/// patch 7): read, described, frozen, redefined or deleted first.
pub(crate) fn builtin_accessors_behave_before_and_after_first_use(e: &str) {
    let out = json(
        e,
        r#"(() => {
            const r = [];
            const d = (o, k) => { const x = Object.getOwnPropertyDescriptor(o, k); return [x.get?.name, x.get?.length, x.set, x.enumerable, x.configurable, 'writable' in x]; };
            r.push(new Map([[1, 2]]).size, /a/gi.flags, /a/y.sticky, new Uint8Array(4).byteLength, new DataView(new ArrayBuffer(8), 2).byteOffset);
            r.push(d(Object.getPrototypeOf(Int8Array.prototype), 'length'), d(Map, Symbol.species));
            const g = Object.getOwnPropertyDescriptor(Symbol.prototype, 'description').get;
            r.push(g === Object.getOwnPropertyDescriptor(Symbol.prototype, 'description').get, Symbol('q').description);
            Object.freeze(Set.prototype);
            r.push(Object.isFrozen(Set.prototype), d(Set.prototype, 'size'), new Set([1, 2]).size);
            Object.defineProperty(ArrayBuffer.prototype, 'byteLength', { value: 42 });
            r.push(new ArrayBuffer(3).byteLength);
            delete RegExp.prototype.sticky;
            r.push(/a/y.sticky, 'sticky' in RegExp.prototype, /a/y.flags);
            r.push((() => { 'use strict'; try { new Map().size = 3; return 'no error'; } catch (e) { return e.constructor.name; } })());
            r.push((() => { try { return Object.create(DataView.prototype).byteLength; } catch (e) { return e.constructor.name; } })());
            return r;
        })()"#,
    );
    assert_eq!(
        out,
        r#"[1,"gi",true,4,2,["get length",0,null,false,true,false],["get [Symbol.species]",0,null,false,true,false],true,"q",true,["get size",0,null,false,false,false],2,42,null,false,"","TypeError","TypeError"]"#
    );
}

/// The builtins hz's clone code calls are the engine's own, kept before
/// user code ran (QuickJS makes them from its own tables on the first
/// clone that needs them): replacing them afterwards changes nothing.
pub(crate) fn clone_ignores_replaced_builtins(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            const v = { m: new Map([[1, 'a']]), s: new Set([2]), d: new Date(5), n: new Number(7), b: 255n, big: new BigInt64Array([3n]) };
            const boom = () => { throw new Error('a replaced builtin was called'); };
            Map.prototype.forEach = boom; Map.prototype.set = boom; Set.prototype.forEach = boom;
            Set.prototype.add = boom; Date.prototype.getTime = boom; Number.prototype.valueOf = boom;
            BigInt.prototype.toString = boom; Object.keys = boom; Math.trunc = boom; Number.isNaN = boom;
            Object.prototype.hasOwnProperty = boom;
            const ch = hz.channel(1);
            await ch.send(v);
            const c = (await ch.recv()).value;
            return [Map.prototype.get.call(c.m, 1), Set.prototype.has.call(c.s, 2), Date.prototype.valueOf.call(c.d),
                Object.prototype.toString.call(c.n), String(c.b), String(c.big[0])];
        })()"#,
    );
    assert_eq!(out, r#"["a",true,5,"[object Number]","255","3"]"#);
}

/// A received array gets its elements defined, not set: setters on
/// `Array.prototype` and `Object.prototype` at those indices and keys never
/// run. Holes, extra properties, a self-reference and a long array come
/// through as they were.
pub(crate) fn clone_defines_array_elements(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            const ran = [];
            for (const [proto, key] of [[Array.prototype, 0], [Array.prototype, 2], [Object.prototype, 'k']]) {
                Object.defineProperty(proto, key, { set(v) { ran.push(key); }, get() { return 'inherited'; }, configurable: true });
            }
            const a = [1, , 'x', { k: [2, 3] }];
            a.extra = 5;
            a.push(a);
            const long = Array.from({ length: 5000 }, (_, i) => i);
            const ch = hz.channel(1);
            await ch.send([a, long]);
            const [c, l] = (await ch.recv()).value;
            const own = (o, k) => Object.prototype.hasOwnProperty.call(o, k);
            const out = [ran, c.length, own(c, 0), c[0], own(c, 1), c[2], own(c[3], 'k'), c[3].k[1], c.extra, c[4] === c,
                l.length, l[4999], own(l, 0)];
            delete Array.prototype[0]; delete Array.prototype[2]; delete Object.prototype.k;
            return out;
        })()"#,
    );
    assert_eq!(out, r#"[[],5,true,1,false,"x",true,3,5,true,5000,4999,true]"#);
}

/// Functions of each kind (closures, arrows, async functions, methods,
/// builtins made on first read) have `length`, `name` and, for a plain
/// function, a lazy `prototype` with the standard values, flags and order;
/// changing one function's properties leaves the others as they were.
/// (QuickJS makes functions on a shared shape: vendor/rquickjs-sys, patch
/// 12.)
pub(crate) fn functions_have_their_standard_properties(e: &str) {
    let out = json(
        e,
        r#"(() => {
          'use strict';
          const pick = (f) => {
            const keys = Object.getOwnPropertyNames(f).filter((k) => k === 'length' || k === 'name' || k === 'prototype');
            return keys.map((k) => {
              const d = Object.getOwnPropertyDescriptor(f, k);
              return [k, k === 'prototype' ? typeof d.value : d.value, d.writable, d.enumerable, d.configurable];
            });
          };
          function plain(a, b) {}
          const arrow = (x) => x;
          async function asyncFn(p, q, r) {}
          const o = { method(z) {}, async asyncMethod() {} };
          const kinds = [plain, arrow, asyncFn, o.method, o.asyncMethod, Math.max, Array.prototype.map, parseInt];
          const out = kinds.map(pick);
          // The lazy prototype: made on first read, one per function, with its constructor.
          const f = function () {};
          const g = function () {};
          out.push([f.prototype !== g.prototype, f.prototype.constructor === f, new f() instanceof f]);
          // A function whose properties change keeps the others' shape unharmed.
          const h = function named() {};
          h.extra = 1;
          delete h.name;
          Object.defineProperty(h, 'length', { value: 7 });
          const i = function named() {};
          out.push([h.name, h.length, h.extra, i.name, i.length, Object.getOwnPropertyNames(i).includes('extra')]);
          const frozen = Object.freeze(() => {});
          const k = () => {};
          k.x = 2;
          out.push([Object.isFrozen(frozen), Object.isFrozen(k), k.x]);
          out.push([Object.getPrototypeOf(asyncFn) === Object.getPrototypeOf(async () => {}), Object.getPrototypeOf(plain) === Function.prototype]);
          return out;
        })()"#,
    );
    assert_eq!(
        out,
        r#"[[["length",2,false,false,true],["name","plain",false,false,true],["prototype","object",true,false,false]],[["length",1,false,false,true],["name","arrow",false,false,true]],[["length",3,false,false,true],["name","asyncFn",false,false,true]],[["length",1,false,false,true],["name","method",false,false,true]],[["length",0,false,false,true],["name","asyncMethod",false,false,true]],[["length",2,false,false,true],["name","max",false,false,true]],[["length",1,false,false,true],["name","map",false,false,true]],[["length",2,false,false,true],["name","parseInt",false,false,true]],[true,true,true],["",7,1,"named",0,false],[true,false,2],[true,true]]"#
    );
}

/// A primitive clones to itself (no serializer trip), a symbol still
/// throws DataCloneError, wrapper objects are still cloned, and a transfer
/// list given with a primitive is still honoured.
pub(crate) fn structured_clone_of_a_primitive_is_itself(e: &str) {
    let out = json(
        e,
        r#"(() => {
            const big = 'x'.repeat(1 << 20);
            const same = [big, 'é', 0, 1.5, NaN, 10n ** 30n, true, false, null, undefined]
                .map((v) => Object.is(structuredClone(v), v) && Object.is(structuredClone(v, {}), v));
            const negZero = Object.is(structuredClone(-0), -0);
            let sym;
            try { structuredClone(Symbol('s')); sym = 'cloned'; } catch (err) { sym = err.name; }
            const boxed = new String('w');
            const copy = structuredClone(boxed);
            const buf = new ArrayBuffer(8);
            const moved = structuredClone('s', { transfer: [buf] });
            return [same, negZero, sym, typeof copy, copy !== boxed, String(copy), moved, buf.byteLength];
        })()"#,
    );
    assert_eq!(
        out,
        r#"[[true,true,true,true,true,true,true,true,true,true],true,"DataCloneError","object",true,"w","s",0]"#
    );
}

/// DOMException is a global (writable, configurable, not enumerable) whose
/// instances are Errors; a DataCloneError is one, and stays one after the
/// program replaces the global. QuickJS makes it on first use (QuickJS
/// patch 17): reached first through a clone error, it is the constructor
/// the global and `new` give afterwards. On V8 and Boa the global is an
/// accessor that makes it on first use (as Node's is), with a setter.
pub(crate) fn dom_exception_is_there_when_first_needed(e: &str) {
    let out = json(
        e,
        r#"(() => {
            const cloneError = () => { try { structuredClone(() => 1); } catch (err) { return err; } };
            const first = cloneError();
            const d = Object.getOwnPropertyDescriptor(globalThis, 'DOMException');
            const ctor = globalThis.DOMException;
            const made = new DOMException('m', 'NotFoundError');
            const facts = [typeof ctor, 'value' in d ? d.writable : typeof d.set === 'function', d.enumerable, d.configurable,
                first instanceof DOMException, first.constructor === ctor, first.name, first instanceof Error,
                made.name, made.message, made instanceof Error, Object.getPrototypeOf(made) === ctor.prototype];
            globalThis.DOMException = 5;
            const later = cloneError();
            return [...facts, later.name, later.constructor === ctor];
        })()"#,
    );
    assert_eq!(
        out,
        r#"["function",true,false,true,true,true,"DataCloneError",true,"NotFoundError","m",true,true,"DataCloneError",true]"#
    );
}

/// - quickjs: QuickJS's own atob throws an InvalidCharacterError
///   DOMException when called without an argument, where WebIDL (and Node,
///   and hz's atob on V8 and Boa) throws a TypeError.
fn atob_without_argument_is_a_type_error(e: &str) -> bool {
    e != "quickjs"
}

/// DOMException, atob and btoa behave as WebIDL and HTML say, on every
/// engine (QuickJS's own, hz's js/dom.js on V8 and Boa), and the same as
/// Node's: `name`, `message` and `code` are getters of the prototype that
/// check their receiver, the legacy code constants, base64 both ways with
/// padding, whitespace and Latin-1, and InvalidCharacterError for bad input.
pub(crate) fn dom_exception_atob_and_btoa_behave_as_the_web_s(e: &str) {
    let out = json(
        e,
        r#"(() => {
            const r = [];
            let c; try { structuredClone(() => 1); } catch (x) { c = x; }
            const d = new DOMException('m', 'AbortError');
            r.push(c.name, c.code, Object.prototype.toString.call(c), DOMException.DATA_CLONE_ERR, d.code, d.name,
                d.message, Object.keys(d), String(d), new DOMException().name, new DOMException().message,
                DOMException.length, d.ABORT_ERR, Object.keys(DOMException).length, new DOMException('x', 'Nope').code,
                Object.keys(DOMException.prototype).slice(0, 4));
            try { DOMException(); } catch (x) { r.push(x.constructor.name); }
            try { Object.getOwnPropertyDescriptor(DOMException.prototype, 'code').get.call(new Error()); } catch (x) { r.push(x.constructor.name); }
            r.push(btoa(''), btoa('a'), btoa('ab'), btoa('abc'), btoa('\xff\xfe\x00'), atob('YWJj'), atob(' Y W J j\n'),
                atob('YQ=='), atob('YQ'), atob('YWI='), atob(''), btoa(null), atob(btoa('x\xff'.repeat(20000))) === 'x\xff'.repeat(20000));
            for (const bad of ['YQ=', 'Y', 'YQ===', '*', 'YQ==YQ==', '\u0100AAA']) {
                try { r.push('decoded ' + atob(bad)); } catch (x) { r.push(x.name + ' ' + x.code + ' ' + (x instanceof DOMException)); }
            }
            try { btoa('\u0100'); } catch (x) { r.push(x.name); }
            try { atob(); } catch (x) { r.push(x.constructor.name); }
            return r;
        })()"#,
    );
    let no_argument = if atob_without_argument_is_a_type_error(e) { "TypeError" } else { "DOMException" };
    let bad = r#""InvalidCharacterError 5 true""#;
    assert_eq!(
        out,
        format!(
            r#"["DataCloneError",25,"[object DOMException]",25,20,"AbortError","m",[],"AbortError: m","Error","",0,20,25,0,["name","message","code","INDEX_SIZE_ERR"],"TypeError","TypeError","","YQ==","YWI=","YWJj","//4A","abc","abc","a","a","ab","","bnVsbA==",true,{bad},{bad},{bad},{bad},{bad},{bad},"InvalidCharacterError","{no_argument}"]"#
        )
    );
}

/// The typed-array constructors are globals (writable, configurable, not
/// enumerable) under %TypedArray%. QuickJS makes them on first use (QuickJS
/// patch 19): an agent whose first typed arrays come from messages, after
/// it replaced or deleted the globals, gets the original constructors.
pub(crate) fn typed_arrays_are_there_when_first_needed(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            const c = hz.channel(2);
            const h = hz.spawn(async (c) => {
                globalThis.Uint8Array = 'replaced';
                delete globalThis.Int16Array;
                const { value: v } = await c.recv();
                const { value: w } = await c.recv();
                const d = Object.getOwnPropertyDescriptor(globalThis, 'Float64Array');
                const TA = Object.getPrototypeOf(v.constructor);
                return [Object.prototype.toString.call(v), v.constructor.name, v[1], TA.name,
                    TA.prototype.toString === Array.prototype.toString, Object.getPrototypeOf(d.value) === TA,
                    w.constructor.name, w[0], Object.getPrototypeOf(w.constructor) === TA,
                    typeof Int16Array, typeof Uint8Array, typeof d.value, d.writable, d.enumerable, d.configurable,
                    new d.value([1.5])[0], d.value.BYTES_PER_ELEMENT];
            }, c);
            await c.send(new Int16Array([5, 6]));
            await c.send(new Uint8Array([7]));
            return h.join();
        })()"#,
    );
    assert_eq!(
        out,
        r#"["[object Int16Array]","Int16Array",6,"TypedArray",true,true,"Uint8Array",7,true,"undefined","string","function",true,false,true,1.5,8]"#
    );
}

/// Date is a global (writable, configurable, not enumerable) with its
/// statics and methods. QuickJS makes it on first use (QuickJS patch 21):
/// an agent whose first date comes from a message, after it replaced the
/// global, gets a real Date, and console.log formats it as one.
pub(crate) fn date_is_there_when_first_needed(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            const c = hz.channel(1);
            const h = hz.spawn(async (c) => {
                globalThis.Date = 'replaced';
                const { value: d } = await c.recv();
                const real = d.constructor;
                const desc = Object.getOwnPropertyDescriptor(globalThis, 'Date');
                delete globalThis.Date;
                const gone = typeof Date;
                return [Object.prototype.toString.call(d), d.getTime(), d.toISOString(), real.name, real.length,
                    real.prototype.constructor === real, typeof real.now(), real.UTC(2020, 0, 1),
                    new real(5).getTime(), typeof real.prototype[Symbol.toPrimitive], desc.value, desc.writable,
                    desc.enumerable, desc.configurable, gone, structuredClone(d).getTime()];
            }, c);
            await c.send(new Date(86400000));
            const d = Object.getOwnPropertyDescriptor(globalThis, 'Date');
            return [...await h.join(), typeof d.value, d.writable, d.enumerable, d.configurable];
        })()"#,
    );
    assert_eq!(
        out,
        r#"["[object Date]",86400000,"1970-01-02T00:00:00.000Z","Date",7,true,"number",1577836800000,5,"function","replaced",true,false,true,"undefined",86400000,"function",true,false,true]"#
    );
}

pub(crate) fn clone_errors_have_no_side_effects(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            const names = (f) => { try { f(); return 'cloned'; } catch (err) { return err.name; } };
            const shrink = new ArrayBuffer(8, { maxByteLength: 8 });
            const oob = new Uint8Array(shrink, 4, 4);
            shrink.resize(2);
            const buf = new ArrayBuffer(8);
            const detached = new ArrayBuffer(4);
            const viewOfDetached = new Uint8Array(detached);
            detached.transfer();
            const gone = new ArrayBuffer(8);
            const cases = [
                names(() => structuredClone(detached)),
                names(() => structuredClone(viewOfDetached)),
                // A getter that detaches a buffer met later in the walk.
                names(() => structuredClone({ get a() { gone.transfer(); return 1; }, b: new Uint8Array(gone) })),
                names(() => structuredClone(new WeakMap())),
                names(() => structuredClone(oob)),
                names(() => structuredClone(new WeakSet())),
                names(() => structuredClone(new WeakRef({}))),
                names(() => structuredClone(new Proxy({}, {}))),
                names(() => structuredClone({ buf, later: Symbol() })),
            ];
            // A getter's exception is the very exception thrown.
            const thrown = new RangeError('from getter');
            let same;
            try { structuredClone({ get x() { throw thrown; } }); } catch (err) { same = err === thrown; }
            const proto = structuredClone(Object.prototype);
            return [cases, buf.byteLength, same, Object.keys(proto).length, Object.getPrototypeOf(proto) === Object.prototype];
        })()"#,
    );
    assert_eq!(
        out,
        r#"[["DataCloneError","DataCloneError","DataCloneError","DataCloneError","DataCloneError","DataCloneError","DataCloneError","DataCloneError","DataCloneError"],8,true,0,true]"#
    );
}

pub(crate) fn transfer_moves_buffers(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            const results = [];
            const ch = hz.channel(1);
            // Small (copied from slab memory) and large (moved) buffers alike.
            for (const size of [16, 600, 1 << 20]) {
                const buf = new ArrayBuffer(size);
                const view = new Uint8Array(buf);
                view[0] = 7; view[size - 1] = 9;
                await ch.send({ buf, view }, { transfer: [buf] });
                const got = (await ch.recv()).value;
                results.push([buf.byteLength, view.length, got.buf.byteLength, got.view[0], got.view[size - 1], got.view.buffer === got.buf]);
            }
            // Resizable: the maximum travels and the receiver can grow it.
            const rab = new ArrayBuffer(1000, { maxByteLength: 4000 });
            new Uint8Array(rab)[999] = 5;
            const moved = structuredClone(rab, { transfer: [rab] });
            moved.resize(4000);
            results.push([rab.byteLength, moved.byteLength, moved.maxByteLength, new Uint8Array(moved)[999]]);
            // Through three agents: A -> B -> C, moved on by B.
            const a2b = hz.channel(1), b2c = hz.channel(1);
            const b = hz.spawn(async (inp, out) => { const { value } = await inp.recv(); await out.send(value, { transfer: [value] }); return value.byteLength; }, a2b, b2c);
            const c = hz.spawn(async (inp) => { const { value } = await inp.recv(); return [value.byteLength, new Uint8Array(value)[12345]]; }, b2c);
            const big = new ArrayBuffer(1 << 20);
            new Uint8Array(big)[12345] = 42;
            await a2b.send(big, { transfer: [big] });
            results.push([big.byteLength, await b.join(), await c.join()]);
            // A view written before its moved buffer (the buffer inline after it).
            const lone = new Float64Array(100);
            lone[99] = 2.5;
            const movedView = structuredClone(lone, { transfer: [lone.buffer] });
            results.push([lone.length, movedView.length, movedView[99]]);
            // Listed but not in the value: still moved (detached here).
            const unused = new ArrayBuffer(64);
            structuredClone(1, { transfer: [unused] });
            results.push(unused.byteLength);
            return results;
        })()"#,
    );
    assert_eq!(
        out,
        r#"[[0,0,16,7,9,true],[0,0,600,7,9,true],[0,0,1048576,7,9,true],[0,4000,4000,5],[0,0,[1048576,42]],[0,100,2.5],0]"#
    );
}

pub(crate) fn transfer_errors_change_nothing(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            const errs = [];
            const keep = new ArrayBuffer(8);
            const detached = new ArrayBuffer(8);
            detached.transfer();
            for (const t of [[keep, keep], [new SharedArrayBuffer(8)], [{}], [new Uint8Array(4)], [detached], 'x']) {
                try { structuredClone(keep, { transfer: t }); errs.push('cloned'); } catch (err) { errs.push(err.name); }
            }
            // A getter detaching a listed buffer is caught after the walk.
            const victim = new ArrayBuffer(8);
            try { structuredClone({ get a() { victim.transfer(); return 1; } }, { transfer: [victim] }); errs.push('cloned'); }
            catch (err) { errs.push(err.name); }
            // A failed clone detaches nothing from the list.
            const intact = new ArrayBuffer(700), intact2 = new ArrayBuffer(8);
            const ch = hz.channel(1);
            try { await ch.send({ intact, f() {} }, { transfer: [intact, intact2] }); } catch (err) { errs.push(err.name); }
            // HOSTILE 13/15: a buffer that cannot be detached (immutable,
            // where the engine has them) is refused and left intact.
            let immutable = 'no immutable buffers';
            if (typeof ArrayBuffer.prototype.transferToImmutable === 'function') {
                const imm = new ArrayBuffer(8).transferToImmutable();
                try { structuredClone(imm, { transfer: [imm] }); immutable = 'moved'; } catch (err) { immutable = err.name + ' ' + imm.byteLength; }
            }
            return [errs, keep.byteLength, intact.byteLength, intact2.byteLength, ch.length, immutable];
        })()"#,
    );
    let immutable = if e == "quickjs" || e == "v8" { "DataCloneError 8" } else { "no immutable buffers" };
    assert_eq!(
        out,
        format!(
            r#"[["DataCloneError","DataCloneError","DataCloneError","DataCloneError","DataCloneError","TypeError","DataCloneError","DataCloneError"],8,700,8,0,"{immutable}"]"#
        )
    );
}

pub(crate) fn clone_follows_the_html_rules(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            // HOSTILE 5: keys are snapshotted, then re-checked before each [[Get]].
            const o = { get a() { delete this.b; return 1; }, b: 2, c: 3 };
            // HOSTILE 12: a non-standard name becomes "Error"; an accessor message is dropped.
            class MyError extends Error { constructor(m) { super(m); this.name = 'MyError'; } }
            const accessor = new TypeError('m');
            Object.defineProperty(accessor, 'message', { get() { return 'from getter'; } });
            // HOSTILE 11: only own enumerable string keys; symbols and non-enumerables are skipped.
            const hidden = { shown: 1, [Symbol('s')]: 2 };
            Object.defineProperty(hidden, 'secret', { value: 3, enumerable: false });
            // Keys keep their order: integer keys first, ascending, then the
            // others as added (a deleted one gone), however many there are.
            const many = {};
            for (let i = 0; i < 20; i++) many['k' + i] = i;
            delete many.k3;
            const mixed = { z: 1, '2x': 0, 5: 2, a: 3, '07': 4, 1: 5 };
            const c = structuredClone([o, new MyError('x'), accessor, hidden, many, mixed]);
            return [Object.keys(c[0]), c[1].name, c[1].message, c[1] instanceof Error, c[2] instanceof TypeError,
                c[2].message, Object.getOwnPropertyNames(c[3]), Object.getOwnPropertySymbols(c[3]).length,
                Object.keys(c[4]).join(), Object.values(c[4]).join(), Object.keys(c[5]).join()];
        })()"#,
    );
    assert_eq!(
        out,
        r#"[["a","c"],"Error","x",true,true,"",["shown"],0,"k0,k1,k2,k4,k5,k6,k7,k8,k9,k10,k11,k12,k13,k14,k15,k16,k17,k18,k19","0,1,2,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19","1,5,z,2x,a,07"]"#
    );
}

pub(crate) fn shared_array_buffers_are_shared(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            const sab = new SharedArrayBuffer(16);
            const ia = new Int32Array(sab);
            // Four agents on two threads add to one counter at once.
            const adders = [0, 1, 2].map(() => hz.spawn((v) => { for (let i = 0; i < 20000; i++) Atomics.add(v, 0, 1); }, ia));
            for (let i = 0; i < 20000; i++) Atomics.add(ia, 0, 1);
            for (const a of adders) await a.join();
            // Over a channel: a write there is seen here.
            const ch = hz.channel(1);
            const h = hz.spawn(async (ch) => { const { value } = await ch.recv(); new Uint8Array(value)[15] = 99; return value.byteLength; }, ch);
            await ch.send(sab);
            const len = await h.join();
            // structuredClone shares the memory (a new object over it).
            const c = structuredClone(sab);
            new Uint8Array(c)[8] = 5;
            const g = (() => {
                try { return structuredClone(new SharedArrayBuffer(8, { maxByteLength: 64 })); }
                catch (err) { return { growable: err.name, maxByteLength: 0, byteLength: 0 }; }
            })();
            return [Atomics.load(ia, 0), len, new Uint8Array(sab)[15], new Uint8Array(sab)[8], c !== sab,
                g.growable, g.maxByteLength, g.byteLength];
        })()"#,
    );
    let growable = if growable_sab_travels(e) { "true,64,8" } else { r#""DataCloneError",0,0"# };
    assert_eq!(out, format!("[80000,16,99,5,true,{growable}]"));
}

pub(crate) fn atomics_wait_async_and_notify_cross_agents(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            const ia = new Int32Array(new SharedArrayBuffer(16));
            // Another agent waits; this one notifies (retrying until it is queued).
            const child = hz.spawn(async (ia) => { const r = Atomics.waitAsync(ia, 1, 0); return [r.async, await r.value]; }, ia);
            let woken = 0;
            while ((woken = Atomics.notify(ia, 1)) === 0) await new Promise((r) => setTimeout(r, 1));
            const results = [await child.join(), woken];
            results.push(Atomics.waitAsync(ia, 0, 5), Atomics.waitAsync(ia, 0, 0, 0));
            const timed = Atomics.waitAsync(ia, 0, 0, 20);
            results.push(await timed.value);
            // ECMA-262 order: type, shared, index, value, timeout (HOSTILE 36-39).
            const errs = [];
            for (const f of [
                () => Atomics.waitAsync(new Int32Array(4), 0, 0),
                () => Atomics.waitAsync(new Float64Array(new SharedArrayBuffer(8)), 0, 0),
                () => Atomics.waitAsync(ia, 99, 0),
                () => Atomics.notify(new Int32Array(4), 9, 1),
                () => Atomics.waitAsync(ia, 0, 0, Symbol()),
                () => Atomics.waitAsync(ia, 0, { valueOf() { throw new EvalError('poison'); } }),
            ]) {
                try { f(); errs.push('no error'); } catch (err) { errs.push(err.name); }
            }
            results.push(errs, Atomics.notify(new Int32Array(4), 0, 1));
            // FIFO, and notify counts only whom it woke.
            const order = [];
            const ws = [0, 1, 2].map((i) => Atomics.waitAsync(ia, 2, 0).value.then(() => order.push(i)));
            const two = Atomics.notify(ia, 2, 2);
            await Promise.all(ws.slice(0, 2));
            results.push(two, [...order], Atomics.notify(ia, 2));
            const big = new BigInt64Array(new SharedArrayBuffer(16));
            const b = Atomics.waitAsync(big, 1, 0n);
            Atomics.notify(big, 1);
            results.push(await b.value);
            return results;
        })()"#,
    );
    assert_eq!(
        out,
        r#"[[true,"ok"],1,{"async":false,"value":"not-equal"},{"async":false,"value":"timed-out"},"timed-out",["TypeError","TypeError","RangeError","RangeError","TypeError","EvalError"],0,2,[0,1],1,"ok"]"#
    );
}

/// Polls `cond` until it holds; panics with `what` after 20 s.
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Two agents ping-ponging through Atomics.wait/notify inside one turn each
/// make progress the deadlock check must see (it once took them for a
/// deadlock: no turn ends while they run); and dropping the runtime under
/// them terminates both cleanly.
pub(crate) fn atomics_ping_pong_is_progress_and_drops_cleanly(e: &str) {
    let rt = runtime(3);
    let src = r#"
        const ia = new Int32Array(new SharedArrayBuffer(8));
        const ping = (ia, me, other) => {
            for (;;) { Atomics.wait(ia, 0, other); Atomics.store(ia, 0, me); Atomics.notify(ia, 0); }
        };
        hz.spawn(ping, ia, 1, 0);
        hz.spawn(ping, ia, 0, 1);
    "#;
    let main = rt.spawn_on(e, AgentSpec::script("main.js", src)).unwrap();
    // Its children never end, so neither does its join.
    assert_eq!(main.join_timeout(Duration::from_millis(100)), None);
    let mut earlier = rt.activity();
    for _ in 0..10 {
        std::thread::sleep(Duration::from_millis(50));
        let now = rt.activity();
        assert!(!now.is_stalled_since(&earlier), "a running ping-pong looks stalled: {now:?} after {earlier:?}");
        earlier = now;
    }
    let t = Instant::now();
    drop(rt);
    assert!(t.elapsed() < Duration::from_secs(20), "dropping the runtime took {:?}", t.elapsed());
}

pub(crate) fn blocked_waiters_hand_off_their_threads(e: &str) {
    // Two worker threads, eight agents blocked in Atomics.wait one after
    // the other, then a ninth that wakes them one at a time. Without the
    // hand-off the second blocked agent would freeze the coordinator.
    //
    // A pinned engine's agent cannot leave its home thread, so one blocked
    // there holds every agent homed with it (a gap of pinned engines): for
    // them the runtime has a thread per agent, and the check is that
    // placement never homes an agent with a blocked one.
    let pinned = !runtime(1).engine_migratable(e).expect("a built engine");
    let rt = runtime(if pinned { 10 } else { 2 });
    let ctl = rt.channel(0);
    let spec = AgentSpec::function(
        r#"async (ctl) => {
            const ia = new Int32Array(new SharedArrayBuffer(64));
            const waiters = [];
            for await (const id of ctl) {
                waiters.push(hz.spawn((ia, id) => {
                    const r = Atomics.wait(ia, 0, 0);
                    const k = Atomics.add(ia, 1, 1);
                    Atomics.store(ia, 2 + k, id);
                    return [r, id];
                }, ia, id));
            }
            const notifier = hz.spawn(async (ia) => {
                const counts = [];
                for (let i = 0; i < 8; i++) {
                    counts.push(Atomics.notify(ia, 0, 1));
                    while (Atomics.load(ia, 1) <= i) await new Promise((r) => setTimeout(r, 1));
                }
                return counts;
            }, ia);
            const counts = await notifier.join();
            const results = [];
            for (const w of waiters) results.push(await w.join());
            return [counts, results, Array.from(ia.subarray(2, 10)), Atomics.notify(ia, 0)];
        }"#,
    )
    .args(vec![ctl.to_value()])
    .unwrap();
    let coordinator = rt.spawn_on(e, spec).unwrap();
    for id in 0..8 {
        ctl.send(&Value::Number(id as f64)).unwrap();
        // Each waiter is asleep in the futex before the next is spawned, so
        // the wake order below is the queue order.
        eventually(&format!("waiter {id} to block"), || rt.activity().blocked == id + 1);
    }
    assert!(rt.activity().running >= 8, "eight agents blocked at once on {} worker threads", rt.threads());
    ctl.close().unwrap();
    let out = coordinator.join().unwrap().to_json().unwrap().to_string();
    assert_eq!(
        out,
        r#"[[1,1,1,1,1,1,1,1],[["ok",0],["ok",1],["ok",2],["ok",3],["ok",4],["ok",5],["ok",6],["ok",7]],[0,1,2,3,4,5,6,7],0]"#
    );
    assert_eq!(rt.activity().blocked, 0);
}

pub(crate) fn agents_busy_waiting_on_another_do_not_starve_it(e: &str) {
    // Two agents busy-wait with Atomics.load (no Atomics.wait, so no
    // hand-off before a block) until the main agent stores a flag; they
    // hold both workers, and the main agent's timer comes due after they
    // started. The scheduler's monitor sees their long turns with an agent
    // waiting and gives a worker slot to a new thread, which runs it.
    //
    // A pinned engine's agent cannot leave its home thread (a gap of pinned
    // engines): there the spinner homed with the main agent holds it, gives
    // up after its one second, and only then does the main agent run.
    let pinned = !runtime(1).engine_migratable(e).expect("a built engine");
    let out = json(
        e,
        r#"(async () => {
            const ia = new Int32Array(new SharedArrayBuffer(8));
            const spin = (ia) => {
                const end = Date.now() + 1000;
                while (Atomics.load(ia, 0) === 0) if (Date.now() > end) return 'gave up';
                return 'saw it';
            };
            const a = hz.spawn(spin, ia), b = hz.spawn(spin, ia);
            await new Promise((r) => setTimeout(r, 20));
            Atomics.store(ia, 0, 1);
            return [await a.join(), await b.join()];
        })()"#,
    );
    if pinned {
        assert!(out.contains("gave up"), "{out}");
    } else {
        assert_eq!(out, r#"["saw it","saw it"]"#);
    }
}

pub(crate) fn atomics_wait_results_and_errors(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            const ia = new Int32Array(new SharedArrayBuffer(16));
            const out = [];
            let t = Date.now();
            out.push(Atomics.wait(ia, 0, 0, 0), Atomics.wait(ia, 0, 0, -5), Atomics.wait(ia, 0, 1));
            out.push(Atomics.wait(ia, 0, 0, 10), Date.now() - t >= 10);
            // NaN and undefined mean forever: a child wakes this agent.
            for (const timeout of [NaN, undefined]) {
                const child = hz.spawn(async (ia) => {
                    while (Atomics.notify(ia, 1, 1) === 0) await new Promise((r) => setTimeout(r, 1));
                }, ia);
                out.push(Atomics.wait(ia, 1, 0, timeout));
                await child.join();
            }
            const big = new BigInt64Array(new SharedArrayBuffer(16));
            out.push(Atomics.wait(big, 1, 0n, 1), Atomics.wait(big, 1, 1n));
            // ECMA-262 order: type, shared, index, value, timeout (HOSTILE 36-39).
            const poison = (name) => ({ valueOf() { throw new EvalError(name); } });
            const errs = [];
            for (const f of [
                () => Atomics.wait(new Int32Array(4), 0, 0, 0),
                () => Atomics.wait(new Uint32Array(new SharedArrayBuffer(8)), 0, 0, 0),
                () => Atomics.wait(new Float64Array(new SharedArrayBuffer(8)), poison('index'), 0),
                () => Atomics.wait(ia, 4, poison('value')),
                () => Atomics.wait(ia, -1, 0),
                () => Atomics.wait(ia, 0, poison('value'), Symbol()),
                () => Atomics.wait(ia, 0, 0, Symbol()),
                () => Atomics.wait(ia, 0, 0, poison('timeout')),
                () => Atomics.wait(ia, 0, 0n),
                () => Atomics.wait(big, 0, 0),
            ]) {
                try { f(); errs.push('no error'); } catch (err) { errs.push(err.name + (err instanceof EvalError ? ':' + err.message : '')); }
            }
            out.push(errs);
            // HOSTILE 42: a valueOf that grows or shrinks the buffer mid-call.
            const gsab = new SharedArrayBuffer(8, { maxByteLength: 64 });
            const gia = new Int32Array(gsab);
            out.push(Atomics.wait(gia, 1, { valueOf() { gsab.grow(64); return 0; } }, 0), gia.length);
            const rab = new ArrayBuffer(16, { maxByteLength: 16 });
            out.push(Atomics.notify(new Int32Array(rab), 3, { valueOf() { rab.resize(0); return 1; } }));
            return out;
        })()"#,
    );
    assert_eq!(
        out,
        r#"["timed-out","timed-out","not-equal","timed-out",true,"ok","ok","timed-out","not-equal",["TypeError","TypeError","TypeError","RangeError","RangeError","EvalError:value","TypeError","EvalError:timeout","TypeError","TypeError"],"timed-out",16,0]"#
    );
}

pub(crate) fn agents_that_cannot_block_throw(e: &str) {
    let rt = runtime(2);
    let spec = AgentSpec::function(
        r#"async () => {
            const ia = new Int32Array(new SharedArrayBuffer(16));
            const errs = [];
            for (const f of [
                () => Atomics.wait(ia, 0, 0),
                () => Atomics.wait(ia, 0, 0, 0),
                // DoWait checks [[CanBlock]] after the coercions.
                () => Atomics.wait(ia, 0, 0, { valueOf() { throw new EvalError('timeout'); } }),
                () => Atomics.wait(ia, 9, 0),
            ]) {
                try { f(); errs.push('no error'); } catch (err) { errs.push(err.name); }
            }
            // waitAsync never blocks, so it still works.
            const r = Atomics.waitAsync(ia, 0, 0, 5);
            errs.push(await r.value);
            // A child of an agent that cannot block cannot block either.
            const child = hz.spawn(() => { try { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1); return 'blocked'; } catch (e) { return e.name; } });
            errs.push(await child.join());
            return errs;
        }"#,
    )
    .can_block(false);
    let out = rt.spawn_on(e, spec).unwrap().join().unwrap().to_json().unwrap().to_string();
    assert_eq!(out, r#"["TypeError","TypeError","EvalError","RangeError","timed-out","TypeError"]"#);
    // From JS: hz.spawn({ fn, canBlock: false }).
    let out = json(
        e,
        r#"hz.spawn({ fn: () => { try { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1); return 'blocked'; } catch (e) { return e.name; } }, canBlock: false }).join()"#,
    );
    assert_eq!(out, r#""TypeError""#);
}

pub(crate) fn terminate_wakes_a_blocked_waiter(e: &str) {
    // One worker thread: the blocked agent hands it off, is terminated, and
    // the runtime goes on running other agents.
    let rt = runtime(1);
    let ready = rt.channel(1);
    let spec = AgentSpec::function(
        r#"async (ready) => {
            const ia = new Int32Array(new SharedArrayBuffer(16));
            await ready.send(ia);
            try { Atomics.wait(ia, 0, 0); } catch (e) { Atomics.store(ia, 1, 1); }
            Atomics.store(ia, 2, 1);
            return 'woke';
        }"#,
    )
    .args(vec![ready.to_value()])
    .unwrap();
    let waiter = rt.spawn_on(e, spec).unwrap();
    let ia = ready.recv().unwrap().expect("the waiter's array");
    eventually("the waiter to block", || rt.activity().blocked == 1);
    let t0 = Instant::now();
    assert!(waiter.terminate());
    assert!(matches!(waiter.join(), Err(JoinError::Terminated)));
    assert!(t0.elapsed() < Duration::from_secs(2), "terminate ends a blocked wait promptly: {:?}", t0.elapsed());
    assert_eq!(rt.activity().blocked, 0);
    // The catch and the code after the wait never ran; the runtime is usable.
    let spec =
        AgentSpec::function("(ia) => [Atomics.load(ia, 1), Atomics.load(ia, 2), hz.threads]").args(vec![ia]).unwrap();
    let out = rt.spawn_on(e, spec).unwrap().join().unwrap().to_json().unwrap().to_string();
    assert_eq!(out, "[0,0,1]");
}

pub(crate) fn growable_sab_growth_is_seen_by_other_agents(e: &str) {
    if !growable_sab_travels(e) {
        let out = json(
            e,
            r#"(async () => {
                const sab = new SharedArrayBuffer(8, { maxByteLength: 64 });
                try { hz.spawn((s) => s.byteLength, sab); return 'sent'; } catch (err) { return [err.name, sab.grow(16), sab.byteLength]; }
            })()"#,
        );
        assert_eq!(out, r#"["DataCloneError",null,16]"#, "the growable SAB gap on {e}");
        return;
    }
    let out = json(
        e,
        r#"(async () => {
            const sab = new SharedArrayBuffer(8, { maxByteLength: 64 });
            const tracking = new Uint8Array(sab);
            // Another agent grows it and writes past the old end.
            const grown = await hz.spawn((sab) => { sab.grow(32); new Uint8Array(sab)[20] = 7; return sab.byteLength; }, sab).join();
            const seen = [grown, sab.byteLength, tracking.length, tracking[20]];
            // Growing below the shared length is a RangeError here too, though
            // this agent did not do the growing; so are past-max and negative.
            const errs = [];
            for (const f of [() => sab.grow(16), () => sab.grow(65), () => sab.grow(-1),
                () => SharedArrayBuffer.prototype.grow.call(new SharedArrayBuffer(4), 8),
                () => SharedArrayBuffer.prototype.grow.call(new ArrayBuffer(4, { maxByteLength: 8 }), 8)]) {
                try { f(); errs.push('no error'); } catch (err) { errs.push(err.name); }
            }
            // Two agents growing at once: the largest wins, nobody shrinks it.
            const racers = [40, 48].map((n) => hz.spawn((sab, n) => { try { sab.grow(n); return 'grew'; } catch (err) { return err.name; } }, sab, n));
            const raced = [];
            for (const r of racers) raced.push(await r.join());
            const c = structuredClone(sab);
            const d = Object.getOwnPropertyDescriptor(SharedArrayBuffer.prototype, 'byteLength');
            return [seen, errs, sab.grow(48), sab.byteLength, raced.sort(), c.byteLength, c.growable, d.get.name];
        })()"#,
    );
    // The racers: 48 always succeeds; 40 succeeds if it ran first, else it
    // would shrink the buffer and is a RangeError.
    let ok = [
        r#"[[32,32,32,7],["RangeError","RangeError","RangeError","TypeError","TypeError"],null,48,["grew","grew"],48,true,"get byteLength"]"#,
        r#"[[32,32,32,7],["RangeError","RangeError","RangeError","TypeError","TypeError"],null,48,["RangeError","grew"],48,true,"get byteLength"]"#,
    ];
    assert!(ok.contains(&out.as_str()), "{out}");
}

pub(crate) fn realms_have_their_own_intrinsics_and_share_the_futex(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            const g = hz.createRealm();
            const own = [g !== globalThis, g.Array !== Array, g.Object.prototype !== Object.prototype,
                typeof g.hz, g.eval('typeof hz'), g.eval('var x = 6 * 7; x'), g.x, typeof globalThis.x];
            // An object of that realm has that realm's prototypes; instanceof
            // across realms is false, as in browsers and Node's vm.
            const arr = g.eval('[1, 2]');
            // A constructor of that realm without a prototype object gives
            // that realm's intrinsic (GetPrototypeFromConstructor).
            const realmFn = new g.Function();
            realmFn.prototype = null;
            const cross = [Array.isArray(arr), arr instanceof Array, arr instanceof g.Array,
                Object.getPrototypeOf(Reflect.construct(ArrayBuffer, [8], realmFn)) === g.ArrayBuffer.prototype];
            // Its Atomics work on the runtime's futex: a child agent wakes a
            // waiter of the other realm, over a SharedArrayBuffer made there.
            const sab = new g.SharedArrayBuffer(8);
            const ia = new g.Int32Array(sab);
            const child = hz.spawn((sab) => {
                const ia = new Int32Array(sab);
                while (Atomics.load(ia, 1) === 0) {}
                let n = 0;
                while (n === 0) n = Atomics.notify(ia, 0, 1);
                return n;
            }, sab);
            Atomics.store(ia, 1, 1);
            const woke = g.Atomics.wait(ia, 0, 0, 10000);
            const notified = await child.join();
            // Growth through one realm's SharedArrayBuffer is seen by an agent's.
            const gs = new g.SharedArrayBuffer(4, { maxByteLength: 16 });
            let grown;
            try { await hz.spawn((s) => s.grow(12), gs).join(); grown = gs.byteLength; } catch (err) { grown = err.name; }
            // Cycles between realms, and many realms, are freed with the agent
            // (QuickJS asserts its heap is empty at teardown).
            for (let i = 0; i < 200; i++) {
                const r = hz.createRealm();
                r.self = r; r.back = globalThis; r.fn = () => r;
                globalThis['keep' + (i % 3)] = r.eval('({ f() { return this; } })');
            }
            hz.gc();
            return [own, cross, woke, notified, grown];
        })()"#,
    );
    let grown = if growable_sab_travels(e) { "12" } else { r#""DataCloneError""# };
    assert_eq!(
        out,
        format!(
            r#"[[true,true,true,"undefined","undefined",42,42,"undefined"],[true,false,true,true],"ok",1,{grown}]"#
        )
    );
}

/// JavaScript for the lineage tests: `spawnLineage(ia, parentEnd)` spawns a
/// parent that spawns a child, which spawns a grandchild; child and
/// grandchild count themselves in `ia[0]` and block forever in
/// `Atomics.wait` (on `ia[2]` and `ia[1]`). The parent then ends as
/// `parentEnd` says. `waiters(ia)` counts how many are still blocked (it
/// wakes them, so it is the last check).
const LINEAGE: &str = r#"
    const spawnLineage = (ia, parentEnd) => hz.spawn((ia, parentEnd) => {
        hz.spawn((ia) => {
            hz.spawn((ia) => { Atomics.add(ia, 0, 1); Atomics.wait(ia, 1, 0); }, ia);
            Atomics.add(ia, 0, 1);
            Atomics.wait(ia, 2, 0);
        }, ia);
        if (parentEnd === 'throw') {
            return new Promise((_, reject) => {
                const tick = () => Atomics.load(ia, 0) < 2 ? setTimeout(tick, 2) : reject(new TypeError('parent failed'));
                tick();
            });
        }
        if (parentEnd === 'return') {
            return new Promise((resolve) => {
                const tick = () => Atomics.load(ia, 0) < 2 ? setTimeout(tick, 2) : resolve('parent done');
                tick();
            });
        }
        return new Promise(() => {}); // 'hang': until terminated
    }, ia, parentEnd);
    const bothBlocked = async (ia) => {
        while (Atomics.load(ia, 0) < 2) await new Promise((r) => setTimeout(r, 2));
        // Counted just before blocking: give them the moment to block.
        await new Promise((r) => setTimeout(r, 20));
    };
    const waiters = (ia) => Atomics.notify(ia, 1) + Atomics.notify(ia, 2);
"#;

fn lineage(e: &str, body: &str) -> String {
    // One thread per agent that may block (pinned engines hold theirs).
    match run_on(&runtime(4), e, &format!("{LINEAGE}\n{body}")) {
        Ok(v) => v.to_json().expect("JSON-compatible result").to_string(),
        Err(err) => panic!("script failed: {err:?}"),
    }
}

/// HOSTILE 30: a parent that is terminated terminates its descendants (a
/// grandchild blocked forever in `Atomics.wait` included), and its join
/// settles only once they have ended.
pub(crate) fn terminating_a_parent_ends_its_descendants_first(e: &str) {
    let out = lineage(
        e,
        r#"(async () => {
            const ia = new Int32Array(new SharedArrayBuffer(16));
            const parent = spawnLineage(ia, 'hang');
            await bothBlocked(ia);
            const terminated = parent.terminate();
            const err = await parent.join().then(() => 'resolved', (e) => e.message);
            return [terminated, err, waiters(ia), parent.terminate()];
        })()"#,
    );
    assert_eq!(out, r#"[true,"agent was terminated",0,false]"#);
}

/// A parent that fails takes its descendants with it; its join rejects
/// with its own error once they have ended.
pub(crate) fn a_failing_parent_ends_its_descendants_first(e: &str) {
    let out = lineage(
        e,
        r#"(async () => {
            const ia = new Int32Array(new SharedArrayBuffer(16));
            const parent = spawnLineage(ia, 'throw');
            const err = await parent.join().then(() => 'resolved', (e) => e.name + ': ' + e.message);
            return [err, waiters(ia)];
        })()"#,
    );
    assert_eq!(out, r#"["TypeError: parent failed",0]"#);
}

/// A parent that completes joins its children before its own join
/// settles (as a nested Node worker keeps its parent alive): they run on,
/// blocked in `Atomics.wait` here, and its join waits for their end.
pub(crate) fn a_completed_parent_joins_its_children_first(e: &str) {
    let out = lineage(
        e,
        r#"(async () => {
            const ia = new Int32Array(new SharedArrayBuffer(16));
            const parent = spawnLineage(ia, 'return');
            await bothBlocked(ia);
            let settled = false;
            parent.join().then(() => { settled = true; });
            await new Promise((r) => setTimeout(r, 30));
            const early = settled;
            const woken = waiters(ia);
            const result = await parent.join();
            return [early, woken, result, settled];
        })()"#,
    );
    assert_eq!(out, r#"[false,2,"parent done",true]"#);
}

/// Joining twice gives the same result (the core forgets a joined child;
/// the handle keeps its join), and terminating an ended agent is false.
pub(crate) fn join_twice_and_terminate_after_the_end(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            const ok = hz.spawn(() => 5);
            const bad = hz.spawn(() => { throw new RangeError('no'); });
            const a = await ok.join(), b = await ok.join();
            const c = await bad.join().catch((e) => e.name), d = await bad.join().catch((e) => e.name);
            return [a, b, c, d, ok.terminate(), bad.terminate(), ok.join() === ok.join()];
        })()"#,
    );
    assert_eq!(out, r#"[5,5,"RangeError","RangeError",false,false,true]"#);
}

/// A turn past its `turnMs` ends the agent alone, uncatchably, with a
/// LimitError at join; the spawner goes on.
pub(crate) fn turn_limit_ends_a_runaway_turn(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            const h = hz.spawn({ fn: () => { try { for (;;) {} } catch { return 'caught'; } }, limits: { turnMs: 50 } });
            const err = await h.join().then((v) => 'resolved ' + v,
                (e) => [e.name, e.message, e instanceof hz.LimitError, e instanceof RangeError]);
            const after = await hz.spawn(() => 'next').join();
            return [err, after];
        })()"#,
    );
    assert_eq!(out, r#"[["LimitError","the agent's turn ran past its limit of 50 ms",true,true],"next"]"#);
}

/// `cpuMs` counts the time of every turn: many short turns end the agent
/// too. Time blocked in `Atomics.wait` is not run time.
pub(crate) fn cpu_limit_counts_every_turn_but_not_waits(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            const ia = new Int32Array(new SharedArrayBuffer(8));
            const busy = hz.spawn({ fn: (ia) => new Promise(() => {
                const burn = () => {
                    const end = performance.now() + 5;
                    while (performance.now() < end) {}
                    Atomics.add(ia, 0, 1);
                    setTimeout(burn, 0);
                };
                burn();
            }), limits: { cpuMs: 100, turnMs: 1000 } }, ia);
            const err = await busy.join().catch((e) => e.name + ': ' + e.message);
            const turns = Atomics.load(ia, 0);
            const sleeper = hz.spawn({ fn: (ia) => Atomics.wait(ia, 1, 0, 300), limits: { cpuMs: 100, turnMs: 100 } }, ia);
            return [err, turns >= 5 && turns <= 40 ? 'several turns' : turns, await sleeper.join()];
        })()"#,
    );
    assert_eq!(out, r#"["LimitError: the agent ran past its CPU time limit of 100 ms","several turns","timed-out"]"#);
}

/// A child's limits are at most its parent's; bad limits are TypeError or
/// RangeError at spawn. (The parent's own turns must fit its limit too: a
/// debug build's Boa, on a loaded machine, once took over 50 ms for the
/// parent's first turn, so the limit is 300 ms.)
pub(crate) fn limits_are_inherited_and_checked(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            const parent = hz.spawn({ fn: async () => {
                const child = hz.spawn({ fn: () => { for (;;) {} }, limits: { turnMs: 10000 } });
                return await child.join().catch((e) => e.message);
            }, limits: { turnMs: 300 } });
            const inherited = await parent.join();
            const bad = [];
            for (const limits of [5, null, { cpuMs: -1 }, { heapBytes: 'lots' }]) {
                try { hz.spawn({ fn: () => 1, limits }); bad.push('spawned'); } catch (e) { bad.push(e.name); }
            }
            return [inherited, bad];
        })()"#,
    );
    assert_eq!(
        out,
        r#"["the agent's turn ran past its limit of 300 ms",["TypeError","TypeError","RangeError","RangeError"]]"#
    );
}

/// Known engine gaps in limits, as data (spawn refuses them: a limit asked
/// for is never ignored).
/// - boa: no per-context heap account (Boa allocates from the process's
///   Rust heap), and recursion is limited by depth, not bytes.
fn enforces_heap_limit(e: &str) -> bool {
    e != "boa"
}
fn enforces_stack_limit(e: &str) -> bool {
    e != "boa"
}

/// HOSTILE 32: an agent past its heap limit ends alone (uncatchably, even
/// allocating inside try/catch) with a LimitError; the others go on.
pub(crate) fn heap_limit_ends_only_that_agent(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            let h;
            try {
                h = hz.spawn({ fn: () => {
                    const keep = [];
                    for (;;) { try { keep.push(new Array(4096).fill(keep.length)); } catch {} }
                }, limits: { heapBytes: 48 << 20 } });
            } catch (e) {
                return ['refused', e.name, e.message];
            }
            const err = await h.join().then(() => 'resolved', (e) => [e.name, e.message]);
            return [err, await hz.spawn(() => 'next').join()];
        })()"#,
    );
    if enforces_heap_limit(e) {
        assert_eq!(out, r#"[["LimitError","the agent's heap reached its limit of 50331648 bytes"],"next"]"#);
    } else {
        assert!(out.starts_with(r#"["refused","TypeError","not supported: limits.heapBytes"#), "{out}");
    }
}

/// The heap limit counts ArrayBuffer and SharedArrayBuffer memory: what
/// the agent allocates, shared memory it is sent (in full, in every agent
/// holding it), buffers transferred to it and copies. Past it, only that agent
/// ends; under it, the same buffers are fine.
pub(crate) fn heap_limit_counts_buffers_and_shared_memory(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            const limits = { heapBytes: 24 << 20 };
            const end = (h) => h.join().then((v) => 'kept ' + v, (e) => e.name);
            const allocate = (make) => hz.spawn({ fn: (make) => {
                const keep = [];
                for (let i = 0; i < 6; i++) keep.push(make === 'sab' ? new SharedArrayBuffer(8 << 20) : new ArrayBuffer(8 << 20));
                return keep.length;
            }, args: [make], limits });
            const receive = (n, make, transfer) => {
                const ch = hz.channel(8);
                const h = hz.spawn({ fn: async (ch, n) => {
                    const keep = [];
                    for (let i = 0; i < n; i++) keep.push(await ch.recv());
                    return keep.length;
                }, args: [ch, n], limits });
                // The channel has room: each send completes at once.
                for (let i = 0; i < n; i++) {
                    const b = make();
                    ch.send(b, transfer ? { transfer: [b] } : undefined);
                }
                return h;
            };
            let probe;
            try { probe = hz.spawn({ fn: () => 0, limits }); } catch (e) { return ['refused', e.name]; }
            await probe.join();
            const shared = new SharedArrayBuffer(8 << 20);
            return [
                await end(allocate('sab')),
                await end(allocate('ab')),
                await end(receive(6, () => shared, false)),
                await end(receive(6, () => new ArrayBuffer(8 << 20), true)),
                await end(receive(2, () => shared, false)),
                await end(receive(2, () => new ArrayBuffer(8 << 20), true)),
                await end(receive(6, () => new ArrayBuffer(8 << 20), false)),
                await end(receive(2, () => new ArrayBuffer(8 << 20), false)),
                await hz.spawn(() => 'next').join(),
            ];
        })()"#,
    );
    if enforces_heap_limit(e) {
        assert_eq!(
            out,
            r#"["LimitError","LimitError","LimitError","LimitError","kept 2","kept 2","LimitError","kept 2","next"]"#
        );
    } else {
        assert_eq!(out, r#"["refused","TypeError"]"#);
    }
}

/// Copies of buffers sent past an agent's heap limit end that agent with
/// a LimitError, every time, and nothing else (V8's ArrayBuffer::New, which
/// hz's decoder used to call, aborts the process when the allocator
/// refuses; it did so in about one run in five of this loop).
pub(crate) fn copies_past_the_heap_limit_end_only_that_agent(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            const results = new Set();
            for (let k = 0; k < 12; k++) {
                const ch = hz.channel(8);
                let h;
                try {
                    h = hz.spawn({ fn: async (ch) => {
                        const keep = [];
                        for (;;) keep.push(await ch.recv());
                    }, args: [ch], limits: { heapBytes: 24 << 20 } });
                } catch (e) {
                    return ['refused', e.name];
                }
                for (let i = 0; i < 6; i++) ch.send(new ArrayBuffer(8 << 20));
                results.add(await h.join().then(() => 'resolved', (e) => e.name));
            }
            return [...results, await hz.spawn(() => 'next').join()];
        })()"#,
    );
    if enforces_heap_limit(e) {
        assert_eq!(out, r#"["LimitError","next"]"#);
    } else {
        assert_eq!(out, r#"["refused","TypeError"]"#);
    }
}

/// `stackBytes` makes runaway recursion a RangeError sooner; it stays a
/// RangeError the agent can catch, never a crash.
pub(crate) fn stack_limit_makes_recursion_a_range_error_sooner(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            const probe = () => {
                let n = 0;
                const f = () => { n++; f(); };
                try { f(); } catch (e) { return [e.name, n]; }
            };
            let limited;
            try {
                limited = await hz.spawn({ fn: probe, limits: { stackBytes: 64 << 10 } }).join();
            } catch (e) {
                return ['refused', e.name];
            }
            const free = await hz.spawn(probe).join();
            // More than the thread can give is capped, never a crash.
            const huge = await hz.spawn({ fn: probe, limits: { stackBytes: 2 ** 40 } }).join();
            return [free[0], limited[0], limited[1] * 4 < free[1] ? 'shallower' : [limited[1], free[1]], huge[0]];
        })()"#,
    );
    if enforces_stack_limit(e) {
        assert_eq!(out, r#"["RangeError","RangeError","shallower","RangeError"]"#);
    } else {
        assert_eq!(out, r#"["refused","TypeError"]"#);
    }
}

/// HOSTILE 35: agents move between threads from turn to turn (M:N), and
/// their engine's stack bounds move with them (QuickJS's stack top, V8's
/// per-thread stack limit): runaway recursion is a RangeError at a sane
/// depth on every turn, on whichever thread it runs, never a crash.
pub(crate) fn recursion_is_bounded_on_every_thread(e: &str) {
    let limits = if enforces_stack_limit(e) { "{ stackBytes: 256 << 10 }" } else { "{}" };
    let out = json(
        e,
        &format!(
            r#"(async () => {{
            const probe = async (turns) => {{
                const depths = [];
                for (let t = 0; t < turns; t++) {{
                    let n = 0;
                    const f = () => {{ n++; f(); }};
                    try {{ f(); }} catch (e) {{ if (!(e instanceof RangeError)) throw e; }}
                    depths.push(n);
                    await new Promise((r) => setTimeout(r, t % 3));
                }}
                return Math.min(...depths) >= 100 ? 'bounded' : depths;
            }};
            const agents = [];
            for (let i = 0; i < 4; i++) agents.push(hz.spawn({{ fn: probe, args: [25], limits: {limits} }}));
            return Promise.all(agents.map((a) => a.join().catch((e) => 'uncaught ' + e.name)));
        }})()"#
        ),
    );
    if catches_stack_overflow(e) {
        assert_eq!(out, r#"["bounded","bounded","bounded","bounded"]"#);
    } else {
        assert_eq!(out, r#"["uncaught RangeError","uncaught RangeError","uncaught RangeError","uncaught RangeError"]"#);
    }
}

/// A gap, as data: Boa 0.22 raises its "Maximum call stack size exceeded"
/// RangeError as a runtime-limit error JS cannot catch, so runaway
/// recursion ends a Boa agent with that RangeError (never a crash).
fn catches_stack_overflow(e: &str) -> bool {
    e != "boa"
}

/// `closeOnEnd`: a channel an agent owns is closed when it ends, however
/// it ends, so its peers are told instead of waiting for it: a receiver
/// drains what it sent and then sees the end, a sender waiting for it gets
/// a closed-channel error. Checked on completion, termination and failure.
pub(crate) fn close_on_end_tells_the_peers_of_an_ended_agent(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            const drain = async (ch) => { const got = []; for await (const v of ch) got.push(v); return got; };
            const a = hz.channel(8);
            const ha = hz.spawn({ fn: async (ch) => { await ch.send(1); await ch.send(2); return 'done'; }, args: [a], closeOnEnd: [a] });
            const completed = [await drain(a), await ha.join()];

            const b = hz.channel(0);
            // Two sends, then a receive nobody answers: it is alive and
            // blocked when terminated, and at most one value (a send
            // under way) can still reach the drain, however the threads
            // interleave. (An endless send loop raced the terminate: a
            // receiver draining on another thread could take several
            // values before the interrupt landed.)
            const hb = hz.spawn({ fn: async (ch) => { await ch.send(0); await ch.send(1); await hz.channel(0).recv(); }, args: [b], closeOnEnd: [b] });
            const first = (await b.recv()).value;
            hb.terminate();
            const rest = await drain(b);
            const terminated = [first, rest.length <= 1, await hb.join().catch((e) => e.message)];

            const c = hz.channel(0);
            const hc = hz.spawn({ fn: async (ch) => { await ch.recv(); throw new TypeError('bad input'); }, args: [c], closeOnEnd: [c] });
            await c.send('x');
            const second = await c.send('y').then(() => 'sent', (e) => e.message);
            const failed = [second, await hc.join().catch((e) => e.name)];

            const bad = [];
            for (const closeOnEnd of ['x', [5], [{}]]) {
                try { hz.spawn({ fn: () => 1, closeOnEnd }); bad.push('spawned'); } catch (e) { bad.push(e.name); }
            }
            return [completed, terminated, failed, bad];
        })()"#,
    );
    assert_eq!(
        out,
        r#"[[[1,2],"done"],[0,true,"agent was terminated"],["send on a closed channel","TypeError"],["TypeError","TypeError","TypeError"]]"#
    );
}

/// The Web Worker API over hz agents: a round trip with a transferred
/// buffer, an error in the worker as an `error` event (message, location),
/// `close()` from inside, postMessage to a terminated worker dropped, and
/// an uncloneable message a DataCloneError at the call.
pub(crate) fn worker_round_trip_errors_and_close(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            const w = new Worker({ source: `
                self.onmessage = (e) => {
                    const { n, buf } = e.data;
                    postMessage({ got: n * 2, len: buf.byteLength, self: self === globalThis, name }, [buf]);
                };` }, { name: 'echo' });
            const buf = new ArrayBuffer(8);
            const reply = new Promise((resolve) => { w.onmessage = (e) => resolve([e.data, e.data.buf === undefined, e instanceof MessageEvent, e.target === w]); });
            w.postMessage({ n: 21, buf }, [buf]);
            const detached = buf.byteLength;
            const [data, , isMessageEvent, target] = await reply;
            let cloneError;
            try { w.postMessage(() => 1); } catch (err) { cloneError = err.name; }
            w.terminate();
            w.postMessage('to a terminated worker: dropped');

            const bad = new Worker({ source: 'function fail() {\n  throw new TypeError("bad worker");\n}\nfail();' }, { name: 'bad.js' });
            const ev = await new Promise((resolve) => bad.addEventListener('error', (e) => { e.preventDefault(); resolve(e); }));

            const closing = new Worker({ source: 'postMessage("bye"); close();' });
            const got = [];
            await new Promise((resolve) => { closing.onmessage = (e) => { got.push(e.data); resolve(); }; });
            await new Promise((resolve) => setTimeout(resolve, 20));

            return [detached, data.got, data.len, data.self, data.name, isMessageEvent, target, cloneError,
                ev instanceof ErrorEvent, ev.message, ev.filename, ev.lineno, ev.error.name, got];
        })()"#,
    );
    assert_eq!(
        out,
        r#"[0,42,8,true,"echo",true,true,"DataCloneError",true,"Uncaught TypeError: bad worker","bad.js",2,"TypeError",["bye"]]"#
    );
}

/// A module worker loads its imports relative to its own file.
pub(crate) fn module_worker_imports_relative_modules(e: &str) {
    let scratch = Scratch::new(&format!("worker-{e}"));
    let dir = scratch.path();
    std::fs::create_dir_all(dir.join("lib")).unwrap();
    std::fs::write(dir.join("lib/double.mjs"), "export const double = (n) => n * 2;\n").unwrap();
    std::fs::write(
        dir.join("worker.mjs"),
        "import { double } from './lib/double.mjs';\nself.onmessage = (e) => postMessage(double(e.data));\n",
    )
    .unwrap();
    let path = dir.join("worker.mjs");
    let out = json(
        e,
        &format!(
            r#"(async () => {{
                const w = new Worker({path:?}, {{ type: 'module' }});
                const got = new Promise((resolve) => w.addEventListener('message', (e) => resolve(e.data), {{ once: true }}));
                w.postMessage(21);
                const v = await got;
                w.terminate();
                let classic;
                try {{ new Worker({path:?}); }} catch (err) {{ classic = err.name; }}
                return [v, classic];
            }})()"#,
            path = path.to_str().unwrap()
        ),
    );
    assert_eq!(out, r#"[42,"TypeError"]"#);
}

/// A MessageChannel's ports, each transferred to another worker, talk
/// to each other; a port already receiving here, transferred with
/// messages on their way to it, hands every one to its new owner, in
/// order; a port in its own or a repeated transfer list is a DataCloneError.
pub(crate) fn message_port_transferred_to_a_third_agent_then_used(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            const reply = (w) => new Promise((resolve) => { w.onmessage = (e) => resolve(e.data); });
            const a = new Worker({ source: `
                self.onmessage = (e) => {
                    const p = e.data.port;
                    p.onmessage = (m) => { postMessage([m.data, p === e.ports[0], m.target === p]); p.close(); close(); };
                    p.postMessage('hello from A');
                };` });
            const b = new Worker({ source: `
                self.onmessage = (e) => {
                    const p = e.ports[0];
                    p.onmessage = (m) => { p.postMessage(m.data + ', echoed by B'); p.close(); close(); };
                };` });
            const { port1, port2 } = new MessageChannel();
            const fromA = reply(a);
            a.postMessage({ port: port1, note: 'yours' }, [port1]);
            b.postMessage(null, [port2]);
            const aGot = await fromA;

            // A started port, transferred with messages already on their way.
            const c = new Worker({ source: `
                self.onmessage = (e) => {
                    const got = [];
                    e.ports[0].onmessage = (m) => {
                        got.push(m.data);
                        if (got.length === 5) { postMessage(got); e.ports[0].close(); close(); }
                    };
                };` });
            const mc = new MessageChannel();
            let heardHere = 0;
            mc.port1.onmessage = () => { heardHere++; };
            for (let i = 1; i <= 5; i++) mc.port2.postMessage(i);
            const fromC = reply(c);
            c.postMessage('take it', [mc.port1]);
            const cGot = await fromC;

            const errors = [];
            const other = new MessageChannel();
            for (const [what, f] of [
                ['itself', () => other.port1.postMessage(1, [other.port1])],
                ['twice', () => b.postMessage(1, [other.port2, other.port2])],
                ['moved', () => c.postMessage(1, [mc.port1])],
                ['not in the transfer list', () => b.postMessage({ p: other.port2 })],
                ['a worker', () => structuredClone({ w: b })],
            ]) {
                try { f(); errors.push(what + ': no error'); } catch (err) { errors.push(what + ': ' + err.name); }
            }
            other.port1.close();
            return [aGot, cGot, heardHere, errors];
        })()"#,
    );
    assert_eq!(
        out,
        r#"[["hello from A, echoed by B",true,true],[1,2,3,4,5],0,["itself: DataCloneError","twice: DataCloneError","moved: DataCloneError","not in the transfer list: DataCloneError","a worker: DataCloneError"]]"#
    );
}

/// A port whose holder ends without closing it is closed with it: the
/// entangled port, once started, gets a 'close' event (as in HTML and Node) instead of
/// waiting forever, and posting to it drops the message. A port the ended
/// agent had passed on is not closed; one closed by its peer gets the
/// event too.
pub(crate) fn message_port_closes_when_its_holder_ends(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            const closed = (p) => new Promise((resolve) => { p.onclose = (ev) => resolve([ev.type, ev.target === p]); });
            // The worker takes the port, says hello, and ends without closing it.
            const { port1, port2 } = new MessageChannel();
            const got = [];
            port1.onmessage = (m) => got.push(m.data);
            const ended = closed(port1);
            const w = new Worker({ source: `self.onmessage = (e) => { e.ports[0].postMessage('hi'); close(); };` });
            w.postMessage(null, [port2]);
            const event = await ended;
            port1.postMessage('to nobody');

            // A relay hands its port back before it ends: the port stays open.
            const mc = new MessageChannel();
            const relay = new Worker({ source: `self.onmessage = (e) => { postMessage('back', [e.ports[0]]); close(); };` });
            const back = await new Promise((resolve) => {
                relay.onmessage = (e) => resolve(e.ports[0]);
                relay.postMessage(null, [mc.port2]);
            });
            await new Promise((r) => setTimeout(r, 50));
            const echo = new Promise((resolve) => { back.onmessage = (m) => resolve(m.data); });
            mc.port1.postMessage('still open');
            const stillOpen = await echo;
            back.close();

            // Closed by its peer, here.
            const local = new MessageChannel();
            const peerClosed = closed(local.port1);
            local.port1.start();
            local.port2.close();
            return [got, event, stillOpen, await peerClosed];
        })()"#,
    );
    assert_eq!(out, r#"[["hi"],["close",true],"still open",["close",true]]"#);
}

/// A BroadcastChannel message reaches every other object of its name, in
/// workers and in the sender's own agent, but not the sender; after
/// close() nothing arrives and posting is an InvalidStateError.
pub(crate) fn broadcast_channel_reaches_every_listener(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            const listener = `
                const bc = new BroadcastChannel('news');
                bc.onmessage = (e) => { postMessage([name, e.data]); bc.close(); close(); };
                postMessage('ready');`;
            const got = [];
            let done;
            const all = new Promise((resolve) => { done = resolve; });
            let ready = 0, readyAll;
            const allReady = new Promise((resolve) => { readyAll = resolve; });
            for (const name of ['w1', 'w2']) {
                const w = new Worker({ source: listener }, { name });
                w.onmessage = (e) => {
                    if (e.data === 'ready') { if (++ready === 2) readyAll(); return; }
                    got.push(e.data);
                    if (got.length === 2) done();
                };
            }
            await allReady;
            const bc = new BroadcastChannel('news');
            const here = new BroadcastChannel('news');
            const elsewhere = new BroadcastChannel('sports');
            let self = 0, other = [], wrongName = 0;
            bc.onmessage = () => { self++; };
            here.addEventListener('message', (e) => other.push(e.data));
            elsewhere.onmessage = () => { wrongName++; };
            let cloneError;
            try { bc.postMessage(() => 1); } catch (err) { cloneError = err.name; }
            bc.postMessage({ n: 1 });
            await all;
            await new Promise((resolve) => setTimeout(resolve, 20));
            here.close();
            bc.postMessage('after close of the listener');
            await new Promise((resolve) => setTimeout(resolve, 20));
            bc.close();
            elsewhere.close();
            let closedError;
            try { bc.postMessage(1); } catch (err) { closedError = err.name; }
            got.sort((x, y) => (x[0] < y[0] ? -1 : 1));
            return [got, self, other, wrongName, cloneError, closedError, bc.name];
        })()"#,
    );
    assert_eq!(out, r#"[[["w1",{"n":1}],["w2",{"n":1}]],0,[{"n":1}],0,"DataCloneError","InvalidStateError","news"]"#);
}

/// HOSTILE 25: terminate with messages queued both ways. What the agent
/// sent before it ended is all delivered; what was sent to it and never
/// received is still in its channel (nothing consumed, nothing lost).
pub(crate) fn terminate_keeps_what_was_sent_both_ways(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            const out = hz.channel(1000), inbox = hz.channel(10);
            const h = hz.spawn((out, inbox) => {
                for (let i = 0; i < 100; i++) out.trySend(i);
                for (;;) {}
            }, out, inbox);
            const first = (await out.recv()).value;
            for (let i = 0; i < 5; i++) await inbox.send('m' + i);
            // Terminate once it has sent all (and is spinning).
            while (out.length < 99) await new Promise((r) => setTimeout(r, 1));
            h.terminate();
            const err = await h.join().catch((e) => e.message);
            const rest = [];
            for (let r = out.tryRecv(); r && !r.done; r = out.tryRecv()) rest.push(r.value);
            const left = [];
            for (let r = inbox.tryRecv(); r && !r.done; r = inbox.tryRecv()) left.push(r.value);
            return [first, rest.length, rest[98], err, left];
        })()"#,
    );
    assert_eq!(out, r#"[0,99,99,"agent was terminated",["m0","m1","m2","m3","m4"]]"#);
}

/// HOSTILE 28: terminate during a module's evaluation (a top-level loop)
/// and during its top-level await: no crash, the join says terminated.
/// Then terminates spinning modules at once or after 1 to 3 ms, and a
/// spinning module of 40,000 lines (Boa parses it for about 0.3 s) after
/// 20, 60 and 120 ms, so that some terminates come as a module is parsed or
/// starts loading (Boa once panicked there), or as its first turn waits
/// for the isolate's lock (V8 once lost those, and the module spun on).
pub(crate) fn terminate_during_module_evaluation(e: &str) {
    let scratch = Scratch::new(&format!("modterm-{e}"));
    let dir = scratch.path();
    std::fs::write(dir.join("spin.js"), "for (;;) {}\nexport default 1;\n").unwrap();
    std::fs::write(dir.join("tla.js"), "await new Promise(() => {});\nexport default 1;\n").unwrap();
    let big = format!("let x = 0;\n{}for (;;) {{}}\nexport default x;\n", "x += 1;\n".repeat(40_000));
    std::fs::write(dir.join("big.js"), big).unwrap();
    let (spin, tla, big) = (dir.join("spin.js"), dir.join("tla.js"), dir.join("big.js"));
    let out = json(
        e,
        &format!(
            r#"(async () => {{
                const a = hz.spawn({{ module: {spin:?} }}), b = hz.spawn({{ module: {tla:?} }});
                await new Promise((r) => setTimeout(r, 50));
                const t = [a.terminate(), b.terminate()];
                const why = (h) => h.join().then(() => 'resolved', (e) => e.message);
                const early = new Set();
                for (let i = 0; i < 15; i++) {{
                    const h = hz.spawn({{ module: i < 12 ? {spin:?} : {big:?} }});
                    const ms = i < 12 ? i % 4 : [20, 60, 120][i - 12];
                    if (ms) await new Promise((r) => setTimeout(r, ms));
                    early.add(h.terminate() + ' ' + await why(h));
                }}
                return [t, await why(a), await why(b), [...early]];
            }})()"#
        ),
    );
    assert_eq!(out, r#"[[true,true],"agent was terminated","agent was terminated",["true agent was terminated"]]"#);
}

/// Errors cross agents as data: a custom error keeps its cloneable own
/// properties (functions are left out; its name becomes "Error", as HTML
/// and HOSTILE 12 say), the cause chain crosses whole, `throw 42` arrives
/// as 42, and hz.LimitError keeps its class through a clone.
pub(crate) fn errors_cross_as_data(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            const thrower = () => {
                class MyErr extends Error {
                    constructor(m) {
                        super(m, { cause: new TypeError('inner', { cause: 42 }) });
                        this.name = 'MyErr'; this.code = 7; this.info = { a: [1, 2] }; this.fn = () => 1;
                    }
                }
                throw new MyErr('outer');
            };
            const e = await hz.spawn(thrower).join().catch((e) => e);
            const c = structuredClone(e);
            const raw = await hz.spawn(() => { throw 42; }).join().catch((v) => v);
            const limit = structuredClone(new hz.LimitError('x'));
            return [e.name, e.message, e.code, e.info, 'fn' in e, e.cause.name, e.cause.message, e.cause.cause,
                e instanceof Error, typeof e.stack, c.name, c.code, raw, limit instanceof hz.LimitError, limit.name];
        })()"#,
    );
    assert_eq!(
        out,
        r#"["Error","outer",7,{"a":[1,2]},false,"TypeError","inner",42,true,"string","Error",7,42,true,"LimitError"]"#
    );
}

/// HOSTILE 26 and 29: terminate racing the start, the join and the end.
/// `terminate()` says true only if it ended the agent (the join then says
/// terminated), false only if the agent had ended (the join has its value).
pub(crate) fn terminate_racing_start_join_and_exit_is_consistent(e: &str) {
    let out = json(
        e,
        r#"(async () => {
            let consistent = 0, terminated = 0, completed = 0;
            const bad = [];
            for (let i = 0; i < 150; i++) {
                const h = hz.spawn(() => 1);
                let said;
                if (i % 3 === 0) said = h.terminate();
                const j = h.join();
                if (i % 3 === 1) said = h.terminate();
                const r = await j.then((v) => v, (e) => e.message);
                if (i % 3 === 2) said = h.terminate();
                const ok = said ? r === 'agent was terminated' : r === 1;
                if (ok) consistent++; else bad.push([i, said, r]);
                if (r === 1) completed++; else terminated++;
                if (h.terminate() !== false) bad.push([i, 'terminate after the end']);
            }
            return [consistent, bad, terminated > 0, completed > 0];
        })()"#,
    );
    assert_eq!(out, r#"[150,[],true,true]"#);
}

/// HOSTILE 34: dropping the runtime under agents with pending promises,
/// `Atomics.waitAsync` tickets, timers and receives cancels them all
/// cleanly and promptly.
pub(crate) fn dispose_with_pending_work_is_clean(e: &str) {
    let rt = runtime(2);
    let src = r#"
        const ia = new Int32Array(new SharedArrayBuffer(8));
        for (let i = 0; i < 4; i++) {
            hz.spawn((ia) => {
                Atomics.waitAsync(ia, 0, 0).value.then(() => {});
                setTimeout(() => {}, 1e9);
                hz.channel().recv();
                new Promise(() => {});
            }, ia);
        }
        'spawned'
    "#;
    let main = rt.spawn_on(e, AgentSpec::script("main.js", src)).unwrap();
    // Its join waits for its children, which wait forever.
    assert_eq!(main.join_timeout(Duration::from_millis(50)), None);
    let t = Instant::now();
    while rt.activity().live < 5 && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(rt.activity().live >= 5, "the agents are still pending: {:?}", rt.activity());
    let t = Instant::now();
    drop(rt);
    assert!(t.elapsed() < Duration::from_secs(10), "dropping the runtime took {:?}", t.elapsed());
}
