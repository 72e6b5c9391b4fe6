import type { Backend } from '../backend.js';
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
export type HostBatchTerm = (x: Float32Array, info: BatchInfo, nNew: number, scaled: boolean) => Float32Array;

function allFiniteHost(values: Float32Array): boolean {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) return false;
  return true;
}

/**
 * The running average shared by the calibration accumulators:
 * `S ← S · n/(n+b); n ← n+b; S ← S + term/n`. Holds the state as a tensor (float32) or
 * a float64 host array, and keeps it valid when a batch is rejected.
 * @internal
 */
export class RunningAverage {
  readonly #op: string;
  readonly #shape: readonly number[];
  readonly #columns: number;
  readonly #weighting: CalibrationWeighting;
  readonly #accumulation: CalibrationAccumulation;
  readonly #hostScale: number;
  #state: Tensor | undefined;
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
   */
  constructor(op: string, columns: number, shape: readonly number[], hostScale: number, options: AccumulatorOptions) {
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
   * `hostTerm`, when given, replaces `term` for reference-backend inputs without weights.
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
    if (hostTerm !== undefined && x.backend === referenceBackend && options?.weights === undefined) {
      this.#updateHost(x, info, nNew, ratio, scaled, hostTerm);
      return;
    }
    // checkBatch verified both dtypes.
    const contribution = tidy(() => term(x as Tensor<'float32'>, options?.weights as Tensor<'float32'> | undefined, info, nNew, scaled));
    if (!allFinite(contribution)) {
      contribution.dispose();
      throw nonFiniteError(`${this.#op}.update`, x, options?.weights);
    }
    if (scaled) {
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
      const host = (this.#host ??= new Float64Array(batch.length));
      const scale = this.#hostScale / nNew;
      for (let i = 0; i < host.length; i++) host[i] = host[i] * ratio + batch[i] * scale;
    }
    this.#backend = x.backend;
    this.#n = nNew;
    this.#tokens += info.tokens;
  }

  /**
   * The host path of {@link RunningAverage.update}: the same recurrence with the same
   * float32 roundings as `add(mul(S, ratio), term)`, updating the state's storage in place
   * (the state is private, never handed out).
   */
  #updateHost(x: Tensor, info: BatchInfo, nNew: number, ratio: number, scaled: boolean, hostTerm: HostBatchTerm): void {
    const batch = hostTerm(x.ref<Float32Array>().handle, info, nNew, scaled);
    if (!allFiniteHost(batch)) throw nonFiniteError(`${this.#op}.update`, x, undefined);
    if (scaled) {
      if (this.#state === undefined) this.#state = keep(new Tensor(referenceBackend, batch, this.#shape, 'float32'));
      else if (this.#state.backend === referenceBackend && this.#state.dtype === 'float32') {
        const state = this.#state.ref<Float32Array>().handle;
        // mul(S, ratio) rounds ratio to float32 and the product to float32; add rounds again.
        const r = Math.fround(ratio);
        for (let i = 0; i < state.length; i++) state[i] = Math.fround(state[i] * r) + batch[i];
      } else {
        const previous = this.#state;
        const contribution = new Tensor(referenceBackend, batch, this.#shape, 'float32');
        this.#state = keep(tidy(() => add(mul(previous, ratio), contribution)));
        previous.dispose();
      }
    } else {
      const host = (this.#host ??= new Float64Array(batch.length));
      const scale = this.#hostScale / nNew;
      for (let i = 0; i < host.length; i++) host[i] = host[i] * ratio + batch[i] * scale;
    }
    this.#backend = x.backend;
    this.#n = nNew;
    this.#tokens += info.tokens;
  }

  /** S as a new float32 tensor (zeros before the first batch). */
  value(): Tensor<'float32'> {
    this.#checkAlive();
    const backend = this.#backend ?? getBackend();
    if (this.#state !== undefined) return cast(this.#state, 'float32');
    if (this.#host !== undefined) return fromArray(Float32Array.from(this.#host), this.#shape, 'float32', { backend });
    return zeros(this.#shape, 'float32', { backend });
  }

  /** Forgets every batch. */
  reset(): void {
    this.#checkAlive();
    this.#state?.dispose();
    this.#state = undefined;
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
    this.#host = undefined;
    this.#disposed = true;
  }
}
