// Atomics.wait / Atomics.notify ping-pong between the main thread and one
// worker_threads worker over a SharedArrayBuffer, on Node: the peer for
// bench/atomics-hz.js. Prints the median of 5 rounds.
const { Worker } = require('node:worker_threads');
const ROUNDS = 5, N = 20000;
const ia = new Int32Array(new SharedArrayBuffer(8));
const w = new Worker(`
  const { workerData: ia } = require('node:worker_threads');
  for (;;) {
    Atomics.wait(ia, 0, 0);
    if (Atomics.load(ia, 1) === 1) break;
    Atomics.store(ia, 0, 0);
    Atomics.notify(ia, 0);
  }
`, { eval: true, workerData: ia });
const results = [];
for (let round = 0; round < ROUNDS; round++) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    Atomics.store(ia, 0, 1);
    Atomics.notify(ia, 0);
    Atomics.wait(ia, 0, 1);
  }
  results.push(Number(process.hrtime.bigint() - t0) / 1000 / N);
}
Atomics.store(ia, 1, 1);
Atomics.store(ia, 0, 1);
Atomics.notify(ia, 0);
w.on('exit', () => {
  results.sort((a, b) => a - b);
  console.log(`node ${process.version} Atomics.wait/notify round trip: median ${results[ROUNDS >> 1].toFixed(2)} us (${results.map((r) => r.toFixed(2)).join(', ')})`);
});
