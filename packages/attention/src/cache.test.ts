import { PruneError, slice, tensor } from '@prune/core';
import { describe, expect, it } from 'vitest';
import { maxAbsDiff, randomProblem } from './brute-force.fixture.js';
import { ForgettingKVCache, decodeForgettingAttention } from './cache.js';
import { forgettingAttention } from './forgetting.js';

describe('KV-cache decoding', () => {
  for (const acp of [false, { logTolerance: -10, blockN: 8 }] as const) {
    it(`decoding token t equals row t of the prefill (${acp ? 'with ACP' : 'full'}, left padding, cache growth)`, () => {
      const [b, h, n, d, prefill] = [2, 2, 60, 8, 7];
      const seqStart = [0, 3];
      const p = randomProblem(21, b, h, n, n, d, { gateBias: 0.5, seqStart });
      const q = tensor(p.q, [b, h, n, d]);
      const k = tensor(p.k, [b, h, n, d]);
      const v = tensor(p.v, [b, h, n, d]);
      const logF = tensor(p.logF, [b, h, n]);
      const full = forgettingAttention(q, k, v, logF, { seqStart }).dataSync();
      const cache = ForgettingKVCache.fromPrefill(slice(k, [0, 0, 0, 0], [b, h, prefill, d]), slice(v, [0, 0, 0, 0], [b, h, prefill, d]), slice(logF, [0, 0, 0], [b, h, prefill]), { seqStart });
      let saved = 0;
      let expected = 0;
      for (let t = prefill; t < n; t++) {
        const step = (x: typeof q) => slice(x, [0, 0, t, 0], [b, h, 1, d]);
        const r = decodeForgettingAttention(cache, step(q), step(k), step(v), slice(logF, [0, 0, t], [b, h, 1]), { acp, returnBoundaries: true });
        expect(r.output.shape).toEqual([b, h, 1, d]);
        const got = r.output.dataSync();
        for (let g = 0; g < b * h; g++) {
          const row = full.subarray((g * n + t) * d, (g * n + t + 1) * d);
          // Without ACP: equal up to float32 rounding. With ACP: within 2ε·max‖v‖ (‖v‖ ≲ 8 here).
          expect(maxAbsDiff(got.subarray(g * d, (g + 1) * d), row)).toBeLessThan(acp ? 2e-5 + 2 * Math.exp(-10) * 8 : 2e-5);
        }
        if (acp) {
          let skipped = 0;
          let causal = 0;
          // Independent boundary: U = ‖q_t‖·max_{real j≤t}‖k_j‖/√d, δ = −2U − ln(t+1) − 10 and a
          // scan of the key blocks from the padding start for the single query row t.
          for (let g = 0; g < b * h; g++) {
            const s0 = seqStart[g >> 1];
            const lam: number[] = [];
            let acc = 0;
            for (let j = 0; j <= t; j++) lam.push(j < s0 ? 0 : (acc += p.logF[g * n + j]));
            const norm = (x: Float32Array, j: number) => Math.hypot(...x.subarray((g * n + j) * d, (g * n + j + 1) * d));
            let maxK = 0;
            for (let j = s0; j <= t; j++) maxK = Math.max(maxK, norm(p.k, j));
            const delta = -2 * (norm(p.q, t) * maxK / Math.sqrt(d)) - Math.log(t + 1) - 10;
            let start = Math.floor(s0 / 8) * 8;
            while (start + 8 <= t && lam[t] - lam[Math.min(t, start + 7)] < delta) start += 8;
            expect(r.boundaries![g].start[0]).toBe(start);
            skipped += start - Math.floor(s0 / 8) * 8;
            causal += t + 1 - Math.floor(s0 / 8) * 8;
          }
          expect(r.totalFlopSaving).toBeCloseTo(skipped / causal, 12);
          expected += skipped;
        }
        saved += r.totalFlopSaving;
        expect(cache.length).toBe(t + 1);
      }
      if (acp) expect(expected).toBeGreaterThan(0); // blocks are skipped on these inputs
      else expect(saved).toBe(0);
    });
  }

  it('keeps Λ continuing the prefill and flat over the padding', () => {
    const logF = tensor([[[-1, -2, -0.5]]]);
    const z = tensor(new Float32Array(3 * 2), [1, 1, 3, 2]);
    const cache = ForgettingKVCache.fromPrefill(z, z, logF, { seqStart: [1] });
    expect(Array.from(cache.lambda())).toEqual([0, -2, -2.5]);
    cache.append(tensor(new Float32Array(2), [1, 1, 1, 2]), tensor(new Float32Array(2), [1, 1, 1, 2]), tensor([[[-0.25]]]));
    expect(Array.from(cache.lambda())).toEqual([0, -2, -2.5, -2.75]);
  });

  it('rejects more than one token per step, with a message saying so', () => {
    const z = tensor(new Float32Array(4 * 2), [1, 1, 4, 2]);
    const cache = ForgettingKVCache.fromPrefill(z, z, tensor(new Float32Array(4), [1, 1, 4]));
    const two = tensor(new Float32Array(4), [1, 1, 2, 2]);
    const one = tensor(new Float32Array(2), [1, 1, 1, 2]);
    expect(() => decodeForgettingAttention(cache, two, one, one, tensor([[[0]]]))).toThrow(/one query per step/);
    expect(() => decodeForgettingAttention(cache, one, two, two, tensor([[[0, 0]]]))).toThrow(PruneError);
    expect(cache.length).toBe(4);
  });
});
