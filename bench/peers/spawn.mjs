import { Peer, args, exit } from './rt.mjs';
import { emitSamples, options } from '../lib.mjs';

const o = options(args, { n: 40, warm: 5 });
const samples = [];
for (let i = 0; i < o.warm + o.n; i++) {
  const t0 = performance.now();
  const w = new Peer();
  await w.next();
  if (i >= o.warm) samples.push(performance.now() - t0);
  await w.terminate();
}
emitSamples('spawn → first message', samples, 'ms');
exit();
