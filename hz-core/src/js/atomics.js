// Atomics.wait / notify / waitAsync on the runtime's futex, shared by every
// agent and engine, and a growable SharedArrayBuffer's one shared length. A
// unit the prelude loads on an agent's first call of one of them: the
// prelude's stubs on Atomics and SharedArrayBuffer.prototype call in here.
// `primordials` are the intrinsics the prelude captured before user code ran.
//
// The coercions run here, in ECMA-262's order (DoWait, Atomics.notify;
// HOSTILE 36-39); the natives only wait/notify (and Atomics.wait's native
// throws the TypeError of an agent whose [[CanBlock]] is false, after the
// coercions, as DoWait does).
(function (primordials, deps) {
  'use strict';
  const { ops, apply, uncurry, isShared, pending, WAIT, Promise, TypeError, RangeError } = deps;
  // The prelude's intrinsics this unit uses (see `primordials` there).
  const {
    BigIntAsIntN, taTag, taBuffer, taOffset, taLength, taAt, sabByteLength, sabGrowable, sabMaxByteLength,
    sabGrow, engineAtomics, engineWait, engineWaitAsync, engineNotify, MathTrunc, isNaNfn,
  } = primordials;

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
  // DoWait's steps up to the wait, then `native(buffer, byteIndex, big,
  // value, timeout)`. The engine's own wait (`engine`) serves memory that is
  // the engine's own rather than hz's (the native returns undefined for it:
  // V8's growable SharedArrayBuffers), called with the coerced arguments.
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

  // A growable SharedArrayBuffer's `byteLength` and `grow`, for an engine
  // that keeps its length per JS object (QuickJS, `ops.sabLength`): they go
  // through the length in the shared memory, ECMA-262's one shared length,
  // with grow's compare-and-exchange loop (growing below the current length
  // is a RangeError even when another agent did the growing). This object,
  // and the views over it, catch up when it reads `byteLength` or grows.
  const sabByteLengthOf = uncurry(sabByteLength), sabGrowableOf = uncurry(sabGrowable);
  const sabGrowOf = uncurry(sabGrow), sabMaxOf = uncurry(sabMaxByteLength);
  const sync = (sab, local) => {
    const shared = ops.sabLength(sab, local);
    if (shared > local) sabGrowOf(sab, shared);
    return shared;
  };

  return {
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
    sabByteLength(sab) {
      const local = sabByteLengthOf(sab); // TypeError unless a SharedArrayBuffer
      return sabGrowableOf(sab) ? sync(sab, local) : local;
    },
    sabGrow(sab, newLength) {
      if (!isShared(sab) || !sabGrowableOf(sab)) {
        throw new TypeError('SharedArrayBuffer.prototype.grow: not a growable SharedArrayBuffer');
      }
      const n = toIndex(newLength, 'length');
      if (n > sabMaxOf(sab)) throw new RangeError('SharedArrayBuffer.prototype.grow: length above maxByteLength');
      const local = sabByteLengthOf(sab);
      if (!ops.sabGrow(sab, local, n)) {
        throw new RangeError('SharedArrayBuffer.prototype.grow: a SharedArrayBuffer cannot shrink');
      }
      sync(sab, local);
    },
  };
})
