// Float32 matrix products on the host in WebAssembly SIMD: C = A·B and the Gram matrix XᵀX
// (upper triangle only, mirrored). Both run the shared dot-product kernel over slices of the
// inner dimension: per slice, A's rows are copied contiguously and B is packed in groups of
// four columns ([group][t][4]); chunks of 32 rows of A stay in L1 while every tile of B passes
// over them, and the kernel adds each slice's products into C.
import { PruneError } from '../errors.js';
import { TASK_BUSY, TASK_FAILED, TASK_IDLE, TASK_STATE, builtinModule, pruneThreads } from '../threads.js';
import { reserveMemory } from './assemble.js';
import { ROW_TILE } from './dots.js';
import {
  CHUNK_ROWS,
  CONTROL_WORDS,
  READY,
  SHARED_PAGES,
  SLICE,
  type SliceJob,
  type SliceKernel,
  compileSliceKernel,
  postJob,
  runChunks,
} from './gemm-kernel.js';

/** Fewest multiply-adds in a slice worth handing chunks to worker threads (about 0.3 ms of work). */
const THREADED_MIN = 1 << 22;

interface WorkerThreadsModule {
  Worker: new (url: URL, options: { workerData: unknown }) => { unref(): void; on(event: 'error', listener: () => void): void };
}

/** The kernel memory: shared with the worker threads where they exist. */
let memory: WebAssembly.Memory | null | undefined;
let shared = false;
const kernels = new Map<number, SliceKernel | null>();
const pool: Int32Array[] = [];
let slicesByWorkers = 0;

/**
 * What the matrix products' worker threads have done in this thread's lifetime: workers
 * started, how many of them run, and slices they took part in. For diagnostics and tests
 * (products started while workers are still starting run without them).
 *
 * @returns worker counts and slices shared with workers
 */
export function simdThreadActivity(): { workers: number; ready: number; slicesByWorkers: number } {
  return { workers: pool.length, ready: pool.filter((c) => Atomics.load(c, READY) === 1).length, slicesByWorkers };
}

function kernelMemory(): WebAssembly.Memory | null {
  if (memory !== undefined) return memory;
  memory = null;
  if (builtinModule('node:worker_threads') !== undefined) {
    try {
      memory = new WebAssembly.Memory({ initial: 1, maximum: SHARED_PAGES, shared: true });
      shared = true;
    } catch {
      memory = null;
    }
  }
  if (memory === null) {
    try {
      memory = new WebAssembly.Memory({ initial: 1 });
    } catch {
      memory = null;
    }
  }
  return memory;
}

/** The accumulating kernels for slices of `dim` values, or null where WebAssembly SIMD is not available. */
function kernelFor(dim: number): SliceKernel | null {
  const have = kernels.get(dim);
  if (have !== undefined) return have;
  const mem = kernelMemory();
  const kernel = mem === null ? null : compileSliceKernel(mem, dim, shared);
  kernels.set(dim, kernel);
  return kernel;
}

/**
 * True when the WebAssembly SIMD matrix products run here (Node ≥ 16.4 and current browsers);
 * where they do not, {@link simdMatmul} and {@link simdGram} return null.
 */
export function simdAvailable(): boolean {
  return kernelFor(SLICE) !== null;
}


/** Control words of up to `n` running workers, starting any missing ones (which join later calls once running). */
function helpers(n: number): Int32Array[] {
  if (n <= 0 || !shared) return [];
  const wt = builtinModule<WorkerThreadsModule>('node:worker_threads');
  while (wt !== undefined && pool.length < n) {
    const control = new Int32Array(new SharedArrayBuffer(4 * CONTROL_WORDS));
    let worker;
    try {
      worker = new wt.Worker(new URL('./gemm-worker.js', import.meta.url), { workerData: { control: control.buffer, memory } });
    } catch {
      break; // no worker module here (running from sources): the caller works alone
    }
    // A worker that cannot start never sets READY and never gets work; without a listener
    // its error would end the process.
    worker.on('error', () => undefined);
    worker.unref();
    pool.push(control);
  }
  return pool.slice(0, n).filter((c) => Atomics.load(c, READY) === 1);
}

/** Adds one slice's products into C on the calling thread and the running workers. */
function runSlice(kernel: SliceKernel, job: SliceJob): void {
  const chunks = Math.ceil((job.m - job.rowFrom) / CHUNK_ROWS);
  const work = (job.m - job.rowFrom) * (job.groupTo - job.groupFrom) * 4 * job.len * (job.upper ? 0.5 : 1);
  const workers = work < THREADED_MIN ? [] : helpers(Math.min(pruneThreads(), chunks) - 1);
  const step = workers.length + 1;
  if (workers.length > 0) slicesByWorkers++;
  workers.forEach((control, w) => {
    postJob(control, job, w + 1, step);
    Atomics.store(control, TASK_STATE, TASK_BUSY);
    Atomics.notify(control, TASK_STATE);
  });
  let failed = false;
  try {
    runChunks(kernel, job, 0, step);
  } finally {
    // Whatever happened here, no worker may still be writing into C afterwards.
    for (const control of workers) {
      Atomics.wait(control, TASK_STATE, TASK_BUSY);
      failed ||= Atomics.load(control, TASK_STATE) === TASK_FAILED;
      Atomics.store(control, TASK_STATE, TASK_IDLE);
    }
  }
  if (failed) throw new PruneError('KERNEL_UNAVAILABLE', 'a worker thread of the WebAssembly matrix product failed; call setPruneThreads(1) to compute on the calling thread only');
}

/** Fills the kernel's A rows (`[rows][len]`) and packed B (`[group][len][4]`) for one slice. */
type SliceFill = (a: Float32Array, b: Float32Array, start: number, len: number) => void;

/**
 * Known structure of a product's operands and result. Slices of the inner dimension that can
 * only add zeros to a block of C are skipped; the zero entries must be zeros (those next to
 * the diagonal are still read).
 */
export interface MatmulStructure {
  /** A is lower triangular: A[i][t] = 0 for t > i. */
  readonly aLower?: boolean;
  /** B is upper triangular: B[t][j] = 0 for t > j. */
  readonly bUpper?: boolean;
  /** B is lower triangular: B[t][j] = 0 for t < j. */
  readonly bLower?: boolean;
  /** C = A·B is symmetric (m = n): only its upper triangle is computed, then mirrored (about half the work). */
  readonly symmetric?: boolean;
}

/** Options of {@link simdMatmul}: operands stored transposed, and their known structure. */
export interface MatmulOptions extends MatmulStructure {
  /** A is stored as Aᵀ, `[k, m]` row-major. */
  readonly transposeA?: boolean;
  /** B is stored as Bᵀ, `[n, k]` row-major. */
  readonly transposeB?: boolean;
}

/**
 * C (`[rowsPadded][stride]`, float32) = Σ over slices of A_slice · B_slice, skipping what
 * `structure` says is zero; with `symmetric`, a chunk of rows starting at row s only computes
 * the columns from s on. Returns C's view in the kernel memory (valid until the next call) and
 * its row stride in floats, or null.
 */
function products(m: number, n: number, k: number, structure: MatmulStructure, fill: SliceFill): { c: Float32Array; stride: number } | null {
  if (kernelFor(SLICE) === null) return null;
  const rows = Math.ceil(m / ROW_TILE) * ROW_TILE;
  const groups = Math.ceil(n / 4);
  const slice = Math.min(SLICE, k);
  const aBytes = rows * slice * 4;
  const bBytes = groups * slice * 16;
  // One cache line more than the row needs: with rows a power of two apart (8 KB for d = 2048)
  // every row of a chunk would map to the same L1 set, and the stores would evict each other.
  const stride = groups * 16 + 64;
  const cBytes = rows * stride;
  const mem = kernelMemory();
  const buffer = mem === null ? null : reserveMemory(mem, aBytes + bBytes + cBytes);
  if (buffer === null) return null;
  const aAt = 0;
  const bAt = aBytes;
  const cAt = aBytes + bBytes;
  const c = new Float32Array(buffer, cAt, cBytes / 4);
  const { aLower = false, bUpper = false, bLower = false, symmetric = false } = structure;
  // Triangular operands leave parts of C untouched by the first slice: start from zero and add.
  const zeroed = k === 0 || aLower || bUpper || bLower;
  if (zeroed) c.fill(0);
  for (let start = 0; start < k; start += SLICE) {
    const len = Math.min(SLICE, k - start);
    const kernel = kernelFor(len);
    if (kernel === null) return null;
    fill(new Float32Array(buffer, aAt, rows * len), new Float32Array(buffer, bAt, groups * len * 4), start, len);
    runSlice(kernel, {
      len,
      aAt,
      bAt,
      cAt,
      stride,
      m,
      upper: symmetric,
      add: zeroed || start > 0,
      rowFrom: aLower ? Math.min(start, m) : 0,
      groupFrom: bUpper ? Math.min(start >> 2, groups) : 0,
      groupTo: bLower ? Math.min(groups, Math.ceil((start + len) / 4)) : groups,
    });
  }
  return { c, stride: stride / 4 };
}

/**
 * C = A·B in float32 (products summed in float32 lanes, as BLAS sgemm does), on the host in
 * WebAssembly SIMD.
 * @param a - A `[m, k]` row-major (`[k, m]` with `transposeA`)
 * @param b - B `[k, n]` row-major (`[n, k]` with `transposeB`)
 * @param m - rows of A
 * @param k - columns of A, rows of B
 * @param n - columns of B
 * @param options - operands stored transposed; triangular operands or a symmetric result,
 *   whose known zeros (or lower triangle) are skipped
 * @returns C `[m, n]` row-major, a new array; null where WebAssembly SIMD is not available or
 *   its memory cannot hold the operands (callers then use their own loop)
 */
export function simdMatmul(a: Float32Array, b: Float32Array, m: number, k: number, n: number, options: MatmulOptions = {}): Float32Array | null {
  if (options.symmetric === true && m !== n) {
    throw new PruneError('SHAPE_MISMATCH', `simdMatmul: a symmetric product must be square, got ${m}×${n}; drop the symmetric hint`);
  }
  if (m === 0 || n === 0) return new Float32Array(m * n);
  const { transposeA = false, transposeB = false } = options;
  const result = products(m, n, k, options, (ap, bp, start, len) => {
    if (transposeA) {
      for (let t = 0; t < len; t++) {
        const src = (start + t) * m;
        for (let i = 0; i < m; i++) ap[i * len + t] = a[src + i];
      }
    } else {
      for (let i = 0; i < m; i++) ap.set(a.subarray(i * k + start, i * k + start + len), i * len);
    }
    if (transposeB) {
      for (let j = 0; j < n; j++) {
        const src = j * k + start;
        const at = (j >> 2) * len * 4 + (j & 3);
        for (let t = 0; t < len; t++) bp[at + t * 4] = b[src + t];
      }
    } else {
      for (let t = 0; t < len; t++) {
        const src = (start + t) * n;
        for (let j = 0; j < n; j++) bp[(j >> 2) * len * 4 + t * 4 + (j & 3)] = b[src + j];
      }
    }
  });
  if (result === null) return null;
  const { c, stride } = result;
  const out = new Float32Array(m * n);
  if (options.symmetric === true) {
    for (let i = 0; i < m; i++) out.set(c.subarray(i * stride + i, i * stride + n), i * n + i);
    mirrorUpper(out, n);
  } else {
    for (let i = 0; i < m; i++) out.set(c.subarray(i * stride, i * stride + n), i * n);
  }
  return out;
}

/**
 * The upper triangle of the Gram matrix (s·X)ᵀ(s·X) of `X` (`[tokens, d]` row-major) in
 * float32: each s·x rounded to float32 first (as scaling the tensor then multiplying does),
 * products summed in float32 lanes; chunks of 32 rows only compute the columns from their
 * first row on, about half the work of a general product.
 * @returns row i at `values[i·stride]`, entries j ≥ i valid — a view into the kernel memory,
 *   valid until the next call — or null where WebAssembly SIMD is not available or its memory
 *   cannot hold the operands
 * @internal
 */
export function gramUpper(x: Float32Array, tokens: number, d: number, scale: number): { values: Float32Array; stride: number } | null {
  const f = Math.fround(scale);
  const result = products(d, d, tokens, { symmetric: true }, (ap, bp, start, len) => {
    for (let t = 0; t < len; t++) {
      const src = (start + t) * d;
      for (let j = 0; j < d; j++) {
        const v = Math.fround(x[src + j] * f);
        ap[j * len + t] = v;
        bp[(j >> 2) * len * 4 + t * 4 + (j & 3)] = v;
      }
    }
  });
  return result === null ? null : { values: result.c, stride: result.stride };
}

/**
 * The Gram matrix (s·X)ᵀ(s·X) of `X` in float32 on the host in WebAssembly SIMD: each s·x
 * rounded to float32 first, products summed in float32 lanes. Only the upper triangle is
 * computed — about half the work of a general product — and mirrored, so the result is
 * exactly symmetric.
 * @param x - `[tokens, d]` row-major
 * @param tokens - rows of X
 * @param d - columns of X
 * @param scale - s
 * @returns `[d, d]` row-major, a new array; null where WebAssembly SIMD is not available or its
 *   memory cannot hold the operands
 */
export function simdGram(x: Float32Array, tokens: number, d: number, scale: number): Float32Array | null {
  const upper = gramUpper(x, tokens, d, scale);
  if (upper === null) return null;
  const out = new Float32Array(d * d);
  if (tokens === 0) return out;
  for (let i = 0; i < d; i++) out.set(upper.values.subarray(i * upper.stride + i, i * upper.stride + d), i * d + i);
  mirrorUpper(out, d);
  return out;
}

/** Mirrors the upper triangle of the `[d, d]` matrix `a` onto its lower one, in place, in cache-sized tiles. */
export function mirrorUpper(a: Float32Array, d: number): void {
  const tile = 64;
  for (let i0 = 0; i0 < d; i0 += tile) {
    const i1 = Math.min(d, i0 + tile);
    for (let j0 = i0; j0 < d; j0 += tile) {
      const j1 = Math.min(d, j0 + tile);
      for (let i = i0; i < i1; i++) for (let j = Math.max(i + 1, j0); j < j1; j++) a[j * d + i] = a[i * d + j];
    }
  }
}
