import { type Backend, type Tensor, fromArray, tensor } from '@prune/core';
import { createGpujsBackend } from '@prune/gpujs';
import { describe, expect, it } from 'vitest';
import { forgettingAttentionAcp } from './acp-attention.js';
import { maxAbsDiff, randomProblem } from './brute-force.fixture.js';
import { ForgettingKVCache, decodeForgettingAttention } from './cache.js';
import { cumulativeLogForget, forgettingAttention } from './forgetting.js';

const p = randomProblem(101, 2, 2, 64, 64, 8, { gateBias: -0.5, seqStart: [0, 5] });
const shapes = { q: [2, 2, 64, 8], k: [2, 2, 64, 8], v: [2, 2, 64, 8], logF: [2, 2, 64] };
const on = (backend?: Backend) => ({
  q: fromArray(p.q, shapes.q, 'float32', backend ? { backend } : {}),
  k: fromArray(p.k, shapes.k, 'float32', backend ? { backend } : {}),
  v: fromArray(p.v, shapes.v, 'float32', backend ? { backend } : {}),
  logF: fromArray(p.logF, shapes.logF, 'float32', backend ? { backend } : {}),
});
const opts = { logTolerance: -3, blockM: 16, blockN: 8, seqStart: p.seqStart, returnBoundaries: true };

// The reference backend's results are the oracle.
const ref = on();
const refDense = forgettingAttention(ref.q, ref.k, ref.v, ref.logF, { seqStart: p.seqStart }).dataSync();
const refAcp = forgettingAttentionAcp(ref.q, ref.k, ref.v, ref.logF, opts);
const refLambda = cumulativeLogForget(ref.logF, { seqStart: p.seqStart }).dataSync();

// @prune/tfjs is not a dependency here: it would close a package cycle (tfjs → weights → zoo →
// attention). The tfjs backends are checked against the reference from the other side, in
// packages/tfjs/src/attention.test.ts (tfjs-cpu and tfjs-wasm).
const backends: [string, () => Promise<Backend>][] = [
  ['gpujs-cpu', async () => createGpujsBackend({ mode: 'cpu' })],
];

for (const [name, create] of backends) {
  describe(`on ${name}`, () => {
    it('Λ, dense forgetting attention and the ACP tiles kernel match the reference', async () => {
      const backend = await create();
      const x = on(backend);
      // tfjs accumulates the cumulative sum in float32, the reference in float64: |Λ| reaches
      // ~70 here, so a few float32 ulps of it.
      expect(maxAbsDiff(cumulativeLogForget(x.logF, { seqStart: p.seqStart }).dataSync(), refLambda)).toBeLessThan(1e-4);
      const dense: Tensor = forgettingAttention(x.q, x.k, x.v, x.logF, { seqStart: p.seqStart });
      expect(dense.backend).toBe(backend);
      expect(maxAbsDiff(dense.dataSync(), refDense)).toBeLessThan(1e-4);
      const acp = forgettingAttentionAcp(x.q, x.k, x.v, x.logF, opts); // 'auto' → tiles on this backend
      expect(acp.output.backend).toBe(backend);
      expect(maxAbsDiff(acp.output.dataSync(), refAcp.output.dataSync())).toBeLessThan(1e-4);
      expect(refAcp.totalFlopSaving).toBeGreaterThan(0.05);
      expect(acp.totalFlopSaving).toBeCloseTo(refAcp.totalFlopSaving, 12);
      expect(Array.from(acp.headFlopSaving)).toEqual(Array.from(refAcp.headFlopSaving));
      expect(Array.from(acp.boundaries!.flatMap((b) => Array.from(b.start)))).toEqual(Array.from(refAcp.boundaries!.flatMap((b) => Array.from(b.start))));
      const host = forgettingAttentionAcp(x.q, x.k, x.v, x.logF, { ...opts, kernel: 'host' });
      expect(maxAbsDiff(host.output.dataSync(), refAcp.output.dataSync())).toBeLessThan(1e-4);
    });

    it('decoding from tensors on this backend matches the reference prefill row', async () => {
      const backend = await create();
      const x = on(backend);
      const cache = ForgettingKVCache.fromPrefill(x.k, x.v, x.logF, { seqStart: p.seqStart });
      const one = (len: number) => fromArray(new Float32Array(2 * 2 * len).fill(0.1), len === 1 ? [2, 2, 1] : [2, 2, 1, len], 'float32', { backend });
      const r = decodeForgettingAttention(cache, one(8), one(8), one(8), one(1));
      expect(r.output.backend).toBe(backend);
      expect(r.output.dataSync().every(Number.isFinite)).toBe(true);
      const refCache = ForgettingKVCache.fromPrefill(ref.k, ref.v, ref.logF, { seqStart: p.seqStart });
      const refOne = (len: number) => tensor(new Float32Array(2 * 2 * len).fill(0.1), len === 1 ? [2, 2, 1] : [2, 2, 1, len]);
      const expected = decodeForgettingAttention(refCache, refOne(8), refOne(8), refOne(8), refOne(1)).output.dataSync();
      expect(maxAbsDiff(r.output.dataSync(), expected)).toBeLessThan(1e-5);
    });
  });
}
