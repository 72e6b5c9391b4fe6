import { Random } from '@prune/core';
import { describe, expect, it } from 'vitest';
import { obsRowsSimd } from './obs-kernel.js';

/** The column loop written out plainly: err = w/U[c,c]; w[c+1:] −= fround(err·U[c, c+1:]). */
function plainLoop(w: Float32Array, keep: Uint8Array, u: Float32Array, rows: number, count: number): Float32Array {
  const err = new Float32Array(rows * count);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < count; c++) {
      if (keep[r * count + c] === 1) continue;
      const e = Math.fround(w[r * count + c] / u[c * count + c]);
      err[r * count + c] = e;
      w[r * count + c] = 0;
      for (let k = c + 1; k < count; k++) w[r * count + k] = Math.fround(w[r * count + k] - Math.fround(e * u[c * count + k]));
    }
  }
  return err;
}

describe('SparseGPT column loop in WebAssembly SIMD', () => {
  // Block widths off the vector width (tails of 1–3 columns), and a strided layout inside a
  // wider matrix, as sparsegptBlocks passes it.
  for (const count of [1, 5, 8, 13, 64, 130]) {
    it(`matches the plain loop bit for bit (${count} columns, rows in a wider matrix)`, () => {
      const rng = new Random(count);
      const rows = 37;
      const stride = count + 3;
      const at = 2;
      const w = Float32Array.from({ length: rows * stride + at }, () => rng.normal());
      const keep = Uint8Array.from({ length: rows * stride + at }, () => (rng.uniform() < 0.5 ? 1 : 0));
      const u = new Float32Array(count * count);
      for (let c = 0; c < count; c++) for (let k = c; k < count; k++) u[c * count + k] = k === c ? 0.5 + rng.uniform() : 0.3 * rng.normal();
      const err = new Float32Array(rows * count);
      const before = w.slice();
      expect(obsRowsSimd({ w, wAt: at, wStride: stride, keep, keepAt: at, keepStride: stride, u, uAt: 0, uStride: count, err, errStride: count, count }, 0, rows)).toBe(true);
      const pw = new Float32Array(rows * count);
      const pk = new Uint8Array(rows * count);
      for (let r = 0; r < rows; r++) {
        pw.set(before.subarray(at + r * stride, at + r * stride + count), r * count);
        pk.set(keep.subarray(at + r * stride, at + r * stride + count), r * count);
      }
      const plainErr = plainLoop(pw, pk, u, rows, count);
      for (let r = 0; r < rows; r++) {
        expect(Array.from(w.subarray(at + r * stride, at + r * stride + count))).toEqual(Array.from(pw.subarray(r * count, (r + 1) * count)));
        // the columns between blocks are untouched
        expect(Array.from(w.subarray(at + r * stride + count, at + (r + 1) * stride))).toEqual(Array.from(before.subarray(at + r * stride + count, at + (r + 1) * stride)));
      }
      expect(Array.from(err)).toEqual(Array.from(plainErr));
      expect(plainErr.some((e) => e !== 0)).toBe(true);
    });
  }

  it('handles a range of rows and more rows than one chunk', () => {
    const rng = new Random(3);
    const rows = 2100;
    const count = 12;
    const w = Float32Array.from({ length: rows * count }, () => rng.normal());
    const keep = Uint8Array.from({ length: rows * count }, () => (rng.uniform() < 0.5 ? 1 : 0));
    const u = new Float32Array(count * count);
    for (let c = 0; c < count; c++) for (let k = c; k < count; k++) u[c * count + k] = k === c ? 1 + rng.uniform() : 0.2 * rng.normal();
    const pw = w.slice();
    const err = new Float32Array(rows * count);
    obsRowsSimd({ w, wAt: 0, wStride: count, keep, keepAt: 0, keepStride: count, u, uAt: 0, uStride: count, err, errStride: count, count }, 100, rows);
    plainLoop(pw.subarray(100 * count), keep.subarray(100 * count), u, rows - 100, count);
    expect(Array.from(w)).toEqual(Array.from(pw));
    expect(Array.from(err.subarray(0, 100 * count)).every((e) => e === 0)).toBe(true);
  });
});
