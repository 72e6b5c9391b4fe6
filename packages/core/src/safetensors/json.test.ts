import { describe, expect, it } from 'vitest';
import { PruneError } from '../errors.js';
import { jsonToPlain, parseStrictJson } from './json.js';

function corrupt(text: string, maxDepth?: number): PruneError {
  try {
    parseStrictJson(text, 'test input', maxDepth);
  } catch (e) {
    expect(e).toBeInstanceOf(PruneError);
    expect((e as PruneError).code).toBe('CORRUPT_FILE');
    expect((e as PruneError).message).toContain('test input');
    return e as PruneError;
  }
  throw new Error(`expected ${JSON.stringify(text)} to be rejected`);
}

describe('parseStrictJson', () => {
  it('parses what JSON.parse parses, with objects as Maps in file order', () => {
    const text = ' {"b": [1, -2.5e3, true, false, null], "a": {"x": "y\\n\\u00e9\\ud83d\\ude00\\/"}} ';
    const value = parseStrictJson(text, 'x');
    expect(value).toBeInstanceOf(Map);
    expect([...(value as Map<string, unknown>).keys()]).toEqual(['b', 'a']);
    expect(jsonToPlain(value)).toEqual(JSON.parse(text));
  });

  it('keeps __proto__ as plain data', () => {
    const plain = jsonToPlain(parseStrictJson('{"__proto__": {"polluted": "yes"}}', 'x')) as Record<string, unknown>;
    expect(Object.getPrototypeOf(plain)).toBe(Object.prototype);
    expect(Object.hasOwn(plain, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('rejects duplicate keys, also when spelled with different escapes', () => {
    expect(corrupt('{"a": 1, "a": 2}').message).toContain('duplicate key "a"');
    corrupt('{"a": 1, "\\u0061": 2}');
    corrupt('{"t": {"dtype": "F32", "dtype": "F16"}}');
  });

  it('rejects lone surrogates, raw control characters and bad escapes', () => {
    corrupt('{"\\ud800": 1}');
    corrupt('{"\\udc00": 1}');
    corrupt('{"\\ud800\\u0041": 1}');
    corrupt('{"a\u0001": 1}');
    corrupt('{"\\x41": 1}');
    corrupt('{"\\u12G4": 1}');
  });

  it('rejects malformed JSON of every kind', () => {
    for (const bad of ['', '{', '{"a"}', '{"a":}', '{"a":1,}', '[1,]', '01', '1.', '-', '+1', 'tru', '{} x', "{'a':1}", 'NaN', '"abc']) corrupt(bad);
  });

  it('limits nesting depth without overflowing the stack', () => {
    expect(parseStrictJson('[[[1]]]', 'x', 3)).toEqual([[[1]]]);
    expect(corrupt('[[[[1]]]]', 3).message).toContain('nesting deeper than 3');
    corrupt('['.repeat(100_000) + ']'.repeat(100_000));
    corrupt('{"a":'.repeat(100_000) + '1' + '}'.repeat(100_000));
  });
});
