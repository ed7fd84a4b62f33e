import { emit, options } from '../lib.mjs';

const o = options(hz.args, { n: 200000 });
// The producers start first and wait for `go`, so spawn is not timed.
async function stream(capacity, producers) {
  const rates = [];
  for (let round = 0; round < 3; round++) {
    const go = hz.channel(producers), ch = hz.channel(capacity);
    const agents = [];
    for (let p = 0; p < producers; p++) {
      agents.push(hz.spawn(async (go, ch, n) => {
        await go.recv();
        for (let i = 0; i < n; i++) await ch.send(i);
      }, go, ch, o.n / producers));
    }
    const t0 = performance.now();
    for (let p = 0; p < producers; p++) await go.send(1);
    for (let i = 0; i < o.n; i++) await ch.recv();
    rates.push(o.n / ((performance.now() - t0) / 1000));
    await Promise.all(agents.map((h) => h.join()));
  }
  return rates.sort((x, y) => x - y)[1];
}
for (const capacity of [0, 1, 1024]) emit(`one-way, capacity ${capacity}`, await stream(capacity, 1), 'msg/s');
emit('fan-in 4 → 1', await stream(1024, 4), 'msg/s');
