import type * as FsPromises from 'node:fs/promises';
import type * as Path from 'node:path';
import { PruneError } from '../errors.js';

/** The Node.js modules file I/O needs. */
export interface NodeModules {
  /** `node:fs/promises`. */
  readonly fs: typeof FsPromises;
  /** `node:path`. */
  readonly path: typeof Path;
}

let loading: Promise<NodeModules> | undefined;

/**
 * Loads `node:fs/promises` and `node:path` on first use. Imported lazily so that
 * `@prune/core` still loads in browsers, where only file I/O is unavailable.
 *
 * @returns the modules
 * @throws PruneError `UNSUPPORTED` outside Node.js
 */
export function nodeModules(): Promise<NodeModules> {
  loading ??= Promise.all([import('node:fs/promises'), import('node:path')]).then(
    ([fs, path]) => ({ fs, path }),
    (cause: unknown) => {
      loading = undefined;
      throw new PruneError('UNSUPPORTED', 'safetensors file I/O needs Node.js (node:fs); in a browser, fetch the bytes and parse them yourself', { cause });
    },
  );
  return loading;
}

/**
 * Wraps a Node.js file-system error as a {@link PruneError}: `NOT_FOUND` for a missing file,
 * `IO_ERROR` otherwise. A `PruneError` passes through unchanged.
 *
 * @param error - what was thrown
 * @param action - what was being done, e.g. `'open model.safetensors'`
 * @returns the error to throw
 */
export function ioError(error: unknown, action: string): PruneError {
  if (error instanceof PruneError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const detail = error instanceof Error ? error.message : String(error);
  if (code === 'ENOENT') return new PruneError('NOT_FOUND', `cannot ${action}: no such file or folder (${detail})`, { cause: error });
  return new PruneError('IO_ERROR', `cannot ${action}: ${detail}`, { cause: error });
}

/**
 * Allocates `byteLength` bytes for file data. Every buffer the safetensors reader fills goes
 * through here, after the size was checked against the file, so no header can make it
 * allocate more than the file holds.
 *
 * @param byteLength - bytes to allocate
 * @returns a fresh, 8-byte-aligned buffer (contents unspecified until filled)
 */
export function allocFileBytes(byteLength: number): Uint8Array {
  const buf = Buffer.allocUnsafeSlow(byteLength);
  return new Uint8Array(buf.buffer, buf.byteOffset, byteLength);
}
