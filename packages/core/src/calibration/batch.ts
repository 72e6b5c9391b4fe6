import { PruneError, assert } from '../errors.js';
import { abs, isFinite as isFiniteOp, logicalNot } from '../ops/elementwise.js';
import { all, max, sum } from '../ops/reduce.js';
import { tidy } from '../scope.js';
import { shapesEqual } from '../shape.js';
import { Tensor } from '../tensor.js';

/**
 * What one batch adds to the sample count n of a running average.
 * - `'sequences'`: the number of sequences — `x.shape[0]` for inputs of rank ≥ 3
 *   (`[batch, tokens, d_in]`), 1 for `[tokens, d_in]` or `[d_in]`. This is the reference
 *   behaviour of Wanda (`lib/layerwrapper.py`), SparseGPT (`sparsegpt.py`) and the
 *   MoE-Pruner re-implementation: every sequence weighs the same, however many tokens it has.
 * - `'tokens'`: the number of tokens (all leading axes together), so the statistic is a
 *   per-token mean and every token weighs the same — useful when batches hold very
 *   different token counts, e.g. the tokens routed to one expert.
 */
export type CalibrationWeighting = 'sequences' | 'tokens';

/**
 * Where the running statistic is accumulated.
 * - `'float32'`: a tensor on the inputs' backend, updated with core ops exactly as the
 *   reference code does in float32.
 * - `'float64'`: each batch's contribution is computed on the backend in float32, then
 *   downloaded and averaged into a float64 host array. Use it for long calibration runs,
 *   where the repeated `n/(n+b)` rescaling of a float32 state drifts by about one float32
 *   rounding per batch.
 */
export type CalibrationAccumulation = 'float32' | 'float64';

/** Options shared by the calibration accumulators. */
export interface AccumulatorOptions {
  /**
   * What a batch adds to the sample count; see {@link CalibrationWeighting}.
   * @defaultValue `'sequences'` (the reference behaviour)
   */
  weighting?: CalibrationWeighting;
  /**
   * Precision of the running average; see {@link CalibrationAccumulation}.
   * @defaultValue `'float32'` (as the reference code)
   */
  accumulation?: CalibrationAccumulation;
}

/** Options of one accumulator update. */
export interface UpdateOptions {
  /**
   * Per-token weights, one per token: shape `x.shape` without its last axis, or `[tokens]`,
   * either optionally with a trailing axis of 1.
   * Each token's input row is multiplied by its weight before squaring — MoE-Pruner's router
   * gate g_t, giving Σ_t (g_t·x_tj)². float32 on the same backend as `x`.
   */
  weights?: Tensor;
  /**
   * Overrides the number of sequences this batch counts for under `'sequences'` weighting
   * (ignored under `'tokens'`).
   * @defaultValue `x.shape[0]` for rank ≥ 3, else 1
   */
  sequences?: number;
}

/** A validated batch: its token count, its count increment b, and the flattened shapes. */
export interface BatchInfo {
  /** Tokens in the batch (product of the leading axes). */
  tokens: number;
  /** What the batch adds to n. */
  count: number;
  /** `[tokens, d_in]`. */
  matrixShape: number[];
  /** `[tokens, 1]` for the per-token weights. */
  weightShape: number[];
}

/** Checks `x` (and the per-token weights) against the accumulator's d_in; computes b. */
export function checkBatch(op: string, x: unknown, columns: number, options: UpdateOptions, weighting: CalibrationWeighting): BatchInfo {
  if (!(x instanceof Tensor)) throw new PruneError('INVALID_ARGUMENT', `${op}: x must be a Tensor of shape [..., d_in]`);
  assert(x.dtype === 'float32', 'DTYPE_MISMATCH', () => `${op}: x must be float32, got ${x.dtype}; cast it with cast(x, 'float32')`);
  assert(
    x.rank >= 1 && x.shape[x.rank - 1] === columns,
    'SHAPE_MISMATCH',
    () => `${op}: x has shape [${x.shape.join(', ')}] but the accumulator was made for d_in = ${columns}; pass the layer inputs as [..., ${columns}]`,
  );
  const lead = x.shape.slice(0, -1);
  const tokens = lead.reduce((a, d) => a * d, 1);
  const w = options.weights;
  if (w !== undefined) {
    assert(w instanceof Tensor, 'INVALID_ARGUMENT', `${op}: weights must be a Tensor with one weight per token`);
    assert(w.dtype === 'float32', 'DTYPE_MISMATCH', () => `${op}: weights must be float32, got ${w.dtype}`);
    assert(
      [lead, [...lead, 1], [tokens], [tokens, 1]].some((shape) => shapesEqual(w.shape, shape)),
      'SHAPE_MISMATCH',
      () => `${op}: weights have shape [${w.shape.join(', ')}]; x of shape [${x.shape.join(', ')}] needs one weight per token: [${lead.join(', ')}], [${tokens}] or either with a trailing 1`,
    );
  }
  let count: number;
  if (weighting === 'tokens') count = tokens;
  else if (options.sequences !== undefined) {
    const s = options.sequences;
    assert(Number.isInteger(s) && s >= 1, 'INVALID_ARGUMENT', () => `${op}: sequences must be a positive integer, got ${s}`);
    count = s;
  } else count = x.rank >= 3 ? x.shape[0] : 1;
  return { tokens, count, matrixShape: [tokens, columns], weightShape: [tokens, 1] };
}

/** True when every element of `t` is finite (one boolean is downloaded). */
export function allFinite(t: Tensor): boolean {
  return tidy(() => all(isFiniteOp(t)).dataSync()[0] === 1);
}

/** Number of non-finite elements of `t`. */
function countNonFinite(t: Tensor): number {
  return tidy(() => sum(logicalNot(isFiniteOp(t))).dataSync()[0]);
}

/**
 * Builds the `NON_FINITE` error for a batch whose statistic came out NaN or infinite,
 * saying whether the inputs, the weights, or float32 overflow caused it.
 */
export function nonFiniteError(op: string, x: Tensor, weights: Tensor | undefined): PruneError {
  const bad = countNonFinite(x);
  if (bad > 0) {
    return new PruneError(
      'NON_FINITE',
      `${op}: x holds ${bad} NaN or infinite values; the statistic would be NaN. Check the layer inputs (e.g. an overflow in float16 activations upstream) and drop or fix that batch — the accumulator was left unchanged`,
    );
  }
  if (weights !== undefined) {
    const badWeights = countNonFinite(weights);
    if (badWeights > 0) {
      return new PruneError(
        'NON_FINITE',
        `${op}: weights hold ${badWeights} NaN or infinite values; pass finite per-token weights (router gates lie in [0, 1]) — the accumulator was left unchanged`,
      );
    }
  }
  const largest = tidy(() => max(abs(x)).dataSync()[0]);
  return new PruneError(
    'NON_FINITE',
    `${op}: the batch's squared inputs overflow float32 (largest |x| = ${largest}); rescale the inputs or split the batch — the accumulator was left unchanged`,
  );
}
