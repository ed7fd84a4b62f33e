//! Structured-clone cost by payload shape, inside real engines: each
//! iteration is one `structuredClone` (serialize to the hz-clone format and
//! back) in the agent. Throughput counts the wire bytes of one clone.
//!
//! Names follow `clone/engine/shape`. Run: `cargo bench --bench clone`
//! (`--features v8` adds the V8 rows, `--features boa` the Boa rows).
#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::time::Duration;

#[path = "support/mod.rs"]
mod support;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hz::{AgentSpec, Runtime};

const ENGINES: &[&str] = &[
    #[cfg(feature = "quickjs")]
    "quickjs",
    #[cfg(feature = "v8")]
    "v8",
    #[cfg(feature = "boa")]
    "boa",
];

/// (name, JS expression building the value once)
const SHAPES: &[(&str, &str)] = &[
    (
        "object_10_props",
        "({ a: 1, b: 'two', c: true, d: null, e: 5.5, f: [1, 2], g: { h: 1 }, i: 'x'.repeat(10), j: -1, k: 1e9 })",
    ),
    (
        "array_1000_small_objects",
        "Array.from({ length: 1000 }, (_, i) => ({ id: i, name: 'item' + i, ok: i % 2 === 0 }))",
    ),
    (
        "json_graph_1mb",
        "(() => { const g = []; for (let i = 0; i < 6000; i++) g.push({ id: i, tags: ['a', 'b', 'c'], user: { name: 'user' + i, age: i % 90, email: 'u' + i + '@example.com' }, score: i * 1.5, active: i % 3 === 0, note: 'lorem ipsum dolor sit amet ' + i }); return g; })()",
    ),
    ("string_1mb", "'abcdefghij'.repeat(104858)"),
    (
        "map_set_date_mix",
        "(() => { const m = new Map(); const s = new Set(); for (let i = 0; i < 200; i++) { m.set('k' + i, new Date(1700000000000 + i)); s.add(i); s.add('v' + i); } return { m, s, when: new Date() }; })()",
    ),
    ("array_buffer_1mib_copy", "new ArrayBuffer(1 << 20)"),
];

fn clone_costs(c: &mut Criterion) {
    let rt = Runtime::builder().threads(2).build().unwrap();
    let mut g = c.benchmark_group("clone");
    for engine in ENGINES {
        for (shape, build) in SHAPES {
            let (control, done, sample) = (rt.channel(0), rt.channel(0), rt.channel(1));
            let agent = format!(
                "async (control, done, sample) => {{
                    const value = {build};
                    await sample.send(value);
                    for await (const n of control) {{
                        for (let i = 0; i < n; i++) structuredClone(value);
                        await done.send(n);
                    }}
                }}"
            );
            let spec =
                AgentSpec::function(agent).args(vec![control.to_value(), done.to_value(), sample.to_value()]).unwrap();
            rt.spawn_on(engine, spec).unwrap();
            let wire = sample.recv_payload().unwrap().expect("the agent sends one sample").bytes.len();
            g.throughput(Throughput::Bytes(wire as u64));
            g.bench_function(format!("{engine}/{shape}"), |b| {
                b.iter_custom(|iters| support::run_batch(&control, &done, iters))
            });
            control.close().unwrap();
        }
    }
    g.finish();
    rt.wait_idle();
}

/// Moving vs copying an ArrayBuffer between two agents (a round trip: the
/// echo agent always moves it back), 1 KiB to 64 MiB.
fn transfer_vs_copy(c: &mut Criterion) {
    let rt = Runtime::builder().threads(2).build().unwrap();
    let mut g = c.benchmark_group("transfer");
    for engine in ENGINES {
        for (label, size) in [("1KiB", 1usize << 10), ("1MiB", 1 << 20), ("64MiB", 1 << 26)] {
            for mode in ["move", "copy"] {
                let (control, done) = (rt.channel(0), rt.channel(0));
                let agent = format!(
                    "async (control, done) => {{
                        const ping = hz.channel(0), pong = hz.channel(0);
                        const echo = hz.spawn(async (ping, pong) => {{
                            for await (const b of ping) await pong.send(b, {{ transfer: [b] }});
                        }}, ping, pong);
                        let buf = new ArrayBuffer({size});
                        for await (const n of control) {{
                            for (let i = 0; i < n; i++) {{
                                await ping.send(buf, {opts});
                                buf = (await pong.recv()).value;
                            }}
                            await done.send(n);
                        }}
                        ping.close();
                        await echo.join();
                    }}",
                    opts = if mode == "move" { "{ transfer: [buf] }" } else { "undefined" },
                );
                let spec = AgentSpec::function(agent).args(vec![control.to_value(), done.to_value()]).unwrap();
                rt.spawn_on(engine, spec).unwrap();
                g.throughput(Throughput::Bytes(size as u64));
                g.bench_function(format!("{engine}/{mode}_{label}"), |b| {
                    b.iter_custom(|iters| support::run_batch(&control, &done, iters))
                });
                control.close().unwrap();
            }
        }
    }
    g.finish();
    rt.wait_idle();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1)).sample_size(20);
    targets = clone_costs, transfer_vs_copy
}
criterion_main!(benches);
