import { PruneError } from '@prune/core';
import { checkInteger } from '../internal/validate.js';

/** What the recorder keeps for one epoch; every array has one entry per example. */
export interface EpochRecord {
  /** 1 when the example was presented this epoch, 0 when not. */
  presented: Uint8Array;
  /** 1 when the presented example was classified correctly (argmax of the logits is its label). */
  correct: Uint8Array;
  /** Probability margin p_y − max_{j≠y} p_j (softmax of the logits); 0 when not presented. */
  probabilityMargin: Float32Array;
  /** Logit margin z_y − max_{j≠y} z_j (the margin of AUM's official code); 0 when not presented. */
  logitMargin: Float32Array;
  /** Error L2 norm ‖softmax(z) − onehot(y)‖₂ (EL2N at this epoch); 0 when not presented. */
  errorNorm: Float32Array;
}

/** The per-example training dynamics of one training run, epoch by epoch. */
export interface TrainingTrace {
  /** Number of examples. */
  count: number;
  /** Number of classes. */
  numClasses: number;
  /** One record per finished epoch, in order. */
  epochs: EpochRecord[];
}

/** A tensor-like holder of logits: tfjs and @prune/core tensors both fit. */
export interface LogitsTensor {
  /** Reads the values synchronously, row-major. */
  dataSync(): ArrayLike<number>;
}

/** Anything that holds logits: a typed array, or a tensor with a synchronous `dataSync()` (tfjs or @prune/core). */
export type LogitsSource = ArrayLike<number> | LogitsTensor;

/** Options of {@link TrainingDynamicsRecorder}. */
export interface RecorderOptions {
  /** Number of training examples. */
  count: number;
  /** Number of classes (logits per example). */
  numClasses: number;
}

function emptyEpoch(n: number): EpochRecord {
  return {
    presented: new Uint8Array(n),
    correct: new Uint8Array(n),
    probabilityMargin: new Float32Array(n),
    logitMargin: new Float32Array(n),
    errorNorm: new Float32Array(n),
  };
}

/**
 * Collects, during an ordinary training loop, what the training-dynamics scores need: per
 * example and epoch, whether it was classified correctly (forgetting events), its margins
 * (AUM) and its error norm (EL2N). Feed it the logits the training step already computed for
 * the batch — no extra forward pass — and call {@link TrainingDynamicsRecorder.endEpoch} after
 * each epoch. Cost: O(batch·classes) per batch and 11 bytes per example per epoch.
 *
 * @example
 * ```ts
 * const rec = new TrainingDynamicsRecorder({ count: xs.length, numClasses: 10 });
 * for (const epoch of epochs) {
 *   for (const { indices, labels, logits } of trainSteps()) rec.record(indices, labels, logits);
 *   rec.endEpoch();
 * }
 * const hard = forgettingScores(rec.trace());
 * ```
 */
export class TrainingDynamicsRecorder {
  readonly #count: number;
  readonly #numClasses: number;
  readonly #epochs: EpochRecord[] = [];
  #open: EpochRecord | undefined;
  #probs: Float64Array;

  /** @param options - number of examples and classes */
  constructor(options: RecorderOptions) {
    checkInteger('count', options.count, 1);
    checkInteger('numClasses', options.numClasses, 2);
    this.#count = options.count;
    this.#numClasses = options.numClasses;
    this.#probs = new Float64Array(options.numClasses);
  }

  /** Epochs finished so far. */
  get epochCount(): number {
    return this.#epochs.length;
  }

  /**
   * Records one batch of the current epoch.
   *
   * @param indices - dataset index of every example in the batch
   * @param labels - its class label
   * @param logits - `batch·numClasses` logits (row-major), or a tensor holding them
   */
  record(indices: ArrayLike<number>, labels: ArrayLike<number>, logits: LogitsSource): void {
    const z = typeof (logits as { dataSync?: unknown }).dataSync === 'function' ? (logits as LogitsTensor).dataSync() : (logits as ArrayLike<number>);
    const b = indices.length;
    const C = this.#numClasses;
    if (labels === undefined || labels.length !== b) {
      throw new PruneError('INVALID_ARGUMENT', `record(): the training-dynamics scores need one label per example; got ${labels?.length ?? 'no'} labels for ${b} indices`);
    }
    if (z.length !== b * C) throw new PruneError('SHAPE_MISMATCH', `record(): ${z.length} logits for ${b} examples × ${C} classes`);
    const rec = (this.#open ??= emptyEpoch(this.#count));
    const p = this.#probs;
    for (let r = 0; r < b; r++) {
      const i = indices[r];
      const y = labels[r];
      if (!Number.isInteger(i) || i < 0 || i >= this.#count) throw new PruneError('OUT_OF_RANGE', `record(): example index ${i} is outside [0, ${this.#count})`);
      if (!Number.isInteger(y) || y < 0 || y >= C) throw new PruneError('OUT_OF_RANGE', `record(): label ${y} is outside [0, ${C})`);
      const o = r * C;
      let zmax = -Infinity;
      let argmax = 0;
      let otherMax = -Infinity;
      for (let j = 0; j < C; j++) {
        const v = z[o + j];
        if (!Number.isFinite(v)) throw new PruneError('NON_FINITE', `record(): logit ${v} for example ${i}; the model diverged`);
        if (v > zmax) {
          zmax = v;
          argmax = j;
        }
        if (j !== y && v > otherMax) otherMax = v;
      }
      let sum = 0;
      for (let j = 0; j < C; j++) {
        p[j] = Math.exp(z[o + j] - zmax);
        sum += p[j];
      }
      let err = 0;
      let pOther = 0;
      for (let j = 0; j < C; j++) {
        p[j] /= sum;
        const t = p[j] - (j === y ? 1 : 0);
        err += t * t;
        if (j !== y && p[j] > pOther) pOther = p[j];
      }
      rec.presented[i] = 1;
      // argmax takes the first maximum on ties, as tfjs and torch do.
      rec.correct[i] = argmax === y ? 1 : 0;
      rec.probabilityMargin[i] = p[y] - pOther;
      rec.logitMargin[i] = z[o + y] - otherMax;
      rec.errorNorm[i] = Math.sqrt(err);
    }
  }

  /** Closes the current epoch (an epoch with no batch is recorded as all not presented). */
  endEpoch(): void {
    this.#epochs.push(this.#open ?? emptyEpoch(this.#count));
    this.#open = undefined;
  }

  /** The finished epochs as a {@link TrainingTrace} (arrays are shared, not copied). */
  trace(): TrainingTrace {
    return { count: this.#count, numClasses: this.#numClasses, epochs: [...this.#epochs] };
  }
}
