import { PruneError } from '@prune/core';
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { keptWidths, shrinkModel } from './apply.js';
import { type BlockedLayer, type ChannelGraph, type ChannelGraphOptions, buildChannelGraph } from './graph.js';
import { type ChannelCriterion, type ChannelScores, type GroupImportanceOptions, l1Norm, scoreChannels } from './importance.js';
import { modelArtifacts } from './io.js';
import { countMacs, countParameters, median } from './report.js';
import { type ChannelPlan, type ChannelSelectionOptions, selectChannels } from './select.js';

/** Options of {@link pruneChannels}: graph, criterion, aggregation and selection in one. */
export interface PruneChannelsOptions extends ChannelGraphOptions, GroupImportanceOptions, ChannelSelectionOptions {
  /**
   * Channel importance.
   * @defaultValue `l1Norm()`
   */
  criterion?: ChannelCriterion;
}

/** Width of one producer layer before and after pruning. */
export interface LayerWidth {
  /** Layer name. */
  readonly layer: string;
  /** Output channels (filters / units) before. */
  readonly before: number;
  /** After. */
  readonly after: number;
}

/** Size figures of one model. */
export interface ModelSize {
  /** Parameters. */
  readonly parameters: number;
  /** Conv/dense multiply-accumulates per sample (see `countMacs`). */
  readonly macs: number;
}

/** What {@link pruneChannels} did. */
export interface ChannelPruneReport {
  /** Criterion name. */
  readonly criterion: string;
  /** Dependency groups with removable channels. */
  readonly groups: number;
  /** Removable channels over all groups. */
  readonly prunableChannels: number;
  /** Channels removed. */
  readonly removedChannels: number;
  /** Source model. */
  readonly before: ModelSize;
  /** Pruned model. */
  readonly after: ModelSize;
  /** Producer layers whose width changed. */
  readonly layers: readonly LayerWidth[];
  /** Layers that kept channels intact, and why. */
  readonly blocked: readonly BlockedLayer[];
}

/** Everything {@link pruneChannels} produced. */
export interface ChannelPruneResult {
  /** The physically smaller model (the source is untouched). */
  readonly model: LayersModel;
  /** The dependency graph of the source model. */
  readonly graph: ChannelGraph;
  /** Group importance scores. */
  readonly scores: ChannelScores;
  /** The channels removed. */
  readonly plan: ChannelPlan;
  /** Sizes and widths before and after. */
  readonly report: ChannelPruneReport;
}

/**
 * Channel pruning in one call — the three steps, each available alone: **score**
 * (`buildChannelGraph` + `scoreChannels`), **select** (`selectChannels`), **apply**
 * (`shrinkModel`, or `maskChannels` to zero in place).
 *
 * @param model - a tfjs LayersModel (not modified)
 * @param options - ratio and optional criterion, aggregation, selection and graph options
 * @returns the smaller model, the intermediate pieces and a report
 *
 * @example
 * ```ts
 * const { model: small, report } = await pruneChannels(model, { ratio: 0.3, criterion: l1Norm(), roundTo: 8 });
 * ```
 */
export async function pruneChannels(model: LayersModel, options: PruneChannelsOptions): Promise<ChannelPruneResult> {
  if (options === null || typeof options !== 'object') throw new PruneError('INVALID_ARGUMENT', 'pruneChannels: pass options such as { ratio: 0.3 }');
  const graph = buildChannelGraph(model, options);
  const criterion = options.criterion ?? l1Norm();
  const scores = await scoreChannels(graph, criterion, options);
  const plan = selectChannels(graph, scores, options);
  const pruned = await shrinkModel(graph, plan);
  const widths = keptWidths(graph, plan);
  const layers: LayerWidth[] = [];
  for (const g of graph.groups) {
    for (const p of g.producers) {
      const w = widths.get(p);
      if (w !== undefined && w.kept !== w.total) layers.push({ layer: p, before: w.total, after: w.kept });
    }
  }
  const report: ChannelPruneReport = {
    criterion: criterion.name,
    groups: graph.groups.length,
    prunableChannels: graph.groups.reduce((a, g) => a + g.size, 0),
    removedChannels: plan.removed.reduce((a, r) => a + r.length, 0),
    before: { parameters: countParameters(model), macs: countMacs(model) },
    after: { parameters: countParameters(pruned), macs: countMacs(pruned) },
    layers,
    blocked: graph.blocked,
  };
  return { model: pruned, graph, scores, plan, report };
}

/** Options of {@link compareLatency}. */
export interface CompareLatencyOptions {
  /**
   * Timed rounds; each round runs every model once, in turn, so machine load hits them alike.
   * @defaultValue `5`
   */
  rounds?: number;
}

/**
 * Median latency of `model.predict(input)` (result read back) of several models, measured in
 * interleaved rounds after one warm-up run each.
 *
 * @param models - the models to time (e.g. dense and pruned)
 * @param input - a batch
 * @param options - number of rounds
 * @returns the median milliseconds of each model, in order
 */
export async function compareLatency(models: readonly LayersModel[], input: tf.Tensor | tf.Tensor[], options: CompareLatencyOptions = {}): Promise<number[]> {
  const rounds = options.rounds ?? 5;
  if (!Number.isSafeInteger(rounds) || rounds < 1) throw new PruneError('INVALID_ARGUMENT', `compareLatency: rounds must be a positive integer, got ${String(options.rounds)}`);
  const once = async (m: LayersModel): Promise<number> => {
    const start = performance.now();
    const y = m.predict(input) as tf.Tensor | tf.Tensor[];
    const list = Array.isArray(y) ? y : [y];
    for (const t of list) await t.data();
    tf.dispose(list);
    return performance.now() - start;
  };
  for (const m of models) await once(m);
  const times = models.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++) for (let i = 0; i < models.length; i++) times[i].push(await once(models[i]));
  return times.map(median);
}

/**
 * Bytes of a model's weights as tfjs' `model.save` writes them (float32), plus its model.json.
 * @param model - the model
 * @returns the size in bytes of an unquantized save
 */
export async function savedBytes(model: LayersModel): Promise<number> {
  const a = await modelArtifacts(model);
  const data = a.weightData;
  const weights = data === undefined ? 0 : (Array.isArray(data) ? data : [data]).reduce((s, b) => s + b.byteLength, 0);
  return weights + JSON.stringify({ modelTopology: a.modelTopology, weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: a.weightSpecs }] }).length;
}
