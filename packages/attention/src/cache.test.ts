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
        saved += r.totalFlopSaving;
        expect(cache.length).toBe(t + 1);
      }
      if (acp) expect(saved).toBeGreaterThan(0);
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
