// hz's JS API, written once for every engine. A backend evaluates this
// function expression and calls it with its natives (`ops`) and the global
// object; it returns the internals the backend calls back into.
//
// Native contract (each backend provides these on `ops`):
//   channelPrototype                 prototype of native channel objects
//   channel(cap) -> ch               a new channel object
//   send(ch, v, transfer) -> r       r: op id (pending) or [status, value, index]; or,
//                                    with resultMeta, as that says
//   resultMeta                       optional: an Int32Array(2) that send and recv may
//                                    write natively instead of making an array: [0] is
//                                    -1 (r is the op id) or the status (r the value), [1]
//                                    the index; a native that does not leaves it -2
//   recv(ch) -> r
//   trySend(ch, v) -> bool           throws if closed
//   tryRecv(ch) -> undefined | [status, value]
//   close(ch)                        throws if already closed
//   info(ch) -> [capacity, length, closed]
//   closeOnEnd(ch, on)               close ch when this agent ends (on), or no longer
//   select(list, hasDefault, timeoutMs) -> r   list: [[ch, isSend, value], ...]
//   spawn(kind, code, name, engine, args, canBlock, options) -> id   kind 0 function, 1 script, 2 module
//                                    (code is its path); options: undefined or
//                                    [heap, stack, turnMs, cpuMs, closeOnEnd channels]
//   callHost(name, args) -> r        a host function: r as send's (a sync one completes now)
//   load(name) -> value              a unit the prelude loads on first use, evaluated
//                                    (its function expression): 'web', 'clone',
//                                    'atomics', 'console', 'agents', 'dom' (js/NAME.js,
//                                    hz_core::UNITS)
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
//   intrinsic(name) -> ctor          optional, for an engine that makes some constructors on
//                                    first use: its own DOMException, Date or typed-array
//                                    constructor of that name (asked when first needed)
//   gc()                             runs the agent's garbage collector
//   threadId() -> n                  index of the worker thread running this turn
//   now() -> ms                      a monotonic clock in milliseconds (fractional)
//   builtin(holder, key, isGetter) -> function | undefined
//                                    optional: a fresh builtin method `key` of
//                                    `holder` (e.g. 'Map.prototype'), or the getter
//                                    of its accessor `key`, as the engine defines them
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
  const defineProperty = Object.defineProperty;
  const fnToString = Function.prototype.toString;
  const apply = Reflect.apply;
  // `uncurry(f)(self, ...args)` is `f.call(self, ...args)` without building
  // an arguments array (apply's cost dominated Atomics.wait/notify).
  const uncurry = (f) => Function.prototype.call.bind(f);
  // Defines each own property of `source` on `target` as a host defines its
  // globals and methods: writable, configurable, not enumerable. A backend
  // may do it natively (ops.defineData: no descriptor object to make and
  // read per property).
  const defineData = ops.defineData ?? ((target, source) => {
    for (const k of Reflect.ownKeys(source)) {
      defineProperty(target, k, { value: source[k], writable: true, enumerable: false, configurable: true });
    }
  });
  // Defines accessors on `target` from a flat list [key, get, set, ...]
  // (`set` may be undefined): configurable, not enumerable. Native on a
  // backend with ops.defineAccessors.
  const defineAccessors = ops.defineAccessors ?? ((target, list) => {
    for (let i = 0; i < list.length; i += 3) {
      defineProperty(target, list[i], { get: list[i + 1], set: list[i + 2], enumerable: false, configurable: true });
    }
  });

  // The natives most agents never call (spawn, join, select, timers,
  // Atomics.wait and notify, print, realms, host calls): a backend may add
  // them to ops on first need (ops.more) instead of at every agent's start.
  // `more()` returns ops with them.
  let haveMore = ops.more === undefined;
  const more = () => {
    if (!haveMore) {
      ops.more(ops);
      haveMore = true;
    }
    return ops;
  };

  // Intrinsics for the units loaded on first use (js/clone.js,
  // js/atomics.js, js/console.js), safe from user code replacing them: what
  // a unit receives as `primordials`, by name (a unit test checks that each
  // unit takes only names given here). Values (constructors and objects)
  // are captured now, on every engine, but for Date and the typed-array
  // constructors of an engine that makes them on first use (below).
  const getter = (o, k) => Object.getOwnPropertyDescriptor(o, k)?.get;
  // DataView and the typed-array constructors, by name (those the engine
  // has), each from `get`. Read now, except from an engine that makes them
  // on first use (ops.intrinsic gives its own then, as user code cannot
  // have replaced them); an agent that loads no unit makes none.
  const viewCtorsFrom = (get) => {
    const ctors = { __proto__: null, DataView };
    // (Indexed loops here and below: a for-of step costs QuickJS an
    // iterator call and a result object, at every agent's start.)
    const names = ['Int8Array', 'Uint8Array', 'Uint8ClampedArray', 'Int16Array', 'Uint16Array', 'Int32Array',
      'Uint32Array', 'Float16Array', 'Float32Array', 'Float64Array', 'BigInt64Array', 'BigUint64Array'];
    for (let i = 0; i < names.length; i++) {
      const c = get(names[i]);
      if (typeof c === 'function') ctors[names[i]] = c;
    }
    return ctors;
  };
  const viewCtorsNow = ops.intrinsic === undefined ? viewCtorsFrom((n) => global[n]) : undefined;
  const DateNow = ops.intrinsic === undefined ? Date : undefined;
  const engineAtomics = global.Atomics;
  const sabByteLength = getter(SharedArrayBuffer.prototype, 'byteLength');
  const primordialValues = {
    __proto__: null, SetCtor: global.Set, BigIntCtor: BigInt, ArrayBufferCtor: ArrayBuffer, sabByteLength,
    RegExpCtor: RegExp, ObjectCtor: Object, MapCtor: Map, engineAtomics,
  };
  // Builtin methods (m) and getters (g), each by name from its holder and
  // key. Engines without `ops.builtin` read each now. QuickJS makes each
  // fresh from its own tables on a unit's first load (ops.builtin), so an
  // agent that loads no unit makes none of them: reading them all now cost
  // QuickJS ~0.2 M instructions per agent, 7% of making one.
  const builtinTable = (m, g) => ({
    __proto__: null,
    mapForEach: m('Map.prototype', 'forEach'),
    mapSet: m('Map.prototype', 'set'),
    setForEach: m('Set.prototype', 'forEach'),
    setAdd: m('Set.prototype', 'add'),
    dateGetTime: m('Date.prototype', 'getTime'),
    bigintToString: m('BigInt.prototype', 'toString'),
    BigIntAsIntN: m('BigInt', 'asIntN'),
    taTag: g('%TypedArray%.prototype', '[Symbol.toStringTag]'),
    taBuffer: g('%TypedArray%.prototype', 'buffer'),
    taOffset: g('%TypedArray%.prototype', 'byteOffset'),
    taLength: g('%TypedArray%.prototype', 'length'),
    taAt: m('%TypedArray%.prototype', 'at'),
    dvBuffer: g('DataView.prototype', 'buffer'),
    dvOffset: g('DataView.prototype', 'byteOffset'),
    dvLength: g('DataView.prototype', 'byteLength'),
    abByteLength: g('ArrayBuffer.prototype', 'byteLength'),
    abResizable: g('ArrayBuffer.prototype', 'resizable'),
    abMaxByteLength: g('ArrayBuffer.prototype', 'maxByteLength'),
    abResize: m('ArrayBuffer.prototype', 'resize'),
    abDetachedGet: g('ArrayBuffer.prototype', 'detached'),
    abImmutableGet: g('ArrayBuffer.prototype', 'immutable'),
    sabGrowable: g('SharedArrayBuffer.prototype', 'growable'),
    sabMaxByteLength: g('SharedArrayBuffer.prototype', 'maxByteLength'),
    sabGrow: m('SharedArrayBuffer.prototype', 'grow'),
    reSource: g('RegExp.prototype', 'source'),
    reHasIndices: g('RegExp.prototype', 'hasIndices'),
    reGlobal: g('RegExp.prototype', 'global'),
    reIgnoreCase: g('RegExp.prototype', 'ignoreCase'),
    reMultiline: g('RegExp.prototype', 'multiline'),
    reDotAll: g('RegExp.prototype', 'dotAll'),
    reUnicode: g('RegExp.prototype', 'unicode'),
    reUnicodeSets: g('RegExp.prototype', 'unicodeSets'),
    reSticky: g('RegExp.prototype', 'sticky'),
    weakRefDeref: m('WeakRef.prototype', 'deref'),
    registryUnregister: m('FinalizationRegistry.prototype', 'unregister'),
    booleanValueOf: m('Boolean.prototype', 'valueOf'),
    numberValueOf: m('Number.prototype', 'valueOf'),
    stringValueOf: m('String.prototype', 'valueOf'),
    bigintValueOf: m('BigInt.prototype', 'valueOf'),
    getOwnPropertyDescriptor: m('Object', 'getOwnPropertyDescriptor'),
    hasOwn: m('Object.prototype', 'hasOwnProperty'),
    objectKeys: m('Object', 'keys'),
    engineWait: m('Atomics', 'wait'),
    engineWaitAsync: m('Atomics', 'waitAsync'),
    engineNotify: m('Atomics', 'notify'),
    MathTrunc: m('Math', 'trunc'),
    isNaNfn: m('Number', 'isNaN'),
  });
  let builtinsNow;
  if (ops.builtin === undefined) {
    const holders = {
      __proto__: null, Object, 'Object.prototype': Object.prototype, Number, 'Number.prototype': Number.prototype,
      'Boolean.prototype': Boolean.prototype, 'String.prototype': String.prototype, Math, BigInt,
      'BigInt.prototype': BigInt.prototype, 'RegExp.prototype': RegExp.prototype, 'Map.prototype': Map.prototype,
      'Set.prototype': global.Set.prototype, 'Date.prototype': Date.prototype,
      'ArrayBuffer.prototype': ArrayBuffer.prototype, 'SharedArrayBuffer.prototype': SharedArrayBuffer.prototype,
      '%TypedArray%.prototype': Object.getPrototypeOf(Int8Array.prototype), 'DataView.prototype': DataView.prototype,
      Atomics: engineAtomics,
      'WeakRef.prototype': global.WeakRef?.prototype, 'FinalizationRegistry.prototype': global.FinalizationRegistry?.prototype,
    };
    const keyOf = (k) => k === '[Symbol.toStringTag]' ? Symbol.toStringTag : k;
    builtinsNow = builtinTable((h, k) => holders[h]?.[keyOf(k)], (h, k) => holders[h] == null ? undefined : getter(holders[h], keyOf(k)));
  }
  // The primordials as one object, by name: made on a unit's first load.
  let primordialsByName;
  const namedPrimordials = () => {
    if (primordialsByName === undefined) {
      const p = builtinsNow ?? builtinTable((h, k) => ops.builtin(h, k, false), (h, k) => ops.builtin(h, k, true));
      for (const k in primordialValues) p[k] = primordialValues[k];
      p.viewCtors = viewCtorsNow ?? viewCtorsFrom(ops.intrinsic);
      p.Uint8ArrayCtor = p.viewCtors.Uint8Array;
      p.DateCtor = DateNow ?? ops.intrinsic('Date');
      p.reFlagGetters = [p.reHasIndices, p.reGlobal, p.reIgnoreCase, p.reMultiline, p.reDotAll, p.reUnicode,
        p.reUnicodeSets, p.reSticky];
      p.wrapperValueOf = [p.booleanValueOf, p.numberValueOf, p.stringValueOf, p.bigintValueOf];
      primordialsByName = p;
    }
    return primordialsByName;
  };
  const sabByteLengthOf = uncurry(sabByteLength);
  const isShared = (b) => {
    try {
      sabByteLengthOf(b);
      return true;
    } catch {
      return false;
    }
  };

  const errorCtors = {
    __proto__: null, Error: global.Error, EvalError: global.EvalError, RangeError: global.RangeError,
    ReferenceError: global.ReferenceError, SyntaxError: global.SyntaxError, TypeError: global.TypeError,
    URIError: global.URIError,
  };
  // hz.LimitError: an agent exceeded one of its limits (its join rejects
  // with one). Clones keep the class, as they keep the standard ones.
  class LimitError extends RangeError {}
  defineData(LimitError.prototype, { name: 'LimitError' });
  errorCtors.LimitError = LimitError;

  // The clone helpers the backends call (js/clone.js). The backends take
  // each helper once, at start; what they take is a stub that loads the
  // unit on the first call of any helper.
  let cloneApi;
  const cloneUnit = () => cloneApi ??= ops.load('clone')(namedPrimordials(),
    { apply, defineProperty, errorCtors, isShared, Error, TypeError, String });
  const cloneHelpers = new Proxy({}, {
    get: (_, k) => (a, b, c, d) => (cloneApi ?? cloneUnit())[k](a, b, c, d),
  });

  const pending = new Map(); // op id -> [resolve, reject, shape, extra]
  // The op an agent waits on most of the time (one await at a time: a
  // receive loop, a ping-pong) is kept here instead: a Map that is filled
  // and emptied on every op rehashes as it grows and shrinks.
  let slotId = -1, slotResolve, slotReject, slotShape, slotExtra;
  // Made by the first timer (most agents never set one).
  let timers;    // op id -> timer record
  let timerOps;  // public timer id -> op id
  let timerSeq = 0;

  // DOMException, atob and btoa: the engine's, or the unit 'dom' (js/dom.js),
  // evaluated on first use, for an engine without them (defineLazyGlobals,
  // as the Web classes below). A backend whose engine makes
  // DOMException on first use gives it through ops.intrinsic, called when
  // the first DataCloneError is made (reading the global would make it).
  let DOMExceptionCtor, dom;
  function domApi() {
    if (dom === undefined) dom = ops.load('dom')({ Error, TypeError, String, Symbol, defineProperty });
    return dom;
  }
  if (ops.intrinsic === undefined) {
    if (typeof global.DOMException === 'function') DOMExceptionCtor = global.DOMException;
    defineLazyGlobals(['DOMException', 'atob', 'btoa'], domApi);
  }
  const domException = () =>
    DOMExceptionCtor ??= ops.intrinsic !== undefined ? ops.intrinsic('DOMException') : domApi().DOMException;
  function makeError(name, message) {
    if (name === 'DataCloneError') return new (domException())(message, name);
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

  // A result's status and index, written by natives that can (ops.resultMeta:
  // the status, or -1 with the op id as the result) instead of an array made
  // for each result; those that do not leave META_NONE.
  const meta = ops.resultMeta;
  const META_NONE = -2;

  // Starts the native op `native(a, b, c)` and returns its promise: the op
  // returns its op id (pending) or its result now, and a throw rejects. A
  // result now costs no closure and no executor: the hot path of every send
  // and receive. (Natives ignore arguments they do not take.)
  function opArray(shape, extra, native, a, b, c) {
    let r;
    try {
      r = native(a, b, c);
    } catch (e) {
      return PromiseReject(e);
    }
    if (typeof r !== 'number') return present(r[0], r[1], r[2], shape, extra, PromiseResolve, PromiseReject);
    return pend(r, shape, extra);
  }
  // The same for a backend with ops.resultMeta (its send and recv write it).
  function opMeta(shape, extra, native, a, b, c) {
    let r;
    meta[0] = META_NONE;
    try {
      r = native(a, b, c);
    } catch (e) {
      return PromiseReject(e);
    }
    const status = meta[0];
    if (status >= 0) return present(status, r, meta[1], shape, extra, PromiseResolve, PromiseReject);
    if (status === META_NONE && typeof r !== 'number') {
      return present(r[0], r[1], r[2], shape, extra, PromiseResolve, PromiseReject);
    }
    return pend(r, shape, extra);
  }
  // The promise of pending op `id`, settled by `dispatch`.
  function pend(id, shape, extra) {
    return new Promise((resolve, reject) => {
      if (slotId < 0) {
        slotId = id;
        slotResolve = resolve;
        slotReject = reject;
        slotShape = shape;
        slotExtra = extra;
      } else {
        pending.set(id, [resolve, reject, shape, extra]);
      }
    });
  }
  const op = meta === undefined ? opArray : opMeta;

  // Channels: native objects with this prototype.
  const proto = ops.channelPrototype;
  const methods = {
    send(value, options) {
      return op(SEND, undefined, ops.send, this, value, options == null ? undefined : options.transfer);
    },
    recv() {
      return op(RECV, undefined, ops.recv, this);
    },
    // A transfer list is refused, not ignored: a buffer detached for a
    // send that then would block would be lost (send(v, { transfer })
    // waits instead).
    trySend(value, options) {
      if (options != null && options.transfer !== undefined) {
        throw new TypeError('trySend takes no transfer list; use send(value, { transfer })');
      }
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
  defineData(proto, methods);
  const infoGetters = {
    capacity() {
      return ops.info(this)[0];
    },
    length() {
      return ops.info(this)[1];
    },
    closed() {
      return ops.info(this)[2];
    },
  };
  defineAccessors(proto, [
    'capacity', infoGetters.capacity, undefined,
    'length', infoGetters.length, undefined,
    'closed', infoGetters.closed, undefined,
  ]);
  defineProperty(proto, Symbol.toStringTag, { value: 'Channel', configurable: true });

  // hz.spawn and hz.select: js/agents.js, loaded on first use.
  let agentsApi;
  const agentsUnit = () => agentsApi ??= ops.load('agents')({
    ops: more(), op, channelProto: proto, apply, fnToString, isArray, Object, Number, String, TypeError, RangeError,
    PromiseReject, JOIN, SELECT,
  });
  function spawn(what, ...args) {
    return (agentsApi ?? agentsUnit()).spawn(what, args);
  }
  function select(cases, options) {
    return (agentsApi ?? agentsUnit()).select(cases, options);
  }

  function channel(capacity = 0) {
    const cap = Number(capacity);
    if (!(cap >= 0 && cap <= 0xffffffff && Math.floor(cap) === cap)) {
      throw new RangeError('hz.channel: capacity must be a non-negative integer');
    }
    return ops.channel(cap);
  }

  // Timers.
  function arm(id, fn, ms, args, repeat) {
    const opId = more().timer(ms);
    (timers ??= new Map()).set(opId, { id, fn, ms, args, repeat });
    (timerOps ??= new Map()).set(id, opId);
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
    const opId = timerOps?.get(id);
    if (opId === undefined) return;
    timerOps.delete(id);
    timers.delete(opId);
    more().cancel(opId);
  }

  // console (its formatting is js/console.js, loaded on first use).
  let consoleApi;
  const consoleUnit = () => consoleApi ??= ops.load('console')(namedPrimordials(),
    { apply, isArray, channelProto: proto, JSON, Object, String, Error });
  function printer(stream) {
    return (...args) => more().print(stream, (consoleApi ?? consoleUnit()).format(args));
  }
  const out = printer(1), err = printer(2);
  const console = { log: out, info: out, debug: out, warn: err, error: err };

  // Atomics.wait / notify / waitAsync on the runtime's futex, shared by
  // every agent and engine, and (on an engine that keeps a growable
  // SharedArrayBuffer's length per JS object: `ops.sabLength`) its
  // `byteLength` and `grow` over the one shared length: js/atomics.js,
  // loaded on the first call. These stubs have the standard functions'
  // names and lengths.
  let atomicsApi;
  const atomicsUnit = () => atomicsApi ??= ops.load('atomics')(namedPrimordials(),
    { ops: more(), apply, uncurry, isShared, pending, WAIT, Promise, TypeError, RangeError });
  const atomics = {
    wait(typedArray, index, value, timeout) {
      return (atomicsApi ?? atomicsUnit()).wait(typedArray, index, value, timeout);
    },
    waitAsync(typedArray, index, value, timeout) {
      return (atomicsApi ?? atomicsUnit()).waitAsync(typedArray, index, value, timeout);
    },
    notify(typedArray, index, count) {
      return (atomicsApi ?? atomicsUnit()).notify(typedArray, index, count);
    },
  };
  let sharedMethods = null;
  if (ops.sabLength !== undefined) {
    const methods = {
      get byteLength() {
        return (atomicsApi ?? atomicsUnit()).sabByteLength(this);
      },
      grow(newLength) {
        (atomicsApi ?? atomicsUnit()).sabGrow(this, newLength);
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
      defineData(p, { grow: sharedMethods.grow });
    }
    defineData(g.Atomics, atomics);
  }
  wireShared(global);

  // A new realm in this agent (as Node's vm.createContext): its own global
  // object and intrinsics, sharing this agent's heap, thread and event loop.
  // hz's API is not installed there; its Atomics and SharedArrayBuffers work
  // on the runtime's shared memory like this realm's.
  function createRealm() {
    if (typeof more().newRealm !== 'function') throw new TypeError('hz.createRealm: the ' + ops.engine + ' backend has no realms');
    const g = ops.newRealm();
    wireShared(g);
    return g;
  }

  function structuredClone(value, options) {
    const transfer = options == null ? undefined : options.transfer;
    // A primitive other than a symbol is its own clone (a string is
    // immutable, so sharing it is not observable), as in Deno and Bun: with
    // nothing to transfer, it needs no trip through the serializer.
    if (transfer === undefined) {
      const t = typeof value;
      if (value === null || (t !== 'object' && t !== 'function' && t !== 'symbol')) return value;
    }
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
      const r = more().callHost(name, args);
      if (typeof r === 'number') return op(JOIN, undefined, returnIt, r);
      if (r[0] === ERROR) throw r[1];
      return r[1];
    };
  }

  // ---- Web Workers: `new Worker(url | { source }, { type, name, engine })`,
  // `postMessage`, `onmessage` / addEventListener('message'), `messageerror`
  // and `error` events, `terminate()`; in the worker `self.postMessage`,
  // `self.onmessage`, `close()`. The code is web.js, compiled on first use
  // (the unit 'web'), so an agent that never uses it pays nothing for it.
  // A global as the host defines its own: writable, configurable, not enumerable.
  function defineGlobal(k, value) {
    defineData(global, { [k]: value });
  }
  // Made, not written: a literal holding a NUL could not be a predefined
  // atom on QuickJS (see hz-backend-quickjs's prelude_atoms_are_predefined).
  const WORKER_TAG = String.fromCharCode(0) + 'hz:worker';
  let isWorker = false;
  let web;
  function webApi() {
    if (web === undefined) {
      web = ops.load('web')({
        ops: more(), global, channel, select, spawn, structuredClone, performance, apply, isArray, PromiseResolve, PromiseReject,
        defineProperty, defineGlobal, WORKER_TAG, WeakSet, domException,
      });
    }
    return web;
  }
  function becomeWorker(to, from, name) {
    isWorker = true;
    webApi().becomeWorker(to, from, name);
  }
  // Globals built on first use: each of `names` the engine lacks becomes an
  // accessor that reads it from `api()`, and that a write turns into a
  // plain global. The getter stays (it does not redefine itself as a data
  // property): Boa 0.22's inline cache of a global read does not see an
  // accessor become a data property, and would call the class as the
  // getter at a site that read it before.
  function defineLazyGlobals(names, api) {
    const list = [];
    for (let i = 0; i < names.length; i++) {
      const k = names[i];
      if (k in global) continue;
      list.push(k, () => api()[k], (value) => defineGlobal(k, value));
    }
    defineAccessors(global, list);
  }
  // The Web classes.
  defineLazyGlobals(['Worker', 'Event', 'MessageEvent', 'ErrorEvent', 'EventTarget', 'MessageChannel', 'MessagePort',
    'BroadcastChannel'], webApi);

  const hz = {
    spawn, channel, select, createRealm, LimitError, host,
    // Runs this agent's garbage collector now (as Bun.gc(true)).
    gc: ops.gc,
    args: [],
    engine: ops.engine,
    threads: ops.threads,
    threadId: ops.threadId,
  };
  // performance.now(): milliseconds since this agent started, from a
  // monotonic clock with sub-microsecond resolution (HTML's High Resolution
  // Time, without coarsening: hz runs no cross-origin code). The clock is
  // the process's, so `timeOrigin + now()` of two agents compare to the
  // microsecond. `start` is reset when the agent's code starts (setArgs): an
  // agent made ahead of its spawn (a warm agent) counts from its spawn.
  const nowOp = ops.now, epoch = ops.epoch;
  let start = nowOp();
  const performance = {
    now: () => nowOp() - start,
    get timeOrigin() {
      return epoch + start;
    },
    toJSON() {
      return { timeOrigin: epoch + start };
    },
  };
  const install = { hz, console, setTimeout, clearTimeout, setInterval, clearInterval: clearTimeout, structuredClone, performance };
  if (typeof global.queueMicrotask !== 'function') install.queueMicrotask = queueMicrotask;
  defineData(global, install);

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
      const t = timers?.get(opId);
      if (t !== undefined) {
        timers.delete(opId);
        if (t.repeat) arm(t.id, t.fn, t.ms, t.args, true);
        else timerOps.delete(t.id);
        apply(t.fn, global, t.args);
        return;
      }
      if (opId === slotId) {
        const resolve = slotResolve, reject = slotReject, extra = slotExtra;
        slotId = -1;
        slotResolve = slotReject = slotExtra = undefined;
        present(status, value, index, slotShape, extra, resolve, reject);
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
      start = nowOp();
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
    // Taken by the V8 backend for an ordinary object's keys: the builtin
    // reads the object's enum cache, where V8's API collects the keys one
    // by one.
    objectKeys: Object.keys,
  };
})
