import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PruneError } from '../errors.js';
import { tensor } from '../ops/creation.js';
import { nmMask } from './nm-mask.js';

function errorOf(fn: () => unknown): PruneError {
  try {
    fn();
  } catch (e) {
    if (e instanceof PruneError) return e;
    throw e;
  }
  throw new Error('expected a PruneError');
}

/**
 * Brute force: among all subsets of each group that keep the required count, the kept set
 * is the one whose pruned entries are the lowest, ties pruned lower index first — i.e. the
 * lexicographically smallest (score, index) list of pruned entries.
 */
function bruteForceKeep(row: readonly number[], keepPerGroup: number, m: number): boolean[] {
  const keep: boolean[] = [];
  for (let g = 0; g < row.length; g += m) {
    const group = row.slice(g, g + m);
    let best: { pruned: [number, number][]; keep: boolean[] } | undefined;
    for (let bits = 0; bits < 1 << m; bits++) {
      const kept = group.map((_, i) => ((bits >> i) & 1) === 1);
      if (kept.filter(Boolean).length !== keepPerGroup) continue;
      const pruned = group.map((v, i) => [v, i] as [number, number]).filter((_, i) => !kept[i]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      // A valid pruned set has no kept entry ranking below a pruned one.
      const worstPruned = pruned[pruned.length - 1];
      const valid = !worstPruned || group.every((v, i) => !kept[i] || v > worstPruned[0] || (v === worstPruned[0] && i > worstPruned[1]));
      if (valid && !best) best = { pruned, keep: kept };
    }
    keep.push(...best!.keep);
  }
  return keep;
}

describe('nmMask', () => {
  it("'keep' keeps n and 'prune' prunes n of every m (hand-checked)", () => {
    const scores = tensor([
      [0.1, 0.9, 0.5, 0.2, 3, 1, 2, 0],
      [1, 1, 1, 1, 4, 3, 2, 1],
    ]);
    expect([...nmMask(scores, { n: 2, m: 4, mode: 'keep' }).dataSync()]).toEqual([0, 1, 1, 0, 1, 0, 1, 0, 0, 0, 1, 1, 1, 1, 0, 0]);
    // 1:4 differs by mode: keep 1 of 4 vs prune 1 of 4.
    expect([...nmMask(scores, { n: 1, m: 4, mode: 'keep' }).dataSync()]).toEqual([0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0]);
    expect([...nmMask(scores, { n: 1, m: 4, mode: 'prune' }).dataSync()]).toEqual([0, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 0]);
  });

  it('n = 0 keeps nothing in keep mode and everything in prune mode', () => {
    const scores = tensor([[3, 1, 2, 4]]);
    expect([...nmMask(scores, { n: 0, m: 2, mode: 'keep' }).dataSync()]).toEqual([0, 0, 0, 0]);
    expect([...nmMask(scores, { n: 0, m: 2, mode: 'prune' }).dataSync()]).toEqual([1, 1, 1, 1]);
  });

  it('agrees with brute force over every subset on random rows with ties (fast-check)', () => {
    const arb = fc
      .record({ m: fc.integer({ min: 1, max: 6 }), groups: fc.integer({ min: 1, max: 5 }), rows: fc.integer({ min: 1, max: 3 }), nSeed: fc.nat(), keep: fc.boolean() })
      .chain((p) => fc.tuple(fc.constant(p), fc.array(fc.integer({ min: -2, max: 2 }), { minLength: p.m * p.groups * p.rows, maxLength: p.m * p.groups * p.rows })));
    fc.assert(
      fc.property(arb, ([p, values]) => {
        const n = p.nSeed % p.m;
        const d = p.m * p.groups;
        const rows = Array.from({ length: p.rows }, (_, r) => values.slice(r * d, (r + 1) * d));
        const keep = nmMask(tensor(rows), { n, m: p.m, mode: p.keep ? 'keep' : 'prune' }).dataSync();
        const keepPerGroup = p.keep ? n : p.m - n;
        rows.forEach((row, r) => {
          expect([...keep.subarray(r * d, (r + 1) * d)].map(Boolean)).toEqual(bruteForceKeep(row, keepPerGroup, p.m));
        });
      }),
      { numRuns: 150, seed: 3 },
    );
  });

  it('keeps the shape of rank-1 and rank-3 scores', () => {
    expect(nmMask(tensor([1, 2, 3, 4]), { n: 2, m: 4, mode: 'keep' }).shape).toEqual([4]);
    const r3 = nmMask(tensor([[[1, 2, 3, 4]], [[4, 3, 2, 1]]]), { n: 1, m: 2, mode: 'keep' });
    expect(r3.shape).toEqual([2, 1, 4]);
    expect([...r3.dataSync()]).toEqual([0, 1, 0, 1, 1, 0, 1, 0]);
  });

  it('rejects n outside [0, m), a row length not divisible by m, a missing mode and NaN', () => {
    const scores = tensor([[1, 2, 3, 4, 5, 6]]);
    expect(errorOf(() => nmMask(scores, { n: 4, m: 4, mode: 'keep' })).code).toBe('OUT_OF_RANGE');
    expect(errorOf(() => nmMask(scores, { n: 5, m: 2, mode: 'prune' })).code).toBe('OUT_OF_RANGE');
    expect(errorOf(() => nmMask(scores, { n: -1, m: 2, mode: 'prune' })).code).toBe('OUT_OF_RANGE');
    expect(errorOf(() => nmMask(scores, { n: 1, m: 0, mode: 'prune' })).code).toBe('OUT_OF_RANGE');
    expect(errorOf(() => nmMask(scores, { n: 1.5, m: 4, mode: 'keep' })).code).toBe('INVALID_ARGUMENT');
    const e = errorOf(() => nmMask(scores, { n: 2, m: 4, mode: 'keep' }));
    expect(e.code).toBe('SHAPE_MISMATCH');
    expect(e.message).toContain('multiple of m = 4');
    expect(errorOf(() => nmMask(scores, { n: 1, m: 2 } as never)).code).toBe('INVALID_ARGUMENT');
    expect(errorOf(() => nmMask(tensor([[1, Number.NaN]]), { n: 1, m: 2, mode: 'keep', name: 'w' })).code).toBe('NON_FINITE');
  });
});
