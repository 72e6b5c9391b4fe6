import type { FileHandle } from 'node:fs/promises';
import type { Backend } from '../backend.js';
import type { DType } from '../dtype.js';
import { PruneError } from '../errors.js';
import { fromArray } from '../ops/creation.js';
import type { Tensor } from '../tensor.js';
import { HOST_IS_LITTLE_ENDIAN, decodeToFloat32, decodeToInt32, isFloatDType, safetensorsItemSize } from './dtypes.js';
import { type SafetensorsHeader, type SafetensorsTensorInfo, parseHeader, readHeaderLength } from './header.js';
import { allocFileBytes, ioError, nodeModules } from './node.js';

/**
 * How {@link SafetensorsSource.readTensor} returns a tensor's elements:
 * - `'float32'`: a `Float32Array` (every dtype; F16/BF16/F8 widen exactly, F64 and 64-bit
 *   integers round to nearest, BOOL gives 0/1);
 * - `'int32'`: an `Int32Array` (integer dtypes and BOOL; a value outside the int32 range is an
 *   `OUT_OF_RANGE` error);
 * - `'raw'`: the stored little-endian bytes, bit for bit, as a `Uint8Array`.
 */
export type ReadAs = 'float32' | 'int32' | 'raw';

/** The array type {@link SafetensorsSource.readTensor} returns for each {@link ReadAs}. */
export interface ReadAsArrayMap {
  /** Values as float32. */
  float32: Float32Array;
  /** Values as int32. */
  int32: Int32Array;
  /** Stored bytes. */
  raw: Uint8Array;
}

/** Options of {@link SafetensorsSource.readTensor}. */
export interface ReadTensorOptions<A extends ReadAs = ReadAs> {
  /**
   * Form of the result.
   * @defaultValue `'float32'`
   */
  as?: A;
}

/**
 * Tensors stored in safetensors form — one file ({@link openSafetensors}) or a sharded
 * checkpoint ({@link openShardedSafetensors}) — readable one tensor at a time.
 */
export interface SafetensorsSource {
  /** The file (or index file) this reads. */
  readonly path: string;
  /** Names of all tensors, in storage order. */
  names(): readonly string[];
  /**
   * Whether a tensor named `name` exists.
   * @param name - tensor name
   */
  has(name: string): boolean;
  /**
   * Dtype, shape and byte size of one tensor, from the header only.
   * @param name - tensor name
   * @throws PruneError `NOT_FOUND` for an unknown name
   */
  info(name: string): Promise<SafetensorsTensorInfo>;
  /** {@link SafetensorsSource.info} of every tensor, in {@link SafetensorsSource.names} order. */
  list(): Promise<SafetensorsTensorInfo[]>;
  /**
   * Reads one tensor from disk, touching only its bytes.
   * @param name - tensor name
   * @param options - form of the result
   * @returns the elements, row-major, in a fresh array the caller owns
   */
  readTensor<A extends ReadAs = 'float32'>(name: string, options?: ReadTensorOptions<A>): Promise<ReadAsArrayMap[A]>;
  /** Releases the open files. Reading afterwards throws `DISPOSED`. Safe to call twice. */
  close(): Promise<void>;
}

/** Bytes read per step when converting, so conversion never holds a second full copy. */
const CONVERT_CHUNK_BYTES = 1 << 22;
/** Largest single `read` call; Node caps one call near 2 GiB. */
const MAX_READ_CHUNK = 1 << 30;

function allocChecked(byteLength: number, file: string, name: string): Uint8Array {
  try {
    return allocFileBytes(byteLength);
  } catch (cause) {
    throw new PruneError('UNSUPPORTED', `${file}: tensor ${JSON.stringify(name)} needs ${byteLength} bytes in one array, more than this JavaScript engine allows`, { cause });
  }
}

async function readExactly(handle: FileHandle, target: Uint8Array, position: number, file: string, what: string): Promise<void> {
  let done = 0;
  while (done < target.byteLength) {
    const length = Math.min(target.byteLength - done, MAX_READ_CHUNK);
    let bytesRead: number;
    try {
      ({ bytesRead } = await handle.read(target, done, length, position + done));
    } catch (error) {
      throw ioError(error, `read ${what} from ${file}`);
    }
    if (bytesRead === 0) throw new PruneError('CORRUPT_FILE', `${file}: the file ended while reading ${what}; it was truncated or changed while open`);
    done += bytesRead;
  }
}

/**
 * Reads tensor `info` from an open file in the form `as` asks for. Shared by the single-file
 * and sharded readers.
 *
 * @param handle - open file holding the tensor
 * @param info - the tensor's validated header entry
 * @param file - file name for error messages
 * @param as - form of the result
 * @returns the elements
 */
export async function readTensorData<A extends ReadAs>(handle: FileHandle, info: SafetensorsTensorInfo, file: string, as: A): Promise<ReadAsArrayMap[A]> {
  const what = `tensor ${JSON.stringify(info.name)}`;
  if (as === 'raw') {
    const bytes = allocChecked(info.byteLength, file, info.name);
    await readExactly(handle, bytes, info.byteOffset, file, what);
    return bytes as ReadAsArrayMap[A];
  }
  if (as !== 'float32' && as !== 'int32') throw new PruneError('INVALID_ARGUMENT', `readTensor: 'as' must be 'float32', 'int32' or 'raw', got ${JSON.stringify(as)}`);
  if (as === 'int32' && isFloatDType(info.dtype)) {
    throw new PruneError('DTYPE_MISMATCH', `${file}: tensor ${JSON.stringify(info.name)} is ${info.dtype}, a floating-point type; read it with { as: 'float32' }`);
  }
  const outBytes = allocChecked(info.size * 4, file, info.name);
  const out = as === 'float32' ? new Float32Array(outBytes.buffer, outBytes.byteOffset, info.size) : new Int32Array(outBytes.buffer, outBytes.byteOffset, info.size);
  // Same layout on disk and in memory: read straight into the result.
  if (HOST_IS_LITTLE_ENDIAN && ((as === 'float32' && info.dtype === 'F32') || (as === 'int32' && info.dtype === 'I32'))) {
    await readExactly(handle, outBytes, info.byteOffset, file, what);
    return out as ReadAsArrayMap[A];
  }
  const itemSize = safetensorsItemSize(info.dtype);
  const chunkElements = Math.max(1, Math.floor(CONVERT_CHUNK_BYTES / itemSize));
  const chunk = allocChecked(Math.min(info.byteLength, chunkElements * itemSize), file, info.name);
  for (let first = 0; first < info.size; first += chunkElements) {
    const count = Math.min(chunkElements, info.size - first);
    const bytes = chunk.subarray(0, count * itemSize);
    await readExactly(handle, bytes, info.byteOffset + first * itemSize, file, what);
    if (as === 'float32') decodeToFloat32(info.dtype, bytes, out as Float32Array, first);
    else {
      const bad = decodeToInt32(info.dtype, bytes, out as Int32Array, first);
      if (bad >= 0) {
        const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        const value = info.dtype === 'U32' ? view.getUint32(bad * 4, true) : info.dtype === 'U64' ? view.getBigUint64(bad * 8, true) : view.getBigInt64(bad * 8, true);
        throw new PruneError(
          'OUT_OF_RANGE',
          `${file}: tensor ${JSON.stringify(info.name)} (${info.dtype}) holds ${value} at element ${first + bad}, outside the int32 range; read it with { as: 'float32' } or { as: 'raw' }`,
        );
      }
    }
  }
  return out as ReadAsArrayMap[A];
}

/**
 * Opens a file for reading and checks it is a regular file. The caller closes the handle.
 *
 * @param path - file to open
 * @returns the handle and the file's size
 */
export async function openRegularFile(path: string): Promise<{ handle: FileHandle; size: number }> {
  const { fs } = await nodeModules();
  let handle: FileHandle;
  try {
    handle = await fs.open(path, 'r');
  } catch (error) {
    throw ioError(error, `open ${path}`);
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new PruneError('IO_ERROR', `cannot read ${path}: it is not a regular file`);
    return { handle, size: stat.size };
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw ioError(error, `inspect ${path}`);
  }
}

/**
 * Reads and validates the header of an open safetensors file; reads only the header's bytes.
 *
 * @param handle - open file
 * @param size - its size in bytes
 * @param file - file name for error messages
 * @returns the validated header
 */
export async function readHeader(handle: FileHandle, size: number, file: string): Promise<SafetensorsHeader> {
  const prefix = allocFileBytes(Math.min(8, size));
  await readExactly(handle, prefix, 0, file, 'the header length');
  const headerLength = readHeaderLength(prefix, size, file);
  const headerBytes = allocFileBytes(headerLength);
  await readExactly(handle, headerBytes, 8, file, 'the header');
  return parseHeader(headerBytes, size, file);
}

/**
 * One open safetensors file. Made by {@link openSafetensors}; holds the parsed header and
 * an open file handle until {@link SafetensorsFile.close}.
 */
export class SafetensorsFile implements SafetensorsSource {
  /** The file's path. */
  readonly path: string;
  /** The validated header. */
  readonly header: SafetensorsHeader;
  #handle: FileHandle | undefined;
  readonly #byName: Map<string, SafetensorsTensorInfo>;

  /**
   * Wraps an open file whose header was already validated; use {@link openSafetensors}.
   * @param path - the file's path
   * @param handle - open handle, now owned by this object
   * @param header - the file's validated header
   */
  constructor(path: string, handle: FileHandle, header: SafetensorsHeader) {
    this.path = path;
    this.#handle = handle;
    this.header = header;
    this.#byName = new Map(header.tensors.map((t) => [t.name, t]));
  }

  /** The `__metadata__` strings of the file (empty when it has none). */
  get metadata(): Readonly<Record<string, string>> {
    return this.header.metadata;
  }

  /** Every tensor's header entry, in storage order. */
  get tensors(): readonly SafetensorsTensorInfo[] {
    return this.header.tensors;
  }

  /** Names of all tensors, in storage order. */
  names(): readonly string[] {
    return this.header.tensors.map((t) => t.name);
  }

  /**
   * Whether the file holds a tensor named `name`.
   * @param name - tensor name
   */
  has(name: string): boolean {
    return this.#byName.has(name);
  }

  /**
   * The header entry of `name`, synchronously.
   * @param name - tensor name
   * @throws PruneError `NOT_FOUND` for an unknown name
   */
  tensorInfo(name: string): SafetensorsTensorInfo {
    const info = this.#byName.get(name);
    if (info === undefined) throw new PruneError('NOT_FOUND', `${this.path} has no tensor ${JSON.stringify(name)}; names() lists the tensors it holds`);
    return info;
  }

  /**
   * The header entry of `name`.
   * @param name - tensor name
   */
  async info(name: string): Promise<SafetensorsTensorInfo> {
    return this.tensorInfo(name);
  }

  /** Every tensor's header entry, in storage order. */
  async list(): Promise<SafetensorsTensorInfo[]> {
    return [...this.header.tensors];
  }

  /**
   * Reads one tensor, touching only its bytes in the file.
   * @param name - tensor name
   * @param options - form of the result
   */
  async readTensor<A extends ReadAs = 'float32'>(name: string, options: ReadTensorOptions<A> = {}): Promise<ReadAsArrayMap[A]> {
    const info = this.tensorInfo(name);
    if (this.#handle === undefined) throw new PruneError('DISPOSED', `${this.path} was closed; open it again to read ${JSON.stringify(name)}`);
    return readTensorData(this.#handle, info, this.path, (options.as ?? 'float32') as A);
  }

  /** Closes the file. Safe to call twice. */
  async close(): Promise<void> {
    const handle = this.#handle;
    this.#handle = undefined;
    if (handle !== undefined) await handle.close().catch(() => undefined);
  }
}

/**
 * Opens a safetensors file for streaming: reads and validates only the header (strict bounds
 * checks before anything is allocated), then reads tensors one at a time on request. Close it
 * when done.
 *
 * @example
 * ```ts
 * const file = await openSafetensors('model.safetensors');
 * try {
 *   for (const t of file.tensors) console.log(t.name, t.dtype, t.shape);
 *   const w = await file.readTensor('layers.0.mlp.weight'); // Float32Array
 * } finally {
 *   await file.close();
 * }
 * ```
 *
 * @param path - the `.safetensors` file
 * @returns the open file
 * @throws PruneError `CORRUPT_FILE` for a malformed file; `NOT_FOUND` / `IO_ERROR` when it cannot be read
 */
export async function openSafetensors(path: string): Promise<SafetensorsFile> {
  const { handle, size } = await openRegularFile(path);
  try {
    return new SafetensorsFile(path, handle, await readHeader(handle, size, path));
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw error;
  }
}

/** Options of {@link readAsTensor}. */
export interface ReadAsTensorOptions {
  /**
   * Dtype of the tensor made.
   * @defaultValue `'float32'` for floating-point data, `'bool'` for BOOL, `'int32'` for integers
   */
  dtype?: DType;
  /**
   * Backend that will own it.
   * @defaultValue the current backend
   */
  backend?: Backend;
}

/**
 * Reads one tensor into a core {@link Tensor}. For `bool`, any non-zero value is `true`.
 *
 * @param source - an open file or checkpoint
 * @param name - tensor name
 * @param options - dtype and backend of the result
 * @returns a new tensor the caller disposes
 */
export async function readAsTensor(source: SafetensorsSource, name: string, options: ReadAsTensorOptions = {}): Promise<Tensor> {
  const info = await source.info(name);
  const dtype: DType = options.dtype ?? (isFloatDType(info.dtype) ? 'float32' : info.dtype === 'BOOL' ? 'bool' : 'int32');
  const create = options.backend === undefined ? {} : { backend: options.backend };
  if (dtype === 'float32') return fromArray(await source.readTensor(name, { as: 'float32' }), info.shape, 'float32', create);
  if (dtype === 'int32') return fromArray(await source.readTensor(name, { as: 'int32' }), info.shape, 'int32', create);
  if (dtype === 'bool') {
    const values = await source.readTensor(name, { as: 'float32' });
    const bits = new Uint8Array(values.length);
    for (let i = 0; i < values.length; i++) bits[i] = values[i] === 0 ? 0 : 1;
    return fromArray(bits, info.shape, 'bool', create);
  }
  throw new PruneError('INVALID_ARGUMENT', `readAsTensor: dtype must be 'float32', 'int32' or 'bool', got ${JSON.stringify(dtype)}`);
}
