import { describe, expect, it } from 'vitest';
import { Random } from '../random.js';
import { KEY_BUCKETS, keyBucket, lowestKeysPivot } from './lowest.js';

/** Indices of the k lowest keys by a stable sort (the oracle). */
function sortedLowest(keys: Int32Array, k: number): Set<number> {
  const idx = Array.from(keys, (_, i) => i);
  idx.sort((a, b) => keys[a] - keys[b] || a - b);
  return new Set(idx.slice(0, k));
}

/** Indices the pivot rule takes. */
function taken(keys: Int32Array, offset: number, n: number, k: number): Set<number> {
  const { pivot, equalTaken } = lowestKeysPivot(keys, n, k, offset);
  const out = new Set<number>();
  let ties = equalTaken;
  for (let i = 0; i < n; i++) {
    const key = keys[offset + i];
    if (key < pivot || (key === pivot && ties-- > 0)) out.add(i);
  }
  return out;
}

describe('lowestKeysPivot', () => {
  it('hand-computed: [3, 1, 2, 1], k = 2 takes both 1s; k = 1 takes the first', () => {
    const keys = Int32Array.from([3, 1, 2, 1]);
    expect(lowestKeysPivot(keys, 4, 2)).toEqual({ pivot: 1, equalTaken: 2, equal: 2 });
    expect(lowestKeysPivot(keys, 4, 1)).toEqual({ pivot: 1, equalTaken: 1, equal: 2 });
    expect(lowestKeysPivot(keys, 4, 4)).toEqual({ pivot: 3, equalTaken: 1, equal: 1 });
    // A caller-made histogram gives the same answer.
    const counts = new Int32Array(KEY_BUCKETS);
    for (const key of keys) counts[keyBucket(key)]++;
    expect(lowestKeysPivot(keys, 4, 2, 0, counts)).toEqual({ pivot: 1, equalTaken: 2, equal: 2 });
    expect([...taken(keys, 0, 4, 3)].sort()).toEqual([1, 2, 3]);
  });

  it('equals the first k of a stable sort on short and long rows, negative keys, heavy ties and offsets', () => {
    const rng = new Random(5);
    for (const n of [1, 2, 7, 100, 1023, 1024, 3000, 5000]) {
      for (const spread of [3, 1000, 0x7fffffff]) {
        const keys = new Int32Array(n + 9);
        for (let i = 0; i < keys.length; i++) keys[i] = spread === 0x7fffffff ? rng.nextUint32() | 0 : rng.int(spread) - (spread >> 1);
        const row = keys.subarray(9, 9 + n);
        const counts = new Int32Array(KEY_BUCKETS);
        for (const key of row) counts[keyBucket(key)]++;
        for (const k of [1, Math.max(1, n >> 1), n]) {
          expect(taken(keys, 9, n, k)).toEqual(sortedLowest(row, k));
          const p = lowestKeysPivot(keys, n, k, 9, counts);
          expect(p).toEqual(lowestKeysPivot(keys, n, k, 9));
          expect(p.equal).toBe(row.reduce((c, v) => c + (v === p.pivot ? 1 : 0), 0));
        }
      }
    }
  });

  it('float32 bits of non-negative scores order like the values (+0 lowest, +Infinity highest)', () => {
    const scores = Float32Array.from({ length: 2048 }, (_, i) => (i % 17 === 0 ? 0 : i % 31 === 0 ? Infinity : ((i * 7919) % 1000) / 37));
    const keys = new Int32Array(scores.buffer);
    const byValue = Array.from(scores, (_, i) => i).sort((a, b) => scores[a] - scores[b] || a - b || 0);
    const k = 1024;
    expect(taken(keys, 0, 2048, k)).toEqual(new Set(byValue.slice(0, k)));
  });

  it('rejects k outside [1, n] and rows outside the array', () => {
    const keys = new Int32Array(4);
    expect(() => lowestKeysPivot(keys, 4, 0)).toThrow(expect.objectContaining({ code: 'OUT_OF_RANGE' }));
    expect(() => lowestKeysPivot(keys, 4, 5)).toThrow(expect.objectContaining({ code: 'OUT_OF_RANGE' }));
    expect(() => lowestKeysPivot(keys, 4, 1, 1)).toThrow(expect.objectContaining({ code: 'OUT_OF_RANGE' }));
    expect(() => lowestKeysPivot(new Float32Array(4) as never, 4, 1)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => lowestKeysPivot(keys, 4, 1, 0, new Int32Array(3))).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});
