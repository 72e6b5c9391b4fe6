import { PruneError } from '../errors.js';
import { type AtomicFile, createAtomicFile } from '../safetensors/atomic.js';
import type { SafetensorsDType } from '../safetensors/dtypes.js';
import { type SafetensorsLayout, type SafetensorsLayoutEntry, planLayout } from '../safetensors/header.js';

/** A tensor of an output file: name, dtype and shape. */
export interface OutputTensorSpec {
  /** Tensor name. */
  readonly name: string;
  /** Storage type. */
  readonly dtype: SafetensorsDType;
  /** Shape. */
  readonly shape: readonly number[];
}

/**
 * One safetensors output file written piece by piece at known positions, so a tensor can be
 * streamed out in row chunks instead of being held whole. The header is planned up front;
 * the temporary file is created on the first write and moves into place on
 * {@link CheckpointOutputFile.commit}.
 */
export class CheckpointOutputFile {
  /** Destination path. */
  readonly path: string;
  /** The planned header and tensor places. */
  readonly layout: SafetensorsLayout;
  readonly #byName: Map<string, SafetensorsLayoutEntry>;
  readonly #complete = new Set<string>();
  #file: Promise<AtomicFile> | undefined;
  #state: 'open' | 'sealed' | 'done' = 'open';

  /**
   * @param path - destination file
   * @param tensors - every tensor the file will hold
   * @param metadata - `__metadata__` strings
   */
  constructor(path: string, tensors: readonly OutputTensorSpec[], metadata: Readonly<Record<string, string>>) {
    this.path = path;
    this.layout = planLayout(tensors, metadata);
    this.#byName = new Map(this.layout.entries.map((e) => [e.name, e]));
  }

  /**
   * Where tensor `name` goes.
   * @param name - a planned tensor
   */
  entry(name: string): SafetensorsLayoutEntry {
    const entry = this.#byName.get(name);
    if (entry === undefined) throw new PruneError('NOT_FOUND', `tensor ${JSON.stringify(name)} is not planned for ${this.path}`);
    return entry;
  }

  #open(): Promise<AtomicFile> {
    this.#file ??= (async () => {
      const file = await createAtomicFile(this.path);
      try {
        await file.write(this.layout.header, 0);
      } catch (error) {
        await file.abort();
        throw error;
      }
      return file;
    })();
    return this.#file;
  }

  /**
   * Writes `bytes` at byte `offset` inside tensor `name`'s data.
   * @param name - a planned tensor
   * @param bytes - little-endian data
   * @param offset - byte offset within the tensor
   */
  async writeAt(name: string, bytes: Uint8Array, offset: number): Promise<void> {
    if (this.#state !== 'open') throw new PruneError('INVALID_ARGUMENT', `${this.path} is already finished or aborted; it cannot take tensor ${JSON.stringify(name)}`);
    const entry = this.entry(name);
    if (offset < 0 || offset + bytes.byteLength > entry.byteLength) {
      throw new PruneError('OUT_OF_RANGE', `bytes [${offset}, ${offset + bytes.byteLength}) fall outside tensor ${JSON.stringify(name)} (${entry.byteLength} bytes)`);
    }
    await (await this.#open()).write(bytes, entry.byteOffset + offset);
  }

  /**
   * Records that every byte of `name` was written.
   * @param name - a planned tensor
   */
  markComplete(name: string): void {
    this.entry(name);
    this.#complete.add(name);
  }

  /**
   * Whether all of `name` was written.
   * @param name - a planned tensor
   */
  isComplete(name: string): boolean {
    return this.#complete.has(name);
  }

  /** Planned tensors not yet complete. */
  missing(): string[] {
    return this.layout.entries.filter((e) => !this.#complete.has(e.name)).map((e) => e.name);
  }

  /** Checks completeness and flushes the temporary file to disk. */
  async seal(): Promise<void> {
    if (this.#state === 'sealed') return;
    if (this.#state === 'done') throw new PruneError('INVALID_ARGUMENT', `${this.path} is already finished or aborted`);
    const missing = this.missing();
    if (missing.length > 0) throw new PruneError('INVALID_ARGUMENT', `${this.path} is incomplete: ${missing.length} tensor(s) were never written (${missing.slice(0, 3).join(', ')})`);
    await (await this.#open()).seal();
    this.#state = 'sealed';
  }

  /** Seals, then moves the file into place. */
  async commit(): Promise<void> {
    await this.seal();
    await (await this.#open()).commit();
    this.#state = 'done';
  }

  /** Deletes the temporary file. Never throws. */
  async abort(): Promise<void> {
    this.#state = 'done';
    const file = this.#file;
    if (file !== undefined) await file.then((f) => f.abort(), () => undefined);
  }
}
