import { describe, expect, it } from 'vitest';
import { tensor } from '../ops/creation.js';
import { Random } from '../random.js';
import { HessianAccumulator } from './hessian.js';

interface Batch {
  data: Float32Array;
  shape: number[];
  gates?: Float32Array;
}

/** Random batches of mixed rank: [b, L, d], [T, d] or [d]. */
function randomBatches(seed: number, d: number, count: number): Batch[] {
  const rng = new Random(seed);
  return Array.from({ length: count }, (_, i) => {
    const shape = i % 3 === 0 ? [1 + rng.int(3), 1 + rng.int(4), d] : i % 3 === 1 ? [1 + rng.int(5), d] : [d];
    const data = new Float32Array(shape.reduce((a, s) => a * s, 1));
    for (let k = 0; k < data.length; k++) data[k] = rng.normal();
    return { data, shape };
  });
}

/** (2/N) · Σ_batches (g⊙X)ᵀ(g⊙X) in float64, N by sequences or tokens. */
function direct(batches: Batch[], d: number, weighting: 'sequences' | 'tokens'): Float64Array {
  const h = new Float64Array(d * d);
  let n = 0;
  for (const { data, shape, gates } of batches) {
    const tokens = data.length / d;
    n += weighting === 'tokens' ? tokens : shape.length >= 3 ? shape[0] : 1;
    for (let t = 0; t < tokens; t++) {
      const g = gates ? gates[t] : 1;
      for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) h[i * d + j] += g * data[t * d + i] * g * data[t * d + j];
    }
  }
  return h.map((v) => (2 * v) / n);
}

/** Largest |a − b| relative to the largest |b|. */
function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let err = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    err = Math.max(err, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return err / scale;
}

describe('HessianAccumulator', () => {
  it('follows the reference recurrence exactly on a hand-computed 2-batch example', () => {
    const acc = new HessianAccumulator(2);
    // two sequences → n = 2, sqrt(2/n) = 1: H = XᵀX = [[10, 2], [2, 4]]
    acc.update(tensor([[[1, 2]], [[3, 0]]]));
    expect([...acc.value().dataSync()]).toEqual([10, 2, 2, 4]);
    // six more → n = 8: H·2/8 + (0.5·X)ᵀ(0.5·X) = [[2.5, 0.5], [0.5, 1]] + [[2, 1], [1, 2]]
    acc.update(tensor([[[2, 0]], [[0, 2]], [[2, 2]], [[0, 0]], [[0, 0]], [[0, 0]]]));
    expect(acc.count).toBe(8);
    expect([...acc.value().dataSync()]).toEqual([4.5, 1.5, 1.5, 3]);
    // = (2/8)·(X₁ᵀX₁ + X₂ᵀX₂) = 0.25·[[18, 6], [6, 12]]
    acc.dispose();
  });

  for (const weighting of ['sequences', 'tokens'] as const) {
    for (const accumulation of ['float32', 'float64'] as const) {
      it(`equals 2/N·XᵀX over all batches at once (${weighting}, ${accumulation})`, () => {
        const d = 6;
        const batches = randomBatches(21, d, 30);
        const acc = new HessianAccumulator(d, { weighting, accumulation });
        for (const b of batches) acc.update(tensor(b.data, b.shape));
        const h = acc.value().dataSync();
        expect(relativeError(h, direct(batches, d, weighting))).toBeLessThan(accumulation === 'float64' ? 1e-6 : 1e-5);
        // symmetric, as XᵀX is
        for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) expect(h[i * d + j]).toBe(h[j * d + i]);
        acc.dispose();
      });
    }
  }

  it('weights token rows by per-token gates', () => {
    const d = 4;
    const rng = new Random(8);
    const batches = randomBatches(9, d, 9).map((b) => ({ ...b, gates: Float32Array.from({ length: b.data.length / d }, () => rng.uniform()) }));
    const acc = new HessianAccumulator(d);
    for (const b of batches) acc.update(tensor(b.data, b.shape), { weights: tensor(b.gates, [b.gates.length]) });
    expect(relativeError(acc.value().dataSync(), direct(batches, d, 'sequences'))).toBeLessThan(1e-5);
    acc.dispose();
  });

  it('float64 accumulation stays accurate over many batches', () => {
    const d = 3;
    const batches = randomBatches(4, d, 600).map((b) => ({ ...b, shape: [b.data.length / d, d] }));
    const exact = direct(batches, d, 'sequences');
    const acc64 = new HessianAccumulator(d, { accumulation: 'float64' });
    for (const b of batches) acc64.update(tensor(b.data, b.shape));
    // only the final float32 rounding of value() remains
    expect(relativeError(acc64.value().dataSync(), exact)).toBeLessThan(2e-7);
    acc64.dispose();
  });

  it('validates inputs and leaves H unchanged on NON_FINITE', () => {
    const acc = new HessianAccumulator(2);
    acc.update(tensor([[1, 2]]));
    expect(() => acc.update(tensor([[1, 2, 3]]))).toThrow(expect.objectContaining({ code: 'SHAPE_MISMATCH' }));
    expect(() => acc.update(tensor([[Number.NEGATIVE_INFINITY, 2]]))).toThrow(
      expect.objectContaining({ code: 'NON_FINITE', message: expect.stringMatching(/left unchanged/) }),
    );
    expect(() => acc.update(tensor([[1, 2]]), { weights: tensor([[1]]) })).not.toThrow();
    expect(acc.count).toBe(2);
    expect(() => acc.update(tensor([[1, 2]]), { weights: tensor([Number.NaN]) })).toThrow(expect.objectContaining({ code: 'NON_FINITE' }));
    // n = 1: H = 2·xᵀx; n = 2: H·1/2 + xᵀx
    expect([...acc.value().dataSync()]).toEqual([2, 4, 4, 8]);
    acc.reset();
    expect([...acc.value().dataSync()]).toEqual([0, 0, 0, 0]);
  });
  for (const accumulation of ['float32', 'float64'] as const) {
    it(`the host path (symmetric, reference backend) agrees with the op-by-op path and is exactly symmetric (${accumulation})`, () => {
      // Per-token weights of 1 force the op-by-op term (mul, transpose, matmul).
      const d = 13; // not a multiple of the 4×4 blocks
      const batches = randomBatches(29, d, 18);
      const host = new HessianAccumulator(d, { accumulation });
      const ops = new HessianAccumulator(d, { accumulation });
      for (const b of batches) {
        host.update(tensor(b.data, b.shape));
        const tokens = b.data.length / d;
        ops.update(tensor(b.data, b.shape), { weights: tensor(new Float32Array(tokens).fill(1), [tokens]) });
      }
      const h = host.value().dataSync();
      expect(relativeError(h, ops.value().dataSync())).toBeLessThan(1e-6);
      expect(relativeError(h, direct(batches, d, 'sequences'))).toBeLessThan(1e-5);
      for (let i = 0; i < d; i++) for (let j = 0; j < i; j++) expect(h[i * d + j]).toBe(h[j * d + i]);
    });
  }
});
