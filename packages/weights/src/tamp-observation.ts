import type { PrunableLayer, Tensor } from '@prune/core';
import type { LayerStatistic, SparsityTarget } from './method.js';

/**
 * Everything a block run can show a statistic about one linear layer on one calibration
 * sample. Methods that only need the inputs (Wanda, SparseGPT) read {@link input}; TAMP also
 * needs the layer's outputs, the block's attention and which tokens are visual.
 */
export interface LayerObservation {
  /** The layer's input for one sample, `[tokens, d_in]` (or `[1, tokens, d_in]`). */
  readonly input: Tensor;
  /** The layer's output for the same sample, `[tokens, d_out]` (or `[1, tokens, d_out]`). */
  readonly output?: Tensor;
  /**
   * float32 `[tokens]`: the block's self-attention probabilities of the last query row,
   * averaged over heads — how much the last token attends to each token (TAMP's a).
   */
  readonly attention?: Tensor;
  /**
   * bool `[tokens]` (or `[1, tokens]`): the modality of each token, true for the first
   * modality (visual tokens in a vision-language model), false for the second (language).
   */
  readonly modalityMask?: Tensor;
}

/** Which parts of a {@link LayerObservation} a statistic reads, so a runner computes only those. */
export interface ObservationNeeds {
  /** The layer's outputs. */
  readonly output: boolean;
  /** The block's last-row head-averaged attention. */
  readonly attention: boolean;
  /** The per-token modality mask. */
  readonly modalityMask: boolean;
}

/**
 * A {@link LayerStatistic} that consumes whole observations rather than inputs alone. A
 * pipeline calls {@link ObservingStatistic.observe} once per sample when the statistic has
 * it; {@link LayerStatistic.update} (inputs only) throws for statistics that cannot work
 * without the rest.
 */
export interface ObservingStatistic extends LayerStatistic {
  /** What the statistic reads besides the input. */
  readonly needs: ObservationNeeds;
  /** Adds one sample's observation of the layer. */
  observe(observation: LayerObservation): void;
}

/**
 * A method's whole-model planning step, run before any layer is pruned: a dense calibration
 * pass over every block collects one statistic per layer, then {@link LayerwisePlanner.plan}
 * turns them into a target per layer (TAMP's diversity-aware sparsity; OWL's outlier ratios
 * fit the same shape).
 *
 * @typeParam P - the planning statistic
 */
export interface LayerwisePlanner<P extends LayerStatistic = LayerStatistic> {
  /** Creates the planning statistic of `layer`. */
  createPlanStatistic(layer: PrunableLayer): P;
  /**
   * The target of every layer, given the global `target` and each layer's statistic (all
   * layers of the model, in execution order).
   */
  plan(layers: readonly PrunableLayer[], statistics: ReadonlyMap<string, P>, target: SparsityTarget): Map<string, SparsityTarget>;
}

/** True when `statistic` has an {@link ObservingStatistic.observe} method. */
export function isObservingStatistic(statistic: LayerStatistic): statistic is ObservingStatistic {
  return typeof (statistic as Partial<ObservingStatistic>).observe === 'function';
}
