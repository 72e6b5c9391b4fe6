import { PruneError, type Tensor, fromArray } from '@prune/core';
import { describe, expect, it } from 'vitest';
import { FASTVAR_INFINITY_2B_SCHEDULE, FastVarCache } from './cache.js';

const C = 3;
function seeded(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648 - 0.5;
  });
}
/** A branch that mixes tokens (like attention): yᵢ = 2·xᵢ + mean of the tokens it sees. */
function mixing(tokens: Tensor): Tensor {
  const [n, c] = tokens.shape;
  const x = tokens.dataSync() as Float32Array;
  const mean = new Float64Array(c);
  for (let t = 0; t < n; t++) for (let k = 0; k < c; k++) mean[k] += x[t * c + k] / n;
  return fromArray(Float32Array.from(x, (v, i) => 2 * v + mean[i % c]), [n, c], 'float32');
}
const schedule = {
  cacheScale: { height: 2, width: 2 },
  prunedScales: [{ height: 4, width: 4, ratio: 0.5 }],
  skippedScales: [{ height: 8, width: 8 }],
  layers: { from: 1, to: 3 },
};

describe('FastVarCache', () => {
  it('restores pruned tokens from the area-resized cache and scatters the computed pivotal ones', () => {
    const fastvar = new FastVarCache(schedule);
    const x2 = fromArray(seeded(4 * C, 1), [4, C], 'float32');
    const cached = Array.from(fastvar.branch(1, 'ffn', x2, { height: 2, width: 2 }, mixing).dataSync());
    const x4data = seeded(16 * C, 2);
    const seenPositions: (Int32Array | undefined)[] = [];
    const y = fastvar.branch(1, 'ffn', fromArray(x4data, [16, C], 'float32'), { height: 4, width: 4 }, (t, p) => {
      seenPositions.push(p);
      return mixing(t);
    });
    // Independent selection: the 8 tokens farthest from the map mean.
    const mean = [0, 1, 2].map((k) => Array.from({ length: 16 }, (_, t) => x4data[t * C + k]).reduce((a, b) => a + b) / 16);
    const dist = Array.from({ length: 16 }, (_, t) => [0, 1, 2].reduce((s, k) => s + (x4data[t * C + k] - mean[k]) ** 2, 0));
    const kept = Array.from({ length: 16 }, (_, t) => t)
      .sort((a, b) => dist[b] - dist[a] || a - b)
      .slice(0, 8)
      .sort((a, b) => a - b);
    expect(Array.from(seenPositions[0]!)).toEqual(kept);
    const keptRows = kept.flatMap((t) => Array.from(x4data.subarray(t * C, t * C + C)));
    const computed = Array.from(mixing(fromArray(Float32Array.from(keptRows), [8, C], 'float32')).dataSync());
    const got = Array.from(y.dataSync());
    for (let t = 0; t < 16; t++) {
      const r = kept.indexOf(t);
      // 2×2 → 4×4 area interpolation copies each cached cell to its 2×2 block.
      const parent = Math.floor(Math.floor(t / 4) / 2) * 2 + Math.floor((t % 4) / 2);
      const expected = r >= 0 ? computed.slice(r * C, r * C + C) : cached.slice(parent * C, parent * C + C);
      expect(got.slice(t * C, t * C + C)).toEqual(expected);
    }
    expect(fastvar.stats()).toEqual({ branches: 2, forwardedTokens: 4 + 8, totalTokens: 4 + 16 });
  });

  it('at ratio 0 the restored output equals the unpruned branch output exactly', () => {
    const fastvar = new FastVarCache({ ...schedule, prunedScales: [{ height: 4, width: 4, ratio: 0 }] });
    fastvar.branch(2, 'attn', fromArray(seeded(4 * C, 3), [4, C], 'float32'), { height: 2, width: 2 }, mixing);
    const x4 = fromArray(seeded(2 * 16 * C, 4), [2, 16, C], 'float32');
    const perSample = (t: Tensor) => {
      const d = t.dataSync() as Float32Array;
      const n = t.shape[1];
      const rows = [0, 1].flatMap((b) => Array.from(mixing(fromArray(d.slice(b * n * C, (b + 1) * n * C), [n, C], 'float32')).dataSync()));
      return fromArray(Float32Array.from(rows), [2, n, C], 'float32');
    };
    const x2b = fromArray(seeded(2 * 4 * C, 5), [2, 4, C], 'float32');
    fastvar.reset();
    fastvar.branch(2, 'attn', x2b, { height: 2, width: 2 }, perSample);
    const pruned = fastvar.branch(2, 'attn', x4, { height: 4, width: 4 }, perSample);
    expect(Array.from(pruned.dataSync())).toEqual(Array.from(perSample(x4).dataSync()));
  });

  it('runs blocks outside the layer range and other scales in full, and reports skipped scales', () => {
    const fastvar = new FastVarCache(schedule);
    const x4 = fromArray(seeded(16 * C, 6), [16, C], 'float32');
    const full = fastvar.branch(0, 'ffn', x4, { height: 4, width: 4 }, mixing);
    expect(Array.from(full.dataSync())).toEqual(Array.from(mixing(x4).dataSync()));
    expect(fastvar.ratioAt(0, { height: 4, width: 4 })).toBe(0);
    expect(fastvar.ratioAt(1, { height: 4, width: 4 })).toBe(0.5);
    expect(fastvar.ratioAt(3, { height: 4, width: 4 })).toBe(0);
    expect(fastvar.skips({ height: 8, width: 8 })).toBe(true);
    expect(fastvar.skips({ height: 4, width: 4 })).toBe(false);
    expect(fastvar.stats().forwardedTokens).toBe(16);
  });

  it('has the reference schedule for Infinity-2B as its default', () => {
    const fastvar = new FastVarCache();
    expect(fastvar.schedule).toEqual(FASTVAR_INFINITY_2B_SCHEDULE);
    expect(fastvar.ratioAt(3, { height: 32, width: 32 })).toBe(0.4);
    expect(fastvar.ratioAt(27, { height: 40, width: 40 })).toBe(0.5);
    expect(fastvar.ratioAt(28, { height: 40, width: 40 })).toBe(0);
    expect(fastvar.ratioAt(2, { height: 32, width: 32 })).toBe(0);
  });

  it('rejects bad schedules, a pruned scale before its cache, and a map size that does not fit', () => {
    expect(() => new FastVarCache({ ...schedule, prunedScales: [{ height: 4, width: 4, ratio: 1 }] })).toThrow(PruneError);
    expect(() => new FastVarCache({ ...schedule, prunedScales: [{ height: 1, width: 2, ratio: 0.5 }] })).toThrow(/not larger than the cache scale/);
    expect(() => new FastVarCache({ ...schedule, layers: { from: 3, to: 1 } })).toThrow(/0 ≤ from ≤ to/);
    const fastvar = new FastVarCache(schedule);
    const x4 = fromArray(seeded(16 * C, 7), [16, C], 'float32');
    expect(() => fastvar.branch(1, 'ffn', x4, { height: 4, width: 4 }, mixing)).toThrow(/without a cached output of the cache scale 2×2/);
    expect(() => fastvar.branch(1, 'ffn', x4, { height: 2, width: 2 }, mixing)).toThrow(/16 tokens do not form a 2×2 map/);
  });
});
