import { div, mul, square } from '../ops/elementwise.js';
import { reshape } from '../ops/layout.js';
import { sum } from '../ops/reduce.js';
import type { Tensor } from '../tensor.js';
import type { AccumulatorOptions, BatchInfo, CalibrationAccumulation, CalibrationWeighting, UpdateOptions } from './batch.js';
import { RunningAverage } from './running.js';

/**
 * The column norm term on the host: Σ_t x_tj² with each square rounded to float32 and the
 * sum run in float64 in token order (as `sum(square(x), axis 0)` on the reference backend),
 * rounded to float32, then divided by n when scaled.
 */
function columnSqHost(x: Float32Array, info: BatchInfo, nNew: number, scaled: boolean): Float32Array {
  const d = info.matrixShape[1];
  const tokens = info.tokens;
  const acc = new Float64Array(d);
  // Four tokens per visit of acc[j]: the same float64 additions in the same order as one
  // token at a time, with a quarter of the loads and stores of acc.
  let t = 0;
  for (; t + 3 < tokens; t += 4) {
    const o0 = t * d;
    const o1 = o0 + d;
    const o2 = o1 + d;
    const o3 = o2 + d;
    for (let j = 0; j < d; j++) {
      const v0 = x[o0 + j];
      const v1 = x[o1 + j];
      const v2 = x[o2 + j];
      const v3 = x[o3 + j];
      acc[j] = acc[j] + Math.fround(v0 * v0) + Math.fround(v1 * v1) + Math.fround(v2 * v2) + Math.fround(v3 * v3);
    }
  }
  for (; t < tokens; t++) {
    const o = t * d;
    for (let j = 0; j < d; j++) {
      const v = x[o + j];
      acc[j] += Math.fround(v * v);
    }
  }
  const out = new Float32Array(d);
  if (scaled) for (let j = 0; j < d; j++) out[j] = Math.fround(acc[j]) / nNew;
  else out.set(acc);
  return out;
}

/**
 * Streaming per-input-column squared norm of a layer's calibration inputs — Wanda's
 * activation statistic (`scaler_row` in locuslab/wanda `lib/layerwrapper.py`) and, with
 * per-token router gates as weights, MoE-Pruner's gate-weighted variant.
 *
 * State: s ∈ ℝ^{d_in} and a sample count n. Each batch X (all leading axes are tokens)
 * counting b samples updates
 * `s ← s · n/(n+b); n ← n+b; s_j ← s_j + ‖X[:, j] ⊙ g‖² / n`
 * (g = per-token weights, 1 when absent), so after any number of batches
 * `s_j = Σ_batches ‖X[:, j] ⊙ g‖² / N` with N the total count. With the default
 * `'sequences'` weighting this is the reference code's value exactly up to float32 rounding
 * (the reference squares `torch.norm`, here Σx² is summed directly). The Wanda score is
 * `|W_ij| · sqrt(s_j)`; any constant factor in s cancels within a matrix.
 *
 * Inputs are never kept: memory is O(d_in) however many batches stream through. Runs on
 * any backend through core ops; intermediates are disposed.
 *
 * @example
 * ```ts
 * const stat = new ColumnNormAccumulator(4096);
 * for (const x of layerInputs) stat.update(x);          // x: [batch, seqLen, 4096]
 * const s = stat.value();                               // Tensor [4096]
 * stat.dispose();
 * ```
 */
export class ColumnNormAccumulator {
  readonly #avg: RunningAverage;

  /**
   * @param columns - d_in, the size of the inputs' last axis
   * @param options - sample weighting and accumulation precision
   */
  constructor(columns: number, options: AccumulatorOptions = {}) {
    this.#avg = new RunningAverage('ColumnNormAccumulator', columns, [columns], 1, options);
  }

  /** d_in. */
  get columns(): number {
    return this.#avg.columns;
  }

  /** What a batch adds to n. */
  get weighting(): CalibrationWeighting {
    return this.#avg.weighting;
  }

  /** Precision of the running average. */
  get accumulation(): CalibrationAccumulation {
    return this.#avg.accumulation;
  }

  /** n: sequences (or tokens, under `'tokens'` weighting) counted so far. */
  get count(): number {
    return this.#avg.count;
  }

  /** Tokens seen so far. */
  get tokens(): number {
    return this.#avg.tokens;
  }

  /**
   * Adds one batch of layer inputs. A batch without tokens changes nothing.
   * @param x - float32 `[..., d_in]`; `[batch, tokens, d_in]`, `[tokens, d_in]` or `[d_in]`
   * @param options - per-token weights (router gates) and the sequence count
   * @throws `SHAPE_MISMATCH` when the last axis is not d_in or the weights do not match the
   *   tokens; `NON_FINITE` when x or the weights hold NaN/±Infinity (the state is left as it was)
   */
  update(x: Tensor, options: UpdateOptions = {}): void {
    this.#avg.update(x, options, (input, weights, info, nNew, scaled) => {
      let rows = reshape(input, info.matrixShape);
      if (weights !== undefined) rows = mul(rows, reshape(weights, info.weightShape));
      const columnSq = sum(square(rows), { axis: 0 });
      return scaled ? div(columnSq, nNew) : columnSq;
    }, columnSqHost);
  }

  /** s as a new float32 tensor `[d_in]` the caller owns (zeros before the first batch). */
  value(): Tensor<'float32'> {
    return this.#avg.value();
  }

  /** Forgets every batch: s = 0, n = 0. */
  reset(): void {
    this.#avg.reset();
  }

  /** Releases the state. Safe to call twice; any other call afterwards throws `DISPOSED`. */
  dispose(): void {
    this.#avg.dispose();
  }
}
