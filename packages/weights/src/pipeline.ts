import {
  type BlockRunner,
  type ModelAdapter,
  type ModelBlock,
  type PrunableKind,
  type PrunableLayer,
  type ProgressCallback,
  type ProgressStage,
  PruneError,
  Tensor,
  all,
  clone,
  dispose,
  isFinite as isFiniteOp,
  progressStage,
  referenceBackend,
  sparsityOf,
  tidy,
} from '@prune/core';
import { type CalibrationSource, type MaskCollection, checkCalibration, checkSampleCount, embedSamples, observedRun, runBlockOver } from './calibration-pass.js';
import type { LayerStatistic, PruningMethod, SparsityTarget } from './method.js';
import { type LayerwisePlanner, type ObservationNeeds, isObservingStatistic } from './tamp-observation.js';
import { checkTarget, checkTargetFits, describeTarget } from './target.js';

/**
 * How the calibration data was chosen, as the caller describes it. Copied verbatim into the
 * {@link PruneReport} so a result can be reproduced (the reference code's defaults: 128
 * sequences of the model's context length from C4, seed 0).
 */
export interface CalibrationProtocol {
  /** What the samples are, e.g. `zoo:calib (4 sources, 128 windows)` or a file path. */
  readonly data?: string;
  /** Tokens per sample. */
  readonly seqlen?: number;
  /** Seed that chose the samples. */
  readonly seed?: number;
  /** Anything else worth recording (JSON values). */
  readonly [key: string]: unknown;
}

/** Options of {@link pruneModel}. */
export interface PruneModelOptions {
  /** The pruning method, e.g. `wanda()` or `magnitude()`. */
  method: PruningMethod;
  /** The sparsity pattern: unstructured at a fraction, or N:M. */
  target: SparsityTarget;
  /**
   * Calibration samples, streamed: each is one model input (e.g. int32 token ids
   * `[seqlen]`), or `{ input, modalityMask }` for a multimodal model (bool `[tokens]`, true
   * for visual tokens — TAMP needs it; other methods ignore it). Only the first `nsamples`
   * are read. Samples are neither kept nor disposed — a generator that creates them may
   * dispose each after it resumes (a mask is copied when a method reads it). Ignored (never
   * iterated) for data-free methods.
   * @defaultValue none (required for methods with a statistic)
   */
  calibration?: CalibrationSource;
  /**
   * Calibration samples to use.
   * @defaultValue 128 (the reference)
   */
  nsamples?: number;
  /**
   * Sequential propagation: after a block is pruned, re-run it on the same inputs so the next
   * block calibrates on the outputs of the pruned model (the reference). When false, every
   * block calibrates on the dense model's hidden states.
   * @defaultValue true
   */
  propagate?: boolean;
  /**
   * Per-block unstructured sparsity overriding `target.sparsity`, one entry per block in
   * order (e.g. OWL's {@link OwlResult.sparsity}). Only for unstructured targets.
   * @defaultValue none: every block uses `target`
   */
  layerSparsity?: readonly number[];
  /**
   * Per-layer targets by layer name, overriding `target` and `layerSparsity` for the layers
   * they name (e.g. a method's own layerwise allocation such as TAMP's diversity-aware
   * sparsity). Each is validated like `target`, against its layer.
   * @defaultValue none
   */
  layerTargets?: ReadonlyMap<string, SparsityTarget> | Readonly<Record<string, SparsityTarget>>;
  /**
   * Run the method's {@link PruningMethod.planner} (TAMP's diversity-aware sparsity) when
   * neither `layerTargets` nor `layerSparsity` is given: a dense pass of every sample
   * through the whole model, then one target per layer. `false` prunes every layer at
   * `target` (TAMP without DAS).
   * @defaultValue true
   */
  plan?: boolean;
  /**
   * The calibration protocol to record in the report.
   * @defaultValue none
   */
  protocol?: CalibrationProtocol;
  /**
   * Progress reports: stage `'embed'` (samples), `'plan'` (block runs of a method's
   * planning pass), `'calibrate'` (block runs over samples) and `'prune'` (layers).
   * @defaultValue no reporting
   */
  onProgress?: ProgressCallback;
  /**
   * Stops the run between samples and layers. Blocks already pruned stay written.
   * @defaultValue none
   */
  signal?: AbortSignal;
}

/** One pruned layer in a {@link PruneReport}. */
export interface LayerReport {
  /** Layer name. */
  readonly name: string;
  /** Name of its block. */
  readonly block: string;
  /** Layer type. */
  readonly kind: PrunableKind;
  /** `[d_out, d_in]`. */
  readonly shape: readonly [number, number];
  /** The pattern this layer was pruned to (after `layerSparsity`). */
  readonly target: SparsityTarget;
  /** Pruned fraction achieved (false entries of the method's mask). */
  readonly sparsity: number;
  /** Pruned weights. */
  readonly pruned: number;
  /** All weights. */
  readonly total: number;
  /** Wall time to read, prune and write this layer, in milliseconds. */
  readonly ms: number;
}

/** Calibration time of one block in a {@link PruneReport}. */
export interface BlockReport {
  /** Block name. */
  readonly name: string;
  /** Wall time of the statistics pass, in milliseconds (0 for data-free methods). */
  readonly calibrationMs: number;
  /** Wall time of re-running the pruned block to propagate its outputs, in milliseconds. */
  readonly propagationMs: number;
}

/** What {@link pruneModel} did. Plain JSON values only, ready for `JSON.stringify`. */
export interface PruneReport {
  /** The adapter's description of the model. */
  readonly model: string;
  /** Method name. */
  readonly method: string;
  /** Method options ({@link PruningMethod.options}). */
  readonly options: Readonly<Record<string, unknown>>;
  /** The requested pattern. */
  readonly target: SparsityTarget;
  /** Short label of the pattern, e.g. `unstructured 50%` or `2:4`. */
  readonly pattern: string;
  /** Per-block sparsity overrides, when given. */
  readonly layerSparsity: readonly number[] | null;
  /** Per-layer target overrides, when given or planned. */
  readonly layerTargets: Readonly<Record<string, SparsityTarget>> | null;
  /** Whether `layerTargets` came from the method's planner (a dense planning pass). */
  readonly planned: boolean;
  /** Calibration settings, or null for a data-free method. */
  readonly calibration: {
    /** Samples used. */
    readonly nsamples: number;
    /** Whether pruned outputs were propagated. */
    readonly propagate: boolean;
    /** The protocol as the caller gave it. */
    readonly protocol: CalibrationProtocol | null;
  } | null;
  /** Per-layer results, in execution order. */
  readonly layers: readonly LayerReport[];
  /** Per-block calibration timings. */
  readonly blocks: readonly BlockReport[];
  /** Pruned fraction over all prunable weights. */
  readonly sparsity: number;
  /** Pruned weights over all prunable layers. */
  readonly pruned: number;
  /** All prunable weights. */
  readonly total: number;
  /** Wall time of the whole run, in milliseconds. */
  readonly totalMs: number;
}

const OP = 'pruneModel';

function checkMethod(method: unknown): PruningMethod {
  const m = method as PruningMethod | undefined;
  if (m === null || typeof m !== 'object' || typeof m.name !== 'string' || typeof m.pruneLayer !== 'function') {
    throw new PruneError('INVALID_ARGUMENT', `${OP}: method must be a PruningMethod such as wanda() or magnitude()`);
  }
  return m;
}

function checkLayerSparsity(value: unknown, blocks: readonly ModelBlock[], target: SparsityTarget, method: PruningMethod): readonly number[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.length !== blocks.length) {
    throw new PruneError('INVALID_ARGUMENT', `${OP}: layerSparsity must list one sparsity per block (${blocks.length}), got ${Array.isArray(value) ? value.length : typeof value}`);
  }
  if (target.kind !== 'unstructured') {
    throw new PruneError('INVALID_ARGUMENT', `${OP}: layerSparsity applies to unstructured targets only; an N:M pattern is fixed per group`);
  }
  if (typeof method.prepare === 'function' && method.options?.scope === 'global') {
    throw new PruneError('INVALID_ARGUMENT', `${OP}: layerSparsity cannot be combined with a global threshold (magnitude scope 'global'); use scope 'matrix' or 'row'`);
  }
  value.forEach((s, i) => {
    if (typeof s !== 'number' || !Number.isFinite(s) || s < 0 || s >= 1) {
      throw new PruneError('OUT_OF_RANGE', `${OP}: layerSparsity[${i}] (block ${blocks[i].name}) must be in [0, 1), got ${String(s)}`);
    }
  });
  return [...value];
}

function checkLayerTargets(value: unknown, layers: readonly PrunableLayer[], method: PruningMethod): Map<string, SparsityTarget> | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== 'object') {
    throw new PruneError('INVALID_ARGUMENT', `${OP}: layerTargets must be a Map or an object from layer name to target`);
  }
  if (typeof method.prepare === 'function' && method.options?.scope === 'global') {
    throw new PruneError('INVALID_ARGUMENT', `${OP}: layerTargets cannot be combined with a global threshold (magnitude scope 'global')`);
  }
  const entries = value instanceof Map ? [...(value as Map<unknown, unknown>)] : Object.entries(value);
  const byName = new Map(layers.map((l) => [l.name, l]));
  const out = new Map<string, SparsityTarget>();
  for (const [name, target] of entries) {
    const layer = byName.get(name as string);
    if (layer === undefined) throw new PruneError('NOT_FOUND', `${OP}: layerTargets names ${String(name)}, which is not a prunable layer of the model`);
    const t = checkTarget(`${OP} (layerTargets of ${layer.name})`, target);
    checkTargetFits(OP, t, layer.name, layer.shape[1]);
    out.set(layer.name, t);
  }
  return out;
}

/** Reads every weight once: right shape, float32, no NaN or ±Infinity. Writes nothing. */
async function checkWeights(adapter: ModelAdapter, layers: readonly PrunableLayer[], signal: AbortSignal | undefined): Promise<void> {
  for (const layer of layers) {
    signal?.throwIfAborted();
    const w = await adapter.readWeight(layer.name);
    try {
      if (!(w instanceof Tensor) || w.dtype !== 'float32' || w.shape.length !== 2 || w.shape[0] !== layer.shape[0] || w.shape[1] !== layer.shape[1]) {
        throw new PruneError(
          'SHAPE_MISMATCH',
          `${OP}: the adapter returned ${w instanceof Tensor ? `a ${w.dtype} [${w.shape.join(', ')}] tensor` : 'a non-tensor'} for layer ${layer.name}, which it lists as float32 [${layer.shape.join(', ')}]`,
        );
      }
      if (!tidy(() => all(isFiniteOp(w)).dataSync()[0] === 1)) {
        throw new PruneError('NON_FINITE', `${OP}: the weight of layer ${layer.name} holds NaN or ±Infinity; the checkpoint is damaged — nothing was pruned`);
      }
    } finally {
      if (w instanceof Tensor) w.dispose();
    }
  }
}

/**
 * Prunes a whole model block by block, through its {@link ModelAdapter}.
 *
 * For calibrated methods (those with {@link PruningMethod.createStatistic}) the samples are
 * embedded once into block-0 hidden states; then for each block: one pass of every sample
 * through the still-dense block feeds each linear's statistic; all layers of the block are
 * pruned and written; with `propagate` (default) the pruned block is re-run on the same
 * inputs to produce the next block's inputs, without it the dense pass's outputs are used.
 * Data-free methods never touch the calibration stream or the runner.
 *
 * Methods whose statistics read more than inputs ({@link ObservingStatistic}, e.g. TAMP's
 * AMIA column norms) are fed through {@link BlockRunner.runBlockObserved}: each gets the
 * layer's input, output, the block's last-row attention when it asks for it, and the
 * sample's modality mask (from `{ input, modalityMask }` samples). A method with a
 * {@link PruningMethod.planner} (TAMP) first gets a dense planning pass over the whole model
 * that sets every layer's target (its diversity-aware sparsity), unless `layerTargets` or
 * `layerSparsity` is given or `plan` is false.
 *
 * Memory: the block hidden states of the calibration samples are held one tensor per
 * sample (`nsamples` × the size of one block input, e.g. seqlen × d_model floats each),
 * plus one block output at a time, one weight matrix at a time and the statistics of one
 * block's layers (a planning pass holds a second copy of the states while it runs, and
 * methods that read modality masks keep one mask per sample). Linear-layer inputs are never stored: statistics consume them as the
 * block runs.
 *
 * Validation happens before anything is written: the options, the target (and any
 * per-layer override) against every layer (N:M needs d_in divisible by M; the error names the layer), every weight (NaN or
 * ±Infinity → `NON_FINITE` naming the layer), the presence of prunable layers, and, for
 * calibrated methods, that `nsamples` samples can be embedded.
 *
 * @param adapter - the model
 * @param options - method, target, calibration and reporting
 * @returns what was done: per-layer sparsity and time, the options and the protocol
 * @throws PruneError on bad input (nothing written); the `signal`'s reason when aborted
 *
 * @example
 * ```ts
 * const report = await pruneModel(model, {
 *   method: wanda(),
 *   target: { kind: 'unstructured', sparsity: 0.5 },
 *   calibration: windows,            // iterable of int32 [seqlen] token ids
 *   nsamples: 128,
 *   protocol: { data: 'calib.txt', seqlen: 128, seed: 0 },
 *   onProgress: (e) => console.log(e.stage, e.done, e.total),
 * });
 * ```
 */
export async function pruneModel(adapter: ModelAdapter, options: PruneModelOptions): Promise<PruneReport> {
  const started = performance.now();
  if (adapter === null || typeof adapter !== 'object' || typeof adapter.blocks !== 'function' || typeof adapter.readWeight !== 'function' || typeof adapter.writeWeight !== 'function') {
    throw new PruneError('INVALID_ARGUMENT', `${OP}: adapter must implement ModelAdapter (blocks, readWeight, writeWeight)`);
  }
  if (options === null || typeof options !== 'object') {
    throw new PruneError('INVALID_ARGUMENT', `${OP}: needs options such as { method: wanda(), target: { kind: 'unstructured', sparsity: 0.5 }, calibration }`);
  }
  let method = checkMethod(options.method);
  const target = checkTarget(OP, options.target);
  const propagate = options.propagate ?? true;
  if (typeof propagate !== 'boolean') throw new PruneError('INVALID_ARGUMENT', `${OP}: propagate must be true or false, got ${String(propagate)}`);
  const { signal, onProgress } = options;
  const blocks = adapter.blocks();
  const layers = blocks.flatMap((b) => b.layers);
  if (layers.length === 0) {
    throw new PruneError('NOT_FOUND', `${OP}: the model ${adapter.description} has no prunable layer (no linear or convolution weights were found); nothing to prune`);
  }
  const names = new Set<string>();
  for (const layer of layers) {
    if (names.has(layer.name)) throw new PruneError('INVALID_ARGUMENT', `${OP}: the adapter lists layer ${layer.name} twice`);
    names.add(layer.name);
  }
  let layerTargets = checkLayerTargets(options.layerTargets, layers, method);
  for (const layer of layers) if (!layerTargets?.has(layer.name)) checkTargetFits(OP, target, layer.name, layer.shape[1]);
  const layerSparsity = checkLayerSparsity(options.layerSparsity, blocks, target, method);
  const plan = options.plan ?? true;
  if (typeof plan !== 'boolean') throw new PruneError('INVALID_ARGUMENT', `${OP}: plan must be true or false, got ${String(plan)}`);
  const planner = plan && layerTargets === undefined && layerSparsity === undefined ? method.planner : undefined;
  if (planner !== undefined && (typeof planner.createPlanStatistic !== 'function' || typeof planner.plan !== 'function')) {
    throw new PruneError('INVALID_ARGUMENT', `${OP}: the planner of method ${method.name} must have createPlanStatistic() and plan()`);
  }
  const calibrated = typeof method.createStatistic === 'function';
  const nsamples = calibrated || planner !== undefined ? checkSampleCount(OP, options.nsamples ?? 128) : 0;
  const runner = calibrated || planner !== undefined ? checkCalibration(OP, adapter, options.calibration, method.name) : undefined;
  // What the statistics read besides inputs, known before anything is embedded or written.
  const needs = [
    calibrated ? observationNeeds(method.createStatistic!(layers[0])) : undefined,
    planner === undefined ? undefined : observationNeeds(planner.createPlanStatistic(layers[0])),
  ].filter((n): n is ObservationNeeds => n !== undefined);
  if (needs.length > 0 && runner !== undefined) observedRun(OP, runner, adapter.description, method.name);
  const masks: MaskCollection | undefined = needs.some((n) => n.modalityMask) ? { into: [], required: method.name } : undefined;
  signal?.throwIfAborted();
  await checkWeights(adapter, layers, signal);

  let hidden: Tensor[] = [];
  try {
    if (runner !== undefined) {
      const embed = progressStage(onProgress, 'embed', nsamples, 'samples');
      hidden = await embedSamples(OP, runner, options.calibration as CalibrationSource, nsamples, signal, embed, masks);
    }
    if (planner !== undefined && runner !== undefined) {
      const planned = await planLayers(runner, planner, blocks, hidden, masks?.into, target, signal, progressStage(onProgress, 'plan', nsamples * blocks.length, 'samples'));
      layerTargets = checkLayerTargets(planned, layers, method);
    }
    // Validation is complete; from here on weights are written.
    if (typeof method.prepare === 'function') {
      method = checkMethod(await method.prepare({ layers, target, readWeight: (name) => adapter.readWeight(name), signal }));
    }
    const calibrate = runner === undefined ? undefined : progressStage(onProgress, 'calibrate', nsamples * (blocks.length + (propagate ? blocks.length - 1 : 0)), 'samples');
    const prune = progressStage(onProgress, 'prune', layers.length, 'layers');
    const layerReports: LayerReport[] = [];
    const blockReports: BlockReport[] = [];
    for (let b = 0; b < blocks.length; b++) {
      const block = blocks[b];
      const blockTarget: SparsityTarget = layerSparsity === undefined ? target : { kind: 'unstructured', sparsity: layerSparsity[b] };
      const statistics = new Map<string, LayerStatistic>();
      let calibrationMs = 0;
      let propagationMs = 0;
      try {
        if (runner !== undefined && block.layers.length > 0) {
          for (const layer of block.layers) statistics.set(layer.name, method.createStatistic!(layer));
          const t0 = performance.now();
          // Without propagation the dense outputs become the next block's inputs right away.
          runBlockOver(runner, b, hidden, statistics, !propagate, signal, calibrate, block, masks?.into);
          calibrationMs = performance.now() - t0;
        } else if (runner !== undefined) {
          runBlockOver(runner, b, hidden, undefined, true, signal, calibrate, block);
        }
        for (const layer of block.layers) {
          signal?.throwIfAborted();
          const t0 = performance.now();
          const weight = await adapter.readWeight(layer.name);
          const layerTarget = layerTargets?.get(layer.name) ?? blockTarget;
          const record = (pruned: number, total: number): void => {
            layerReports.push({
              name: layer.name,
              block: block.name,
              kind: layer.kind,
              shape: [layer.shape[0], layer.shape[1]],
              target: layerTarget,
              sparsity: total === 0 ? 0 : pruned / total,
              pruned,
              total,
              ms: performance.now() - t0,
            });
          };
          if (method.pruneLayerInPlace !== undefined && !statistics.has(layer.name) && weight.backend === referenceBackend && weight.dtype === 'float32') {
            // The caller owns what readWeight returns: prune its storage in place, so a layer
            // costs one copy of its weight instead of three (weight, result, mask).
            try {
              const pruned = method.pruneLayerInPlace(layer, weight.ref<Float32Array>().handle, layerTarget);
              await adapter.writeWeight(layer.name, weight);
              record(pruned, weight.size);
            } finally {
              weight.dispose();
            }
            prune.advance(1, layer.name);
            continue;
          }
          let result;
          try {
            result = method.pruneLayer(layer, weight, layerTarget, statistics.get(layer.name));
          } catch (e) {
            weight.dispose();
            throw e;
          }
          try {
            await adapter.writeWeight(layer.name, result.weight);
            const counts = sparsityOf(result.mask);
            record(counts.pruned, counts.total);
          } finally {
            // A method may hand back the weight itself (nothing pruned); dispose each tensor once.
            dispose([weight, result.weight, result.mask]);
          }
          // The statistic is no longer needed once its layer is pruned.
          statistics.get(layer.name)?.dispose();
          statistics.delete(layer.name);
          prune.advance(1, layer.name);
        }
      } finally {
        for (const s of statistics.values()) s.dispose();
      }
      if (runner !== undefined && propagate && block.layers.length > 0 && b < blocks.length - 1) {
        const t0 = performance.now();
        runBlockOver(runner, b, hidden, undefined, true, signal, calibrate, block);
        propagationMs = performance.now() - t0;
      }
      blockReports.push({ name: block.name, calibrationMs, propagationMs });
    }
    const pruned = layerReports.reduce((n, l) => n + l.pruned, 0);
    const total = layerReports.reduce((n, l) => n + l.total, 0);
    return {
      model: adapter.description,
      method: method.name,
      options: { ...(method.options ?? {}) },
      target,
      pattern: describeTarget(target),
      layerSparsity: layerSparsity ?? null,
      layerTargets: layerTargets === undefined ? null : Object.fromEntries(layerTargets),
      planned: planner !== undefined,
      calibration: runner === undefined ? null : { nsamples, propagate, protocol: options.protocol === undefined ? null : { ...options.protocol } },
      layers: layerReports,
      blocks: blockReports,
      sparsity: total === 0 ? 0 : pruned / total,
      pruned,
      total,
      totalMs: performance.now() - started,
    };
  } finally {
    dispose(hidden);
    if (masks !== undefined) dispose(masks.into.filter((m): m is Tensor => m !== undefined));
  }
}

/** What a method's statistic reads besides inputs (undefined for an inputs-only statistic); disposes the probe. */
function observationNeeds(probe: LayerStatistic): ObservationNeeds | undefined {
  try {
    return isObservingStatistic(probe) ? { ...probe.needs } : undefined;
  } finally {
    probe.dispose();
  }
}

/**
 * The planning pass of a {@link LayerwisePlanner}: copies of the block-0 states go through the
 * DENSE model block by block while each layer's plan statistic observes; then the planner
 * turns all statistics into per-layer targets. Nothing is written; the copies are released
 * as the pass ends, so the pipeline's own states stay at block 0.
 */
async function planLayers(
  runner: BlockRunner,
  planner: LayerwisePlanner,
  blocks: readonly ModelBlock[],
  hidden: readonly Tensor[],
  masks: readonly (Tensor | undefined)[] | undefined,
  target: SparsityTarget,
  signal: AbortSignal | undefined,
  progress: ProgressStage,
): Promise<Map<string, SparsityTarget>> {
  const states = hidden.map((h) => clone(h));
  const statistics = new Map<string, LayerStatistic>();
  try {
    for (let b = 0; b < blocks.length; b++) {
      const block = blocks[b];
      const own = new Map<string, LayerStatistic>();
      for (const layer of block.layers) {
        const s = planner.createPlanStatistic(layer);
        own.set(layer.name, s);
        statistics.set(layer.name, s);
      }
      // The last block's outputs are not needed.
      runBlockOver(runner, b, states, own, b < blocks.length - 1, signal, progress, block, masks);
    }
    return planner.plan(
      blocks.flatMap((bl) => bl.layers),
      statistics,
      target,
    );
  } finally {
    dispose(states);
    for (const s of statistics.values()) s.dispose();
  }
}
