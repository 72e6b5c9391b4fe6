import { PruneError, assert } from '../errors.js';
import { type BitmaskEncoding, validateBitmask } from './bitmask.js';
import { type CsrEncoding, validateCsr } from './csr.js';
import { type NmEncoding, validateNm } from './nm.js';
import type { SparseEncoding, SparseFormat } from './sparse.js';

/** safetensors dtype names used by the sparse encodings. */
export type RawDType = 'F32' | 'U8' | 'U16' | 'U32';

/** The typed array class of each {@link RawDType}. */
export interface RawDTypeArrayMap {
  /** float32 values. */
  F32: Float32Array;
  /** bytes (bit-packed indices and masks). */
  U8: Uint8Array;
  /** 16-bit column indices. */
  U16: Uint16Array;
  /** 32-bit column indices and row pointers. */
  U32: Uint32Array;
}

/**
 * One named array ready for a tensor file: a safetensors dtype, a shape and the elements
 * (little-endian on every platform JavaScript runs on, as safetensors requires).
 */
export interface RawTensor<D extends RawDType = RawDType> {
  /** safetensors dtype. */
  dtype: D;
  /** Shape. */
  shape: number[];
  /** Elements, row-major, in the dtype's typed array. */
  data: RawDTypeArrayMap[D];
}

/**
 * A sparse encoding as named raw tensors plus string metadata, the shape a safetensors
 * file stores (metadata goes to the header's `__metadata__`).
 */
export interface RawTensorSet {
  /** Tensors by full name, e.g. `layer.weight.csr_values`. */
  tensors: Record<string, RawTensor>;
  /** Metadata strings by key, e.g. `layer.weight.sparse_format` → `csr`. */
  metadata: Record<string, string>;
}

/**
 * A stored tensor as {@link sparseFromRawTensors} accepts it: like {@link RawTensor}, but
 * the data may also be the raw little-endian bytes as a `Uint8Array` — what a raw
 * safetensors read (`readTensor(name, { as: 'raw' })`) returns.
 */
export interface RawTensorInput {
  /** safetensors dtype. */
  readonly dtype: string;
  /** Shape. */
  readonly shape: readonly number[];
  /** Elements in the dtype's typed array, or their little-endian bytes. */
  readonly data: RawDTypeArrayMap[RawDType];
}

/** Tensor lookup for {@link sparseFromRawTensors}: a record, or a lookup callback. */
export type RawTensorSource = Readonly<Record<string, RawTensorInput>> | ((name: string) => RawTensorInput | undefined);

/** Metadata key suffixes (after `<name>.`). */
const FORMAT_KEY = 'sparse_format';
const SHAPE_KEY = 'sparse_shape';
const NM_KEY = 'sparse_nm';

/** Tensor name suffixes (after `<name>.`) of each format, in storage order. */
const TENSOR_SUFFIXES: Record<SparseFormat, readonly string[]> = {
  csr: ['csr_values', 'csr_col', 'csr_rowptr'],
  nm: ['nm_values', 'nm_indices'],
  bitmask: ['bitmask_values', 'bitmask_mask'],
};

function raw<D extends RawDType>(dtype: D, shape: number[], data: RawDTypeArrayMap[D]): RawTensor<D> {
  return { dtype, shape, data };
}

/**
 * Turns a sparse encoding of the weight called `name` into named raw tensors and metadata
 * strings for a tensor file. The arrays are shared with `enc`, not copied.
 *
 * Names (for `name = "layer.weight"`):
 * - CSR: `layer.weight.csr_values` F32 [nnz], `.csr_col` U16 or U32 [nnz], `.csr_rowptr` U32 [rows+1]
 * - N:M: `layer.weight.nm_values` F32 [rows, d_in/m·n], `.nm_indices` U8 [bytes]
 * - bitmask: `layer.weight.bitmask_values` F32 [nnz], `.bitmask_mask` U8 [ceil(numel/8)]
 *
 * Metadata: `layer.weight.sparse_format` (`csr`, `nm` or `bitmask`), `.sparse_shape` (the
 * dense shape as JSON, e.g. `[4096,11008]`) and, for N:M, `.sparse_nm` (e.g. `2:4`).
 * @param name - the dense weight's name
 * @param enc - the encoding (validated first)
 *
 * @example
 * ```ts
 * const { tensors, metadata } = sparseToRawTensors('layer.weight', encodeNm(weight, { n: 2, m: 4 }));
 * await writeSafetensors('model.safetensors', tensors, { metadata });
 * ```
 */
export function sparseToRawTensors(name: string, enc: SparseEncoding): RawTensorSet {
  assert(typeof name === 'string' && name.length > 0, 'INVALID_ARGUMENT', 'sparseToRawTensors: name must be a non-empty string');
  const metadata: Record<string, string> = {
    [`${name}.${FORMAT_KEY}`]: enc.format,
    [`${name}.${SHAPE_KEY}`]: JSON.stringify(enc.shape),
  };
  const tensors: Record<string, RawTensor> = {};
  switch (enc.format) {
    case 'csr': {
      validateCsr(enc);
      const nnz = enc.values.length;
      tensors[`${name}.csr_values`] = raw('F32', [nnz], enc.values);
      tensors[`${name}.csr_col`] =
        enc.columnIndices instanceof Uint16Array ? raw('U16', [nnz], enc.columnIndices) : raw('U32', [nnz], enc.columnIndices);
      tensors[`${name}.csr_rowptr`] = raw('U32', [enc.rowPointers.length], enc.rowPointers);
      break;
    }
    case 'nm': {
      validateNm(enc);
      const columns = enc.shape[enc.shape.length - 1];
      const perRow = (columns / enc.m) * enc.n;
      const rows = sizeOfLeading(enc.shape);
      metadata[`${name}.${NM_KEY}`] = `${enc.n}:${enc.m}`;
      tensors[`${name}.nm_values`] = raw('F32', [rows, perRow], enc.values);
      tensors[`${name}.nm_indices`] = raw('U8', [enc.indices.length], enc.indices);
      break;
    }
    case 'bitmask':
      validateBitmask(enc);
      tensors[`${name}.bitmask_values`] = raw('F32', [enc.values.length], enc.values);
      tensors[`${name}.bitmask_mask`] = raw('U8', [enc.mask.length], enc.mask);
      break;
    default:
      throw new PruneError('INVALID_ARGUMENT', `sparseToRawTensors: unknown sparse format ${String((enc as { format?: unknown }).format)}`);
  }
  return { tensors, metadata };
}

function sizeOfLeading(shape: readonly number[]): number {
  let n = 1;
  for (let i = 0; i < shape.length - 1; i++) n *= shape[i];
  return n;
}

function corrupt(name: string, what: string): PruneError {
  return new PruneError('CORRUPT_FILE', `sparse weight ${name}: ${what}`);
}

/**
 * The sparse format of weight `name` recorded in `metadata`, or `undefined` when the
 * weight is stored dense (no `<name>.sparse_format` key).
 * @throws `CORRUPT_FILE` for an unknown format name
 */
export function sparseFormatOf(name: string, metadata: Readonly<Record<string, string>>): SparseFormat | undefined {
  const format = metadata[`${name}.${FORMAT_KEY}`];
  if (format === undefined) return undefined;
  if (format !== 'csr' && format !== 'nm' && format !== 'bitmask') {
    throw corrupt(name, `unknown sparse_format "${format}"; expected csr, nm or bitmask`);
  }
  return format;
}

/**
 * Names of the raw tensors that hold weight `name` (empty when it is stored dense), so a
 * streaming reader can fetch exactly those.
 * @param name - the dense weight's name
 * @param metadata - the file's metadata strings
 */
export function sparseTensorNames(name: string, metadata: Readonly<Record<string, string>>): string[] {
  const format = sparseFormatOf(name, metadata);
  return format === undefined ? [] : TENSOR_SUFFIXES[format].map((suffix) => `${name}.${suffix}`);
}

function parseShape(name: string, text: string | undefined): number[] {
  if (text === undefined) throw corrupt(name, `the ${SHAPE_KEY} metadata entry is missing`);
  let shape: unknown;
  try {
    shape = JSON.parse(text);
  } catch {
    throw corrupt(name, `${SHAPE_KEY} "${text.slice(0, 80)}" is not JSON`);
  }
  if (
    !Array.isArray(shape) ||
    shape.length === 0 ||
    !shape.every((d) => Number.isSafeInteger(d) && d >= 0) ||
    !Number.isSafeInteger(shape.reduce((a: number, d: number) => a * d, 1))
  ) {
    throw corrupt(name, `${SHAPE_KEY} ${text.slice(0, 80)} is not a shape of rank ≥ 1 with non-negative integer dimensions`);
  }
  return shape as number[];
}

function parseNm(name: string, text: string | undefined): { n: number; m: number } {
  const match = text === undefined ? null : /^(\d{1,5}):(\d{1,5})$/.exec(text);
  if (!match) throw corrupt(name, `${NM_KEY} "${text ?? ''}" is missing or not of the form n:m`);
  const n = Number(match[1]);
  const m = Number(match[2]);
  if (!(m >= 1 && m <= 65_536 && n >= 1 && n <= m)) throw corrupt(name, `${NM_KEY} ${text} needs 1 ≤ n ≤ m ≤ 65536`);
  return { n, m };
}

const ARRAY_CLASS = { F32: Float32Array, U8: Uint8Array, U16: Uint16Array, U32: Uint32Array } as const;
const ITEM_SIZE = { F32: 4, U8: 1, U16: 2, U32: 4 } as const;
const HOST_IS_LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/** Copies little-endian `bytes` into a new typed array of `dtype`, bit for bit. */
function fromLittleEndian<D extends RawDType>(dtype: D, bytes: Uint8Array, count: number): RawDTypeArrayMap[D] {
  const size = ITEM_SIZE[dtype];
  const out = new ARRAY_CLASS[dtype](count) as RawDTypeArrayMap[D];
  const target = new Uint8Array(out.buffer);
  if (HOST_IS_LITTLE_ENDIAN || size === 1) target.set(bytes);
  else for (let i = 0; i < count; i++) for (let b = 0; b < size; b++) target[i * size + b] = bytes[i * size + size - 1 - b];
  return out;
}

/**
 * Fetches tensor `full`, checks its dtype and that its shape matches its data, and returns
 * its elements in the dtype's typed array (converting raw little-endian bytes).
 */
function take<D extends RawDType>(source: RawTensorSource, name: string, full: string, dtypes: readonly D[]): RawDTypeArrayMap[D] {
  const t = typeof source === 'function' ? source(full) : Object.hasOwn(source, full) ? source[full] : undefined;
  if (t === undefined || t === null) throw corrupt(name, `tensor ${full} is missing`);
  const dtype = t.dtype as D;
  if (!dtypes.includes(dtype)) throw corrupt(name, `tensor ${full} has dtype ${String(t.dtype)}; expected ${dtypes.join(' or ')}`);
  const count = Array.isArray(t.shape) && t.shape.every((d) => Number.isSafeInteger(d) && d >= 0) ? t.shape.reduce((a, d) => a * d, 1) : -1;
  if (count < 0) throw corrupt(name, `tensor ${full} has an invalid shape [${String(t.shape)}]`);
  const data: unknown = t.data;
  if (data instanceof ARRAY_CLASS[dtype]) {
    if ((data as RawDTypeArrayMap[D]).length !== count) throw corrupt(name, `tensor ${full} has shape [${t.shape.join(', ')}] but ${(data as RawDTypeArrayMap[D]).length} elements`);
    return data as RawDTypeArrayMap[D];
  }
  if (data instanceof Uint8Array) {
    if (data.length !== count * ITEM_SIZE[dtype]) {
      throw corrupt(name, `tensor ${full} has shape [${t.shape.join(', ')}] of ${dtype} (${count * ITEM_SIZE[dtype]} bytes) but ${data.length} bytes`);
    }
    return fromLittleEndian(dtype, data, count);
  }
  throw corrupt(name, `tensor ${full} is ${dtype} but its data is neither a ${ARRAY_CLASS[dtype].name} nor its raw bytes`);
}

/**
 * Rebuilds the sparse encoding of weight `name` from raw tensors and metadata written by
 * {@link sparseToRawTensors}, validating everything (lengths, index ranges, ordering).
 * The arrays are used as they are, not copied.
 * @param name - the dense weight's name
 * @param source - the tensors (record or lookup callback)
 * @param metadata - the file's metadata strings
 * @throws `CORRUPT_FILE` when anything is missing, of the wrong dtype or inconsistent
 *
 * @example
 * ```ts
 * const file = await openSafetensors('model.safetensors');
 * const read: Record<string, RawTensorInput> = {};
 * for (const t of sparseTensorNames('layer.weight', file.metadata)) {
 *   const info = await file.info(t);
 *   read[t] = { dtype: info.dtype, shape: info.shape, data: await file.readTensor(t, { as: 'raw' }) };
 * }
 * const weight = decodeSparse(sparseFromRawTensors('layer.weight', read, file.metadata));
 * ```
 */
export function sparseFromRawTensors(
  name: string,
  source: RawTensorSource,
  metadata: Readonly<Record<string, string>>,
): SparseEncoding {
  const format = sparseFormatOf(name, metadata);
  if (format === undefined) throw corrupt(name, `the ${FORMAT_KEY} metadata entry is missing; the weight may be stored dense`);
  const shape = parseShape(name, metadata[`${name}.${SHAPE_KEY}`]);
  const wrap = (check: () => void): void => {
    try {
      check();
    } catch (e) {
      if (e instanceof PruneError) throw corrupt(name, e.message);
      throw e;
    }
  };
  switch (format) {
    case 'csr': {
      const enc: CsrEncoding = {
        format,
        shape,
        values: take(source, name, `${name}.csr_values`, ['F32']),
        columnIndices: take(source, name, `${name}.csr_col`, ['U16', 'U32']),
        rowPointers: take(source, name, `${name}.csr_rowptr`, ['U32']),
      };
      wrap(() => validateCsr(enc));
      return enc;
    }
    case 'nm': {
      const { n, m } = parseNm(name, metadata[`${name}.${NM_KEY}`]);
      const enc: NmEncoding = {
        format,
        shape,
        n,
        m,
        values: take(source, name, `${name}.nm_values`, ['F32']),
        indices: take(source, name, `${name}.nm_indices`, ['U8']),
      };
      wrap(() => validateNm(enc));
      return enc;
    }
    default: {
      const enc: BitmaskEncoding = {
        format,
        shape,
        values: take(source, name, `${name}.bitmask_values`, ['F32']),
        mask: take(source, name, `${name}.bitmask_mask`, ['U8']),
      };
      wrap(() => validateBitmask(enc));
      return enc;
    }
  }
}
