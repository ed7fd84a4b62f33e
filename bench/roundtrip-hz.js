// Ping-pong round trip between the main agent and one spawned agent over
// two rendezvous channels, on hz: the same workload as roundtrip-node.js.
const ROUNDS = 5, N = 20000;
const ping = hz.channel(0), pong = hz.channel(0);
const echo = hz.spawn(async (ping, pong) => { for await (const v of ping) await pong.send(v); }, ping, pong);
(async () => {
  const results = [];
  for (let round = 0; round < ROUNDS; round++) {
    const t0 = Date.now();
    for (let i = 0; i < N; i++) { await ping.send(i); await pong.recv(); }
    results.push((Date.now() - t0) * 1000 / N);
  }
  ping.close();
  await echo.join();
  results.sort((a, b) => a - b);
  console.log(`hz (${hz.engine}, ${hz.threads} threads) agent round trip: median ${results[ROUNDS >> 1].toFixed(1)} us (${results.map((r) => r.toFixed(1)).join(', ')})`);
})();
