import { div, mul, square } from '../ops/elementwise.js';
import { reshape } from '../ops/layout.js';
import { sum } from '../ops/reduce.js';
import type { Tensor } from '../tensor.js';
import { ADD, AND, F32_MUL, F64_ADD, F64_PROMOTE, GE_U, LT_U, MUL, assembleModule, get, i32, reserveMemory, set, simd, tee, uleb } from '../wasm/assemble.js';
import type { AccumulatorOptions, BatchInfo, CalibrationAccumulation, CalibrationWeighting, UpdateOptions } from './batch.js';
import { RunningAverage } from './running.js';

/**
 * The column norm term on the host: Σ_t x_tj² with each square rounded to float32 and the
 * sum run in float64 in token order (as `sum(square(x), axis 0)` on the reference backend),
 * rounded to float32, then divided by n when scaled. Runs in WebAssembly SIMD where it is
 * available (same roundings, same order), else in plain JS.
 *
 * @param x - the batch's inputs, row-major `[tokens, d_in]`
 * @param info - the validated batch (its token count and `[tokens, d_in]` shape)
 * @param nNew - the sample count after the batch
 * @param scaled - divide by nNew (float32 accumulation)
 * @returns the term, d_in float32 values
 * @internal
 */
export function columnSqHost(x: Float32Array, info: BatchInfo, nNew: number, scaled: boolean): Float32Array {
  const d = info.matrixShape[1];
  const sums = columnSqSimd(x, info.tokens, d) ?? columnSqScalar(x, info.tokens, d);
  const out = new Float32Array(d);
  if (scaled) for (let j = 0; j < d; j++) out[j] = Math.fround(sums[j]) / nNew;
  else for (let j = 0; j < d; j++) out[j] = sums[j];
  return out;
}

/**
 * Σ_t x_tj² in plain JS: each square rounded to float32, summed in float64 in token order.
 *
 * @param x - row-major `[tokens, d]`
 * @param tokens - rows of x
 * @param d - columns of x
 * @returns the d float64 sums
 * @internal
 */
export function columnSqScalar(x: Float32Array, tokens: number, d: number): Float64Array {
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
  return acc;
}

// The SIMD kernel. Its module is assembled here from its bytes, once per d (so every row
// offset inside the loop is a constant), and imports one memory shared by all d: float64
// sums at 0, then a chunk of the batch's rows. A float32 product of two float32 values is
// the double product rounded once, as Math.fround(v * v), and f64x2 lanes add each column's
// squares in token order, so the sums are those of columnSqScalar bit for bit.

/** Bytes of the batch copied into the kernel's memory per call. */
const CHUNK_BYTES = 1 << 20;

// Parameters and locals of colsq(x, tokens, acc): byte pointers and the token count.
const X = 0;
const TOKENS = 1;
const ACC = 2;
const P = 3;
const Q = 4;
const PAIRS_END = 5;
const BLOCK_END = 6;
const END = 7;
const V = 8;
const S = 9;

/**
 * The loop over blocks of `b` tokens (b a power of two) from X while a whole block fits
 * before `end` (the code leaving that bound on the stack): per column pair, two float64 sums
 * gain the squares of the block's tokens in order; an odd last column goes one at a time.
 */
function tokenBlocks(d: number, b: number, end: number[]): number[] {
  const rowBytes = 4 * d;
  const pairs = d >> 1;
  const square = (k: number): number[] => [...get(P), ...simd(0x5d, 3, ...uleb(k * rowBytes)), ...tee(V), ...get(V), ...simd(0xe6), ...simd(0x5f), ...simd(0xf0)];
  const squareLast = (k: number): number[] => [...get(P), 0x2a, 2, ...uleb(k * rowBytes), ...tee(S), ...get(S), F32_MUL, F64_PROMOTE, F64_ADD];
  const ks = Array.from({ length: b }, (_, k) => k);
  return [
    ...end, ...set(BLOCK_END),
    0x02, 0x40, 0x03, 0x40,
    ...get(X), ...get(BLOCK_END), GE_U, 0x0d, 1,
    ...get(X), ...set(P),
    ...get(ACC), ...set(Q),
    ...(pairs > 0
      ? [
          ...get(X), ...i32(8 * pairs), ADD, ...set(PAIRS_END),
          0x03, 0x40,
          ...get(Q), ...get(Q), ...simd(0x00, 4, 0), ...ks.flatMap(square), ...simd(0x0b, 4, 0),
          ...get(Q), ...i32(16), ADD, ...set(Q),
          ...get(P), ...i32(8), ADD, ...tee(P), ...get(PAIRS_END), LT_U, 0x0d, 0,
          0x0b,
        ]
      : []),
    ...(d % 2 === 1 ? [...get(Q), ...get(Q), 0x2b, 3, 0, ...ks.flatMap(squareLast), 0x39, 3, 0] : []),
    ...get(X), ...i32(b * rowBytes), ADD, ...set(X),
    0x0c, 0,
    0x0b, 0x0b,
  ];
}

function columnSqModule(d: number): Uint8Array<ArrayBuffer> {
  const rowBytes = 4 * d;
  const code = [
    ...get(X), ...get(TOKENS), ...i32(rowBytes), MUL, ADD, ...set(END),
    // Blocks of four tokens, then the last tokens one at a time.
    ...tokenBlocks(d, 4, [...get(X), ...get(TOKENS), ...i32(-4), AND, ...i32(rowBytes), MUL, ADD]),
    ...tokenBlocks(d, 1, get(END)),
    0x0b,
  ];
  // Locals: five i32 (P, Q, PAIRS_END, BLOCK_END, END), one v128, one f32.
  return assembleModule([{ name: 'colsq', params: 3, body: [3, 5, 0x7f, 1, 0x7b, 1, 0x7d, ...code] }]);
}

type ColumnSqKernel = (x: number, tokens: number, acc: number) => void;

let kernelMemory: WebAssembly.Memory | null | undefined;
const kernels = new Map<number, ColumnSqKernel | null>();

/** The kernel for rows of d values, or null where WebAssembly SIMD is not available. */
function columnSqKernel(d: number): ColumnSqKernel | null {
  let kernel = kernels.get(d);
  if (kernel !== undefined) return kernel;
  kernel = null;
  if (kernelMemory !== null) {
    try {
      kernelMemory ??= new WebAssembly.Memory({ initial: 1 });
      const instance = new WebAssembly.Instance(new WebAssembly.Module(columnSqModule(d)), { env: { memory: kernelMemory } });
      kernel = instance.exports.colsq as ColumnSqKernel;
    } catch {
      // No WebAssembly or no SIMD here: every d takes the plain JS loop.
      kernelMemory = null;
    }
  }
  kernels.set(d, kernel);
  return kernel;
}

// Views of the kernel's whole memory, made again only when it grows (a view of a WebAssembly
// memory costs more to make than a short batch costs to copy).
let memoryF32 = new Float32Array(0);
let memoryF64 = new Float64Array(0);

/**
 * Σ_t x_tj² by the SIMD kernel, the batch copied into its memory a chunk of rows at a time:
 * the first d entries of the returned view (valid until the next call); null where the
 * kernel is not available.
 */
function columnSqSimd(x: Float32Array, tokens: number, d: number): Float64Array | null {
  const kernel = columnSqKernel(d);
  if (kernel === null || kernelMemory == null) return null;
  const memory = kernelMemory;
  const accBytes = (8 * d + 15) & ~15;
  const chunkTokens = Math.max(4, Math.floor(CHUNK_BYTES / (4 * d)) & ~3);
  const needed = accBytes + 4 * d * Math.min(tokens, chunkTokens);
  if (reserveMemory(memory, needed) === null) return null;
  if (memoryF32.buffer !== memory.buffer) {
    memoryF32 = new Float32Array(memory.buffer);
    memoryF64 = new Float64Array(memory.buffer);
  }
  memoryF64.fill(0, 0, d);
  for (let t = 0; t < tokens; t += chunkTokens) {
    const n = Math.min(chunkTokens, tokens - t);
    memoryF32.set(x.subarray(t * d, (t + n) * d), accBytes >> 2);
    kernel(accBytes, n, 0);
  }
  return memoryF64;
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
