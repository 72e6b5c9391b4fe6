import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PruneError } from '@prune/core';
import { BpeTokenizer, type BpeTokenizerJson } from './tokenizer.js';

const dir = new URL('../', import.meta.url);
const json = JSON.parse(readFileSync(new URL('weights/lm/tokenizer.json', dir), 'utf8')) as BpeTokenizerJson;
const fixtures = JSON.parse(readFileSync(new URL('test/fixtures/tokenizer-parity.json', dir), 'utf8')) as { source: string; text: string; ids: number[] }[];

describe('BpeTokenizer', () => {
  const tok = new BpeTokenizer(json);

  it('encodes exactly like the training tokenizer (Python parity fixtures)', () => {
    for (const f of fixtures) expect(tok.encode(f.text), f.source).toEqual(f.ids);
  });

  it('decodes back to the original text', () => {
    for (const f of fixtures) expect(tok.decode(tok.encode(f.text))).toBe(f.text);
  });

  it('applies merges lowest rank first on a hand-made vocabulary', () => {
    // merges: 256 = "a"+"b", 257 = "b"+"c"; "abc" → [256, 'c'] since rank 0 wins.
    const t = new BpeTokenizer({ type: 'byte-bpe', vocab_size: 258, pretokenizer: '.+', merges: [[97, 98], [98, 99]] });
    expect(t.encode('abc')).toEqual([256, 99]);
    expect(t.encode('bc')).toEqual([257]);
    expect(t.decode([256, 99])).toBe('abc');
  });

  it('rejects corrupt tokenizer files and unknown ids', () => {
    expect(() => new BpeTokenizer({ type: 'byte-bpe', vocab_size: 257, pretokenizer: '.+', merges: [[300, 1]] })).toThrow(PruneError);
    expect(() => tok.decode([tok.vocabSize])).toThrow(PruneError);
  });
});
