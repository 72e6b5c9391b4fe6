// Our Wanda masks against the reference algorithm run in PyTorch (test/reference/wanda_ref.py,
// a line-for-line re-implementation of locuslab/wanda's per-layer code) on the same weights
// and activations: the masks must be identical, bit for bit.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ColumnNormAccumulator, type Tensor, dispose, tensor } from '@prune/core';
import { magnitudeMask, magnitudeScore, wandaMask, wandaScore, wandaVariantMask } from '../src/index.js';
import type { SparsityTarget } from '../src/index.js';

interface MaskEntry {
  kind: 'unstructured' | 'nm' | 'magnitude';
  sparsity?: number;
  prune?: number;
  group?: number;
  variant?: boolean;
  alpha?: number;
  achieved?: number;
  pruned: string[];
}

interface Case {
  name: string;
  weight: number[][];
  inputs: number[][][] | number[][][][];
  scalerRow: number[];
  masks: MaskEntry[];
}

const fixture = JSON.parse(readFileSync(fileURLToPath(new URL('./fixtures/wanda.json', import.meta.url)), 'utf8')) as { cases: Case[] };

/** Rows of '0'/'1' (1 = pruned) from a KEEP mask. */
function prunedRows(keep: Tensor<'bool'>): string[] {
  const [rows, cols] = keep.shape;
  const data = keep.dataSync();
  return Array.from({ length: rows }, (_, r) => Array.from(data.subarray(r * cols, (r + 1) * cols), (k) => (k ? '0' : '1')).join(''));
}

function targetOf(entry: MaskEntry): SparsityTarget {
  return entry.kind === 'nm' ? { kind: 'nm', prune: entry.prune!, group: entry.group! } : { kind: 'unstructured', sparsity: entry.sparsity! };
}

function label(entry: MaskEntry): string {
  if (entry.kind === 'nm') return `${entry.prune}:${entry.group}`;
  return `${entry.kind} ${entry.sparsity}${entry.variant ? ' variant' : ''}`;
}

describe.each(fixture.cases)('Wanda masks equal the PyTorch reference ($name)', (c) => {
  it('accumulates scaler_row like the reference (float32 rounding apart)', () => {
    const acc = new ColumnNormAccumulator(c.weight[0].length);
    for (const x of c.inputs) {
      const t = tensor(x as number[][]);
      acc.update(t);
      t.dispose();
    }
    const s = acc.value();
    const ours = s.dataSync();
    c.scalerRow.forEach((v, j) => expect(Math.abs(ours[j] - v)).toBeLessThanOrEqual(1e-5 * v));
    dispose(s);
    acc.dispose();
  });

  for (const entry of c.masks) {
    it(`${label(entry)}: identical mask from the reference statistic and from ours`, () => {
      const w = tensor(c.weight);
      const reference = tensor(c.scalerRow);
      const acc = new ColumnNormAccumulator(c.weight[0].length);
      for (const x of c.inputs) {
        const t = tensor(x as number[][]);
        acc.update(t);
        t.dispose();
      }
      const ours = acc.value();
      for (const stat of [reference, ours]) {
        let keep: Tensor<'bool'>;
        const scores = entry.kind === 'magnitude' ? magnitudeScore(w) : wandaScore(w, stat);
        if (entry.kind === 'magnitude') {
          keep = magnitudeMask(scores, targetOf(entry));
        } else if (entry.variant) {
          const result = wandaVariantMask(scores, { sparsity: entry.sparsity! });
          expect(result.alpha).toBe(entry.alpha);
          expect(result.sparsity).toBeCloseTo(entry.achieved!, 6);
          keep = result.mask;
        } else {
          keep = wandaMask(scores, targetOf(entry));
        }
        expect(prunedRows(keep)).toEqual(entry.pruned);
        dispose([scores, keep]);
      }
      dispose([w, reference, ours]);
      acc.dispose();
    });
  }
});
