// The Web Worker API of every hz agent (Worker, Event, MessageEvent,
// ErrorEvent, EventTarget; a worker's scope), over hz agents and channels.
//
// A function expression the prelude evaluates on first use (an agent that
// never touches these pays nothing for them) with what it needs from the
// prelude's closure; it returns the classes and `becomeWorker`.
//
// A worker is an hz agent with two channels (one each way) that it owns
// (closeOnEnd): when it ends, however it ends, the parent drains what it
// posted and then hears of its end (an `error` event if it failed).
({ ops, global, channel, select, spawn, structuredClone, performance, apply, isArray, PromiseResolve, PromiseReject,
   defineProperty, defineGlobal, WORKER_TAG, WeakSet, domException }) => {
  // domException() gives the constructor, made or loaded when first needed.
  const cloneError = (message) => new (domException())(message, 'DataCloneError');
  const listenerMap = new WeakMap();
  class Event {
    constructor(type, init) {
      if (arguments.length === 0) throw new TypeError("Event: the 'type' argument is required");
      this.type = String(type);
      this.target = null;
      this.currentTarget = null;
      this.defaultPrevented = false;
      this.cancelable = !!(init && init.cancelable);
      this.timeStamp = performance.now();
    }
    preventDefault() { if (this.cancelable) this.defaultPrevented = true; }
  }
  class MessageEvent extends Event {
    constructor(type, init) {
      super(type, init);
      this.data = init == null ? null : init.data === undefined ? null : init.data;
      this.ports = init != null && isArray(init.ports) ? init.ports : [];
    }
  }
  class ErrorEvent extends Event {
    constructor(type, init) {
      super(type, { cancelable: true });
      const i = init == null ? {} : init;
      this.message = i.message === undefined ? '' : String(i.message);
      this.filename = i.filename === undefined ? '' : String(i.filename);
      this.lineno = i.lineno === undefined ? 0 : Number(i.lineno);
      this.colno = i.colno === undefined ? 0 : Number(i.colno);
      this.error = i.error;
    }
  }
  // An EventTarget (so a Worker, a MessagePort, a BroadcastChannel) is
  // built as a WeakSet, with the WeakSet prototype cut out of its chain: it
  // looks a plain object, but the clone of every engine rejects it, as HTML
  // rejects platform objects: a port outside the transfer list, or a Worker,
  // in a message is a DataCloneError, not a silently empty object.
  class EventTarget extends WeakSet {
    constructor() {
      super();
    }
    addEventListener(type, listener, options) {
      if (listener == null) return;
      type = String(type);
      const once = options !== null && typeof options === 'object' && !!options.once;
      let all = listenerMap.get(this);
      if (all === undefined) listenerMap.set(this, all = new Map());
      let list = all.get(type);
      if (list === undefined) all.set(type, list = []);
      for (const l of list) if (l.listener === listener) return;
      list.push({ listener, once });
    }
    removeEventListener(type, listener) {
      const list = listenerMap.get(this)?.get(String(type));
      if (list === undefined) return;
      const i = list.findIndex((l) => l.listener === listener);
      if (i >= 0) list.splice(i, 1);
    }
    dispatchEvent(event) {
      return dispatchTo(this, this, event);
    }
  }
  Object.setPrototypeOf(EventTarget.prototype, Object.prototype);
  // Runs `on<type>` then the listeners of `holder` for `event`, with
  // `target` as the event's target. A listener that throws is reported
  // (as an uncaught error of this agent) after the others ran.
  function dispatchTo(holder, target, event) {
    event.target = target;
    event.currentTarget = target;
    const calls = [];
    const handler = holder['on' + event.type];
    if (typeof handler === 'function') calls.push([handler, target]);
    const list = listenerMap.get(holder)?.get(event.type);
    if (list !== undefined) {
      for (const l of [...list]) {
        if (l.once) holder.removeEventListener(event.type, l.listener);
        if (typeof l.listener === 'function') calls.push([l.listener, target]);
        else if (l.listener !== null && typeof l.listener.handleEvent === 'function') calls.push([l.listener.handleEvent, l.listener]);
      }
    }
    for (const [fn, self] of calls) {
      try {
        apply(fn, self, [event]);
      } catch (e) {
        PromiseReject(e); // unhandled: this agent's uncaught error, after the turn
      }
    }
    return calls.length > 0 && !event.defaultPrevented;
  }
  // ---- Messages on the wire. What a Worker, a worker's scope or a
  // MessagePort posts travels as `[data]`, or as `[data, ports]` when its
  // transfer list holds MessagePorts: each port goes as its channels
  // (`[out, in, relays]`), and where it occurs in `data` a mark stands in
  // its place, which the receiver swaps for the new MessagePort.
  const PORT_MARK = '\u0000hz:port';
  // The transfer list of `postMessage(message, transfer | { transfer })`.
  const transferList = (transfer) => (transfer == null || isArray(transfer) ? transfer : transfer.transfer);
  // `postMessage(message, transfer | { transfer })` on channel `ch` (from
  // MessagePort `self`, if from a port): the clone (and its errors) happen
  // now; a message to an agent that has ended or a port that was closed
  // is dropped, as HTML drops one to a closed port.
  function post(ch, message, transfer, self) {
    let list = transferList(transfer);
    let wire, moved;
    if (list != null && typeof list === 'object' && [...list].some((t) => portState.has(t))) {
      const rest = [], ports = [];
      for (const t of list) {
        if (!portState.has(t)) {
          rest.push(t);
          continue;
        }
        if (t === self) throw cloneError('a MessagePort cannot be transferred through itself');
        if (ports.includes(t)) throw cloneError('a MessagePort is listed twice in the transfer list');
        if (portState.get(t).moved) throw cloneError('a MessagePort that was already transferred');
        ports.push(t);
      }
      const at = new Map(ports.map((p, i) => [p, i]));
      const data = mark(message, at, new Map());
      moved = ports;
      wire = [data, ports.map(takePort)];
      list = rest;
    } else {
      wire = [message];
    }
    if (ops.info(ch)[2]) {
      if (moved !== undefined) moved.forEach(dropPort);
      structuredClone(wire, { transfer: list });
      return;
    }
    try {
      ops.send(ch, wire, list);
    } catch (e) {
      if (moved !== undefined) moved.forEach(restorePort);
      if (!ops.info(ch)[2]) throw e;
    }
  }
  // A copy of `v` with each port of `at` replaced by its mark: plain
  // objects, arrays, Maps and Sets are copied (cycles kept), every other
  // value is left to the clone.
  function mark(v, at, seen) {
    if (v === null || typeof v !== 'object') return v;
    const i = at.get(v);
    if (i !== undefined) return { [PORT_MARK]: i };
    let out = seen.get(v);
    if (out !== undefined) return out;
    if (isArray(v)) {
      seen.set(v, out = []);
      for (const k of Object.keys(v)) out[k] = mark(v[k], at, seen);
    } else if (v instanceof Map) {
      seen.set(v, out = new Map());
      for (const [k, x] of v) out.set(mark(k, at, seen), mark(x, at, seen));
    } else if (v instanceof Set) {
      seen.set(v, out = new Set());
      for (const x of v) out.add(mark(x, at, seen));
    } else if (Object.prototype.toString.call(v) === '[object Object]' && !(v instanceof EventTarget)) {
      seen.set(v, out = {});
      for (const k of Object.keys(v)) out[k] = mark(v[k], at, seen);
    } else {
      return v;
    }
    return out;
  }
  // Swaps the marks in `v` (a fresh clone) for `ports`, in place.
  function unmark(v, ports, seen) {
    if (v === null || typeof v !== 'object' || seen.has(v)) return v;
    if (Object.prototype.hasOwnProperty.call(v, PORT_MARK) && ports[v[PORT_MARK]] !== undefined) return ports[v[PORT_MARK]];
    seen.add(v);
    if (v instanceof Map) {
      const entries = [...v].map(([k, x]) => [unmark(k, ports, seen), unmark(x, ports, seen)]);
      v.clear();
      for (const [k, x] of entries) v.set(k, x);
    } else if (v instanceof Set) {
      const items = [...v].map((x) => unmark(x, ports, seen));
      v.clear();
      for (const x of items) v.add(x);
    } else if (isArray(v) || Object.prototype.toString.call(v) === '[object Object]') {
      for (const k of Object.keys(v)) v[k] = unmark(v[k], ports, seen);
    }
    return v;
  }
  // Dispatches one wire message to `holder` (a messageerror event if it
  // is not one).
  function deliver(holder, target, wire) {
    if (!isArray(wire) || wire.length < 1) {
      dispatchTo(holder, target, new MessageEvent('messageerror', { data: wire }));
      return;
    }
    let data = wire[0], ports = [];
    if (wire.length > 1) {
      ports = wire[1].map(([out, inn, relays]) => newPort(out, inn, relays));
      data = unmark(data, ports, new Set());
    }
    dispatchTo(holder, target, new MessageEvent('message', { data, ports }));
  }
  // Delivers what arrives on `ch` as message events to `holder` until the
  // channel is closed and drained; a message that cannot be read is a
  // messageerror event. (`live()`, if given, is checked before each.)
  async function pump(ch, holder, target, live) {
    for (;;) {
      let r;
      try {
        r = await ch.recv();
      } catch (e) {
        dispatchTo(holder, target, new MessageEvent('messageerror', { data: e }));
        continue;
      }
      if (r.done || (live !== undefined && !live())) return;
      deliver(holder, target, r.value);
    }
  }

  // ---- MessageChannel and MessagePort. A port is two channels, one each
  // way (unbounded, as HTML's port message queues), shared with its
  // entangled peer. Started (start(), or setting onmessage), a port
  // receives through a select on its channel and a stop channel, so that
  // transferring it stops its receiving without losing a message: one
  // already taken goes on through a relay channel that the new owner
  // drains first (a port's `relays`, drained in order before `in`).
  const UNBOUNDED = 0xffffffff;
  const portState = new WeakMap();
  const forwardOf = new WeakMap(); // stop channel -> its pump's relay
  const PORT_KEY = Symbol('MessagePort');
  // A port's channels close with the agent that holds it (until it moves
  // on), so its peer sees the end (a 'close' event) instead of waiting.
  function holdPort(s, on) {
    ops.closeOnEnd(s.out, on);
    ops.closeOnEnd(s.in, on);
  }
  function newPort(out, inn, relays) {
    const port = new MessagePort(PORT_KEY);
    const s = { out, in: inn, relays: isArray(relays) ? relays : [], stop: null, moved: false, closed: false, restart: false, handlers: {} };
    portState.set(port, s);
    holdPort(s, true);
    return port;
  }
  function startPort(port) {
    const s = portState.get(port);
    if (s.stop !== null || s.moved || s.closed) return;
    const stop = s.stop = channel(0);
    (async () => {
      for (;;) {
        const source = s.relays.length > 0 ? s.relays[0] : s.in;
        let r;
        try {
          r = await select([{ recv: source }, { recv: stop }]);
        } catch (e) {
          if (s.stop !== stop) return;
          dispatchTo(port, port, new MessageEvent('messageerror', { data: e }));
          continue;
        }
        if (s.stop !== stop) {
          // Moved (or closed) while this receive was under way: what it
          // took goes on to the new owner, first.
          const relay = forwardOf.get(stop);
          if (relay !== undefined) {
            if (r.index === 0 && !r.done) relay.trySend(r.value);
            relay.close();
          }
          return;
        }
        if (r.index === 1) return;
        if (r.done) {
          if (source !== s.in) {
            s.relays.shift();
            continue;
          }
          // The peer closed its port, or the agent holding it ended.
          dispatchTo(port, port, new Event('close'));
          return;
        }
        deliver(port, port, r.value);
      }
    })();
  }
  // Detaches `port` for a transfer: its channels travel on.
  function takePort(port) {
    const s = portState.get(port);
    s.moved = true;
    holdPort(s, false);
    s.restart = s.stop !== null;
    if (s.restart) {
      const relay = channel(UNBOUNDED);
      forwardOf.set(s.stop, relay);
      s.relays.unshift(relay);
      s.stop.close();
      s.stop = null;
    }
    return [s.out, s.in, s.relays];
  }
  // Undoes takePort when the message could not be sent.
  function restorePort(port) {
    const s = portState.get(port);
    s.moved = false;
    holdPort(s, true);
    if (s.restart) startPort(port);
  }
  function dropPort(port) {
    const s = portState.get(port);
    for (const ch of [s.out, s.in]) {
      try { ch.close(); } catch { /* closed already */ }
    }
  }
  class MessagePort extends EventTarget {
    constructor(key) {
      if (key !== PORT_KEY) throw new TypeError('MessagePort: illegal constructor');
      super();
    }
    postMessage(message, transfer) {
      const s = portState.get(this);
      if (s === undefined) throw new TypeError('MessagePort.postMessage: not a MessagePort');
      if (s.moved || s.closed) {
        structuredClone(message, { transfer: transferList(transfer) });
        return;
      }
      post(s.out, message, transfer, this);
    }
    start() {
      if (!portState.has(this)) throw new TypeError('MessagePort.start: not a MessagePort');
      startPort(this);
    }
    close() {
      const s = portState.get(this);
      if (s === undefined) throw new TypeError('MessagePort.close: not a MessagePort');
      if (s.moved || s.closed) return;
      s.closed = true;
      if (s.stop !== null) {
        s.stop.close();
        s.stop = null;
      }
      holdPort(s, false);
      dropPort(this);
    }
  }
  class MessageChannel {
    #port1;
    #port2;
    constructor() {
      const a = channel(UNBOUNDED), b = channel(UNBOUNDED);
      this.#port1 = newPort(a, b, []);
      this.#port2 = newPort(b, a, []);
    }
    get port1() { return this.#port1; }
    get port2() { return this.#port2; }
  }

  // Where an error was thrown, from its stack: [file, line, column].
  function locate(e, fallback) {
    const stack = e !== null && typeof e === 'object' && typeof e.stack === 'string' ? e.stack : '';
    const m = /\(?([^\s()]+):(\d+):(\d+)\)?/.exec(stack);
    return m ? [m[1], Number(m[2]), Number(m[3])] : [fallback, 0, 0];
  }
  const workers = new WeakMap();
  class Worker extends EventTarget {
    constructor(url, options) {
      super();
      const o = options == null ? {} : options;
      const type = o.type === undefined ? 'classic' : String(o.type);
      if (type !== 'classic' && type !== 'module') throw new TypeError('Worker: type must be "classic" or "module"');
      const name = o.name === undefined ? '' : String(o.name);
      const to = channel(1024), from = channel(1024);
      const spec = { args: [WORKER_TAG, to, from, name], closeOnEnd: [to, from] };
      if (o.engine !== undefined) spec.engine = String(o.engine);
      let where;
      if (url !== null && typeof url === 'object' && typeof url.source === 'string') {
        if (type === 'module') throw new TypeError('Worker: a module worker needs a file (use { source } for a classic script)');
        spec.source = url.source;
        spec.name = where = name === '' ? '<worker>' : name;
      } else {
        const path = String(url);
        if (type !== 'module') {
          throw new TypeError("Worker: a worker from a file is a module: pass { type: 'module' } (as Deno requires), or { source } for a classic script");
        }
        spec.module = where = path;
        if (name !== '') spec.name = name;
      }
      const handle = spawn(spec);
      const state = { handle, to, terminated: false };
      workers.set(this, state);
      pump(from, this, this).then(() => handle.join()).then(() => {}, (e) => {
        if (state.terminated) return;
        const [filename, lineno, colno] = locate(e, where);
        const event = new ErrorEvent('error', {
          message: 'Uncaught ' + (e !== null && typeof e === 'object' && 'name' in e ? e.name + ': ' + e.message : String(e)),
          filename, lineno, colno, error: e,
        });
        // Nobody listening: the worker's error is the parent's, as a
        // browser reports it to the parent's global.
        if (!dispatchTo(this, this, event) && !event.defaultPrevented) PromiseReject(e);
      });
    }
    postMessage(message, transfer) {
      post(workers.get(this).to, message, transfer);
    }
    terminate() {
      const state = workers.get(this);
      state.terminated = true;
      state.handle.terminate();
    }
  }

  // ---- BroadcastChannel: every BroadcastChannel object of one name, in
  // every agent of the runtime, hears what any other posts (not itself).
  // The runtime keeps the subscribers (hz's own host function): a message
  // is cloned once, at the post, and goes to each subscriber's unbounded
  // channel, which its object receives from from the start. As in Node, an
  // open BroadcastChannel keeps its agent alive: close() it when done.
  const BROADCAST = '\u0000hz:broadcast';
  const broadcastState = new WeakMap();
  function broadcast(args) {
    const r = ops.callHost(BROADCAST, args);
    if (r[0] === 2) throw r[1];
    return r[1];
  }
  function bcState(bc, what) {
    const s = broadcastState.get(bc);
    if (s === undefined) throw new TypeError('BroadcastChannel.' + what + ': not a BroadcastChannel');
    return s;
  }
  class BroadcastChannel extends EventTarget {
    constructor(name) {
      if (arguments.length === 0) throw new TypeError("BroadcastChannel: the 'name' argument is required");
      super();
      const s = { name: String(name), ch: null, closed: false, handlers: {} };
      s.ch = broadcast(['subscribe', s.name]);
      broadcastState.set(this, s);
      pump(s.ch, this, this, () => !s.closed);
    }
    get name() {
      return bcState(this, 'name').name;
    }
    postMessage(message) {
      const s = bcState(this, 'postMessage');
      if (s.closed) throw new (domException())('BroadcastChannel.postMessage: the channel is closed', 'InvalidStateError');
      broadcast(['post', s.name, s.ch, message]);
    }
    close() {
      const s = bcState(this, 'close');
      if (s.closed) return;
      s.closed = true;
      try { s.ch.close(); } catch { /* closed already */ }
    }
  }
  for (const [cls, state, types] of [
    [MessagePort, portState, ['message', 'messageerror', 'close']],
    [BroadcastChannel, broadcastState, ['message', 'messageerror']],
  ]) {
    for (const type of types) {
      defineProperty(cls.prototype, 'on' + type, {
        get() {
          const h = state.get(this)?.handlers['on' + type];
          return h === undefined ? null : h;
        },
        set(f) {
          const s = state.get(this);
          if (s === undefined) throw new TypeError(cls.name + ': not a ' + cls.name);
          s.handlers['on' + type] = typeof f === 'function' ? f : null;
          if (cls === MessagePort && type === 'message' && typeof f === 'function') startPort(this);
        },
        configurable: true,
        enumerable: true,
      });
    }
  }

  // Inside a worker: its scope's postMessage, close, events.
  function becomeWorker(to, from, name) {
    const scope = new EventTarget();
    let receiving = false;
    const receive = () => {
      if (receiving) return;
      receiving = true;
      pump(to, scope, global);
    };
    defineGlobal('self', global);
    defineGlobal('name', name);
    defineGlobal('postMessage', (message, transfer) => post(from, message, transfer));
    defineGlobal('close', () => { try { to.close(); } catch { /* closed already */ } });
    defineGlobal('addEventListener', (type, listener, options) => {
      scope.addEventListener(type, listener, options);
      if (String(type) === 'message') receive();
    });
    defineGlobal('removeEventListener', (type, listener) => scope.removeEventListener(type, listener));
    defineGlobal('dispatchEvent', (event) => dispatchTo(scope, global, event));
    for (const type of ['message', 'messageerror']) {
      defineProperty(global, 'on' + type, {
        get: () => scope['on' + type] === undefined ? null : scope['on' + type],
        set: (f) => {
          scope['on' + type] = f;
          if (typeof f === 'function') receive();
        },
        configurable: true,
        enumerable: true,
      });
    }
  }

  return { Event, MessageEvent, ErrorEvent, EventTarget, Worker, MessageChannel, MessagePort, BroadcastChannel, becomeWorker };
}
