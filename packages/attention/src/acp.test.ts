import { PruneError, Random } from '@prune/core';
import { describe, expect, it } from 'vitest';
import { acpBoundaries, acpThreshold, flopSaving, qkNormLogitBound, resolveAcpOptions, tileIsPrunable } from './acp.js';

/** A non-increasing Λ of length n (flat 0 before seqStart), like a decaying FoX head. */
function randomLambda(rng: Random, n: number, seqStart: number, meanDecay: number): Float32Array {
  const lam = new Float32Array(n);
  let acc = 0;
  for (let t = 0; t < n; t++) {
    if (t >= seqStart) acc = Math.fround(acc - Math.abs(meanDecay * (1 + rng.normal())));
    lam[t] = acc;
  }
  return lam;
}

describe('threshold', () => {
  it('δ = −2U − ln L + ln ε', () => {
    const got = acpThreshold([0, 1.5], 100, -10);
    expect(got[0]).toBeCloseTo(-Math.log(100) - 10, 12);
    expect(got[1]).toBeCloseTo(-3 - Math.log(100) - 10, 12);
    expect(acpThreshold([2], 1)[0]).toBe(-14); // default ln ε = −10
  });

  it('rejects ln ε ≥ 0, NaN bounds and bad block sizes', () => {
    expect(() => acpThreshold([1], 10, 0)).toThrow(PruneError);
    expect(() => acpThreshold([Number.NaN], 10)).toThrow(/NaN/);
    expect(() => resolveAcpOptions('t', { blockN: 0 })).toThrow(/blockN/);
    expect(() => resolveAcpOptions('t', { logTolerance: 1 })).toThrow(/ln ε/);
  });

  it('the QK-norm bound covers every RMS-normalised q·k (brute force, incl. the extreme one-hot vectors)', () => {
    const rng = new Random(3);
    const h = 3;
    const d = 16;
    const gq = Float32Array.from({ length: h * d }, () => rng.normal());
    const gk = Float32Array.from({ length: h * d }, () => rng.normal());
    // Put each head's largest key gain on the coordinate of its largest query gain, so the
    // bound is attainable (by one-hot inputs on that coordinate).
    for (let hh = 0; hh < h; hh++) {
      let c = 0;
      let mk = 0;
      for (let i = 0; i < d; i++) {
        if (Math.abs(gq[hh * d + i]) > Math.abs(gq[hh * d + c])) c = i;
        mk = Math.max(mk, Math.abs(gk[hh * d + i]));
      }
      gk[hh * d + c] = -1.5 * mk;
    }
    const scale = 1 / Math.sqrt(d);
    const u = qkNormLogitBound({ kind: 'qkNorm', gammaQ: gq, gammaK: gk }, h, d, scale);
    const rms = (x: number[]) => Math.sqrt(x.reduce((a, b) => a + b * b, 0) / x.length);
    for (let hh = 0; hh < h; hh++) {
      let worst = 0;
      const argmaxAbs = (g: Float32Array) => {
        let best = 0;
        for (let c = 1; c < d; c++) if (Math.abs(g[hh * d + c]) > Math.abs(g[hh * d + best])) best = c;
        return best;
      };
      const cases: [number[], number[]][] = [];
      // The extreme case: one-hot inputs on the largest gains reach the bound exactly.
      const oneHot = (c: number) => Array.from({ length: d }, (_, i) => (i === c ? 1 : 0));
      cases.push([oneHot(argmaxAbs(gq)), oneHot(argmaxAbs(gk))]);
      for (let r = 0; r < 300; r++) cases.push([Array.from({ length: d }, () => rng.normal()), Array.from({ length: d }, () => rng.normal())]);
      for (const [xq, xk] of cases) {
        const rq = rms(xq);
        const rk = rms(xk);
        let dot = 0;
        for (let c = 0; c < d; c++) dot += ((gq[hh * d + c] * xq[c]) / rq) * ((gk[hh * d + c] * xk[c]) / rk);
        worst = Math.max(worst, Math.abs(dot) * scale);
      }
      expect(worst).toBeLessThanOrEqual(u[hh] * (1 + 1e-12));
      expect(worst).toBeGreaterThan(u[hh] * (1 - 1e-6)); // attained by the one-hot pair: the bound is tight
    }
  });
});

describe('boundary search', () => {
  it('agrees with a brute-force scan of every tile', () => {
    const rng = new Random(11);
    let checked = 0;
    for (let trial = 0; trial < 80; trial++) {
      const n = 1 + Math.floor(rng.uniform() * 200);
      const m = 1 + Math.floor(rng.uniform() * n);
      const bm = [1, 4, 16, 64][Math.floor(rng.uniform() * 4)];
      const bn = [1, 8, 16, 64][Math.floor(rng.uniform() * 4)];
      const seqStart = rng.uniform() < 0.3 ? Math.floor(rng.uniform() * n) : 0;
      const lam = randomLambda(rng, n, seqStart, 0.02 + rng.uniform() * 0.3);
      const threshold = -(1 + rng.uniform() * 30);
      const got = acpBoundaries(lam, { threshold, queries: m, blockM: bm, blockN: bn, seqStart });
      const lo = Math.floor(seqStart / bn) * bn;
      expect(got.lo).toBe(lo);
      for (let mb = 0; mb < Math.ceil(m / bm); mb++) {
        const row = n - m + mb * bm;
        const hi = Math.min(n, n - m + Math.min(m, (mb + 1) * bm));
        // Brute force: the exact max of D over each tile, from every row and key in it.
        let expected = lo;
        for (let n0 = lo; n0 < hi; n0 += bn) {
          let maxD = -Infinity;
          for (let i = row; i < Math.min(hi, row + bm); i++) for (let j = n0; j < Math.min(n, n0 + bn); j++) maxD = Math.max(maxD, lam[i] - lam[j]);
          if (maxD < threshold) expected = n0 + bn;
          else break;
        }
        expect(got.start[mb]).toBe(expected);
        expect(got.end[mb]).toBe(hi);
        expect(got.start[mb]).toBeLessThanOrEqual(Math.max(row, lo)); // never past the diagonal
        if (mb > 0) expect(got.start[mb]).toBeGreaterThanOrEqual(got.start[mb - 1]);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(250);
  });

  it('tile test and FLOP saving on a hand example', () => {
    // Λ drops by 10 at position 4; BM = BN = 4, δ = −5: block 1 (rows 4..7) skips keys 0..3.
    const lam = [0, 0, 0, 0, -10, -10, -10, -10];
    expect(tileIsPrunable(lam, 4, 0, 4, -5)).toBe(true);
    expect(tileIsPrunable(lam, 0, 0, 4, -5)).toBe(false);
    const b = acpBoundaries(lam, { threshold: -5, blockM: 4, blockN: 4 });
    expect(Array.from(b.start)).toEqual([0, 4]);
    expect(Array.from(b.end)).toEqual([4, 8]);
    // Kept columns 4 + 4 of 4 + 8 causal tile columns: saving 1 − 8/12.
    expect(flopSaving(b)).toBeCloseTo(1 / 3, 12);
    expect(flopSaving(acpBoundaries(lam, { threshold: -Infinity, blockM: 4, blockN: 4 }))).toBe(0);
  });
});
