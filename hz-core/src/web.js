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
({ ops, global, channel, spawn, structuredClone, performance, apply, isArray, PromiseResolve, PromiseReject,
   defineProperty, defineGlobal, WORKER_TAG }) => {
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
  class EventTarget {
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
  // `postMessage(message, transfer | { transfer })` on channel `ch`: the
  // clone (and its errors) happen now; a message to an agent that has
  // ended is dropped, as HTML drops one to a closed port.
  function post(ch, message, transfer) {
    const list = transfer == null ? undefined : isArray(transfer) ? transfer : transfer.transfer;
    if (ops.info(ch)[2]) {
      structuredClone(message, { transfer: list });
      return;
    }
    try {
      ops.send(ch, message, list);
    } catch (e) {
      if (!ops.info(ch)[2]) throw e;
    }
  }
  // Delivers what arrives on `ch` as message events to `holder` until the
  // channel is closed and drained; a message that cannot be read is a
  // messageerror event.
  async function pump(ch, holder, target) {
    for (;;) {
      let r;
      try {
        r = await ch.recv();
      } catch (e) {
        dispatchTo(holder, target, new MessageEvent('messageerror', { data: e }));
        continue;
      }
      if (r.done) return;
      dispatchTo(holder, target, new MessageEvent('message', { data: r.value }));
    }
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

  return { Event, MessageEvent, ErrorEvent, EventTarget, Worker, becomeWorker };
}
