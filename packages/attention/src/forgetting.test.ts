import { PruneError, tensor } from '@prune/core';
import { describe, expect, it } from 'vitest';
import { bruteAttention, maxAbsDiff, randomProblem } from './brute-force.fixture.js';
import { cumulativeLogForget, decayBias, forgetGateLog, forgettingAttention } from './forgetting.js';

const t4 = (x: Float32Array, s: number[]) => tensor(x, s);

describe('forget gates and Λ', () => {
  it('log f = log σ(w·x + b) per head and token, head-first', () => {
    // x [1, 2, 2], two heads: head 0 reads x0, head 1 reads x1 with bias 1.
    const x = tensor([[[1, 2], [-3, 0]]]);
    const w = tensor([[1, 0], [0, 1]]);
    const b = tensor([0, 1]);
    const got = forgetGateLog(x, w, b).dataSync();
    const ls = (z: number) => -Math.log1p(Math.exp(-z));
    // [batch, heads, seq]: head 0 → [ls(1), ls(-3)], head 1 → [ls(3), ls(1)].
    expect(Array.from(got)).toEqual([ls(1), ls(-3), ls(3), ls(1)].map(Math.fround));
  });

  it('Λ is the cumulative sum, flat 0 over left padding', () => {
    const logF = tensor([[[-0.5, -1, -0.25, -2]], [[-7, -9, -0.5, -1]]]);
    const lam = cumulativeLogForget(logF, { seqStart: [0, 2] }).dataSync();
    expect(Array.from(lam)).toEqual([-0.5, -1.5, -1.75, -3.75, 0, 0, -0.5, -1.5]);
  });

  it('decay bias on a hand example: D_ij = Λ_i − Λ_j below the diagonal, −∞ above', () => {
    const lam = tensor([[[-0.5, -1.5, -1.75, -3.75]]]);
    const d = decayBias(lam).dataSync();
    const I = -Infinity;
    expect(Array.from(d)).toEqual([
      0, I, I, I,
      -1, 0, I, I,
      -1.25, -0.25, 0, I,
      -3.25, -2.25, -2, 0,
    ]);
    // The last two queries only, with the first key as padding.
    const tail = decayBias(lam, 2, { seqStart: [1] }).dataSync();
    expect(Array.from(tail)).toEqual([I, -0.25, 0, I, I, -2.25, -2, 0]);
  });
});

describe('forgettingAttention (dense, core ops)', () => {
  it('matches a float64 brute force, with m < n and left padding', () => {
    for (const [m, n, seqStart] of [[9, 9, [0, 0]], [3, 11, [0, 4]], [7, 7, [2, 6]]] as [number, number, number[]][]) {
      const p = randomProblem(m * 31 + n, 2, 3, m, n, 8, { seqStart });
      const out = forgettingAttention(t4(p.q, [2, 3, m, 8]), t4(p.k, [2, 3, n, 8]), t4(p.v, [2, 3, n, 8]), tensor(p.logF, [2, 3, n]), { seqStart });
      expect(maxAbsDiff(out.dataSync(), bruteAttention(p).out)).toBeLessThan(1e-5);
    }
  });

  it('left padding: padded rows are 0 and real rows equal the unpadded sequence', () => {
    const pad = 3;
    const full = randomProblem(5, 1, 2, 10, 10, 4); // padded layout; its first 3 positions are garbage
    const short = { ...full, m: 7, n: 7 } as typeof full;
    const cut = (x: Float32Array, len: number, w: number) => {
      const out = new Float32Array(2 * (len - pad) * w);
      for (let g = 0; g < 2; g++) out.set(x.subarray((g * len + pad) * w, (g + 1) * len * w), g * (len - pad) * w);
      return out;
    };
    short.q = cut(full.q, 10, 4);
    short.k = cut(full.k, 10, 4);
    short.v = cut(full.v, 10, 4);
    short.logF = cut(full.logF, 10, 1);
    const padded = forgettingAttention(t4(full.q, [1, 2, 10, 4]), t4(full.k, [1, 2, 10, 4]), t4(full.v, [1, 2, 10, 4]), tensor(full.logF, [1, 2, 10]), { seqStart: [pad] }).dataSync();
    const plain = forgettingAttention(t4(short.q, [1, 2, 7, 4]), t4(short.k, [1, 2, 7, 4]), t4(short.v, [1, 2, 7, 4]), tensor(short.logF, [1, 2, 7])).dataSync();
    expect(Array.from(padded).every(Number.isFinite)).toBe(true);
    for (let g = 0; g < 2; g++) {
      expect(Array.from(padded.subarray(g * 40, g * 40 + pad * 4))).toEqual(new Array(pad * 4).fill(0));
      expect(maxAbsDiff(padded.subarray(g * 40 + pad * 4, (g + 1) * 40), plain.subarray(g * 28, (g + 1) * 28))).toBeLessThan(1e-6);
    }
  });

  it('rejects bad shapes and padding with PruneError codes', () => {
    const q = tensor(new Float32Array(2 * 4), [1, 1, 2, 4]);
    const k = tensor(new Float32Array(3 * 4), [1, 1, 3, 4]);
    const f = tensor(new Float32Array(3), [1, 1, 3]);
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        expect(e).toBeInstanceOf(PruneError);
        return (e as PruneError).code;
      }
      return 'no error';
    };
    expect(code(() => forgettingAttention(q, k, k, tensor(new Float32Array(2), [1, 1, 2])))).toBe('SHAPE_MISMATCH');
    expect(code(() => forgettingAttention(k, q, q, tensor(new Float32Array(2), [1, 1, 2])))).toBe('SHAPE_MISMATCH');
    expect(code(() => forgettingAttention(q, k, k, f, { seqStart: [3] }))).toBe('OUT_OF_RANGE');
    expect(code(() => forgettingAttention(q, k, k, f, { seqStart: [0, 0] }))).toBe('SHAPE_MISMATCH');
    expect(code(() => forgettingAttention(q, k, k, f, { scale: -1 }))).toBe('INVALID_ARGUMENT');
  });
});
