// Multiply two N x N matrices, once on one agent and once split across one
// agent per worker thread, and report the speedup. Each agent gets its band
// of rows of A and all of B (cloned), and returns its band of C.
//
//   cargo run --release -- run examples/matrix.js --threads 2
const N = Number(hz.args[0]) || 256;

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

(async () => {
  const a = matrix(1), b = matrix(2);
  const agents = hz.threads;
  let t0 = Date.now();
  const one = await multiply(a, b, 1);
  const t1 = Date.now() - t0;
  t0 = Date.now();
  const many = await multiply(a, b, agents);
  const tn = Date.now() - t0;
  if (Math.abs(checksum(one) - checksum(many)) > 1e-6) throw new Error('results differ');
  console.log(`${N}x${N} matrix multiply on ${hz.engine}`);
  console.log(`1 agent:  ${t1} ms`);
  console.log(`${agents} agents: ${tn} ms`);
  console.log(`speedup: ${(t1 / tn).toFixed(2)}x`);
})();
