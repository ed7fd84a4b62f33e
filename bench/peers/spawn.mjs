import { Peer, args, exit } from './rt.mjs';
import { emitSamples, options, sleep } from '../lib.mjs';

// The same two loops as bench/hz/spawn.mjs: back to back, and paced.
const o = options(args, { n: 40, warm: 5, gap: 5 });
for (const [kase, gap] of [['spawn → first message', 0], [`spawn → first message, 1 per ${o.gap} ms`, o.gap]]) {
  const samples = [];
  for (let i = 0; i < o.warm + o.n; i++) {
    if (gap) await sleep(gap);
    const t0 = performance.now();
    const w = new Peer();
    await w.next();
    if (i >= o.warm) samples.push(performance.now() - t0);
    await w.terminate();
  }
  emitSamples(kase, samples, 'ms');
}
exit();
