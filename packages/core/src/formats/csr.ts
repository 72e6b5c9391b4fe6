import { PruneError, assert } from '../errors.js';
import { type WeightInput, matrixDims, readWeight } from './dense.js';

/**
 * Compressed sparse row (CSR) encoding of a weight: the nonzeros of each row in column
 * order, their column indices, and where each row starts.
 *
 * A weight counts as zero (pruned) when `w === 0`, so `-0` is pruned too and decodes as
 * `+0`; every other value — NaN and ±Infinity included — is stored bit for bit.
 */
export interface CsrEncoding {
  /** Format tag. */
  readonly format: 'csr';
  /** Shape of the dense weight; the last axis is d_in, the leading axes are the rows. */
  readonly shape: readonly number[];
  /** The nonzeros, row by row, in increasing column order (length nnz). */
  readonly values: Float32Array;
  /**
   * Column of each value (length nnz): `Uint16Array` when d_in ≤ 65 536, else `Uint32Array`.
   */
  readonly columnIndices: Uint16Array | Uint32Array;
  /** `rowPointers[r]..rowPointers[r+1]` index row r's values (length rows + 1). */
  readonly rowPointers: Uint32Array;
}

/** Largest d_in whose column indices fit in 16 bits. */
const UINT16_COLUMNS = 65_536;

/** The narrowest column-index array for `columns` (d_in) and `nnz` entries. */
function columnIndexArray(columns: number, nnz: number): Uint16Array | Uint32Array {
  return columns <= UINT16_COLUMNS ? new Uint16Array(nnz) : new Uint32Array(nnz);
}

/** Bytes per column index for a weight with `columns` (d_in) columns. */
export function csrColumnIndexBytes(columns: number): 2 | 4 {
  return columns <= UINT16_COLUMNS ? 2 : 4;
}

/**
 * Encodes a weight in {@link CsrEncoding | CSR}. O(numel): one pass to count, one to fill.
 * @param weight - float32 tensor or host array; rank ≥ 1, last axis = d_in
 * @returns the CSR encoding (fresh arrays the caller owns)
 *
 * @example
 * ```ts
 * const csr = encodeCsr(tensor([[0, 1.5, 0], [2, 0, 0]]));
 * // csr.values = [1.5, 2], csr.columnIndices = [1, 0], csr.rowPointers = [0, 1, 2]
 * ```
 */
export function encodeCsr(weight: WeightInput): CsrEncoding {
  const { values, shape, rows, columns } = readWeight(weight, 'encodeCsr');
  let nnz = 0;
  for (let i = 0; i < values.length; i++) if (values[i] !== 0) nnz++;
  assert(nnz <= 0xffff_ffff, 'OUT_OF_RANGE', `encodeCsr: ${nnz} nonzeros exceed the 2^32 - 1 a row pointer can address; split the weight`);
  const out = new Float32Array(nnz);
  const cols = columnIndexArray(columns, nnz);
  const rowPointers = new Uint32Array(rows + 1);
  let k = 0;
  for (let r = 0; r < rows; r++) {
    const base = r * columns;
    for (let c = 0; c < columns; c++) {
      const v = values[base + c];
      if (v !== 0) {
        out[k] = v;
        cols[k] = c;
        k++;
      }
    }
    rowPointers[r + 1] = k;
  }
  return { format: 'csr', shape: [...shape], values: out, columnIndices: cols, rowPointers };
}

/**
 * Checks that `csr` is well formed: array lengths, monotone row pointers, strictly
 * increasing in-range columns per row. Throws `INVALID_ARGUMENT` naming the first fault.
 * @param csr - encoding to check
 */
export function validateCsr(csr: CsrEncoding): void {
  const op = 'CSR encoding';
  assert(csr !== null && typeof csr === 'object', 'INVALID_ARGUMENT', `${op}: expected an object`);
  const { rows, columns } = matrixDims(csr.shape, op);
  const { values, columnIndices: cols, rowPointers } = csr;
  assert(values instanceof Float32Array, 'INVALID_ARGUMENT', `${op}: values must be a Float32Array`);
  assert(cols instanceof Uint16Array || cols instanceof Uint32Array, 'INVALID_ARGUMENT', `${op}: columnIndices must be a Uint16Array or Uint32Array`);
  assert(rowPointers instanceof Uint32Array, 'INVALID_ARGUMENT', `${op}: rowPointers must be a Uint32Array`);
  assert(
    rowPointers.length === rows + 1,
    'INVALID_ARGUMENT',
    () => `${op}: rowPointers has ${rowPointers.length} entries; a weight with ${rows} rows needs ${rows + 1}`,
  );
  assert(cols.length === values.length, 'INVALID_ARGUMENT', () => `${op}: ${values.length} values but ${cols.length} column indices`);
  assert(rowPointers[0] === 0, 'INVALID_ARGUMENT', () => `${op}: rowPointers[0] is ${rowPointers[0]}, must be 0`);
  assert(
    rowPointers[rows] === values.length,
    'INVALID_ARGUMENT',
    () => `${op}: the last row pointer is ${rowPointers[rows]} but there are ${values.length} values`,
  );
  for (let r = 0; r < rows; r++) {
    const start = rowPointers[r];
    const end = rowPointers[r + 1];
    if (end < start) throw new PruneError('INVALID_ARGUMENT', `${op}: rowPointers decrease at row ${r} (${start} → ${end})`);
    let previous = -1;
    for (let k = start; k < end; k++) {
      const c = cols[k];
      if (c >= columns || c <= previous) {
        throw new PruneError(
          'INVALID_ARGUMENT',
          `${op}: row ${r} has column index ${c} after ${previous}; indices must increase strictly and stay below d_in = ${columns}`,
        );
      }
      previous = c;
    }
  }
}

/**
 * Decodes a {@link CsrEncoding} to a dense row-major array of `csr.shape`. Exact inverse of
 * {@link encodeCsr} (a pruned `-0` comes back as `+0`). Wrap the result with
 * `fromArray(dense, csr.shape, 'float32')` for a tensor.
 * @param csr - a well-formed encoding (checked; malformed input throws `INVALID_ARGUMENT`)
 * @returns a fresh dense array
 */
export function decodeCsr(csr: CsrEncoding): Float32Array {
  validateCsr(csr);
  const { rows, columns } = matrixDims(csr.shape, 'decodeCsr');
  const dense = new Float32Array(rows * columns);
  const { values, columnIndices: cols, rowPointers } = csr;
  for (let r = 0; r < rows; r++) {
    const base = r * columns;
    for (let k = rowPointers[r], end = rowPointers[r + 1]; k < end; k++) dense[base + cols[k]] = values[k];
  }
  return dense;
}

/**
 * Payload bytes of a CSR encoding: values (4 bytes each), column indices (2 or 4) and row
 * pointers (4 each). The shape and format tag are not counted.
 * @param csr - the encoding
 * @returns `values.byteLength + columnIndices.byteLength + rowPointers.byteLength`
 */
export function csrByteSize(csr: CsrEncoding): number {
  return csr.values.byteLength + csr.columnIndices.byteLength + csr.rowPointers.byteLength;
}
