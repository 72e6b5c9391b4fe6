// Nearest centroids of a block of rows in WebAssembly SIMD, on the toolkit's dot-product
// kernel (@prune/core/wasm: centroids transposed in groups of four, float32 sums as BLAS sgemm
// does). The module is assembled from its bytes once per row length `dim`. ‖c‖² − 2·x·c ranks
// the centroids of a row (a second function keeps the nearest two per lane, so JS reads 12
// numbers per row instead of k) and ‖x‖² is added to the two kept. A third function computes
// ‖x − c‖² directly (float64 sums) where exact distances are needed, a fourth sums rows into
// their centroids in float64.

import { PruneError } from '@prune/core';
import {
  ADD,
  F32X4_ADD,
  F32X4_MUL,
  F32X4_SUB,
  LOAD_F32,
  LOAD_I32,
  MUL,
  NE,
  ROW_TILE,
  STORE_F64,
  ZERO,
  assembleModule,
  dotsBody,
  f32Bytes,
  forLoop,
  get,
  i32,
  i32Bytes,
  load,
  reserveMemory,
  set,
  simd,
  store,
  uleb,
  v128const,
} from '@prune/core/wasm';

/** Rows per kernel call: a block of x and its dot products stay in cache. */
export const BLOCK_ROWS = 256;

/**
 * Groups of four centroids per register tile; an odd last group runs through a one-group
 * variant of the kernel, so centroids are only padded to a multiple of 4.
 */
export const GROUP_TILE = 2;

/** Rows per kernel call (a multiple of ROW_TILE). */
const CHUNK_ROWS = 32;

/**
 * nearest(dots, count, groups, cn, res): for each of `count` rows of dot products (stride
 * groups·16 bytes), v = cn − 2·dot per lane; per lane the smallest v (m1), its centroid index
 * (i1) and the second smallest (m2) are written to res (48 bytes per row: m1, m2, i1). A NaN v
 * never becomes m1, so a row with non-finite values ends with m1 = ±Infinity.
 */
function nearestBody(): number[] {
  // params: 0 dots, 1 count, 2 groups, 3 cn, 4 res; i32 locals: 5 r, 6 g, 7 dp, 8 cp
  // v128 locals: 9 m1, 10 m2, 11 i1, 12 jv, 13 v, 14 lt, 15 d
  const inf = v128const([...f32Bytes(Infinity), ...f32Bytes(Infinity), ...f32Bytes(Infinity), ...f32Bytes(Infinity)]);
  const lanes = v128const([...i32Bytes(0), ...i32Bytes(1), ...i32Bytes(2), ...i32Bytes(3)]);
  const four = v128const([...i32Bytes(4), ...i32Bytes(4), ...i32Bytes(4), ...i32Bytes(4)]);
  const BITSELECT = simd(0x52);
  const perGroup = [
    ...get(8), ...load(0),
    ...get(7), ...load(0), 0x22, 15, ...get(15), ...F32X4_ADD,
    ...F32X4_SUB, ...set(13),
    ...get(13), ...get(9), ...simd(0x43), ...set(14), // f32x4.lt
    ...get(9), ...get(10), ...get(13), ...simd(0xe8), ...get(14), ...BITSELECT, ...set(10), // m2
    ...get(12), ...get(11), ...get(14), ...BITSELECT, ...set(11), // i1
    ...get(13), ...get(9), ...get(14), ...BITSELECT, ...set(9), // m1
    ...get(12), ...four, ...simd(0xae), ...set(12), // i32x4.add
    ...get(7), ...i32(16), ADD, ...set(7),
    ...get(8), ...i32(16), ADD, ...set(8),
  ];
  const perRow = [
    ...inf, ...set(9), ...inf, ...set(10), ...ZERO, ...set(11), ...lanes, ...set(12),
    ...get(3), ...set(8),
    ...forLoop(6, 2, perGroup),
    ...get(4), ...get(9), ...store(0),
    ...get(4), ...get(10), ...store(16),
    ...get(4), ...get(11), ...store(32),
    ...get(4), ...i32(48), ADD, ...set(4),
  ];
  return [
    0x02, 0x04, 0x7f, 0x07, 0x7b,
    ...get(0), ...set(7),
    ...forLoop(5, 1, perRow),
    0x0b,
  ];
}

/**
 * sqdist(x, count, crow, best, out): out[r] (float64) = Σ_t (x[r·dim + t] − crow[best[r]·dim + t])²
 * with float32 differences and float64 sums.
 */
function sqdistBody(dim: number): number[] {
  // params: 0 x, 1 count, 2 crow, 3 best, 4 out; i32 locals: 5 r, 6 xp, 7 cp, 8 xEnd
  // v128 locals: 9 acc, 10 sq; f64 local: 11 tail
  const vec = dim - (dim % 4);
  const PROMOTE = simd(0x5f); // f64x2.promote_low_f32x4
  const F64X2_ADD = simd(0xf0);
  const high = [...simd(0x0d), 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7]; // i8x16.shuffle
  const perRow: number[] = [
    ...get(2), ...get(3), ...get(5), ...i32(4), MUL, ADD, ...LOAD_I32(0), ...i32(dim * 4), MUL, ADD, ...set(7),
    ...ZERO, ...set(9),
    0x44, ...new Array<number>(8).fill(0), ...set(11), // f64.const 0
  ];
  if (vec > 0) {
    perRow.push(
      ...get(6), ...i32(vec * 4), ADD, ...set(8),
      0x03, 0x40,
      ...get(6), ...load(0), ...get(7), ...load(0), ...F32X4_SUB, 0x22, 10, ...get(10), ...F32X4_MUL, ...set(10),
      ...get(9), ...get(10), ...PROMOTE, ...F64X2_ADD, ...set(9),
      ...get(9), ...get(10), ...get(10), ...high, ...PROMOTE, ...F64X2_ADD, ...set(9),
      ...get(6), ...i32(16), ADD, ...set(6),
      ...get(7), ...i32(16), ADD, ...set(7),
      ...get(6), ...get(8), NE, 0x0d, 0,
      0x0b,
    );
  }
  for (let t = 0; t < dim - vec; t++) {
    perRow.push(...get(11), ...get(6), ...LOAD_F32(t * 4), ...get(7), ...LOAD_F32(t * 4), 0x93, 0xbb, 0x22, 12, ...get(12), 0xa2, 0xa0, ...set(11));
  }
  perRow.push(
    ...get(4), ...get(5), ...i32(8), MUL, ADD,
    ...get(9), ...simd(0x21), 0, ...get(9), ...simd(0x21), 1, 0xa0, ...get(11), 0xa0,
    ...STORE_F64(0),
    ...get(6), ...i32((dim - vec) * 4), ADD, ...set(6),
  );
  return [
    0x03, 0x04, 0x7f, 0x02, 0x7b, 0x02, 0x7c, // locals: 4 × i32, 2 × v128, 2 × f64 (11 tail, 12 scratch)
    ...get(0), ...set(6),
    ...forLoop(5, 1, perRow),
    0x0b,
  ];
}

/**
 * accumulate(x, count, best, sums): sums[best[r]·dim + t] += x[r·dim + t] for the `count` rows
 * of x (float64 sums of float32 values: the spec's float64 accumulation of centroid sums).
 */
function accumulateBody(dim: number): number[] {
  // params: 0 x, 1 count, 2 best, 3 sums; i32 locals: 4 r, 5 xp, 6 sp, 7 xEnd; v128 local: 8 v
  const vec = dim - (dim % 4);
  const PROMOTE = simd(0x5f);
  const F64X2_ADD = simd(0xf0);
  const high = [...simd(0x0d), 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7];
  const perRow: number[] = [...get(2), ...get(4), ...i32(4), MUL, ADD, ...LOAD_I32(0), ...i32(dim * 8), MUL, ...get(3), ADD, ...set(6)];
  if (vec > 0) {
    perRow.push(
      ...get(5), ...i32(vec * 4), ADD, ...set(7),
      0x03, 0x40,
      ...get(5), ...load(0), ...set(8),
      ...get(6), ...get(6), ...load(0), ...get(8), ...PROMOTE, ...F64X2_ADD, ...store(0),
      ...get(6), ...get(6), ...load(16), ...get(8), ...get(8), ...high, ...PROMOTE, ...F64X2_ADD, ...store(16),
      ...get(5), ...i32(16), ADD, ...set(5),
      ...get(6), ...i32(32), ADD, ...set(6),
      ...get(5), ...get(7), NE, 0x0d, 0,
      0x0b,
    );
  }
  for (let t = 0; t < dim - vec; t++) {
    perRow.push(...get(6), ...get(6), 0x2b, 3, ...uleb(t * 8), ...get(5), ...LOAD_F32(t * 4), 0xbb, 0xa0, ...STORE_F64(t * 8));
  }
  perRow.push(...get(5), ...i32((dim - vec) * 4), ADD, ...set(5));
  return [0x02, 0x04, 0x7f, 0x01, 0x7b, ...get(0), ...set(5), ...forLoop(4, 1, perRow), 0x0b];
}

function moduleBytes(dim: number): Uint8Array<ArrayBuffer> {
  return assembleModule([
    { name: 'dots', params: 6, body: dotsBody(dim, GROUP_TILE) },
    { name: 'nearest', params: 5, body: nearestBody() },
    { name: 'sqdist', params: 5, body: sqdistBody(dim) },
    { name: 'accumulate', params: 4, body: accumulateBody(dim) },
    { name: 'dots1', params: 6, body: dotsBody(dim, 1) },
  ]);
}

/** The kernels of one row length. */
interface Kernel {
  accumulate: (x: number, count: number, best: number, sums: number) => void;
  dots: (x: number, blocks: number, c: number, pairs: number, out: number, outStride: number) => void;
  /** The same with one group per tile (for an odd last group). */
  dots1: (x: number, blocks: number, c: number, groups: number, out: number, outStride: number) => void;
  nearest: (dots: number, count: number, groups: number, cn: number, res: number) => void;
  sqdist: (x: number, count: number, crow: number, best: number, out: number) => void;
}

let memory: WebAssembly.Memory | null | undefined;
const kernels = new Map<number, Kernel | null>();

/** The kernels for rows of `dim` values, or null where WebAssembly SIMD is not available. */
function getKernel(dim: number): Kernel | null {
  const have = kernels.get(dim);
  if (have !== undefined) return have;
  let kernel: Kernel | null = null;
  try {
    memory ??= new WebAssembly.Memory({ initial: 1 });
    const { exports } = new WebAssembly.Instance(new WebAssembly.Module(moduleBytes(dim)), { env: { memory } });
    kernel = {
      accumulate: exports.accumulate as Kernel['accumulate'],
      dots: exports.dots as Kernel['dots'],
      dots1: exports.dots1 as Kernel['dots1'], nearest: exports.nearest as Kernel['nearest'], sqdist: exports.sqdist as Kernel['sqdist'] };
  } catch {
    kernel = null;
  }
  kernels.set(dim, kernel);
  return kernel;
}

/** True when the WebAssembly SIMD kernels run here (used by tests and benchmarks to report the path). */
export function simdAvailable(): boolean {
  return getKernel(4) !== null;
}

/** Centroids loaded into the kernel memory, made by {@link prepareCentroids}. */
export interface PreparedCentroids {
  /** Number of centroids. */
  k: number;
  /** Values per centroid. */
  dim: number;
  /** Groups of four centroids (the last padded with zero centroids). */
  groups: number;
  /** The float64 centroids (`k·dim`), for rows the float32 kernel cannot handle. */
  centroids: Float64Array;
  /** float64 squared norms of the centroids. */
  norms: Float64Array;
}

/** Byte offsets of the regions of the kernel memory for one preparation. */
interface Layout {
  cT: number;
  cn: number;
  crow: number;
  x: number;
  dots: number;
  res: number;
  best: number;
  sq: number;
  sums: number;
  end: number;
}

function layoutOf(k: number, dim: number, groups: number, withSums: boolean): Layout {
  const cT = 0;
  const cn = cT + groups * 4 * dim * 4;
  const crow = cn + groups * 16;
  const x = crow + Math.ceil((k * dim) / 4) * 16;
  const dots = x + BLOCK_ROWS * dim * 4;
  const res = dots + BLOCK_ROWS * groups * 16;
  const best = res + BLOCK_ROWS * 48;
  const sq = best + BLOCK_ROWS * 4;
  const sums = sq + BLOCK_ROWS * 8;
  return { cT, cn, crow, x, dots, res, best, sq, sums, end: sums + (withSums ? k * dim * 8 : 0) };
}

let layout: Layout = layoutOf(0, 0, 0, false);

/** Typed views of the regions, made once per preparation (no allocation per block). */
interface Views {
  x: Float32Array;
  dots: Float32Array;
  res: Float32Array;
  resIndex: Int32Array;
  best: Int32Array;
  sq: Float64Array;
  sums: Float64Array;
}

let views: Views | null = null;

/** Largest centroid squared norm the float32 kernel takes (float32 overflows at 3.4e38). */
const MAX_NORM = 1e37;

/**
 * Copies `centroids` (float64, `k·dim`) into the kernel memory as float32 — transposed in groups
 * of four for the dot products, row-major for direct distances — with their norms (padding
 * centroids get an infinite norm so they never win), and with `withSums` zeroed float64 centroid
 * sums for {@link accumulateBlock}. Returns null when WebAssembly SIMD is not
 * available or a centroid's squared norm does not fit float32 (callers then use plain JS).
 * Valid until the next call.
 */
export function prepareCentroids(centroids: Float64Array, k: number, dim: number, norms: Float64Array, withSums = false): PreparedCentroids | null {
  if (getKernel(dim) === null) return null;
  for (let j = 0; j < k; j++) if (!(norms[j] < MAX_NORM)) return null;
  const groups = Math.ceil(k / 4);
  const next = layoutOf(k, dim, groups, withSums);
  const buffer = reserveMemory(memory!, next.end);
  if (buffer === null) return null;
  layout = next;
  const c = new Float32Array(buffer, layout.cT, groups * 4 * dim);
  c.fill(0);
  for (let j = 0; j < k; j++) {
    const base = (j >> 2) * dim * 4 + (j & 3);
    const src = j * dim;
    for (let t = 0; t < dim; t++) c[base + t * 4] = centroids[src + t];
  }
  const cn = new Float32Array(buffer, layout.cn, groups * 4);
  cn.fill(Infinity);
  for (let j = 0; j < k; j++) cn[j] = norms[j];
  new Float32Array(buffer, layout.crow, k * dim).set(centroids);
  views = {
    x: new Float32Array(buffer, layout.x, BLOCK_ROWS * dim),
    dots: new Float32Array(buffer, layout.dots, BLOCK_ROWS * groups * 4),
    res: new Float32Array(buffer, layout.res, BLOCK_ROWS * 12),
    resIndex: new Int32Array(buffer, layout.res, BLOCK_ROWS * 12),
    best: new Int32Array(buffer, layout.best, BLOCK_ROWS),
    sq: new Float64Array(buffer, layout.sq, BLOCK_ROWS),
    sums: new Float64Array(buffer, layout.sums, withSums ? k * dim : 0),
  };
  views.sums.fill(0);
  return { k, dim, groups, centroids, norms };
}

/**
 * Copies rows `rows[0..count)` of `data` into `x`, a run of consecutive rows at a time (memcpy
 * is about twice as fast as an element loop on rows that miss the cache).
 */
function gatherRows(x: Float32Array, data: Float32Array, rows: Int32Array, count: number, dim: number): void {
  for (let r = 0; r < count; r++) {
    let e = r + 1;
    while (e < count && rows[e] === rows[e - 1] + 1) e++;
    x.set(data.subarray(rows[r] * dim, (rows[e - 1] + 1) * dim), r * dim);
    r = e - 1;
  }
}

/** Copies the rows into the kernel memory and computes their dot products with the prepared centroids. */
function runDots(prepared: PreparedCentroids, data: Float32Array, rows: Int32Array | null, start: number, count: number): void {
  const { dim, groups } = prepared;
  const kernel = getKernel(dim)!;
  const x = views!.x;
  if (rows === null) x.set(data.subarray(start * dim, (start + count) * dim));
  else gatherRows(x, data, rows, count, dim);
  // Chunks of CHUNK_ROWS rows stay in L1 while every centroid tile passes over them.
  const stride = groups * 16;
  for (let s = 0; s < count; s += CHUNK_ROWS) {
    const x = layout.x + s * dim * 4;
    const blocks = Math.ceil(Math.min(CHUNK_ROWS, count - s) / ROW_TILE);
    const out = layout.dots + s * stride;
    const tiles = Math.floor(groups / GROUP_TILE);
    if (tiles > 0) kernel.dots(x, blocks, layout.cT, tiles, out, stride);
    for (let g = tiles * GROUP_TILE; g < groups; g++) kernel.dots1(x, blocks, layout.cT + g * dim * 16, 1, out + g * 16, stride);
  }
}

/**
 * Raw float32 dot products of up to {@link BLOCK_ROWS} rows with the prepared centroids: row r,
 * centroid j at `[r·stride + j]` with `stride = groups·4`. The view is valid until the next call.
 */
export function blockDots(prepared: PreparedCentroids, data: Float32Array, rows: Int32Array | null, start: number, count: number): Float32Array {
  runDots(prepared, data, rows, start, count);
  return views!.dots;
}

/** Per-row results of {@link nearestBlock} (BLOCK_ROWS entries each, the first `count` valid). */
export interface BlockNearest {
  /** Nearest centroid. */
  best: Int32Array;
  /** Squared distance to it: ‖x‖² + ‖c‖² − 2·x·c, or computed directly when `exact`. */
  bestSq: Float64Array;
  /** Squared distance to the second nearest (Infinity when k = 1); only with row norms. */
  secondSq: Float64Array;
}

/** Scratch for {@link nearestBlock}. */
export function blockNearest(): BlockNearest {
  return { best: new Int32Array(BLOCK_ROWS), bestSq: new Float64Array(BLOCK_ROWS), secondSq: new Float64Array(BLOCK_ROWS) };
}

/** Plain float64 nearest two of one row, for rows whose float32 products overflow. */
function nearestTwoPlain(prepared: PreparedCentroids, data: Float32Array, row: number, r: number, out: BlockNearest): void {
  const { dim, k, centroids } = prepared;
  let b1 = Infinity;
  let b2 = Infinity;
  let bi = 0;
  for (let j = 0; j < k; j++) {
    let d = 0;
    for (let t = 0; t < dim; t++) {
      const v = data[row * dim + t] - centroids[j * dim + t];
      d += v * v;
    }
    if (d < b1) {
      b2 = b1;
      b1 = d;
      bi = j;
    } else if (d < b2) b2 = d;
  }
  out.best[r] = bi;
  out.bestSq[r] = b1;
  out.secondSq[r] = b2;
}

/**
 * Nearest centroid of up to {@link BLOCK_ROWS} rows of `data` (rows `rows[0..count)`, or
 * `start..start+count` when `rows` is null). With `rowNorms`, also the second nearest, both as
 * ‖x‖² + ‖c‖² − 2·x·c; with `exact`, bestSq is ‖x − c‖² summed directly (float64), and secondSq is
 * not filled. Returns the first row (block index) whose values are not all finite (the block is
 * then left unfinished), or −1; rows that are finite but overflow float32 products are redone in
 * float64.
 */
export function nearestBlock(
  prepared: PreparedCentroids,
  data: Float32Array,
  rows: Int32Array | null,
  start: number,
  count: number,
  rowNorms: Float64Array | null,
  exact: boolean,
  out: BlockNearest,
): number {
  const { dim, groups } = prepared;
  const kernel = getKernel(dim)!;
  runDots(prepared, data, rows, start, count);
  kernel.nearest(layout.dots, count, groups, layout.cn, layout.res);
  const { res, resIndex } = views!;
  const { best, bestSq, secondSq } = out;
  let plain: number[] | null = null;
  for (let r = 0; r < count; r++) {
    const o = r * 12;
    let b1 = res[o];
    let bi = resIndex[o + 8];
    let lane = 0;
    for (let q = 1; q < 4; q++) {
      const v = res[o + q];
      if (v < b1 || (v === b1 && resIndex[o + 8 + q] < bi)) {
        b1 = v;
        bi = resIndex[o + 8 + q];
        lane = q;
      }
    }
    if (!(b1 > -Infinity && b1 < Infinity)) {
      const row = rows === null ? start + r : rows[r];
      if (!redoRow(prepared, data, row, r, out)) return r;
      (plain ??= []).push(r);
      continue;
    }
    best[r] = bi;
    if (rowNorms !== null) {
      let b2 = res[o + 4 + lane];
      for (let q = 0; q < 4; q++) {
        if (q !== lane && res[o + q] < b2) b2 = res[o + q];
        if (q !== lane && res[o + 4 + q] < b2) b2 = res[o + 4 + q];
      }
      const xn = rowNorms[rows === null ? start + r : rows[r]];
      const d1 = xn + b1;
      const d2 = xn + b2;
      bestSq[r] = d1 > 0 ? d1 : 0;
      secondSq[r] = d2 > 0 ? d2 : 0;
    }
  }
  if (exact) exactDistances(prepared, count, out, plain);
  return -1;
}

// The rare paths of nearestBlock are functions of their own: code in an optimized function
// that has never run carries no type feedback, and reaching it deoptimizes the function
// again and again until V8 recompiles it.

/**
 * A row whose best score is not finite: false when it holds a NaN or infinite value, else
 * (finite values whose float32 products overflow) its nearest two in float64, and true.
 */
function redoRow(prepared: PreparedCentroids, data: Float32Array, row: number, r: number, out: BlockNearest): boolean {
  const { dim } = prepared;
  for (let t = 0; t < dim; t++) if (!Number.isFinite(data[row * dim + t])) return false;
  nearestTwoPlain(prepared, data, row, r, out);
  return true;
}

/** bestSq of the block's rows as ‖x − c‖² summed directly (rows in `plain` keep their float64 values). */
function exactDistances(prepared: PreparedCentroids, count: number, out: BlockNearest, plain: number[] | null): void {
  const v = views!;
  const { best, bestSq } = out;
  for (let r = 0; r < count; r++) v.best[r] = best[r];
  getKernel(prepared.dim)!.sqdist(layout.x, count, layout.crow, layout.best, layout.sq);
  const kept = plain === null ? null : plain.map((r) => bestSq[r]);
  for (let r = 0; r < count; r++) bestSq[r] = v.sq[r];
  if (kept !== null) plain!.forEach((r, i) => (bestSq[r] = kept[i]));
}

/**
 * Squared distances ‖x − c‖² (float32 differences, float64 sums) of rows `start..start+count`
 * (count ≤ {@link BLOCK_ROWS}) to their given centroids `assigned[start..start+count)`.
 */
export function assignedSquaredDistances(prepared: PreparedCentroids, data: Float32Array, start: number, count: number, assigned: Int32Array, out: Float64Array): void {
  const { dim } = prepared;
  const kernel = getKernel(dim)!;
  const v = views!;
  v.x.set(data.subarray(start * dim, (start + count) * dim));
  for (let r = 0; r < count; r++) v.best[r] = assigned[start + r];
  kernel.sqdist(layout.x, count, layout.crow, layout.best, layout.sq);
  for (let r = 0; r < count; r++) out[r] = v.sq[r];
}

/**
 * Adds the rows of the last {@link nearestBlock} call to the float64 sums of the centroids in
 * `best[0..count)`; the sums ({@link preparedSums}) start at zero with each preparation made
 * `withSums`.
 */
export function accumulateBlock(prepared: PreparedCentroids, count: number, best: Int32Array): void {
  const v = views!;
  if (v.sums.length !== prepared.k * prepared.dim) throw new PruneError('INVALID_ARGUMENT', 'accumulateBlock needs centroids prepared withSums; pass withSums = true to prepareCentroids');
  for (let r = 0; r < count; r++) v.best[r] = best[r];
  getKernel(prepared.dim)!.accumulate(layout.x, count, layout.best, layout.sums);
}

/** The float64 centroid sums filled by {@link accumulateBlock} (`k·dim`, valid until the next preparation). */
export function preparedSums(): Float64Array {
  return views!.sums;
}
