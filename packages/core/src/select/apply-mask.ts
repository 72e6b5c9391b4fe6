import type { DType } from '../dtype.js';
import { PruneError } from '../errors.js';
import { where } from '../ops/elementwise.js';
import { shapesEqual } from '../shape.js';
import { Tensor } from '../tensor.js';

/**
 * Zeros the pruned weights: a new tensor equal to `weight` where `keepMask` is true and 0
 * where it is false (also where the weight is NaN or ±Infinity — pruned means zero). The
 * input is left unchanged. Shapes must match exactly; no broadcasting, so a mask built for
 * another matrix is caught.
 *
 * @param weight - float32 or int32 weights
 * @param keepMask - bool KEEP mask of the same shape (true = keep), e.g. from {@link rowMask}
 * @returns the pruned weights, same shape and dtype as `weight`
 *
 * @example
 * ```ts
 * const pruned = applyMask(w, rowMask(abs(w), { sparsity: 0.5 }));
 * ```
 */
export function applyMask<D extends DType>(weight: Tensor<D>, keepMask: Tensor<'bool'>): Tensor<D> {
  if (!(weight instanceof Tensor)) throw new PruneError('INVALID_ARGUMENT', `applyMask: weight must be a Tensor, got ${typeof weight}`);
  if (!(keepMask instanceof Tensor)) throw new PruneError('INVALID_ARGUMENT', `applyMask: keepMask must be a Tensor, got ${typeof keepMask}`);
  if (weight.dtype !== 'float32' && weight.dtype !== 'int32') {
    throw new PruneError('DTYPE_MISMATCH', `applyMask: weight must be float32 or int32, got ${weight.dtype}`);
  }
  if (keepMask.dtype !== 'bool') {
    throw new PruneError('DTYPE_MISMATCH', `applyMask: keepMask must be a bool mask (true = keep), got ${keepMask.dtype}; build one with rowMask, nmMask or a comparison`);
  }
  if (!shapesEqual(weight.shape, keepMask.shape)) {
    throw new PruneError(
      'SHAPE_MISMATCH',
      `applyMask: weight has shape [${weight.shape.join(', ')}] but keepMask has [${keepMask.shape.join(', ')}]; the mask must come from this weight's scores`,
    );
  }
  return where(keepMask, weight, 0);
}
