import { Peer, args, exit } from './rt.mjs';
import { emit, options, rssPoint } from '../lib.mjs';

const o = options(args, { counts: '1,100,10000' });
await rssPoint('0');
const workers = [];
for (const target of o.counts.split(',').map(Number)) {
  while (workers.length < target) {
    const batch = Array.from({ length: Math.min(100, target - workers.length) }, () => new Peer());
    await Promise.all(batch.map((w) => w.next()));
    workers.push(...batch);
  }
  await rssPoint(String(target));
  emit('reached', target, 'agents');
}
exit();
