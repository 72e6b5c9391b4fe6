import { describe, expect, it } from 'vitest';
import { bitmaskByteSize, encodeBitmask } from './bitmask.js';
import { csrByteSize, encodeCsr } from './csr.js';
import { encodeNm, nmByteSize } from './nm.js';
import { sparseByteReport } from './report.js';
import { decodeSparse, encodeSparse, sparseByteSize } from './sparse.js';

/** A rows × columns weight whose every group of 4 keeps positions 0 and 2 (2:4, 50% sparse). */
function twoFour(rows: number, columns: number): Float32Array {
  const v = new Float32Array(rows * columns);
  for (let i = 0; i < v.length; i += 4) {
    v[i] = 1 + i;
    v[i + 2] = -1 - i;
  }
  return v;
}

describe('sparseByteReport', () => {
  it('counts bytes by hand for a 2:4 weight and picks N:M', () => {
    const values = twoFour(4, 16); // 64 elements, 32 nonzeros
    const r = sparseByteReport({ values, shape: [4, 16] });
    expect(r.numel).toBe(64);
    expect(r.nonzeros).toBe(32);
    expect(r.density).toBe(0.5);
    expect(r.dense).toBe(256);
    expect(r.csr).toBe(32 * 4 + 32 * 2 + 5 * 4); // 212
    expect(r.bitmask).toBe(32 * 4 + 8); // 136
    expect(r.nm).toEqual([{ n: 2, m: 4, bytes: 32 * 4 + 8 }]); // 32 slots · 2 bits = 8 bytes → 136
    // bitmask and 2:4 tie at 136 bytes; the tie goes to the simpler bitmask.
    expect(r.best).toEqual({ format: 'bitmask', bytes: 136 });
  });

  it('agrees with the byte sizes of the actual encodings', () => {
    const values = twoFour(3, 24);
    values[5] = 0.5; // one group now holds 3 nonzeros: 2:4 breaks, 3:4 holds
    const shape = [3, 24];
    const r = sparseByteReport({ values, shape }, { nm: [{ n: 2, m: 4 }, { n: 3, m: 4 }, { n: 1, m: 5 }, { n: 4, m: 8 }, { n: 5, m: 8 }] });
    expect(r.csr).toBe(csrByteSize(encodeCsr({ values, shape })));
    expect(r.bitmask).toBe(bitmaskByteSize(encodeBitmask({ values, shape })));
    expect(r.nm[0]).toEqual({ n: 2, m: 4, bytes: undefined, reason: 'a group of 4 columns holds 3 nonzeros, more than 2' });
    expect(r.nm[1].bytes).toBe(nmByteSize(encodeNm({ values, shape }, { n: 3, m: 4 })));
    expect(r.nm[2]).toEqual({ n: 1, m: 5, bytes: undefined, reason: 'd_in = 24 is not a multiple of m = 5' });
    expect(r.nm[3]).toEqual({ n: 4, m: 8, bytes: undefined, reason: 'a group of 8 columns holds 5 nonzeros, more than 4' });
    expect(r.nm[4].bytes).toBe(nmByteSize(encodeNm({ values, shape }, { n: 5, m: 8 })));
  });

  it('prefers CSR for very sparse weights, N:M when it is smallest, dense when nothing is pruned', () => {
    const sparse = new Float32Array(10 * 64);
    sparse[3] = 1;
    sparse[600] = 2;
    const r1 = sparseByteReport({ values: sparse, shape: [10, 64] });
    expect(r1.best).toEqual({ format: 'csr', bytes: 2 * 6 + 11 * 4 });

    const oneEight = new Float32Array(2 * 64);
    for (let i = 0; i < oneEight.length; i += 8) oneEight[i + 5] = i + 1;
    const r2 = sparseByteReport({ values: oneEight, shape: [2, 64] }, { nm: [{ n: 1, m: 8 }] });
    // 16 slots: 64 B values + 16·3 bits = 6 B; bitmask 64 + 16 = 80; CSR 64 + 32 + 12 = 108
    expect(r2.best).toEqual({ format: 'nm', bytes: 70, pattern: { n: 1, m: 8 } });

    const full = new Float32Array(16).fill(1);
    expect(sparseByteReport({ values: full, shape: [4, 4] }).best).toEqual({ format: 'dense', bytes: 64 });
  });

  it('encodeSparse / decodeSparse / sparseByteSize dispatch on the format', () => {
    const values = twoFour(2, 8);
    const shape = [2, 8];
    for (const request of [{ format: 'csr' }, { format: 'bitmask' }, { format: 'nm', pattern: { n: 2, m: 4 } }] as const) {
      const enc = encodeSparse({ values, shape }, request);
      expect(enc.format).toBe(request.format);
      expect([...decodeSparse(enc)]).toEqual([...values]);
      expect(sparseByteSize(enc)).toBe(
        enc.format === 'csr' ? csrByteSize(enc) : enc.format === 'nm' ? nmByteSize(enc) : bitmaskByteSize(enc),
      );
    }
    expect(() => encodeSparse({ values, shape }, { format: 'dense' } as never)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});
