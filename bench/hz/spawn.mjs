import { emitSamples, options, sleep } from '../lib.mjs';

// Back to back: each spawn right after the last one's join. Paced: one
// spawn every `gap` ms, as a server spawning per request at a rate it can
// sustain (hz then has a warm agent ready; see RuntimeBuilder::warm_agents).
const o = options(hz.args, { n: 200, warm: 10, gap: 5 });
for (const [kase, gap] of [['spawn → first message', 0], [`spawn → first message, 1 per ${o.gap} ms`, o.gap]]) {
  const samples = [];
  for (let i = 0; i < o.warm + o.n; i++) {
    if (gap) await sleep(gap);
    const ready = hz.channel(0);
    const t0 = performance.now();
    const h = hz.spawn(async (ready) => { await ready.send(1); }, ready);
    await ready.recv();
    if (i >= o.warm) samples.push(performance.now() - t0);
    await h.join();
  }
  emitSamples(kase, samples, 'ms');
}
