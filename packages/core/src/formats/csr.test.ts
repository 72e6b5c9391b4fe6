import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PruneError } from '../errors.js';
import { tensor } from '../ops/creation.js';
import { type CsrEncoding, csrByteSize, decodeCsr, encodeCsr } from './csr.js';

/** A random sparse matrix: rows of mixed density, some forced empty or full; values include -0, NaN, ±Inf. */
const sparseMatrix = fc
  .record({ rows: fc.integer({ min: 0, max: 7 }), columns: fc.integer({ min: 0, max: 37 }) })
  .chain(({ rows, columns }) =>
    fc.record({
      rows: fc.constant(rows),
      columns: fc.constant(columns),
      values: fc.array(fc.oneof(fc.constant(0), fc.constant(-0), fc.float()), { minLength: rows * columns, maxLength: rows * columns }),
      kinds: fc.array(fc.constantFrom('mixed', 'empty', 'full'), { minLength: rows, maxLength: rows }),
    }),
  )
  .map(({ rows, columns, values, kinds }) => {
    const data = Float32Array.from(values);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < columns; c++) {
        const i = r * columns + c;
        if (kinds[r] === 'empty') data[i] = 0;
        if (kinds[r] === 'full' && data[i] === 0) data[i] = 1.5;
      }
    }
    return { values: data, shape: [rows, columns] };
  });

/** Dense value after a round trip: every zero (including -0) comes back as +0. */
function expectRoundTrip(original: Float32Array, decoded: Float32Array): void {
  expect(decoded.length).toBe(original.length);
  for (let i = 0; i < original.length; i++) {
    const want = original[i] === 0 ? 0 : original[i];
    if (!Object.is(decoded[i], want)) throw new Error(`element ${i}: decoded ${decoded[i]}, expected ${want}`);
  }
}

describe('encodeCsr / decodeCsr', () => {
  it('encodes a hand-made matrix to the expected arrays', () => {
    const csr = encodeCsr({ values: Float32Array.of(0, 1.5, 0, -2, 0, 0, 0, 0, 3, -0, 0, 4), shape: [3, 4] });
    expect([...csr.values]).toEqual([1.5, -2, 3, 4]);
    expect(csr.columnIndices).toBeInstanceOf(Uint16Array);
    expect([...csr.columnIndices]).toEqual([1, 3, 0, 3]);
    expect([...csr.rowPointers]).toEqual([0, 2, 2, 4]);
    expect(csr.shape).toEqual([3, 4]);
    // 4 values · 4 B + 4 indices · 2 B + 4 row pointers · 4 B
    expect(csrByteSize(csr)).toBe(16 + 8 + 16);
  });

  it('round-trips random sparse matrices exactly (zeros as +0), matching a brute-force listing', () => {
    fc.assert(
      fc.property(sparseMatrix, ({ values, shape }) => {
        const csr = encodeCsr({ values, shape });
        expectRoundTrip(values, decodeCsr(csr));
        const [rows, columns] = shape;
        for (let r = 0; r < rows; r++) {
          const want: [number, number][] = [];
          for (let c = 0; c < columns; c++) if (values[r * columns + c] !== 0) want.push([c, values[r * columns + c]]);
          const got: [number, number][] = [];
          for (let k = csr.rowPointers[r]; k < csr.rowPointers[r + 1]; k++) got.push([csr.columnIndices[k], csr.values[k]]);
          expect(got).toEqual(want);
        }
        expect(csrByteSize(csr)).toBe(csr.values.length * 6 + (rows + 1) * 4);
      }),
      { seed: 1234, numRuns: 300 },
    );
  });

  it('reads a float32 tensor the same as its host array, and treats leading axes as rows', () => {
    const values = Float32Array.of(0, 1, 2, 0, 0, 0, 0, 3, 0, 4, 0, 0);
    const fromTensor = encodeCsr(tensor(values, [2, 2, 3]));
    const fromHost = encodeCsr({ values, shape: [2, 2, 3] });
    expect(fromTensor).toEqual(fromHost);
    expect([...fromTensor.rowPointers]).toEqual([0, 2, 2, 3, 4]);
    expect(fromTensor.shape).toEqual([2, 2, 3]);
    expectRoundTrip(values, decodeCsr(fromTensor));
  });

  it('handles an all-zero matrix, an empty one and a vector', () => {
    const zeros = encodeCsr({ values: new Float32Array(6), shape: [2, 3] });
    expect(zeros.values.length).toBe(0);
    expect([...zeros.rowPointers]).toEqual([0, 0, 0]);
    expect(csrByteSize(zeros)).toBe(12);
    expect(decodeCsr(encodeCsr({ values: new Float32Array(0), shape: [0, 5] }))).toEqual(new Float32Array(0));
    const vec = encodeCsr({ values: Float32Array.of(0, 7), shape: [2] });
    expect([...vec.rowPointers]).toEqual([0, 1]);
    expect([...decodeCsr(vec)]).toEqual([0, 7]);
  });

  it('switches to 32-bit column indices only above 65 536 columns', () => {
    const at = new Float32Array(65_536);
    at[65_535] = 1;
    const narrow = encodeCsr({ values: at, shape: [1, 65_536] });
    expect(narrow.columnIndices).toBeInstanceOf(Uint16Array);
    expect(narrow.columnIndices[0]).toBe(65_535);
    const above = new Float32Array(65_537);
    above[65_536] = 2;
    const wide = encodeCsr({ values: above, shape: [1, 65_537] });
    expect(wide.columnIndices).toBeInstanceOf(Uint32Array);
    expect(wide.columnIndices[0]).toBe(65_536);
    expect(csrByteSize(wide)).toBe(4 + 4 + 8);
    expectRoundTrip(above, decodeCsr(wide));
  });

  it('rejects bad input and malformed encodings with PruneErrors', () => {
    expect(() => encodeCsr(tensor([1, 2], [2], 'int32'))).toThrow(expect.objectContaining({ code: 'DTYPE_MISMATCH' }));
    expect(() => encodeCsr({ values: new Float32Array(5), shape: [2, 3] })).toThrow(expect.objectContaining({ code: 'SHAPE_MISMATCH' }));
    expect(() => encodeCsr({ values: new Float32Array(1), shape: [] })).toThrow(expect.objectContaining({ code: 'SHAPE_MISMATCH' }));
    const good = encodeCsr({ values: Float32Array.of(1, 0, 2, 3), shape: [2, 2] });
    const bad = (patch: Partial<CsrEncoding>): CsrEncoding => ({ ...good, ...patch });
    for (const enc of [
      bad({ rowPointers: Uint32Array.of(0, 1) }),
      bad({ rowPointers: Uint32Array.of(0, 2, 1) }),
      bad({ rowPointers: Uint32Array.of(1, 1, 3) }),
      bad({ columnIndices: Uint16Array.of(0, 1, 0) }),
      bad({ columnIndices: Uint16Array.of(0, 2, 1) }),
      bad({ columnIndices: Uint16Array.of(0, 1, 1) }),
      bad({ values: new Float32Array(2) }),
    ]) {
      expect(() => decodeCsr(enc)).toThrow(PruneError);
    }
  });
});
