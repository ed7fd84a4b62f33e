//! V8 isolate locks kept between turns (hz-backend-v8's `parked`): a
//! worker thread keeps the lock of each isolate it ran, so an agent's
//! isolate may outlive the agent until every such thread lets go. These
//! check that they do let go, while the runtime runs and when it ends, and
//! that agents moving between threads all the while run correctly. Its own
//! test binary: it counts every isolate in the process.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use hz::{AgentSpec, Runtime, V8Engine, Value};

/// Agents that each ping-pong with the main agent over rendezvous
/// channels, with timers in between, so that with two workers their turns
/// land on both threads; more agents than a thread keeps locks for (16).
const TALKERS: &str = r#"(async () => {
    const n = 24, rounds = 60;
    const agents = [];
    for (let k = 0; k < n; k++) {
        const ping = hz.channel(0), pong = hz.channel(0);
        const agent = hz.spawn(async (ping, pong, k) => {
            let sum = 0;
            for await (const v of ping) {
                sum += v;
                if (v % 7 === 0) await new Promise((r) => setTimeout(r, 0));
                await pong.send(v * 2 + k);
            }
            return sum;
        }, ping, pong, k);
        agents.push({ ping, pong, agent, k });
    }
    let checked = 0;
    for (let i = 1; i <= rounds; i++) {
        await Promise.all(agents.map(async ({ ping, pong, k }) => {
            await ping.send(i);
            const { value } = await pong.recv();
            if (value !== i * 2 + k) throw new Error(`agent ${k} answered ${value} to ${i}`);
            checked++;
        }));
    }
    const sums = [];
    for (const { ping, agent } of agents) {
        ping.close();
        sums.push(await agent.join());
    }
    const want = rounds * (rounds + 1) / 2;
    if (!sums.every((s) => s === want)) throw new Error(`sums ${sums}`);
    return checked;
})()"#;

/// The tests count every isolate in the process: one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn wait_for_isolates(want: usize, within: Duration) -> usize {
    let start = Instant::now();
    loop {
        let live = V8Engine::live_isolates();
        if live == want || start.elapsed() > within {
            return live;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn ended_agents_isolates_are_freed_while_the_runtime_runs_and_when_it_ends() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let before = V8Engine::live_isolates();
    let rt = Runtime::builder().threads(2).warm_agents(0).build().unwrap();
    for round in 0..3 {
        let main = rt.spawn::<V8Engine>(AgentSpec::script("talkers.js", TALKERS)).unwrap();
        assert_eq!(main.join().unwrap(), Value::from(24.0 * 60.0), "round {round}");
        // Every agent has ended: the workers go idle and let go of the
        // locks they kept, and each isolate goes with its last lock.
        let live = wait_for_isolates(before, Duration::from_secs(10));
        assert_eq!(live, before, "round {round}: isolates still alive after every agent ended");
    }
    drop(rt);
    assert_eq!(V8Engine::live_isolates(), before);
}

/// Isolates of ended agents go while other agents keep the workers busy
/// with short turns (a worker looks for ended agents' locks at the start of
/// each turn, and when it goes idle).
#[test]
fn ended_agents_isolates_are_freed_while_others_keep_running() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let before = V8Engine::live_isolates();
    let rt = Runtime::builder().threads(2).warm_agents(0).build().unwrap();
    // Two spinners take short turns until `stop` says 1, which the main
    // agent stores 3 s after six short-lived agents have ended.
    let program = r#"(async () => {
        const stop = new Int32Array(new SharedArrayBuffer(4));
        const spin = async (stop) => {
            let turns = 0;
            while (Atomics.load(stop, 0) === 0) { turns++; await new Promise((r) => setTimeout(r, 0)); }
            return turns;
        };
        const spinners = [hz.spawn(spin, stop), hz.spawn(spin, stop)];
        const ended = [];
        for (let k = 0; k < 6; k++) {
            const ch = hz.channel(0);
            const a = hz.spawn(async (ch) => { for (let i = 0; i < 50; i++) await ch.send(i); ch.close(); return 'done'; }, ch);
            let n = 0;
            for await (const _ of ch) n++;
            ended.push(await a.join(), n);
        }
        await new Promise((r) => setTimeout(r, 3000));
        Atomics.store(stop, 0, 1);
        const turns = await Promise.all(spinners.map((s) => s.join()));
        return [turns.every((t) => t > 0), ended.join()];
    })()"#;
    let main = rt.spawn::<V8Engine>(AgentSpec::script("busy.js", program)).unwrap();
    // The main agent and its two spinners live on; the six others are gone.
    let live = wait_for_isolates(before + 3, Duration::from_millis(2500));
    assert_eq!(live, before + 3, "isolates of ended agents still alive while others run");
    let v = main.join().unwrap().to_json().unwrap().to_string();
    assert_eq!(v, r#"[true,"done,50,done,50,done,50,done,50,done,50,done,50"]"#);
    assert_eq!(wait_for_isolates(before, Duration::from_secs(10)), before);
    drop(rt);
    assert_eq!(V8Engine::live_isolates(), before);
}
