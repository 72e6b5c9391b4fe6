import type { Backend } from '../backend.js';
import { mirrorUpper } from '../wasm/gemm.js';
import { PruneError, assert } from '../errors.js';
import { fromArray, zeros } from '../ops/creation.js';
import { add, cast, mul } from '../ops/elementwise.js';
import { referenceBackend } from '../reference/index.js';
import { getBackend } from '../registry.js';
import { keep, tidy } from '../scope.js';
import { Tensor } from '../tensor.js';
import {
  type AccumulatorOptions,
  type BatchInfo,
  type CalibrationAccumulation,
  type CalibrationWeighting,
  type UpdateOptions,
  allFinite,
  checkBatch,
  nonFiniteError,
} from './batch.js';

/**
 * How an accumulator turns one batch into its contribution. `nNew` is the sample count
 * after the batch; `scaled` says whether the contribution must already carry the 1/nNew
 * factor (float32 accumulation, to follow the reference's rounding) or be the raw batch sum
 * (float64 accumulation scales it on the host).
 */
export type BatchTerm = (
  x: Tensor<'float32'>,
  weights: Tensor<'float32'> | undefined,
  info: BatchInfo,
  nNew: number,
  scaled: boolean,
) => Tensor;

/**
 * A {@link BatchTerm} computed on the host for inputs on the reference backend (whose
 * storage is a typed array), without per-token weights: the same values as the tensor term,
 * rounded the same way, without the intermediate tensors (the squared inputs, the
 * transposed copy) the op-by-op term allocates.
 */
export type HostBatchTerm = (x: Float32Array, info: BatchInfo, nNew: number, scaled: boolean) => Float32Array | StridedTerm;

/**
 * A 2-D batch term whose rows lie `stride` floats apart in `values` (a view into a kernel's
 * memory, read at once). For a symmetric statistic only its upper triangle is read.
 */
export interface StridedTerm {
  /** The entries, row i at `i·stride`. */
  readonly values: Float32Array;
  /** Floats from one row to the next. */
  readonly stride: number;
}


function allFiniteHost(values: Float32Array): boolean {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) return false;
  return true;
}

/** One row of the float32 running update: `S[j] ← fround(S[j]·ratio) + term[j]` for j in [from, to). */
function accumulateRow32(state: Float32Array, at: number, values: Float32Array, termAt: number, from: number, to: number, ratio: number): void {
  for (let j = from; j < to; j++) state[at + j] = Math.fround(state[at + j] * ratio) + values[termAt + j];
}

/** One row of the float64 running update: `S[j] ← S[j]·ratio + term[j]·scale` for j in [from, to). */
function accumulateRow64(state: Float64Array, at: number, values: Float32Array, termAt: number, from: number, to: number, ratio: number, scale: number): void {
  for (let j = from; j < to; j++) state[at + j] = state[at + j] * ratio + values[termAt + j] * scale;
}

/**
 * The running average shared by the calibration accumulators:
 * `S ← S · n/(n+b); n ← n+b; S ← S + term/n`. Holds the state as a tensor (float32 on the
 * inputs' backend), a float32 host array (batches whose term is computed on the host) or a
 * float64 host array, and keeps it valid when a batch is rejected. A symmetric statistic
 * keeps only its upper triangle on the host and mirrors it when read.
 * @internal
 */
export class RunningAverage {
  readonly #op: string;
  readonly #shape: readonly number[];
  readonly #columns: number;
  readonly #weighting: CalibrationWeighting;
  readonly #accumulation: CalibrationAccumulation;
  readonly #hostScale: number;
  readonly #symmetric: boolean;
  /** Entries of the state. */
  readonly #size: number;
  /** Entries per row of the state (its last axis). */
  readonly #rowLength: number;
  #state: Tensor | undefined;
  #host32: Float32Array | undefined;
  #host: Float64Array | undefined;
  #backend: Backend | undefined;
  #n = 0;
  #tokens = 0;
  #disposed = false;

  /**
   * @param op - class name for messages
   * @param columns - d_in
   * @param shape - shape of the statistic
   * @param hostScale - factor applied to a raw batch term before averaging on the host
   * @param options - weighting and accumulation
   * @param symmetric - the statistic is a symmetric `[d, d]` matrix
   */
  constructor(op: string, columns: number, shape: readonly number[], hostScale: number, options: AccumulatorOptions, symmetric = false) {
    this.#op = op;
    assert(Number.isInteger(columns) && columns >= 1, 'INVALID_ARGUMENT', () => `${op}: d_in must be a positive integer, got ${columns}`);
    const weighting = options.weighting ?? 'sequences';
    const accumulation = options.accumulation ?? 'float32';
    assert(
      weighting === 'sequences' || weighting === 'tokens',
      'INVALID_ARGUMENT',
      () => `${op}: weighting must be 'sequences' or 'tokens', got ${String(weighting)}`,
    );
    assert(
      accumulation === 'float32' || accumulation === 'float64',
      'INVALID_ARGUMENT',
      () => `${op}: accumulation must be 'float32' or 'float64', got ${String(accumulation)}`,
    );
    this.#columns = columns;
    this.#shape = shape;
    this.#weighting = weighting;
    this.#accumulation = accumulation;
    this.#hostScale = hostScale;
    this.#symmetric = symmetric;
    this.#size = shape.reduce((a, b) => a * b, 1);
    this.#rowLength = shape[shape.length - 1];
  }

  /** d_in. */
  get columns(): number {
    return this.#columns;
  }

  /** What a batch adds to n. */
  get weighting(): CalibrationWeighting {
    return this.#weighting;
  }

  /** Precision of the running average. */
  get accumulation(): CalibrationAccumulation {
    return this.#accumulation;
  }

  /** n, the samples counted so far. */
  get count(): number {
    return this.#n;
  }

  /** Tokens seen so far. */
  get tokens(): number {
    return this.#tokens;
  }

  #checkAlive(): void {
    if (this.#disposed) throw new PruneError('DISPOSED', `${this.#op} was used after dispose(); create a new accumulator`);
  }

  /**
   * Validates a batch, computes its term, checks it is finite, then advances S and n.
   * `hostTerm`, when given, replaces `term` for inputs without weights on a backend that
   * computes on the host ({@link Backend.onHost}).
   */
  update(x: Tensor, options: UpdateOptions, term: BatchTerm, hostTerm?: HostBatchTerm): void {
    this.#checkAlive();
    const info = checkBatch(`${this.#op}.update`, x, this.#columns, options ?? {}, this.#weighting);
    // A batch without tokens carries no information; counting it would only rescale S.
    if (info.tokens === 0) return;
    if (this.#backend !== undefined && x.backend !== this.#backend) {
      throw new PruneError(
        'BACKEND_MISMATCH',
        `${this.#op}.update: x lives on ${x.backend.name} but earlier batches were on ${this.#backend.name}; move it with moveTo() first`,
      );
    }
    const nNew = this.#n + info.count;
    const ratio = this.#n / nNew;
    const scaled = this.#accumulation === 'float32';
    if (hostTerm !== undefined && x.backend.onHost === true && options?.weights === undefined) {
      const values = x.backend === referenceBackend ? x.ref<Float32Array>().handle : (x.dataSync() as Float32Array);
      const batch = hostTerm(values, info, nNew, scaled);
      const { values: v, stride } = batch instanceof Float32Array ? { values: batch, stride: this.#rowLength } : batch;
      // A column-wise term (not symmetric) is non-finite wherever its column holds a non-finite
      // input (squares add up, NaN and ±Infinity carry through), so its own check covers the
      // inputs; a Gram term's diagonal-only check needs them scanned.
      if ((this.#symmetric && !allFiniteHost(values)) || !this.#finite(v, stride)) throw nonFiniteError(`${this.#op}.update`, x, undefined);
      if (scaled) {
        if (this.#host32 === undefined) {
          this.#host32 = this.#state === undefined ? new Float32Array(this.#size) : (this.#state.dataSync() as Float32Array);
          this.#state?.dispose();
          this.#state = undefined;
        }
        // mul(S, ratio) rounds ratio to float32 and the product to float32; add rounds again.
        this.#accumulate(this.#host32, v, stride, Math.fround(ratio), 1);
      } else {
        this.#accumulate((this.#host ??= new Float64Array(this.#size)), v, stride, ratio, this.#hostScale / nNew);
      }
      this.#advance(x, nNew, info);
      return;
    }
    // checkBatch verified both dtypes.
    const contribution = tidy(() => term(x as Tensor<'float32'>, options?.weights as Tensor<'float32'> | undefined, info, nNew, scaled));
    if (!allFinite(contribution)) {
      contribution.dispose();
      throw nonFiniteError(`${this.#op}.update`, x, options?.weights);
    }
    if (scaled) {
      if (this.#host32 !== undefined) {
        // Earlier batches were summed on the host: the state moves to the backend.
        this.#state = keep(fromArray(this.#read(this.#host32), this.#shape, 'float32', { backend: x.backend }));
        this.#host32 = undefined;
      }
      const previous = this.#state;
      if (previous === undefined) {
        // S starts at 0, and 0 · ratio + term is term exactly.
        this.#state = keep(contribution);
      } else {
        this.#state = keep(tidy(() => add(mul(previous, ratio), contribution)));
        previous.dispose();
        contribution.dispose();
      }
    } else {
      const batch = contribution.dataSync() as Float32Array;
      contribution.dispose();
      this.#accumulate((this.#host ??= new Float64Array(this.#size)), batch, this.#rowLength, ratio, this.#hostScale / nNew);
    }
    this.#advance(x, nNew, info);
  }

  #advance(x: Tensor, nNew: number, info: BatchInfo): void {
    this.#backend = x.backend;
    this.#n = nNew;
    this.#tokens += info.tokens;
  }

  /**
   * Whether a host batch term of finite inputs is finite (no float32 overflow): every entry,
   * or for a symmetric statistic — a Gram matrix, whose entries are bounded by the largest
   * diagonal one — the diagonal.
   */
  #finite(values: Float32Array, stride: number): boolean {
    const cols = this.#rowLength;
    if (this.#symmetric) {
      for (let i = 0; i < cols; i++) if (!Number.isFinite(values[i * stride + i])) return false;
      return true;
    }
    return allFiniteHost(values.subarray(0, this.#size));
  }

  /**
   * `S ← S·ratio + term·scale` on a host state, entry by entry (only the upper triangle of a
   * symmetric statistic). In float32 (`ratio` already rounded, scale 1) every step rounds as
   * `add(mul(S, ratio), term)` does.
   */
  #accumulate(state: Float32Array | Float64Array, values: Float32Array, stride: number, ratio: number, scale: number): void {
    const cols = this.#rowLength;
    const rows = this.#size / cols;
    for (let i = 0; i < rows; i++) {
      const from = this.#symmetric ? i : 0;
      if (state instanceof Float32Array) accumulateRow32(state, i * cols, values, i * stride, from, cols, ratio);
      else accumulateRow64(state, i * cols, values, i * stride, from, cols, ratio, scale);
    }
  }

  /** A float32 copy of a host state, mirrored when symmetric. */
  #read(state: Float32Array | Float64Array): Float32Array {
    const out = Float32Array.from(state);
    if (this.#symmetric) mirrorUpper(out, this.#rowLength);
    return out;
  }

  /** S as a new float32 tensor (zeros before the first batch). */
  value(): Tensor<'float32'> {
    this.#checkAlive();
    const backend = this.#backend ?? getBackend();
    if (this.#state !== undefined) return cast(this.#state, 'float32');
    const host = this.#host32 ?? this.#host;
    if (host !== undefined) return fromArray(this.#read(host), this.#shape, 'float32', { backend });
    return zeros(this.#shape, 'float32', { backend });
  }

  /** Forgets every batch. */
  reset(): void {
    this.#checkAlive();
    this.#state?.dispose();
    this.#state = undefined;
    this.#host32 = undefined;
    this.#host = undefined;
    this.#backend = undefined;
    this.#n = 0;
    this.#tokens = 0;
  }

  /** Releases the state; later calls throw `DISPOSED`. */
  dispose(): void {
    if (this.#disposed) return;
    this.#state?.dispose();
    this.#state = undefined;
    this.#host32 = undefined;
    this.#host = undefined;
    this.#disposed = true;
  }
}
