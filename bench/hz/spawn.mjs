import { emitSamples, options } from '../lib.mjs';

const o = options(hz.args, { n: 200, warm: 10 });
const samples = [];
for (let i = 0; i < o.warm + o.n; i++) {
  const ready = hz.channel(0);
  const t0 = performance.now();
  const h = hz.spawn(async (ready) => { await ready.send(1); }, ready);
  await ready.recv();
  if (i >= o.warm) samples.push(performance.now() - t0);
  await h.join();
}
emitSamples('spawn → first message', samples, 'ms');
