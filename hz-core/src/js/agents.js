// hz.spawn and hz.select, with agent handles: a unit the prelude loads on
// an agent's first spawn or select (an agent that does neither, as most
// children, pays nothing for them). `deps` are the prelude's internals and
// the intrinsics it captured before user code ran.
(function (deps) {
  'use strict';
  const {
    ops, op, channelProto, apply, fnToString, isArray, Object, Number, String, TypeError, RangeError,
    PromiseReject, JOIN, SELECT,
  } = deps;

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
      if (c === null || typeof c !== 'object' || Object.getPrototypeOf(c) !== channelProto) {
        throw new TypeError('hz.spawn: closeOnEnd must be an array of channels');
      }
    }
    return [...list];
  }

  function spawn(what, args) {
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

  return { spawn, select };
})
