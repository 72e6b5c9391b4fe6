import {
  type Backend,
  type BlockRunner,
  type ModelAdapter,
  type ModelBlock,
  type PrunableKind,
  PruneError,
  Tensor,
  fromArray,
  getBackend,
  shapesEqual,
} from '@prune/core';
import * as tf from '@tensorflow/tfjs-core';
import type { GraphModel } from '@tensorflow/tfjs-converter';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import {
  type TfjsModelFiles,
  type TfjsStoredWeight,
  type TfjsWeightEncoding,
  checkOutputFolder,
  concatBytes,
  decodeFloatWeight,
  encodeFloatWeight,
  locateModelJson,
  readTfjsModelFolder,
  sliceWeights,
  writeTfjsModelFolder,
} from './artifacts.js';
import { discoverGraphLayers } from './graph-model.js';
import { kernelFromMatrix, matrixFromKernel } from './layout.js';
import { type LayerSelection, discoverLayers, executionPlan, kernelVariable } from './layers-model.js';
import { createLayersRunner } from './runner.js';
import type { SkippedTfjsLayer, TfjsPrunableLayer } from './types.js';

/** What {@link openTfjsModelAdapter} accepts: a model folder (or its model.json), or a loaded model. */
export type TfjsModelSource = string | LayersModel | GraphModel;

/** Options of {@link openTfjsModelAdapter}. */
export interface TfjsModelAdapterOptions {
  /**
   * Folder the pruned model is written to by {@link TfjsModelAdapter.finish} (model.json and
   * weight shards). It must not be the input folder, lie inside it or contain it; an existing
   * model folder there is replaced, any other non-empty folder is refused. Required for a
   * model folder and for a GraphModel; optional for a loaded LayersModel, which is pruned in
   * place.
   * @defaultValue none
   */
  output?: string;
  /**
   * Layer kinds to prune. Depthwise convolutions are left out by default: each of their rows
   * has only `kh·kw` weights, and a calibrated method cannot observe them (every row sees a
   * different input channel).
   * @defaultValue `['linear', 'conv2d']` (Dense, Conv1D, Conv2D and their graph ops)
   */
  kinds?: readonly PrunableKind[];
  /**
   * Only prune these layers: a list of names (which must exist and be prunable; a list
   * overrides `kinds` and `includeHead`) or a pattern matched against names.
   * @defaultValue every layer of the selected kinds
   */
  include?: RegExp | readonly string[];
  /**
   * Never prune these layers (names or a pattern).
   * @defaultValue none
   */
  exclude?: RegExp | readonly string[];
  /**
   * Prune the output head too — the prunable layers that feed a model output through
   * non-prunable layers only (the classifier). Like Wanda and SparseGPT, it is left dense by
   * default.
   * @defaultValue false
   */
  includeHead?: boolean;
  /**
   * How written weights are stored. `'original'` keeps each weight's stored type: a
   * float16-quantized weight stays float16; a uint8/uint16-quantized weight is re-quantized
   * with its step and an offset moved so that 0 is exact (pruned weights load as exactly 0;
   * kept ones move by at most one quantization step). `'float32'` stores written weights
   * exactly as float32 (4× the size of uint8). Weights that are not written are copied byte
   * for byte either way.
   * @defaultValue `'original'`
   */
  weightEncoding?: TfjsWeightEncoding;
  /**
   * Core backend that owns the tensors the adapter returns.
   * @defaultValue the current core backend
   */
  backend?: Backend;
  /**
   * Largest weight shard file written, in bytes.
   * @defaultValue `4_194_304` (tfjs' own default)
   */
  shardBytes?: number;
}

/** What {@link TfjsModelAdapter.finish} wrote. */
export interface TfjsModelWriteResult {
  /** The output folder, or `undefined` when no output was asked for. */
  readonly folder: string | undefined;
  /** Files written (absolute paths): model.json, then the weight shards. */
  readonly files: readonly string[];
  /** Their total size in bytes, measured after writing. */
  readonly bytes: number;
  /** Size of the input folder's files in bytes (`undefined` for a model passed in memory). */
  readonly inputBytes: number | undefined;
  /** Number of weights written through {@link TfjsModelAdapter.writeWeight}. */
  readonly writtenWeights: number;
}

/**
 * A {@link ModelAdapter} over a TensorFlow.js model (made by {@link openTfjsModelAdapter}).
 * Each block is one prunable layer, in execution order.
 */
export interface TfjsModelAdapter extends ModelAdapter {
  /** `'layers-model'` or `'graph-model'`. */
  readonly format: 'layers-model' | 'graph-model';
  /** The input folder, when the model came from one. */
  readonly input: string | undefined;
  /** The output folder, when one was given. */
  readonly output: string | undefined;
  /** The prunable layers, in execution order. */
  readonly layers: readonly TfjsPrunableLayer[];
  /** Weighted layers (or graph weights) left alone, with the reason. */
  readonly skipped: readonly SkippedTfjsLayer[];
  /**
   * The LayersModel being pruned (the one passed in, or the one loaded from the folder):
   * written weights are assigned to its variables. `undefined` for a GraphModel.
   */
  readonly model: LayersModel | undefined;
  /**
   * Calibrated methods' access to the model: present for LayersModels with one input whose
   * prunable layers are each called once. GraphModels support data-free methods only.
   */
  readonly runner?: BlockRunner;
  /** Why there is no {@link TfjsModelAdapter.runner}, when there is none. */
  readonly runnerUnavailable: string | undefined;
  /** Blocks in execution order, one per prunable layer. */
  blocks(): readonly ModelBlock[];
  /**
   * One prunable layer by name.
   * @param name - layer name (a LayersModel layer's name, or a GraphModel weight's name)
   */
  layer(name: string): TfjsPrunableLayer;
  /**
   * The current weight of a layer (after any write) as a float32 `[d_out, d_in]` tensor.
   * @throws PruneError `NON_FINITE` when it holds NaN or ±Infinity
   */
  readWeight(layer: string): Promise<Tensor>;
  /**
   * Replaces a layer's weight with a float32 `[d_out, d_in]` tensor: encoded as the output
   * will store it, and — for a LayersModel — assigned to the model's kernel variable (decoded
   * back, so the live model computes exactly what the saved one will).
   */
  writeWeight(layer: string, weight: Tensor): Promise<void>;
  /**
   * Writes the pruned model to the output folder atomically (when there is one) and
   * releases a model the adapter loaded itself. The input is never modified.
   */
  finish(): Promise<TfjsModelWriteResult>;
  /** Releases everything without writing. Never throws. */
  abort(): Promise<void>;
}

const DEFAULT_KINDS: readonly PrunableKind[] = ['linear', 'conv2d'];
const KINDS: ReadonlySet<string> = new Set(['linear', 'conv2d', 'depthwiseConv2d']);

async function importLayers(): Promise<typeof import('@tensorflow/tfjs-layers')> {
  try {
    return await import('@tensorflow/tfjs-layers');
  } catch (cause) {
    throw new PruneError('UNSUPPORTED', 'opening a tfjs LayersModel needs @tensorflow/tfjs-layers 4.22.x; install it next to @prune/tfjs (it comes with @tensorflow/tfjs)', { cause });
  }
}

const isLayersModel = (m: unknown): m is LayersModel =>
  m !== null && typeof m === 'object' && typeof (m as LayersModel).getLayer === 'function' && Array.isArray((m as LayersModel).layers);
const isGraphModel = (m: unknown): m is GraphModel =>
  m !== null && typeof m === 'object' && typeof (m as GraphModel).executeAsync === 'function' && typeof (m as GraphModel).save === 'function';

function checkFilter(name: string, value: unknown): void {
  if (value === undefined || value instanceof RegExp) return;
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    throw new PruneError('INVALID_ARGUMENT', `openTfjsModelAdapter: ${name} must be a RegExp or a list of layer names, got ${JSON.stringify(value)}`);
  }
}

function checkOptions(options: TfjsModelAdapterOptions): LayerSelection {
  if (options === null || typeof options !== 'object') throw new PruneError('INVALID_ARGUMENT', 'openTfjsModelAdapter: options must be an object, e.g. { output: "pruned-model/" }');
  if (options.output !== undefined && (typeof options.output !== 'string' || options.output === '')) {
    throw new PruneError('INVALID_ARGUMENT', `openTfjsModelAdapter: output must be a folder path, got ${JSON.stringify(options.output)}`);
  }
  const kinds = options.kinds ?? DEFAULT_KINDS;
  if (!Array.isArray(kinds) || kinds.length === 0 || !kinds.every((k) => KINDS.has(k))) {
    throw new PruneError('INVALID_ARGUMENT', `openTfjsModelAdapter: kinds must be a non-empty list of 'linear', 'conv2d', 'depthwiseConv2d', got ${JSON.stringify(options.kinds)}`);
  }
  checkFilter('include', options.include);
  checkFilter('exclude', options.exclude);
  if (options.weightEncoding !== undefined && options.weightEncoding !== 'original' && options.weightEncoding !== 'float32') {
    throw new PruneError('INVALID_ARGUMENT', `openTfjsModelAdapter: weightEncoding must be 'original' or 'float32', got ${JSON.stringify(options.weightEncoding)}`);
  }
  if (options.shardBytes !== undefined && !(Number.isSafeInteger(options.shardBytes) && options.shardBytes >= 1)) {
    throw new PruneError('INVALID_ARGUMENT', `openTfjsModelAdapter: shardBytes must be a positive integer, got ${String(options.shardBytes)}`);
  }
  return { kinds: new Set(kinds), include: options.include, exclude: options.exclude, includeHead: options.includeHead === true };
}

/** The model.json fields and weights of in-memory model artifacts. */
function filesFromArtifacts(artifacts: tf.io.ModelArtifacts, where: string): { modelJson: Record<string, unknown>; weights: TfjsStoredWeight[] } {
  const data = artifacts.weightData;
  if (data === undefined || artifacts.weightSpecs === undefined) {
    throw new PruneError('UNSUPPORTED', `${where}: the model's weights are not available in memory (was it loaded with streamWeights?); pass its folder instead`);
  }
  const bytes = Array.isArray(data) ? concatBytes(data.map((b) => new Uint8Array(b))) : new Uint8Array(data);
  const modelJson: Record<string, unknown> = {};
  for (const key of ['modelTopology', 'format', 'generatedBy', 'convertedBy', 'trainingConfig', 'signature', 'userDefinedMetadata', 'modelInitializer', 'initializerSignature'] as const) {
    const value = (artifacts as Record<string, unknown>)[key];
    if (value !== undefined && value !== null) modelJson[key] = value;
  }
  return { modelJson, weights: sliceWeights(artifacts.weightSpecs, bytes, where, 'the weight data') };
}

async function saveToMemory(model: { save(handler: tf.io.IOHandler): Promise<tf.io.SaveResult> }): Promise<tf.io.ModelArtifacts> {
  let captured: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      captured = artifacts;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return captured!;
}

function firstNonFinite(values: Float32Array): number {
  for (let i = 0; i < values.length; i++) if (values[i] - values[i] !== 0) return i;
  return -1;
}

/**
 * Opens a TensorFlow.js model — a LayersModel or GraphModel folder someone else made
 * (model.json + weight shards, as tfjs-converter or `model.save` write them), or a loaded
 * `tf.LayersModel` / `tf.GraphModel` — as a {@link ModelAdapter}.
 *
 * Prunable layers and their `[d_out, d_in]` matrix views:
 *
 * | layer (LayersModel) / op (GraphModel) | kernel | matrix |
 * |---|---|---|
 * | Dense / MatMul, _FusedMatMul, BatchMatMul(V2) | `[in, out]` | `[out, in]` |
 * | MatMul with `transpose_b` | `[out, in]` | `[out, in]` |
 * | Conv1D | `[k, in, out]` | `[out, k·in]` |
 * | Conv2D / Conv2D, _FusedConv2D | `[kh, kw, in, out]` | `[out, kh·kw·in]` |
 * | DepthwiseConv2D / DepthwiseConv2dNative (opt-in) | `[kh, kw, in, m]` | `[in·m, kh·kw]` |
 *
 * SeparableConv2D, transposed and 3-D convolutions, recurrent layers, embeddings and nested
 * models are not pruned (see {@link TfjsModelAdapter.skipped}); the output head is left dense
 * unless `includeHead` is set.
 *
 * A LayersModel gets a {@link BlockRunner} for calibrated methods (Wanda, SparseGPT): one
 * block per prunable layer; `embed(sample)` is the model input batch itself. A GraphModel
 * supports data-free methods (magnitude, N:M magnitude) only.
 *
 * @example
 * ```ts
 * const model = await openTfjsModelAdapter('mobilenet/', { output: 'mobilenet-pruned/' });
 * try {
 *   for (const layer of model.layers) {
 *     const w = await model.readWeight(layer.name);
 *     const pruned = tidy(() => applyMask(w, thresholdMask(abs(w), { sparsity: 0.5 })));
 *     w.dispose();
 *     await model.writeWeight(layer.name, pruned);
 *     pruned.dispose();
 *   }
 *   await model.finish();
 * } catch (e) {
 *   await model.abort();
 *   throw e;
 * }
 * ```
 *
 * @param source - a model folder (or its model.json), a `tf.LayersModel` or a `tf.GraphModel`
 * @param options - output folder, layer selection, weight encoding
 * @returns the adapter; call {@link TfjsModelAdapter.finish} or {@link TfjsModelAdapter.abort}
 * @throws PruneError `NOT_FOUND` for a missing folder / model.json / shard, or a model with no
 *   prunable layer (the message lists what it has); `CORRUPT_FILE` for malformed JSON, a bad
 *   manifest or a truncated shard; `INVALID_ARGUMENT` for an output that is, lies inside, or
 *   contains the input; `UNSUPPORTED` when `include` names a layer that cannot be pruned
 */
export async function openTfjsModelAdapter(source: TfjsModelSource, options: TfjsModelAdapterOptions = {}): Promise<TfjsModelAdapter> {
  const selection = checkOptions(options);
  const encoding = options.weightEncoding ?? 'original';
  const backend = (): Backend => options.backend ?? getBackend();

  let files: TfjsModelFiles | { format: 'layers-model' | 'graph-model'; modelJson: Record<string, unknown>; weights: readonly TfjsStoredWeight[]; bytes: undefined } | undefined;
  let inputFolder: string | undefined;
  let model: LayersModel | undefined;
  let ownsModel = false;
  let description: string;
  if (typeof source === 'string') {
    if (source === '') throw new PruneError('INVALID_ARGUMENT', 'openTfjsModelAdapter: the model path is empty');
    if (options.output === undefined) throw new PruneError('INVALID_ARGUMENT', `openTfjsModelAdapter: options.output must name the folder the pruned model of ${source} goes to`);
    inputFolder = (await locateModelJson(source)).folder;
    // Refuse a bad output before reading anything large.
    await checkOutputFolder(options.output, inputFolder);
    files = await readTfjsModelFolder(source);
    description = `tfjs:${source}`;
  } else if (isLayersModel(source)) {
    model = source;
    description = `tfjs-layers:${source.name}`;
  } else if (isGraphModel(source)) {
    if (options.output === undefined) throw new PruneError('INVALID_ARGUMENT', 'openTfjsModelAdapter: a GraphModel is pruned into a new folder; set options.output');
    await checkOutputFolder(options.output, undefined);
    const where = 'the GraphModel';
    const artifacts = await saveToMemory(source as unknown as { save(handler: tf.io.IOHandler): Promise<tf.io.SaveResult> });
    files = { format: 'graph-model', ...filesFromArtifacts(artifacts, where), bytes: undefined };
    description = 'tfjs-graph-model';
  } else {
    throw new PruneError('INVALID_ARGUMENT', 'openTfjsModelAdapter: source must be a model folder path, a tf.LayersModel or a tf.GraphModel');
  }
  if (model === undefined && files !== undefined && files.format === 'layers-model') {
    const tfl = await importLayers();
    const weightSpecs = files.weights.map((w) => w.spec) as tf.io.WeightsManifestEntry[];
    const weightData = concatBytes(files.weights.map((w) => w.bytes)).buffer as ArrayBuffer;
    const json = files.modelJson;
    try {
      model = await tfl.loadLayersModel(
        tf.io.fromMemory({ modelTopology: json.modelTopology as object, weightSpecs, weightData, format: json.format as string | undefined, trainingConfig: json.trainingConfig as tf.io.TrainingConfig | undefined }),
      );
    } catch (cause) {
      throw new PruneError('CORRUPT_FILE', `${String(source)}: tfjs cannot build the LayersModel (${(cause as Error).message})`, { cause });
    }
    ownsModel = true;
  }

  try {
    return await createAdapter();
  } catch (error) {
    if (ownsModel) model?.dispose();
    throw error;
  }

  async function createAdapter(): Promise<TfjsModelAdapter> {
    const format = model !== undefined ? 'layers-model' : 'graph-model';
    let layers: TfjsPrunableLayer[];
    let skipped: SkippedTfjsLayer[];
    let runner: BlockRunner | undefined;
    let runnerUnavailable: string | undefined;
    let state: 'open' | 'done' = 'open';
    const checkOpen = (action: string): void => {
      if (state !== 'open') throw new PruneError('DISPOSED', `the tfjs model adapter for ${description} is already finished or aborted; it cannot ${action}`);
    };
    const storedByName = new Map((files?.weights ?? []).map((w) => [w.spec.name, w]));
    if (model !== undefined) {
      const plan = executionPlan(model);
      ({ layers, skipped } = discoverLayers(model, plan, selection));
      if (files !== undefined) {
        const missing = layers.filter((l) => !storedByName.has(l.weight));
        if (missing.length > 0) throw new PruneError('CORRUPT_FILE', `${description}: the weightsManifest has no ${missing.map((l) => JSON.stringify(l.weight)).join(', ')}`);
      }
      try {
        runner = createLayersRunner(model, plan, layers.map((l) => l.name), backend, checkOpen);
      } catch (error) {
        if (!(error instanceof PruneError)) throw error;
        runnerUnavailable = error.message;
      }
    } else {
      ({ layers, skipped } = discoverGraphLayers(files!.modelJson.modelTopology as Record<string, unknown>, files!.weights, selection, description));
      runnerUnavailable = 'a GraphModel has no block runner: prune it with a data-free method (magnitude, N:M magnitude)';
    }
    if (layers.length === 0) {
      const shown = skipped.slice(0, 10).map((s) => `${s.name} (${s.className}: ${s.reason})`);
      throw new PruneError(
        'NOT_FOUND',
        `${description} has no prunable layer${shown.length > 0 ? `; it has ${shown.join('; ')}${skipped.length > shown.length ? '; …' : ''}` : ''}. Prunable are Dense, Conv1D, Conv2D (and DepthwiseConv2D with kinds) and their graph ops; see includeHead / kinds / include`,
      );
    }
    const layerByName = new Map(layers.map((l) => [l.name, l]));
    const blocks: readonly ModelBlock[] = Object.freeze(layers.map((l) => Object.freeze({ name: l.name, layers: Object.freeze([l]) })));
    const written = new Map<string, TfjsStoredWeight>();
    const writtenLayers = new Set<string>();

    const lookup = (name: string, action: string): TfjsPrunableLayer => {
      checkOpen(`${action} ${JSON.stringify(name)}`);
      const layer = layerByName.get(name);
      if (layer === undefined) {
        const why = skipped.find((s) => s.name === name);
        throw new PruneError('NOT_FOUND', `${description} has no prunable layer ${JSON.stringify(name)}${why === undefined ? '' : ` (${why.reason})`}; blocks() lists the layers`);
      }
      return layer;
    };

    const currentKernel = async (layer: TfjsPrunableLayer): Promise<Float32Array> => {
      if (model !== undefined) {
        const variable = kernelVariable(model.getLayer(layer.name));
        return (await variable.read().data()) as Float32Array;
      }
      return decodeFloatWeight(written.get(layer.weight) ?? storedByName.get(layer.weight)!);
    };

    const release = (): void => {
      state = 'done';
      if (ownsModel) model?.dispose();
    };

    const adapter: TfjsModelAdapter = {
      description,
      format,
      input: typeof source === 'string' ? source : undefined,
      output: options.output,
      layers: Object.freeze(layers),
      skipped: Object.freeze(skipped),
      get model() {
        return state === 'open' || !ownsModel ? model : undefined;
      },
      runner,
      runnerUnavailable,
      blocks: () => blocks,
      layer: (name) => lookup(name, 'look up'),
      async readWeight(name) {
        const layer = lookup(name, 'read');
        const kernel = await currentKernel(layer);
        const bad = firstNonFinite(kernel);
        if (bad >= 0) {
          throw new PruneError('NON_FINITE', `weight ${JSON.stringify(layer.weight)} of layer ${JSON.stringify(name)} holds ${kernel[bad]}; a weight with NaN or Infinity cannot be pruned meaningfully — repair the model or exclude the layer`);
        }
        return fromArray(matrixFromKernel(kernel, layer.kernelShape, layer.view), layer.shape, 'float32', { backend: backend() });
      },
      async writeWeight(name, weight) {
        const layer = lookup(name, 'write');
        if (!(weight instanceof Tensor)) throw new PruneError('INVALID_ARGUMENT', `writeWeight(${JSON.stringify(name)}): weight must be a Tensor, got ${typeof weight}`);
        if (weight.dtype !== 'float32') throw new PruneError('DTYPE_MISMATCH', `writeWeight(${JSON.stringify(name)}): weight must be float32, got ${weight.dtype}`);
        if (!shapesEqual(weight.shape, layer.shape)) {
          throw new PruneError('SHAPE_MISMATCH', `writeWeight(${JSON.stringify(name)}): weight has shape [${weight.shape.join(', ')}] but the layer's matrix is [${layer.shape.join(', ')}]`);
        }
        const matrix = (await weight.data()) as Float32Array;
        const bad = firstNonFinite(matrix);
        if (bad >= 0) throw new PruneError('NON_FINITE', `writeWeight(${JSON.stringify(name)}): the weight holds ${matrix[bad]} at flat index ${bad}`);
        const kernel = kernelFromMatrix(matrix, layer.kernelShape, layer.view);
        const spec = storedByName.get(layer.weight)?.spec ?? { name: layer.weight, shape: layer.kernelShape, dtype: 'float32' as const };
        const stored = encodeFloatWeight(spec, kernel, encoding);
        if (model !== undefined) {
          // The live model holds exactly what the saved model will decode to.
          const value = tf.tensor(stored.spec.quantization === undefined ? kernel : decodeFloatWeight(stored), [...layer.kernelShape], 'float32');
          try {
            kernelVariable(model.getLayer(layer.name)).write(value);
          } finally {
            value.dispose();
          }
        }
        if (files !== undefined) written.set(layer.weight, stored);
        writtenLayers.add(layer.name);
      },
      async finish() {
        checkOpen('finish');
        try {
          if (options.output === undefined) {
            release();
            return Object.freeze({ folder: undefined, files: Object.freeze([]), bytes: 0, inputBytes: undefined, writtenWeights: writtenLayers.size });
          }
          let modelJson: Readonly<Record<string, unknown>>;
          let weights: TfjsStoredWeight[];
          if (files !== undefined) {
            modelJson = files.modelJson;
            weights = files.weights.map((w) => written.get(w.spec.name) ?? w);
          } else {
            // A LayersModel passed in memory: its variables hold the pruned weights.
            ({ modelJson, weights } = filesFromArtifacts(await saveToMemory(model!), description));
          }
          const result = await writeTfjsModelFolder(options.output, modelJson, weights, { shardBytes: options.shardBytes, inputFolder });
          release();
          return Object.freeze({ folder: result.folder, files: Object.freeze([...result.files]), bytes: result.bytes, inputBytes: files?.bytes, writtenWeights: writtenLayers.size });
        } catch (error) {
          release();
          throw error;
        }
      },
      async abort() {
        if (state === 'done') return;
        release();
      },
    };
    return Object.freeze(adapter);
  }
}
