import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PruneError } from '../errors.js';
import { tensor } from '../ops/creation.js';
import { type BitmaskEncoding, bitmaskByteSize, decodeBitmask, encodeBitmask } from './bitmask.js';

describe('encodeBitmask / decodeBitmask', () => {
  it('sets one bit per nonzero, least significant first, and keeps values in row-major order', () => {
    // 3 × 4: nonzeros at flat positions 1, 3, 8, 11; -0 at 9 is pruned.
    const values = Float32Array.of(0, 1.5, 0, -2, 0, 0, 0, 0, 3, -0, 0, 4);
    const enc = encodeBitmask({ values, shape: [3, 4] });
    expect([...enc.mask]).toEqual([0b0000_1010, 0b0000_1001]);
    expect([...enc.values]).toEqual([1.5, -2, 3, 4]);
    expect(bitmaskByteSize(enc)).toBe(4 * 4 + 2);
    const dense = decodeBitmask(enc);
    expect(Object.is(dense[9], 0)).toBe(true);
    expect([...dense]).toEqual([0, 1.5, 0, -2, 0, 0, 0, 0, 3, 0, 0, 4]);
    expect(encodeBitmask(tensor(values, [3, 4]))).toEqual(enc);
  });

  it('round-trips random weights of any shape exactly', () => {
    const weight = fc
      .array(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 3 })
      .chain((shape) =>
        fc.record({
          shape: fc.constant(shape),
          values: fc.array(fc.oneof(fc.constant(0), fc.constant(-0), fc.float()), {
            minLength: shape.reduce((a, d) => a * d, 1),
            maxLength: shape.reduce((a, d) => a * d, 1),
          }),
        }),
      );
    fc.assert(
      fc.property(weight, ({ shape, values }) => {
        const data = Float32Array.from(values);
        const enc = encodeBitmask({ values: data, shape });
        const dense = decodeBitmask(enc);
        let nnz = 0;
        for (let i = 0; i < data.length; i++) {
          if (data[i] !== 0) nnz++;
          const want = data[i] === 0 ? 0 : data[i];
          if (!Object.is(dense[i], want)) throw new Error(`element ${i}: ${dense[i]} vs ${want}`);
        }
        expect(bitmaskByteSize(enc)).toBe(4 * nnz + Math.ceil(data.length / 8));
      }),
      { seed: 7, numRuns: 300 },
    );
  });

  it('rejects malformed encodings', () => {
    const good = encodeBitmask({ values: Float32Array.of(1, 0, 2), shape: [3] });
    const bad = (patch: Partial<BitmaskEncoding>): BitmaskEncoding => ({ ...good, ...patch });
    for (const enc of [
      bad({ mask: Uint8Array.of(0b101, 0) }),
      bad({ mask: Uint8Array.of(0b1101) }), // a bit past the third element
      bad({ values: Float32Array.of(1) }),
      bad({ shape: [9] }),
    ]) {
      expect(() => decodeBitmask(enc)).toThrow(PruneError);
    }
  });
});
