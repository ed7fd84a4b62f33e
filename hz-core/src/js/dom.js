// DOMException (WebIDL) and atob / btoa (HTML), for an engine that has
// none of its own (V8 and Boa: QuickJS has all three).
//
// A function expression the prelude evaluates on first use (an agent that
// never makes a DOMException and never calls atob or btoa pays nothing for
// them), with intrinsics captured before user code ran; it returns the
// three. They behave as the browsers', Node's and QuickJS's do: `name`,
// `message` and `code` are getters of the prototype (TypeError on another
// object), the legacy code constants sit on the constructor and the
// prototype, and atob / btoa fail with an InvalidCharacterError.
({ Error, TypeError, String, Symbol, defineProperty }) => {
  // The legacy codes of the names that have one (WebIDL's table); every
  // other name's code is 0.
  const codes = {
    __proto__: null,
    IndexSizeError: 1, HierarchyRequestError: 3, WrongDocumentError: 4, InvalidCharacterError: 5,
    NoModificationAllowedError: 7, NotFoundError: 8, NotSupportedError: 9, InUseAttributeError: 10,
    InvalidStateError: 11, SyntaxError: 12, InvalidModificationError: 13, NamespaceError: 14,
    InvalidAccessError: 15, TypeMismatchError: 17, SecurityError: 18, NetworkError: 19, AbortError: 20,
    URLMismatchError: 21, QuotaExceededError: 22, TimeoutError: 23, InvalidNodeTypeError: 24, DataCloneError: 25,
  };
  const constants = [
    'INDEX_SIZE_ERR', 'DOMSTRING_SIZE_ERR', 'HIERARCHY_REQUEST_ERR', 'WRONG_DOCUMENT_ERR', 'INVALID_CHARACTER_ERR',
    'NO_DATA_ALLOWED_ERR', 'NO_MODIFICATION_ALLOWED_ERR', 'NOT_FOUND_ERR', 'NOT_SUPPORTED_ERR', 'INUSE_ATTRIBUTE_ERR',
    'INVALID_STATE_ERR', 'SYNTAX_ERR', 'INVALID_MODIFICATION_ERR', 'NAMESPACE_ERR', 'INVALID_ACCESS_ERR',
    'VALIDATION_ERR', 'TYPE_MISMATCH_ERR', 'SECURITY_ERR', 'NETWORK_ERR', 'ABORT_ERR', 'URL_MISMATCH_ERR',
    'QUOTA_EXCEEDED_ERR', 'TIMEOUT_ERR', 'INVALID_NODE_TYPE_ERR', 'DATA_CLONE_ERR',
  ];
  const notADOMException = (what) => new TypeError(`DOMException.prototype.${what}: the receiver is not a DOMException`);
  const isObject = (v) => v !== null && (typeof v === 'object' || typeof v === 'function');

  class DOMException extends Error {
    #name;
    #message;
    constructor(message = undefined, name = undefined) {
      super();
      this.#message = message === undefined ? '' : String(message);
      this.#name = name === undefined ? 'Error' : String(name);
    }
    get name() {
      if (!isObject(this) || !(#name in this)) throw notADOMException('name');
      return this.#name;
    }
    get message() {
      if (!isObject(this) || !(#message in this)) throw notADOMException('message');
      return this.#message;
    }
    get code() {
      if (!isObject(this) || !(#name in this)) throw notADOMException('code');
      return codes[this.#name] ?? 0;
    }
  }
  const proto = DOMException.prototype;
  // WebIDL attributes are enumerable; constants enumerable and fixed.
  for (const k of ['name', 'message', 'code']) defineProperty(proto, k, { enumerable: true });
  for (let i = 0; i < constants.length; i++) {
    const d = { value: i + 1, writable: false, enumerable: true, configurable: false };
    defineProperty(DOMException, constants[i], d);
    defineProperty(proto, constants[i], d);
  }
  defineProperty(proto, Symbol.toStringTag, { value: 'DOMException', configurable: true });

  const invalid = (what) => new DOMException(what, 'InvalidCharacterError');
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  // A character code's 6 bits (-1: not in the alphabet).
  const sextets = [];
  for (let i = 0; i < 128; i++) sextets.push(-1);
  for (let i = 0; i < 64; i++) sextets[alphabet.charCodeAt(i)] = i;
  // Strings of up to 8,192 characters each, joined once.
  const CHUNK = 8192;

  // HTML's btoa: a string of Latin-1 characters (each code below 256) to
  // base64; any other character is an InvalidCharacterError.
  function btoa(data) {
    if (arguments.length === 0) throw new TypeError("btoa: 1 argument required, but only 0 present");
    const s = String(data);
    const parts = [];
    let out = '';
    for (let i = 0; i < s.length; i += 3) {
      const left = s.length - i;
      const a = s.charCodeAt(i), b = left > 1 ? s.charCodeAt(i + 1) : 0, c = left > 2 ? s.charCodeAt(i + 2) : 0;
      if (a > 255 || b > 255 || c > 255) {
        throw invalid('btoa: the string to be encoded contains characters outside of the Latin1 range');
      }
      const n = (a << 16) | (b << 8) | c;
      out += alphabet[n >> 18] + alphabet[(n >> 12) & 63] + (left > 1 ? alphabet[(n >> 6) & 63] : '=') +
        (left > 2 ? alphabet[n & 63] : '=');
      if (out.length >= CHUNK) {
        parts.push(out);
        out = '';
      }
    }
    parts.push(out);
    return parts.join('');
  }

  // HTML's atob (the forgiving-base64 decode): ASCII whitespace is skipped,
  // one or two '=' may end a length that is a multiple of 4, and anything
  // else outside the alphabet is an InvalidCharacterError.
  function atob(data) {
    if (arguments.length === 0) throw new TypeError("atob: 1 argument required, but only 0 present");
    const s = String(data);
    const chars = [];
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      // Tab, line feed, form feed, carriage return, space.
      if (c === 9 || c === 10 || c === 12 || c === 13 || c === 32) continue;
      chars.push(c);
    }
    let n = chars.length;
    if (n % 4 === 0 && n > 0 && chars[n - 1] === 61) n -= chars[n - 2] === 61 ? 2 : 1;
    if (n % 4 === 1) throw invalid('atob: the string to be decoded is not correctly encoded');
    const parts = [];
    let out = '', bits = 0, count = 0;
    for (let i = 0; i < n; i++) {
      const v = chars[i] < 128 ? sextets[chars[i]] : -1;
      if (v < 0) throw invalid('atob: the string to be decoded is not correctly encoded');
      bits = (bits << 6) | v;
      count += 6;
      if (count >= 8) {
        count -= 8;
        out += String.fromCharCode((bits >> count) & 255);
        bits &= (1 << count) - 1;
        if (out.length >= CHUNK) {
          parts.push(out);
          out = '';
        }
      }
    }
    parts.push(out);
    return parts.join('');
  }

  return { DOMException, atob, btoa };
}
