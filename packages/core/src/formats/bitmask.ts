import { PruneError, assert } from '../errors.js';
import { packedBytes } from './bits.js';
import { type WeightInput, matrixDims, readWeight } from './dense.js';

/**
 * Bitmask encoding of a weight: one bit per element (1 = nonzero), least significant bit
 * first over the row-major element order, followed by the nonzero values in that order.
 * Cheaper than CSR once more than about 1/16 of the weights are kept (a bit per weight
 * against 16 or 32 bits per kept weight). As in CSR, `-0` counts as zero.
 */
export interface BitmaskEncoding {
  /** Format tag. */
  readonly format: 'bitmask';
  /** Shape of the dense weight. */
  readonly shape: readonly number[];
  /** The nonzeros in row-major order (length nnz). */
  readonly values: Float32Array;
  /** `ceil(numel / 8)` bytes; bit i (bit i % 8 of byte ⌊i/8⌋) is set when element i is nonzero. */
  readonly mask: Uint8Array;
}

/**
 * Encodes a weight as a {@link BitmaskEncoding}. O(numel).
 * @param weight - float32 tensor or host array; rank ≥ 1
 * @returns the encoding (fresh arrays the caller owns)
 */
export function encodeBitmask(weight: WeightInput): BitmaskEncoding {
  const { values, shape } = readWeight(weight, 'encodeBitmask');
  const size = values.length;
  const mask = new Uint8Array(packedBytes(size, 1));
  let nnz = 0;
  for (let i = 0; i < size; i++) {
    if (values[i] !== 0) {
      mask[i >>> 3] |= 1 << (i & 7);
      nnz++;
    }
  }
  const out = new Float32Array(nnz);
  for (let i = 0, k = 0; i < size; i++) if (values[i] !== 0) out[k++] = values[i];
  return { format: 'bitmask', shape: [...shape], values: out, mask };
}

/** Number of set bits of a byte. */
function popcount8(byte: number): number {
  let b = byte - ((byte >>> 1) & 0x55);
  b = (b & 0x33) + ((b >>> 2) & 0x33);
  return (b + (b >>> 4)) & 0x0f;
}

/**
 * Checks that `enc` is well formed: mask length, zero bits past the last element, and one
 * value per set bit.
 * @param enc - encoding to check
 */
export function validateBitmask(enc: BitmaskEncoding): void {
  const op = 'bitmask encoding';
  assert(enc !== null && typeof enc === 'object', 'INVALID_ARGUMENT', `${op}: expected an object`);
  const { rows, columns } = matrixDims(enc.shape, op);
  const size = rows * columns;
  assert(enc.values instanceof Float32Array, 'INVALID_ARGUMENT', `${op}: values must be a Float32Array`);
  assert(enc.mask instanceof Uint8Array, 'INVALID_ARGUMENT', `${op}: mask must be a Uint8Array`);
  assert(
    enc.mask.length === packedBytes(size, 1),
    'INVALID_ARGUMENT',
    () => `${op}: ${enc.mask.length} mask bytes; ${size} elements need ${packedBytes(size, 1)}`,
  );
  let set = 0;
  for (let i = 0; i < enc.mask.length; i++) set += popcount8(enc.mask[i]);
  if (size % 8 !== 0 && enc.mask[enc.mask.length - 1] >>> (size % 8) !== 0) {
    throw new PruneError('INVALID_ARGUMENT', `${op}: mask bits past the last element are set`);
  }
  assert(set === enc.values.length, 'INVALID_ARGUMENT', () => `${op}: the mask marks ${set} nonzeros but ${enc.values.length} values are stored`);
}

/**
 * Decodes a {@link BitmaskEncoding} to a dense row-major array; exact inverse of
 * {@link encodeBitmask} (a pruned `-0` comes back as `+0`).
 * @param enc - a well-formed encoding (checked; malformed input throws `INVALID_ARGUMENT`)
 * @returns a fresh dense array
 */
export function decodeBitmask(enc: BitmaskEncoding): Float32Array {
  validateBitmask(enc);
  const { rows, columns } = matrixDims(enc.shape, 'decodeBitmask');
  const size = rows * columns;
  const dense = new Float32Array(size);
  const { mask, values } = enc;
  for (let i = 0, k = 0; i < size; i++) if ((mask[i >>> 3] >>> (i & 7)) & 1) dense[i] = values[k++];
  return dense;
}

/** Payload bytes of a bitmask encoding: `values.byteLength + mask.byteLength`. */
export function bitmaskByteSize(enc: BitmaskEncoding): number {
  return enc.values.byteLength + enc.mask.byteLength;
}
