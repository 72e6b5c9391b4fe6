import { type AccumulatorOptions, type ModelAdapter, type PrunableLayer, PruneError, Tensor, clone, dispose, tidy } from '@prune/core';
import type { PrunedLayer, PruningMethod, SparsityTarget } from './method.js';
import { AmiaColumnNorm, type TokenSelectionOptions } from './tamp-amia.js';
import { DiversityStatistic, type KeepBudgetOptions, type ModalitySimilarities, allocateKeepBudget } from './tamp-das.js';
import type { LayerObservation, LayerwisePlanner } from './tamp-observation.js';
import { pruneWanda } from './wanda.js';

/**
 * One calibration sample of a multimodal model: the model input and the modality of each
 * of its tokens (true for visual tokens).
 */
export interface MultimodalSample {
  /** What `BlockRunner.embed` (from `@prune/core`) takes, e.g. token ids with image placeholders. */
  readonly input: Tensor;
  /** bool `[tokens]`: true where the token is visual, false where it is language. */
  readonly modalityMask: Tensor;
}

/**
 * What a model's runner must offer for TAMP, beyond `BlockRunner` (from `@prune/core`): a block run that
 * shows each linear its output and, on request, the block's last-row attention.
 */
export interface ObservingBlockRunner {
  /** As `BlockRunner.embed`. */
  embed(sample: Tensor): Tensor;
  /**
   * Runs block `index` on one sample's `hidden` state and returns the block's output, calling
   * `observe` once per prunable layer with its input `[tokens, d_in]`, its output
   * `[tokens, d_out]` and — when `attention` is true — the block's self-attention
   * probabilities of the last query row, averaged over heads (`[tokens]`). The tensors are
   * valid only during the call.
   */
  runBlockObserved(index: number, hidden: Tensor, observe: (layer: string, observation: LayerObservation) => void, attention: boolean): Tensor;
}

/** Options of {@link tampPlanner} and {@link tampLayerSparsity}. */
export interface TampSparsityOptions extends KeepBudgetOptions {}

/** The result of {@link tampLayerSparsity}. */
export interface TampSparsityResult {
  /** Sparsity of every layer, by name. */
  readonly sparsity: Map<string, number>;
  /** Weights kept per layer, by name (Σ = floor((1 − s)·Σ n_m)). */
  readonly keep: Map<string, number>;
  /** d_m per layer. */
  readonly score: Map<string, number>;
  /** The averaged S_vv, S_ll, S_vl per layer. */
  readonly similarities: Map<string, ModalitySimilarities>;
}

/**
 * Diversity-aware sparsity from collected statistics: the d_m of every layer, then the keep
 * budget ({@link allocateKeepBudget}) and the sparsity 1 − keep_m/n_m of each.
 * @param layers - every prunable layer, in model order
 * @param statistics - a {@link DiversityStatistic} per layer name
 * @param sparsity - overall target s
 * @param options - s_max
 */
export function tampSparsityFromStatistics(
  layers: readonly PrunableLayer[],
  statistics: ReadonlyMap<string, DiversityStatistic>,
  sparsity: number,
  options: TampSparsityOptions = {},
): TampSparsityResult {
  const op = 'tampSparsityFromStatistics';
  const scores: number[] = [];
  const sizes: number[] = [];
  const similarities = new Map<string, ModalitySimilarities>();
  for (const layer of layers) {
    const stat = statistics.get(layer.name);
    if (stat === undefined || stat.samples === 0) {
      throw new PruneError('INVALID_ARGUMENT', `${op}: layer ${layer.name} has no diversity statistic; every layer must observe at least one calibration sample`);
    }
    similarities.set(layer.name, stat.value());
    scores.push(stat.score());
    sizes.push(layer.shape[0] * layer.shape[1]);
  }
  const keep = allocateKeepBudget(scores, sizes, sparsity, options);
  return {
    sparsity: new Map(layers.map((l, m) => [l.name, 1 - keep[m] / sizes[m]])),
    keep: new Map(layers.map((l, m) => [l.name, keep[m]])),
    score: new Map(layers.map((l, m) => [l.name, scores[m]])),
    similarities,
  };
}

/**
 * TAMP's planning step as a {@link LayerwisePlanner}: a {@link DiversityStatistic} per layer
 * during a dense pass, then per-layer unstructured targets from diversity-aware sparsity. An
 * N:M target is returned unchanged for every layer (the reference prunes N:M uniformly).
 * @param options - s_max
 */
export function tampPlanner(options: TampSparsityOptions = {}): LayerwisePlanner<DiversityStatistic> {
  return {
    createPlanStatistic: () => new DiversityStatistic(),
    plan(layers, statistics, target) {
      if (target.kind === 'nm') return new Map(layers.map((l) => [l.name, target]));
      const result = tampSparsityFromStatistics(layers, statistics, target.sparsity, options);
      return new Map(layers.map((l) => [l.name, { kind: 'unstructured', sparsity: result.sparsity.get(l.name)! } as SparsityTarget]));
    },
  };
}

/** Options of {@link tampLayerSparsity}. */
export interface TampLayerSparsityOptions extends TampSparsityOptions {
  /** s, the overall sparsity over all prunable layers, in [0, 1). */
  sparsity: number;
  /** Calibration samples with their modality masks (the reference uses 128). */
  calibration: Iterable<MultimodalSample> | AsyncIterable<MultimodalSample>;
  /**
   * How many samples to use.
   * @defaultValue 128
   */
  nsamples?: number;
  /** Aborts the pass when signalled. */
  signal?: AbortSignal;
}

function observingRunner(op: string, adapter: ModelAdapter): ObservingBlockRunner {
  const runner = adapter.runner as Partial<ObservingBlockRunner> | undefined;
  if (runner === undefined || typeof runner.embed !== 'function' || typeof runner.runBlockObserved !== 'function') {
    throw new PruneError(
      'UNSUPPORTED',
      `${op}: TAMP needs each linear's outputs, but the runner of ${adapter.description} has no runBlockObserved(); use an adapter that implements it, or a method that needs inputs only (wanda, sparsegpt)`,
    );
  }
  return runner as ObservingBlockRunner;
}

/**
 * Diversity-aware sparsity of a whole model (TAMP's `compute_density` pass): the calibration
 * samples go through the dense model block by block; every linear's outputs give its
 * S_vv, S_ll, S_vl per sample (running average); then the keep budget is split by
 * d_m = Σ(1 − S). Use the result as per-layer sparsities of the pruning pass.
 *
 * Memory: one hidden state and one modality mask per sample, as the pipeline holds.
 *
 * @param adapter - a model whose runner implements {@link ObservingBlockRunner}
 * @param options - s, calibration samples with modality masks, s_max
 * @returns sparsity, keep count, d_m and similarities per layer
 * @throws `UNSUPPORTED` when the runner cannot show layer outputs; `INVALID_ARGUMENT` when a
 *   sample lacks its modality mask or the stream ends early
 */
export async function tampLayerSparsity(adapter: ModelAdapter, options: TampLayerSparsityOptions): Promise<TampSparsityResult> {
  const op = 'tampLayerSparsity';
  if (options === null || typeof options !== 'object') throw new PruneError('INVALID_ARGUMENT', `${op}: needs options such as { sparsity: 0.5, calibration }`);
  const runner = observingRunner(op, adapter);
  const nsamples = options.nsamples ?? 128;
  if (!Number.isInteger(nsamples) || nsamples < 1) throw new PruneError('INVALID_ARGUMENT', `${op}: nsamples must be a positive integer, got ${String(nsamples)}`);
  const blocks = adapter.blocks();
  const layers = blocks.flatMap((b) => b.layers);
  const statistics = new Map(layers.map((l) => [l.name, new DiversityStatistic()]));
  const hidden: Tensor[] = [];
  const masks: Tensor[] = [];
  try {
    for await (const sample of options.calibration) {
      options.signal?.throwIfAborted();
      if (sample === null || typeof sample !== 'object' || !(sample.input instanceof Tensor) || !(sample.modalityMask instanceof Tensor)) {
        throw new PruneError(
          'INVALID_ARGUMENT',
          `${op}: calibration sample ${hidden.length} must be { input, modalityMask } — TAMP needs the modality of every token (bool [tokens], true = visual)`,
        );
      }
      hidden.push(tidy(() => runner.embed(sample.input)));
      // The caller may dispose its sample once the stream resumes: keep a copy of the mask.
      masks.push(clone(sample.modalityMask));
      if (hidden.length === nsamples) break;
    }
    if (hidden.length < nsamples) {
      throw new PruneError('INVALID_ARGUMENT', `${op}: nsamples is ${nsamples} but the calibration stream ended after ${hidden.length}; lower nsamples or supply more samples`);
    }
    for (let b = 0; b < blocks.length; b++) {
      for (let j = 0; j < hidden.length; j++) {
        options.signal?.throwIfAborted();
        const mask = masks[j];
        const out = tidy(() =>
          runner.runBlockObserved(b, hidden[j], (layer, observation) => statistics.get(layer)?.observe({ ...observation, modalityMask: mask }), false),
        );
        hidden[j].dispose();
        hidden[j] = out;
      }
    }
    return tampSparsityFromStatistics(layers, statistics, options.sparsity, options);
  } finally {
    dispose(hidden);
    dispose(masks);
  }
}

/** Options of the {@link tamp} method. */
export interface TampOptions extends TokenSelectionOptions {
  /**
   * Which tokens feed the Wanda statistic: `'amia'` selects them per sample by adaptive
   * multimodal input activation; `'all'` uses every token (plain Wanda statistics with
   * per-token weighting).
   * @defaultValue `'amia'`
   */
  tokenSelection?: 'amia' | 'all';
  /**
   * Precision of the column-norm running average.
   * @defaultValue `'float32'`
   */
  accumulation?: AccumulatorOptions['accumulation'];
  /** s_max of the planner. @defaultValue sparsity + 0.1 */
  maxSparsity?: number;
}

/**
 * TAMP (Lee et al., 2025; G-JWLee/TAMP) as a {@link PruningMethod}: per layer an
 * {@link AmiaColumnNorm} (column norms over the tokens AMIA selects), then Wanda's per-row
 * pruning (⌊d_in·s_m⌋ per row, as the reference) at the layer's target — its
 * diversity-aware sparsity s_m, which `pruneModel` plans itself with the method's
 * {@link tampPlanner} in a dense first pass (or takes from {@link tampLayerSparsity} as
 * `layerTargets`). The statistic consumes whole observations (input, output, attention,
 * modality mask), so the model's runner needs `runBlockObserved` and every calibration
 * sample a modality mask.
 *
 * @param options - token selection and its parameters, accumulation, s_max
 * @returns the method, named `tamp`, with its planner
 *
 * @example
 * ```ts
 * // samples: { input: int32 ids [seq], modalityMask: bool [seq] (true = visual token) }
 * const report = await pruneModel(model, {
 *   method: tamp(),
 *   target: { kind: 'unstructured', sparsity: 0.5 },
 *   calibration: samples,
 * });
 * ```
 */
export function tamp(options: TampOptions = {}): PruningMethod<AmiaColumnNorm> & { readonly planner: LayerwisePlanner<DiversityStatistic> } {
  const tokenSelection = options.tokenSelection ?? 'amia';
  // Fail now, not at the first layer, on bad selection options.
  new AmiaColumnNorm(1, options).dispose();
  const planner = tampPlanner({ maxSparsity: options.maxSparsity });
  return {
    name: 'tamp',
    options: {
      tokenSelection,
      neighbours: options.neighbours ?? 3,
      penalty: options.penalty ?? 0.2,
      mmdFactor: options.mmdFactor ?? 0.1,
      ...(options.maxSparsity === undefined ? {} : { maxSparsity: options.maxSparsity }),
    },
    planner,
    createStatistic(layer: PrunableLayer): AmiaColumnNorm {
      return new AmiaColumnNorm(layer.shape[1], options);
    },
    pruneLayer(layer: PrunableLayer, weight: Tensor, target: SparsityTarget, statistic: AmiaColumnNorm | undefined): PrunedLayer {
      if (statistic === undefined || statistic.selectedTokens === 0) {
        throw new PruneError(
          'INVALID_ARGUMENT',
          `tamp: layer ${layer.name} has no calibration statistic; TAMP needs each sample's layer inputs, outputs, attention and modality mask (observe())`,
        );
      }
      const s = statistic.value();
      try {
        return pruneWanda(weight, s, target, { name: layer.name });
      } finally {
        s.dispose();
      }
    },
  };
}
