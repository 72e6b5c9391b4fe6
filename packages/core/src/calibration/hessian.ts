import { mul } from '../ops/elementwise.js';
import { reshape, transpose } from '../ops/layout.js';
import { matmul } from '../ops/linalg.js';
import { gramUpper } from '../wasm/gemm.js';
import type { Tensor } from '../tensor.js';
import type { AccumulatorOptions, BatchInfo, CalibrationAccumulation, CalibrationWeighting, UpdateOptions } from './batch.js';
import { RunningAverage, type StridedTerm } from './running.js';

const padTo4 = (n: number): number => (n + 3) & ~3;

/**
 * The upper triangle of the Gram matrix (f·X)ᵀ(f·X) in plain JavaScript, for where the
 * WebAssembly kernel is missing or its memory cannot hold the layer: each f·x rounded to float32
 * (as `mul` then `matmul` compute it), sums in float64 over 4×4 blocks of dot products of X's
 * transposed, contiguous columns.
 * @returns `[d, d]` row-major, entries j ≥ i valid
 * @internal
 */
export function gramUpperJs(x: Float32Array, tokens: number, d: number, f: number): Float32Array {
  const dp = padTo4(d);
  // xt[j·T + t] = f·x[t, j]; padded columns stay zero.
  const xt = new Float32Array(dp * tokens);
  for (let t = 0; t < tokens; t++) {
    const o = t * d;
    for (let j = 0; j < d; j++) xt[j * tokens + t] = x[o + j] * f;
  }
  const h = new Float32Array(d * d);
  const block = new Float64Array(16);
  for (let i0 = 0; i0 < dp; i0 += 4) {
    const a0 = i0 * tokens;
    const a1 = a0 + tokens;
    const a2 = a1 + tokens;
    const a3 = a2 + tokens;
    for (let j0 = i0; j0 < dp; j0 += 4) {
      const b0 = j0 * tokens;
      const b1 = b0 + tokens;
      const b2 = b1 + tokens;
      const b3 = b2 + tokens;
      let s00 = 0, s01 = 0, s02 = 0, s03 = 0;
      let s10 = 0, s11 = 0, s12 = 0, s13 = 0;
      let s20 = 0, s21 = 0, s22 = 0, s23 = 0;
      let s30 = 0, s31 = 0, s32 = 0, s33 = 0;
      for (let t = 0; t < tokens; t++) {
        const p0 = xt[a0 + t], p1 = xt[a1 + t], p2 = xt[a2 + t], p3 = xt[a3 + t];
        const q0 = xt[b0 + t], q1 = xt[b1 + t], q2 = xt[b2 + t], q3 = xt[b3 + t];
        s00 += p0 * q0; s01 += p0 * q1; s02 += p0 * q2; s03 += p0 * q3;
        s10 += p1 * q0; s11 += p1 * q1; s12 += p1 * q2; s13 += p1 * q3;
        s20 += p2 * q0; s21 += p2 * q1; s22 += p2 * q2; s23 += p2 * q3;
        s30 += p3 * q0; s31 += p3 * q1; s32 += p3 * q2; s33 += p3 * q3;
      }
      block[0] = s00; block[1] = s01; block[2] = s02; block[3] = s03;
      block[4] = s10; block[5] = s11; block[6] = s12; block[7] = s13;
      block[8] = s20; block[9] = s21; block[10] = s22; block[11] = s23;
      block[12] = s30; block[13] = s31; block[14] = s32; block[15] = s33;
      for (let a = 0; a < 4; a++) {
        const i = i0 + a;
        if (i >= d) break;
        for (let b = 0; b < 4; b++) {
          const j = j0 + b;
          if (j < d && j >= i) h[i * d + j] = block[a * 4 + b];
        }
      }
    }
  }
  return h;
}

/**
 * The Hessian term on the host: the upper triangle of (f·X)ᵀ(f·X) with f = √(2/n) rounded to
 * float32 and each f·x rounded to float32, as `mul` then `matmul` compute it — in WebAssembly
 * SIMD with float32 sums where it runs (as BLAS sgemm sums), else in JavaScript.
 */
function hessianHost(x: Float32Array, info: BatchInfo, nNew: number, scaled: boolean): StridedTerm {
  const d = info.matrixShape[1];
  const f = scaled ? Math.fround(Math.sqrt(2 / nNew)) : 1;
  return gramUpper(x, info.tokens, d, f) ?? { values: gramUpperJs(x, info.tokens, d, f), stride: d };
}

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
 * Precision: with the default `'float32'` accumulation the update runs in float32 as the
 * reference does (the scaling by sqrt(2/n) is applied to X before the product, as there).
 * `'float64'` averages each batch's XᵀX on the host in float64 — no drift from rescaling a
 * float32 H over hundreds of batches.
 *
 * Where: for inputs on a backend that computes on the host (`backend.onHost`: reference,
 * tfjs-cpu, tfjs-wasm) without per-token weights, each batch's XᵀX is the upper triangle from
 * the WebAssembly SIMD Gram kernel (float32 sums, as BLAS sums; worker threads for large
 * layers, see `setPruneThreads`), H is kept on the host and mirrored when read. Otherwise
 * (GPU backends, per-token weights) the backend computes `matmul(transpose(X), X)` and H stays
 * on it.
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
    this.#avg = new RunningAverage('HessianAccumulator', columns, [columns, columns], 2, options, true);
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
      // XᵀX with X transposed first: a transposed-A matmul is far slower than a plain one
      // on some backends (tfjs-wasm's XNNPACK path), and the copy is T·d against T·d² work.
      return matmul(transpose(rows), rows);
    }, hessianHost);
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
