import { Peer, args, exit } from './rt.mjs';
import { emitSamples, options } from '../lib.mjs';

const o = options(args, { sizes: '1024,16384,262144,4194304,67108864', reps: 40 });
for (const mode of ['transfer', 'copy']) {
  const w = await Peer.start('echo', { transfer: mode === 'transfer' });
  for (const size of o.sizes.split(',').map(Number)) {
    let buf = new ArrayBuffer(size);
    const reps = Math.max(3, Math.min(o.reps, Math.floor((o.reps * 1048576) / size)));
    const samples = [];
    for (let i = 0; i < reps + 1; i++) {
      const t0 = performance.now();
      w.post(buf, mode === 'transfer' ? [buf] : []);
      buf = await w.next();
      if (i > 0) samples.push((performance.now() - t0) * 1000);
    }
    emitSamples(`${mode} ${size}`, samples, 'us');
  }
  await w.terminate();
}
exit();
