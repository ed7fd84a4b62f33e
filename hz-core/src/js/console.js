// console's small inspector: how `console.log` and friends format their
// arguments. A unit the prelude loads on an agent's first console call.
// `primordials` are the intrinsics the prelude captured before user code ran.
(function (primordials, deps) {
  'use strict';
  const { apply, isArray, channelProto, JSON, Object, String, Error } = deps;
  // The prelude's intrinsics this unit uses (see `primordials` there).
  const {
    mapForEach, setForEach, SetCtor, DateCtor, RegExpCtor, MapCtor, ArrayBufferCtor, objectKeys,
  } = primordials;

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
    if (v instanceof DateCtor) return v.toISOString();
    if (v instanceof RegExpCtor) return String(v);
    if (Object.getPrototypeOf(v) === channelProto) return 'Channel { capacity: ' + v.capacity + ' }';
    if (depth > 2) return isArray(v) ? '[Array]' : '[Object]';
    seen = [...seen, v];
    const inner = (x) => inspect(x, depth + 1, seen, false);
    if (isArray(v)) return v.length === 0 ? '[]' : '[ ' + v.map(inner).join(', ') + ' ]';
    if (v instanceof MapCtor) {
      const parts = [];
      apply(mapForEach, v, [(val, key) => parts.push(inner(key) + ' => ' + inner(val))]);
      return 'Map(' + v.size + ') {' + (parts.length ? ' ' + parts.join(', ') + ' ' : '') + '}';
    }
    if (v instanceof SetCtor) {
      const parts = [];
      apply(setForEach, v, [(val) => parts.push(inner(val))]);
      return 'Set(' + v.size + ') {' + (parts.length ? ' ' + parts.join(', ') + ' ' : '') + '}';
    }
    if (ArrayBufferCtor.isView(v)) return v.constructor.name + '(' + v.length + ') [ ' + Array.from(v).join(', ') + ' ]';
    if (v instanceof ArrayBufferCtor) return 'ArrayBuffer { byteLength: ' + v.byteLength + ' }';
    const keys = objectKeys(v);
    const body = keys.map((k) => (/^[A-Za-z_$][\w$]*$/.test(k) ? k : JSON.stringify(k)) + ': ' + inner(v[k]));
    return body.length === 0 ? '{}' : '{ ' + body.join(', ') + ' }';
  }

  return {
    // console.log's line: its arguments inspected, joined by spaces.
    format: (args) => args.map((a) => inspect(a, 0, [], true)).join(' '),
  };
})
