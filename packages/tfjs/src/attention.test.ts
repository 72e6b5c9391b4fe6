import { forgettingAttention, forgettingAttentionAcp } from '@prune/attention';
import { Random, type Tensor, fromArray } from '@prune/core';
import { describe, expect, it } from 'vitest';
import { createTfjsBackend } from './index.js';

// Forgetting attention and its block-sparse ACP kernel run on tfjs tensors (the `tiles`
// kernel is built from core ops) and agree with the reference backend's results.
const [b, h, n, d] = [2, 2, 96, 8];
const rng = new Random(7);
const normal = (size: number, scale = 1) => Float32Array.from({ length: size }, () => scale * rng.normal());
// Forget gates log σ(·) with a negative bias, so decay makes far tiles prunable.
const logF = Float32Array.from({ length: b * h * n }, () => Math.log(1 / (1 + Math.exp(-(rng.normal() - 0.5)))));
const data = { q: normal(b * h * n * d), k: normal(b * h * n * d), v: normal(b * h * n * d) };
const seqStart = [0, 7];
const options = { logTolerance: -3, blockM: 16, blockN: 16, seqStart, returnBoundaries: true };

function inputs(backend?: Awaited<ReturnType<typeof createTfjsBackend>>): Tensor[] {
  const o = backend ? { backend } : {};
  return [
    fromArray(data.q, [b, h, n, d], 'float32', o),
    fromArray(data.k, [b, h, n, d], 'float32', o),
    fromArray(data.v, [b, h, n, d], 'float32', o),
    fromArray(logF, [b, h, n], 'float32', o),
  ];
}
function maxAbsDiff(a: ArrayLike<number>, c: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - c[i]));
  return m;
}

const [rq, rk, rv, rf] = inputs();
const refDense = forgettingAttention(rq, rk, rv, rf, { seqStart }).dataSync();
const refAcp = forgettingAttentionAcp(rq, rk, rv, rf, options);

describe.each(['cpu', 'wasm'] as const)('forgetting attention on tfjs-%s', (name) => {
  it('dense attention and the ACP tiles kernel match the reference backend, with the same tiles pruned', async () => {
    const backend = await createTfjsBackend({ backend: name });
    const [q, k, v, f] = inputs(backend);
    const dense = forgettingAttention(q, k, v, f, { seqStart });
    expect(dense.backend).toBe(backend);
    expect(maxAbsDiff(dense.dataSync(), refDense)).toBeLessThan(1e-4);
    const acp = forgettingAttentionAcp(q, k, v, f, options);
    expect(acp.output.backend).toBe(backend);
    expect(refAcp.totalFlopSaving).toBeGreaterThan(0.05);
    expect(acp.totalFlopSaving).toBeCloseTo(refAcp.totalFlopSaving, 12);
    expect(Array.from(acp.headFlopSaving)).toEqual(Array.from(refAcp.headFlopSaving));
    expect(acp.boundaries!.map((x) => Array.from(x.start))).toEqual(refAcp.boundaries!.map((x) => Array.from(x.start)));
    expect(maxAbsDiff(acp.output.dataSync(), refAcp.output.dataSync())).toBeLessThan(1e-4);
    // Pruning changes the output by less than the tolerance allows: the dense result is close.
    expect(maxAbsDiff(acp.output.dataSync(), refDense)).toBeLessThan(0.05);
  });
});
