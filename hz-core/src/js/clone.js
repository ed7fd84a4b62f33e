// The clone helpers: reading and building the values the C APIs of every
// engine do not expose alike (Map/Set iteration, views, errors...). A unit
// the prelude loads on an agent's first clone that needs one (an agent that
// only ever sends numbers and plain objects never loads it). `primordials`
// are the intrinsics the prelude captured before user code ran.
(function (primordials, deps) {
  'use strict';
  const { apply, defineProperty, errorCtors, isShared, Error, TypeError, String } = deps;
  // The prelude's intrinsics this unit uses (see `primordials` there).
  const {
    mapForEach, mapSet, SetCtor, setForEach, setAdd, DateCtor, dateGetTime, BigIntCtor, bigintToString,
    taTag, taBuffer, taOffset, taLength, taAt, dvBuffer, dvOffset, dvLength, ArrayBufferCtor, abByteLength,
    abResizable, abMaxByteLength, abResize, abDetachedGet, abImmutableGet, sabByteLength, sabGrowable,
    sabMaxByteLength, Uint8ArrayCtor, viewCtors, RegExpCtor, reSource, reFlagGetters, weakRefDeref,
    registryUnregister, wrapperValueOf, getOwnPropertyDescriptor, hasOwn, objectKeys, ObjectCtor, MapCtor,
  } = primordials;

  // Each flag getter reads the internal [[OriginalFlags]]: not overridable
  // per instance, unlike the generic `flags` getter.
  const reFlags = [];
  'dgimsuvy'.split('').forEach((f, i) => {
    if (reFlagGetters[i] !== undefined) reFlags.push([reFlagGetters[i], f]);
  });

  // ES2024's `detached` getter where the engine has it; else a detached
  // buffer is the one a view cannot be made over.
  const isDetached = (b) => {
    if (abDetachedGet !== undefined) return apply(abDetachedGet, b, []);
    try {
      new Uint8ArrayCtor(b);
      return false;
    } catch {
      return true;
    }
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

  return {
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
    newMap: () => new MapCtor(),
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
      for (const k of objectKeys(e)) {
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
      for (const k of objectKeys(props)) {
        defineProperty(e, k, { value: props[k], writable: true, enumerable: true, configurable: true });
      }
    },
  };
})
