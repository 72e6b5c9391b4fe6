import { TASK_BUSY, TASK_DONE, TASK_FAILED, TASK_IDLE, TASK_STATE, builtinModule, pruneThreads } from '@prune/core';
import type { RowPruneArgs } from './row-prune.js';

// Worker threads for the fused row kernels. Rows are independent, so a matrix is cut into
// tiles of whole rows; the calling thread prunes tiles itself and hands others to workers.
// Each worker owns one shared buffer holding a tile (pruned in place there), the column
// factors and the tile's mask; the caller copies tiles in and out, and waits with
// Atomics.wait, so the pruners stay synchronous. Workers exist only on Node.js (found
// through process.getBuiltinModule, so nothing here is imported in a browser) and are
// unref'd: an idle pool never keeps a process alive.

/** Float32 entries of one worker tile: 4 MiB, a few milliseconds of work per tile. */
export const TILE = 1 << 20;

// Control words (Int32Array over the control buffer): word 0 is the task state of core's
// worker protocol (TASK_STATE, served by serveTasks in the worker), then:
/** Slot of the task's kernel: {@link KIND_ROWS}, {@link KIND_GROUPS} or {@link KIND_OBS}. */
export const KIND = 1;
/** Slot of the tile's row count. */
export const ROWS = 2;
/** Slot of the row length. */
export const COLS = 3;
/** Slot of k (rows kernel) or N (groups kernel). */
export const PARAM = 4;
/** Slot of M (groups kernel). */
export const GROUP = 5;
/** Slot of the flags {@link HAS_SCALE} | {@link HAS_MASK} | {@link SHARED_OUTPUT}. */
export const FLAGS = 6;
/** Slot of the tile's first row in the whole matrix. */
export const START = 7;
/** Slot the worker sets to 1 once it is running (tiles go only to running workers). */
export const READY = 8;
/** Number of control words. */
export const CONTROL_WORDS = 9;


/** Kernel: the k lowest scores of each row. */
export const KIND_ROWS = 0;
/** Kernel: N of every M consecutive scores. */
export const KIND_GROUPS = 1;
/** Kernel: SparseGPT's column loop over a block's rows (see obs-block.ts). */
export const KIND_OBS = 2;
/** Flag: the task has column factors. */
export const HAS_SCALE = 1;
/** Flag: the task wants the keep mask. */
export const HAS_MASK = 2;
/**
 * Flag: the outputs are shared memory (posted on the worker's port); the worker writes the
 * tile's rows straight into them instead of back into its tile.
 */
export const SHARED_OUTPUT = 4;

/** The shared buffers of one worker, as the worker sees them. */
export interface TileBuffers {
  /** Tile rows, pruned in place: {@link TILE} floats. */
  readonly tile: Float32Array;
  /** Column factors: {@link TILE} floats. */
  readonly scale: Float32Array;
  /** The tile's keep mask: {@link TILE} bytes. */
  readonly mask: Uint8Array;
}

/**
 * Views of one worker's data buffer.
 *
 * @param data - a shared buffer of 9·{@link TILE} bytes
 * @returns the tile, column-factor and mask views
 */
export function tileBuffers(data: SharedArrayBuffer): TileBuffers {
  return {
    tile: new Float32Array(data, 0, TILE),
    scale: new Float32Array(data, 4 * TILE, TILE),
    mask: new Uint8Array(data, 8 * TILE, TILE),
  };
}

/** The outputs a worker writes into in {@link SHARED_OUTPUT} mode, as posted on its port. */
export interface SharedOutputs {
  /** The whole pruned matrix. */
  readonly out: SharedArrayBuffer;
  /** The whole keep mask, when asked for. */
  readonly mask: SharedArrayBuffer | undefined;
}

/** The parts of a `MessagePort` the pool uses. */
export interface MessagePortLike {
  /** Posts a message to the worker's end. */
  postMessage(message: unknown): void;
  /** Lets the process exit while the port is open. */
  unref(): void;
}

interface WorkerThreadsModule {
  Worker: new (url: URL, options: { workerData: unknown; transferList: unknown[] }) => { unref(): void; on(event: 'error', listener: () => void): void };
  MessageChannel: new () => { port1: MessagePortLike; port2: MessagePortLike };
}

interface PoolWorker extends TileWorker {
  /** First row of the tile it holds, or -1 when it holds none. */
  start: number;
  end: number;
}

const pool: PoolWorker[] = [];
let tilesByWorkers = 0;

/**
 * What the pool has done in this thread's lifetime: workers started, how many of them are
 * running, and tiles they pruned. For diagnostics and tests (calls made while workers are
 * still starting run without them).
 *
 * @returns worker counts and tiles pruned by workers
 */
export function poolActivity(): { workers: number; ready: number; tilesByWorkers: number } {
  return { workers: pool.length, ready: pool.filter((h) => Atomics.load(h.control, READY) === 1).length, tilesByWorkers };
}

/**
 * Starts the workers for `n` threads (without waiting for them to run), so that the first
 * large call does not run alone while they start.
 *
 * @param n - thread count, as for `setPruneThreads` in `@prune/core`
 */
export function startPruneWorkers(n: number = pruneThreads()): void {
  if (n > 1) workers(n - 1);
}

/** Up to `n` pool workers, started on first use; none where worker threads are missing. */
function workers(n: number): PoolWorker[] {
  if (pool.length >= n) return pool.slice(0, n);
  const wt = builtinModule<WorkerThreadsModule>('node:worker_threads');
  if (wt === undefined) return pool.slice();
  while (pool.length < n) {
    const control = new Int32Array(new SharedArrayBuffer(4 * CONTROL_WORDS));
    const data = new SharedArrayBuffer(9 * TILE);
    const { port1, port2 } = new wt.MessageChannel();
    let worker;
    try {
      worker = new wt.Worker(new URL('./row-prune-worker.js', import.meta.url), { workerData: { control: control.buffer, data, port: port2 }, transferList: [port2] });
    } catch {
      break; // no worker module here (e.g. running from sources): the caller works alone
    }
    // A worker that cannot start never sets READY, so it never gets a tile: the caller
    // prunes everything itself. Without a listener its error would end the process.
    worker.on('error', () => undefined);
    worker.unref();
    port1.unref();
    pool.push({ control, buffers: tileBuffers(data), port: port1, outputs: undefined, start: -1, end: -1 });
  }
  return pool.slice(0, n);
}

/** How many pool workers a `[rows, cols]` row-kernel call gets (0: the calling thread alone). */
function helperCount(rows: number, cols: number): number {
  const tileRows = cols > 0 ? Math.floor(TILE / cols) : 0;
  return rows * cols < 2 * TILE ? 0 : helpersFor(rows, tileRows, 1);
}

/**
 * Output arrays for a `[rows, cols]` kernel call: shared memory when the pool will take
 * part, so workers write their rows straight into them (no copy back, and the first-touch
 * cost of fresh memory is spread over the threads); plain arrays otherwise.
 *
 * @param rows - matrix rows
 * @param cols - matrix columns
 * @returns zeroed weight and mask arrays of rows·cols entries
 */
export function kernelOutputs(rows: number, cols: number): { out: Float32Array; mask: Uint8Array } {
  const n = rows * cols;
  if (helperCount(rows, cols) === 0) return { out: new Float32Array(n), mask: new Uint8Array(n) };
  return { out: new Float32Array(new SharedArrayBuffer(4 * n)), mask: new Uint8Array(new SharedArrayBuffer(n)) };
}

/** Runs the rows `[from, to)` of a kernel on the calling thread. */
export type RowRange = (from: number, to: number) => void;

/** A pool worker as tiled work sees it: its control words, buffers and port. */
export interface TileWorker {
  /** Control words (see the slot constants). */
  readonly control: Int32Array;
  /** Its shared buffers. */
  readonly buffers: TileBuffers;
  /** Where shared outputs are posted ({@link SHARED_OUTPUT}). */
  readonly port: MessagePortLike;
  /** The shared outputs last posted to it. */
  outputs: SharedOutputs | undefined;
}

/** Work over rows cut into tiles of whole rows, for {@link runTiled}. */
export interface TiledWork {
  /** Rows in all. */
  readonly rows: number;
  /** Rows per tile (≥ 1). */
  readonly tileRows: number;
  /** Worker threads wanted besides the caller (0: the caller alone). */
  readonly helpers: number;
  /** Copies a tile's inputs into the worker's buffers and fills its control words but TASK_STATE. */
  post(h: TileWorker, start: number, end: number): void;
  /** Copies a finished tile's outputs back. */
  collect(h: TileWorker, start: number, end: number): void;
  /** Runs rows `[from, to)` on the calling thread. */
  local: RowRange;
  /** Per call, before any tile: readies a worker that takes part (column factors, ports). */
  prepare?(h: TileWorker): void;
}

/**
 * Runs tiled work on the calling thread and the pool's running workers: each idle worker
 * gets the next tile, the caller prunes one itself, then collects finished tiles. When a
 * worker's tile fails, nothing new is handed out, the busy workers are drained, and the
 * caller redoes the rows from that tile on, which throws the kernel's own error at the row.
 *
 * @param work - the tiles, the copies in and out, and the calling thread's kernel
 */
export function runTiled(work: TiledWork): void {
  const { rows, tileRows, local } = work;
  // Workers still starting up (the first large call after start) sit this call out.
  const helpers = work.helpers <= 0 ? [] : workers(work.helpers).filter((h) => Atomics.load(h.control, READY) === 1);
  if (helpers.length === 0) {
    local(0, rows);
    return;
  }
  for (const h of helpers) work.prepare?.(h);
  let next = 0;
  let failed = -1;
  try {
    // After a failure nothing new is handed out; the loop only drains the busy workers.
    while ((next < rows && failed < 0) || helpers.some((h) => h.start >= 0)) {
      for (const h of helpers) {
        if (h.start < 0 && next < rows && failed < 0) {
          const end = Math.min(rows, next + tileRows);
          work.post(h, next, end);
          h.start = next;
          h.end = end;
          Atomics.store(h.control, TASK_STATE, TASK_BUSY);
          Atomics.notify(h.control, TASK_STATE);
          next = end;
        }
      }
      if (next < rows && failed < 0) {
        const end = Math.min(rows, next + tileRows);
        local(next, end);
        next = end;
      }
      const waitForOne = next >= rows || failed >= 0;
      for (const h of helpers) {
        if (h.start < 0) continue;
        if (waitForOne) Atomics.wait(h.control, TASK_STATE, TASK_BUSY);
        const state = Atomics.load(h.control, TASK_STATE);
        if (state === TASK_BUSY) continue;
        if (state === TASK_FAILED && (failed < 0 || h.start < failed)) failed = h.start;
        if (state === TASK_DONE) {
          tilesByWorkers++;
          work.collect(h, h.start, h.end);
        }
        h.start = -1;
        Atomics.store(h.control, TASK_STATE, TASK_IDLE);
      }
    }
  } finally {
    // On any exit every worker is idle again: none still writes into its tile.
    for (const h of helpers) {
      if (h.start < 0) continue;
      Atomics.wait(h.control, TASK_STATE, TASK_BUSY);
      h.start = -1;
      Atomics.store(h.control, TASK_STATE, TASK_IDLE);
    }
  }
  // Rows before the failing one in that tile were never written out: the tile stayed in
  // the worker.
  if (failed >= 0) local(failed, rows);
}

/**
 * Workers wanted for `rows` rows of `work` weights each: none below about two tiles per thread,
 * where the copies and hand-offs cost more than they save, or where worker threads are missing.
 *
 * @param rows - rows in all
 * @param tileRows - rows per tile
 * @param minRows - fewest rows worth a worker
 * @returns helper count, at most the thread setting minus one
 */
export function helpersFor(rows: number, tileRows: number, minRows: number): number {
  const threads = pruneThreads();
  if (threads < 2 || tileRows < 1 || rows < minRows) return 0;
  if (pool.length === 0 && builtinModule<WorkerThreadsModule>('node:worker_threads') === undefined) return 0;
  return Math.max(0, Math.min(threads - 1, Math.ceil(rows / tileRows) - 1));
}

/** What a worker is asked to do per tile of a row kernel. */
export interface TileTask {
  /** {@link KIND_ROWS} or {@link KIND_GROUPS}. */
  readonly kind: number;
  /** k, or N. */
  readonly param: number;
  /** M (groups kernel; 0 otherwise). */
  readonly group: number;
}

/**
 * Runs a row kernel over all rows of `args`, on the calling thread alone for small matrices
 * and across the pool for large ones. Bit-identical either way; a NaN in a worker's tile
 * raises the kernel's own error with the absolute row (see {@link runTiled}).
 *
 * @param args - the kernel's weights, outputs and names
 * @param task - the kernel and its parameters, for workers
 * @param local - the same kernel on the calling thread, for a range of rows
 */
export function runRows(args: RowPruneArgs, task: TileTask, local: RowRange): void {
  const { rows, cols } = args;
  const tileRows = cols > 0 ? Math.floor(TILE / cols) : 0;
  const shared = sharedOutputs(args);
  runTiled({
    rows,
    tileRows,
    helpers: helperCount(rows, cols),
    local,
    prepare(h) {
      if (args.scale !== undefined) h.buffers.scale.set(args.scale.subarray(0, cols));
      if (shared !== undefined && (h.outputs?.out !== shared.out || h.outputs?.mask !== shared.mask)) {
        h.port.postMessage(shared);
        h.outputs = shared;
      }
    },
    post(h, start, end) {
      h.buffers.tile.set(args.w.subarray(start * cols, end * cols));
      const c = h.control;
      c[KIND] = task.kind;
      c[ROWS] = end - start;
      c[COLS] = cols;
      c[PARAM] = task.param;
      c[GROUP] = task.group;
      c[FLAGS] = (args.scale !== undefined ? HAS_SCALE : 0) | (args.mask !== undefined ? HAS_MASK : 0) | (shared !== undefined ? SHARED_OUTPUT : 0);
      c[START] = start;
    },
    collect(h, start, end) {
      if (shared !== undefined) return; // the worker wrote into the outputs itself
      const n = (end - start) * cols;
      args.out.set(h.buffers.tile.subarray(0, n), start * cols);
      args.mask?.set(h.buffers.mask.subarray(0, n), start * cols);
    },
  });
}

/** The outputs of `args` when they are whole shared buffers a worker can write into. */
function sharedOutputs(args: RowPruneArgs): SharedOutputs | undefined {
  const whole = (a: Float32Array | Uint8Array): a is (Float32Array | Uint8Array) & { buffer: SharedArrayBuffer } =>
    a.buffer instanceof SharedArrayBuffer && a.byteOffset === 0 && a.length === args.rows * args.cols;
  if (!whole(args.out) || (args.mask !== undefined && !whole(args.mask))) return undefined;
  return { out: args.out.buffer, mask: args.mask?.buffer as SharedArrayBuffer | undefined };
}
