// A token passed around a ring of n agents, each forwarding from its input
// channel to its output channel: hops per second, and memory per agent.
import { emit, options, rssPoint } from '../lib.mjs';

const o = options(hz.args, { n: 10000, laps: 5 });
await rssPoint('0');
const chans = Array.from({ length: o.n + 1 }, () => hz.channel(1));
const agents = [], failures = [];
for (let i = 0; i < o.n; i++) {
  const h = hz.spawn(async (inp, out) => {
    for await (const t of inp) await out.send(t + 1);
    out.close();
  }, chans[i], chans[i + 1]);
  h.join().catch((e) => failures.push(e));
  agents.push(h);
}
const lap = async () => {
  await chans[0].send(0);
  // An agent that cannot start (a limit of the engine) leaves a gap.
  let r;
  for (let waited = 0; (r = await hz.select([{ recv: chans[o.n] }], { timeout: 1000 })).timeout; waited++) {
    if (failures.length) throw new Error(`${failures.length} of ${o.n} agents did not start: ${failures[0].message}`);
    if (waited > 300) throw new Error('the token did not come back in 5 minutes');
  }
  const { value } = r;
  if (value !== o.n) throw new Error(`token counted ${value} hops, not ${o.n}`);
};
await lap(); // every agent has started
await rssPoint(String(o.n));
const t0 = performance.now();
for (let l = 0; l < o.laps; l++) await lap();
const seconds = (performance.now() - t0) / 1000;
emit('hops per second', (o.n * o.laps) / seconds, 'hop/s', { agents: o.n, laps: o.laps });
chans[0].close();
await Promise.all(agents.map((h) => h.join()));
