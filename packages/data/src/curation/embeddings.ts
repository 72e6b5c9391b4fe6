import { PruneError } from '@prune/core';
import { checkFinite } from '../internal/validate.js';

/**
 * A matrix of embeddings: `count` rows of `dim` float32 values, row after row. The same
 * layout as a `[count, dim]` tensor's data or a C-order `.npy` file.
 */
export interface Embeddings {
  /** `count·dim` values, row-major. */
  readonly data: Float32Array;
  /** Number of rows (examples). */
  readonly count: number;
  /** Values per row. */
  readonly dim: number;
}

/**
 * Wraps `data` as {@link Embeddings} after checking its size and that every value is
 * finite (a NaN would silently poison every centroid it touches).
 *
 * @param data - `count·dim` values, row-major
 * @param dim - values per row
 * @returns the checked matrix (no copy)
 * @throws PruneError `SHAPE_MISMATCH` when `data.length` is not a multiple of `dim`,
 *   `NON_FINITE` when a value is NaN or infinite
 */
export function embeddingMatrix(data: Float32Array, dim: number): Embeddings {
  if (!(data instanceof Float32Array)) {
    throw new PruneError('DTYPE_MISMATCH', `embeddings must be a Float32Array (row-major, count·dim values), got ${Object.prototype.toString.call(data)}`);
  }
  if (!Number.isInteger(dim) || dim < 1) throw new PruneError('INVALID_ARGUMENT', `the embedding dimension must be a positive integer, got ${dim}`);
  if (data.length % dim !== 0) {
    throw new PruneError('SHAPE_MISMATCH', `${data.length} embedding values are not a whole number of rows of ${dim}; check the dimension`);
  }
  checkFinite('the embeddings', data);
  return { data, count: data.length / dim, dim };
}

/**
 * Checks the shape of an {@link Embeddings} value passed in by a caller, but not its values:
 * for functions that check finiteness during a pass they make anyway.
 * @param e - the matrix
 * @param what - the function that received it, for the message
 */
export function checkEmbeddingShape(e: Embeddings, what: string): void {
  if (e === null || typeof e !== 'object' || !(e.data instanceof Float32Array)) {
    throw new PruneError('INVALID_ARGUMENT', `${what} needs embeddings as { data: Float32Array, count, dim }; build them with embeddingMatrix(data, dim)`);
  }
  if (!Number.isInteger(e.dim) || e.dim < 1 || !Number.isInteger(e.count) || e.count < 0 || e.data.length !== e.count * e.dim) {
    throw new PruneError('SHAPE_MISMATCH', `${what}: embeddings claim ${e.count}×${e.dim} but hold ${e.data.length} values`);
  }
}

/**
 * Checks an {@link Embeddings} value passed in by a caller: its shape and that every value is
 * finite.
 * @param e - the matrix
 * @param what - the function that received it, for the message
 */
export function checkEmbeddings(e: Embeddings, what: string): void {
  checkEmbeddingShape(e, what);
  checkFinite('the embeddings', e.data);
}

/**
 * Throws the `NON_FINITE` error for row `row` of `e`, known to hold a NaN or infinite value
 * (found by a pass that reads every row anyway, e.g. its squared norm is not finite).
 * @param e - the matrix
 * @param row - the row
 */
export function rejectNonFiniteRow(e: Embeddings, row: number): never {
  for (let i = row * e.dim; i < (row + 1) * e.dim; i++) {
    const v = e.data[i];
    if (!Number.isFinite(v)) {
      throw new PruneError('NON_FINITE', `the embeddings hold ${v} at element ${i}; remove or repair non-finite values (NaN, ±Infinity) before scoring or clustering`);
    }
  }
  throw new PruneError('NON_FINITE', `the embeddings hold a non-finite value in row ${row}; remove or repair non-finite values (NaN, ±Infinity) before clustering`);
}
