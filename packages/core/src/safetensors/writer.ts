import type { DType } from '../dtype.js';
import { PruneError } from '../errors.js';
import { type ProgressOptions, type ProgressStage, progressStage } from '../progress.js';
import type { Tensor } from '../tensor.js';
import { type AtomicFile, createAtomicFile } from './atomic.js';
import { HOST_IS_LITTLE_ENDIAN, type SafetensorsDType, safetensorsItemSize } from './dtypes.js';
import { type SafetensorsLayout, type SafetensorsLayoutEntry, planLayout } from './header.js';

/**
 * Element data accepted by the writers: the typed array that matches the dtype (e.g.
 * `Float32Array` for F32, `BigInt64Array` for I64, `Uint16Array` bit patterns for F16/BF16 —
 * see {@link encodeFloat32}), or, for any dtype, the raw little-endian bytes as a `Uint8Array`.
 */
export type SafetensorsData =
  | Uint8Array
  | Int8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array;

/** Dtype and shape of a tensor to be written. */
export interface SafetensorsTensorSpec {
  /** Element type in the file. */
  dtype: SafetensorsDType;
  /** Shape, row-major. */
  shape: readonly number[];
}

/** A tensor to be written: its spec and its data. */
export interface SafetensorsTensorEntry extends SafetensorsTensorSpec {
  /** Elements, row-major. */
  data: SafetensorsData;
}

/** Tensors by name, as a plain object or a `Map` (a `Map` allows any name, `__proto__` included). */
export type NamedTensors<T> = Readonly<Record<string, T>> | ReadonlyMap<string, T>;

/** Options of the safetensors writers. */
export interface WriteSafetensorsOptions extends ProgressOptions {
  /**
   * String metadata stored under `__metadata__` (e.g. `{ format: 'pt' }`).
   * @defaultValue none
   */
  metadata?: Readonly<Record<string, string>>;
}

/**
 * A safetensors file being written tensor by tensor. Made by {@link createSafetensorsWriter}.
 * Tensors may be written in any order; the file appears at its path only on
 * {@link SafetensorsWriter.finish}.
 */
export interface SafetensorsWriter {
  /** Destination path. */
  readonly path: string;
  /** Where each tensor goes, in file order. */
  readonly layout: readonly SafetensorsLayoutEntry[];
  /** Names not yet written. */
  missing(): string[];
  /**
   * Writes one tensor's data. Each tensor is written exactly once.
   * @param name - a tensor named in the specs
   * @param data - its elements
   */
  write(name: string, data: SafetensorsData): Promise<void>;
  /** Checks every tensor was written, then moves the file into place. On failure, cleans up as {@link SafetensorsWriter.abort}. */
  finish(): Promise<void>;
  /** Discards the partial file; an existing file at the path is left as it was. Never throws. */
  abort(): Promise<void>;
}

function entriesOf<T>(tensors: NamedTensors<T>): [string, T][] {
  if (tensors instanceof Map) return [...tensors];
  if (tensors === null || typeof tensors !== 'object') throw new PruneError('INVALID_ARGUMENT', 'tensors must be an object or a Map from names to tensors');
  return Object.entries(tensors as Readonly<Record<string, T>>);
}

function matchesDType(dtype: SafetensorsDType, data: SafetensorsData): boolean {
  switch (dtype) {
    case 'F32':
      return data instanceof Float32Array;
    case 'F64':
      return data instanceof Float64Array;
    case 'I32':
      return data instanceof Int32Array;
    case 'U32':
      return data instanceof Uint32Array;
    case 'I16':
      return data instanceof Int16Array;
    case 'U16':
    case 'F16':
    case 'BF16':
      return data instanceof Uint16Array;
    case 'I8':
      return data instanceof Int8Array;
    case 'I64':
      return data instanceof BigInt64Array;
    case 'U64':
      return data instanceof BigUint64Array;
    default:
      return false; // one-byte types: raw bytes, checked by the caller
  }
}

/** The little-endian bytes of `data` (a view on little-endian hosts, a byte-swapped copy otherwise). */
function littleEndianBytes(data: SafetensorsData, itemSize: number): Uint8Array {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (HOST_IS_LITTLE_ENDIAN || itemSize === 1 || data instanceof Uint8Array) return bytes;
  const swapped = new Uint8Array(bytes.byteLength);
  for (let i = 0; i < bytes.byteLength; i += itemSize) for (let j = 0; j < itemSize; j++) swapped[i + j] = bytes[i + itemSize - 1 - j];
  return swapped;
}

/**
 * Writer over a planned layout. The temporary file is created on the first write (or at once
 * when `eager`), so a sharded writer holds only the shards it is filling open.
 */
export class LayoutWriter implements SafetensorsWriter {
  /** Destination path. */
  readonly path: string;
  /** Where each tensor goes, in file order. */
  readonly layout: readonly SafetensorsLayoutEntry[];
  /** Size of the finished file in bytes. */
  readonly fileSize: number;
  readonly #header: Uint8Array;
  readonly #byName: Map<string, SafetensorsLayoutEntry>;
  readonly #written = new Set<string>();
  readonly #progress: ProgressStage | undefined;
  #file: Promise<AtomicFile> | undefined;
  #state: 'open' | 'sealed' | 'done' = 'open';

  /**
   * @param path - destination
   * @param layout - planned header and tensor places
   * @param progress - counts written bytes, if given
   */
  constructor(path: string, layout: SafetensorsLayout, progress?: ProgressStage) {
    this.path = path;
    this.layout = layout.entries;
    this.fileSize = layout.fileSize;
    this.#header = layout.header;
    this.#byName = new Map(layout.entries.map((e) => [e.name, e]));
    this.#progress = progress;
  }

  /** Creates the temporary file and writes the header, once. */
  open(): Promise<AtomicFile> {
    this.#file ??= (async () => {
      const file = await createAtomicFile(this.path);
      try {
        await file.write(this.#header, 0);
      } catch (error) {
        await file.abort();
        throw error;
      }
      this.#progress?.advance(this.#header.byteLength, 'header');
      return file;
    })();
    return this.#file;
  }

  /** Names not yet written. */
  missing(): string[] {
    return this.layout.filter((e) => !this.#written.has(e.name)).map((e) => e.name);
  }

  /**
   * Writes one tensor's data.
   * @param name - a declared tensor
   * @param data - its elements
   */
  async write(name: string, data: SafetensorsData): Promise<void> {
    if (this.#state !== 'open') throw new PruneError('INVALID_ARGUMENT', `${this.path} is already finished or aborted; it cannot take tensor ${JSON.stringify(name)}`);
    const entry = this.#byName.get(name);
    if (entry === undefined) throw new PruneError('NOT_FOUND', `tensor ${JSON.stringify(name)} is not among the tensors declared for ${this.path}`);
    if (this.#written.has(name)) throw new PruneError('INVALID_ARGUMENT', `tensor ${JSON.stringify(name)} was already written to ${this.path}; write each tensor once`);
    if (!ArrayBuffer.isView(data) || !(data instanceof Uint8Array || matchesDType(entry.dtype, data))) {
      const kind = ArrayBuffer.isView(data) ? data.constructor.name : typeof data;
      throw new PruneError('DTYPE_MISMATCH', `tensor ${JSON.stringify(name)} is ${entry.dtype} but its data is a ${kind}; pass the matching typed array or the raw bytes as a Uint8Array`);
    }
    if (data.byteLength !== entry.byteLength) {
      throw new PruneError(
        'SHAPE_MISMATCH',
        `tensor ${JSON.stringify(name)} is ${entry.dtype}[${entry.shape.join(', ')}] (${entry.byteLength} bytes) but its data has ${data.byteLength} bytes`,
      );
    }
    this.#written.add(name);
    try {
      const file = await this.open();
      await file.write(littleEndianBytes(data, safetensorsItemSize(entry.dtype)), entry.byteOffset);
    } catch (error) {
      await this.abort();
      throw error;
    }
    this.#progress?.advance(entry.byteLength, name);
  }

  /** Checks completeness and flushes the temporary file without moving it into place. */
  async seal(): Promise<void> {
    if (this.#state === 'sealed') return;
    if (this.#state === 'done') throw new PruneError('INVALID_ARGUMENT', `${this.path} is already finished or aborted`);
    const missing = this.missing();
    if (missing.length > 0) {
      await this.abort();
      const shown = missing.slice(0, 5).map((n) => JSON.stringify(n)).join(', ');
      throw new PruneError('INVALID_ARGUMENT', `${this.path} was not written: ${missing.length} declared tensor(s) never received data (${shown}${missing.length > 5 ? ', …' : ''})`);
    }
    try {
      await (await this.open()).seal();
    } catch (error) {
      await this.abort();
      throw error;
    }
    this.#state = 'sealed';
  }

  /** Moves a sealed file into place. */
  async commit(): Promise<void> {
    await this.seal();
    try {
      await (await this.open()).commit();
    } catch (error) {
      await this.abort();
      throw error;
    }
    this.#state = 'done';
  }

  /** Checks completeness, then moves the file into place. */
  async finish(): Promise<void> {
    await this.commit();
  }

  /** Discards the partial file. Never throws. */
  async abort(): Promise<void> {
    this.#state = 'done';
    const file = this.#file;
    if (file !== undefined) await file.then((f) => f.abort(), () => undefined);
  }
}

/**
 * Starts writing a safetensors file whose tensors are all declared up front, so the header
 * is final before any data exists and each tensor can be written (in any order) as soon as
 * it is ready and then dropped — a pruned checkpoint can be written layer by layer. Bytes go
 * to a temporary file in the destination's folder that replaces `path` only on
 * {@link SafetensorsWriter.finish}.
 *
 * @example
 * ```ts
 * const w = await createSafetensorsWriter('pruned.safetensors', specs);
 * try {
 *   for (const name of layerOrder) await w.write(name, await pruneLayer(name));
 *   await w.finish();
 * } catch (e) { await w.abort(); throw e; }
 * ```
 *
 * @param path - destination; its folder must exist
 * @param specs - dtype and shape of every tensor
 * @param options - metadata and progress
 * @returns the writer
 */
export async function createSafetensorsWriter(path: string, specs: NamedTensors<SafetensorsTensorSpec>, options: WriteSafetensorsOptions = {}): Promise<SafetensorsWriter> {
  const layout = planLayout(
    entriesOf(specs).map(([name, s]) => ({ name, dtype: s?.dtype as SafetensorsDType, shape: s?.shape as readonly number[] })),
    options.metadata,
  );
  const writer = new LayoutWriter(path, layout, progressStage(options.onProgress, 'write', layout.fileSize, 'bytes'));
  await writer.open();
  return writer;
}

/**
 * Writes tensors to a safetensors file atomically: the file appears complete at `path` or,
 * on any failure, not at all (an existing file there is left as it was). The layout matches
 * the reference writer's, so equal input gives byte-identical files.
 *
 * @example
 * ```ts
 * await writeSafetensors('model.safetensors', {
 *   'fc.weight': { dtype: 'F32', shape: [2, 3], data: new Float32Array(6) },
 * }, { metadata: { format: 'pt' } });
 * ```
 *
 * @param path - destination; its folder must exist
 * @param tensors - tensors by name
 * @param options - metadata and progress
 */
export async function writeSafetensors(path: string, tensors: NamedTensors<SafetensorsTensorEntry>, options: WriteSafetensorsOptions = {}): Promise<void> {
  const entries = entriesOf(tensors);
  const writer = await createSafetensorsWriter(path, new Map(entries), options);
  const data = new Map(entries.map(([name, e]) => [name, e.data]));
  try {
    for (const entry of writer.layout) await writer.write(entry.name, data.get(entry.name)!);
    await writer.finish();
  } catch (error) {
    await writer.abort();
    throw error;
  }
}

/**
 * Writes a safetensors file from tensors produced one at a time: `produce` is called for each
 * spec in the order given, its result written and released before the next call, so only one
 * tensor is in memory at once. Atomic like {@link writeSafetensors}.
 *
 * @param path - destination; its folder must exist
 * @param specs - dtype and shape of every tensor, in the order to produce them
 * @param produce - returns the data of one tensor
 * @param options - metadata and progress
 */
export async function writeSafetensorsStreaming(
  path: string,
  specs: NamedTensors<SafetensorsTensorSpec>,
  produce: (name: string, spec: SafetensorsTensorSpec) => SafetensorsData | Promise<SafetensorsData>,
  options: WriteSafetensorsOptions = {},
): Promise<void> {
  const ordered = entriesOf(specs);
  const writer = await createSafetensorsWriter(path, new Map(ordered), options);
  try {
    for (const [name, spec] of ordered) await writer.write(name, await produce(name, spec));
    await writer.finish();
  } catch (error) {
    await writer.abort();
    throw error;
  }
}

const CORE_TO_SAFETENSORS: Readonly<Record<DType, SafetensorsDType>> = { float32: 'F32', int32: 'I32', bool: 'BOOL' };

/**
 * Turns a core {@link Tensor} into an entry for the writers (float32 → F32, int32 → I32,
 * bool → BOOL), downloading its data.
 *
 * @param t - the tensor (left as it is)
 * @returns its dtype, shape and a copy of its data
 */
export async function tensorEntry(t: Tensor): Promise<SafetensorsTensorEntry> {
  return { dtype: CORE_TO_SAFETENSORS[t.dtype], shape: [...t.shape], data: await t.data() };
}
