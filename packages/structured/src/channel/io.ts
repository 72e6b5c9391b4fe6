import { PruneError } from '@prune/core';
import { type TfjsStoredWeight, type TfjsWeightSpec, type TfjsWriteResult, encodeFloatWeight, readTfjsModelFolder, writeTfjsModelFolder } from '@prune/tfjs';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { restoreDepthMultipliers } from './topology.js';

/** One byte array holding `parts` one after another. */
function concatBytesOf(parts: readonly (ArrayBuffer | Uint8Array)[]): Uint8Array {
  const views = parts.map((p) => (p instanceof Uint8Array ? p : new Uint8Array(p)));
  const out = new Uint8Array(views.reduce((a, v) => a + v.byteLength, 0));
  let at = 0;
  for (const v of views) {
    out.set(v, at);
    at += v.byteLength;
  }
  return out;
}

/** How a float32 weight is stored on disk: exactly, or quantized as tfjs-converter does. */
export type WeightStorage = 'float32' | 'float16' | 'uint8' | 'uint16';

/** Options of {@link saveModelFolder}. */
export interface SaveModelOptions {
  /**
   * Storage of each float32 weight: one choice for all, or a function of the weight's saved
   * name (`layer/kernel`) — e.g. to keep the quantization the source model was shipped with
   * (see {@link storageLike}). Quantization is affine per weight, with 0 exactly representable.
   * @defaultValue `'float32'`
   */
  storage?: WeightStorage | ((weightName: string) => WeightStorage);
  /**
   * Folder that must not be overwritten (the source model's).
   * @defaultValue none
   */
  inputFolder?: string;
}

/** Captures a model's artifacts with tfjs' own `model.save` into memory. */
export async function modelArtifacts(model: tfl.LayersModel): Promise<tf.io.ModelArtifacts> {
  let captured: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      captured = artifacts;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  if (captured === undefined) throw new PruneError('UNSUPPORTED', 'model.save did not hand over any artifacts');
  return captured;
}

function quantize(spec: TfjsWeightSpec, values: Float32Array, storage: WeightStorage): TfjsStoredWeight {
  if (storage === 'float32' || spec.dtype !== 'float32') return encodeFloatWeight(spec, values, 'float32');
  if (storage === 'float16') return encodeFloatWeight({ ...spec, quantization: { dtype: 'float16' } }, values, 'original');
  let lo = 0;
  let hi = 0;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const levels = storage === 'uint8' ? 255 : 65535;
  const scale = hi > lo ? (hi - lo) / levels : 1;
  return encodeFloatWeight({ ...spec, quantization: { dtype: storage, scale, min: lo } }, values, 'original');
}

/**
 * Saves a LayersModel as a tfjs model folder (model.json + weight shards) through tfjs' own
 * `model.save` (an in-memory handler), then writes the files atomically: a temporary folder
 * takes the output's place only when complete. Stock `tf.loadLayersModel` reads the result.
 *
 * @param model - the model to save
 * @param folder - output folder (created; an existing model folder there is replaced)
 * @param options - weight storage, the folder to protect
 * @returns the files written and their total size
 */
export async function saveModelFolder(model: tfl.LayersModel, folder: string, options: SaveModelOptions = {}): Promise<TfjsWriteResult> {
  const storage = options.storage ?? 'float32';
  const storageOf = typeof storage === 'function' ? storage : () => storage;
  const artifacts = await modelArtifacts(model);
  const specs = artifacts.weightSpecs ?? [];
  const data = artifacts.weightData;
  const bytes = data === undefined ? new Uint8Array(0) : concatBytesOf(Array.isArray(data) ? data : [data]);
  const weights: TfjsStoredWeight[] = [];
  let offset = 0;
  for (const raw of specs) {
    const spec = raw as unknown as TfjsWeightSpec;
    const count = spec.shape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(bytes.slice(offset, offset + 4 * count).buffer);
    offset += 4 * count;
    const choice = storageOf(spec.name);
    if (!['float32', 'float16', 'uint8', 'uint16'].includes(choice)) {
      throw new PruneError('INVALID_ARGUMENT', `saveModelFolder: storage for ${spec.name} must be 'float32', 'float16', 'uint8' or 'uint16', got ${JSON.stringify(choice)}`);
    }
    weights.push(quantize(spec, values, choice));
  }
  const topology = structuredClone(artifacts.modelTopology) as Record<string, unknown>;
  restoreDepthMultipliers(topology, model);
  const modelJson: Record<string, unknown> = { modelTopology: topology, format: 'layers-model', generatedBy: artifacts.generatedBy, convertedBy: artifacts.convertedBy ?? null };
  return writeTfjsModelFolder(folder, modelJson, weights, { inputFolder: options.inputFolder });
}

/**
 * The storage each weight had in a tfjs model folder, by weight name — pass it as
 * `saveModelFolder`'s `storage` to ship a pruned model quantized like its source.
 *
 * @param folder - the source model folder
 * @returns a storage function (`float32` for names it does not know)
 */
export async function storageLike(folder: string): Promise<(weightName: string) => WeightStorage> {
  const files = await readTfjsModelFolder(folder);
  const byName = new Map<string, WeightStorage>(files.weights.map((w) => [w.spec.name, w.spec.quantization?.dtype ?? 'float32']));
  return (name) => byName.get(name) ?? 'float32';
}

/**
 * Loads a tfjs LayersModel folder from disk with stock tfjs (`tf.loadLayersModel` over an
 * in-memory handler — Node without tfjs-node has no `file://` loader).
 *
 * @param folder - a folder with model.json and its shards, or the model.json path
 * @returns the model and the size of its files in bytes
 * @throws PruneError `NOT_FOUND`, `CORRUPT_FILE` for missing or malformed files; `UNSUPPORTED` for a GraphModel
 */
export async function loadModelFolder(folder: string): Promise<{ model: tfl.LayersModel; bytes: number }> {
  const files = await readTfjsModelFolder(folder);
  if (files.format !== 'layers-model') {
    throw new PruneError('UNSUPPORTED', `${folder} holds a tfjs GraphModel; channel pruning needs a LayersModel (its layer graph is what is rewritten)`);
  }
  const json = files.modelJson;
  const weightData = concatBytesOf(files.weights.map((w) => w.bytes)).buffer as ArrayBuffer;
  const model = await tfl.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology as object,
      weightSpecs: files.weights.map((w) => w.spec as unknown as tf.io.WeightsManifestEntry),
      weightData,
      format: json.format as string | undefined,
    }),
  );
  return { model, bytes: files.bytes };
}
