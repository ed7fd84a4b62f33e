import { Peer, args, exit } from './rt.mjs';
import { emitSamples, options } from '../lib.mjs';

const o = options(args, { n: 20000, warm: 2000 });
const w = await Peer.start('echo');
for (const [kase, value] of [['number', 42], ['object', { id: 1, name: 'x', tags: ['a', 'b'] }]]) {
  const samples = [];
  for (let i = 0; i < o.warm + o.n; i++) {
    const t0 = performance.now();
    w.post(value);
    await w.next();
    if (i >= o.warm) samples.push((performance.now() - t0) * 1000);
  }
  emitSamples(kase, samples, 'us');
}
exit();
