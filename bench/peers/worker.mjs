// The peers' worker: posts 'ready', then takes a {mode, ...} message that
// says what to do with the messages after it (answering 'ok').
import { atomicsPong, multiplyRows } from '../lib.mjs';

const web = typeof Deno !== 'undefined' || typeof Bun !== 'undefined';
const port = web ? self : (await import('node:worker_threads')).parentPort;
const post = (v, transfer = []) => port.postMessage(v, transfer);
let handle = null;

const modes = {
  // Answers every message with itself (moving it back when it is a buffer
  // and `transfer` is set).
  echo: (cfg) => (v) => post(v, cfg.transfer && v instanceof ArrayBuffer ? [v] : []),
  // On {n}, posts 0..n-1.
  produce: () => ({ n }) => {
    for (let i = 0; i < n; i++) post(i);
  },
  // Atomics ping-pong on cfg.ia (after answering 'ok').
  atomics: ({ ia }) => {
    queueMicrotask(() => atomicsPong(ia));
    return () => {};
  },
  // Rows [from, to) of cfg.a times cfg.bt, answered as [from, band].
  matrix: ({ a, bt, n }) => ([from, to]) => {
    const c = multiplyRows(a, bt, n, from, to);
    post([from, c], [c.buffer]);
  },
};

const receive = (v) => {
  if (handle) return handle(v);
  handle = modes[v.mode](v);
  post('ok');
};
if (web) port.onmessage = (e) => receive(e.data);
else port.on('message', receive);
post('ready');
