import { emitSamples, options } from '../lib.mjs';

const o = options(hz.args, { n: 20000, warm: 2000 });
const ping = hz.channel(0), pong = hz.channel(0);
const echo = hz.spawn(async (ping, pong) => { for await (const v of ping) await pong.send(v); }, ping, pong);
for (const [kase, value] of [['number', 42], ['object', { id: 1, name: 'x', tags: ['a', 'b'] }]]) {
  const samples = [];
  for (let i = 0; i < o.warm + o.n; i++) {
    const t0 = performance.now();
    await ping.send(value);
    await pong.recv();
    if (i >= o.warm) samples.push((performance.now() - t0) * 1000);
  }
  emitSamples(kase, samples, 'us');
}
ping.close();
await echo.join();
