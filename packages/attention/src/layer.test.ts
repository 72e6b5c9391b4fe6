import { Random, type Tensor, concat, fromArray, matmul, reshape, slice, tensor, transpose } from '@prune/core';
import { describe, expect, it } from 'vitest';
import { maxAbsDiff } from './brute-force.fixture.js';
import { forgettingAttention, forgetGateLog } from './forgetting.js';
import { type ForgettingLayerWeights, forgettingAttentionLayer, forgettingAttentionLayerStep, headRmsNorm, tokenShift } from './layer.js';

const DM = 16;
const H = 2;

function weights(seed: number, pro: boolean): ForgettingLayerWeights {
  const rng = new Random(seed);
  const w = (shape: number[], s = 0.3) => fromArray(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => s * rng.normal()), shape, 'float32');
  const base = { qProj: w([DM, DM]), kProj: w([DM, DM]), vProj: w([DM, DM]), oProj: w([DM, DM]), fgateProj: w([H, DM]), fgateBias: tensor([0.5, 2]) };
  if (!pro) return base;
  return { ...base, ogateProj: w([DM, DM]), qNorm: w([DM], 1), kNorm: w([DM], 1), kShiftProj: w([H, DM]), vShiftProj: w([H, DM]) };
}

const hidden = (seed: number, b: number, t: number) => fromArray(Float32Array.from({ length: b * t * DM }, (_, i) => Math.sin(seed + i * 0.37) * 1.5), [b, t, DM], 'float32');

describe('Pro block parts', () => {
  it('QK-norm: per-head RMSNorm on a hand example', () => {
    // One head of size 2: x = [3, 4] → rms = √12.5; γ = [1, 2].
    const got = headRmsNorm(tensor([[[[3, 4]]]]), tensor([1, 2]), 0).dataSync();
    const r = Math.sqrt(12.5);
    expect(got[0]).toBeCloseTo(3 / r, 6);
    expect(got[1]).toBeCloseTo(8 / r, 6);
  });

  it('token shift: y_t = α_t·x_{t−1} + (1 − α_t)·x_t, zero predecessor at the first real token', () => {
    const x = tensor([[[[1]], [[10]], [[100]]]]); // [1, 3, 1, 1]
    const alpha = tensor([[[0.5], [0.25], [1]]]);
    expect(Array.from(tokenShift(x, alpha).dataSync())).toEqual([0.5, 0.25 * 1 + 0.75 * 10, 10]);
    // Continuing after a cached position: x_{−1} = 4 is the real predecessor.
    expect(Array.from(tokenShift(x, alpha, Float32Array.of(4), { offset: 1 }).dataSync())).toEqual([0.5 * 4 + 0.5, 7.75, 10]);
    // Position 1 is the first real token: it does not mix in the padding at position 0.
    expect(Array.from(tokenShift(x, alpha, null, { seqStart: [1] }).dataSync())).toEqual([0.5, 7.5, 10]);
  });

  it('output gate with zero gate weights halves the ungated output; the plain layer is projections + forgetting attention', () => {
    const w = weights(1, false);
    const x = hidden(1, 1, 9);
    const plain = forgettingAttentionLayer(x, w, { heads: H }).output.dataSync();
    const gated = forgettingAttentionLayer(x, { ...w, ogateProj: tensor(new Float32Array(DM * DM), [DM, DM]) }, { heads: H }).output.dataSync();
    expect(maxAbsDiff(gated, plain.map((v) => v / 2))).toBeLessThan(1e-6);
    // By hand from the pieces.
    const proj = (m: Tensor) => transpose(reshape(matmul(reshape(x, [9, DM]), m as Tensor<'float32'>, { transposeB: true }), [1, 9, H, DM / H]), [0, 2, 1, 3]);
    const o = forgettingAttention(proj(w.qProj), proj(w.kProj), proj(w.vProj), forgetGateLog(x, w.fgateProj, w.fgateBias));
    const expected = matmul(reshape(transpose(o, [0, 2, 1, 3]), [9, DM]), w.oProj as Tensor<'float32'>, { transposeB: true }).dataSync();
    expect(maxAbsDiff(plain, expected)).toBeLessThan(1e-6);
  });
});

describe('forgettingAttentionLayer', () => {
  for (const pro of [false, true]) {
    it(`step-by-step decoding equals the full-sequence layer (${pro ? 'all Pro parts, ACP with the QK-norm bound' : 'plain'}), with left padding`, () => {
      const w = weights(2, pro);
      const [b, t, prefill] = [2, 20, 6];
      const seqStart = [0, 4];
      const x = hidden(2, b, t);
      const acp = pro ? { logTolerance: -10, blockM: 4, blockN: 4 } : false;
      const full = forgettingAttentionLayer(x, w, { heads: H, seqStart, acp }).output.dataSync();
      const pre = forgettingAttentionLayer(slice(x, [0, 0, 0], [b, prefill, DM]), w, { heads: H, seqStart, acp, cache: true });
      expect(maxAbsDiff(pre.output.dataSync(), Float32Array.from({ length: b * prefill * DM }, (_, i) => full[Math.floor(i / (prefill * DM)) * t * DM + (i % (prefill * DM))]))).toBeLessThan(1e-5);
      const cache = pre.cache!;
      for (let s = prefill; s < t; s++) {
        const r = forgettingAttentionLayerStep(slice(x, [0, s, 0], [b, 1, DM]), w, cache, { heads: H, acp });
        const got = r.output.dataSync();
        for (let bb = 0; bb < b; bb++) {
          expect(maxAbsDiff(got.subarray(bb * DM, (bb + 1) * DM), full.subarray((bb * t + s) * DM, (bb * t + s + 1) * DM))).toBeLessThan(1e-4);
        }
      }
      expect(cache.kv.length).toBe(t);
    });
  }

  it('left padding with all Pro parts: real rows equal the unpadded sequence', () => {
    const w = weights(3, true);
    const pad = 3;
    const xs = hidden(3, 1, 10);
    const garbage = fromArray(Float32Array.from({ length: pad * DM }, (_, i) => 50 * Math.cos(i)), [1, pad, DM], 'float32');
    const padded = forgettingAttentionLayer(concat([garbage, xs], 1), w, { heads: H, seqStart: [pad] }).output.dataSync();
    const plain = forgettingAttentionLayer(xs, w, { heads: H }).output.dataSync();
    expect(maxAbsDiff(padded.subarray(pad * DM), plain)).toBeLessThan(1e-5);
  });

  it('ACP with QK-norm weights uses the γ bound and stays within 2ε·max‖v‖ of full attention', () => {
    const half = tensor(new Float32Array(DM).fill(0.5));
    const w = { ...weights(4, true), qNorm: half, kNorm: half };
    const x = hidden(4, 1, 96);
    const full = forgettingAttentionLayer(x, w, { heads: H }).output.dataSync();
    const pruned = forgettingAttentionLayer(x, w, { heads: H, acp: { logTolerance: -10, blockM: 8, blockN: 8 } });
    expect(pruned.headFlopSaving.some((s) => s > 0)).toBe(true);
    // Deviation passes through the output gate (≤ 1) and oProj: a loose but honest bound.
    expect(maxAbsDiff(pruned.output.dataSync(), full)).toBeLessThan(1e-3);
  });

  it('rejects wrong weights and multi-token steps', () => {
    const w = weights(5, false);
    expect(() => forgettingAttentionLayer(hidden(5, 1, 4), { ...w, fgateBias: tensor([1, 2, 3]) }, { heads: H })).toThrow(/fgateBias/);
    expect(() => forgettingAttentionLayer(hidden(5, 1, 4), w, { heads: 3 })).toThrow(/heads/);
    const pre = forgettingAttentionLayer(hidden(5, 1, 4), w, { heads: H, cache: true });
    expect(() => forgettingAttentionLayerStep(hidden(5, 1, 2), w, pre.cache!, { heads: H })).toThrow(/one token per step/);
  });
});
