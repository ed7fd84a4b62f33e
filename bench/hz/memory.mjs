import { emit, options, rssPoint } from '../lib.mjs';

const o = options(hz.args, { counts: '1,100,10000' });
await rssPoint('0');
const ready = hz.channel(1024), stop = hz.channel(0);
const agents = [];
for (const target of o.counts.split(',').map(Number)) {
  while (agents.length < target) {
    const batch = Math.min(100, target - agents.length);
    for (let i = 0; i < batch; i++) agents.push(hz.spawn(async (ready, stop) => { await ready.send(1); await stop.recv(); }, ready, stop));
    for (let i = 0; i < batch; i++) await ready.recv();
  }
  await rssPoint(String(target));
  emit('reached', target, 'agents');
}
stop.close();
await Promise.all(agents.map((h) => h.join()));
