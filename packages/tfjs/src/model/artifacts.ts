import { PruneError, float16BitsToFloat32, float32ToFloat16Bits } from '@prune/core';

// A tfjs model folder on disk: model.json (topology + weightsManifest) and binary weight
// shards. Everything here is plain data — no tfjs import — so the same code reads and writes
// LayersModels and GraphModels.

/** Element types a tfjs weight can have. */
export type TfjsWeightDType = 'float32' | 'int32' | 'bool' | 'string' | 'complex64';

/** How a float32 weight is stored when the converter quantized it. */
export interface TfjsQuantization {
  /** Stored type: affine `uint8` / `uint16` (value = q · scale + min), or `float16`. */
  readonly dtype: 'uint8' | 'uint16' | 'float16';
  /** Step of the affine quantization. */
  readonly scale?: number;
  /** Offset of the affine quantization. */
  readonly min?: number;
  /** The weight's type before quantization, when the converter recorded it. */
  readonly original_dtype?: string;
}

/** One entry of a tfjs `weightsManifest` (`tf.io.WeightsManifestEntry`). */
export interface TfjsWeightSpec {
  /** Weight name: a layer variable's name (`dense_1/kernel`) or a graph Const node's name. */
  readonly name: string;
  /** Shape. */
  readonly shape: readonly number[];
  /** Element type after decoding. */
  readonly dtype: TfjsWeightDType;
  /** Present when the stored bytes are quantized. */
  readonly quantization?: TfjsQuantization;
  /** Optional weight-group tag some converters write; kept as is. */
  readonly group?: string;
}

/** A weight as stored: its manifest entry and its exact bytes. */
export interface TfjsStoredWeight {
  /** Manifest entry. */
  readonly spec: TfjsWeightSpec;
  /** Stored bytes (quantized when the spec says so). */
  readonly bytes: Uint8Array;
}

/** A tfjs model read from a folder: model.json and every weight's stored bytes. */
export interface TfjsModelFiles {
  /** `'layers-model'` or `'graph-model'`. */
  readonly format: 'layers-model' | 'graph-model';
  /** The parsed model.json (its `weightsManifest` describes {@link TfjsModelFiles.weights}). */
  readonly modelJson: Readonly<Record<string, unknown>>;
  /** Weights in manifest order. */
  readonly weights: readonly TfjsStoredWeight[];
  /** Absolute paths of model.json and the shard files. */
  readonly files: readonly string[];
  /** Total size of those files in bytes. */
  readonly bytes: number;
}

/** How written weights are stored: as the input stored them, or as plain float32. */
export type TfjsWeightEncoding = 'original' | 'float32';

const WEIGHT_DTYPES: ReadonlySet<string> = new Set(['float32', 'int32', 'bool', 'string', 'complex64']);
const ITEM_BYTES: Readonly<Record<string, number>> = { float32: 4, int32: 4, bool: 1, complex64: 8, uint8: 1, uint16: 2, float16: 2 };

/** Largest quantized integer of each affine quantization. */
const QUANT_MAX = { uint8: 255, uint16: 65535 } as const;

/** The name of a tfjs model's description file. */
export const MODEL_JSON = 'model.json';

async function node(): Promise<{ fs: typeof import('node:fs/promises'); path: typeof import('node:path') }> {
  try {
    const [fs, path] = await Promise.all([import('node:fs/promises'), import('node:path')]);
    return { fs, path };
  } catch (cause) {
    throw new PruneError('UNSUPPORTED', 'reading and writing tfjs model folders needs Node.js (node:fs); in a browser, pass a loaded tf.LayersModel or tf.GraphModel instead', { cause });
  }
}

function ioError(error: unknown, action: string): PruneError {
  if (error instanceof PruneError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const detail = error instanceof Error ? error.message : String(error);
  if (code === 'ENOENT') return new PruneError('NOT_FOUND', `cannot ${action}: no such file or folder (${detail})`, { cause: error });
  return new PruneError('IO_ERROR', `cannot ${action}: ${detail}`, { cause: error });
}

function corrupt(file: string, what: string): PruneError {
  return new PruneError('CORRUPT_FILE', `${file} is not a valid tfjs model: ${what}`);
}

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * Checks one `weightsManifest` weight entry and returns it typed.
 * @throws PruneError `CORRUPT_FILE` naming the entry when it is malformed
 */
export function checkWeightSpec(entry: unknown, file: string): TfjsWeightSpec {
  if (!isRecord(entry) || typeof entry.name !== 'string') throw corrupt(file, `a weightsManifest entry has no name: ${JSON.stringify(entry)?.slice(0, 120)}`);
  const name = entry.name;
  const shape = entry.shape;
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
    throw corrupt(file, `weight ${JSON.stringify(name)} has shape ${JSON.stringify(shape)}; a shape is a list of non-negative integers`);
  }
  if (typeof entry.dtype !== 'string' || !WEIGHT_DTYPES.has(entry.dtype)) {
    throw corrupt(file, `weight ${JSON.stringify(name)} has dtype ${JSON.stringify(entry.dtype)}; expected one of ${[...WEIGHT_DTYPES].join(', ')}`);
  }
  const q = entry.quantization;
  if (q !== undefined) {
    if (!isRecord(q) || (q.dtype !== 'uint8' && q.dtype !== 'uint16' && q.dtype !== 'float16')) {
      throw corrupt(file, `weight ${JSON.stringify(name)} has quantization ${JSON.stringify(q)}; expected dtype uint8, uint16 or float16`);
    }
    if (q.dtype !== 'float16' && !(Number.isFinite(q.scale) && Number.isFinite(q.min))) {
      throw corrupt(file, `weight ${JSON.stringify(name)} is ${q.dtype}-quantized but has no finite scale and min`);
    }
    if (entry.dtype !== 'float32' && entry.dtype !== 'int32') throw corrupt(file, `weight ${JSON.stringify(name)} of dtype ${entry.dtype} cannot be quantized`);
  }
  return entry as unknown as TfjsWeightSpec;
}

/** Byte size of a weight stored per `spec`; string weights are measured in `bytes` from `offset`. */
function storedSize(spec: TfjsWeightSpec, bytes: Uint8Array, offset: number, file: string): number {
  const count = spec.shape.reduce((a, b) => a * b, 1);
  if (spec.dtype === 'string') {
    // Each string is a little-endian uint32 length followed by its bytes.
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let at = offset;
    for (let i = 0; i < count; i++) {
      if (at + 4 > bytes.byteLength) throw corrupt(file, `the weight shards end inside string weight ${JSON.stringify(spec.name)}`);
      at += 4 + view.getUint32(at, true);
    }
    return at - offset;
  }
  return count * ITEM_BYTES[spec.quantization?.dtype ?? spec.dtype];
}

/** A shard path from the manifest, resolved inside `folder`. */
function shardPath(path: typeof import('node:path'), folder: string, name: unknown, file: string): string {
  if (typeof name !== 'string' || name === '' || name.includes('\0') || path.isAbsolute(name) || /^[a-zA-Z]:/.test(name)) {
    throw new PruneError('UNSAFE_PATH', `${file}: weight shard path ${JSON.stringify(name)} must be a relative path inside the model folder`);
  }
  const resolved = path.resolve(folder, name);
  const rel = path.relative(folder, resolved);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) {
    throw new PruneError('UNSAFE_PATH', `${file}: weight shard path ${JSON.stringify(name)} leaves the model folder`);
  }
  return resolved;
}

/**
 * Where a model path points: the model.json file and its folder. `input` is a folder holding
 * model.json, or the JSON file itself.
 */
export async function locateModelJson(input: string): Promise<{ folder: string; jsonPath: string }> {
  const { fs, path } = await node();
  const absolute = path.resolve(input);
  const stat = await fs.stat(absolute).catch((error: unknown) => {
    throw ioError(error, `open the tfjs model ${input}`);
  });
  if (stat.isDirectory()) {
    const jsonPath = path.join(absolute, MODEL_JSON);
    const ok = await fs.stat(jsonPath).then((s) => s.isFile(), () => false);
    if (!ok) throw new PruneError('NOT_FOUND', `${input} holds no ${MODEL_JSON}; a tfjs model folder has model.json and its weight shards (as written by tfjs-converter or model.save)`);
    return { folder: absolute, jsonPath };
  }
  return { folder: path.dirname(absolute), jsonPath: absolute };
}

/**
 * Reads a tfjs model folder (or its model.json): the description and every weight's stored
 * bytes, validated against the manifest. The whole weight data is held in memory, as tfjs
 * itself does when it loads the model.
 *
 * @param input - a folder holding model.json, or the model.json file
 * @returns the model's files
 * @throws PruneError `NOT_FOUND` for a missing folder, model.json or shard; `CORRUPT_FILE`
 *   for malformed JSON, a bad manifest, or shards shorter than the manifest says;
 *   `UNSAFE_PATH` for a shard path outside the folder
 */
export async function readTfjsModelFolder(input: string): Promise<TfjsModelFiles> {
  const { fs, path } = await node();
  const { folder, jsonPath } = await locateModelJson(input);
  let text: string;
  try {
    text = await fs.readFile(jsonPath, 'utf8');
  } catch (error) {
    throw ioError(error, `read ${jsonPath}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new PruneError('CORRUPT_FILE', `${jsonPath} is not valid JSON (${(cause as Error).message}); re-export the model`, { cause });
  }
  if (!isRecord(json)) throw corrupt(jsonPath, 'the top level is not an object');
  const format = modelFormatOf(json, jsonPath);
  const manifest = json.weightsManifest;
  if (!Array.isArray(manifest)) throw corrupt(jsonPath, 'it has no weightsManifest list (a model.json from tfjs-converter or model.save has one)');
  const files = [jsonPath];
  let bytes = Buffer.byteLength(text);
  const weights: TfjsStoredWeight[] = [];
  for (const [g, group] of manifest.entries()) {
    if (!isRecord(group) || !Array.isArray(group.paths) || !Array.isArray(group.weights)) {
      throw corrupt(jsonPath, `weightsManifest[${g}] needs "paths" and "weights" lists`);
    }
    const parts: Uint8Array[] = [];
    for (const name of group.paths) {
      const file = shardPath(path, folder, name, jsonPath);
      try {
        parts.push(new Uint8Array(await fs.readFile(file)));
      } catch (error) {
        throw ioError(error, `read the weight shard ${String(name)} listed in ${jsonPath}`);
      }
      files.push(file);
    }
    const data = parts.length === 1 ? parts[0] : concatBytes(parts);
    const total = data.byteLength;
    bytes += total;
    weights.push(...sliceWeights(group.weights, data, jsonPath, `the weight shards of group ${g} (${group.paths.join(', ')})`));
  }
  return { format, modelJson: json, weights, files, bytes };
}

/**
 * Splits concatenated weight data into the weights `entries` describe, in order.
 *
 * @param entries - weightsManifest entries (validated here)
 * @param data - their concatenated stored bytes
 * @param file - where they came from, for messages
 * @param what - what `data` is, for messages
 * @returns the weights, viewing `data` without copying
 * @throws PruneError `CORRUPT_FILE` when an entry is malformed or `data` is too short
 */
export function sliceWeights(entries: readonly unknown[], data: Uint8Array, file: string, what: string): TfjsStoredWeight[] {
  const weights: TfjsStoredWeight[] = [];
  let offset = 0;
  for (const entry of entries) {
    const spec = checkWeightSpec(entry, file);
    const size = storedSize(spec, data, offset, file);
    if (offset + size > data.byteLength) {
      throw new PruneError(
        'CORRUPT_FILE',
        `${file}: ${what} hold ${data.byteLength} bytes, but the manifest needs at least ${offset + size} (weight ${JSON.stringify(spec.name)}); a shard is truncated — copy the model again`,
      );
    }
    weights.push({ spec, bytes: data.subarray(offset, offset + size) });
    offset += size;
  }
  return weights;
}

/** Concatenates weight bytes into one new buffer (what tfjs' `weightData` holds). */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/**
 * Whether a model.json describes a LayersModel or a GraphModel.
 * @throws PruneError `CORRUPT_FILE` when it is neither
 */
export function modelFormatOf(json: Readonly<Record<string, unknown>>, file: string): 'layers-model' | 'graph-model' {
  const topology = json.modelTopology;
  if (!isRecord(topology)) throw corrupt(file, 'it has no modelTopology object');
  if (Array.isArray(topology.node) || json.format === 'graph-model') return 'graph-model';
  if (isRecord(topology.model_config) || typeof topology.class_name === 'string' || json.format === 'layers-model') return 'layers-model';
  throw corrupt(file, 'its modelTopology is neither a Keras model (class_name / model_config) nor a graph (node list)');
}

/**
 * Decodes a float32 weight (plain or quantized) to float32 values, as tfjs does on load.
 *
 * @param weight - the stored weight
 * @returns a new array of its values
 * @throws PruneError `DTYPE_MISMATCH` when the weight is not float32
 */
export function decodeFloatWeight(weight: TfjsStoredWeight): Float32Array {
  const { spec, bytes } = weight;
  if (spec.dtype !== 'float32') throw new PruneError('DTYPE_MISMATCH', `weight ${JSON.stringify(spec.name)} is ${spec.dtype}; only float32 weights are pruned`);
  const count = spec.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(count);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const q = spec.quantization;
  if (q === undefined) {
    for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, true);
  } else if (q.dtype === 'float16') {
    for (let i = 0; i < count; i++) out[i] = float16BitsToFloat32(view.getUint16(2 * i, true));
  } else {
    const scale = q.scale!;
    const min = q.min!;
    if (q.dtype === 'uint8') for (let i = 0; i < count; i++) out[i] = bytes[i] * scale + min;
    else for (let i = 0; i < count; i++) out[i] = view.getUint16(2 * i, true) * scale + min;
  }
  return out;
}

/**
 * Stores float32 `values` for the weight `spec`. With `'original'` encoding a quantized weight
 * stays quantized: float16 as float16; uint8/uint16 with the original step, its offset moved
 * to a whole multiple of the step so that 0 is exactly representable (pruned weights decode
 * to exactly 0; a kept weight moves by at most one step, the quantization's own error). With
 * `'float32'` the values are stored exactly and the quantization is dropped.
 *
 * @param spec - the weight's manifest entry (float32)
 * @param values - its new values, in tfjs layout
 * @param encoding - keep the stored type, or write float32
 * @returns the new manifest entry and bytes
 */
export function encodeFloatWeight(spec: TfjsWeightSpec, values: Float32Array, encoding: TfjsWeightEncoding): TfjsStoredWeight {
  const q = spec.quantization;
  const { quantization: _dropped, ...plain } = spec;
  if (q === undefined || encoding === 'float32') {
    const bytes = new Uint8Array(values.length * 4);
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < values.length; i++) view.setFloat32(4 * i, values[i], true);
    return { spec: { ...plain, dtype: 'float32' }, bytes };
  }
  if (q.dtype === 'float16') {
    const bytes = new Uint8Array(values.length * 2);
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < values.length; i++) view.setUint16(2 * i, float32ToFloat16Bits(values[i]), true);
    return { spec: { ...spec }, bytes };
  }
  const qmax = QUANT_MAX[q.dtype];
  // The original range, widened to contain 0 (pruned weights must be representable).
  let lo = q.min!;
  let hi = q.min! + qmax * q.scale!;
  for (let i = 0; i < values.length; i++) {
    if (values[i] < lo) lo = values[i];
    if (values[i] > hi) hi = values[i];
  }
  lo = Math.min(lo, 0);
  hi = Math.max(hi, 0);
  const scale = hi > lo ? Math.max(q.scale!, (hi - lo) / qmax) : q.scale! > 0 ? q.scale! : 1;
  const zero = Math.min(qmax, Math.max(0, Math.round(-lo / scale)));
  // -(zero·scale) exactly: tfjs decodes q·scale + min, so q = zero decodes to exactly 0.
  const min = -(zero * scale);
  const bytes = new Uint8Array(values.length * (q.dtype === 'uint8' ? 1 : 2));
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) {
    const level = Math.min(qmax, Math.max(0, Math.round((values[i] - min) / scale)));
    if (q.dtype === 'uint8') bytes[i] = level;
    else view.setUint16(2 * i, level, true);
  }
  return { spec: { ...spec, quantization: { ...q, scale, min: min === 0 ? 0 : min } }, bytes };
}

/** Options of {@link writeTfjsModelFolder}. */
export interface WriteTfjsModelOptions {
  /**
   * Largest weight shard file, in bytes (tfjs' own default).
   * @defaultValue `4_194_304`
   */
  shardBytes?: number;
  /**
   * Real paths of the input model's folder; the output may not be it, be inside it, or
   * contain it.
   * @defaultValue none
   */
  inputFolder?: string;
}

/** What {@link writeTfjsModelFolder} wrote. */
export interface TfjsWriteResult {
  /** Absolute path of the output folder. */
  readonly folder: string;
  /** Absolute paths of the files written: model.json, then the shards. */
  readonly files: readonly string[];
  /** Their total size in bytes. */
  readonly bytes: number;
}

const DEFAULT_SHARD_BYTES = 4 * 1024 * 1024;
let tempCounter = 0;

/**
 * Checks that `output` can receive a model without touching `inputFolder`: it is not the
 * input folder, not inside it, does not contain it, and is either absent, an empty folder,
 * or a folder that holds a tfjs model (which is replaced).
 *
 * @returns the output's absolute path
 * @throws PruneError `INVALID_ARGUMENT` otherwise
 */
export async function checkOutputFolder(output: string, inputFolder: string | undefined): Promise<string> {
  const { fs, path } = await node();
  if (typeof output !== 'string' || output === '') throw new PruneError('INVALID_ARGUMENT', 'the output must be a folder path for model.json and its weight shards');
  const absolute = path.resolve(output);
  // Resolve symbolic links of the part that exists, so aliases of the input are caught.
  let real = absolute;
  let rest = '';
  for (;;) {
    const found = await fs.realpath(real).catch(() => undefined);
    if (found !== undefined) {
      real = rest === '' ? found : path.join(found, rest);
      break;
    }
    const parent = path.dirname(real);
    if (parent === real) break;
    rest = rest === '' ? path.basename(real) : path.join(path.basename(real), rest);
    real = parent;
  }
  if (inputFolder !== undefined) {
    const input = await fs.realpath(inputFolder).catch(() => path.resolve(inputFolder));
    const inside = (child: string, parent: string): boolean => {
      const rel = path.relative(parent, child);
      return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
    };
    if (inside(real, input)) {
      throw new PruneError('INVALID_ARGUMENT', `output ${output} is ${real === input ? 'the input model folder' : 'inside the input model folder'} ${inputFolder}; choose a folder elsewhere — the input is never modified`);
    }
    if (inside(input, real)) throw new PruneError('INVALID_ARGUMENT', `output ${output} contains the input model folder ${inputFolder}; choose a folder elsewhere`);
  }
  const stat = await fs.stat(absolute).catch(() => undefined);
  if (stat !== undefined) {
    if (!stat.isDirectory()) throw new PruneError('INVALID_ARGUMENT', `output ${output} is a file; a tfjs model is written as a folder (model.json + shards)`);
    const entries = await fs.readdir(absolute);
    if (entries.length > 0 && !entries.includes(MODEL_JSON)) {
      throw new PruneError('INVALID_ARGUMENT', `output folder ${output} is not empty and holds no tfjs model; choose a new or empty folder (an existing model folder is replaced)`);
    }
  }
  return absolute;
}

/**
 * Writes a tfjs model folder atomically: model.json with a new `weightsManifest` (one group,
 * shards of at most `shardBytes`) and the shard files go to a temporary folder next to
 * `output`, which then takes `output`'s place. An existing model folder at `output` is
 * replaced only after the new one is complete; on failure nothing changes.
 *
 * @param output - the output folder
 * @param modelJson - model.json fields to keep (its `weightsManifest` is replaced)
 * @param weights - every weight, in the order to store them
 * @param options - shard size, the input folder to protect
 * @returns what was written
 */
export async function writeTfjsModelFolder(
  output: string,
  modelJson: Readonly<Record<string, unknown>>,
  weights: readonly TfjsStoredWeight[],
  options: WriteTfjsModelOptions = {},
): Promise<TfjsWriteResult> {
  const { fs, path } = await node();
  const shardBytes = options.shardBytes ?? DEFAULT_SHARD_BYTES;
  if (!(Number.isSafeInteger(shardBytes) && shardBytes >= 1)) throw new PruneError('INVALID_ARGUMENT', `shardBytes must be a positive integer, got ${String(options.shardBytes)}`);
  const target = await checkOutputFolder(output, options.inputFolder);
  const parent = path.dirname(target);
  const base = path.basename(target);
  await fs.mkdir(parent, { recursive: true }).catch((error: unknown) => {
    throw ioError(error, `create the folder ${parent}`);
  });
  const total = weights.reduce((a, w) => a + w.bytes.byteLength, 0);
  const shardCount = Math.max(1, Math.ceil(total / shardBytes));
  const names = Array.from({ length: shardCount }, (_, i) => `group1-shard${i + 1}of${shardCount}.bin`);
  const json = { ...modelJson, weightsManifest: [{ paths: names, weights: weights.map((w) => w.spec) }] };
  const temp = path.join(parent, `.${base}.${process.pid}.${Date.now().toString(36)}.${(tempCounter++).toString(36)}.tmp`);
  const old = `${temp}.old`;
  try {
    await fs.mkdir(temp);
  } catch (error) {
    throw ioError(error, `create a temporary folder next to ${target}`);
  }
  try {
    // Stream the concatenated weight bytes into shards of shardBytes.
    let w = 0;
    let within = 0;
    for (const name of names) {
      const handle = await fs.open(path.join(temp, name), 'wx');
      try {
        let written = 0;
        while (w < weights.length && written < shardBytes) {
          const bytes = weights[w].bytes;
          const take = Math.min(bytes.byteLength - within, shardBytes - written);
          if (take > 0) await handle.write(bytes, within, take, written);
          written += take;
          within += take;
          if (within === bytes.byteLength) {
            w++;
            within = 0;
          }
        }
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
    await fs.writeFile(path.join(temp, MODEL_JSON), JSON.stringify(json));
    const existing = await fs.stat(target).then(() => true, () => false);
    if (existing) await fs.rename(target, old);
    try {
      await fs.rename(temp, target);
    } catch (error) {
      if (existing) await fs.rename(old, target).catch(() => undefined);
      throw error;
    }
    if (existing) await fs.rm(old, { recursive: true, force: true });
  } catch (error) {
    await fs.rm(temp, { recursive: true, force: true }).catch(() => undefined);
    throw ioError(error, `write the tfjs model folder ${target}`);
  }
  const files = [path.join(target, MODEL_JSON), ...names.map((n) => path.join(target, n))];
  const sizes = await Promise.all(files.map((f) => fs.stat(f).then((s) => s.size)));
  return { folder: target, files, bytes: sizes.reduce((a, b) => a + b, 0) };
}
