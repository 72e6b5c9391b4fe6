import { PruneError } from '../errors.js';
import { type ProgressStage, progressStage } from '../progress.js';
import { writeFileAtomic } from './atomic.js';
import { type SafetensorsDType, safetensorsItemSize } from './dtypes.js';
import { type SafetensorsTensorInfo, planLayout } from './header.js';
import { type JsonValue, jsonToPlain, parseStrictJson } from './json.js';
import { allocFileBytes, ioError, nodeModules } from './node.js';
import { type ReadAs, type ReadAsArrayMap, type ReadTensorOptions, type SafetensorsFile, type SafetensorsSource, openRegularFile, openSafetensors } from './reader.js';
import {
  LayoutWriter,
  type NamedTensors,
  type SafetensorsData,
  type SafetensorsTensorSpec,
  type WriteSafetensorsOptions,
} from './writer.js';

/** File-name ending of a sharded checkpoint's index, e.g. `model.safetensors.index.json`. */
export const INDEX_SUFFIX = '.safetensors.index.json';

/** Largest index file read, in bytes; real ones are well under a megabyte. */
export const MAX_INDEX_BYTES = 100_000_000;

/**
 * Checks that `name` is a plain file name — no folder part, not `.` or `..`, not absolute,
 * no drive letter or NUL — so that joining it to a folder can only name a file directly in
 * that folder.
 *
 * @param name - the file name to check
 * @param where - what the name came from, for the error message
 * @returns `name`
 * @throws PruneError `UNSAFE_PATH` otherwise
 */
export function checkPlainFileName(name: string, where: string): string {
  if (name === '' || name === '.' || name === '..' || /[/\\\0:]/.test(name)) {
    throw new PruneError('UNSAFE_PATH', `${where}: ${JSON.stringify(name)} is not a plain file name inside the checkpoint folder; file names must not contain '/', '\\', ':' or be '.' or '..'`);
  }
  return name;
}

/**
 * Resolves `name` inside `folder`, following symbolic links, and refuses any result outside
 * the folder.
 *
 * @param folder - the checkpoint folder
 * @param name - a plain file name (see {@link checkPlainFileName})
 * @param where - what the name came from, for error messages
 * @returns the real path of the file
 * @throws PruneError `UNSAFE_PATH` when it escapes the folder; `NOT_FOUND` when missing
 */
export async function resolveInsideFolder(folder: string, name: string, where: string): Promise<string> {
  const { fs, path } = await nodeModules();
  checkPlainFileName(name, where);
  let realFolder: string;
  let realFile: string;
  try {
    realFolder = await fs.realpath(folder);
    realFile = await fs.realpath(path.join(folder, name));
  } catch (error) {
    throw ioError(error, `find ${JSON.stringify(name)} named in ${where}`);
  }
  const relative = path.relative(realFolder, realFile);
  if (relative === '' || relative === '..' || relative.startsWith(`..${path.sep}`) || path.isAbsolute(relative)) {
    throw new PruneError('UNSAFE_PATH', `${where}: ${JSON.stringify(name)} resolves to ${realFile}, outside the checkpoint folder ${realFolder}; refusing to read it`);
  }
  return realFile;
}

/**
 * A sharded checkpoint: an index file mapping every tensor name to one of several
 * safetensors files in the same folder. Made by {@link openShardedSafetensors}. Shards are
 * opened on first use and stay open until {@link ShardedSafetensors.close}.
 */
export class ShardedSafetensors implements SafetensorsSource {
  /** Path of the index file. */
  readonly path: string;
  /** Folder holding the index and the shards. */
  readonly folder: string;
  /** The index's `metadata` object (e.g. `{ total_size: … }`), as plain values. */
  readonly indexMetadata: Readonly<Record<string, unknown>>;
  /** Tensor name → shard file name, in index order. */
  readonly weightMap: ReadonlyMap<string, string>;
  readonly #shards = new Map<string, Promise<SafetensorsFile>>();
  #closed = false;

  /**
   * Wraps a parsed index; use {@link openShardedSafetensors}.
   * @param path - index file path
   * @param folder - its folder
   * @param weightMap - validated tensor → shard map
   * @param indexMetadata - the index's metadata
   */
  constructor(path: string, folder: string, weightMap: ReadonlyMap<string, string>, indexMetadata: Readonly<Record<string, unknown>>) {
    this.path = path;
    this.folder = folder;
    this.weightMap = weightMap;
    this.indexMetadata = indexMetadata;
  }

  /** The distinct shard file names, in first-use order of the index. */
  shardFiles(): string[] {
    return [...new Set(this.weightMap.values())];
  }

  /** Names of all tensors, in index order. */
  names(): readonly string[] {
    return [...this.weightMap.keys()];
  }

  /**
   * Whether the index lists `name`.
   * @param name - tensor name
   */
  has(name: string): boolean {
    return this.weightMap.has(name);
  }

  /**
   * Opens (once) the shard file `file`, confined to the checkpoint folder.
   * @param file - shard file name from the index
   */
  shard(file: string): Promise<SafetensorsFile> {
    if (this.#closed) return Promise.reject(new PruneError('DISPOSED', `${this.path} was closed; open it again to read from ${file}`));
    let opening = this.#shards.get(file);
    if (opening === undefined) {
      opening = resolveInsideFolder(this.folder, file, this.path).then(openSafetensors);
      // A failed open is not cached, so a later call reports the error again rather than a stale promise.
      opening.catch(() => this.#shards.delete(file));
      this.#shards.set(file, opening);
    }
    return opening;
  }

  async #locate(name: string): Promise<{ shard: SafetensorsFile; info: SafetensorsTensorInfo }> {
    const file = this.weightMap.get(name);
    if (file === undefined) throw new PruneError('NOT_FOUND', `${this.path} lists no tensor ${JSON.stringify(name)}; names() lists the tensors it holds`);
    const shard = await this.shard(file);
    if (!shard.has(name)) {
      throw new PruneError('CORRUPT_FILE', `${this.path} says tensor ${JSON.stringify(name)} is in ${file}, but that file has no such tensor; the checkpoint is incomplete or mixed up`);
    }
    return { shard, info: shard.tensorInfo(name) };
  }

  /**
   * The header entry of `name`, from its shard's header (byte offsets are within that shard).
   * @param name - tensor name
   */
  async info(name: string): Promise<SafetensorsTensorInfo> {
    return (await this.#locate(name)).info;
  }

  /** Header entries of all tensors, in index order; opens every shard's header. */
  async list(): Promise<SafetensorsTensorInfo[]> {
    const out: SafetensorsTensorInfo[] = [];
    for (const name of this.weightMap.keys()) out.push(await this.info(name));
    return out;
  }

  /**
   * Reads one tensor from its shard.
   * @param name - tensor name
   * @param options - form of the result
   */
  async readTensor<A extends ReadAs = 'float32'>(name: string, options: ReadTensorOptions<A> = {}): Promise<ReadAsArrayMap[A]> {
    const { shard } = await this.#locate(name);
    return shard.readTensor(name, options);
  }

  /** Closes every open shard. Safe to call twice. */
  async close(): Promise<void> {
    this.#closed = true;
    const opened = [...this.#shards.values()];
    this.#shards.clear();
    await Promise.all(opened.map((p) => p.then((s) => s.close(), () => undefined)));
  }
}

function corruptIndex(file: string, reason: string): PruneError {
  return new PruneError('CORRUPT_FILE', `${file}: ${reason}; expected { "metadata": {…}, "weight_map": { "<tensor>": "<shard>.safetensors" } }`);
}

/**
 * Opens a sharded checkpoint from its index file (`*.safetensors.index.json`). Every shard
 * file name is checked to lie directly in the index's folder: absolute paths, `..`, folder
 * separators and symbolic links leading out of the folder are refused with `UNSAFE_PATH`.
 * Shards open lazily, on the first read or listing that needs them.
 *
 * @param indexPath - the index file
 * @returns the checkpoint, read through the same API as a single file
 * @throws PruneError `CORRUPT_FILE` for a malformed index, `UNSAFE_PATH` for a file name that escapes
 */
export async function openShardedSafetensors(indexPath: string): Promise<ShardedSafetensors> {
  const { path } = await nodeModules();
  const { handle, size } = await openRegularFile(indexPath);
  let text: string;
  try {
    if (size > MAX_INDEX_BYTES) throw corruptIndex(indexPath, `the index is ${size} bytes, more than the ${MAX_INDEX_BYTES}-byte limit`);
    const bytes = allocFileBytes(size);
    let done = 0;
    while (done < size) {
      const { bytesRead } = await handle.read(bytes, done, size - done, done);
      if (bytesRead === 0) throw corruptIndex(indexPath, 'the file ended early');
      done += bytesRead;
    }
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      throw corruptIndex(indexPath, 'the index is not valid UTF-8');
    }
  } catch (error) {
    throw ioError(error, `read ${indexPath}`);
  } finally {
    await handle.close().catch(() => undefined);
  }
  const root = parseStrictJson(text, `${indexPath}`);
  if (!(root instanceof Map)) throw corruptIndex(indexPath, 'the index is not a JSON object');
  const map = root.get('weight_map');
  if (!(map instanceof Map)) throw corruptIndex(indexPath, 'there is no "weight_map" object');
  const weightMap = new Map<string, string>();
  for (const [name, file] of map) {
    if (typeof file !== 'string') throw corruptIndex(indexPath, `weight_map entry ${JSON.stringify(name)} is not a file name string`);
    weightMap.set(name, checkPlainFileName(file, `${indexPath} (weight_map entry ${JSON.stringify(name)})`));
  }
  const metadata: JsonValue | undefined = root.get('metadata');
  if (metadata !== undefined && metadata !== null && !(metadata instanceof Map)) throw corruptIndex(indexPath, '"metadata" is not an object');
  const plainMetadata = metadata instanceof Map ? (jsonToPlain(metadata) as Record<string, unknown>) : {};
  return new ShardedSafetensors(indexPath, path.dirname(path.resolve(indexPath)), weightMap, Object.freeze(plainMetadata));
}

/**
 * Opens a checkpoint wherever it is: a `.safetensors` file, an index file, or a folder
 * holding `model.safetensors.index.json` or `model.safetensors`.
 *
 * @param path - file or folder
 * @returns the open checkpoint
 * @throws PruneError `NOT_FOUND` when a folder holds neither file
 */
export async function openCheckpoint(path: string): Promise<SafetensorsSource> {
  const { fs, path: paths } = await nodeModules();
  let isDirectory: boolean;
  try {
    isDirectory = (await fs.stat(path)).isDirectory();
  } catch (error) {
    throw ioError(error, `open checkpoint ${path}`);
  }
  if (isDirectory) {
    for (const [file, open] of [
      [`model${INDEX_SUFFIX}`, openShardedSafetensors],
      ['model.safetensors', openSafetensors],
    ] as const) {
      const candidate = paths.join(path, file);
      const exists = await fs.stat(candidate).then(
        (s) => s.isFile(),
        () => false,
      );
      if (exists) return open(candidate);
    }
    throw new PruneError('NOT_FOUND', `${path} holds neither model${INDEX_SUFFIX} nor model.safetensors; pass the checkpoint file itself`);
  }
  return path.endsWith('.index.json') ? openShardedSafetensors(path) : openSafetensors(path);
}

/** One output shard: its file name and the tensors it holds. */
export interface ShardPlan {
  /** File name inside the output folder. */
  readonly file: string;
  /** Names of its tensors, in the order given. */
  readonly tensors: readonly string[];
  /** Bytes of tensor data (not counting the header). */
  readonly dataBytes: number;
}

/**
 * Splits tensors into shards greedily in the order given (so a model written layer by layer
 * fills one shard after another): a shard is closed when the next tensor would push its data
 * past `maxShardBytes`; a tensor larger than that gets a shard of its own. One shard is named
 * `<prefix>.safetensors`; several are `<prefix>-00001-of-0000N.safetensors`, as the Hugging
 * Face tools name them.
 *
 * @param specs - tensors in writing order
 * @param maxShardBytes - largest data size of one shard
 * @param prefix - file-name prefix
 * @returns the shards
 */
export function planShards(specs: readonly [string, SafetensorsTensorSpec][], maxShardBytes: number, prefix: string): ShardPlan[] {
  if (!(Number.isSafeInteger(maxShardBytes) && maxShardBytes > 0)) throw new PruneError('INVALID_ARGUMENT', `maxShardBytes must be a positive integer, got ${maxShardBytes}`);
  checkPlainFileName(prefix, 'the shard file prefix');
  const groups: { tensors: string[]; dataBytes: number }[] = [];
  let current: { tensors: string[]; dataBytes: number } | undefined;
  for (const [name, spec] of specs) {
    let size = 0;
    if (Array.isArray(spec?.shape) && spec.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      size = spec.shape.reduce((a, d) => a * d, 1) * (typeof spec.dtype === 'string' ? safetensorsItemSize(spec.dtype as SafetensorsDType) || 0 : 0);
    }
    if (current !== undefined && current.tensors.length > 0 && current.dataBytes + size > maxShardBytes) current = undefined;
    if (current === undefined) {
      current = { tensors: [], dataBytes: 0 };
      groups.push(current);
    }
    current.tensors.push(name);
    current.dataBytes += size;
    if (size > maxShardBytes) current = undefined;
  }
  if (groups.length === 0) groups.push({ tensors: [], dataBytes: 0 });
  const n = groups.length;
  const pad = (i: number): string => String(i).padStart(5, '0');
  return groups.map((g, i) => Object.freeze({ file: n === 1 ? `${prefix}.safetensors` : `${prefix}-${pad(i + 1)}-of-${pad(n)}.safetensors`, tensors: Object.freeze(g.tensors), dataBytes: g.dataBytes }));
}

/** Options of the sharded writers. */
export interface WriteShardedOptions extends WriteSafetensorsOptions {
  /**
   * Largest tensor data per shard, in bytes.
   * @defaultValue `5_000_000_000` (the Hugging Face default, "5GB")
   */
  maxShardBytes?: number;
  /**
   * File-name prefix of shards and index; must be a plain file name.
   * @defaultValue `'model'`
   */
  prefix?: string;
}

/** What a sharded write produced. */
export interface ShardedWriteResult {
  /** Shard file names, in order. */
  readonly shards: readonly string[];
  /** Index file name, or `undefined` when everything fitted in one file. */
  readonly index: string | undefined;
}

/**
 * A sharded checkpoint being written tensor by tensor; made by
 * {@link createShardedSafetensorsWriter}. Shards are built as temporary files; on
 * {@link ShardedSafetensorsWriter.finish} they move into place and the index is written last,
 * so the index never points at a missing or partial shard.
 */
export interface ShardedSafetensorsWriter {
  /** Output folder. */
  readonly folder: string;
  /** The shard plan. */
  readonly shards: readonly ShardPlan[];
  /** Names not yet written. */
  missing(): string[];
  /**
   * Writes one tensor's data into its shard.
   * @param name - a declared tensor
   * @param data - its elements
   */
  write(name: string, data: SafetensorsData): Promise<void>;
  /** Seals every shard, moves them into place, then writes the index. */
  finish(): Promise<ShardedWriteResult>;
  /** Discards every temporary file. Never throws. */
  abort(): Promise<void>;
}

/**
 * Starts writing a sharded checkpoint into `folder` (created if missing). Only files named by
 * the plan (plain names from `prefix`) and their temporary files are ever written, all
 * directly inside `folder`.
 *
 * @param folder - output folder
 * @param specs - dtype and shape of every tensor, in writing order
 * @param options - shard size, prefix, per-shard metadata, progress
 * @returns the writer
 */
export async function createShardedSafetensorsWriter(
  folder: string,
  specs: NamedTensors<SafetensorsTensorSpec>,
  options: WriteShardedOptions = {},
): Promise<ShardedSafetensorsWriter> {
  const { fs, path } = await nodeModules();
  const prefix = options.prefix ?? 'model';
  const ordered: [string, SafetensorsTensorSpec][] = specs instanceof Map ? [...specs] : Object.entries(specs as Record<string, SafetensorsTensorSpec>);
  const plan = planShards(ordered, options.maxShardBytes ?? 5_000_000_000, prefix);
  const specByName = new Map(ordered);
  const layouts = plan.map((shard) =>
    planLayout(
      shard.tensors.map((name) => ({ name, dtype: specByName.get(name)?.dtype as SafetensorsDType, shape: specByName.get(name)?.shape as readonly number[] })),
      options.metadata,
    ),
  );
  try {
    await fs.mkdir(folder, { recursive: true });
  } catch (error) {
    throw ioError(error, `create the output folder ${folder}`);
  }
  const progress: ProgressStage = progressStage(options.onProgress, 'write', layouts.reduce((a, l) => a + l.fileSize, 0), 'bytes');
  const writers = plan.map((shard, i) => new LayoutWriter(path.join(folder, shard.file), layouts[i], progress));
  const writerOf = new Map<string, LayoutWriter>();
  plan.forEach((shard, i) => shard.tensors.forEach((name) => writerOf.set(name, writers[i])));
  const indexFile = plan.length > 1 ? `${prefix}${INDEX_SUFFIX}` : undefined;
  let state: 'open' | 'done' = 'open';

  const abort = async (): Promise<void> => {
    state = 'done';
    await Promise.all(writers.map((w) => w.abort()));
  };
  return {
    folder,
    shards: Object.freeze(plan),
    missing: () => writers.flatMap((w) => w.missing()),
    async write(name, data) {
      const writer = writerOf.get(name);
      if (writer === undefined) throw new PruneError('NOT_FOUND', `tensor ${JSON.stringify(name)} is not among the tensors declared for ${folder}`);
      await writer.write(name, data);
      // Close a full shard's file at once, so only the shards being filled hold a descriptor.
      if (writer.missing().length === 0) await writer.seal();
    },
    async finish() {
      if (state !== 'open') throw new PruneError('INVALID_ARGUMENT', `the checkpoint in ${folder} is already finished or aborted`);
      try {
        for (const w of writers) await w.seal();
        for (const w of writers) await w.commit();
        if (indexFile !== undefined) {
          const weightMap: Record<string, string> = {};
          for (const [name] of [...writerOf].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
            Object.defineProperty(weightMap, name, { value: plan[writers.indexOf(writerOf.get(name)!)].file, enumerable: true, writable: true, configurable: true });
          }
          const totalSize = plan.reduce((a, s) => a + s.dataBytes, 0);
          const json = `${JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }, null, 2)}\n`;
          await writeFileAtomic(path.join(folder, indexFile), (f) => f.write(new TextEncoder().encode(json), 0));
        }
      } catch (error) {
        await abort();
        throw error;
      }
      state = 'done';
      return Object.freeze({ shards: plan.map((s) => s.file), index: indexFile });
    },
    abort,
  };
}

/**
 * Writes a sharded checkpoint from tensors produced one at a time (see
 * {@link createShardedSafetensorsWriter}); on any failure every temporary file is removed.
 *
 * @example
 * ```ts
 * const { shards, index } = await writeShardedSafetensors('out/', specs, (name) => pruned(name), {
 *   maxShardBytes: 2_000_000_000,
 * });
 * ```
 *
 * @param folder - output folder
 * @param specs - dtype and shape of every tensor, in writing order
 * @param produce - returns one tensor's data
 * @param options - shard size, prefix, metadata, progress
 * @returns the files written
 */
export async function writeShardedSafetensors(
  folder: string,
  specs: NamedTensors<SafetensorsTensorSpec>,
  produce: (name: string, spec: SafetensorsTensorSpec) => SafetensorsData | Promise<SafetensorsData>,
  options: WriteShardedOptions = {},
): Promise<ShardedWriteResult> {
  const writer = await createShardedSafetensorsWriter(folder, specs, options);
  const ordered: [string, SafetensorsTensorSpec][] = specs instanceof Map ? [...specs] : Object.entries(specs as Record<string, SafetensorsTensorSpec>);
  try {
    for (const [name, spec] of ordered) await writer.write(name, await produce(name, spec));
    return await writer.finish();
  } catch (error) {
    await writer.abort();
    throw error;
  }
}
