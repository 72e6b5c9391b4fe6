// The slice kernel of the host matrix products and how one slice's rows are shared out:
// used by the calling thread (gemm.ts) and by its worker threads (gemm-worker.ts) alike.
import { assembleModule } from './assemble.js';
import { ROW_TILE, dotsBody } from './dots.js';

/** Length of one slice of the inner dimension: 32 rows × 128 floats of A is 16 KB, in L1. */
export const SLICE = 128;

/** Rows of A per kernel call; threads take every n-th chunk. */
export const CHUNK_ROWS = 32;

/** Maximum size of the shared kernel memory, in 64 KiB pages (4 GiB, all of wasm32). */
export const SHARED_PAGES = 65536;

/** A dot-product kernel: see {@link dotsBody} for its parameters. */
type Dots = (x: number, blocks: number, c: number, tiles: number, out: number, outStride: number) => void;

/** The dot-product kernels of one slice length. */
export interface SliceKernel {
  /** Two groups of four columns per tile, added into C. */
  dots: Dots;
  /** One group per tile (an odd last group), added into C. */
  dots1: Dots;
  /** Two groups per tile, written into C (the first slice: C needs no zeroing). */
  set: Dots;
  /** One group per tile, written into C. */
  set1: Dots;
}

/**
 * Compiles the kernels for slices of `dim` values on `memory`; null where WebAssembly SIMD (or,
 * for a shared memory, WebAssembly threads) is not available.
 */
export function compileSliceKernel(memory: WebAssembly.Memory, dim: number, shared: boolean): SliceKernel | null {
  try {
    const bytes = assembleModule(
      [
        { name: 'dots', params: 6, body: dotsBody(dim, 2, true) },
        { name: 'dots1', params: 6, body: dotsBody(dim, 1, true) },
        { name: 'set', params: 6, body: dotsBody(dim, 2, false) },
        { name: 'set1', params: 6, body: dotsBody(dim, 1, false) },
      ],
      shared ? SHARED_PAGES : undefined,
    );
    const { exports } = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
    return { dots: exports.dots as Dots, dots1: exports.dots1 as Dots, set: exports.set as Dots, set1: exports.set1 as Dots };
  } catch {
    return null;
  }
}

/** One slice of a product, as byte offsets into the kernel memory. */
export interface SliceJob {
  /** Length of the slice (the kernel's dim). */
  len: number;
  /** A's rows for the slice, `[rows][len]`. */
  aAt: number;
  /** B packed for the slice, `[group][len][4]`. */
  bAt: number;
  /** C, `[rows][stride]`. */
  cAt: number;
  /** C's row stride in bytes. */
  stride: number;
  /** Rows of A and C. */
  m: number;
  /** Compute only the columns from each chunk's first row on (a symmetric product). */
  upper: boolean;
  /** Add into C (every slice but the first) rather than write it. */
  add: boolean;
  /** First row the slice contributes to (rows before it are zero in A's slice). */
  rowFrom: number;
  /** First group of columns the slice contributes to. */
  groupFrom: number;
  /** End (exclusive) of the groups the slice contributes to. */
  groupTo: number;
}

/**
 * Adds (or writes) the slice's products into the chunks `first, first + step, …` of C's rows,
 * counted from the chunk holding `rowFrom`, over the job's groups of columns.
 */
export function runChunks(kernel: SliceKernel, job: SliceJob, first: number, step: number): void {
  const { len, aAt, bAt, cAt, stride, m, upper, groupTo } = job;
  const two = job.add ? kernel.dots : kernel.set;
  const one = job.add ? kernel.dots1 : kernel.set1;
  const base = Math.floor(job.rowFrom / CHUNK_ROWS) * CHUNK_ROWS;
  for (let s = base + first * CHUNK_ROWS; s < m; s += step * CHUNK_ROWS) {
    const blocks = Math.ceil(Math.min(CHUNK_ROWS, m - s) / ROW_TILE);
    const x = aAt + s * len * 4;
    const from = Math.max(job.groupFrom, upper ? s >> 2 : 0);
    if (from >= groupTo) continue;
    const tiles = (groupTo - from) >> 1;
    if (tiles > 0) two(x, blocks, bAt + from * len * 16, tiles, cAt + s * stride + from * 16, stride);
    if (((groupTo - from) & 1) === 1) one(x, blocks, bAt + (groupTo - 1) * len * 16, 1, cAt + s * stride + (groupTo - 1) * 16, stride);
  }
}

// Control words of a worker (Int32Array over a shared buffer): its task state (core's
// TASK_STATE), then READY, then the job.
/** Slot the worker sets to 1 once it runs. */
export const READY = 1;
/** First slot of the job: its fields in {@link SliceJob} order, then the first chunk and the step. */
export const JOB = 2;
/** Number of control words. */
export const CONTROL_WORDS = JOB + 13;

/** Writes a job and its share of chunks into a worker's control words. */
export function postJob(control: Int32Array, job: SliceJob, first: number, step: number): void {
  control.set([job.len, job.aAt, job.bAt, job.cAt, job.stride, job.m, job.upper ? 1 : 0, job.add ? 1 : 0, job.rowFrom, job.groupFrom, job.groupTo, first, step], JOB);
}

/** Reads a job posted by {@link postJob}: the job, its first chunk and the chunk step. */
export function readJob(control: Int32Array): { job: SliceJob; first: number; step: number } {
  const [len, aAt, bAt, cAt, stride, m, upper, add, rowFrom, groupFrom, groupTo, first, step] = control.subarray(JOB, JOB + 13);
  return { job: { len, aAt, bAt, cAt, stride, m, upper: upper === 1, add: add === 1, rowFrom, groupFrom, groupTo }, first, step };
}
