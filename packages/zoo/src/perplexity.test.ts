import { describe, expect, it } from 'vitest';
import { PruneError, type Tensor, fromArray } from '@prune/core';
import { perplexity } from './perplexity.js';

// A "model" whose logits are a fixed function of the input ids, for hand-checkable results.
function fakeModel(vocab: number, logit: (prev: number, v: number) => number) {
  return {
    forward(ids: Tensor): Tensor {
      const [b, t] = ids.shape;
      const x = ids.dataSync();
      const out = new Float32Array(b * t * vocab);
      for (let i = 0; i < b * t; i++) for (let v = 0; v < vocab; v++) out[i * vocab + v] = logit(x[i], v);
      return fromArray(out, [b, t, vocab], 'float32');
    },
  };
}

describe('perplexity', () => {
  const tokens = Array.from({ length: 50 }, (_, i) => i % 5);

  it('is the vocabulary size for uniform predictions', () => {
    const r = perplexity(fakeModel(5, () => 0), tokens, { window: 10, stride: 10, maxWindows: 100 });
    expect(r.perplexity).toBeCloseTo(5, 10);
    expect(r.windows).toBe(5);
    expect(r.tokens).toBe(5 * 9);
  });

  it('is 1 for a model that puts all mass on the next token, and counts overlapping windows once', () => {
    const sharp = fakeModel(5, (prev, v) => (v === (prev + 1) % 5 ? 100 : -100));
    expect(perplexity(sharp, tokens, { window: 10, stride: 10, maxWindows: 100 }).perplexity).toBeCloseTo(1, 10);
    const r = perplexity(sharp, tokens, { window: 10, stride: 5, maxWindows: 100, batch: 3 });
    // Windows start at 0,5,...,40 (9 windows); the first scores 9 positions, the rest 5 new ones each.
    expect(r.windows).toBe(9);
    expect(r.tokens).toBe(9 + 8 * 5);
  });

  it('does not depend on the batch size', () => {
    const m = fakeModel(5, (prev, v) => Math.sin(prev * 3 + v));
    const a = perplexity(m, tokens, { window: 7, stride: 7, maxWindows: 6, batch: 1 });
    const b = perplexity(m, tokens, { window: 7, stride: 7, maxWindows: 6, batch: 4 });
    expect(a.nll).toBe(b.nll);
  });

  it('rejects protocols that cannot be evaluated', () => {
    const m = fakeModel(5, () => 0);
    expect(() => perplexity(m, tokens, { window: 1, stride: 1, maxWindows: 1 })).toThrow(PruneError);
    expect(() => perplexity(m, tokens, { window: 10, stride: 11, maxWindows: 1 })).toThrow(PruneError);
    expect(() => perplexity(m, tokens.slice(0, 5), { window: 10, stride: 10, maxWindows: 1 })).toThrow(PruneError);
  });
});
