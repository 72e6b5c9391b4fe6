import { applyMask, fromArray, nmMask, rowMask, tensor, thresholdMask, abs, mul, sqrt, reshape } from '@prune/core';
import { Random } from '@prune/core';
import { describe, expect, it } from 'vitest';
import { pruneMagnitude, pruneMagnitudeInPlace } from './magnitude.js';
import { absKthBits, pruneRowsLowest, rowKernelKind } from './row-prune.js';
import { pruneWanda } from './wanda.js';

/** A [rows, cols] matrix with heavy ties (values from a small set), zeros of both signs. */
function tiedMatrix(rng: Random, rows: number, cols: number): Float32Array {
  const w = new Float32Array(rows * cols);
  for (let i = 0; i < w.length; i++) {
    const v = (rng.int(9) - 4) / 8;
    w[i] = v === 0 && rng.int(2) === 0 ? -0 : v;
  }
  return w;
}

function normalMatrix(rng: Random, rows: number, cols: number): Float32Array {
  return Float32Array.from({ length: rows * cols }, () => rng.normal());
}

const bits = (x: Float32Array) => new Int32Array(x.buffer.slice(0));

describe('fused row pruning (second implementation: the tensor ops score → mask → applyMask)', () => {
  const rng = new Random(17);
  const cases: [string, Float32Array, number, number][] = [
    ['normal 13×40', normalMatrix(rng, 13, 40), 13, 40],
    ['tied 9×64', tiedMatrix(rng, 9, 64), 9, 64],
    ['normal 5×2048 (histogram path)', normalMatrix(rng, 5, 2048), 5, 2048],
    ['tied 4×1536 (histogram path, ties straddle)', tiedMatrix(rng, 4, 1536), 4, 1536],
  ];
  const s = (cols: number) => Float32Array.from({ length: cols }, (_, j) => (j % 5 === 0 ? (j % 10 === 0 ? -0 : 0) : (j % 7) * 0.75 + (j % 3 === 0 ? 400 : 0)));

  for (const [label, data, rows, cols] of cases) {
    it(`Wanda per row and N:M equal the tensor path bit for bit: ${label}`, () => {
      const w = fromArray(data, [rows, cols], 'float32');
      const norms = fromArray(s(cols), [cols], 'float32');
      const scores = mul(abs(w), sqrt(reshape(norms, [1, cols])));
      for (const sparsity of [0, 0.3, 0.5, 0.7]) {
        const want = rowMask(scores, { sparsity });
        const got = pruneWanda(w, norms, { kind: 'unstructured', sparsity });
        expect(got.mask.dataSync()).toEqual(want.dataSync());
        expect(bits(got.weight.dataSync() as Float32Array)).toEqual(bits(applyMask(w, want).dataSync() as Float32Array));
      }
      for (const [n, m] of [[2, 4], [4, 8], [1, 4], [20, 32], [12, 20]].filter(([, m]) => cols % m === 0)) {
        const want = nmMask(scores, { n, m, mode: 'prune' });
        const got = pruneWanda(w, norms, { kind: 'nm', prune: n, group: m });
        expect(got.mask.dataSync()).toEqual(want.dataSync());
        expect(bits(got.weight.dataSync() as Float32Array)).toEqual(bits(applyMask(w, want).dataSync() as Float32Array));
      }
    });

    it(`magnitude per matrix, per row and N:M (and in place) equal the tensor path: ${label}`, () => {
      const w = fromArray(data, [rows, cols], 'float32');
      const a = abs(w);
      for (const [target, want] of [
        [{ kind: 'unstructured', sparsity: 0.5 } as const, thresholdMask(a, { sparsity: 0.5 })],
        [{ kind: 'unstructured', sparsity: 0.9 } as const, thresholdMask(a, { sparsity: 0.9 })],
        [{ kind: 'nm', prune: 2, group: 4 } as const, nmMask(a, { n: 2, m: 4, mode: 'prune' })],
      ] as const) {
        const got = pruneMagnitude(w, target);
        expect(got.mask.dataSync()).toEqual(want.dataSync());
        const inPlace = data.slice();
        const pruned = pruneMagnitudeInPlace(inPlace, [rows, cols], target);
        expect(bits(inPlace)).toEqual(bits(applyMask(w, want).dataSync() as Float32Array));
        expect(pruned).toBe((want.dataSync() as Uint8Array).reduce((n, v) => n + (v ? 0 : 1), 0));
      }
      const row = pruneMagnitude(w, { kind: 'unstructured', sparsity: 0.5 }, { scope: 'row' });
      expect(row.mask.dataSync()).toEqual(rowMask(a, { sparsity: 0.5 }).dataSync());
      expect([...data]).toEqual([...w.dataSync()]); // the input is left unchanged
    });
  }

  it('absKthBits is the k-th smallest |w| (sorted copy as the oracle), ties and signed zeros included', () => {
    const r = new Random(3);
    const w = tiedMatrix(r, 50, 40);
    w[7] = Infinity;
    const sorted = Float32Array.from(w, Math.abs).sort();
    for (const k of [0, 1, 999, 1000, 1999]) {
      expect(new Float32Array(Int32Array.of(absKthBits(w, k)).buffer)[0]).toBe(sorted[k]);
    }
    const n = normalMatrix(r, 30, 30);
    const sn = Float32Array.from(n, Math.abs).sort();
    for (const k of [0, 450, 899]) expect(new Float32Array(Int32Array.of(absKthBits(n, k)).buffer)[0]).toBe(sn[k]);
  });

  it('hand-computed: Wanda row [1, -2, 3, -4] with s = [16, 1, 1, 0.25] prunes the scores 2 and 2 (lower index first) at 25%', () => {
    // scores |w|·√s = [4, 2, 3, 2]: one pruned per row at 25% → index 1 (tie with index 3).
    const got = pruneWanda(tensor([[1, -2, 3, -4]]), tensor([16, 1, 1, 0.25]), { kind: 'unstructured', sparsity: 0.25 });
    expect([...got.weight.dataSync()]).toEqual([1, 0, 3, -4]);
    const half = pruneWanda(tensor([[1, -2, 3, -4]]), tensor([16, 1, 1, 0.25]), { kind: 'unstructured', sparsity: 0.5 });
    expect([...half.mask.dataSync()]).toEqual([1, 0, 1, 0]);
  });

  it('NaN scores and bad shapes are rejected with codes', () => {
    expect(() => pruneWanda(tensor([[1, Number.NaN]]), tensor([1, 1]), { kind: 'unstructured', sparsity: 0.5 }, { name: 'fc' })).toThrow(
      expect.objectContaining({ code: 'NON_FINITE', message: expect.stringMatching(/fc/) }),
    );
    expect(() => pruneWanda(tensor([[1, 2]]), tensor([1, -1]), { kind: 'unstructured', sparsity: 0.5 })).toThrow(expect.objectContaining({ code: 'NON_FINITE' }));
    expect(() => pruneMagnitudeInPlace(new Float32Array([1, Number.NaN]), [1, 2], { kind: 'unstructured', sparsity: 0.5 })).toThrow(expect.objectContaining({ code: 'NON_FINITE' }));
    expect(() => pruneMagnitudeInPlace(new Float32Array(6), [2, 2], { kind: 'unstructured', sparsity: 0.5 })).toThrow(expect.objectContaining({ code: 'SHAPE_MISMATCH' }));
    expect(() => pruneMagnitudeInPlace(new Float32Array(6), [2, 3], { kind: 'nm', prune: 2, group: 4 })).toThrow(/d_in = 3/);
  });

  it('the row kernel (WebAssembly here) equals the tensor path across its chunks, odd widths, infinite, subnormal and tied scores', () => {
    expect(rowKernelKind()).toBe('simd');
    const r = new Random(29);
    // 70×2053 and 70×2052 span two kernel chunks of 2^17 weights (widths divisible by 4 take
    // the SIMD kernel, others the scalar one); 64×7, 3×1 and 5×4 are narrow rows.
    for (const [rows, cols, infiniteRow] of [[70, 2053, 66], [70, 2052, 67], [64, 7, -1], [3, 1, -1], [5, 4, 2], [33, 192, 20], [40, 192, -1]]) {
      // Ties (a small set of values) mixed with distinct values.
      const data = tiedMatrix(r, rows, cols);
      for (let i = 0; i < data.length; i += 3) data[i] = r.normal();
      data[5 % data.length] = 1e-40; // subnormal weight
      // An infinite score (in the second chunk of the wide case): the JS kernel takes over there.
      if (infiniteRow >= 0) data[infiniteRow * cols + 5] = Infinity;
      const norms = Float32Array.from({ length: cols }, (_, j) => (j % 11 === 0 ? 0 : j % 13 === 0 ? 1e-30 : r.uniform() * 50));
      const w = fromArray(data, [rows, cols], 'float32');
      const s = fromArray(norms, [cols], 'float32');
      const scores = mul(abs(w), sqrt(reshape(s, [1, cols])));
      for (const sparsity of rows * cols > 1e5 ? [0.5] : [0.5, 0.99, 0.01]) {
        const want = rowMask(scores, { sparsity });
        const got = pruneWanda(w, s, { kind: 'unstructured', sparsity });
        expect(got.mask.dataSync()).toEqual(want.dataSync());
        expect(bits(got.weight.dataSync() as Float32Array)).toEqual(bits(applyMask(w, want).dataSync() as Float32Array));
      }
      // Per-row magnitude through the same kernel (no column factors), pruning in place.
      const inPlace = data.slice();
      const mask = new Uint8Array(data.length);
      pruneRowsLowest({ w: inPlace, rows, cols, out: inPlace, mask, op: 'test', name: 'w' }, Math.floor(cols * 0.5));
      const want = rowMask(abs(w), { sparsity: 0.5 });
      expect(mask).toEqual(want.dataSync());
      expect(bits(inPlace)).toEqual(bits(applyMask(w, want).dataSync() as Float32Array));
    }
  });

  it('a NaN score in a later chunk of the row kernel is reported at its row and column', () => {
    const r = new Random(31);
    const rows = 80;
    const cols = 2048;
    const data = normalMatrix(r, rows, cols);
    data[75 * cols + 9] = Number.NaN;
    const call = () => pruneWanda(fromArray(data, [rows, cols], 'float32'), fromArray(new Float32Array(cols).fill(2), [cols], 'float32'), { kind: 'unstructured', sparsity: 0.5 }, { name: 'fc' });
    expect(call).toThrow(expect.objectContaining({ code: 'NON_FINITE', message: expect.stringMatching(/row 75, column 9/) }));
  });
});
