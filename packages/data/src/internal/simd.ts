// Dot products of a block of rows with every centroid, in WebAssembly SIMD (f32x4 lanes, four
// centroids per pass over a row). The module is assembled here from its bytes (no file, no
// download). Products are summed in float32 lanes, as BLAS sgemm does for float32 data;
// callers combine them with float64 norms: ‖x − c‖² = ‖x‖² − 2·x·c + ‖c‖².

/** Rows per kernel call: a block of x and its dot products stay in cache. */
export const BLOCK_ROWS = 256;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

function name(s: string): number[] {
  return [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];
}

/**
 * dots(x, rows, c, groups, d, out): for r < rows, g < groups, q < 4:
 * out[(r·groups + g)·4 + q] = Σ_t x[r·d + t] · c[(4g + q)·d + t]  (byte pointers; d % 4 = 0).
 */
function moduleBytes(): Uint8Array<ArrayBuffer> {
  const get = (i: number): number[] => [0x20, i];
  const set = (i: number): number[] => [0x21, i];
  const i32 = (v: number): number[] => [0x41, v & 0x7f]; // small non-negative constants only
  const add = 0x6a;
  const mul = 0x6c;
  const shl = 0x74;
  const geU = 0x4f;
  const v128load = [0xfd, 0x00, 0x00, 0x00];
  const f32x4add = [0xfd, 0xe4, 0x01];
  const f32x4mul = [0xfd, 0xe6, 0x01];
  const zero = [0xfd, 0x0c, ...new Array(16).fill(0)];
  const lane = (v: number, l: number): number[] => [...get(v), 0xfd, 0x1f, l];
  const hsum = (v: number): number[] => [...lane(v, 0), ...lane(v, 1), 0x92, ...lane(v, 2), 0x92, ...lane(v, 3), 0x92];
  // params 0 x, 1 rows, 2 c, 3 groups, 4 d, 5 out
  // i32 locals: 6 r, 7 g, 8 t, 9 xrow, 10 c0, 11 dBytes, 12 o, 13 c1, 14 c2, 15 c3
  // v128 locals: 16 a0, 17 a1, 18 a2, 19 a3, 20 xv
  const accumulate = (acc: number, cptr: number): number[] => [
    ...get(acc), ...get(20), ...get(cptr), ...get(8), add, ...v128load, ...f32x4mul, ...f32x4add, ...set(acc),
  ];
  const body = [
    0x02, 0x0a, 0x7f, 0x05, 0x7b, // locals: 10 × i32, 5 × v128
    ...get(4), ...i32(2), shl, ...set(11),
    ...get(5), ...set(12),
    ...i32(0), ...set(6),
    0x02, 0x40, 0x03, 0x40, // block $exitR, loop $R
    ...get(6), ...get(1), geU, 0x0d, 1,
    ...get(0), ...get(6), ...get(11), mul, add, ...set(9),
    ...get(2), ...set(10),
    ...i32(0), ...set(7),
    0x02, 0x40, 0x03, 0x40, // block $exitG, loop $G
    ...get(7), ...get(3), geU, 0x0d, 1,
    ...get(10), ...get(11), add, ...set(13),
    ...get(13), ...get(11), add, ...set(14),
    ...get(14), ...get(11), add, ...set(15),
    ...zero, ...set(16), ...zero, ...set(17), ...zero, ...set(18), ...zero, ...set(19),
    ...i32(0), ...set(8),
    0x02, 0x40, 0x03, 0x40, // block $exitT, loop $T
    ...get(8), ...get(11), geU, 0x0d, 1,
    ...get(9), ...get(8), add, ...v128load, ...set(20),
    ...accumulate(16, 10), ...accumulate(17, 13), ...accumulate(18, 14), ...accumulate(19, 15),
    ...get(8), ...i32(16), add, ...set(8),
    0x0c, 0, 0x0b, 0x0b, // br $T, end loop, end block
    ...get(12), ...hsum(16), 0x38, 0x02, 0x00,
    ...get(12), ...hsum(17), 0x38, 0x02, 0x04,
    ...get(12), ...hsum(18), 0x38, 0x02, 0x08,
    ...get(12), ...hsum(19), 0x38, 0x02, 0x0c,
    ...get(12), ...i32(16), add, ...set(12),
    ...get(15), ...get(11), add, ...set(10),
    ...get(7), ...i32(1), add, ...set(7),
    0x0c, 0, 0x0b, 0x0b, // br $G, end loop, end block
    ...get(6), ...i32(1), add, ...set(6),
    0x0c, 0, 0x0b, 0x0b, // br $R, end loop, end block
    0x0b, // end function
  ];
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [1, 0x60, 6, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0]),
    ...section(2, [1, ...name('env'), ...name('memory'), 0x02, 0x00, 0x01]),
    ...section(3, [1, 0]),
    ...section(7, [1, ...name('dots'), 0x00, 0]),
    ...section(10, [1, ...uleb(body.length), ...body]),
  ];
  return new Uint8Array(bytes);
}

/** The instantiated kernel and its memory. */
interface Kernel {
  memory: WebAssembly.Memory;
  dots: (x: number, rows: number, c: number, groups: number, d: number, out: number) => void;
}

let kernel: Kernel | null | undefined;

/** The SIMD kernel, or null where WebAssembly SIMD is not available (then callers use plain JS). */
function getKernel(): Kernel | null {
  if (kernel !== undefined) return kernel;
  try {
    const memory = new WebAssembly.Memory({ initial: 1 });
    const instance = new WebAssembly.Instance(new WebAssembly.Module(moduleBytes()), { env: { memory } });
    kernel = { memory, dots: instance.exports.dots as Kernel['dots'] };
  } catch {
    kernel = null;
  }
  return kernel;
}

/** True when the WebAssembly SIMD kernel runs here (used by tests and benchmarks to report the path). */
export function simdAvailable(): boolean {
  return getKernel() !== null;
}

/** Centroids loaded into the kernel's memory, made by {@link prepareCentroids}. */
export interface PreparedCentroids {
  /** Number of centroids. */
  k: number;
  /** Values per centroid. */
  dim: number;
  /** Groups of four centroids (the last group zero-padded). */
  groups: number;
  /** float64 squared norms of the centroids. */
  norms: Float64Array;
  /** Byte offset of the float32 centroids in the kernel memory. */
  offset: number;
}

function ensureBytes(k: Kernel, bytes: number): void {
  const have = k.memory.buffer.byteLength;
  if (bytes > have) k.memory.grow(Math.ceil((bytes - have) / 65536));
}

/**
 * Copies `centroids` (float64, `k·dim`) into the kernel memory as float32, with room for a
 * block of rows and its dot products. Returns null when the SIMD path does not apply
 * (no WebAssembly SIMD, or `dim` not a multiple of 4).
 */
export function prepareCentroids(centroids: Float64Array, k: number, dim: number, norms: Float64Array): PreparedCentroids | null {
  const kern = getKernel();
  if (kern === null || dim % 4 !== 0) return null;
  const groups = Math.ceil(k / 4);
  const cBytes = groups * 4 * dim * 4;
  const xBytes = BLOCK_ROWS * dim * 4;
  const outBytes = BLOCK_ROWS * groups * 4 * 4;
  ensureBytes(kern, cBytes + xBytes + outBytes);
  const c = new Float32Array(kern.memory.buffer, 0, groups * 4 * dim);
  c.fill(0);
  for (let i = 0; i < k * dim; i++) c[i] = centroids[i];
  return { k, dim, groups, norms, offset: 0 };
}

/**
 * Nearest and second-nearest centroid (squared distances, float64 combination of float32 dot
 * products) for up to {@link BLOCK_ROWS} rows of `data`: rows `rows[0..count)` (or `start..start+count`
 * when `rows` is null).
 */
export function nearestTwoBlock(
  prepared: PreparedCentroids,
  data: Float32Array,
  rows: Int32Array | null,
  start: number,
  count: number,
  rowNorms: ArrayLike<number> | null,
  best: Int32Array,
  bestSq: Float64Array,
  secondSq: Float64Array,
): void {
  const kern = getKernel()!;
  const { dim, groups, k, norms } = prepared;
  const xOffset = groups * 4 * dim * 4;
  const outOffset = xOffset + BLOCK_ROWS * dim * 4;
  const x = new Float32Array(kern.memory.buffer, xOffset, count * dim);
  if (rows === null) x.set(data.subarray(start * dim, (start + count) * dim));
  else for (let r = 0; r < count; r++) x.set(data.subarray(rows[r] * dim, rows[r] * dim + dim), r * dim);
  kern.dots(xOffset, count, 0, groups, dim, outOffset);
  const dots = new Float32Array(kern.memory.buffer, outOffset, count * groups * 4);
  const stride = groups * 4;
  for (let r = 0; r < count; r++) {
    let xn: number;
    if (rowNorms !== null) xn = rowNorms[rows === null ? start + r : rows[r]];
    else {
      xn = 0;
      for (let t = 0; t < dim; t++) xn += x[r * dim + t] * x[r * dim + t];
    }
    let b1 = Infinity;
    let b2 = Infinity;
    let bi = 0;
    const o = r * stride;
    for (let j = 0; j < k; j++) {
      const d = xn - 2 * dots[o + j] + norms[j];
      if (d < b1) {
        b2 = b1;
        b1 = d;
        bi = j;
      } else if (d < b2) b2 = d;
    }
    best[r] = bi;
    bestSq[r] = b1 > 0 ? b1 : 0;
    secondSq[r] = b2 > 0 ? b2 : 0;
  }
}

/**
 * Raw float32 dot products of up to {@link BLOCK_ROWS} rows with the prepared centroids: row r,
 * centroid j at `[r·stride + j]` with `stride = groups·4`. The view is valid until the next call.
 */
export function blockDots(prepared: PreparedCentroids, data: Float32Array, rows: Int32Array | null, start: number, count: number): Float32Array {
  const kern = getKernel()!;
  const { dim, groups } = prepared;
  const xOffset = groups * 4 * dim * 4;
  const outOffset = xOffset + BLOCK_ROWS * dim * 4;
  const x = new Float32Array(kern.memory.buffer, xOffset, count * dim);
  if (rows === null) x.set(data.subarray(start * dim, (start + count) * dim));
  else for (let r = 0; r < count; r++) x.set(data.subarray(rows[r] * dim, rows[r] * dim + dim), r * dim);
  kern.dots(xOffset, count, 0, groups, dim, outOffset);
  return new Float32Array(kern.memory.buffer, outOffset, count * groups * 4);
}
