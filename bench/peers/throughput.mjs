import { Peer, args, exit } from './rt.mjs';
import { emit, options } from '../lib.mjs';

const o = options(args, { n: 200000 });
async function stream(producers) {
  const ws = await Promise.all(Array.from({ length: producers }, () => Peer.start('produce')));
  const rates = [];
  for (let round = 0; round < 3; round++) {
    let left = o.n;
    const done = new Promise((resolve) => ws.forEach((w) => w.listen(() => --left === 0 && resolve())));
    const t0 = performance.now();
    for (const w of ws) w.post({ n: o.n / producers });
    await done;
    rates.push(o.n / ((performance.now() - t0) / 1000));
  }
  await Promise.all(ws.map((w) => w.terminate()));
  return rates.sort((x, y) => x - y)[1];
}
emit('one-way, postMessage (unbounded)', await stream(1), 'msg/s');
emit('fan-in 4 → 1', await stream(4), 'msg/s');
exit();
