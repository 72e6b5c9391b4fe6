import type { Backend } from '../backend.js';
import { PruneError } from '../errors.js';
import type { NmPattern } from '../formats/nm.js';
import { sparseToRawTensors } from '../formats/raw.js';
import { type SparseFormatRequest, encodeSparse } from '../formats/sparse.js';
import { fromArray } from '../ops/creation.js';
import { referenceBackend } from '../reference/index.js';
import { getBackend } from '../registry.js';
import { slice } from '../ops/layout.js';
import { type ProgressOptions, type ProgressStage, progressStage } from '../progress.js';
import { type AtomicFile, createAtomicFile, writeFileAtomic } from '../safetensors/atomic.js';
import { HOST_IS_LITTLE_ENDIAN, type SafetensorsDType, decodeToFloat32, encodeFloat32, safetensorsItemSize } from '../safetensors/dtypes.js';
import { ioError, nodeModules } from '../safetensors/node.js';
import type { SafetensorsSource } from '../safetensors/reader.js';
import { SafetensorsFile } from '../safetensors/reader.js';
import { ShardedSafetensors, openCheckpoint, resolveInsideFolder } from '../safetensors/sharded.js';
import { shapesEqual } from '../shape.js';
import { Tensor } from '../tensor.js';
import type { ModelAdapter, ModelBlock } from './adapter.js';
import { type CheckpointLayer, type CheckpointLayerFilter, type SkippedTensor, checkpointBlocks, classifyCheckpointTensors } from './checkpoint-layers.js';
import { CheckpointOutputFile, type OutputTensorSpec } from './checkpoint-output.js';

export {
  DEFAULT_CHECKPOINT_EXCLUDE,
  PRUNABLE_CHECKPOINT_DTYPES,
  checkpointBlockOf,
  checkpointBlocks,
  classifyCheckpointTensors,
} from './checkpoint-layers.js';
export type { CheckpointClassification, CheckpointLayer, CheckpointLayerFilter, SkippedTensor } from './checkpoint-layers.js';

/** Compressed encodings the checkpoint adapter can write pruned weights in (see `formats/`). */
export type CheckpointCompression = 'csr' | 'nm' | 'bitmask';

/** Options of {@link openCheckpointAdapter}. */
export interface CheckpointAdapterOptions extends CheckpointLayerFilter, ProgressOptions {
  /**
   * Where the pruned checkpoint goes. For a single `.safetensors` input: the output file
   * (or an existing folder to put a file of the input's name in). For a sharded input (an
   * index file, or a folder): the output folder, which gets the same shard and index file
   * names. It must not be the input.
   */
  output: string;
  /**
   * Store pruned weights compressed instead of dense: `'csr'`, `'nm'` or `'bitmask'`, as
   * named raw tensors with the metadata of `sparseToRawTensors` (values are F32 in every
   * format, rounded through the weight's original dtype first; `<name>.dense_dtype` records
   * that dtype, and `<name>.dense_shape` the stored shape of a convolution kernel, which is
   * encoded as its `[out, in·kh·kw]` matrix). Weights never written stay dense.
   * @defaultValue dense output in the original dtypes
   */
  compress?: CheckpointCompression;
  /**
   * The N:M pattern for `compress: 'nm'` (n kept of every m input columns); every written
   * weight must satisfy it.
   * @defaultValue `{ n: 2, m: 4 }`
   */
  nmPattern?: NmPattern;
  /**
   * Backend that owns the tensors {@link CheckpointAdapter.readWeight} returns.
   * @defaultValue the current backend
   */
  backend?: Backend;
  /**
   * Elements per piece when a written weight is streamed to disk (whole rows, at least one):
   * the extra memory a write needs beyond the weight itself.
   * @defaultValue `4_194_304` (16 MiB of float32)
   */
  chunkElements?: number;
}

/** A block of a checkpoint: its prunable layers with their storage details. */
export interface CheckpointBlock extends ModelBlock {
  /** Its prunable layers, in natural name order. */
  readonly layers: readonly CheckpointLayer[];
}

/** What {@link CheckpointAdapter.finish} wrote. */
export interface CheckpointWriteResult {
  /** Files written (absolute paths): the safetensors files, then the index if there is one. */
  readonly files: readonly string[];
  /** Their total size on disk, in bytes, measured after writing. */
  readonly bytes: number;
  /** Total size of the input checkpoint's files, in bytes. */
  readonly inputBytes: number;
  /** Weights written through {@link CheckpointAdapter.writeWeight}. */
  readonly writtenTensors: number;
  /** Tensors copied unchanged from the input. */
  readonly copiedTensors: number;
  /** The compressed format of the written weights, or `undefined` for dense output. */
  readonly compress: CheckpointCompression | undefined;
}

/**
 * A {@link ModelAdapter} over a safetensors checkpoint on disk (made by
 * {@link openCheckpointAdapter}). Weights are read from the input one at a time and written
 * straight to the output, so memory stays near one tensor; nothing appears at the output
 * path until {@link CheckpointAdapter.finish}. It has no {@link ModelAdapter.runner}: only
 * data-free methods (magnitude, N:M magnitude) or statistics supplied from elsewhere apply.
 */
export interface CheckpointAdapter extends ModelAdapter {
  /** The input checkpoint path as given. */
  readonly input: string;
  /** The output path as given. */
  readonly output: string;
  /** Prunable weights, in checkpoint order. */
  readonly layers: readonly CheckpointLayer[];
  /** Tensors left as they are, with the reason (for reports). */
  readonly skipped: readonly SkippedTensor[];
  /** Size of the input files in bytes. */
  readonly inputBytes: number;
  /** Blocks in natural name order, their layers with storage details. */
  blocks(): readonly CheckpointBlock[];
  /**
   * One prunable layer by name.
   * @param name - layer name (the tensor name without `.weight`)
   */
  layer(name: string): CheckpointLayer;
  /**
   * Reads a weight from the input as a float32 `[d_out, d_in]` tensor (a convolution kernel
   * flattened to `[out, in·kh·kw]`); always the input's values, even after a write.
   * @throws PruneError `NON_FINITE` naming the tensor when it holds NaN or ±Infinity
   */
  readWeight(layer: string): Promise<Tensor>;
  /**
   * Writes a pruned weight (float32, the layer's `[d_out, d_in]` shape) to the output in the
   * tensor's original dtype and shape, in row chunks, and keeps nothing of it. Each layer
   * is written at most once.
   */
  writeWeight(layer: string, weight: Tensor): Promise<void>;
  /**
   * Copies every tensor that was not written (bit for bit), then moves the output into
   * place: the files, then the index last. On failure the output is removed as by
   * {@link CheckpointAdapter.abort} and the error rethrown.
   */
  finish(): Promise<CheckpointWriteResult>;
  /** Removes all partial output and closes the input. Never throws. */
  abort(): Promise<void>;
}

/** Default float32 elements per row chunk when streaming a weight out (16 MiB). */
const WRITE_CHUNK_ELEMENTS = 1 << 22;

/** One input file and the output file that mirrors it. */
interface FileGroup {
  /** Input shard file name (sharded) or `undefined` (single file). */
  readonly shardFile: string | undefined;
  /** Output file path. */
  readonly outputPath: string;
  /** Tensor names, in input order. */
  readonly tensors: readonly string[];
  /** The input file's `__metadata__`. */
  readonly metadata: Readonly<Record<string, string>>;
}

/** A compressed weight's raw tensors, spooled until the output layout is known. */
interface SpooledTensor {
  readonly spec: OutputTensorSpec;
  readonly offset: number;
  readonly byteLength: number;
}

function littleEndian(values: Float32Array | Float64Array | Uint16Array): Uint8Array {
  const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  if (HOST_IS_LITTLE_ENDIAN) return bytes;
  const size = values.BYTES_PER_ELEMENT;
  const swapped = new Uint8Array(bytes.byteLength);
  for (let i = 0; i < bytes.byteLength; i += size) for (let j = 0; j < size; j++) swapped[i + j] = bytes[i + size - 1 - j];
  return swapped;
}

/** Stored bytes of float32 `values` in `dtype` (F16/BF16 round to nearest even; zeros stay exact). */
function encodeAs(values: Float32Array, dtype: SafetensorsDType): Uint8Array {
  switch (dtype) {
    case 'F32':
      return littleEndian(values);
    case 'F16':
    case 'BF16':
      return littleEndian(encodeFloat32(values, dtype));
    case 'F64':
      return littleEndian(Float64Array.from(values));
    default:
      throw new PruneError('UNSUPPORTED', `cannot write float32 values as ${dtype}`);
  }
}

/** Index of the first NaN or ±Infinity in `values`, or -1. */
function firstNonFinite(values: Float32Array): number {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v - v !== 0) return i; // NaN for NaN and ±Infinity, 0 otherwise
  }
  return -1;
}

function nonFinite(what: string, layer: CheckpointLayer, values: Float32Array, at: number, base = 0): PruneError {
  const index = base + at;
  const row = Math.floor(index / layer.shape[1]);
  return new PruneError(
    'NON_FINITE',
    `${what} ${JSON.stringify(layer.tensor)} holds ${values[at]} at row ${row}, column ${index - row * layer.shape[1]}; a weight with NaN or Infinity cannot be pruned meaningfully — repair or exclude it (exclude: /…/)`,
  );
}

/** The identity of an existing file, or `undefined` when there is none. */
async function fileIdentity(file: string): Promise<string | undefined> {
  const { fs } = await nodeModules();
  const stat = await fs.stat(file).catch(() => undefined);
  return stat === undefined ? undefined : `${stat.dev}:${stat.ino}`;
}

/** `file` with its folder's symbolic links resolved (the file itself need not exist). */
async function resolvedPath(file: string): Promise<string> {
  const { fs, path } = await nodeModules();
  const absolute = path.resolve(file);
  const real = await fs.realpath(absolute).catch(() => undefined);
  if (real !== undefined) return real;
  const folder = await fs.realpath(path.dirname(absolute)).catch(() => path.dirname(absolute));
  return path.join(folder, path.basename(absolute));
}

/**
 * Opens a safetensors checkpoint someone else made — one `.safetensors` file, a folder
 * holding `model.safetensors` or `model.safetensors.index.json`, or an index file — as a
 * {@link ModelAdapter} that writes the pruned checkpoint to `options.output`.
 *
 * Which tensors are prunable is decided by {@link classifyCheckpointTensors}: `*.weight`
 * tensors of rank 2 (linear) or 4 (convolution, viewed as `[out, in·kh·kw]`) with dtype
 * F32, F16, BF16 or F64, except embeddings and output heads
 * ({@link DEFAULT_CHECKPOINT_EXCLUDE}) unless `include` / `exclude` say otherwise. Blocks
 * group the layers sharing a `…layers.N.` / `…h.N.` / `…blocks.N.` / `…layer.N.` prefix.
 *
 * Every header is read and validated before anything is written, so a corrupt input fails
 * with `CORRUPT_FILE` and leaves no output. The input is only ever read.
 *
 * @example
 * ```ts
 * const model = await openCheckpointAdapter('llama/', { output: 'llama-pruned/' });
 * try {
 *   for (const block of model.blocks()) {
 *     for (const layer of block.layers) {
 *       const w = await model.readWeight(layer.name);
 *       const pruned = tidy(() => applyMask(w, rowMask(abs(w), { sparsity: 0.5 })));
 *       w.dispose();
 *       await model.writeWeight(layer.name, pruned);
 *       pruned.dispose();
 *     }
 *   }
 *   const { files, bytes } = await model.finish();
 * } catch (e) {
 *   await model.abort();
 *   throw e;
 * }
 * ```
 *
 * @param input - checkpoint file, index file or folder
 * @param options - output path, layer filter, compression, progress
 * @returns the adapter; call {@link CheckpointAdapter.finish} or {@link CheckpointAdapter.abort}
 * @throws PruneError `NOT_FOUND` when the checkpoint has no prunable layer (the message lists
 *   what it found); `INVALID_ARGUMENT` when the output is the input; `CORRUPT_FILE` for a
 *   malformed input
 */
export async function openCheckpointAdapter(input: string, options: CheckpointAdapterOptions): Promise<CheckpointAdapter> {
  if (typeof input !== 'string' || input === '') throw new PruneError('INVALID_ARGUMENT', 'openCheckpointAdapter: input must be a path to a .safetensors file, an index file or a folder');
  if (options === null || typeof options !== 'object' || typeof options.output !== 'string' || options.output === '') {
    throw new PruneError('INVALID_ARGUMENT', "openCheckpointAdapter: options.output must name where the pruned checkpoint goes, e.g. { output: 'pruned.safetensors' }");
  }
  const compress = options.compress;
  if (compress !== undefined && compress !== 'csr' && compress !== 'nm' && compress !== 'bitmask') {
    throw new PruneError('INVALID_ARGUMENT', `openCheckpointAdapter: compress must be 'csr', 'nm' or 'bitmask', got ${JSON.stringify(compress)}`);
  }
  const chunkElements = options.chunkElements ?? WRITE_CHUNK_ELEMENTS;
  if (!(Number.isSafeInteger(chunkElements) && chunkElements >= 1)) {
    throw new PruneError('INVALID_ARGUMENT', `openCheckpointAdapter: chunkElements must be a positive integer, got ${String(options.chunkElements)}`);
  }
  const nmPattern = options.nmPattern ?? { n: 2, m: 4 };
  if (!(Number.isInteger(nmPattern?.n) && Number.isInteger(nmPattern?.m) && nmPattern.n >= 1 && nmPattern.n <= nmPattern.m)) {
    throw new PruneError('INVALID_ARGUMENT', `openCheckpointAdapter: nmPattern must be { n, m } with integers 1 ≤ n ≤ m, got ${JSON.stringify(options.nmPattern)}`);
  }
  const { fs, path } = await nodeModules();
  const source = await openCheckpoint(input);
  try {
    return await createAdapter(input, options, source, compress, nmPattern, fs, path);
  } catch (error) {
    await source.close();
    throw error;
  }
}

async function createAdapter(
  input: string,
  options: CheckpointAdapterOptions,
  source: SafetensorsSource,
  compress: CheckpointCompression | undefined,
  nmPattern: NmPattern,
  fs: typeof import('node:fs/promises'),
  path: typeof import('node:path'),
): Promise<CheckpointAdapter> {
  // Reads every header (all shards), so a corrupt input fails here, before any output exists.
  const infos = await source.list();
  const infoByName = new Map(infos.map((i) => [i.name, i]));
  const { layers, skipped } = classifyCheckpointTensors(infos, options);
  if (layers.length === 0) {
    const shown = skipped.slice(0, 8).map((s) => `${s.name} (${s.reason})`);
    throw new PruneError(
      'NOT_FOUND',
      `${input} has no prunable layer: found ${infos.length} tensor(s)${shown.length > 0 ? `: ${shown.join('; ')}${skipped.length > shown.length ? '; …' : ''}` : ''}. Prunable are *.weight tensors of rank 2 or 4 and dtype F32/F16/BF16/F64; use include / exclude to choose others`,
    );
  }
  const layerByName = new Map(layers.map((l) => [l.name, l]));
  const blocks: readonly CheckpointBlock[] = Object.freeze(checkpointBlocks(layers));

  // Input files, and output files mirroring them.
  const inputFiles: string[] = [];
  const groups: FileGroup[] = [];
  let indexOutput: string | undefined;
  let outputFolder: string;
  if (source instanceof ShardedSafetensors) {
    outputFolder = path.resolve(options.output);
    inputFiles.push(await resolvedPath(source.path));
    for (const file of source.shardFiles()) {
      inputFiles.push(await resolveInsideFolder(source.folder, file, source.path));
      groups.push({
        shardFile: file,
        outputPath: path.join(outputFolder, file),
        tensors: source.names().filter((n) => source.weightMap.get(n) === file),
        metadata: (await source.shard(file)).metadata,
      });
    }
    indexOutput = path.join(outputFolder, path.basename(source.path));
  } else if (source instanceof SafetensorsFile) {
    inputFiles.push(await resolvedPath(source.path));
    const inputIsFolder = (await fs.stat(input)).isDirectory();
    const outputIsFolder = inputIsFolder || (await fs.stat(options.output).then((s) => s.isDirectory(), () => false));
    const outputPath = outputIsFolder ? path.join(path.resolve(options.output), path.basename(source.path)) : path.resolve(options.output);
    outputFolder = path.dirname(outputPath);
    groups.push({ shardFile: undefined, outputPath, tensors: source.names(), metadata: source.metadata });
  } else {
    throw new PruneError('UNSUPPORTED', `${input}: unknown checkpoint reader`);
  }

  // The output must never touch the input: compare resolved paths and file identities.
  const inputPaths = new Set(inputFiles);
  const inputIds = new Set((await Promise.all(inputFiles.map(fileIdentity))).filter((id) => id !== undefined));
  for (const target of [...groups.map((g) => g.outputPath), ...(indexOutput === undefined ? [] : [indexOutput])]) {
    const id = await fileIdentity(target);
    if (inputPaths.has(await resolvedPath(target)) || (id !== undefined && inputIds.has(id))) {
      throw new PruneError(
        'INVALID_ARGUMENT',
        `output ${options.output} would overwrite the input checkpoint (${target} is an input file); choose another output ${indexOutput === undefined ? 'file' : 'folder'} — the input is never modified`,
      );
    }
  }
  if (indexOutput === undefined) {
    const folderOk = await fs.stat(outputFolder).then((s) => s.isDirectory(), () => false);
    if (!folderOk) throw new PruneError('NOT_FOUND', `cannot write ${groups[0].outputPath}: the folder ${outputFolder} does not exist; create it first`);
  }
  const inputBytes = (await Promise.all(inputFiles.map((f) => fs.stat(f).then((s) => s.size)))).reduce((a, b) => a + b, 0);

  const groupOf = new Map<string, FileGroup>();
  for (const g of groups) for (const t of g.tensors) groupOf.set(t, g);
  const specOf = (name: string): OutputTensorSpec => {
    const info = infoByName.get(name)!;
    return { name, dtype: info.dtype, shape: info.shape };
  };

  // Dense output: every file is planned now, pruned weights stream straight into it.
  // Compressed output: encodings are spooled (their sizes depend on the data) and the files
  // are planned in finish().
  let outputs: Map<FileGroup, CheckpointOutputFile> | undefined;
  if (compress === undefined) outputs = new Map(groups.map((g) => [g, new CheckpointOutputFile(g.outputPath, g.tensors.map(specOf), g.metadata)]));
  const spooled = new Map<string, SpooledTensor[]>();
  const sparseMetadata = new Map<string, Record<string, string>>();
  let spool: Promise<AtomicFile> | undefined;
  let spoolSize = 0;
  const written = new Set<string>();
  let createdFolder: string | undefined;
  let state: 'open' | 'finishing' | 'done' = 'open';
  const progress: ProgressStage = progressStage(
    options.onProgress,
    'write',
    outputs === undefined ? 0 : [...outputs.values()].reduce((a, o) => a + o.layout.fileSize, 0),
    'bytes',
  );

  const ensureFolder = async (): Promise<void> => {
    if (indexOutput === undefined || createdFolder !== undefined) return;
    try {
      createdFolder = (await fs.mkdir(outputFolder, { recursive: true })) ?? '';
    } catch (error) {
      throw ioError(error, `create the output folder ${outputFolder}`);
    }
  };
  const removeCreatedFolders = async (): Promise<void> => {
    if (createdFolder === undefined || createdFolder === '') return;
    // Only folders this adapter created, deepest first; rmdir refuses a non-empty one.
    for (let folder = outputFolder; ; folder = path.dirname(folder)) {
      const removed = await fs.rmdir(folder).then(() => true, () => false);
      if (!removed || folder === createdFolder || path.dirname(folder) === folder) break;
    }
  };

  const lookup = (name: string, action: string): CheckpointLayer => {
    if (state !== 'open') throw new PruneError('DISPOSED', `the checkpoint adapter for ${input} is already finished or aborted; it cannot ${action} ${JSON.stringify(name)}`);
    const layer = layerByName.get(name);
    if (layer === undefined) {
      const hint = infoByName.has(`${name}.weight`) ? ' (that tensor is not prunable: see skipped)' : infoByName.has(name) ? ' (name layers without the .weight suffix)' : '';
      throw new PruneError('NOT_FOUND', `${input} has no prunable layer ${JSON.stringify(name)}${hint}; blocks() lists the layers`);
    }
    return layer;
  };

  const abort = async (): Promise<void> => {
    state = 'done';
    if (outputs !== undefined) await Promise.all([...outputs.values()].map((o) => o.abort()));
    if (spool !== undefined) await spool.then((s) => s.abort(), () => undefined);
    await removeCreatedFolders();
    await source.close();
  };

  const writeDense = async (layer: CheckpointLayer, weight: Tensor): Promise<void> => {
    const out = outputs!.get(groupOf.get(layer.tensor)!)!;
    const [rows, columns] = layer.shape;
    const itemSize = safetensorsItemSize(layer.dtype);
    const rowsPerChunk = Math.max(1, Math.floor((options.chunkElements ?? WRITE_CHUNK_ELEMENTS) / Math.max(1, columns)));
    // A weight rejected part-way is not marked complete: a later write or finish()'s copy of
    // the input overwrites whatever chunks already went out.
    for (let first = 0; first < rows; first += rowsPerChunk) {
      const count = Math.min(rowsPerChunk, rows - first);
      let values: Float32Array;
      if (count === rows) values = (await weight.data()) as Float32Array;
      else {
        const part = slice(weight, [first, 0], [count, columns]);
        try {
          values = (await part.data()) as Float32Array;
        } finally {
          part.dispose();
        }
      }
      const bad = firstNonFinite(values);
      if (bad >= 0) throw nonFinite('the pruned weight for', layer, values, bad, first * columns);
      await ensureFolder();
      try {
        await out.writeAt(layer.tensor, encodeAs(values, layer.dtype), first * columns * itemSize);
      } catch (error) {
        await abort();
        throw error;
      }
      progress.advance(count * columns * itemSize, layer.tensor);
    }
    out.markComplete(layer.tensor);
  };

  const writeCompressed = async (layer: CheckpointLayer, weight: Tensor): Promise<void> => {
    const values = (await weight.data()) as Float32Array;
    const bad = firstNonFinite(values);
    if (bad >= 0) throw nonFinite('the pruned weight for', layer, values, bad);
    // Round through the stored dtype so the encoding decodes to what a dense write would hold.
    if (layer.dtype === 'F16' || layer.dtype === 'BF16') decodeToFloat32(layer.dtype, littleEndian(encodeFloat32(values, layer.dtype)), values, 0);
    const request: SparseFormatRequest = compress === 'nm' ? { format: 'nm', pattern: nmPattern } : { format: compress! };
    const { tensors, metadata } = sparseToRawTensors(layer.tensor, encodeSparse({ values, shape: layer.shape }, request));
    metadata[`${layer.tensor}.dense_dtype`] = layer.dtype;
    if (layer.storedShape.length !== 2) metadata[`${layer.tensor}.dense_shape`] = JSON.stringify(layer.storedShape);
    await ensureFolder();
    try {
      spool ??= createAtomicFile(path.join(outputFolder, '.prune-spool'));
      const file = await spool;
      const entries: SpooledTensor[] = [];
      for (const [name, t] of Object.entries(tensors)) {
        const bytes = littleEndian(t.data as Float32Array);
        await file.write(bytes, spoolSize);
        entries.push({ spec: { name, dtype: t.dtype, shape: t.shape }, offset: spoolSize, byteLength: bytes.byteLength });
        spoolSize += bytes.byteLength;
        progress.advance(bytes.byteLength, name);
      }
      spooled.set(layer.tensor, entries);
      sparseMetadata.set(layer.tensor, metadata);
    } catch (error) {
      await abort();
      throw error;
    }
  };

  const finish = async (): Promise<CheckpointWriteResult> => {
    if (state !== 'open') throw new PruneError('DISPOSED', `the checkpoint adapter for ${input} is already finished or aborted`);
    state = 'finishing';
    let copied = 0;
    try {
      await ensureFolder();
      let spoolReader: Awaited<ReturnType<typeof fs.open>> | undefined;
      try {
        if (outputs === undefined) {
          outputs = new Map();
          for (const g of groups) {
            const specs: OutputTensorSpec[] = [];
            const metadata: Record<string, string> = { ...g.metadata };
            for (const name of g.tensors) {
              const entries = spooled.get(name);
              if (entries === undefined) specs.push(specOf(name));
              else {
                specs.push(...entries.map((e) => e.spec));
                Object.assign(metadata, sparseMetadata.get(name));
              }
            }
            outputs.set(g, new CheckpointOutputFile(g.outputPath, specs, metadata));
          }
          if (spool !== undefined) spoolReader = await fs.open((await spool).tempPath, 'r');
        }
        for (const g of groups) {
          const out = outputs.get(g)!;
          for (const name of g.tensors) {
            const entries = spooled.get(name);
            if (entries !== undefined) {
              for (const e of entries) {
                const bytes = new Uint8Array(e.byteLength);
                for (let done = 0; done < e.byteLength; ) {
                  const { bytesRead } = await spoolReader!.read(bytes, done, e.byteLength - done, e.offset + done);
                  if (bytesRead === 0) throw new PruneError('IO_ERROR', `the temporary file of ${outputFolder} ended early; was it removed?`);
                  done += bytesRead;
                }
                await out.writeAt(e.spec.name, bytes, 0);
                out.markComplete(e.spec.name);
              }
              continue;
            }
            if (out.isComplete(name)) continue;
            // Not written by the pruner: copy the stored bytes unchanged, one tensor at a time.
            const raw = await source.readTensor(name, { as: 'raw' });
            await out.writeAt(name, raw, 0);
            out.markComplete(name);
            copied++;
            progress.advance(raw.byteLength, name);
          }
        }
      } finally {
        await spoolReader?.close().catch(() => undefined);
      }
      for (const o of outputs.values()) await o.seal();
      for (const o of outputs.values()) {
        await o.commit();
        progress.advance(o.layout.header.byteLength, o.path);
      }
      const files = groups.map((g) => g.outputPath);
      if (indexOutput !== undefined && source instanceof ShardedSafetensors) {
        const weightMap: Record<string, string> = {};
        const entries: [string, string][] = [];
        for (const g of groups) for (const e of outputs.get(g)!.layout.entries) entries.push([e.name, g.shardFile!]);
        for (const [name, file] of entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
          Object.defineProperty(weightMap, name, { value: file, enumerable: true, writable: true, configurable: true });
        }
        const totalSize = [...outputs.values()].reduce((a, o) => a + o.layout.fileSize - o.layout.header.byteLength, 0);
        const json = `${JSON.stringify({ metadata: { ...source.indexMetadata, total_size: totalSize }, weight_map: weightMap }, null, 2)}\n`;
        await writeFileAtomic(indexOutput, (f) => f.write(new TextEncoder().encode(json), 0));
        files.push(indexOutput);
      }
      if (spool !== undefined) await (await spool).abort();
      const bytes = (await Promise.all(files.map((f) => fs.stat(f).then((s) => s.size)))).reduce((a, b) => a + b, 0);
      state = 'done';
      await source.close();
      return Object.freeze({ files: Object.freeze(files), bytes, inputBytes, writtenTensors: written.size, copiedTensors: copied, compress });
    } catch (error) {
      await abort();
      throw error;
    }
  };

  return Object.freeze({
    description: `safetensors:${input}`,
    input,
    output: options.output,
    layers,
    skipped,
    inputBytes,
    blocks: () => blocks,
    layer: (name: string) => lookup(name, 'look up'),
    async readWeight(name: string): Promise<Tensor> {
      const layer = lookup(name, 'read');
      const values = await source.readTensor(layer.tensor, { as: 'float32' });
      const bad = firstNonFinite(values);
      if (bad >= 0) throw nonFinite('tensor', layer, values, bad);
      const backend = options.backend ?? getBackend();
      // The reference backend's storage is a typed array, and `values` is fresh and ours: hand
      // it over instead of copying, so reading a weight costs one copy of it, not two.
      if (backend === referenceBackend) return new Tensor(referenceBackend, values, layer.shape, 'float32');
      return fromArray(values, layer.shape, 'float32', { backend });
    },
    async writeWeight(name: string, weight: Tensor): Promise<void> {
      const layer = lookup(name, 'write');
      if (!(weight instanceof Tensor)) throw new PruneError('INVALID_ARGUMENT', `writeWeight(${JSON.stringify(name)}): weight must be a Tensor, got ${typeof weight}`);
      if (weight.dtype !== 'float32') throw new PruneError('DTYPE_MISMATCH', `writeWeight(${JSON.stringify(name)}): weight must be float32, got ${weight.dtype}`);
      if (!shapesEqual(weight.shape, layer.shape)) {
        throw new PruneError('SHAPE_MISMATCH', `writeWeight(${JSON.stringify(name)}): weight has shape [${weight.shape.join(', ')}] but the layer is [${layer.shape.join(', ')}]`);
      }
      if (written.has(name)) throw new PruneError('INVALID_ARGUMENT', `writeWeight(${JSON.stringify(name)}): this layer was already written; each layer is written once`);
      if (compress === undefined) await writeDense(layer, weight);
      else await writeCompressed(layer, weight);
      written.add(name);
    },
    finish,
    abort,
  } satisfies CheckpointAdapter);
}

