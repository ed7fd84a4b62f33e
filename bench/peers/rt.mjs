// The peers' side of the benchmarks: one adapter over Node's worker_threads
// and the Web Workers of Deno and Bun (each runtime's own worker API), so
// every peer script runs unchanged on all three.
export const name = typeof Deno !== 'undefined' ? 'deno' : typeof Bun !== 'undefined' ? 'bun' : 'node';
export const args = name === 'deno' ? Deno.args : process.argv.slice(2);
export const exit = (code = 0) => (name === 'deno' ? Deno.exit(code) : process.exit(code));

const workerUrl = new URL('./worker.mjs', import.meta.url);
const NodeWorker = name === 'node' ? (await import('node:worker_threads')).Worker : null;

function fail(e) {
  console.error(`worker error: ${e && e.message ? e.message : e}`);
  exit(1);
}

/** A worker running peers/worker.mjs; it posts 'ready' once it runs. */
export class Peer {
  #queue = [];
  #waiters = [];
  #listener = null;

  constructor() {
    const deliver = (m) => {
      if (this.#listener) this.#listener(m);
      else if (this.#waiters.length) this.#waiters.shift()(m);
      else this.#queue.push(m);
    };
    if (NodeWorker) {
      this.w = new NodeWorker(workerUrl);
      this.w.on('message', deliver);
      this.w.on('error', fail);
    } else {
      this.w = new Worker(workerUrl.href, { type: 'module' });
      this.w.onmessage = (e) => deliver(e.data);
      this.w.onerror = (e) => fail(e);
    }
  }

  post(value, transfer = []) {
    this.w.postMessage(value, transfer);
  }

  /** The next message. */
  next() {
    return this.#queue.length ? Promise.resolve(this.#queue.shift()) : new Promise((r) => this.#waiters.push(r));
  }

  /** Calls `fn` for every message from now on (no promise per message). */
  listen(fn) {
    this.#listener = fn;
  }

  terminate() {
    return this.w.terminate();
  }

  /** A started worker in `mode` (see worker.mjs), its 'ready' received. */
  static async start(mode, config = {}, transfer = []) {
    const p = new Peer();
    await p.next();
    if (mode) {
      p.post({ mode, ...config }, transfer);
      await p.next();
    }
    return p;
  }
}
