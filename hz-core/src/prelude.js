// hz's JS API, written once for every engine. A backend evaluates this
// function expression and calls it with its natives (`ops`) and the global
// object; it returns the internals the backend calls back into.
//
// Native contract (each backend provides these on `ops`):
//   channelPrototype                 prototype of native channel objects
//   channel(cap) -> ch               a new channel object
//   send(ch, v, transfer) -> r       r: op id (pending) or [status, value, index]
//   recv(ch) -> r
//   trySend(ch, v) -> bool           throws if closed
//   tryRecv(ch) -> undefined | [status, value]
//   close(ch)                        throws if already closed
//   info(ch) -> [capacity, length, closed]
//   select(list, hasDefault, timeoutMs) -> r   list: [[ch, isSend, value], ...]
//   spawn(kind, code, name, engine, args, canBlock, options) -> id   kind 0 function, 1 script, 2 module
//                                    (code is its path); options: undefined or
//                                    [heap, stack, turnMs, cpuMs, closeOnEnd channels]
//   callHost(name, args) -> r        a host function: r as send's (a sync one completes now)
//   webSource() -> text              web.js (the Worker API), read on first use
//   join(id) -> r
//   terminate(id) -> bool
//   timer(ms) -> op id;  cancel(op) -> bool
//   settle(ok, value)                records the agent's result (throws DataCloneError)
//   clone(v, transfer) -> copy       structuredClone
//   print(stream, text)              stream 1 stdout, 2 stderr
//   wait(sab, byteIndex, big, value, timeoutMs) -> "ok" | "not-equal" | "timed-out"
//                                    blocks; TypeError if the agent cannot block
//   waitAsync(sab, byteIndex, big, value, timeoutMs) -> "not-equal" | "timed-out" | op id
//   notify(sab, byteIndex, count) -> number woken
//   sabLength(sab, seen) -> n          optional: for engines that keep a growable
//   sabGrow(sab, seen, n) -> bool      SAB's length per object (see below)
//   newRealm() -> global             optional: a new realm's global object
//   gc()                             runs the agent's garbage collector
//   threadId() -> n                  index of the worker thread running this turn
//   now() -> ms                      a monotonic clock in milliseconds (fractional)
//   engine                           the engine's name
//   threads                          the runtime's worker thread count
// Status codes mirror hz_core::Status.
(function (ops, global) {
  'use strict';
  const OK = 0, DONE = 1, ERROR = 2, TIMEOUT = 3, DEFAULT = 4;
  const SEND = 0, RECV = 1, JOIN = 2, SELECT = 3, WAIT = 4;

  // Intrinsics captured before user code can replace them.
  const { Promise, Map, Error, TypeError, RangeError, Symbol, Object, Array, String, Number, JSON } = global;
  const PromiseResolve = Promise.resolve.bind(Promise);
  const PromiseReject = Promise.reject.bind(Promise);
  const isArray = Array.isArray;
  const WeakSet = global.WeakSet;
  const globalEval = global.eval;
  const defineProperty = Object.defineProperty;
  const fnToString = Function.prototype.toString;
  const mapForEach = Map.prototype.forEach;
  const setForEach = global.Set.prototype.forEach;
  const apply = Reflect.apply;
  // `uncurry(f)(self, ...args)` is `f.call(self, ...args)` without building
  // an arguments array (apply's cost dominated Atomics.wait/notify).
  const uncurry = (f) => Function.prototype.call.bind(f);

  // For the backends' clone code: reading and building the values the C
  // APIs of every engine do not expose alike (Map/Set iteration, views...).
  const getter = (o, k) => Object.getOwnPropertyDescriptor(o, k).get;
  const typedArrayProto = Object.getPrototypeOf(Int8Array.prototype);
  const taTag = getter(typedArrayProto, Symbol.toStringTag);
  const taBuffer = getter(typedArrayProto, 'buffer');
  const taOffset = getter(typedArrayProto, 'byteOffset');
  const taLength = getter(typedArrayProto, 'length');
  const dvBuffer = getter(DataView.prototype, 'buffer');
  const dvOffset = getter(DataView.prototype, 'byteOffset');
  const dvLength = getter(DataView.prototype, 'byteLength');
  const abProto = ArrayBuffer.prototype;
  const abByteLength = getter(abProto, 'byteLength');
  const abResizable = getter(abProto, 'resizable');
  const abMaxByteLength = getter(abProto, 'maxByteLength');
  const abResize = abProto.resize;
  const sabProto = SharedArrayBuffer.prototype;
  const sabGrowable = getter(sabProto, 'growable');
  const sabMaxByteLength = getter(sabProto, 'maxByteLength');
  const sabByteLength = getter(sabProto, 'byteLength');
  const sabByteLengthOf = uncurry(sabByteLength);
  const isShared = (b) => {
    try {
      sabByteLengthOf(b);
      return true;
    } catch {
      return false;
    }
  };
  const abDetachedGet = Object.getOwnPropertyDescriptor(abProto, 'detached')?.get;
  const abImmutableGet = Object.getOwnPropertyDescriptor(abProto, 'immutable')?.get;
  const weakRefDeref = global.WeakRef?.prototype.deref;
  const registryUnregister = global.FinalizationRegistry?.prototype.unregister;
  // ES2024's `detached` getter where the engine has it; else a detached
  // buffer is the one a view cannot be made over.
  const isDetached = (b) => {
    if (abDetachedGet !== undefined) return apply(abDetachedGet, b, []);
    try {
      new Uint8Array(b);
      return false;
    } catch {
      return true;
    }
  };
  const taAt = typedArrayProto.at;
  const Uint8ArrayCtor = Uint8Array, ArrayBufferCtor = ArrayBuffer, RegExpCtor = RegExp;
  const reSource = getter(RegExp.prototype, 'source');
  // Each flag getter reads the internal [[OriginalFlags]]: not overridable
  // per instance, unlike the generic `flags` getter.
  const reFlags = [['hasIndices', 'd'], ['global', 'g'], ['ignoreCase', 'i'], ['multiline', 'm'],
    ['dotAll', 's'], ['unicode', 'u'], ['unicodeSets', 'v'], ['sticky', 'y']]
    .filter(([k]) => Object.getOwnPropertyDescriptor(RegExp.prototype, k) !== undefined)
    .map(([k, f]) => [getter(RegExp.prototype, k), f]);
  const getOwnPropertyDescriptor = Object.getOwnPropertyDescriptor;
  const ObjectCtor = Object;
  // Each reads [[BooleanData]] etc. and throws for any other object.
  const wrapperValueOf = [Boolean.prototype.valueOf, Number.prototype.valueOf, String.prototype.valueOf,
    BigInt.prototype.valueOf];
  const hasOwn = Object.prototype.hasOwnProperty;
  const mapSet = Map.prototype.set;
  const setAdd = global.Set.prototype.add;
  const dateGetTime = Date.prototype.getTime;
  const bigintToString = BigInt.prototype.toString;
  const BigIntCtor = BigInt, DateCtor = Date, SetCtor = global.Set;
  const viewCtors = { __proto__: null, DataView };
  for (const n of ['Int8Array', 'Uint8Array', 'Uint8ClampedArray', 'Int16Array', 'Uint16Array', 'Int32Array',
    'Uint32Array', 'Float16Array', 'Float32Array', 'Float64Array', 'BigInt64Array', 'BigUint64Array']) {
    if (typeof global[n] === 'function') viewCtors[n] = global[n];
  }
  const errorCtors = { __proto__: null };
  for (const n of ['Error', 'EvalError', 'RangeError', 'ReferenceError', 'SyntaxError', 'TypeError', 'URIError']) {
    errorCtors[n] = global[n];
  }
  // hz.LimitError: an agent exceeded one of its limits (its join rejects
  // with one). Clones keep the class, as they keep the standard ones.
  class LimitError extends RangeError {}
  defineProperty(LimitError.prototype, 'name', { value: 'LimitError', writable: true, configurable: true });
  errorCtors.LimitError = LimitError;
  const cloneHelpers = {
    mapEntries(m) {
      const a = [];
      apply(mapForEach, m, [(v, k) => { a.push(k, v); }]);
      return a;
    },
    setValues(s) {
      const a = [];
      apply(setForEach, s, [(v) => { a.push(v); }]);
      return a;
    },
    newMap: () => new Map(),
    mapSet: (m, k, v) => { apply(mapSet, m, [k, v]); },
    newSet: () => new SetCtor(),
    setAdd: (s, v) => { apply(setAdd, s, [v]); },
    dateValue: (d) => apply(dateGetTime, d, []),
    newDate: (t) => new DateCtor(t),
    bigintHex: (b) => apply(bigintToString, b, [16]),
    newBigInt(hex, negative) {
      const b = BigIntCtor('0x' + hex);
      return negative ? -b : b;
    },
    // [constructor name, buffer, byteOffset, length (bytes for DataView),
    //  tracks its buffer's length, out of bounds, buffer detached].
    viewInfo(v) {
      const tag = apply(taTag, v, []);
      const dv = tag === undefined;
      const buffer = apply(dv ? dvBuffer : taBuffer, v, []);
      const shared = isShared(buffer);
      if (!shared && isDetached(buffer)) return [dv ? 'DataView' : tag, buffer, 0, 0, false, false, true];
      const length = () => apply(dv ? dvLength : taLength, v, []);
      const inBounds = () => {
        try {
          if (dv) apply(dvLength, v, []);
          else apply(taAt, v, [0]); // ValidateTypedArray: throws when out of bounds
          return true;
        } catch {
          return false;
        }
      };
      if (!inBounds()) return [dv ? 'DataView' : tag, buffer, 0, 0, false, true, false];
      const offset = apply(dv ? dvOffset : taOffset, v, []);
      const len = length();
      const size = dv ? 1 : viewCtors[tag].BYTES_PER_ELEMENT;
      // A growable SharedArrayBuffer cannot shrink back, so it is never
      // probed: its views travel as fixed-length.
      const tracks = !shared && tracksLength(buffer, len, length, inBounds, size);
      return [dv ? 'DataView' : tag, buffer, offset, len, tracks, false, false];
    },
    newView(name, buffer, offset, length) {
      const C = viewCtors[name];
      if (C === undefined) throw new TypeError(name + ' is not supported by this engine');
      return length === undefined ? new C(buffer, offset) : new C(buffer, offset, length);
    },
    // [growable, maxByteLength, byteLength] of a SharedArrayBuffer
    sabInfo: (b) => [apply(sabGrowable, b, []), apply(sabMaxByteLength, b, []), apply(sabByteLength, b, [])],
    // [resizable, maxByteLength, detached]
    bufferInfo: (b) => [apply(abResizable, b, []), apply(abMaxByteLength, b, []), isDetached(b)],
    newResizable(copy, max) {
      const b = new ArrayBufferCtor(apply(abByteLength, copy, []), { maxByteLength: max });
      new Uint8ArrayCtor(b).set(new Uint8ArrayCtor(copy));
      return b;
    },
    // [source, flags] from the internal slots.
    regexpInfo(r) {
      let flags = '';
      for (const [get, f] of reFlags) if (apply(get, r, [])) flags += f;
      return [apply(reSource, r, []), flags];
    },
    newRegExp: (source, flags) => new RegExpCtor(source, flags),
    // Whether an object has internal slots that no clone type covers (a
    // WeakRef or FinalizationRegistry), for engines that cannot tell by class.
    slotted(o) {
      try {
        apply(weakRefDeref, o, []);
        return true;
      } catch {}
      try {
        apply(registryUnregister, o, [{}]);
        return true;
      } catch {}
      return false;
    },
    // Whether an ArrayBuffer is immutable (cannot be detached).
    immutable: (b) => abImmutableGet !== undefined && apply(abImmutableGet, b, []),
    primitiveOf(v) {
      for (const f of wrapperValueOf) {
        try {
          return apply(f, v, []);
        } catch {}
      }
      throw new TypeError('not a primitive wrapper object');
    },
    newPrimitiveObject: (p) => ObjectCtor(p),
    // HTML: the name (normalised by the caller), `message` only if an own
    // data property, the stack if it is a string, and the cause if own.
    // [name, message, stack, hasCause, cause, props]: props is a plain
    // object of the other own enumerable data properties (a custom error's
    // `code`...), leaving out functions and symbols, or undefined.
    errorInfo(e) {
      const name = e.name;
      const m = getOwnPropertyDescriptor(e, 'message');
      const message = m !== undefined && 'value' in m ? String(m.value) : undefined;
      const stack = typeof e.stack === 'string' ? e.stack : undefined;
      const hasCause = apply(hasOwn, e, ['cause']);
      let props;
      for (const k of ObjectCtor.keys(e)) {
        if (k === 'name' || k === 'message' || k === 'stack' || k === 'cause') continue;
        const d = getOwnPropertyDescriptor(e, k);
        if (d === undefined || !('value' in d) || typeof d.value === 'function' || typeof d.value === 'symbol') continue;
        // Defined, not assigned: an own `__proto__` stays a property.
        defineProperty(props ??= {}, k, { value: d.value, writable: true, enumerable: true, configurable: true });
      }
      return [typeof name === 'string' ? name : 'Error', message, stack, hasCause, hasCause ? e.cause : undefined, props];
    },
    // A standard error's own class; any other name (a custom error's) on
    // an Error, as an own property.
    newError(name, message, stack) {
      const C = errorCtors[name] || Error;
      const e = message === undefined ? new C() : new C(message);
      if (e.name !== name) defineProperty(e, 'name', { value: name, writable: true, configurable: true });
      if (stack !== undefined) defineProperty(e, 'stack', { value: stack, writable: true, configurable: true });
      return e;
    },
    setErrorProps(e, props) {
      for (const k of ObjectCtor.keys(props)) {
        defineProperty(e, k, { value: props[k], writable: true, enumerable: true, configurable: true });
      }
    },
  };

  // Whether a view over a resizable buffer tracks the buffer's length. No
  // getter tells; resizing by one element and back does, invisibly (no
  // JavaScript runs in between, and bytes a shrink would zero are restored).
  function tracksLength(buffer, len, length, inBounds, size) {
    if (!apply(abResizable, buffer, [])) return false;
    const bytes = apply(abByteLength, buffer, []);
    const max = apply(abMaxByteLength, buffer, []);
    // Grow by one element: a tracking view gains one, a fixed one does not.
    if (bytes + size <= max) {
      apply(abResize, buffer, [bytes + size]);
      const grown = length();
      apply(abResize, buffer, [bytes]);
      return grown === len + 1;
    }
    // At its maximum: shrink by one element (a fixed view may go out of
    // bounds, a tracking one loses one), then restore the bytes.
    if (bytes >= size) {
      const saved = new Uint8ArrayCtor(buffer, bytes - size, size).slice();
      apply(abResize, buffer, [bytes - size]);
      const ok = inBounds();
      const shrunk = ok ? length() : -1;
      apply(abResize, buffer, [bytes]);
      new Uint8ArrayCtor(buffer, bytes - size, size).set(saved);
      return ok && shrunk === len - 1;
    }
    return false;
  }

  const pending = new Map(); // op id -> [resolve, reject, shape, extra]
  const timers = new Map();  // op id -> timer record
  const timerOps = new Map(); // public timer id -> op id
  let timerSeq = 0;

  if (typeof global.DOMException !== 'function') {
    class DOMException extends Error {
      constructor(message = '', name = 'Error') {
        super(message);
        defineProperty(this, 'name', { value: String(name), writable: true, configurable: true });
      }
    }
    defineProperty(global, 'DOMException', { value: DOMException, writable: true, configurable: true });
  }
  const DOMExceptionCtor = global.DOMException;
  function makeError(name, message) {
    if (name === 'DataCloneError') return new DOMExceptionCtor(message, name);
    const ctor = errorCtors[name] || global[name];
    if (typeof ctor === 'function' && (ctor === Error || ctor.prototype instanceof Error)) return new ctor(message);
    const e = new Error(message);
    e.name = name;
    return e;
  }

  function present(status, value, index, shape, extra, resolve, reject) {
    if (status === ERROR) return reject(value);
    switch (shape) {
      case SEND: return resolve(undefined);
      case RECV: return resolve(status === DONE ? { value: undefined, done: true } : { value, done: false });
      case JOIN: return resolve(value);
      case WAIT: return resolve(value);
      case SELECT:
        if (status === TIMEOUT) return resolve({ index: -1, timeout: true });
        if (status === DEFAULT) return resolve({ index: -1, default: true });
        if (extra[index]) return resolve({ index }); // a send case
        return resolve(status === DONE ? { index, value: undefined, done: true } : { index, value, done: false });
    }
  }

  // Starts the native op `native(a, b, c)` and returns its promise: the op
  // returns its op id (pending) or its result now, and a throw rejects. A
  // result now costs no closure and no executor: the hot path of every send
  // and receive. (Natives ignore arguments they do not take.)
  function op(shape, extra, native, a, b, c) {
    let r;
    try {
      r = native(a, b, c);
    } catch (e) {
      return PromiseReject(e);
    }
    if (typeof r !== 'number') return present(r[0], r[1], r[2], shape, extra, PromiseResolve, PromiseReject);
    return new Promise((resolve, reject) => {
      pending.set(r, [resolve, reject, shape, extra]);
    });
  }

  // Channels: native objects with this prototype.
  const proto = ops.channelPrototype;
  const methods = {
    send(value, options) {
      return op(SEND, undefined, ops.send, this, value, options == null ? undefined : options.transfer);
    },
    recv() {
      return op(RECV, undefined, ops.recv, this);
    },
    trySend(value) {
      return ops.trySend(this, value);
    },
    tryRecv() {
      const r = ops.tryRecv(this);
      if (r === undefined) return undefined;
      return r[0] === DONE ? { value: undefined, done: true } : { value: r[1], done: false };
    },
    close() {
      ops.close(this);
    },
    // `for await (const v of ch)`: each step is one receive, whose result
    // is already an iterator result (no async generator in between).
    // Leaving the loop early leaves the channel open.
    [Symbol.asyncIterator]() {
      const ch = this;
      return {
        next: () => ch.recv(),
        return: (value) => PromiseResolve({ value, done: true }),
        [Symbol.asyncIterator]() {
          return this;
        },
      };
    },
  };
  for (const k of Reflect.ownKeys(methods)) {
    defineProperty(proto, k, { value: methods[k], writable: true, configurable: true });
  }
  for (const [k, i] of [['capacity', 0], ['length', 1], ['closed', 2]]) {
    defineProperty(proto, k, { get() { return ops.info(this)[i]; }, configurable: true });
  }
  defineProperty(proto, Symbol.toStringTag, { value: 'Channel', configurable: true });

  class AgentHandle {
    #id;
    #joined;
    constructor(id) {
      this.#id = id;
    }
    get id() {
      return this.#id;
    }
    // One join per handle: the core forgets a joined child.
    join() {
      return this.#joined ??= op(JOIN, undefined, ops.join, this.#id);
    }
    terminate() {
      return ops.terminate(this.#id);
    }
  }

  // `limits: { heapBytes, stackBytes, turnMs, cpuMs }` -> the array
  // ops.spawn takes (-1: no limit of that kind).
  function spawnLimits(l) {
    if (l === null || typeof l !== 'object') throw new TypeError('hz.spawn: limits must be an object');
    const num = (k) => {
      const v = l[k];
      if (v === undefined) return -1;
      const n = Number(v);
      if (!(n >= 0)) throw new RangeError('hz.spawn: limits.' + k + ' must be a non-negative number');
      return n;
    };
    return [num('heapBytes'), num('stackBytes'), num('turnMs'), num('cpuMs')];
  }

  // `closeOnEnd: [channel, ...]` -> the channels, checked.
  function spawnCloses(list) {
    if (!isArray(list)) throw new TypeError('hz.spawn: closeOnEnd must be an array of channels');
    for (const c of list) {
      if (c === null || typeof c !== 'object' || Object.getPrototypeOf(c) !== proto) {
        throw new TypeError('hz.spawn: closeOnEnd must be an array of channels');
      }
    }
    return [...list];
  }

  function spawn(what, ...args) {
    let kind, code, name, engine, options, canBlock = true;
    if (typeof what === 'function') {
      kind = 0;
      code = '(' + apply(fnToString, what, []) + ')';
    } else if (what !== null && typeof what === 'object') {
      name = what.name === undefined ? undefined : String(what.name);
      engine = what.engine === undefined ? undefined : String(what.engine);
      if (what.canBlock !== undefined) canBlock = !!what.canBlock;
      // ops.spawn's options: [heapBytes, stackBytes, turnMs, cpuMs, closeOnEnd].
      if (what.limits !== undefined || what.closeOnEnd !== undefined) {
        const limits = what.limits === undefined ? [-1, -1, -1, -1] : spawnLimits(what.limits);
        options = [...limits, what.closeOnEnd === undefined ? [] : spawnCloses(what.closeOnEnd)];
      }
      if (what.args !== undefined) {
        if (!isArray(what.args)) throw new TypeError('hz.spawn: args must be an array');
        args = [...what.args, ...args];
      }
      if (typeof what.fn === 'function') {
        kind = 0;
        code = '(' + apply(fnToString, what.fn, []) + ')';
      } else if (typeof what.source === 'string') {
        kind = 1;
        code = what.source;
      } else if (typeof what.module === 'string') {
        kind = 2;
        code = what.module;
      } else {
        throw new TypeError('hz.spawn: expected { fn }, { source }, { module } or a function');
      }
    } else {
      throw new TypeError('hz.spawn: expected a function or { source }');
    }
    return new AgentHandle(ops.spawn(kind, code, name, engine, args, canBlock, options));
  }

  function channel(capacity = 0) {
    const cap = Number(capacity);
    if (!(cap >= 0 && cap <= 0xffffffff && Math.floor(cap) === cap)) {
      throw new RangeError('hz.channel: capacity must be a non-negative integer');
    }
    return ops.channel(cap);
  }

  function select(cases, options) {
    if (!isArray(cases)) return PromiseReject(new TypeError('hz.select: cases must be an array'));
    const list = [];
    const isSend = [];
    for (const c of cases) {
      if (c === null || typeof c !== 'object') return PromiseReject(new TypeError('hz.select: each case is { recv: ch } or { send: ch, value }'));
      if (c.send !== undefined) {
        list.push([c.send, true, c.value]);
        isSend.push(true);
      } else if (c.recv !== undefined) {
        list.push([c.recv, false, undefined]);
        isSend.push(false);
      } else {
        return PromiseReject(new TypeError('hz.select: each case is { recv: ch } or { send: ch, value }'));
      }
    }
    const hasDefault = options != null && !!options.default;
    let timeout = -1;
    if (options != null && options.timeout !== undefined) {
      timeout = Number(options.timeout);
      if (!(timeout >= 0)) timeout = 0;
    }
    return op(SELECT, isSend, ops.select, list, hasDefault, timeout);
  }

  // Timers.
  function arm(id, fn, ms, args, repeat) {
    const opId = ops.timer(ms);
    timers.set(opId, { id, fn, ms, args, repeat });
    timerOps.set(id, opId);
  }
  function delay(ms) {
    ms = Number(ms);
    return ms >= 0 ? Math.min(ms, 2147483647) : 0;
  }
  function setTimeout(fn, ms, ...args) {
    if (typeof fn !== 'function') throw new TypeError('setTimeout: callback must be a function');
    const id = ++timerSeq;
    arm(id, fn, delay(ms), args, false);
    return id;
  }
  function setInterval(fn, ms, ...args) {
    if (typeof fn !== 'function') throw new TypeError('setInterval: callback must be a function');
    const id = ++timerSeq;
    arm(id, fn, delay(ms), args, true);
    return id;
  }
  function clearTimeout(id) {
    const opId = timerOps.get(id);
    if (opId === undefined) return;
    timerOps.delete(id);
    timers.delete(opId);
    ops.cancel(opId);
  }

  // console: a small inspector.
  function inspect(v, depth, seen, top) {
    switch (typeof v) {
      case 'string': return top ? v : JSON.stringify(v);
      case 'number': return Object.is(v, -0) ? '-0' : String(v);
      case 'bigint': return String(v) + 'n';
      case 'boolean': case 'undefined': return String(v);
      case 'symbol': return v.toString();
      case 'function': return '[Function: ' + (v.name || '(anonymous)') + ']';
    }
    if (v === null) return 'null';
    if (seen.includes(v)) return '[Circular]';
    if (v instanceof Error) return v.stack ? String(v.name) + ': ' + v.message + '\n' + v.stack.replace(/\n$/, '') : String(v);
    if (v instanceof Date) return v.toISOString();
    if (v instanceof RegExp) return String(v);
    if (Object.getPrototypeOf(v) === proto) return 'Channel { capacity: ' + v.capacity + ' }';
    if (depth > 2) return isArray(v) ? '[Array]' : '[Object]';
    seen = [...seen, v];
    const inner = (x) => inspect(x, depth + 1, seen, false);
    if (isArray(v)) return v.length === 0 ? '[]' : '[ ' + v.map(inner).join(', ') + ' ]';
    if (v instanceof Map) {
      const parts = [];
      apply(mapForEach, v, [(val, key) => parts.push(inner(key) + ' => ' + inner(val))]);
      return 'Map(' + v.size + ') {' + (parts.length ? ' ' + parts.join(', ') + ' ' : '') + '}';
    }
    if (v instanceof global.Set) {
      const parts = [];
      apply(setForEach, v, [(val) => parts.push(inner(val))]);
      return 'Set(' + v.size + ') {' + (parts.length ? ' ' + parts.join(', ') + ' ' : '') + '}';
    }
    if (ArrayBuffer.isView(v)) return v.constructor.name + '(' + v.length + ') [ ' + Array.from(v).join(', ') + ' ]';
    if (v instanceof ArrayBuffer) return 'ArrayBuffer { byteLength: ' + v.byteLength + ' }';
    const keys = Object.keys(v);
    const body = keys.map((k) => (/^[A-Za-z_$][\w$]*$/.test(k) ? k : JSON.stringify(k)) + ': ' + inner(v[k]));
    return body.length === 0 ? '{}' : '{ ' + body.join(', ') + ' }';
  }
  function printer(stream) {
    return (...args) => ops.print(stream, args.map((a) => inspect(a, 0, [], true)).join(' '));
  }
  const console = {
    log: printer(1), info: printer(1), debug: printer(1),
    warn: printer(2), error: printer(2),
  };

  // Atomics.wait / notify / waitAsync on the runtime's futex, shared by
  // every agent and engine. The coercions run here, in ECMA-262's order
  // (DoWait, Atomics.notify; HOSTILE 36-39); the natives only wait/notify
  // (and Atomics.wait's native throws the TypeError of an agent whose
  // [[CanBlock]] is false, after the coercions, as DoWait does).
  const BigIntAsIntN = BigInt.asIntN, MathTrunc = Math.trunc, isNaNfn = Number.isNaN;
  const taTagOf = uncurry(taTag), taAtOf = uncurry(taAt), taLengthOf = uncurry(taLength);
  const taBufferOf = uncurry(taBuffer), taOffsetOf = uncurry(taOffset);
  function waitable(ta) {
    const tag = taTagOf(ta);
    if (tag !== 'Int32Array' && tag !== 'BigInt64Array') throw new TypeError('expected an Int32Array or BigInt64Array');
    try {
      taAtOf(ta, 0); // ValidateTypedArray: detached or out of bounds throws
    } catch {
      throw new TypeError('the typed array is detached or out of bounds');
    }
    return tag === 'BigInt64Array';
  }
  // ToIndex: a BigInt or Symbol throws TypeError (ToNumber), a negative or
  // too large integer RangeError.
  function toIndex(value, what) {
    const n = +value;
    const i = isNaNfn(n) ? 0 : MathTrunc(n);
    if (!(i >= 0 && i <= 9007199254740991)) throw new RangeError(what + ' out of range');
    return i;
  }
  // ValidateAtomicAccess: the length is read before the index is coerced
  // (a valueOf that grows or detaches the buffer does not change it).
  function atomicIndex(ta, index) {
    const length = taLengthOf(ta);
    const i = toIndex(index, 'index');
    if (i >= length) throw new RangeError('index out of range');
    return i;
  }
  // The engine's own wait/notify, for memory that is the engine's own rather
  // than hz's (a native returns undefined for it: V8's growable
  // SharedArrayBuffers), called with the already coerced arguments.
  const engineAtomics = global.Atomics;
  const engineWait = engineAtomics.wait, engineWaitAsync = engineAtomics.waitAsync, engineNotify = engineAtomics.notify;
  // DoWait's steps up to the wait, then `native(buffer, byteIndex, big, value, timeout)`.
  function doWait(native, engine, name, typedArray, index, value, timeout) {
    const big = waitable(typedArray);
    const buffer = taBufferOf(typedArray);
    if (!isShared(buffer)) throw new TypeError(name + ' needs a typed array over shared memory');
    const i = atomicIndex(typedArray, index);
    const v = big ? BigIntAsIntN(64, value) : value | 0;
    const q = +timeout;
    const t = isNaNfn(q) ? Infinity : q < 0 ? 0 : q;
    const r = native(buffer, taOffsetOf(typedArray) + i * (big ? 8 : 4), big, v, t);
    return r === undefined ? apply(engine, engineAtomics, [typedArray, i, v, t]) : r;
  }
  const atomics = {
    wait(typedArray, index, value, timeout) {
      return doWait(ops.wait, engineWait, 'Atomics.wait', typedArray, index, value, timeout);
    },
    waitAsync(typedArray, index, value, timeout) {
      const r = doWait(ops.waitAsync, engineWaitAsync, 'Atomics.waitAsync', typedArray, index, value, timeout);
      if (typeof r === 'object') return r; // the engine's own
      if (typeof r === 'string') return { async: false, value: r };
      return { async: true, value: new Promise((resolve, reject) => pending.set(r, [resolve, reject, WAIT])) };
    },
    notify(typedArray, index, count) {
      const big = waitable(typedArray);
      const i = atomicIndex(typedArray, index);
      let c = Infinity;
      if (count !== undefined) {
        const n = +count;
        c = isNaNfn(n) ? 0 : MathTrunc(n);
        if (c < 0) c = 0;
      }
      const buffer = taBufferOf(typedArray);
      if (!isShared(buffer)) return 0;
      const n = ops.notify(buffer, taOffsetOf(typedArray) + i * (big ? 8 : 4), c);
      return n === undefined ? apply(engineNotify, engineAtomics, [typedArray, i, c]) : n;
    },
  };
  // An engine that keeps a growable SharedArrayBuffer's length per JS object
  // (QuickJS) gets `byteLength` and `grow` that go through the length in the
  // shared memory: ECMA-262's one shared length, with grow's compare-and-
  // exchange loop (growing below the current length is a RangeError even
  // when another agent did the growing). This object, and the views over it,
  // catch up when it reads `byteLength` or grows.
  let sharedMethods = null;
  if (ops.sabLength !== undefined) {
    const sabGrowOf = uncurry(sabProto.grow), sabGrowableOf = uncurry(sabGrowable);
    const sabMaxOf = uncurry(sabMaxByteLength);
    const sync = (sab, local) => {
      const shared = ops.sabLength(sab, local);
      if (shared > local) sabGrowOf(sab, shared);
      return shared;
    };
    const methods = {
      get byteLength() {
        const local = sabByteLengthOf(this); // TypeError unless a SharedArrayBuffer
        return sabGrowableOf(this) ? sync(this, local) : local;
      },
      grow(newLength) {
        if (!isShared(this) || !sabGrowableOf(this)) {
          throw new TypeError('SharedArrayBuffer.prototype.grow: not a growable SharedArrayBuffer');
        }
        const n = toIndex(newLength, 'length');
        if (n > sabMaxOf(this)) throw new RangeError('SharedArrayBuffer.prototype.grow: length above maxByteLength');
        const local = sabByteLengthOf(this);
        if (!ops.sabGrow(this, local, n)) {
          throw new RangeError('SharedArrayBuffer.prototype.grow: a SharedArrayBuffer cannot shrink');
        }
        sync(this, local);
      },
    };
    sharedMethods = { byteLength: getter(methods, 'byteLength'), grow: methods.grow };
  }
  // Wires a realm's Atomics and SharedArrayBuffer to the runtime's futex and
  // shared lengths: this agent's realm, and each one hz.createRealm makes
  // (the functions are this realm's, shared by all of them).
  function wireShared(g) {
    if (sharedMethods !== null) {
      const p = g.SharedArrayBuffer.prototype;
      defineProperty(p, 'byteLength', { get: sharedMethods.byteLength, configurable: true });
      defineProperty(p, 'grow', { value: sharedMethods.grow, writable: true, configurable: true });
    }
    defineProperty(g.Atomics, 'wait', { value: atomics.wait, writable: true, configurable: true });
    defineProperty(g.Atomics, 'waitAsync', { value: atomics.waitAsync, writable: true, configurable: true });
    defineProperty(g.Atomics, 'notify', { value: atomics.notify, writable: true, configurable: true });
  }
  wireShared(global);

  // A new realm in this agent (as Node's vm.createContext): its own global
  // object and intrinsics, sharing this agent's heap, thread and event loop.
  // hz's API is not installed there; its Atomics and SharedArrayBuffers work
  // on the runtime's shared memory like this realm's.
  function createRealm() {
    if (typeof ops.newRealm !== 'function') throw new TypeError('hz.createRealm: the ' + ops.engine + ' backend has no realms');
    const g = ops.newRealm();
    wireShared(g);
    return g;
  }

  function structuredClone(value, options) {
    const transfer = options == null ? undefined : options.transfer;
    return ops.clone(value, transfer);
  }

  function queueMicrotask(fn) {
    if (typeof fn !== 'function') throw new TypeError('queueMicrotask: callback must be a function');
    PromiseResolve().then(() => fn());
  }

  // `hz.host(name)`: the host function the embedder registered under
  // `name` (Runtime::register_fn / register_async_fn), as a JS function. A
  // sync one returns its value or throws its error; an async one returns a
  // promise. An unknown name throws a TypeError when called.
  const returnIt = (r) => r;
  function host(name) {
    name = String(name);
    return function hostFunction(...args) {
      const r = ops.callHost(name, args);
      if (typeof r === 'number') return op(JOIN, undefined, returnIt, r);
      if (r[0] === ERROR) throw r[1];
      return r[1];
    };
  }

  // ---- Web Workers: `new Worker(url | { source }, { type, name, engine })`,
  // `postMessage`, `onmessage` / addEventListener('message'), `messageerror`
  // and `error` events, `terminate()`; in the worker `self.postMessage`,
  // `self.onmessage`, `close()`. The code is web.js, compiled on first use
  // (ops.webSource), so an agent that never uses it pays nothing for it.
  // A global as the host defines its own: writable, configurable, not enumerable.
  function defineGlobal(k, value) {
    defineProperty(global, k, { value, writable: true, configurable: true, enumerable: false });
  }
  const WORKER_TAG = '\u0000hz:worker';
  let isWorker = false;
  let web;
  function webApi() {
    if (web === undefined) {
      web = globalEval(ops.webSource())({
        ops, global, channel, select, spawn, structuredClone, performance, apply, isArray, PromiseResolve, PromiseReject,
        defineProperty, defineGlobal, WORKER_TAG, WeakSet,
      });
    }
    return web;
  }
  function becomeWorker(to, from, name) {
    isWorker = true;
    webApi().becomeWorker(to, from, name);
  }
  // The Web classes, as globals built on first use. The getter stays (it
  // does not redefine itself as a data property): Boa 0.22's inline cache
  // of a global read does not see an accessor become a data property, and
  // would call the class as the getter at a site that read it before.
  for (const k of ['Worker', 'Event', 'MessageEvent', 'ErrorEvent', 'EventTarget', 'MessageChannel', 'MessagePort', 'BroadcastChannel']) {
    if (k in global) continue;
    defineProperty(global, k, {
      get() {
        return webApi()[k];
      },
      set(value) {
        defineGlobal(k, value);
      },
      configurable: true,
      enumerable: false,
    });
  }

  const hz = {
    spawn, channel, select, createRealm, LimitError, host,
    // Runs this agent's garbage collector now (as Bun.gc(true)).
    gc: () => { ops.gc(); },
    args: [],
    engine: ops.engine,
    threads: ops.threads,
    threadId: () => ops.threadId(),
  };
  // performance.now(): milliseconds since this agent started, from a
  // monotonic clock with sub-microsecond resolution (HTML's High Resolution
  // Time, without coarsening: hz runs no cross-origin code).
  const nowOp = ops.now, start = nowOp(), timeOrigin = Date.now();
  const performance = {
    now: () => nowOp() - start,
    timeOrigin,
    toJSON: () => ({ timeOrigin }),
  };
  const install = { hz, console, setTimeout, clearTimeout, setInterval, clearInterval: clearTimeout, structuredClone, performance };
  if (typeof global.queueMicrotask !== 'function') install.queueMicrotask = queueMicrotask;
  for (const k of Object.keys(install)) defineGlobal(k, install[k]);

  // Reports the agent's result; a result that cannot be cloned fails the agent.
  function settle(ok, v) {
    try {
      ops.settle(ok, v);
    } catch (e) {
      ops.settle(false, e);
    }
  }

  return {
    // A pending op completed (the backend drains microtasks afterwards).
    dispatch(opId, status, value, index) {
      const t = timers.get(opId);
      if (t !== undefined) {
        timers.delete(opId);
        if (t.repeat) arm(t.id, t.fn, t.ms, t.args, true);
        else timerOps.delete(t.id);
        apply(t.fn, global, t.args);
        return;
      }
      const p = pending.get(opId);
      if (p === undefined) return;
      pending.delete(opId);
      present(status, value, index, p[2], p[3], p[0], p[1]);
    },
    // Starts the agent: kind 0 calls `what` (a function) with `args`;
    // kind 1 settles with `what` (a script's completion value, awaited);
    // kind 2 (a program) settles with undefined; kind 3: `what` is the
    // promise of a module namespace whose default export, if a function,
    // is called with `args`.
    // Sets hz.args; called before the agent's code is evaluated, so a
    // script's top level sees its arguments.
    setArgs(args) {
      if (isArray(args) && args.length === 4 && args[0] === WORKER_TAG) {
        becomeWorker(args[1], args[2], args[3]);
        args = [];
      }
      hz.args = args;
    },
    start(kind, what, args) {
      // A worker's code talks through its scope: no arguments, and no
      // result (a script's last value is often its onmessage function).
      if (isWorker) {
        args = [];
        if (kind === 1) kind = 2;
        else if (kind === 3) what = PromiseResolve(what).then(() => ({}));
      }
      hz.args = args;
      let p;
      if (kind === 0) {
        if (typeof what !== 'function') throw new TypeError('spawned code is not a function');
        p = new Promise((resolve) => resolve(apply(what, undefined, args)));
      } else if (kind === 3) {
        p = PromiseResolve(what).then((ns) =>
          typeof ns.default === 'function' ? apply(ns.default, undefined, args) : undefined);
      } else {
        p = PromiseResolve(kind === 1 ? what : undefined);
      }
      p.then((v) => settle(true, v), (e) => settle(false, e));
    },
    makeError,
    clone: cloneHelpers,
  };
})
