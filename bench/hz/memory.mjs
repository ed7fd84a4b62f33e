import { emit, options, rssPoint } from '../lib.mjs';

const o = options(hz.args, { counts: '1,100,10000' });
await rssPoint('0');
const ready = hz.channel(1024), stop = hz.channel(0);
const agents = [], failures = [];
const park = async (ready, stop) => { await ready.send(1); await stop.recv(); };
outer: for (const target of o.counts.split(',').map(Number)) {
  while (agents.length < target) {
    const batch = Math.min(100, target - agents.length);
    for (let i = 0; i < batch; i++) {
      const h = hz.spawn(park, ready, stop);
      h.join().catch((e) => failures.push(e));
      agents.push(h);
    }
    for (let got = 0; got < batch;) {
      const r = await hz.select([{ recv: ready }], { timeout: 1000 });
      if (!r.timeout) got++;
      else if (failures.length) {
        // An agent that cannot start (a limit of the engine) ends the climb.
        emit('stopped', agents.length - failures.length, 'agents', { reason: String(failures[0].message) });
        break outer;
      }
    }
  }
  await rssPoint(String(target));
  emit('reached', target, 'agents');
}
stop.close();
await Promise.allSettled(agents.map((h) => h.join()));
