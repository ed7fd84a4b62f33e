// Multiply two N x N matrices on one agent and on one agent per worker
// thread, and report the speedup. A, B (transposed) and C live in
// SharedArrayBuffers every agent sees (nothing is copied); the rows of C are
// cut into chunks, put on a channel, and each agent takes the next chunk
// when it is done with one, as Go workers drain a job channel. Taking work
// as it frees up keeps both threads busy to the end even when one runs
// slower for a while (a shared VM's vCPUs do), where fixed bands would wait
// for the slower one.
//
// Each configuration is a pool of agents started once, as a server keeps
// its workers: a product hands each agent its job channel on the agent's
// own channel, and the agent reports the rows it computed. So the timed
// part is the computation, not starting an agent nor a JIT engine's
// warm-up of a fresh agent (tens of milliseconds per agent on V8, paid by
// every agent at once and so never halved).
//
// The size is the first argument; without one, a warm-up run on one agent
// sizes the matrices so that one agent computes for about 0.6 s (a JIT
// engine: about 750x750, QuickJS about 200x200, Boa about 120x120).
//
// The two configurations alternate for 17 rounds (many short rounds give
// the minimum more chances to land in a quiet stretch of a shared VM). The speedup compares the
// best times: interference (a VM's host, other processes) only ever adds
// time, so the minimum is the stable estimate of what the code does; the
// medians and every sample are printed too.
//
//   cargo run --release -- run examples/matrix.js --threads 2 [N]
const TARGET_MS = 600;
const ROUNDS = 17;
let N = Number(hz.args[0]) || 120;

function random(seed) {
  let s = seed;
  return () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) - 0.5;
}

// A new N x N matrix in shared memory, of `seed`'s numbers (or zeros).
function matrix(seed) {
  // N is read when called: the warm-up may resize.
  const m = new Float64Array(new SharedArrayBuffer(N * N * 8));
  if (seed !== undefined) {
    const r = random(seed);
    for (let i = 0; i < m.length; i++) m[i] = r();
  }
  return m;
}

// An agent of a pool: for each product sent on `work`, takes chunks of rows
// of C from its `jobs` until that is closed, computes them, and sends the
// number of rows it did on `done`. Given B transposed, each element of C is
// the dot product of two contiguous rows: one dependent chain of
// multiply-adds with no stores. Within a chunk the loop runs over B's rows
// first, so each row of B is read from memory once per chunk and then from
// cache for the chunk's rows of A (row by row, all of B would stream
// through the cache once per row of C: at 800x800 that is 5 MB per row,
// and two cores streaming it contend for the shared cache and memory,
// which is not what this example measures). Runs inside an agent (no
// captured scope).
async function worker(work, done) {
  // A plain function, called per chunk: a JIT engine optimises it as a
  // whole, where a loop inside the async function below could only be
  // optimised on the stack, and less predictably.
  function rowsOfC(a, bt, c, n, from, to) {
    for (let j = 0; j < n; j++) {
      const col = j * n;
      for (let i = from; i < to; i++) {
        const row = i * n;
        let s = 0;
        for (let k = 0; k < n; k++) s += a[row + k] * bt[col + k];
        c[row + j] = s;
      }
    }
  }
  for await (const { jobs, a, bt, c, n, rows } of work) {
    let count = 0;
    for await (const from of jobs) {
      const to = Math.min(n, from + rows);
      rowsOfC(a, bt, c, n, from, to);
      count += to - from;
    }
    await done.send(count);
  }
}

// `size` agents running `worker`, each with its own channel for work and
// one channel for all their reports.
function pool(size) {
  const done = hz.channel(size);
  const agents = [];
  for (let p = 0; p < size; p++) {
    const work = hz.channel(1);
    agents.push({ work, handle: hz.spawn(worker, work, done) });
  }
  return { size, agents, done };
}

async function close(p) {
  for (const { work } of p.agents) work.close();
  await Promise.all(p.agents.map(({ handle }) => handle.join()));
}

function transpose(m) {
  const t = matrix();
  for (let i = 0; i < N; i++) for (let j = 0; j < N; j++) t[j * N + i] = m[i * N + j];
  return t;
}

// Chunks of about 2% of the rows: small enough that the last one leaves
// little to wait for, large enough that taking one costs nothing beside it.
async function multiply(a, b, p) {
  const rows = Math.max(1, Math.ceil(N / 48));
  const bt = transpose(b);
  const c = matrix();
  const jobs = hz.channel(Math.ceil(N / rows));
  for (let from = 0; from < N; from += rows) jobs.trySend(from);
  jobs.close();
  for (const { work } of p.agents) await work.send({ jobs, a, bt, c, n: N, rows });
  let rowsDone = 0;
  for (let k = 0; k < p.size; k++) rowsDone += (await p.done.recv()).value;
  if (rowsDone !== N) throw new Error('rows lost');
  return c;
}

function checksum(c) {
  let s = 0;
  for (let i = 0; i < c.length; i++) s += c[i] * ((i % 7) + 1);
  return s;
}

async function timed(a, b, p) {
  const t0 = Date.now();
  const c = await multiply(a, b, p);
  return [Date.now() - t0, c];
}

// Picks N (a multiple of 8, from 16 to 1200) so one agent takes about
// TARGET_MS: the work grows as N^3, but a small run is mostly fixed costs
// (a JIT engine warming up), so it measures again at the new size.
async function calibrate(p) {
  if (hz.args[0]) return;
  for (let step = 0; step < 3; step++) {
    const [t] = await timed(matrix(1), matrix(2), p);
    if (t >= TARGET_MS * 0.7 && t <= TARGET_MS * 1.5) return;
    const scaled = N * Math.cbrt(TARGET_MS / Math.max(t, 1));
    const next = Math.max(16, Math.min(1200, Math.round(scaled / 8) * 8));
    if (next === N) return;
    N = next;
  }
}

const median = (xs) => [...xs].sort((x, y) => x - y)[xs.length >> 1];

(async () => {
  const single = pool(1), multi = pool(hz.threads);
  await calibrate(single);
  const a = matrix(1), b = matrix(2);
  const agents = multi.size;
  const one = [], many = [];
  let reference;
  for (let round = 0; round < ROUNDS; round++) {
    const [t1, c1] = await timed(a, b, single);
    const [tn, cn] = await timed(a, b, multi);
    reference ??= checksum(c1);
    if (Math.abs(checksum(c1) - reference) > 1e-6 || Math.abs(checksum(cn) - reference) > 1e-6) {
      throw new Error('results differ');
    }
    one.push(t1);
    many.push(tn);
  }
  await close(single);
  await close(multi);
  const best1 = Math.min(...one), bestN = Math.min(...many);
  console.log(`${N}x${N} matrix multiply on ${hz.engine}, ${ROUNDS} rounds`);
  console.log(`1 agent:  best ${best1} ms, median ${median(one)} ms (${one.join(', ')})`);
  console.log(`${agents} agents: best ${bestN} ms, median ${median(many)} ms (${many.join(', ')})`);
  console.log(`speedup: ${(best1 / bestN).toFixed(2)}x (medians: ${(median(one) / median(many)).toFixed(2)}x)`);
})();
