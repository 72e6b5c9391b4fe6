import { readFileSync } from 'node:fs';
import { fromArray, tensor } from '@prune/core';
import { describe, expect, it } from 'vitest';
import { selectTokens } from './tamp-amia.js';
import { allocateKeepBudget, modalitySimilarities } from './tamp-das.js';

interface Sample {
  output: number[];
  tokens: number;
  dim: number;
  modalityMask: number[];
  attention: number[];
  visual: number;
  language: number;
  cross: number;
  selected: number[];
}
interface Budget {
  scores: number[];
  sizes: number[];
  sparsity: number;
  keep: number[];
}

const fixture = JSON.parse(readFileSync(new URL('../test/fixtures/tamp.json', import.meta.url), 'utf8')) as { samples: Sample[]; budgets: Budget[] };

describe('TAMP against the PyTorch reference (test/reference/tamp_ref.py)', () => {
  fixture.samples.forEach((s, i) => {
    it(`sample ${i} (${s.tokens} tokens): S_vv, S_ll, S_vl and the AMIA selection order`, () => {
      const out = fromArray(Float32Array.from(s.output), [s.tokens, s.dim], 'float32');
      const mask = tensor(s.modalityMask, undefined, 'bool');
      const sims = modalitySimilarities(out, mask);
      // float32 dot products in both, summed in different orders: agreement to ~1e-6.
      expect(sims.visual).toBeCloseTo(s.visual, 5);
      expect(sims.language).toBeCloseTo(s.language, 5);
      expect(sims.cross).toBeCloseTo(s.cross, 5);
      const { indices } = selectTokens(out, tensor(s.attention), mask);
      expect(indices).toEqual(s.selected);
    });
  });

  fixture.budgets.forEach((b, i) => {
    it(`keep budget ${i} (${b.scores.length} matrices at s = ${b.sparsity}) matches exactly`, () => {
      expect(allocateKeepBudget(b.scores, b.sizes, b.sparsity)).toEqual(b.keep);
    });
  });
});
