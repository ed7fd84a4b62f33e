import { Peer, args, exit } from './rt.mjs';
import { emitSamples, options } from '../lib.mjs';

const o = options(args, { n: 20000, warm: 2000 });
const ia = new Int32Array(new SharedArrayBuffer(8));
const w = await Peer.start('atomics', { ia });
const samples = [];
for (let i = 0; i < o.warm + o.n; i++) {
  const t0 = performance.now();
  Atomics.store(ia, 0, 1);
  Atomics.notify(ia, 0);
  Atomics.wait(ia, 0, 1);
  if (i >= o.warm) samples.push((performance.now() - t0) * 1000);
}
Atomics.store(ia, 1, 1);
Atomics.store(ia, 0, 1);
Atomics.notify(ia, 0);
emitSamples('wait/notify round trip', samples, 'us');
exit();
