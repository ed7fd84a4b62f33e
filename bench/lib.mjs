// Helpers shared by every benchmark script, on hz and on the peers (plain
// JavaScript: no runtime API). A script reports results as JSON lines that
// bench/harness reads: {"case", "value", "unit", ...extra}. A line
// "@rss LABEL" asks the harness to read the process's resident memory now;
// the script then holds still for a moment (see rssPoint).

export const sorted = (xs) => Float64Array.from(xs).sort();

export function median(xs) {
  const s = sorted(xs);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** The q-quantile (0..1) by nearest rank. */
export function quantile(xs, q) {
  const s = sorted(xs);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}

export function emit(kase, value, unit, extra = {}) {
  console.log(JSON.stringify({ case: kase, value, unit, ...extra }));
}

/** Emits the median and p99 of `samples` as one result. */
export function emitSamples(kase, samples, unit) {
  emit(kase, median(samples), unit, { p99: quantile(samples, 0.99), n: samples.length });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Asks the harness to sample resident memory, and gives it time to. */
export async function rssPoint(label) {
  console.log(`@rss ${label}`);
  await sleep(300);
}

/** Reads `name=value` words from the script's arguments. */
export function options(args, defaults) {
  const out = { ...defaults };
  for (const a of args) {
    const i = a.indexOf('=');
    if (i > 0 && a.slice(0, i) in out) out[a.slice(0, i)] = typeof defaults[a.slice(0, i)] === 'number' ? Number(a.slice(i + 1)) : a.slice(i + 1);
  }
  return out;
}

/** The payload shapes of the clone workload, the same on every runtime. */
export function payloads() {
  const obj10 = { id: 7, name: 'widget', price: 9.99, tags: ['a', 'b'], ok: true, n: null, x: 1.5, y: -2, z: 'zzz', nested: { k: 1 } };
  const objs1000 = Array.from({ length: 1000 }, (_, i) => ({ i, s: 'item' + i, f: i / 3 }));
  // A JSON-like graph of about 1 MB (as JSON text).
  const graph = { users: [] };
  for (let i = 0; graph.users.length < 7500; i++) {
    graph.users.push({ id: i, name: 'user' + i, email: `u${i}@example.com`, active: i % 3 === 0, scores: [i, i * 2, i * 3], address: { city: 'City' + (i % 50), zip: String(10000 + i) } });
  }
  const string1mb = 'x'.repeat(1 << 20);
  return { obj10, objs1000, graph1mb: graph, string1mb };
}

/**
 * Rows [from, to) of A times B, B given transposed: the speedup workload's
 * kernel (also examples/matrix.js's). Self-contained: hz agents get it as
 * source text.
 */
export function multiplyRows(a, bt, n, from, to) {
  const c = new Float64Array((to - from) * n);
  for (let i = from; i < to; i++) {
    const row = (i - from) * n;
    for (let j = 0; j < n; j++) {
      const col = j * n;
      let s = 0;
      for (let k = 0; k < n; k++) s += a[i * n + k] * bt[col + k];
      c[row + j] = s;
    }
  }
  return c;
}

/** A deterministic n x n matrix. */
export function matrix(n, seed) {
  let s = seed;
  const m = new Float64Array(n * n);
  for (let i = 0; i < m.length; i++) m[i] = ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) - 0.5;
  return m;
}

/** structuredClone of each payload shape, timed in one agent. */
export function cloneWorkload(o) {
  for (const [shape, value] of Object.entries(payloads())) {
    const reps = shape === 'obj10' ? o.small : o.large;
    for (let i = 0; i < reps / 10; i++) structuredClone(value);
    const samples = [];
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      structuredClone(value);
      samples.push((performance.now() - t0) * 1000);
    }
    emitSamples(shape, samples, 'us');
  }
}

/** The row bands of an n-row matrix cut into `parts` tasks. */
export function bands(n, parts) {
  const size = Math.ceil(n / parts), out = [];
  for (let from = 0; from < n; from += size) out.push([from, Math.min(n, from + size)]);
  return out;
}

/**
 * The speedup workload on any runtime: `pool(k, a, bt, n)` makes k warm
 * workers and returns `run(tasks)`, which computes every task (row bands
 * of the product, taken by whichever worker is free) and resolves when
 * all are back. Sizes the matrices so one worker takes about targetMs,
 * then alternates the pool sizes for o.rounds rounds, coarse (one band
 * per worker) and fine (o.fine bands), and emits the median times.
 */
export async function speedupWorkload(o, pool) {
  const time = async (run, tasks) => {
    const t0 = performance.now();
    await run(tasks);
    return performance.now() - t0;
  };
  let n = o.n;
  for (let step = 0; step < 3 && !o.fixed; step++) {
    const run = await pool(1, matrix(n, 1), matrix(n, 2), n);
    await time(run.run, bands(n, 1));
    const t = await time(run.run, bands(n, 1));
    await run.close();
    if (t > o.target * 0.7 && t < o.target * 1.4) break;
    n = Math.max(16, Math.min(1600, Math.round((n * Math.cbrt(o.target / Math.max(t, 1))) / 8) * 8));
  }
  const a = matrix(n, 1), bt = matrix(n, 2);
  const ks = o.agents.split(',').map(Number);
  const pools = [];
  for (const k of ks) pools.push(await pool(k, a, bt, n));
  const times = { coarse: ks.map(() => []), fine: ks.map(() => []) };
  for (let r = 0; r < o.rounds + 1; r++) {
    for (let i = 0; i < ks.length; i++) {
      const coarse = await time(pools[i].run, bands(n, ks[i]));
      const fine = await time(pools[i].run, bands(n, o.fine));
      if (r === 0) continue; // warm-up
      times.coarse[i].push(coarse);
      times.fine[i].push(fine);
    }
  }
  for (const p of pools) await p.close();
  for (const grain of ['coarse', 'fine']) {
    ks.forEach((k, i) => emit(`${grain}, ${k} agent${k > 1 ? 's' : ''}`, median(times[grain][i]), 'ms', { best: Math.min(...times[grain][i]), n, agents: k }));
  }
}

/**
 * The round-trip workload on any runtime: `trip(value)` sends `value` to an
 * echo agent and resolves with the answer.
 */
export async function roundTripWorkload(o, trip) {
  const values = [['number', 42], ['object', { id: 1, name: 'x', tags: ['a', 'b'] }]];
  const run = async (kase, value, trip) => {
    const samples = [];
    for (let i = 0; i < o.warm + o.n; i++) {
      const t0 = performance.now();
      await trip(value);
      if (i >= o.warm) samples.push((performance.now() - t0) * 1000);
    }
    emitSamples(kase, samples, 'us');
  };
  for (const [kase, value] of values) await run(kase, value, trip);
  // The engine's floor: the same ping-pong (hz's echo loop and trip) with
  // both ends in this agent and a channel written in JS, so no thread, no
  // copy and no runtime code: only the engine's promises and awaits, which
  // any round trip on that engine pays too.
  const ping = new JsChannel(), pong = new JsChannel();
  (async () => {
    for await (const v of ping) await pong.send(v);
  })();
  for (const [kase, value] of values) await run(`${kase}, one agent (engine floor)`, value, (v) => ping.send(v).then(() => pong.recv()));
  ping.close();
}

/**
 * A rendezvous channel in plain JS with hz's channel API (send, recv,
 * close, async iteration), for one agent: the floor case above.
 */
export class JsChannel {
  #senders = [];
  #receivers = [];
  #closed = false;
  send(value) {
    if (this.#closed) return Promise.reject(new Error('send on a closed channel'));
    const r = this.#receivers.shift();
    if (r) {
      r({ value, done: false });
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => this.#senders.push([value, resolve, reject]));
  }
  recv() {
    const s = this.#senders.shift();
    if (s) {
      s[1]();
      return Promise.resolve({ value: s[0], done: false });
    }
    if (this.#closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => this.#receivers.push(resolve));
  }
  // As hz's: waiting receivers get done, waiting senders are rejected.
  close() {
    this.#closed = true;
    for (const r of this.#receivers.splice(0)) r({ value: undefined, done: true });
    for (const s of this.#senders.splice(0)) s[2](new Error('send on a closed channel'));
  }
  [Symbol.asyncIterator]() {
    return { next: () => this.recv() };
  }
}

/**
 * The transfer workload on any runtime: `echo(move)` starts an echo agent
 * that moves (or copies) buffers back, and returns `{ trip(buf), close() }`
 * where `trip` sends `buf` the same way and resolves with the buffer that
 * came back.
 */
export async function transferWorkload(o, echo) {
  for (const mode of ['transfer', 'copy']) {
    const agent = await echo(mode === 'transfer');
    for (const size of o.sizes.split(',').map(Number)) {
      let buf = new ArrayBuffer(size);
      const reps = Math.max(3, Math.min(o.reps, Math.floor((o.reps * 1048576) / size)));
      const samples = [];
      for (let i = 0; i < reps + 1; i++) {
        const t0 = performance.now();
        buf = await agent.trip(buf);
        if (i > 0) samples.push((performance.now() - t0) * 1000);
      }
      emitSamples(`${mode} ${size}`, samples, 'us');
    }
    await agent.close();
  }
}

/**
 * The Atomics workload's answering side, on ia[0]: waits for 1, answers
 * with 0, until ia[1] is 1. Self-contained: hz agents get it as source.
 */
export function atomicsPong(ia) {
  for (;;) {
    Atomics.wait(ia, 0, 0);
    if (Atomics.load(ia, 1) === 1) return;
    Atomics.store(ia, 0, 0);
    Atomics.notify(ia, 0);
  }
}

/** The Atomics workload's timed side; stops the ponger at the end. */
export function atomicsPing(ia, o) {
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
}
