import { describe, expect, it } from 'vitest';
import { fromArray, tensor } from '../ops/creation.js';
import { Random } from '../random.js';
import { ColumnNormAccumulator, columnSqHost, columnSqScalar } from './column-norm.js';

const f = Math.fround;

/** Random batches of mixed rank: [b, L, d], [T, d] or [d]. */
function randomBatches(seed: number, d: number, count: number): { data: Float32Array; shape: number[] }[] {
  const rng = new Random(seed);
  return Array.from({ length: count }, (_, i) => {
    const shape = i % 3 === 0 ? [1 + rng.int(3), 1 + rng.int(4), d] : i % 3 === 1 ? [1 + rng.int(5), d] : [d];
    const data = new Float32Array(shape.reduce((a, s) => a * s, 1));
    for (let k = 0; k < data.length; k++) data[k] = rng.normal() * 2;
    return { data, shape };
  });
}

/** Σ_batches Σ_t (g_t x_tj)² / N in float64, with N by sequences or tokens. */
function direct(batches: { data: Float32Array; shape: number[]; gates?: Float32Array }[], d: number, weighting: 'sequences' | 'tokens'): number[] {
  const s = new Array<number>(d).fill(0);
  let n = 0;
  for (const { data, shape, gates } of batches) {
    const tokens = data.length / d;
    n += weighting === 'tokens' ? tokens : shape.length >= 3 ? shape[0] : 1;
    for (let t = 0; t < tokens; t++) for (let j = 0; j < d; j++) s[j] += (data[t * d + j] * (gates ? gates[t] : 1)) ** 2;
  }
  return s.map((v) => v / n);
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    if (err > rtol * Math.abs(expected[i]) + 1e-30) throw new Error(`element ${i}: ${actual[i]} vs ${expected[i]} (error ${err})`);
  }
}

describe('ColumnNormAccumulator', () => {
  it('follows the reference running-average recurrence exactly on a hand-computed 2-batch example', () => {
    const acc = new ColumnNormAccumulator(2);
    acc.update(tensor([[1, 2], [3, 4]])); // [T, d]: one sequence; ‖X_j‖² = [10, 20]
    expect([...acc.value().dataSync()]).toEqual([10, 20]);
    acc.update(tensor([[[1, 0]], [[0, 2]]])); // [2, 1, d]: two sequences; ‖X_j‖² = [1, 4]
    expect(acc.count).toBe(3);
    expect(acc.tokens).toBe(4);
    // s ← s·1/3 + ‖X_j‖²/3, each step rounded to float32 as the reference does
    const want = [f(f(10 * f(1 / 3)) + f(1 / 3)), f(f(20 * f(1 / 3)) + f(4 / 3))];
    const got = acc.value().dataSync();
    expect([...got]).toEqual(want);
    expectClose(got, [11 / 3, 8], 1e-6);
    acc.dispose();
  });

  it('token weighting divides by the number of tokens instead', () => {
    const acc = new ColumnNormAccumulator(2, { weighting: 'tokens' });
    acc.update(tensor([[1, 2], [3, 4]]));
    acc.update(tensor([[[1, 0]], [[0, 2]]]));
    expect(acc.count).toBe(4);
    expectClose(acc.value().dataSync(), [11 / 4, 24 / 4], 1e-6);
    acc.dispose();
  });

  for (const weighting of ['sequences', 'tokens'] as const) {
    for (const accumulation of ['float32', 'float64'] as const) {
      it(`matches the statistic over all batches at once (${weighting}, ${accumulation})`, () => {
        const d = 7;
        const batches = randomBatches(11, d, 24);
        const acc = new ColumnNormAccumulator(d, { weighting, accumulation });
        for (const b of batches) acc.update(tensor(b.data, b.shape));
        expectClose(acc.value().dataSync(), direct(batches, d, weighting), accumulation === 'float64' ? 1e-6 : 1e-5);
        acc.dispose();
      });
    }
  }

  it('weights each token by its router gate (MoE-Pruner): Σ (g_t·x_tj)² / N', () => {
    const d = 5;
    const rng = new Random(3);
    const batches = randomBatches(5, d, 12).map((b) => {
      const gates = new Float32Array(b.data.length / d);
      for (let t = 0; t < gates.length; t++) gates[t] = rng.uniform();
      return { ...b, gates };
    });
    const acc = new ColumnNormAccumulator(d);
    for (const [i, b] of batches.entries()) {
      // weights as the token shape, or flattened to [tokens]; both are accepted
      const wShape = i % 2 === 0 ? b.shape.slice(0, -1) : [b.gates.length];
      acc.update(tensor(b.data, b.shape), { weights: tensor(b.gates, wShape) });
    }
    expectClose(acc.value().dataSync(), direct(batches, d, 'sequences'), 1e-5);
    // gates of 1 give plain Wanda
    const plain = new ColumnNormAccumulator(d);
    plain.update(tensor(batches[0].data, batches[0].shape), { weights: tensor(new Float32Array(batches[0].gates.length).fill(1), [batches[0].gates.length]) });
    expectClose(plain.value().dataSync(), direct([{ ...batches[0], gates: undefined }], d, 'sequences'), 1e-6);
  });

  it('counts `sequences` when given, and ignores batches without tokens', () => {
    const acc = new ColumnNormAccumulator(2);
    acc.update(tensor([[2, 0], [0, 2]]), { sequences: 4 });
    expect(acc.count).toBe(4);
    expect([...acc.value().dataSync()]).toEqual([1, 1]);
    acc.update(fromArray(new Float32Array(0), [0, 3, 2], 'float32'));
    acc.update(fromArray(new Float32Array(0), [0, 2], 'float32'));
    expect(acc.count).toBe(4);
    expect([...acc.value().dataSync()]).toEqual([1, 1]);
    acc.reset();
    expect(acc.count).toBe(0);
    expect([...acc.value().dataSync()]).toEqual([0, 0]);
  });

  it('rejects wrong shapes and dtypes', () => {
    const acc = new ColumnNormAccumulator(3);
    expect(() => acc.update(tensor([[1, 2]]))).toThrow(expect.objectContaining({ code: 'SHAPE_MISMATCH', message: expect.stringMatching(/d_in = 3/) }));
    expect(() => acc.update(tensor([1], []))).toThrow(expect.objectContaining({ code: 'SHAPE_MISMATCH' }));
    expect(() => acc.update(tensor([[1, 2, 3]], [1, 3], 'int32'))).toThrow(expect.objectContaining({ code: 'DTYPE_MISMATCH' }));
    expect(() => acc.update(tensor([[1, 2, 3]]), { weights: tensor([1, 2]) })).toThrow(expect.objectContaining({ code: 'SHAPE_MISMATCH' }));
    expect(() => acc.update(tensor([[1, 2, 3]]), { sequences: 0 })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => new ColumnNormAccumulator(0)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => new ColumnNormAccumulator(3, { weighting: 'rows' as never })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(acc.count).toBe(0);
  });

  for (const accumulation of ['float32', 'float64'] as const) {
    it(`rejects NaN/Inf inputs, bad weights and overflow with NON_FINITE and keeps its state (${accumulation})`, () => {
      const acc = new ColumnNormAccumulator(2, { accumulation });
      acc.update(tensor([[1, 2]]));
      expect(() => acc.update(tensor([[Number.NaN, 1]]))).toThrow(expect.objectContaining({ code: 'NON_FINITE', message: expect.stringMatching(/x holds 1 NaN/) }));
      expect(() => acc.update(tensor([[1, Number.POSITIVE_INFINITY]]))).toThrow(expect.objectContaining({ code: 'NON_FINITE' }));
      expect(() => acc.update(tensor([[1, 1]]), { weights: tensor([Number.NaN]) })).toThrow(expect.objectContaining({ code: 'NON_FINITE', message: expect.stringMatching(/weights/) }));
      expect(() => acc.update(tensor([[3e38, 1]]))).toThrow(expect.objectContaining({ code: 'NON_FINITE', message: expect.stringMatching(/overflow/) }));
      expect(acc.count).toBe(1);
      expect([...acc.value().dataSync()]).toEqual([1, 4]);
      acc.dispose();
    });
  }

  for (const accumulation of ['float32', 'float64'] as const) {
    it(`the host path (reference backend, no weights) equals the op-by-op path bit for bit (${accumulation})`, () => {
      // Per-token weights of 1 force the op-by-op term; the products are exact, so the two
      // paths see identical values and must round identically.
      const d = 37;
      const batches = randomBatches(23, d, 30);
      const host = new ColumnNormAccumulator(d, { accumulation });
      const ops = new ColumnNormAccumulator(d, { accumulation });
      for (const b of batches) {
        host.update(tensor(b.data, b.shape));
        const tokens = b.data.length / d;
        ops.update(tensor(b.data, b.shape), { weights: tensor(new Float32Array(tokens).fill(1), [tokens]) });
        expect(host.value().dataSync()).toEqual(ops.value().dataSync());
      }
      expect(host.count).toBe(ops.count);
      expect(host.tokens).toBe(ops.tokens);
    });
  }

  it('the host term (SIMD where available) equals a token-by-token float64 sum of float32 squares, bit for bit', () => {
    const rng = new Random(41);
    // Odd and even widths (the kernel pairs columns), token counts around its blocks of four,
    // and a batch of several MiB that streams through the kernel in chunks.
    const cases: [number, number][] = [[1, 1], [1, 6], [2, 3], [3, 4], [5, 9], [192, 128], [193, 131], [3, 400_001]];
    for (const [d, tokens] of cases) {
      const x = new Float32Array(d * tokens);
      for (let i = 0; i < x.length; i++) {
        // Magnitudes from subnormal squares up to near float32 overflow, and exact zeros.
        const r = rng.uniform();
        x[i] = r < 0.05 ? 0 : r < 0.1 ? rng.normal() * 1e-23 : r < 0.15 ? rng.normal() * 1e18 : rng.normal() * 3;
      }
      const want = new Float64Array(d);
      for (let t = 0; t < tokens; t++) for (let j = 0; j < d; j++) want[j] += f(x[t * d + j] * x[t * d + j]);
      const info = { tokens, count: 1, matrixShape: [tokens, d], weightShape: [tokens, 1] };
      expect(columnSqScalar(x, tokens, d)).toEqual(want);
      expect(columnSqHost(x, info, 7, false)).toEqual(Float32Array.from(want));
      expect(columnSqHost(x, info, 7, true)).toEqual(Float32Array.from(want, (v) => f(v) / 7));
    }
  });

  it('a wide batch on the host path equals the op-by-op path bit for bit', () => {
    const rng = new Random(5);
    const d = 193;
    const host = new ColumnNormAccumulator(d);
    const ops = new ColumnNormAccumulator(d);
    for (const tokens of [130, 1, 67]) {
      const x = new Float32Array(tokens * d);
      for (let i = 0; i < x.length; i++) x[i] = rng.normal() * 4;
      host.update(tensor(x, [1, tokens, d]));
      ops.update(tensor(x, [1, tokens, d]), { weights: tensor(new Float32Array(tokens).fill(1), [1, tokens]) });
      expect(host.value().dataSync()).toEqual(ops.value().dataSync());
    }
  });
});
