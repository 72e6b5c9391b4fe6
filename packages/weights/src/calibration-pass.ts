import {
  type BlockRunner,
  type ModelAdapter,
  type ModelBlock,
  type ProgressStage,
  PruneError,
  Tensor,
  dispose,
  tidy,
} from '@prune/core';
import type { LayerStatistic } from './method.js';

// Calibration machinery shared by the pipeline and OWL: turn samples into block-0 hidden
// states (one tensor per sample, the only per-sample memory held), run a block over them
// while statistics observe each linear's inputs, and move the states to the next block.

/** Calibration samples as the pipeline accepts them: a synchronous or asynchronous stream. */
export type CalibrationSource = AsyncIterable<Tensor> | Iterable<Tensor>;

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

/**
 * Reads the first `nsamples` samples and embeds each into a block-0 hidden state. The
 * samples themselves are not kept (or disposed: a generator that makes them may dispose
 * each once it resumes).
 */
export async function embedSamples(
  op: string,
  runner: BlockRunner,
  calibration: CalibrationSource,
  nsamples: number,
  signal: AbortSignal | undefined,
  progress: ProgressStage | undefined,
): Promise<Tensor[]> {
  const hidden: Tensor[] = [];
  try {
    for await (const sample of calibration) {
      signal?.throwIfAborted();
      if (!(sample instanceof Tensor)) {
        throw new PruneError('INVALID_ARGUMENT', `${op}: calibration sample ${hidden.length} is not a Tensor (got ${sample === null ? 'null' : typeof sample})`);
      }
      hidden.push(tidy(() => runner.embed(sample)));
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
 * its statistic. With `replace`, each state is replaced by the block's output (the next
 * block's input); otherwise outputs are dropped.
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
): void {
  const observe =
    statistics === undefined
      ? undefined
      : (layer: string, input: Tensor): void => {
          statistics.get(layer)?.update(input);
        };
  for (let j = 0; j < hidden.length; j++) {
    signal?.throwIfAborted();
    const out = tidy(() => runner.runBlock(index, hidden[j], observe));
    if (replace) {
      hidden[j].dispose();
      hidden[j] = out;
    } else {
      out.dispose();
    }
    progress?.advance(1, block.name);
  }
}
