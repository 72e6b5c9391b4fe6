import { PruneError } from '../errors.js';
import { type SafetensorsDType, SAFETENSORS_DTYPES, isSafetensorsDType, safetensorsDTypeRank, safetensorsItemSize } from './dtypes.js';
import { type JsonValue, parseStrictJson } from './json.js';

/**
 * Largest header the reader accepts, in bytes: the reference implementation's limit
 * (100 MB). Real headers are a few hundred kilobytes even for large language models.
 */
export const MAX_HEADER_BYTES = 100_000_000;

/** The header key that holds free-form string metadata instead of a tensor. */
export const METADATA_KEY = '__metadata__';

/** What the header says about one tensor, with offsets made absolute. */
export interface SafetensorsTensorInfo {
  /** Tensor name, as written in the header. */
  readonly name: string;
  /** Element type. */
  readonly dtype: SafetensorsDType;
  /** Shape, row-major; `[]` is a scalar. */
  readonly shape: readonly number[];
  /** Number of elements (product of `shape`). */
  readonly size: number;
  /** Offset of the first byte of the tensor's data from the start of the file. */
  readonly byteOffset: number;
  /** Bytes of data: `size × item size`. */
  readonly byteLength: number;
}

/** A parsed and validated safetensors header. */
export interface SafetensorsHeader {
  /** Length `N` of the JSON header in bytes (the first 8 bytes of the file hold it). */
  readonly headerLength: number;
  /** File offset where the data buffer begins: `8 + N`. */
  readonly dataStart: number;
  /** Tensors in data order (ascending offset). */
  readonly tensors: readonly SafetensorsTensorInfo[];
  /** The `__metadata__` entries, or an empty object. */
  readonly metadata: Readonly<Record<string, string>>;
}

function corrupt(file: string, reason: string): PruneError {
  return new PruneError('CORRUPT_FILE', `${file}: ${reason}; the file is damaged or is not a safetensors file`);
}

/**
 * Reads the header length from the first 8 bytes and checks it against the file size and
 * {@link MAX_HEADER_BYTES} before anything is allocated for it.
 *
 * @param prefix - the file's first bytes (at least 8 unless the file is shorter)
 * @param fileSize - size of the whole file in bytes
 * @param file - file name for error messages
 * @returns the header length `N`
 * @throws PruneError `CORRUPT_FILE` when the file is too short or the length is impossible
 */
export function readHeaderLength(prefix: Uint8Array, fileSize: number, file: string): number {
  if (fileSize < 8 || prefix.byteLength < 8) throw corrupt(file, `the file has ${fileSize} bytes, fewer than the 8-byte header length field`);
  const view = new DataView(prefix.buffer, prefix.byteOffset, 8);
  const low = view.getUint32(0, true);
  const high = view.getUint32(4, true);
  const length = high * 2 ** 32 + low;
  if (high !== 0 || length > MAX_HEADER_BYTES) {
    throw corrupt(file, `the header length field says ${high === 0 ? length : `${view.getBigUint64(0, true)}`} bytes, more than the ${MAX_HEADER_BYTES}-byte limit`);
  }
  if (length < 2) throw corrupt(file, `the header length field says ${length} bytes, too short for a JSON object`);
  if (8 + length > fileSize) throw corrupt(file, `the header length field says ${length} bytes but only ${fileSize - 8} bytes follow it (truncated file?)`);
  return length;
}

function checkDimension(value: JsonValue, file: string, name: string, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw corrupt(file, `tensor ${JSON.stringify(name)} has ${what} ${typeof value === 'number' ? value : JSON.stringify(value)}; expected a non-negative integer below 2^53`);
  }
  return value;
}

/**
 * Parses and validates the JSON header, following the reference implementation's rules: the
 * header is UTF-8 JSON holding one object; `__metadata__`, if present, maps strings to
 * strings; every other key is a tensor with a known `dtype`, a `shape` of non-negative
 * integers and `data_offsets` `[begin, end]` whose span equals `size × item size`; keys are
 * unique; and the tensors' byte ranges tile the data buffer exactly — no gap, no overlap,
 * nothing left over.
 *
 * @param headerBytes - the `N` header bytes that follow the length field
 * @param fileSize - size of the whole file in bytes
 * @param file - file name for error messages
 * @returns the validated header
 * @throws PruneError `CORRUPT_FILE` naming the file and, where one is at fault, the tensor
 */
export function parseHeader(headerBytes: Uint8Array, fileSize: number, file: string): SafetensorsHeader {
  const headerLength = headerBytes.byteLength;
  const dataStart = 8 + headerLength;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(headerBytes);
  } catch {
    throw corrupt(file, 'the header is not valid UTF-8');
  }
  const root = parseStrictJson(text, `${file}: the header`);
  if (!(root instanceof Map)) throw corrupt(file, 'the header is not a JSON object');

  const metadata: [string, string][] = [];
  const tensors: SafetensorsTensorInfo[] = [];
  const bufferLength = fileSize - dataStart;
  for (const [name, entry] of root) {
    if (name === METADATA_KEY) {
      if (!(entry instanceof Map)) throw corrupt(file, `${METADATA_KEY} is not an object of strings`);
      for (const [key, value] of entry) {
        if (typeof value !== 'string') throw corrupt(file, `${METADATA_KEY} entry ${JSON.stringify(key)} is not a string`);
        metadata.push([key, value]);
      }
      continue;
    }
    if (!(entry instanceof Map)) throw corrupt(file, `tensor ${JSON.stringify(name)} is not described by an object`);
    const dtype = entry.get('dtype');
    if (!isSafetensorsDType(dtype)) {
      throw corrupt(file, `tensor ${JSON.stringify(name)} has unknown dtype ${JSON.stringify(dtype ?? null)} (known: ${SAFETENSORS_DTYPES.join(', ')})`);
    }
    const shapeValue = entry.get('shape');
    if (!Array.isArray(shapeValue)) throw corrupt(file, `tensor ${JSON.stringify(name)} has no shape array`);
    const shape = shapeValue.map((d) => checkDimension(d, file, name, 'a shape dimension'));
    const offsets = entry.get('data_offsets');
    if (!Array.isArray(offsets) || offsets.length !== 2) throw corrupt(file, `tensor ${JSON.stringify(name)} has no data_offsets pair [begin, end]`);
    const begin = checkDimension(offsets[0], file, name, 'data offset');
    const end = checkDimension(offsets[1], file, name, 'data offset');
    if (end < begin || end > bufferLength) {
      throw corrupt(file, `tensor ${JSON.stringify(name)} has data_offsets [${begin}, ${end}] outside the ${bufferLength}-byte data buffer`);
    }
    // Element count with an overflow check; a zero dimension makes the tensor empty whatever the others say.
    let size = 1;
    if (shape.includes(0)) size = 0;
    else {
      for (const d of shape) {
        size *= d;
        if (size > Number.MAX_SAFE_INTEGER) throw corrupt(file, `tensor ${JSON.stringify(name)} has shape [${shape.join(', ')}] whose element count overflows`);
      }
    }
    const byteLength = size * safetensorsItemSize(dtype);
    if (byteLength !== end - begin) {
      throw corrupt(file, `tensor ${JSON.stringify(name)} is ${dtype}[${shape.join(', ')}] (${byteLength} bytes) but data_offsets [${begin}, ${end}] span ${end - begin} bytes`);
    }
    tensors.push(Object.freeze({ name, dtype, shape: Object.freeze(shape), size, byteOffset: dataStart + begin, byteLength }));
  }

  tensors.sort((a, b) => a.byteOffset - b.byteOffset || a.byteLength - b.byteLength);
  let next = dataStart;
  for (const t of tensors) {
    if (t.byteOffset !== next) {
      const kind = t.byteOffset < next ? 'overlaps the previous tensor' : `leaves a gap of ${t.byteOffset - next} bytes before it`;
      throw corrupt(file, `tensor ${JSON.stringify(t.name)} at data_offsets [${t.byteOffset - dataStart}, ${t.byteOffset - dataStart + t.byteLength}] ${kind}`);
    }
    next += t.byteLength;
  }
  if (next !== fileSize) throw corrupt(file, `the tensors cover ${next - dataStart} bytes but the data buffer has ${bufferLength}`);
  return Object.freeze({ headerLength, dataStart, tensors: Object.freeze(tensors), metadata: Object.freeze(Object.fromEntries(metadata)) });
}

/** One tensor's place in a file being written. */
export interface SafetensorsLayoutEntry {
  /** Tensor name. */
  readonly name: string;
  /** Element type. */
  readonly dtype: SafetensorsDType;
  /** Shape, row-major. */
  readonly shape: readonly number[];
  /** Offset of the data from the start of the file. */
  readonly byteOffset: number;
  /** Bytes of data. */
  readonly byteLength: number;
}

/** The bytes that start a safetensors file (length field plus padded JSON) and where each tensor goes. */
export interface SafetensorsLayout {
  /** Length field and header JSON, padded with spaces to a multiple of 8 bytes. */
  readonly header: Uint8Array;
  /** Tensors in data order. */
  readonly entries: readonly SafetensorsLayoutEntry[];
  /** Size of the complete file. */
  readonly fileSize: number;
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function checkText(value: unknown, what: string): string {
  if (typeof value !== 'string') throw new PruneError('INVALID_ARGUMENT', `${what} must be a string`);
  if (LONE_SURROGATE.test(value)) throw new PruneError('INVALID_ARGUMENT', `${what} ${JSON.stringify(value)} contains a lone UTF-16 surrogate, which UTF-8 cannot encode; fix the string`);
  return value;
}

function compareUtf8(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

/**
 * Lays out tensors the way the reference writer does: sorted by descending dtype alignment
 * (position in {@link SAFETENSORS_DTYPES}), then by name (UTF-8 byte order); `__metadata__`
 * first in the JSON, with its keys sorted so the output is deterministic; the header padded
 * with spaces to a multiple of 8 bytes so every tensor starts 8-byte aligned.
 *
 * @param specs - name, dtype and shape of every tensor
 * @param metadata - string metadata for `__metadata__`; omitted from the file when empty
 * @returns the header bytes and each tensor's place
 * @throws PruneError `INVALID_ARGUMENT` for a bad name, dtype, shape or metadata entry
 */
export function planLayout(
  specs: readonly { name: string; dtype: SafetensorsDType; shape: readonly number[] }[],
  metadata: Readonly<Record<string, string>> = {},
): SafetensorsLayout {
  const encoder = new TextEncoder();
  const seen = new Set<string>();
  const items = specs.map((spec) => {
    const name = checkText(spec.name, 'a tensor name');
    if (name === METADATA_KEY) throw new PruneError('INVALID_ARGUMENT', `${METADATA_KEY} is reserved for metadata and cannot name a tensor; rename the tensor`);
    if (seen.has(name)) throw new PruneError('INVALID_ARGUMENT', `tensor name ${JSON.stringify(name)} appears twice; names must be unique`);
    seen.add(name);
    if (!isSafetensorsDType(spec.dtype)) {
      throw new PruneError('INVALID_ARGUMENT', `tensor ${JSON.stringify(name)} has dtype ${JSON.stringify(spec.dtype)}; use one of ${SAFETENSORS_DTYPES.join(', ')}`);
    }
    if (!Array.isArray(spec.shape) || !spec.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new PruneError('INVALID_ARGUMENT', `tensor ${JSON.stringify(name)} has shape ${JSON.stringify(spec.shape)}; use an array of non-negative integers`);
    }
    let size = 1;
    for (const d of spec.shape) size *= d;
    const byteLength = size * safetensorsItemSize(spec.dtype);
    if (!Number.isSafeInteger(byteLength)) throw new PruneError('INVALID_ARGUMENT', `tensor ${JSON.stringify(name)} of shape [${spec.shape.join(', ')}] is too large to write`);
    return { name, nameBytes: encoder.encode(name), dtype: spec.dtype, shape: [...spec.shape], byteLength };
  });
  items.sort((a, b) => safetensorsDTypeRank(b.dtype) - safetensorsDTypeRank(a.dtype) || compareUtf8(a.nameBytes, b.nameBytes));

  const parts: string[] = [];
  const metaKeys = Object.keys(metadata).map((k) => ({ k, bytes: encoder.encode(checkText(k, 'a metadata key')) }));
  if (metaKeys.length > 0) {
    metaKeys.sort((a, b) => compareUtf8(a.bytes, b.bytes));
    const body = metaKeys.map(({ k }) => `${JSON.stringify(k)}:${JSON.stringify(checkText(metadata[k], `metadata value of ${JSON.stringify(k)}`))}`);
    parts.push(`${JSON.stringify(METADATA_KEY)}:{${body.join(',')}}`);
  }
  let offset = 0;
  const relative = items.map((item) => {
    const begin = offset;
    offset += item.byteLength;
    parts.push(`${JSON.stringify(item.name)}:{"dtype":${JSON.stringify(item.dtype)},"shape":[${item.shape.join(',')}],"data_offsets":[${begin},${offset}]}`);
    return begin;
  });
  const json = encoder.encode(`{${parts.join(',')}}`);
  const padded = Math.ceil(json.byteLength / 8) * 8;
  if (padded > MAX_HEADER_BYTES) throw new PruneError('INVALID_ARGUMENT', `the header would be ${padded} bytes, more than readers accept (${MAX_HEADER_BYTES}); split the tensors over several files`);
  const header = new Uint8Array(8 + padded);
  new DataView(header.buffer).setBigUint64(0, BigInt(padded), true);
  header.set(json, 8);
  header.fill(0x20, 8 + json.byteLength);
  const dataStart = header.byteLength;
  const entries = items.map((item, i) =>
    Object.freeze({ name: item.name, dtype: item.dtype, shape: Object.freeze(item.shape), byteOffset: dataStart + relative[i], byteLength: item.byteLength }),
  );
  return Object.freeze({ header, entries: Object.freeze(entries), fileSize: dataStart + offset });
}
