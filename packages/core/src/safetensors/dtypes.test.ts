import { describe, expect, it } from 'vitest';
import {
  bfloat16BitsToFloat32,
  bigIntToFloat32,
  decodeToFloat32,
  decodeToInt32,
  encodeFloat32,
  float16BitsToFloat32,
  float32Bits,
  float32ToBFloat16Bits,
  float32ToFloat16Bits,
  float8E4M3ToFloat32,
  float8E5M2ToFloat32,
} from './dtypes.js';

describe('float16 → float32 (exact widening)', () => {
  it.each([
    [0x0000, 0],
    [0x3c00, 1],
    [0xc000, -2],
    [0x3555, 0.333251953125], // (1 + 341/1024) · 2⁻²
    [0x7bff, 65504], // largest finite
    [0x0400, 2 ** -14], // smallest normal
    [0x0001, 2 ** -24], // smallest subnormal
    [0x03ff, 1023 * 2 ** -24], // largest subnormal
    [0x8001, -(2 ** -24)],
    [0x7c00, Infinity],
    [0xfc00, -Infinity],
  ])('0x%s', (bits, value) => {
    expect(float16BitsToFloat32(bits)).toBe(value);
  });

  it('keeps the sign of zero and NaN payloads', () => {
    expect(Object.is(float16BitsToFloat32(0x8000), -0)).toBe(true);
    expect(Number.isNaN(float16BitsToFloat32(0x7e00))).toBe(true);
    expect(float32Bits(float16BitsToFloat32(0x7e00))).toBe(0x7fc00000);
    expect(float32Bits(float16BitsToFloat32(0xfe00)) >>> 0).toBe(0xffc00000);
    // A signalling NaN cannot survive a trip through a JS number, but the array decoder writes bits.
    const out = new Float32Array(2);
    decodeToFloat32('F16', new Uint8Array([0x01, 0x7c, 0x01, 0xfe]), out, 0);
    expect([...new Uint32Array(out.buffer)]).toEqual([0x7f802000, 0xffc02000]);
  });

  it('round-trips every finite float16 through encode', () => {
    for (let h = 0; h < 0x10000; h++) {
      if ((h & 0x7c00) === 0x7c00) continue;
      expect(float32ToFloat16Bits(float16BitsToFloat32(h))).toBe(h);
    }
  });
});

describe('bfloat16 → float32 (exact widening)', () => {
  it.each([
    [0x3f80, 1],
    [0xc049, -3.140625], // −(1 + 73/128) · 2
    [0x0001, 2 ** -133], // smallest subnormal
    [0x7f7f, (2 - 2 ** -7) * 2 ** 127], // largest finite
    [0x7f80, Infinity],
    [0xff80, -Infinity],
  ])('0x%s', (bits, value) => {
    expect(bfloat16BitsToFloat32(bits)).toBe(value);
  });

  it('keeps -0 and NaN', () => {
    expect(Object.is(bfloat16BitsToFloat32(0x8000), -0)).toBe(true);
    expect(float32Bits(bfloat16BitsToFloat32(0x7fc1))).toBe(0x7fc10000);
    const out = new Float32Array(1);
    decodeToFloat32('BF16', new Uint8Array([0x81, 0xff]), out, 0);
    expect(new Uint32Array(out.buffer)[0]).toBe(0xff810000);
  });
});

describe('float32 → float16 (round to nearest even)', () => {
  it.each([
    [1, 0x3c00],
    [-0, 0x8000],
    [65504, 0x7bff],
    [65519, 0x7bff], // below the midpoint 65520
    [65520, 0x7c00], // midpoint: ties to even, which is Inf
    [1e5, 0x7c00],
    [-1e5, 0xfc00],
    [Infinity, 0x7c00],
    [2 ** -24, 0x0001],
    [2 ** -25, 0x0000], // half the smallest subnormal: ties to even (0)
    [3 * 2 ** -26, 0x0001], // 0.75 of a unit rounds up
    [3 * 2 ** -25, 0x0002], // 1.5 units: ties to even (2)
    [1023.5 * 2 ** -24, 0x0400], // carries from subnormal to the smallest normal
    [1 + 2 ** -11, 0x3c00], // tie, even mantissa stays
    [1 + 3 * 2 ** -11, 0x3c02], // tie, odd mantissa rounds up
    [2 ** -30, 0x0000],
  ])('%s', (value, bits) => {
    expect(float32ToFloat16Bits(value)).toBe(bits);
  });

  it('maps NaN to a quiet NaN', () => {
    expect(float32ToFloat16Bits(Number.NaN)).toBe(0x7e00);
  });
});

describe('float32 → bfloat16 (round to nearest even)', () => {
  it.each([
    [1, 0x3f80],
    [1 + 2 ** -8, 0x3f80], // tie, even stays
    [1 + 3 * 2 ** -8, 0x3f82], // tie, odd rounds up
    [1 + 2 ** -8 + 2 ** -20, 0x3f81], // above the tie
    [3.4028234663852886e38, 0x7f80], // float32 max rounds to Inf
    [-0, 0x8000],
  ])('%s', (value, bits) => {
    expect(float32ToBFloat16Bits(value)).toBe(bits);
  });

  it('maps NaN to a quiet NaN and agrees with encodeFloat32', () => {
    expect(float32ToBFloat16Bits(Number.NaN)).toBe(0x7fc0);
    const values = new Float32Array([1, 1 + 2 ** -8, 1 + 3 * 2 ** -8, -2.5, Number.NaN, 65520, 2 ** -25]);
    expect([...encodeFloat32(values, 'BF16')]).toEqual([...values].map(float32ToBFloat16Bits));
    expect([...encodeFloat32(values, 'F16')]).toEqual([...values].map(float32ToFloat16Bits));
  });
});

describe('float8', () => {
  it('E4M3 (FN): bias 7, no Inf, only S.1111.111 is NaN', () => {
    expect(float8E4M3ToFloat32(0x38)).toBe(1);
    expect(float8E4M3ToFloat32(0xb8)).toBe(-1);
    expect(float8E4M3ToFloat32(0x7e)).toBe(448);
    expect(float8E4M3ToFloat32(0x01)).toBe(2 ** -9);
    expect(float8E4M3ToFloat32(0x08)).toBe(2 ** -6);
    expect(Object.is(float8E4M3ToFloat32(0x80), -0)).toBe(true);
    expect(Number.isNaN(float8E4M3ToFloat32(0x7f))).toBe(true);
    expect(Number.isNaN(float8E4M3ToFloat32(0xff))).toBe(true);
    expect(float8E4M3ToFloat32(0x78)).toBe(256); // exponent 15 is finite in E4M3FN
  });

  it('E5M2: the top byte of a float16', () => {
    expect(float8E5M2ToFloat32(0x3c)).toBe(1);
    expect(float8E5M2ToFloat32(0x7c)).toBe(Infinity);
    expect(float8E5M2ToFloat32(0x01)).toBe(2 ** -16);
    expect(float8E5M2ToFloat32(0x7b)).toBe(57344);
  });
});

describe('bigIntToFloat32', () => {
  it('rounds once, to nearest even', () => {
    expect(bigIntToFloat32(2n ** 24n + 1n)).toBe(2 ** 24);
    expect(bigIntToFloat32(2n ** 24n + 3n)).toBe(2 ** 24 + 4);
    expect(bigIntToFloat32(2n ** 60n + 2n ** 36n)).toBe(2 ** 60); // exact tie → even
    // Through a double this would round twice (to the tie, then to even) and give 2^60.
    expect(bigIntToFloat32(2n ** 60n + 2n ** 36n + 1n)).toBe(2 ** 60 + 2 ** 37);
    expect(bigIntToFloat32(-(2n ** 63n))).toBe(-(2 ** 63));
    expect(bigIntToFloat32(2n ** 64n - 1n)).toBe(2 ** 64);
    expect(bigIntToFloat32(-5n)).toBe(-5);
  });
});

describe('decodeToFloat32 / decodeToInt32', () => {
  const le = (fill: (v: DataView) => void, n: number): Uint8Array => {
    const bytes = new Uint8Array(n);
    fill(new DataView(bytes.buffer));
    return bytes;
  };

  it('decodes each dtype little-endian at an output offset', () => {
    const out = new Float32Array(4).fill(99);
    decodeToFloat32('I16', le((v) => (v.setInt16(0, -300, true), v.setInt16(2, 7, true)), 4), out, 1);
    expect([...out]).toEqual([99, -300, 7, 99]);
    decodeToFloat32('F64', le((v) => v.setFloat64(0, 0.1, true), 8), out, 0);
    expect(out[0]).toBe(Math.fround(0.1));
    decodeToFloat32('BOOL', new Uint8Array([0, 2, 1]), out, 1);
    expect([...out.subarray(1)]).toEqual([0, 1, 1]);
    decodeToFloat32('U32', le((v) => v.setUint32(0, 4294967295, true), 4), out, 0);
    expect(out[0]).toBe(4294967296);
    decodeToFloat32('I8', new Uint8Array([0xff]), out, 0);
    expect(out[0]).toBe(-1);
  });

  it('decodes integers to int32 and reports the first value out of range', () => {
    const out = new Int32Array(3);
    const i64 = le((v) => {
      v.setBigInt64(0, -(2n ** 31n), true);
      v.setBigInt64(8, 2n ** 31n - 1n, true);
      v.setBigInt64(16, 2n ** 31n, true);
    }, 24);
    expect(decodeToInt32('I64', i64.subarray(0, 16), out, 0)).toBe(-1);
    expect([...out.subarray(0, 2)]).toEqual([-(2 ** 31), 2 ** 31 - 1]);
    expect(decodeToInt32('I64', i64, out, 0)).toBe(2);
    expect(decodeToInt32('U32', le((v) => v.setUint32(4, 2 ** 31, true), 8), out, 0)).toBe(1);
    expect(() => decodeToInt32('F16', new Uint8Array(2), out, 0)).toThrow(/float32/);
  });
});
