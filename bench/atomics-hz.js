// Atomics.wait / Atomics.notify ping-pong between the main agent and one
// spawned agent over a SharedArrayBuffer, on hz: the same workload as
// atomics-node.js. Each side blocks in Atomics.wait in turn.
const ROUNDS = 5, N = 20000;
const ia = new Int32Array(new SharedArrayBuffer(8));
const ponger = hz.spawn((ia) => {
  for (;;) {
    Atomics.wait(ia, 0, 0);
    if (Atomics.load(ia, 1) === 1) return;
    Atomics.store(ia, 0, 0);
    Atomics.notify(ia, 0);
  }
}, ia);
const results = [];
for (let round = 0; round < ROUNDS; round++) {
  const t0 = Date.now();
  for (let i = 0; i < N; i++) {
    Atomics.store(ia, 0, 1);
    Atomics.notify(ia, 0);
    Atomics.wait(ia, 0, 1);
  }
  results.push((Date.now() - t0) * 1000 / N);
}
Atomics.store(ia, 1, 1);
Atomics.store(ia, 0, 1);
Atomics.notify(ia, 0);
ponger.join().then(() => {
  results.sort((a, b) => a - b);
  console.log(`hz (${hz.engine}, ${hz.threads} threads) Atomics.wait/notify round trip: median ${results[ROUNDS >> 1].toFixed(2)} us (${results.map((r) => r.toFixed(2)).join(', ')})`);
});
