import {
  type BlockRunner,
  type ModelAdapter,
  type ModelBlock,
  type ProgressStage,
  PruneError,
  Tensor,
  clone,
  dispose,
  tidy,
} from '@prune/core';
import type { LayerStatistic } from './method.js';
import { isObservingStatistic } from './tamp-observation.js';

// Calibration machinery shared by the pipeline and OWL: turn samples into block-0 hidden
// states (one tensor per sample, the only per-sample memory held), run a block over them
// while statistics observe each linear's inputs, and move the states to the next block.

/**
 * One calibration sample with per-token side information: the model input and, for
 * multimodal models, the modality of each of its tokens (what TAMP needs).
 */
export interface CalibrationSample {
  /** What {@link BlockRunner.embed} takes, e.g. int32 token ids `[seqlen]`. */
  readonly input: Tensor;
  /**
   * bool `[tokens]`: true where the token belongs to the first modality (visual tokens of a
   * vision-language model), false for the second (language).
   * @defaultValue none (methods that read it reject the sample)
   */
  readonly modalityMask?: Tensor;
}

/**
 * Calibration samples as the pipeline accepts them: a synchronous or asynchronous stream of
 * model inputs, or of {@link CalibrationSample}s carrying a modality mask.
 */
export type CalibrationSource = AsyncIterable<Tensor | CalibrationSample> | Iterable<Tensor | CalibrationSample>;

/** The runner's observing block run, or an `UNSUPPORTED` error naming the model and the method. */
export function observedRun(op: string, runner: BlockRunner, description: string, method: string): NonNullable<BlockRunner['runBlockObserved']> {
  if (typeof runner.runBlockObserved !== 'function') {
    throw new PruneError(
      'UNSUPPORTED',
      `${op}: ${method} needs each linear's outputs (and the block's attention), but the runner of ${description} has no runBlockObserved(); use an adapter that implements it, or a method that needs inputs only (wanda, sparsegpt)`,
    );
  }
  return runner.runBlockObserved.bind(runner);
}

/** Checks that `nsamples` is a positive integer; returns it. */
export function checkSampleCount(op: string, nsamples: unknown): number {
  if (typeof nsamples !== 'number' || !Number.isInteger(nsamples) || nsamples < 1) {
    throw new PruneError('INVALID_ARGUMENT', `${op}: nsamples must be a positive integer (the reference uses 128), got ${String(nsamples)}`);
  }
  return nsamples;
}

/** Checks that the model can run and the samples are iterable; returns the runner. */
export function checkCalibration(op: string, adapter: ModelAdapter, calibration: unknown, method: string): BlockRunner {
  const runner = adapter.runner;
  if (runner === undefined || typeof runner.embed !== 'function' || typeof runner.runBlock !== 'function') {
    throw new PruneError(
      'UNSUPPORTED',
      `${op}: ${method} needs calibration, but the model ${adapter.description} cannot run block by block (its adapter has no runner); use a data-free method such as magnitude`,
    );
  }
  const iterable =
    calibration !== null &&
    typeof calibration === 'object' &&
    (typeof (calibration as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function' ||
      typeof (calibration as Iterable<unknown>)[Symbol.iterator] === 'function');
  if (!iterable) {
    throw new PruneError('INVALID_ARGUMENT', `${op}: ${method} needs calibration samples — pass calibration: an iterable or async iterable of input tensors (e.g. int32 token ids [seqlen])`);
  }
  return runner;
}

/** How {@link embedSamples} treats modality masks. */
export interface MaskCollection {
  /** Receives a copy of each sample's modality mask (undefined for a sample without one). */
  readonly into: (Tensor | undefined)[];
  /** Rejects a sample without a mask, naming `method`. */
  readonly required?: string;
}

/**
 * Reads the first `nsamples` samples and embeds each into a block-0 hidden state. The
 * samples themselves are not kept (or disposed: a generator that makes them may dispose
 * each once it resumes). With `masks`, a copy of each sample's modality mask is kept next to
 * its hidden state (the caller disposes them, also when this throws).
 */
export async function embedSamples(
  op: string,
  runner: BlockRunner,
  calibration: CalibrationSource,
  nsamples: number,
  signal: AbortSignal | undefined,
  progress: ProgressStage | undefined,
  masks?: MaskCollection,
): Promise<Tensor[]> {
  const hidden: Tensor[] = [];
  try {
    for await (const item of calibration) {
      signal?.throwIfAborted();
      const sample = item instanceof Tensor ? item : (item as CalibrationSample | null)?.input;
      if (!(sample instanceof Tensor)) {
        throw new PruneError(
          'INVALID_ARGUMENT',
          `${op}: calibration sample ${hidden.length} is neither a Tensor nor { input: Tensor, modalityMask? } (got ${item === null ? 'null' : typeof item})`,
        );
      }
      const mask = item instanceof Tensor ? undefined : (item as CalibrationSample).modalityMask;
      if (mask !== undefined && !(mask instanceof Tensor)) {
        throw new PruneError('INVALID_ARGUMENT', `${op}: the modalityMask of calibration sample ${hidden.length} must be a bool Tensor [tokens] (true = visual token)`);
      }
      if (masks?.required !== undefined && mask === undefined) {
        throw new PruneError(
          'INVALID_ARGUMENT',
          `${op}: ${masks.required} needs the modality of every token, but calibration sample ${hidden.length} has none; pass samples as { input, modalityMask } with a bool mask [tokens] (true = visual token)`,
        );
      }
      hidden.push(tidy(() => runner.embed(sample)));
      // The caller may dispose its sample once the stream resumes: keep a copy of the mask.
      masks?.into.push(mask === undefined ? undefined : clone(mask));
      progress?.advance(1, `sample ${hidden.length}`);
      if (hidden.length === nsamples) break;
    }
    if (hidden.length < nsamples) {
      throw new PruneError(
        'INVALID_ARGUMENT',
        `${op}: nsamples is ${nsamples} but the calibration stream ended after ${hidden.length} sample${hidden.length === 1 ? '' : 's'}; lower nsamples or supply more samples`,
      );
    }
    return hidden;
  } catch (e) {
    dispose(hidden);
    throw e;
  }
}

/**
 * Runs block `index` over every hidden state. With `statistics`, each layer's inputs update
 * its statistic; when any statistic is an {@link ObservingStatistic}, the block runs through
 * {@link BlockRunner.runBlockObserved} (with the attention row if one needs it) and those
 * statistics get whole observations, with `masks[j]` as the modality mask of sample j. With
 * `replace`, each state is replaced by the block's output (the next block's input);
 * otherwise outputs are dropped.
 */
export function runBlockOver(
  runner: BlockRunner,
  index: number,
  hidden: Tensor[],
  statistics: ReadonlyMap<string, LayerStatistic> | undefined,
  replace: boolean,
  signal: AbortSignal | undefined,
  progress: ProgressStage | undefined,
  block: ModelBlock,
  masks?: readonly (Tensor | undefined)[],
): void {
  const observing = statistics === undefined ? [] : [...statistics.values()].filter(isObservingStatistic);
  const observe =
    statistics === undefined
      ? undefined
      : (layer: string, input: Tensor): void => {
          statistics.get(layer)?.update(input);
        };
  const observed = observing.length === 0 ? undefined : observedRun('runBlockOver', runner, block.name, 'a statistic of this method');
  const attention = observing.some((s) => s.needs.attention);
  for (let j = 0; j < hidden.length; j++) {
    signal?.throwIfAborted();
    const modalityMask = masks?.[j];
    const out = tidy(() =>
      observed === undefined
        ? runner.runBlock(index, hidden[j], observe)
        : observed(
            index,
            hidden[j],
            (layer, observation) => {
              const stat = statistics!.get(layer);
              if (stat === undefined) return;
              if (isObservingStatistic(stat)) stat.observe({ ...observation, modalityMask });
              else stat.update(observation.input);
            },
            attention,
          ),
    );
    if (replace) {
      hidden[j].dispose();
      hidden[j] = out;
    } else {
      out.dispose();
    }
    progress?.advance(1, block.name);
  }
}
