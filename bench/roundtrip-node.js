// Ping-pong round trip between the main thread and one worker_threads
// worker, on Node: the peer for bench/roundtrip-hz.js. Prints the median.
const { Worker } = require('node:worker_threads');
const ROUNDS = 5, N = 20000;
const w = new Worker(`
  const { parentPort } = require('node:worker_threads');
  parentPort.on('message', (v) => parentPort.postMessage(v));
`, { eval: true });
const once = () => new Promise((r) => w.once('message', r));
(async () => {
  const results = [];
  for (let round = 0; round < ROUNDS; round++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < N; i++) { w.postMessage(i); await once(); }
    results.push(Number(process.hrtime.bigint() - t0) / 1000 / N);
  }
  results.sort((a, b) => a - b);
  console.log(`node ${process.version} worker round trip: median ${results[ROUNDS >> 1].toFixed(1)} us (${results.map((r) => r.toFixed(1)).join(', ')})`);
  await w.terminate();
})();
