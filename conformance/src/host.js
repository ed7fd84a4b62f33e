// The Test262 host (HOST.md section 2) over hz's JS API, for every engine:
// `print`, `$262` and `$262.agent` with real parallel agents. A function
// expression: the runner calls it with (globalThis, false) before the
// harness in the test's agent, and `start` prefixes each agent's source
// with a call of it with (globalThis, true).
// `hz.args` carries the runner's channels; this file keeps its own copies
// of what it uses, so a test that replaces globals cannot break the host.
(function (global, AGENT) {
  'use strict';
  const { Int32Array, SharedArrayBuffer, Atomics, String, Object, TypeError } = global;
  const AtomicsWait = Atomics.wait, AtomicsLoad = Atomics.load, AtomicsStore = Atomics.store;
  const AtomicsAdd = Atomics.add, AtomicsNotify = Atomics.notify;
  const transfer = global.ArrayBuffer.prototype.transfer;
  const detached = Object.getOwnPropertyDescriptor(global.ArrayBuffer.prototype, 'detached').get;
  const perf = global.performance, perfNow = perf && perf.now, DateNow = global.Date.now;
  const apply = Reflect.apply;
  const spawn = hz.spawn, channel = hz.channel, createRealm = hz.createRealm, gc = hz.gc;
  const [out, reports, hostSource] = hz.args;
  const define = (o, k, v) => Object.defineProperty(o, k, { value: v, writable: true, configurable: true, enumerable: false });

  const monotonicNow = () => (perfNow ? apply(perfNow, perf, []) : DateNow());
  // Blocks the thread for ms milliseconds; an agent that cannot block
  // (a CanBlockIsFalse run) spins instead.
  const cell = new Int32Array(new SharedArrayBuffer(4));
  function sleep(ms) {
    const t = +ms;
    try {
      AtomicsWait(cell, 0, 0, t);
    } catch {
      const end = monotonicNow() + t;
      while (monotonicNow() < end) { /* spin */ }
    }
  }
  // Blocks until flags[index] reaches target (the host's own waits).
  function blockUntil(flags, index, target) {
    let v;
    while ((v = AtomicsLoad(flags, index)) < target) {
      try {
        AtomicsWait(flags, index, v, 50);
      } catch { /* cannot block: spin */ }
    }
  }

  const agent = { sleep, monotonicNow };
  if (!AGENT) {
    const inboxes = [];
    agent.start = function start(src) {
      const started = new Int32Array(new SharedArrayBuffer(4));
      const inbox = channel(16);
      spawn({
        source: hostSource + '\n;' + String(src),
        name: 'test262-agent',
        args: [out, reports, hostSource, started, inbox],
      });
      inboxes.push(inbox);
      blockUntil(started, 0, 1);
    };
    agent.broadcast = function broadcast(sab, num) {
      const acks = new Int32Array(new SharedArrayBuffer(4));
      for (const inbox of inboxes) {
        if (!inbox.trySend([sab, num, acks])) throw new TypeError('$262.agent.broadcast: an agent has 16 broadcasts unread');
      }
      blockUntil(acks, 0, inboxes.length);
    };
    agent.getReport = function getReport() {
      const r = reports.tryRecv();
      return r === undefined || r.done ? null : r.value;
    };
  } else {
    const [, , , started, inbox] = hz.args;
    agent.receiveBroadcast = function receiveBroadcast(cb) {
      inbox.recv().then(({ value }) => {
        const [sab, num, acks] = value;
        AtomicsAdd(acks, 0, 1);
        AtomicsNotify(acks, 0);
        cb(sab, num);
      });
    };
    agent.report = function report(msg) {
      reports.trySend(String(msg));
    };
    agent.leaving = function leaving() {};
    AtomicsStore(started, 0, 1);
    AtomicsNotify(started, 0);
  }

  function print(x) {
    out.trySend(String(x));
  }
  // The API of HOST.md on realm `g`: this agent's realm, or one createRealm
  // made (those share this agent's `agent` and its reports).
  function install(g) {
    const evalIn = g.eval;
    const $262 = {
      global: g,
      agent,
      createRealm() {
        return install(createRealm());
      },
      detachArrayBuffer(buffer) {
        // DetachArrayBuffer: transfer() detaches its source (a TypeError for
        // a SharedArrayBuffer, which cannot be detached); detaching a
        // detached buffer again does nothing.
        if (!apply(detached, buffer, [])) apply(transfer, buffer, []);
        return null;
      },
      evalScript(src) {
        // An indirect eval of the realm's own eval: global code of that realm.
        return evalIn(String(src));
      },
      gc() {
        gc();
      },
    };
    define(g, '$262', $262);
    define(g, 'print', print);
    return $262;
  }
  install(global);
})
