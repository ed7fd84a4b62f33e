// The long-turn monitor's hand-off latency (hz only; not a harness
// workload): with one worker thread, the time from a busy-waiting agent's
// start to the next turn of the agent it waits on, which needs the monitor
// to give the worker slot to another thread. Run:
//   hz run --threads 1 --engine quickjs bench/hz/handoff.mjs
const out = [];
for (let i = 0; i < 20; i++) {
  const sab = new SharedArrayBuffer(16);
  const ia = new Int32Array(sab, 0, 2), f = new Float64Array(sab, 8, 1);
  const h = hz.spawn((sab) => {
    const ia = new Int32Array(sab, 0, 2), f = new Float64Array(sab, 8, 1);
    f[0] = performance.timeOrigin + performance.now();
    Atomics.store(ia, 1, 1);
    while (Atomics.load(ia, 0) === 0);
  }, sab);
  await new Promise((r) => setTimeout(r, 0));
  // Only runs once the spinner started (it holds the one worker).
  if (Atomics.load(ia, 1) === 1) out.push(performance.timeOrigin + performance.now() - f[0]);
  Atomics.store(ia, 0, 1);
  await h.join();
  await new Promise((r) => setTimeout(r, 20));
}
out.sort((a, b) => a - b);
const m = out[out.length >> 1];
console.log(`n ${out.length} median ms ${m.toFixed(2)} min ${out[0].toFixed(2)} max ${out[out.length - 1].toFixed(2)}`);
