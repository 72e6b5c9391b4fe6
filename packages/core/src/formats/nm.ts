import { PruneError, assert, type PruneErrorCode } from '../errors.js';
import { indexBits, packedBytes, readBits, writeBits } from './bits.js';
import { type WeightInput, matrixDims, readWeight } from './dense.js';

/** An N:M sparsity pattern: at most `n` nonzeros in every group of `m` consecutive input columns. */
export interface NmPattern {
  /** Kept (nonzero) slots per group, 1 ≤ n ≤ m. */
  readonly n: number;
  /** Group width in input columns, 1 ≤ m ≤ 65 536; d_in must be a multiple of m. */
  readonly m: number;
}

/**
 * N:M encoding of a weight (NVIDIA-style semi-structured sparsity): for every row and every
 * group of `m` consecutive input columns, exactly `n` values and their positions inside the
 * group.
 *
 * Layout: slot `s` of group `g` of row `r` is element `k = (r·groups + g)·n + s`, where
 * `groups = d_in / m`. `values[k]` is its value; its in-group position occupies bits
 * `[k·b, (k+1)·b)` of `indices` with `b = ceil(log2 m)` bits (2 for 2:4), least significant
 * bit first. Within a group the positions strictly increase. A group with fewer than `n`
 * nonzeros is padded with `+0` values at its lowest free positions, so the encoding of a
 * weight is unique. As in CSR, `-0` counts as zero.
 */
export interface NmEncoding extends NmPattern {
  /** Format tag. */
  readonly format: 'nm';
  /** Shape of the dense weight; the last axis is d_in, the leading axes are the rows. */
  readonly shape: readonly number[];
  /** `n` values per group (length rows · d_in/m · n). */
  readonly values: Float32Array;
  /** Bit-packed in-group positions, `ceil(log2 m)` bits per value. */
  readonly indices: Uint8Array;
}

/** Largest supported group width: positions then fit in 16 bits. */
const MAX_M = 65_536;

/** Checks an {@link NmPattern}; throws `INVALID_ARGUMENT` or `OUT_OF_RANGE`. */
export function checkNmPattern(pattern: NmPattern, op: string): void {
  assert(pattern !== null && typeof pattern === 'object', 'INVALID_ARGUMENT', `${op}: pass the pattern as { n, m }`);
  const { n, m } = pattern;
  assert(
    Number.isInteger(m) && m >= 1 && m <= MAX_M,
    'OUT_OF_RANGE',
    () => `${op}: m = ${m} must be an integer in [1, ${MAX_M}] (e.g. 4 for 2:4)`,
  );
  assert(
    Number.isInteger(n) && n >= 1 && n <= m,
    'OUT_OF_RANGE',
    () => `${op}: n = ${n} must be an integer in [1, m = ${m}] (n counts the kept values per group)`,
  );
}

function checkColumns(columns: number, m: number, op: string, code: PruneErrorCode = 'SHAPE_MISMATCH'): void {
  assert(
    columns % m === 0,
    code,
    () => `${op}: d_in = ${columns} is not a multiple of m = ${m}; N:M groups must tile the input dimension — use CSR or the bitmask format instead`,
  );
}

/**
 * Largest nonzero count of any group of `m` consecutive input columns, i.e. the smallest `n`
 * for which the weight satisfies `n:m`. Returns `undefined` when d_in is not a multiple of `m`.
 * @param weight - float32 tensor or host array; rank ≥ 1, last axis = d_in
 * @param m - group width
 */
export function maxNonzerosPerGroup(weight: WeightInput, m: number): number | undefined {
  checkNmPattern({ n: 1, m }, 'maxNonzerosPerGroup');
  const { values, rows, columns } = readWeight(weight, 'maxNonzerosPerGroup');
  if (columns % m !== 0) return undefined;
  return maxGroupCount(values, rows * columns, m);
}

/** Largest nonzero count of any aligned `m`-element group of `values[0..size)`. */
export function maxGroupCount(values: Float32Array, size: number, m: number): number {
  let max = 0;
  for (let start = 0; start < size; start += m) {
    let count = 0;
    for (let j = start, end = start + m; j < end; j++) if (values[j] !== 0) count++;
    if (count > max) max = count;
  }
  return max;
}

/**
 * Encodes a weight in the {@link NmEncoding | N:M format}. Every group of `m` consecutive
 * input columns must hold at most `n` nonzeros (apply an N:M mask first).
 * @param weight - float32 tensor or host array; rank ≥ 1, last axis = d_in (a multiple of m)
 * @param pattern - `{ n, m }`, e.g. `{ n: 2, m: 4 }` for 2:4 (keep 2 of every 4)
 * @returns the encoding (fresh arrays the caller owns)
 * @throws `SHAPE_MISMATCH` when d_in is not a multiple of m; `INVALID_ARGUMENT` naming the
 *   first row and group with more than n nonzeros
 */
export function encodeNm(weight: WeightInput, pattern: NmPattern): NmEncoding {
  checkNmPattern(pattern, 'encodeNm');
  const { n, m } = pattern;
  const { values, shape, rows, columns } = readWeight(weight, 'encodeNm');
  checkColumns(columns, m, 'encodeNm');
  const groups = columns / m;
  const bits = indexBits(m);
  const slots = rows * groups * n;
  const out = new Float32Array(slots);
  const indices = new Uint8Array(packedBytes(slots, bits));
  let k = 0;
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < groups; g++) {
      const start = r * columns + g * m;
      let nonzeros = 0;
      for (let j = 0; j < m; j++) if (values[start + j] !== 0) nonzeros++;
      if (nonzeros > n) {
        throw new PruneError(
          'INVALID_ARGUMENT',
          `encodeNm: row ${r}, group ${g} (columns ${g * m}..${g * m + m - 1}) has ${nonzeros} nonzeros, more than n = ${n} of ${n}:${m}; apply a ${n}:${m} mask first or use CSR`,
        );
      }
      // Walk the group in order: every nonzero is a slot, and so are the first
      // (n - nonzeros) zeros — the padding sits at the lowest free positions.
      let padding = n - nonzeros;
      for (let j = 0; j < m; j++) {
        const v = values[start + j];
        if (v !== 0) out[k] = v;
        else if (padding > 0) padding--;
        else continue;
        if (bits > 0) writeBits(indices, k * bits, bits, j);
        k++;
      }
    }
  }
  return { format: 'nm', shape: [...shape], n, m, values: out, indices };
}

/**
 * Checks that `nm` is well formed: pattern, shape, array lengths, in-range and strictly
 * increasing positions per group, zero bits after the last position.
 * @param nm - encoding to check
 */
export function validateNm(nm: NmEncoding): void {
  const op = 'N:M encoding';
  assert(nm !== null && typeof nm === 'object', 'INVALID_ARGUMENT', `${op}: expected an object`);
  checkNmPattern(nm, op);
  const { n, m, values, indices } = nm;
  const { rows, columns } = matrixDims(nm.shape, op);
  checkColumns(columns, m, op, 'INVALID_ARGUMENT');
  assert(values instanceof Float32Array, 'INVALID_ARGUMENT', `${op}: values must be a Float32Array`);
  assert(indices instanceof Uint8Array, 'INVALID_ARGUMENT', `${op}: indices must be a Uint8Array`);
  const groups = columns / m;
  const slots = rows * groups * n;
  const bits = indexBits(m);
  assert(values.length === slots, 'INVALID_ARGUMENT', () => `${op}: ${values.length} values; shape and ${n}:${m} need ${slots}`);
  assert(
    indices.length === packedBytes(slots, bits),
    'INVALID_ARGUMENT',
    () => `${op}: ${indices.length} index bytes; ${slots} positions of ${bits} bits need ${packedBytes(slots, bits)}`,
  );
  if (bits === 0) return;
  for (let group = 0, k = 0; group < rows * groups; group++) {
    let previous = -1;
    for (let s = 0; s < n; s++, k++) {
      const j = readBits(indices, k * bits, bits);
      if (j >= m || j <= previous) {
        throw new PruneError(
          'INVALID_ARGUMENT',
          `${op}: row ${Math.floor(group / groups)}, group ${group % groups} has position ${j} after ${previous}; positions must increase strictly and stay below m = ${m}`,
        );
      }
      previous = j;
    }
  }
  const usedBits = slots * bits;
  if (usedBits % 8 !== 0) {
    const last = indices[indices.length - 1];
    assert(last >>> (usedBits % 8) === 0, 'INVALID_ARGUMENT', `${op}: the padding bits after the last position are not zero`);
  }
}

/**
 * Decodes an {@link NmEncoding} to a dense row-major array of `nm.shape`; exact inverse of
 * {@link encodeNm} (a pruned `-0` comes back as `+0`).
 * @param nm - a well-formed encoding (checked; malformed input throws `INVALID_ARGUMENT`)
 * @returns a fresh dense array
 */
export function decodeNm(nm: NmEncoding): Float32Array {
  validateNm(nm);
  const { n, m, values, indices } = nm;
  const { rows, columns } = matrixDims(nm.shape, 'decodeNm');
  const dense = new Float32Array(rows * columns);
  const bits = indexBits(m);
  const groupCount = rows * (columns / m);
  for (let group = 0, k = 0; group < groupCount; group++) {
    const start = group * m;
    for (let s = 0; s < n; s++, k++) {
      const j = bits > 0 ? readBits(indices, k * bits, bits) : 0;
      dense[start + j] = values[k];
    }
  }
  return dense;
}

/**
 * Payload bytes of an N:M encoding: `values.byteLength + indices.byteLength`. The shape and
 * pattern are not counted.
 */
export function nmByteSize(nm: NmEncoding): number {
  return nm.values.byteLength + nm.indices.byteLength;
}

/**
 * Payload bytes an N:M encoding of a weight of `shape` would take, without encoding it:
 * `4·slots + ceil(slots·ceil(log2 m)/8)` with `slots = rows · d_in/m · n`.
 * @throws `SHAPE_MISMATCH` when d_in is not a multiple of m
 */
export function nmByteSizeFor(shape: readonly number[], pattern: NmPattern): number {
  checkNmPattern(pattern, 'nmByteSizeFor');
  const { rows, columns } = matrixDims(shape, 'nmByteSizeFor');
  checkColumns(columns, pattern.m, 'nmByteSizeFor');
  const slots = rows * (columns / pattern.m) * pattern.n;
  return slots * 4 + packedBytes(slots, indexBits(pattern.m));
}
