import { PruneError } from '../errors.js';

/** A JSON value as {@link parseStrictJson} returns it: objects are `Map`s, in file order. */
export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;

/**
 * A JSON object. A `Map` rather than a plain object so that keys such as `__proto__` are
 * plain data and can never reach an object's prototype.
 */
export type JsonObject = Map<string, JsonValue>;

/**
 * Nesting limit of {@link parseStrictJson}. A safetensors header needs depth 3 and an index
 * file 3; anything far deeper is hostile input.
 */
export const MAX_JSON_DEPTH = 64;

/** A backslash or a raw control character: a string holding neither needs no decoding. */
const SPECIAL_IN_STRING = /[\\\u0000-\u001f]/;

/**
 * Parses `text` as strict JSON (RFC 8259) and, unlike `JSON.parse`, rejects what the
 * safetensors format forbids or what only an attacker would write: repeated keys in an
 * object (compared after unescaping), lone UTF-16 surrogates in `\u` escapes, and nesting
 * deeper than `maxDepth`.
 *
 * @param text - the JSON text
 * @param what - names the input in error messages, e.g. `'header of model.safetensors'`
 * @param maxDepth - deepest nesting of arrays and objects accepted
 * @returns the value, with objects as `Map`s
 * @throws PruneError `CORRUPT_FILE` naming `what` and the offending position
 */
export function parseStrictJson(text: string, what: string, maxDepth = MAX_JSON_DEPTH): JsonValue {
  let pos = 0;
  const fail = (reason: string): never => {
    throw new PruneError('CORRUPT_FILE', `${what} is not valid JSON: ${reason} at character ${pos}; the file is damaged or not in this format`);
  };
  const skipWhitespace = (): void => {
    while (pos < text.length) {
      const c = text.charCodeAt(pos);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) pos++;
      else break;
    }
  };
  const parseString = (): string => {
    // pos is on the opening quote.
    pos++;
    // Fast path: most strings have no escapes or control characters.
    const close = text.indexOf('"', pos);
    if (close >= 0) {
      const plain = text.slice(pos, close);
      if (!SPECIAL_IN_STRING.test(plain)) {
        pos = close + 1;
        return plain;
      }
    }
    let out = '';
    let start = pos;
    for (;;) {
      if (pos >= text.length) fail('unterminated string');
      const c = text.charCodeAt(pos);
      if (c === 0x22) {
        out += text.slice(start, pos);
        pos++;
        return out;
      }
      if (c < 0x20) fail('raw control character in a string');
      if (c === 0x5c) {
        out += text.slice(start, pos);
        pos++;
        const e = text[pos];
        switch (e) {
          case '"': out += '"'; break;
          case '\\': out += '\\'; break;
          case '/': out += '/'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'n': out += '\n'; break;
          case 'r': out += '\r'; break;
          case 't': out += '\t'; break;
          case 'u': {
            const unit = readHex4(pos + 1);
            pos += 4;
            if (unit >= 0xd800 && unit <= 0xdbff) {
              // A high surrogate must be followed by an escaped low surrogate.
              if (text[pos + 1] !== '\\' || text[pos + 2] !== 'u') fail('lone surrogate in a \\u escape');
              const low = readHex4(pos + 3);
              if (low < 0xdc00 || low > 0xdfff) fail('lone surrogate in a \\u escape');
              pos += 6;
              out += String.fromCharCode(unit, low);
            } else if (unit >= 0xdc00 && unit <= 0xdfff) {
              fail('lone surrogate in a \\u escape');
            } else {
              out += String.fromCharCode(unit);
            }
            break;
          }
          default:
            fail('invalid escape');
        }
        pos++;
        start = pos;
        continue;
      }
      pos++;
    }
  };
  const readHex4 = (at: number): number => {
    const hex = text.slice(at, at + 4);
    if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail('invalid \\u escape');
    return Number.parseInt(hex, 16);
  };
  const numberPattern = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
  const parseNumber = (): number => {
    numberPattern.lastIndex = pos;
    const m = numberPattern.exec(text);
    if (m === null) fail('invalid number');
    pos += m![0].length;
    return Number(m![0]);
  };
  const parseValue = (depth: number): JsonValue => {
    skipWhitespace();
    if (pos >= text.length) fail('unexpected end of input');
    const c = text[pos];
    if (c === '{') {
      if (depth >= maxDepth) fail(`nesting deeper than ${maxDepth} levels`);
      pos++;
      const obj: JsonObject = new Map();
      skipWhitespace();
      if (text[pos] === '}') {
        pos++;
        return obj;
      }
      for (;;) {
        skipWhitespace();
        if (text[pos] !== '"') fail('expected a string key');
        const keyAt = pos;
        const key = parseString();
        if (obj.has(key)) {
          pos = keyAt;
          fail(`duplicate key ${JSON.stringify(key)}`);
        }
        skipWhitespace();
        if (text[pos] !== ':') fail("expected ':'");
        pos++;
        obj.set(key, parseValue(depth + 1));
        skipWhitespace();
        if (text[pos] === ',') {
          pos++;
          continue;
        }
        if (text[pos] === '}') {
          pos++;
          return obj;
        }
        fail("expected ',' or '}'");
      }
    }
    if (c === '[') {
      if (depth >= maxDepth) fail(`nesting deeper than ${maxDepth} levels`);
      pos++;
      const arr: JsonValue[] = [];
      skipWhitespace();
      if (text[pos] === ']') {
        pos++;
        return arr;
      }
      for (;;) {
        arr.push(parseValue(depth + 1));
        skipWhitespace();
        if (text[pos] === ',') {
          pos++;
          continue;
        }
        if (text[pos] === ']') {
          pos++;
          return arr;
        }
        fail("expected ',' or ']'");
      }
    }
    if (c === '"') return parseString();
    if (text.startsWith('true', pos)) {
      pos += 4;
      return true;
    }
    if (text.startsWith('false', pos)) {
      pos += 5;
      return false;
    }
    if (text.startsWith('null', pos)) {
      pos += 4;
      return null;
    }
    return parseNumber();
  };
  const value = parseValue(0);
  skipWhitespace();
  if (pos !== text.length) fail('unexpected data after the JSON value');
  return value;
}

/** Converts a {@link JsonValue} to plain JavaScript values (objects via `Object.fromEntries`, which never touches prototypes). */
export function jsonToPlain(value: JsonValue): unknown {
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [k, jsonToPlain(v)]));
  if (Array.isArray(value)) return value.map(jsonToPlain);
  return value;
}
