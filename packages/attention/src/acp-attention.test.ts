import { tensor } from '@prune/core';
import { describe, expect, it } from 'vitest';
import { acpBoundaries } from './acp.js';
import { type AcpAttentionResult, forgettingAttentionAcp } from './acp-attention.js';
import { type Problem, bruteAttention, maxAbsDiff, randomProblem } from './brute-force.fixture.js';
import { cumulativeLogForget, forgettingAttention } from './forgetting.js';

const tensors = (p: Problem) => ({
  q: tensor(p.q, [p.b, p.h, p.m, p.d]),
  k: tensor(p.k, [p.b, p.h, p.n, p.d]),
  v: tensor(p.v, [p.b, p.h, p.n, p.d]),
  logF: tensor(p.logF, [p.b, p.h, p.n]),
});

/** Λ exactly as the kernels see it (float32, from core's cumsum). */
const kernelLambda = (p: Problem) => cumulativeLogForget(tensor(p.logF, [p.b, p.h, p.n]), { seqStart: p.seqStart }).dataSync();

/**
 * Brute-force audit of one ACP run: full float64 weights of every real row; the keys the
 * kernel skipped are [seqStart, start of the row's block). Returns the largest pruned weight,
 * the largest pruned mass of a row, and the largest ‖ΔO_i‖₂ / (2·p_i·max‖v‖) ratio.
 */
function audit(p: Problem, result: AcpAttentionResult, blockM: number): { maxPrunedWeight: number; maxPrunedMass: number; worstRatio: number; maxDev: number; maxV: number } {
  const lam = kernelLambda(p);
  const full = bruteAttention(p, lam);
  const acpOut = result.output.dataSync();
  let maxPrunedWeight = 0;
  let maxPrunedMass = 0;
  let worstRatio = 0;
  let maxDev = 0;
  let maxV = 0;
  for (let g = 0; g < p.b * p.h; g++) {
    for (let j = 0; j < p.n; j++) {
      let s = 0;
      for (let c = 0; c < p.d; c++) s += p.v[(g * p.n + j) * p.d + c] ** 2;
      maxV = Math.max(maxV, Math.sqrt(s));
    }
  }
  for (let g = 0; g < p.b * p.h; g++) {
    const s0 = p.seqStart[Math.floor(g / p.h)];
    const bounds = result.boundaries![g];
    for (let i = 0; i < p.m; i++) {
      if (p.n - p.m + i < s0) continue;
      const w = full.weights(g, i);
      const start = bounds.start[Math.floor(i / blockM)];
      let mass = 0;
      for (let j = s0; j < start; j++) {
        maxPrunedWeight = Math.max(maxPrunedWeight, w[j]);
        mass += w[j];
      }
      maxPrunedMass = Math.max(maxPrunedMass, mass);
      let dev = 0;
      for (let c = 0; c < p.d; c++) dev += (acpOut[(g * p.m + i) * p.d + c] - full.out[(g * p.m + i) * p.d + c]) ** 2;
      dev = Math.sqrt(dev);
      maxDev = Math.max(maxDev, dev);
      // ‖ΔO_i‖ ≤ 2·p_i·max‖v‖ (+ float32 rounding of the kernel).
      worstRatio = Math.max(worstRatio, (dev - 2e-6 * maxV) / Math.max(2 * mass * maxV, 1e-300));
    }
  }
  return { maxPrunedWeight, maxPrunedMass, worstRatio, maxDev, maxV };
}

/**
 * The adversarial case: every old key (before `drop`) has logit +U, every recent key −U, and
 * Λ drops by `c` at `drop`, so old keys sit at D = −c. With c just above −δ their weights are
 * within a hair of ε/L — the bound is nearly attained.
 */
function adversarial(n: number, d: number, drop: number, c: number, qkNorm: boolean): Problem {
  const q = new Float32Array(n * d);
  const k = new Float32Array(n * d);
  const v = new Float32Array(n * d);
  const rq = qkNorm ? 1.7 * Math.sqrt(d) : 3; // qkNorm: one-hot input → γ_max·√d·e₀
  const rk = qkNorm ? 1.3 * Math.sqrt(d) : 2;
  for (let t = 0; t < n; t++) {
    q[t * d] = rq;
    k[t * d] = t < drop ? rk : -rk;
    for (let c2 = 0; c2 < d; c2++) v[t * d + c2] = (t < drop ? 1 : -1) * (c2 + 1);
  }
  const logF = new Float32Array(n);
  logF[drop] = -c;
  return { b: 1, h: 1, m: n, n, d, q, k, v, logF, seqStart: [0], scale: 1 / Math.sqrt(d) };
}

const gains = (d: number, top: number): Float32Array => Float32Array.from({ length: d }, (_, i) => (i === 0 ? top : 0.5));

describe('ACP bound (brute force)', () => {
  it('every pruned weight is < ε/L and every row loses < ε on random decaying inputs', () => {
    let pruned = 0;
    for (const [seed, gateBias, logTolerance, seqStart, m] of [
      [1, 0.5, -10, [0, 0], 96],
      [2, 1, -10, [0, 37], 96],
      [3, 0, -4, [5, 0], 40],
      [4, 2, -2, [0, 0], 96],
      [5, -1, -10, [90, 3], 96],
    ] as [number, number, number, number[], number][]) {
      const p = randomProblem(seed, 2, 2, m, 96, 8, { gateBias, seqStart });
      const { q, k, v, logF } = tensors(p);
      const r = forgettingAttentionAcp(q, k, v, logF, { logTolerance, blockM: 8, blockN: 8, seqStart, returnBoundaries: true });
      const a = audit(p, r, 8);
      const eps = Math.exp(logTolerance);
      expect(a.maxPrunedWeight).toBeLessThan(eps / p.n);
      expect(a.maxPrunedMass).toBeLessThan(eps);
      expect(a.worstRatio).toBeLessThanOrEqual(1);
      expect(a.maxDev).toBeLessThanOrEqual(2 * eps * a.maxV + 2e-6 * a.maxV);
      pruned += r.totalFlopSaving;
    }
    expect(pruned).toBeGreaterThan(0.5); // the cases do prune
  });

  for (const qkNorm of [false, true]) {
    it(`adversarial logits at the threshold (${qkNorm ? 'QK-norm' : 'norms'} bound): just below δ is pruned and stays < ε/L, just above is kept`, () => {
      const n = 128;
      const d = 8;
      const drop = 64;
      const bound = qkNorm ? { kind: 'qkNorm' as const, gammaQ: gains(d, 1.7), gammaK: gains(d, -1.3) } : 'auto' as const;
      const opts = { logTolerance: -10, blockM: 16, blockN: 16, bound, returnBoundaries: true };
      const probe = adversarial(n, d, drop, 0, qkNorm);
      const t0 = tensors(probe);
      const delta = forgettingAttentionAcp(t0.q, t0.k, t0.v, t0.logF, opts).threshold[0];
      for (const [margin, expectPruned] of [[1e-3, true], [-1e-3, false]] as [number, boolean][]) {
        const p = adversarial(n, d, drop, -delta + margin, qkNorm);
        const t = tensors(p);
        const r = forgettingAttentionAcp(t.q, t.k, t.v, t.logF, opts);
        expect(r.threshold[0]).toBe(delta);
        const a = audit(p, r, 16);
        const eps = Math.exp(-10);
        if (expectPruned) {
          expect(r.boundaries![0].start[drop / 16]).toBe(drop);
          expect(a.maxPrunedWeight).toBeLessThan(eps / n);
          expect(a.maxPrunedWeight).toBeGreaterThan(0.9 * (eps / n)); // the bound is nearly attained
          expect(a.worstRatio).toBeLessThanOrEqual(1);
        } else {
          expect(r.totalFlopSaving).toBe(0);
          expect(a.maxDev).toBeLessThan(1e-5);
        }
      }
    });
  }

  it('the output deviation stays within 2ε·max‖v‖ for large tolerances, where it is visible', () => {
    for (const logTolerance of [-1, -2, -4]) {
      const p = randomProblem(40 - logTolerance, 1, 3, 128, 128, 16, { gateBias: 0 });
      const { q, k, v, logF } = tensors(p);
      const r = forgettingAttentionAcp(q, k, v, logF, { logTolerance, blockM: 16, blockN: 16, returnBoundaries: true });
      const a = audit(p, r, 16);
      expect(r.totalFlopSaving).toBeGreaterThan(0.3);
      expect(a.maxPrunedMass).toBeLessThan(Math.exp(logTolerance));
      expect(a.maxDev).toBeLessThanOrEqual(2 * Math.exp(logTolerance) * a.maxV);
      expect(a.worstRatio).toBeLessThanOrEqual(1);
    }
  });
});

describe('ACP kernels', () => {
  const p = randomProblem(77, 2, 2, 70, 70, 8, { gateBias: 0.5, seqStart: [0, 9] });
  const { q, k, v, logF } = tensors(p);
  const dense = forgettingAttention(q, k, v, logF, { seqStart: p.seqStart }).dataSync();

  it('host and tiles kernels without pruning equal dense forgetting attention', () => {
    for (const kernel of ['host', 'tiles'] as const) {
      const r = forgettingAttentionAcp(q, k, v, logF, { kernel, prune: false, blockM: 16, blockN: 8, seqStart: p.seqStart });
      expect(maxAbsDiff(r.output.dataSync(), dense)).toBeLessThan(1e-5);
      expect(r.totalFlopSaving).toBe(0);
    }
  });

  it('host and tiles kernels prune identically and agree; boundaries and savings are reported', () => {
    const opts = { logTolerance: -3, blockM: 16, blockN: 8, seqStart: p.seqStart, returnBoundaries: true };
    const host = forgettingAttentionAcp(q, k, v, logF, { ...opts, kernel: 'host' });
    const tiles = forgettingAttentionAcp(q, k, v, logF, { ...opts, kernel: 'tiles' });
    expect(maxAbsDiff(host.output.dataSync(), tiles.output.dataSync())).toBeLessThan(1e-5);
    expect(host.totalFlopSaving).toBeGreaterThan(0.05);
    expect(Array.from(host.flopSaving)).toEqual(Array.from(tiles.flopSaving));
    const lam = kernelLambda(p);
    for (let g = 0; g < 4; g++) {
      const expected = acpBoundaries(lam.subarray(g * 70, (g + 1) * 70), { threshold: host.threshold[g], blockM: 16, blockN: 8, seqStart: p.seqStart[g >> 1] });
      expect(Array.from(host.boundaries![g].start)).toEqual(Array.from(expected.start));
      expect(Array.from(tiles.boundaries![g].start)).toEqual(Array.from(expected.start));
    }
    for (let h = 0; h < 2; h++) expect(host.headFlopSaving[h]).toBeCloseTo((host.flopSaving[h] + host.flopSaving[2 + h]) / 2, 12);
    // With the default kernel ('auto' = host here) the boundaries are those of a brute-force
    // scan: for every query block, skip key tiles from lo while the whole tile is below δ.
    const auto = forgettingAttentionAcp(q, k, v, logF, opts);
    for (let g = 0; g < 4; g++) {
      const l = lam.subarray(g * 70, (g + 1) * 70);
      const lo = Math.floor(p.seqStart[g >> 1] / 8) * 8;
      const starts: number[] = [];
      const ends: number[] = [];
      for (let mb = 0; mb < 5; mb++) {
        let first = lo;
        // First tile (from lo) holding a kept entry: some j in the tile with Λ_row − Λ_j ≥ δ.
        while (first + 8 <= mb * 16 && Array.from({ length: 8 }, (_, c) => l[mb * 16] - l[Math.min(69, first + c)]).every((dd) => dd < host.threshold[g])) first += 8;
        starts.push(first);
        ends.push(Math.min(70, (mb + 1) * 16));
      }
      expect(Array.from(auto.boundaries![g].start)).toEqual(starts);
      expect(Array.from(auto.boundaries![g].end)).toEqual(ends);
      expect(auto.boundaries![g].lo).toBe(lo);
    }
    expect(forgettingAttentionAcp(q, k, v, logF, { ...opts, returnBoundaries: false }).boundaries).toBeUndefined();
  });

  it('never reads a pruned tile: NaN in every skipped key and value leaves the output unchanged', () => {
    // One query block at the end of a long sequence: keys before its start are read by nobody.
    const n = 200;
    const long = randomProblem(9, 1, 2, 16, n, 8, { gateBias: 0 });
    const t = tensors(long);
    for (const kernel of ['host', 'tiles'] as const) {
      // A weights-only (QK-norm) bound: the norms bound would read the poisoned keys.
      const ones = new Float32Array(16).fill(1);
      const opts = { kernel, blockM: 16, blockN: 16, returnBoundaries: true, bound: { kind: 'qkNorm' as const, gammaQ: ones, gammaK: ones } };
      const clean = forgettingAttentionAcp(t.q, t.k, t.v, t.logF, opts);
      const kp = Float32Array.from(long.k);
      const vp = Float32Array.from(long.v);
      for (let g = 0; g < 2; g++) {
        const start = clean.boundaries![g].start[0];
        expect(start).toBeGreaterThan(100);
        kp.fill(Number.NaN, g * n * 8, (g * n + start) * 8);
        vp.fill(Number.NaN, g * n * 8, (g * n + start) * 8);
      }
      const poisoned = forgettingAttentionAcp(t.q, tensor(kp, [1, 2, n, 8]), tensor(vp, [1, 2, n, 8]), t.logF, opts);
      expect(Array.from(poisoned.output.dataSync())).toEqual(Array.from(clean.output.dataSync()));
      // The dense baseline does read them.
      expect(forgettingAttention(t.q, tensor(kp, [1, 2, n, 8]), tensor(vp, [1, 2, n, 8]), t.logF).dataSync().some(Number.isNaN)).toBe(true);
    }
  });

  it('rejects bad options', () => {
    expect(() => forgettingAttentionAcp(q, k, v, logF, { kernel: 'gpu' as never })).toThrow(/kernel/);
    expect(() => forgettingAttentionAcp(q, k, v, logF, { blockM: 1.5 })).toThrow(/blockM/);
    expect(() => forgettingAttentionAcp(q, k, v, logF, { bound: { kind: 'qkNorm', gammaQ: [1], gammaK: [1] } })).toThrow(/gammaQ/);
  });
});
