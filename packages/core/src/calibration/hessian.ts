import { mul } from '../ops/elementwise.js';
import { reshape } from '../ops/layout.js';
import { matmul } from '../ops/linalg.js';
import type { Tensor } from '../tensor.js';
import type { AccumulatorOptions, CalibrationAccumulation, CalibrationWeighting, UpdateOptions } from './batch.js';
import { RunningAverage } from './running.js';

/**
 * Streaming layer Hessian of the reconstruction loss, H = (2/N)·XᵀX — SparseGPT's
 * statistic (`add_batch` in IST-DASLab/sparsegpt `sparsegpt.py`).
 *
 * State: H ∈ ℝ^{d_in×d_in} and a sample count n. Each batch X (`[tokens, d_in]` after
 * flattening the leading axes) counting b samples updates
 * `H ← H · n/(n+b); n ← n+b; X̃ = sqrt(2/n)·X; H ← H + X̃ᵀX̃`,
 * so after any number of batches `H = (2/N)·Σ_batches XᵀX`. Per-token weights g scale the
 * rows of X first (H = (2/N)·Σ (g⊙X)ᵀ(g⊙X)).
 *
 * Precision: with the default `'float32'` accumulation the update runs in float32 on the
 * inputs' backend exactly as the reference does (the scaling by sqrt(2/n) is applied to X
 * before the product, as there). `'float64'` computes each batch's XᵀX on the backend, then
 * averages on the host in float64 — one d_in² download per batch, and no drift from
 * rescaling a float32 H over hundreds of batches.
 *
 * Memory: O(d_in²) for H (plus one d_in² batch product), never the inputs.
 *
 * @example
 * ```ts
 * const hessian = new HessianAccumulator(768);
 * for (const x of layerInputs) hessian.update(x);       // x: [batch, seqLen, 768]
 * const H = hessian.value();                            // Tensor [768, 768]
 * ```
 */
export class HessianAccumulator {
  readonly #avg: RunningAverage;

  /**
   * @param columns - d_in, the size of the inputs' last axis
   * @param options - sample weighting and accumulation precision
   */
  constructor(columns: number, options: AccumulatorOptions = {}) {
    this.#avg = new RunningAverage('HessianAccumulator', columns, [columns, columns], 2, options);
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
   * @param options - per-token weights and the sequence count
   * @throws `SHAPE_MISMATCH` when the last axis is not d_in or the weights do not match the
   *   tokens; `NON_FINITE` when x or the weights hold NaN/±Infinity (the state is left as it was)
   */
  update(x: Tensor, options: UpdateOptions = {}): void {
    this.#avg.update(x, options, (input, weights, info, nNew, scaled) => {
      let rows = reshape(input, info.matrixShape);
      const factor = scaled ? Math.sqrt(2 / nNew) : 1;
      if (weights !== undefined) rows = mul(rows, reshape(scaled ? mul(weights, factor) : weights, info.weightShape));
      else if (scaled) rows = mul(rows, factor);
      return matmul(rows, rows, { transposeA: true });
    });
  }

  /** H as a new float32 tensor `[d_in, d_in]` the caller owns (zeros before the first batch). */
  value(): Tensor<'float32'> {
    return this.#avg.value();
  }

  /** Forgets every batch: H = 0, n = 0. */
  reset(): void {
    this.#avg.reset();
  }

  /** Releases the state. Safe to call twice; any other call afterwards throws `DISPOSED`. */
  dispose(): void {
    this.#avg.dispose();
  }
}
