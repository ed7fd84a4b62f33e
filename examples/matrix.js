// Multiply two N x N matrices on one agent and split across one agent per
// worker thread, and report the speedup. Each agent gets its band of rows of
// A and all of B (cloned), and returns its band of C.
//
// The two configurations alternate for 5 rounds. The speedup compares the
// best times: interference (a VM's host, other processes) only ever adds
// time, so the minimum is the stable estimate of what the code does; the
// medians and every sample are printed too.
//
//   cargo run --release -- run examples/matrix.js --threads 2
const N = Number(hz.args[0]) || 240;

function random(seed) {
  let s = seed;
  return () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) - 0.5;
}

function matrix(seed) {
  const r = random(seed);
  const m = new Float64Array(N * N);
  for (let i = 0; i < m.length; i++) m[i] = r();
  return m;
}

// Rows [from, to) of A times B; runs inside an agent (no captured scope).
function multiplyRows(a, b, n, from, to) {
  const c = new Float64Array((to - from) * n);
  for (let i = from; i < to; i++) {
    for (let k = 0; k < n; k++) {
      const aik = a[(i - from) * n + k];
      const row = (i - from) * n;
      const bk = k * n;
      for (let j = 0; j < n; j++) c[row + j] += aik * b[bk + j];
    }
  }
  return c;
}

async function multiply(a, b, agents) {
  const band = Math.ceil(N / agents);
  const handles = [];
  for (let p = 0; p < agents; p++) {
    const from = p * band, to = Math.min(N, from + band);
    if (from >= to) break;
    handles.push(hz.spawn(multiplyRows, a.subarray(from * N, to * N), b, N, from, to));
  }
  const bands = await Promise.all(handles.map((h) => h.join()));
  const c = new Float64Array(N * N);
  let offset = 0;
  for (const band of bands) {
    c.set(band, offset);
    offset += band.length;
  }
  return c;
}

function checksum(c) {
  let s = 0;
  for (let i = 0; i < c.length; i++) s += c[i] * ((i % 7) + 1);
  return s;
}

async function timed(a, b, agents) {
  const t0 = Date.now();
  const c = await multiply(a, b, agents);
  return [Date.now() - t0, c];
}

const median = (xs) => [...xs].sort((x, y) => x - y)[xs.length >> 1];

(async () => {
  const a = matrix(1), b = matrix(2);
  const agents = hz.threads;
  const one = [], many = [];
  let reference;
  for (let round = 0; round < 5; round++) {
    const [t1, c1] = await timed(a, b, 1);
    const [tn, cn] = await timed(a, b, agents);
    reference ??= checksum(c1);
    if (Math.abs(checksum(c1) - reference) > 1e-6 || Math.abs(checksum(cn) - reference) > 1e-6) {
      throw new Error('results differ');
    }
    one.push(t1);
    many.push(tn);
  }
  const best1 = Math.min(...one), bestN = Math.min(...many);
  console.log(`${N}x${N} matrix multiply on ${hz.engine}, 5 rounds`);
  console.log(`1 agent:  best ${best1} ms, median ${median(one)} ms (${one.join(', ')})`);
  console.log(`${agents} agents: best ${bestN} ms, median ${median(many)} ms (${many.join(', ')})`);
  console.log(`speedup: ${(best1 / bestN).toFixed(2)}x (medians: ${(median(one) / median(many)).toFixed(2)}x)`);
})();
