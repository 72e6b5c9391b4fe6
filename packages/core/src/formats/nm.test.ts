import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PruneError } from '../errors.js';
import { tensor } from '../ops/creation.js';
import { type NmEncoding, decodeNm, encodeNm, maxNonzerosPerGroup, nmByteSize, nmByteSizeFor } from './nm.js';

/** Reads bit field k of width `bits` one bit at a time (independent of the packer's chunking). */
function field(bytes: Uint8Array, k: number, bits: number): number {
  let v = 0;
  for (let b = 0; b < bits; b++) {
    const i = k * bits + b;
    v += ((bytes[Math.floor(i / 8)] >> (i % 8)) & 1) * 2 ** b;
  }
  return v;
}

/** A random weight satisfying n:m: each group keeps at most n of its nonzeros (values include -0, NaN, ±Inf). */
const nmWeight = fc
  .record({ m: fc.integer({ min: 1, max: 9 }), rows: fc.integer({ min: 0, max: 5 }), groups: fc.integer({ min: 0, max: 6 }) })
  .chain(({ m, rows, groups }) =>
    fc.record({
      m: fc.constant(m),
      n: fc.integer({ min: 1, max: m }),
      rows: fc.constant(rows),
      groups: fc.constant(groups),
      values: fc.array(fc.oneof(fc.constant(0), fc.constant(-0), fc.float()), { minLength: rows * groups * m, maxLength: rows * groups * m }),
      limits: fc.array(fc.nat({ max: 9 }), { minLength: rows * groups, maxLength: rows * groups }),
    }),
  )
  .map(({ m, n, rows, groups, values, limits }) => {
    const data = Float32Array.from(values);
    for (let g = 0; g < rows * groups; g++) {
      let left = Math.min(limits[g], n);
      for (let j = g * m; j < (g + 1) * m; j++) {
        if (data[j] !== 0) {
          if (left > 0) left--;
          else data[j] = 0;
        }
      }
    }
    return { values: data, shape: [rows, groups * m], n, m };
  });

describe('encodeNm / decodeNm', () => {
  it('packs 2:4 positions in 2 bits each, least significant first, padding with the lowest free positions', () => {
    const values = Float32Array.of(0, 1.5, 0, -2, 3, 0, 0, 0, /* row 1 */ 0, 0, 0, 0, 0, 0, 5, 6);
    const nm = encodeNm({ values, shape: [2, 8] }, { n: 2, m: 4 });
    expect([...nm.values]).toEqual([1.5, -2, 3, 0, 0, 0, 5, 6]);
    // row 0: positions 1,3 | 0 (+ pad 1) → 01 11 00 01 (read right to left) = 0x4D
    // row 1: pad 0,1 | 2,3 → 11 10 01 00 = 0xE4
    expect([...nm.indices]).toEqual([0x4d, 0xe4]);
    expect(nmByteSize(nm)).toBe(8 * 4 + 2);
    expect(nmByteSizeFor([2, 8], { n: 2, m: 4 })).toBe(34);
    expect([...decodeNm(nm)]).toEqual([...values]);
  });

  it('packs 3-bit positions across byte boundaries (3:8)', () => {
    const values = new Float32Array(16);
    for (const j of [1, 4, 6, 8, 10, 15]) values[j] = j + 0.25;
    const nm = encodeNm({ values, shape: [1, 16] }, { n: 3, m: 8 });
    // fields 1,4,6,0,2,7 at 3 bits each = 1 + 4·2^3 + 6·2^6 + 0·2^9 + 2·2^12 + 7·2^15 = 237985 = [161, 161, 3] little-endian
    expect([...nm.indices]).toEqual([161, 161, 3]);
    expect([...nm.values]).toEqual([1.25, 4.25, 6.25, 8.25, 10.25, 15.25]);
    expect(nmByteSize(nm)).toBe(6 * 4 + 3);
    expect([...decodeNm(nm)]).toEqual([...values]);
  });

  it('needs no index bits for m = 1 and stores an empty weight as empty arrays', () => {
    const nm = encodeNm({ values: Float32Array.of(1, 0, -3), shape: [3] }, { n: 1, m: 1 });
    expect(nm.indices.length).toBe(0);
    expect([...decodeNm(nm)]).toEqual([1, 0, -3]);
    const empty = encodeNm({ values: new Float32Array(0), shape: [4, 0] }, { n: 2, m: 4 });
    expect(empty.values.length + empty.indices.length).toBe(0);
    expect(decodeNm(empty).length).toBe(0);
  });

  it('round-trips random n:m weights exactly, slots matching nonzeros plus lowest free positions', () => {
    fc.assert(
      fc.property(nmWeight, ({ values, shape, n, m }) => {
        const nm = encodeNm({ values, shape }, { n, m });
        const bits = Math.ceil(Math.log2(m));
        const decoded = decodeNm(nm);
        for (let i = 0; i < values.length; i++) {
          const want = values[i] === 0 ? 0 : values[i];
          if (!Object.is(decoded[i], want)) throw new Error(`element ${i}: ${decoded[i]} vs ${want}`);
        }
        for (let g = 0; g * m < values.length; g++) {
          const nonzero: number[] = [];
          const free: number[] = [];
          for (let j = 0; j < m; j++) (values[g * m + j] !== 0 ? nonzero : free).push(j);
          const want = [...nonzero, ...free.slice(0, n - nonzero.length)].sort((a, b) => a - b);
          const got = Array.from({ length: n }, (_, s) => field(nm.indices, g * n + s, bits));
          expect(got).toEqual(want);
          for (let s = 0; s < n; s++) expect(Object.is(nm.values[g * n + s], values[g * m + want[s]] === 0 ? 0 : values[g * m + want[s]])).toBe(true);
        }
        const slots = values.length / m * n;
        expect(nmByteSize(nm)).toBe(slots * 4 + Math.ceil((slots * bits) / 8));
        expect(nmByteSizeFor(shape, { n, m })).toBe(nmByteSize(nm));
      }),
      { seed: 42, numRuns: 300 },
    );
  });

  it('names the first row and group that breaks the pattern', () => {
    const values = new Float32Array(24); // 2 rows × 12 columns, 2:4
    values[12 + 8] = 1;
    values[12 + 9] = 1;
    values[12 + 11] = 1;
    expect(() => encodeNm({ values, shape: [2, 12] }, { n: 2, m: 4 })).toThrow(/row 1, group 2 \(columns 8\.\.11\) has 3 nonzeros/);
    expect(() => encodeNm(tensor(values, [2, 12]), { n: 2, m: 4 })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    // -0 is a pruned weight, so it does not count against the pattern.
    values[12 + 11] = -0;
    expect(() => encodeNm({ values, shape: [2, 12] }, { n: 2, m: 4 })).not.toThrow();
  });

  it('rejects bad patterns, d_in not a multiple of m, and malformed encodings', () => {
    const w = { values: new Float32Array(8), shape: [2, 4] };
    expect(() => encodeNm(w, { n: 3, m: 2 })).toThrow(expect.objectContaining({ code: 'OUT_OF_RANGE' }));
    expect(() => encodeNm(w, { n: 0, m: 4 })).toThrow(expect.objectContaining({ code: 'OUT_OF_RANGE' }));
    expect(() => encodeNm(w, { n: 1.5, m: 4 })).toThrow(expect.objectContaining({ code: 'OUT_OF_RANGE' }));
    expect(() => encodeNm({ values: new Float32Array(6), shape: [1, 6] }, { n: 2, m: 4 })).toThrow(
      expect.objectContaining({ code: 'SHAPE_MISMATCH', message: expect.stringMatching(/not a multiple of m = 4/) }),
    );
    const good = encodeNm({ values: Float32Array.of(0, 1, 0, 2), shape: [1, 4] }, { n: 2, m: 4 });
    const bad = (patch: Partial<NmEncoding>): NmEncoding => ({ ...good, ...patch });
    for (const enc of [
      bad({ values: new Float32Array(3) }),
      bad({ indices: new Uint8Array(2) }),
      bad({ indices: Uint8Array.of(0b0000_0111) }), // positions 3 then 1: not increasing
      bad({ indices: Uint8Array.of(0b0000_0101) }), // positions 1 then 1: repeated
      bad({ indices: Uint8Array.of(0b0001_1101) }), // stray bits after the last position
      bad({ shape: [1, 6] }),
    ]) {
      expect(() => decodeNm(enc)).toThrow(PruneError);
    }
  });

  it('maxNonzerosPerGroup finds the tightest n for a group width', () => {
    const w = { values: Float32Array.of(1, 1, 0, 0, 1, 1, 1, 0), shape: [1, 8] };
    expect(maxNonzerosPerGroup(w, 4)).toBe(3);
    expect(maxNonzerosPerGroup(w, 2)).toBe(2);
    expect(maxNonzerosPerGroup(w, 8)).toBe(5);
    expect(maxNonzerosPerGroup(w, 3)).toBeUndefined();
  });
});
