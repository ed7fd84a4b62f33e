// A token passed around a ring of n agents, each forwarding from its input
// channel to its output channel: hops per second, and memory per agent.
import { emit, options, rssPoint } from '../lib.mjs';

const o = options(hz.args, { n: 10000, laps: 5 });
await rssPoint('0');
const chans = Array.from({ length: o.n + 1 }, () => hz.channel(1));
const agents = [];
for (let i = 0; i < o.n; i++) {
  agents.push(hz.spawn(async (inp, out) => {
    for await (const t of inp) await out.send(t + 1);
    out.close();
  }, chans[i], chans[i + 1]));
}
const lap = async () => {
  await chans[0].send(0);
  const { value } = await chans[o.n].recv();
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
