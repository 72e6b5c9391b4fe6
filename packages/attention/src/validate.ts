import { PruneError, type Tensor } from '@prune/core';

/** `[a, b, c]` for messages. */
export function shapeText(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** Throws unless `x` is a float32 tensor of rank `rank`. */
export function checkFloatTensor(op: string, what: string, x: unknown, rank: number): asserts x is Tensor<'float32'> {
  if (x === null || typeof x !== 'object' || !('shape' in x) || !('dtype' in x)) {
    throw new PruneError('INVALID_ARGUMENT', `${op}: ${what} must be a Tensor, got ${x === null ? 'null' : typeof x}`);
  }
  const t = x as Tensor;
  if (t.dtype !== 'float32') {
    throw new PruneError('DTYPE_MISMATCH', `${op}: ${what} must be float32, got ${t.dtype}; cast it with cast(x, 'float32')`);
  }
  if (t.rank !== rank) {
    throw new PruneError('SHAPE_MISMATCH', `${op}: ${what} must have rank ${rank}, got shape ${shapeText(t.shape)}`);
  }
}

/** Throws unless `value` is an integer ≥ 1. */
export function checkPositiveInt(op: string, what: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new PruneError('INVALID_ARGUMENT', `${op}: ${what} must be a positive integer, got ${String(value)}`);
  }
}

/**
 * Per-batch start of the real tokens (the number of left-padding positions), validated
 * against `batch` and the key length `n`. Missing means no padding.
 */
export function resolveSeqStart(op: string, seqStart: ArrayLike<number> | undefined, batch: number, n: number): Int32Array {
  const out = new Int32Array(batch);
  if (seqStart === undefined) return out;
  if (seqStart.length !== batch) {
    throw new PruneError('SHAPE_MISMATCH', `${op}: seqStart has ${seqStart.length} entries but the batch has ${batch}; give one start per sequence`);
  }
  for (let b = 0; b < batch; b++) {
    const s = seqStart[b];
    if (!Number.isInteger(s) || s < 0 || s >= n) {
      throw new PruneError('OUT_OF_RANGE', `${op}: seqStart[${b}] = ${String(s)} must be an integer in [0, ${n - 1}] (each sequence needs at least one real token)`);
    }
    out[b] = s;
  }
  return out;
}
