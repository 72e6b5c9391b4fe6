import type { FileHandle } from 'node:fs/promises';
import { PruneError } from '../errors.js';
import { ioError, nodeModules } from './node.js';

/**
 * An output file under construction: bytes go to a temporary file next to the destination,
 * which replaces the destination only on {@link AtomicFile.commit}. Until then the destination
 * (if it exists) is untouched, and {@link AtomicFile.abort} leaves no trace.
 */
export interface AtomicFile {
  /** Final path of the file. */
  readonly path: string;
  /** Path of the temporary file, in the same folder as {@link AtomicFile.path}. */
  readonly tempPath: string;
  /**
   * Writes all of `bytes` at `position` of the temporary file.
   * @param bytes - data to write
   * @param position - byte offset in the file
   */
  write(bytes: Uint8Array, position: number): Promise<void>;
  /** Flushes the temporary file to disk and closes it; writing afterwards fails. Idempotent. */
  seal(): Promise<void>;
  /** Seals, then renames the temporary file over the destination. */
  commit(): Promise<void>;
  /** Closes and deletes the temporary file; the destination stays as it was. Never throws. */
  abort(): Promise<void>;
}

let tempCounter = 0;

/** Largest single `write` call; Node caps one call near 2 GiB. */
const MAX_WRITE_CHUNK = 1 << 30;

/**
 * Starts an {@link AtomicFile} for `path`. The temporary file is created exclusively (never
 * clobbering another file) in `path`'s folder, so the final rename stays on one file system
 * and is atomic.
 *
 * @param path - destination; its folder must exist
 * @returns the file under construction
 * @throws PruneError `NOT_FOUND` / `IO_ERROR` when the temporary file cannot be created
 */
export async function createAtomicFile(path: string): Promise<AtomicFile> {
  const { fs, path: paths } = await nodeModules();
  const target = paths.resolve(path);
  const folder = paths.dirname(target);
  const base = paths.basename(target);
  let handle: FileHandle | undefined;
  let tempPath = '';
  for (let attempt = 0; handle === undefined; attempt++) {
    tempPath = paths.join(folder, `.${base}.${process.pid}.${Date.now().toString(36)}.${(tempCounter++).toString(36)}.tmp`);
    try {
      handle = await fs.open(tempPath, 'wx');
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'EEXIST' || attempt >= 16) throw ioError(error, `create a temporary file next to ${target}`);
    }
  }
  let open: FileHandle | undefined = handle;
  let state: 'writing' | 'sealed' | 'done' = 'writing';

  const seal = async (): Promise<void> => {
    if (state !== 'writing') return;
    const h = open!;
    open = undefined;
    state = 'sealed';
    try {
      await h.sync();
    } finally {
      await h.close();
    }
  };
  const abort = async (): Promise<void> => {
    state = 'done';
    const h = open;
    open = undefined;
    if (h !== undefined) await h.close().catch(() => undefined);
    await fs.rm(tempPath, { force: true }).catch(() => undefined);
  };
  return {
    path: target,
    tempPath,
    async write(bytes, position) {
      if (state !== 'writing' || open === undefined) throw new PruneError('INVALID_ARGUMENT', `${target} is already finished; it cannot be written again`);
      let done = 0;
      while (done < bytes.byteLength) {
        const length = Math.min(bytes.byteLength - done, MAX_WRITE_CHUNK);
        let written: number;
        try {
          ({ bytesWritten: written } = await open.write(bytes, done, length, position + done));
        } catch (error) {
          throw ioError(error, `write ${tempPath}`);
        }
        if (written <= 0) throw new PruneError('IO_ERROR', `cannot write ${tempPath}: the disk accepted no bytes (full?)`);
        done += written;
      }
    },
    seal: async () => {
      try {
        await seal();
      } catch (error) {
        throw ioError(error, `flush ${tempPath}`);
      }
    },
    async commit() {
      if (state === 'done') throw new PruneError('INVALID_ARGUMENT', `${target} was already committed or aborted`);
      try {
        await seal();
        await fs.rename(tempPath, target);
      } catch (error) {
        await abort();
        throw ioError(error, `replace ${target}`);
      }
      state = 'done';
      // Make the rename itself durable; not every platform can fsync a folder, hence best effort.
      const dir = await fs.open(folder, 'r').catch(() => undefined);
      if (dir !== undefined) await dir.sync().catch(() => undefined).finally(() => dir.close().catch(() => undefined));
    },
    abort,
  };
}

/**
 * Writes a file atomically: `fill` writes the content through the {@link AtomicFile}; if it
 * succeeds the file replaces `path`, if it throws the temporary file is deleted, `path` is
 * left as it was, and the error propagates. Use it for any output file.
 *
 * @example
 * ```ts
 * await writeFileAtomic('summary.json', (f) => f.write(new TextEncoder().encode(json), 0));
 * ```
 *
 * @param path - destination
 * @param fill - writes the content
 * @returns what `fill` returns
 */
export async function writeFileAtomic<T>(path: string, fill: (file: AtomicFile) => Promise<T>): Promise<T> {
  const file = await createAtomicFile(path);
  try {
    const result = await fill(file);
    await file.commit();
    return result;
  } catch (error) {
    await file.abort();
    throw error;
  }
}
