import { PruneError } from '../errors.js';

/**
 * Element types of the safetensors format that this package reads and writes. Names are the
 * format's own. Every one is readable bit-exactly (`as: 'raw'`) and convertible to float32.
 */
export type SafetensorsDType =
  | 'BOOL'
  | 'U8'
  | 'I8'
  | 'F8_E5M2'
  | 'F8_E4M3'
  | 'I16'
  | 'U16'
  | 'F16'
  | 'BF16'
  | 'I32'
  | 'U32'
  | 'F32'
  | 'F64'
  | 'I64'
  | 'U64';

/**
 * Every {@link SafetensorsDType}, in the order of the reference implementation's `Dtype`
 * enum. Its writer lays tensors out by descending position in this list (larger alignment
 * first), then by name, and so does ours.
 */
export const SAFETENSORS_DTYPES: readonly SafetensorsDType[] = Object.freeze([
  'BOOL',
  'U8',
  'I8',
  'F8_E5M2',
  'F8_E4M3',
  'I16',
  'U16',
  'F16',
  'BF16',
  'I32',
  'U32',
  'F32',
  'F64',
  'I64',
  'U64',
]);

const ITEM_SIZE: Readonly<Record<SafetensorsDType, number>> = Object.freeze({
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
});

/** True when `value` names a {@link SafetensorsDType}. */
export function isSafetensorsDType(value: unknown): value is SafetensorsDType {
  return typeof value === 'string' && Object.hasOwn(ITEM_SIZE, value);
}

/** Bytes per element of `dtype`. */
export function safetensorsItemSize(dtype: SafetensorsDType): number {
  return ITEM_SIZE[dtype];
}

/** Position of `dtype` in {@link SAFETENSORS_DTYPES}, the reference writer's alignment order. */
export function safetensorsDTypeRank(dtype: SafetensorsDType): number {
  return SAFETENSORS_DTYPES.indexOf(dtype);
}

/** True for the floating-point dtypes (F8_E5M2, F8_E4M3, F16, BF16, F32, F64). */
export function isFloatDType(dtype: SafetensorsDType): boolean {
  return dtype === 'F16' || dtype === 'BF16' || dtype === 'F32' || dtype === 'F64' || dtype === 'F8_E5M2' || dtype === 'F8_E4M3';
}

/** True when this machine stores numbers little-endian, as safetensors files do. */
export const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** The IEEE-754 bit pattern of `value` rounded to float32. */
export function float32Bits(value: number): number {
  f32Scratch[0] = value;
  return u32Scratch[0];
}

/** The float32 whose IEEE-754 bit pattern is `bits`. */
export function float32FromBits(bits: number): number {
  u32Scratch[0] = bits >>> 0;
  return f32Scratch[0];
}

/** float32 bit pattern of each float16 bit pattern, built on first use (256 KiB). */
let f16Table: Uint32Array | undefined;

function halfBitsToFloatBits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exponent = (h >>> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0x1f) return (sign | 0x7f800000 | (mantissa << 13)) >>> 0; // Inf, or NaN with its payload
  if (exponent !== 0) return (sign | ((exponent + 112) << 23) | (mantissa << 13)) >>> 0;
  if (mantissa === 0) return sign >>> 0; // ±0
  // Subnormal: mantissa · 2⁻²⁴ is exact in float32, which normalises it.
  return (sign | float32Bits(mantissa * 2 ** -24)) >>> 0;
}

function halfTable(): Uint32Array {
  if (f16Table === undefined) {
    const table = new Uint32Array(65536);
    for (let h = 0; h < 65536; h++) table[h] = halfBitsToFloatBits(h);
    f16Table = table;
  }
  return f16Table;
}

/**
 * Widens a float16 (IEEE binary16) bit pattern to the float32 with the same value. Exact for
 * every input: subnormals, ±0, ±Inf, and NaN (payload kept in the top mantissa bits).
 */
export function float16BitsToFloat32(bits: number): number {
  return float32FromBits(halfTable()[bits & 0xffff]);
}

/** Widens a bfloat16 bit pattern to float32: exact, since bfloat16 is float32's top half. */
export function bfloat16BitsToFloat32(bits: number): number {
  return float32FromBits((bits & 0xffff) << 16);
}

let e4m3Table: Uint32Array | undefined;

/**
 * float32 bits of an F8_E4M3 byte (the "FN" variant: exponent bias 7, no infinities, only
 * `S.1111.111` is NaN, largest finite ±448).
 */
function e4m3Table256(): Uint32Array {
  if (e4m3Table === undefined) {
    const table = new Uint32Array(256);
    for (let b = 0; b < 256; b++) {
      const negative = (b & 0x80) !== 0;
      const exponent = (b >>> 3) & 0xf;
      const mantissa = b & 0x7;
      let value: number;
      if (exponent === 0xf && mantissa === 0x7) value = Number.NaN;
      else if (exponent === 0) value = mantissa * 2 ** -9;
      else value = (1 + mantissa / 8) * 2 ** (exponent - 7);
      table[b] = Number.isNaN(value) ? (negative ? 0xffc00000 : 0x7fc00000) : float32Bits(negative ? -value : value) | (negative ? 0x80000000 : 0);
    }
    e4m3Table = table;
  }
  return e4m3Table;
}

/** Widens an F8_E4M3 (E4M3FN) byte to float32, exactly. */
export function float8E4M3ToFloat32(byte: number): number {
  return float32FromBits(e4m3Table256()[byte & 0xff]);
}

/** Widens an F8_E5M2 byte to float32, exactly (E5M2 is the top byte of a float16). */
export function float8E5M2ToFloat32(byte: number): number {
  return float16BitsToFloat32((byte & 0xff) << 8);
}

/**
 * Rounds `value` to the nearest float16 (ties to even) and returns its bit pattern. Values
 * beyond the float16 range become ±Inf, tiny ones subnormals or ±0; NaN stays NaN (quiet).
 */
export function float32ToFloat16Bits(value: number): number {
  const f = float32Bits(value);
  const sign = (f >>> 16) & 0x8000;
  const exponent = (f >>> 23) & 0xff;
  const mantissa = f & 0x7fffff;
  if (exponent === 0xff) return mantissa === 0 ? sign | 0x7c00 : sign | 0x7e00 | (mantissa >>> 13);
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e >= 1) {
    let half = (e << 10) | (mantissa >>> 13);
    const rest = mantissa & 0x1fff;
    if (rest > 0x1000 || (rest === 0x1000 && (half & 1) === 1)) half++; // may carry into Inf: correct
    return sign | half;
  }
  if (e < -10) return sign; // below half the smallest subnormal: rounds to ±0
  const m = mantissa | 0x800000;
  const shift = 14 - e;
  let half = m >>> shift;
  const rest = m & ((1 << shift) - 1);
  const halfway = 1 << (shift - 1);
  if (rest > halfway || (rest === halfway && (half & 1) === 1)) half++;
  return sign | half;
}

/**
 * Rounds `value` to the nearest bfloat16 (ties to even) and returns its bit pattern; NaN
 * stays NaN (quiet), overflow becomes ±Inf.
 */
export function float32ToBFloat16Bits(value: number): number {
  const f = float32Bits(value);
  if ((f & 0x7f800000) === 0x7f800000 && (f & 0x7fffff) !== 0) return (f >>> 16) | 0x40;
  return ((f + 0x7fff + ((f >>> 16) & 1)) >>> 16) & 0xffff;
}

/**
 * Encodes float32 values as F16 or BF16 bit patterns (round to nearest, ties to even), ready
 * to be written as a tensor of that dtype.
 *
 * @param values - the values
 * @param dtype - target half-precision format
 * @returns one bit pattern per value
 */
export function encodeFloat32(values: Float32Array, dtype: 'F16' | 'BF16'): Uint16Array {
  const out = new Uint16Array(values.length);
  if (dtype === 'BF16') {
    const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
    for (let i = 0; i < values.length; i++) {
      const f = bits[i];
      out[i] = (f & 0x7f800000) === 0x7f800000 && (f & 0x7fffff) !== 0 ? (f >>> 16) | 0x40 : ((f + 0x7fff + ((f >>> 16) & 1)) >>> 16) & 0xffff;
    }
  } else if (dtype === 'F16') {
    for (let i = 0; i < values.length; i++) out[i] = float32ToFloat16Bits(values[i]);
  } else {
    throw new PruneError('INVALID_ARGUMENT', `encodeFloat32: dtype must be 'F16' or 'BF16', got ${String(dtype)}`);
  }
  return out;
}

/**
 * Rounds a 64-bit integer to the nearest float32 (ties to even) with a single rounding;
 * going through a double first could round twice and be off by one unit.
 */
export function bigIntToFloat32(value: bigint): number {
  const negative = value < 0n;
  const magnitude = negative ? -value : value;
  if (magnitude < 1n << 53n) return Math.fround(negative ? -Number(magnitude) : Number(magnitude));
  const bitLength = magnitude.toString(2).length;
  const drop = BigInt(bitLength - 24);
  let kept = magnitude >> drop;
  const rest = magnitude - (kept << drop);
  const halfway = 1n << (drop - 1n);
  if (rest > halfway || (rest === halfway && (kept & 1n) === 1n)) kept += 1n;
  const result = Number(kept) * 2 ** Number(drop); // exact: ≤ 25 significant bits times a power of two
  return negative ? -result : result;
}

/**
 * Decodes little-endian elements of `dtype` from `bytes` into `out[outOffset…]` as float32.
 * Floats widen exactly (F64 and 64-bit integers round to nearest); BOOL gives 1 for any
 * non-zero byte.
 *
 * @param dtype - element type of `bytes`
 * @param bytes - whole elements, little-endian
 * @param out - destination
 * @param outOffset - index in `out` of the first decoded element
 */
export function decodeToFloat32(dtype: SafetensorsDType, bytes: Uint8Array, out: Float32Array, outOffset: number): void {
  const n = bytes.byteLength / ITEM_SIZE[dtype];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case 'F32':
      if (HOST_IS_LITTLE_ENDIAN) new Uint8Array(out.buffer, out.byteOffset + outOffset * 4, bytes.byteLength).set(bytes);
      else for (let i = 0; i < n; i++) out[outOffset + i] = view.getFloat32(i * 4, true);
      return;
    case 'F16': {
      const table = halfTable();
      const outBits = new Uint32Array(out.buffer, out.byteOffset + outOffset * 4, n);
      for (let i = 0; i < n; i++) outBits[i] = table[view.getUint16(i * 2, true)];
      return;
    }
    case 'BF16': {
      const outBits = new Uint32Array(out.buffer, out.byteOffset + outOffset * 4, n);
      for (let i = 0; i < n; i++) outBits[i] = view.getUint16(i * 2, true) << 16;
      return;
    }
    case 'F8_E5M2': {
      const table = halfTable();
      const outBits = new Uint32Array(out.buffer, out.byteOffset + outOffset * 4, n);
      for (let i = 0; i < n; i++) outBits[i] = table[bytes[i] << 8];
      return;
    }
    case 'F8_E4M3': {
      const table = e4m3Table256();
      const outBits = new Uint32Array(out.buffer, out.byteOffset + outOffset * 4, n);
      for (let i = 0; i < n; i++) outBits[i] = table[bytes[i]];
      return;
    }
    case 'F64':
      for (let i = 0; i < n; i++) out[outOffset + i] = view.getFloat64(i * 8, true);
      return;
    case 'BOOL':
      for (let i = 0; i < n; i++) out[outOffset + i] = bytes[i] === 0 ? 0 : 1;
      return;
    case 'U8':
      for (let i = 0; i < n; i++) out[outOffset + i] = bytes[i];
      return;
    case 'I8':
      for (let i = 0; i < n; i++) out[outOffset + i] = view.getInt8(i);
      return;
    case 'I16':
      for (let i = 0; i < n; i++) out[outOffset + i] = view.getInt16(i * 2, true);
      return;
    case 'U16':
      for (let i = 0; i < n; i++) out[outOffset + i] = view.getUint16(i * 2, true);
      return;
    case 'I32':
      for (let i = 0; i < n; i++) out[outOffset + i] = view.getInt32(i * 4, true);
      return;
    case 'U32':
      for (let i = 0; i < n; i++) out[outOffset + i] = view.getUint32(i * 4, true);
      return;
    case 'I64':
      for (let i = 0; i < n; i++) out[outOffset + i] = bigIntToFloat32(view.getBigInt64(i * 8, true));
      return;
    case 'U64':
      for (let i = 0; i < n; i++) out[outOffset + i] = bigIntToFloat32(view.getBigUint64(i * 8, true));
      return;
  }
}

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

/**
 * Decodes little-endian integer (or BOOL) elements into `out[outOffset…]` as int32.
 *
 * @param dtype - an integer dtype or BOOL
 * @param bytes - whole elements, little-endian
 * @param out - destination
 * @param outOffset - index in `out` of the first decoded element
 * @returns `-1` when every value fit, else the index (within `bytes`) of the first value
 *   outside the int32 range, which is left undecoded
 */
export function decodeToInt32(dtype: SafetensorsDType, bytes: Uint8Array, out: Int32Array, outOffset: number): number {
  const n = bytes.byteLength / ITEM_SIZE[dtype];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case 'BOOL':
      for (let i = 0; i < n; i++) out[outOffset + i] = bytes[i] === 0 ? 0 : 1;
      return -1;
    case 'U8':
      for (let i = 0; i < n; i++) out[outOffset + i] = bytes[i];
      return -1;
    case 'I8':
      for (let i = 0; i < n; i++) out[outOffset + i] = view.getInt8(i);
      return -1;
    case 'I16':
      for (let i = 0; i < n; i++) out[outOffset + i] = view.getInt16(i * 2, true);
      return -1;
    case 'U16':
      for (let i = 0; i < n; i++) out[outOffset + i] = view.getUint16(i * 2, true);
      return -1;
    case 'I32':
      if (HOST_IS_LITTLE_ENDIAN) new Uint8Array(out.buffer, out.byteOffset + outOffset * 4, bytes.byteLength).set(bytes);
      else for (let i = 0; i < n; i++) out[outOffset + i] = view.getInt32(i * 4, true);
      return -1;
    case 'U32':
      for (let i = 0; i < n; i++) {
        const v = view.getUint32(i * 4, true);
        if (v > INT32_MAX) return i;
        out[outOffset + i] = v;
      }
      return -1;
    case 'I64':
      for (let i = 0; i < n; i++) {
        const v = view.getBigInt64(i * 8, true);
        if (v < BigInt(INT32_MIN) || v > BigInt(INT32_MAX)) return i;
        out[outOffset + i] = Number(v);
      }
      return -1;
    case 'U64':
      for (let i = 0; i < n; i++) {
        const v = view.getBigUint64(i * 8, true);
        if (v > BigInt(INT32_MAX)) return i;
        out[outOffset + i] = Number(v);
      }
      return -1;
    default:
      throw new PruneError('DTYPE_MISMATCH', `a ${dtype} tensor holds floating-point values and cannot be read as int32; read it as float32`);
  }
}
