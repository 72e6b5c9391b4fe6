import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PruneError } from '../errors.js';
import { fromArray, scalar, tensor } from '../ops/creation.js';
import { rowMask } from './row-mask.js';

function errorOf(fn: () => unknown): PruneError {
  try {
    fn();
  } catch (e) {
    if (e instanceof PruneError) return e;
    throw e;
  }
  throw new Error('expected a PruneError');
}

/** Independent oracle: prune the first floor(d·s) indices of a stable ascending sort. */
function expectedKeep(row: readonly number[], sparsity: number): boolean[] {
  const order = row.map((v, i) => [v, i] as const).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const keep = row.map(() => true);
  for (const [, i] of order.slice(0, Math.floor(row.length * sparsity))) keep[i] = false;
  return keep;
}

describe('rowMask', () => {
  it('prunes floor(d·s) lowest per row, ties lower index first (hand-checked)', () => {
    const scores = tensor([
      [0.3, 0.1, 0.2, 0.1],
      [5, 5, 5, 5],
      [1, 4, 3, 2],
    ]);
    const keep = rowMask(scores, { sparsity: 0.5 });
    expect(keep.dtype).toBe('bool');
    expect(keep.shape).toEqual([3, 4]);
    expect([...keep.dataSync()]).toEqual([1, 0, 1, 0, 0, 0, 1, 1, 0, 1, 1, 0]);
    // floor(4 · 0.7) = 2 as well; floor(4 · 0.75) = 3.
    expect([...rowMask(scores, { sparsity: 0.7 }).dataSync()]).toEqual([...keep.dataSync()]);
    expect([...rowMask(scores, { sparsity: 0.75 }).dataSync()]).toEqual([1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0]);
  });

  it('keeps everything at s = 0 and handles +Infinity, -0 and int32 scores', () => {
    const scores = tensor([[Number.POSITIVE_INFINITY, 0, -0, Number.NEGATIVE_INFINITY, 2]]);
    expect([...rowMask(scores, { sparsity: 0 }).dataSync()]).toEqual([1, 1, 1, 1, 1]);
    // Stable order: -Inf(3), 0(1), -0(2), 2(4), Inf(0): floor(5·0.6) = 3 pruned.
    expect([...rowMask(scores, { sparsity: 0.6 }).dataSync()]).toEqual([1, 0, 0, 0, 1]);
    const ints = tensor([[3, -1, 3, 0, -1, 7]], undefined, 'int32');
    expect([...rowMask(ints, { sparsity: 0.5 }).dataSync()]).toEqual([1, 0, 1, 0, 0, 1]);
  });

  it('works per last-axis row of a rank-3 tensor', () => {
    const data = Float32Array.from({ length: 2 * 3 * 5 }, (_, i) => (i * 7) % 5);
    const keep = rowMask(fromArray(data, [2, 3, 5], 'float32'), { sparsity: 0.4 }).dataSync();
    for (let r = 0; r < 6; r++) {
      const row = [...data.subarray(r * 5, r * 5 + 5)];
      expect([...keep.subarray(r * 5, r * 5 + 5)].map(Boolean)).toEqual(expectedKeep(row, 0.4));
    }
  });

  it('equals the first floor(d·s) of a stable argsort on random rows with heavy ties (fast-check)', () => {
    const rows = fc.integer({ min: 1, max: 6 }).chain((nRows) =>
      fc.integer({ min: 1, max: 1200 }).chain((d) =>
        fc.tuple(
          fc.array(fc.array(fc.integer({ min: -3, max: 3 }), { minLength: d, maxLength: d }), { minLength: nRows, maxLength: nRows }),
          fc.double({ min: 0, max: 0.999, noNaN: true }),
        ),
      ),
    );
    fc.assert(
      fc.property(rows, ([matrix, sparsity]) => {
        const d = matrix[0].length;
        // Scale the small integers so the float32 values are exact and ties are heavy.
        const values = matrix.map((row) => row.map((v) => v / 4));
        const keep = rowMask(tensor(values), { sparsity }).dataSync();
        values.forEach((row, r) => {
          expect([...keep.subarray(r * d, (r + 1) * d)].map(Boolean)).toEqual(expectedKeep(row, sparsity));
        });
      }),
      { numRuns: 120, seed: 42 },
    );
  });

  it('rejects a sparsity outside [0, 1), naming the range', () => {
    const scores = tensor([[1, 2]]);
    for (const sparsity of [1, -0.1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '0.5' as unknown as number]) {
      const e = errorOf(() => rowMask(scores, { sparsity }));
      expect(e.code).toBe('OUT_OF_RANGE');
      expect(e.message).toContain('[0, 1)');
    }
  });

  it('rejects NaN scores with NON_FINITE naming the tensor, and bad rank or dtype', () => {
    const e = errorOf(() => rowMask(tensor([[1, Number.NaN]]), { sparsity: 0.5, name: 'layers.0.mlp.up_proj' }));
    expect(e.code).toBe('NON_FINITE');
    expect(e.message).toContain('layers.0.mlp.up_proj');
    expect(errorOf(() => rowMask(tensor([[1, Number.NaN]]), { sparsity: 0.5 })).message).toContain('scores');
    expect(errorOf(() => rowMask(scalar(1), { sparsity: 0.5 })).code).toBe('OUT_OF_RANGE');
    expect(errorOf(() => rowMask(tensor([true], undefined, 'bool'), { sparsity: 0.5 })).code).toBe('DTYPE_MISMATCH');
    expect(errorOf(() => rowMask([1, 2] as never, { sparsity: 0.5 })).code).toBe('INVALID_ARGUMENT');
    expect(errorOf(() => rowMask(tensor([1]), undefined as never)).code).toBe('INVALID_ARGUMENT');
  });
});
