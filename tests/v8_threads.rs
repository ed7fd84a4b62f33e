//! V8 agents run whatever thread built their runtime, also after another
//! thread initialised V8. Its own test binary: the first runtime with V8 in
//! a process initialises it, which the `all` binary's tests would do in an
//! unknown order.
//!
//! On CPUs with memory protection keys (x86-64 `pku`), V8's default
//! platform guards memory with a key that only the initialising thread and
//! threads it creates later can use. A runtime built on another thread (a
//! test harness's next test here) started workers without the key, which
//! crashed the process (SIGSEGV) in V8 code. On machines without the
//! feature this passes either way.

use hz::{AgentSpec, Runtime};

/// Workers on V8 and QuickJS, a MessagePort to each and a broadcast to
/// all: values the V8 side builds through V8's API (a Map's entries are set
/// by calling into JavaScript from C++).
const PORTS: &str = r#"(async () => {
    const listen = `
        const bc = new BroadcastChannel('all');
        bc.onmessage = (e) => { postMessage(['broadcast', hz.engine, e.data.list[2].get(1)]); bc.close(); };
        self.onmessage = (e) => {
            const p = e.ports[0];
            p.onmessage = (m) => { p.postMessage([hz.engine, m.data.get('k')]); p.close(); close(); };
        };
        postMessage('ready');`;
    const workers = ['v8', 'quickjs'].map((engine) => new Worker({ source: listen }, { engine }));
    const heard = [];
    let ready = 0, allReady, allHeard;
    const readyP = new Promise((r) => { allReady = r; });
    const heardP = new Promise((r) => { allHeard = r; });
    for (const w of workers) w.onmessage = (e) => {
        if (e.data === 'ready') { if (++ready === workers.length) allReady(); return; }
        heard.push(e.data.join(':'));
        if (heard.length === workers.length) allHeard();
    };
    await readyP;
    const bc = new BroadcastChannel('all');
    bc.postMessage({ list: [1, 2n, new Map([[1, 'one']])] });
    const answers = [];
    for (const w of workers) {
        const { port1, port2 } = new MessageChannel();
        const answer = new Promise((r) => { port1.onmessage = (e) => { r(e.data.join(':')); port1.close(); }; });
        w.postMessage(null, [port2]);
        port1.postMessage(new Map([['k', 7n]]));
        answers.push(await answer);
    }
    await heardP;
    bc.close();
    return [answers, heard.sort()];
})()"#;

fn ports(rt: &Runtime, main: &str) -> String {
    let v = rt.spawn_on(main, AgentSpec::script("ports.js", PORTS)).unwrap().join().unwrap();
    v.to_json().unwrap().to_string()
}

#[test]
fn v8_agents_run_on_runtimes_built_by_any_thread() {
    let expected = r#"[["v8:7","quickjs:7"],["broadcast:quickjs:one","broadcast:v8:one"]]"#;
    // One thread initialises V8 (the first runtime with it) and ends.
    let first = std::thread::spawn(|| {
        let rt = Runtime::builder().threads(2).build().unwrap();
        ports(&rt, "v8")
    });
    assert_eq!(first.join().unwrap(), expected);
    // Runtimes built later, on other threads (siblings of the first, as a
    // test harness runs tests), and on this one.
    for main in ["v8", "quickjs", "v8"] {
        let later = std::thread::spawn(move || {
            let rt = Runtime::builder().threads(2).build().unwrap();
            ports(&rt, main)
        });
        assert_eq!(later.join().unwrap(), expected, "main on {main}");
    }
    let rt = Runtime::builder().threads(2).build().unwrap();
    assert_eq!(ports(&rt, "v8"), expected);
}
