import type { TypedArray } from '../dtype.js';
import type { Kernels } from '../kernels.js';
import { type Shape, sizeOf, stridesOf } from '../shape.js';

// Column panel width of the matmul: four float64 accumulator rows of this width plus four
// rows of B stay in L1 while the full inner dimension streams through.
const PANEL = 512;

/**
 * For every flat index over `outBatch`, the flat index of the matching batch in `inBatch`
 * (right-aligned numpy broadcasting: a size-1 or missing axis repeats).
 */
function batchIndexMap(outBatch: Shape, inBatch: Shape): Int32Array {
  const count = sizeOf(outBatch);
  const map = new Int32Array(count);
  const rank = outBatch.length;
  const offset = rank - inBatch.length;
  const inStrides = stridesOf(inBatch);
  const idx = new Array<number>(rank).fill(0);
  for (let f = 0; f < count; f++) {
    let src = 0;
    for (let a = offset; a < rank; a++) {
      if (inBatch[a - offset] !== 1) src += idx[a] * inStrides[a - offset];
    }
    map[f] = src;
    for (let a = rank - 1; a >= 0; a--) {
      if (++idx[a] < outBatch[a]) break;
      idx[a] = 0;
    }
  }
  return map;
}

/**
 * Accumulates rows `i0..i0+3` of A·B into `c0..c3` for columns `j0..j0+width-1` of the
 * row-major `[k, n]` matrix B starting at `bOff`. Element (i, p) of A is
 * `a[aOff + i·rs + p·cs]`, so a transposed A costs only strided scalar loads.
 */
function panel4(
  a: Float32Array, aOff: number, rs: number, cs: number, i0: number, k: number,
  b: Float32Array, bOff: number, n: number, j0: number, width: number,
  c0: Float64Array, c1: Float64Array, c2: Float64Array, c3: Float64Array,
): void {
  const r0 = aOff + i0 * rs;
  const r1 = r0 + rs;
  const r2 = r1 + rs;
  const r3 = r2 + rs;
  let p = 0;
  // Four inner-dimension steps per pass: each accumulator is loaded and stored once per
  // four multiply-adds, which is what makes this loop fast in a JIT without SIMD.
  for (; p + 3 < k; p += 4) {
    const q0 = p * cs;
    const q1 = q0 + cs;
    const q2 = q1 + cs;
    const q3 = q2 + cs;
    const a00 = a[r0 + q0], a01 = a[r0 + q1], a02 = a[r0 + q2], a03 = a[r0 + q3];
    const a10 = a[r1 + q0], a11 = a[r1 + q1], a12 = a[r1 + q2], a13 = a[r1 + q3];
    const a20 = a[r2 + q0], a21 = a[r2 + q1], a22 = a[r2 + q2], a23 = a[r2 + q3];
    const a30 = a[r3 + q0], a31 = a[r3 + q1], a32 = a[r3 + q2], a33 = a[r3 + q3];
    const b0 = bOff + p * n + j0;
    const b1 = b0 + n;
    const b2 = b1 + n;
    const b3 = b2 + n;
    for (let j = 0; j < width; j++) {
      const x0 = b[b0 + j], x1 = b[b1 + j], x2 = b[b2 + j], x3 = b[b3 + j];
      c0[j] += a00 * x0 + a01 * x1 + a02 * x2 + a03 * x3;
      c1[j] += a10 * x0 + a11 * x1 + a12 * x2 + a13 * x3;
      c2[j] += a20 * x0 + a21 * x1 + a22 * x2 + a23 * x3;
      c3[j] += a30 * x0 + a31 * x1 + a32 * x2 + a33 * x3;
    }
  }
  for (; p < k; p++) {
    const q = p * cs;
    const a0 = a[r0 + q], a1 = a[r1 + q], a2 = a[r2 + q], a3 = a[r3 + q];
    const bp = bOff + p * n + j0;
    for (let j = 0; j < width; j++) {
      const x = b[bp + j];
      c0[j] += a0 * x;
      c1[j] += a1 * x;
      c2[j] += a2 * x;
      c3[j] += a3 * x;
    }
  }
}

/** One-row version of {@link panel4} for the rows left over when m is not a multiple of 4. */
function panel1(
  a: Float32Array, aOff: number, rs: number, cs: number, i: number, k: number,
  b: Float32Array, bOff: number, n: number, j0: number, width: number,
  c0: Float64Array,
): void {
  const r0 = aOff + i * rs;
  let p = 0;
  for (; p + 3 < k; p += 4) {
    const q0 = r0 + p * cs;
    const a0 = a[q0], a1 = a[q0 + cs], a2 = a[q0 + 2 * cs], a3 = a[q0 + 3 * cs];
    const b0 = bOff + p * n + j0;
    const b1 = b0 + n;
    const b2 = b1 + n;
    const b3 = b2 + n;
    for (let j = 0; j < width; j++) {
      c0[j] += a0 * b[b0 + j] + a1 * b[b1 + j] + a2 * b[b2 + j] + a3 * b[b3 + j];
    }
  }
  for (; p < k; p++) {
    const a0 = a[r0 + p * cs];
    const bp = bOff + p * n + j0;
    for (let j = 0; j < width; j++) c0[j] += a0 * b[bp + j];
  }
}

/**
 * C = A·B for one matrix pair: C is `[m, n]` at `cOff`, B is row-major `[k, n]` at `bOff`,
 * A is addressed through row stride `rs` and column stride `cs`. Sums run in float64.
 */
function gemm(
  a: Float32Array, aOff: number, rs: number, cs: number,
  b: Float32Array, bOff: number,
  c: Float32Array, cOff: number,
  m: number, k: number, n: number,
  acc: Float64Array[],
): void {
  const [c0, c1, c2, c3] = acc;
  for (let j0 = 0; j0 < n; j0 += PANEL) {
    const width = Math.min(PANEL, n - j0);
    let i = 0;
    for (; i + 3 < m; i += 4) {
      c0.fill(0, 0, width);
      c1.fill(0, 0, width);
      c2.fill(0, 0, width);
      c3.fill(0, 0, width);
      panel4(a, aOff, rs, cs, i, k, b, bOff, n, j0, width, c0, c1, c2, c3);
      const o = cOff + i * n + j0;
      for (let j = 0; j < width; j++) {
        c[o + j] = c0[j];
        c[o + n + j] = c1[j];
        c[o + 2 * n + j] = c2[j];
        c[o + 3 * n + j] = c3[j];
      }
    }
    for (; i < m; i++) {
      c0.fill(0, 0, width);
      panel1(a, aOff, rs, cs, i, k, b, bOff, n, j0, width, c0);
      const o = cOff + i * n + j0;
      for (let j = 0; j < width; j++) c[o + j] = c0[j];
    }
  }
}

/** Row-major transpose of each `[rows, cols]` matrix in `src` (`count` of them), in 32×32 tiles. */
function transposeMatrices(src: Float32Array, count: number, rows: number, cols: number): Float32Array {
  const out = new Float32Array(src.length);
  const T = 32;
  for (let q = 0; q < count; q++) {
    const off = q * rows * cols;
    for (let r0 = 0; r0 < rows; r0 += T) {
      const r1 = Math.min(rows, r0 + T);
      for (let s0 = 0; s0 < cols; s0 += T) {
        const s1 = Math.min(cols, s0 + T);
        for (let r = r0; r < r1; r++) {
          for (let s = s0; s < s1; s++) out[off + s * rows + r] = src[off + r * cols + s];
        }
      }
    }
  }
  return out;
}

const matmul: Kernels<TypedArray>['matmul'] = (a, b, { transposeA, transposeB, outShape }) => {
  const rank = outShape.length;
  const m = outShape[rank - 2];
  const n = outShape[rank - 1];
  const ar = a.shape.length;
  const k = transposeA ? a.shape[ar - 2] : a.shape[ar - 1];
  const out = new Float32Array(sizeOf(outShape));
  if (out.length === 0 || k === 0) return out;
  const batch = outShape.slice(0, rank - 2);
  const aMap = batchIndexMap(batch, a.shape.slice(0, ar - 2));
  const bMap = batchIndexMap(batch, b.shape.slice(0, b.shape.length - 2));
  const av = a.handle as Float32Array;
  // The fast loop wants B as row-major [k, n]; a transposed B is packed once (O(k·n)
  // against the O(m·k·n) product).
  const bCount = sizeOf(b.shape.slice(0, b.shape.length - 2));
  const bv = transposeB ? transposeMatrices(b.handle as Float32Array, bCount, n, k) : (b.handle as Float32Array);
  // A stored [m, k]: row stride k, column stride 1; stored [k, m] (transposeA): m and 1.
  const rs = transposeA ? 1 : k;
  const cs = transposeA ? m : 1;
  const width = Math.min(PANEL, n);
  const acc = [0, 1, 2, 3].map(() => new Float64Array(width));
  for (let q = 0; q < aMap.length; q++) {
    gemm(av, aMap[q] * m * k, rs, cs, bv, bMap[q] * k * n, out, q * m * n, m, k, n, acc);
  }
  return out;
};

/**
 * Lower Cholesky factor of the `[n, n]` matrix at `off` in `src`, into `out` at the same
 * offset. Reads only the lower triangle. Row-oriented (Cholesky–Banachiewicz) in float64,
 * four rows at a time so each previously computed row is read once per block of four.
 * Returns false (leaving `out` partly written) when a pivot is not positive.
 */
function choleskyOne(src: Float32Array, out: Float32Array, off: number, n: number, w: Float64Array): boolean {
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) w[i * n + j] = src[off + i * n + j];
  }
  let i0 = 0;
  for (; i0 < n; i0 += 4) {
    const rows = Math.min(4, n - i0);
    if (rows === 4) {
      const r0 = i0 * n;
      const r1 = r0 + n;
      const r2 = r1 + n;
      const r3 = r2 + n;
      let j = 0;
      // Two columns × four rows: eight independent sums keep the FPU busy.
      for (; j + 1 < i0; j += 2) {
        const rj = j * n;
        const rk = rj + n;
        let s0 = w[r0 + j], s1 = w[r1 + j], s2 = w[r2 + j], s3 = w[r3 + j];
        let t0 = w[r0 + j + 1], t1 = w[r1 + j + 1], t2 = w[r2 + j + 1], t3 = w[r3 + j + 1];
        for (let p = 0; p < j; p++) {
          const l = w[rj + p];
          const m = w[rk + p];
          const x0 = w[r0 + p], x1 = w[r1 + p], x2 = w[r2 + p], x3 = w[r3 + p];
          s0 -= x0 * l;
          s1 -= x1 * l;
          s2 -= x2 * l;
          s3 -= x3 * l;
          t0 -= x0 * m;
          t1 -= x1 * m;
          t2 -= x2 * m;
          t3 -= x3 * m;
        }
        const d = w[rj + j];
        s0 /= d;
        s1 /= d;
        s2 /= d;
        s3 /= d;
        w[r0 + j] = s0;
        w[r1 + j] = s1;
        w[r2 + j] = s2;
        w[r3 + j] = s3;
        // Column j+1 also needs the term with column j, just computed.
        const m = w[rk + j];
        const e = w[rk + j + 1];
        w[r0 + j + 1] = (t0 - s0 * m) / e;
        w[r1 + j + 1] = (t1 - s1 * m) / e;
        w[r2 + j + 1] = (t2 - s2 * m) / e;
        w[r3 + j + 1] = (t3 - s3 * m) / e;
      }
      for (; j < i0; j++) {
        const rj = j * n;
        let s0 = w[r0 + j], s1 = w[r1 + j], s2 = w[r2 + j], s3 = w[r3 + j];
        for (let p = 0; p < j; p++) {
          const l = w[rj + p];
          s0 -= w[r0 + p] * l;
          s1 -= w[r1 + p] * l;
          s2 -= w[r2 + p] * l;
          s3 -= w[r3 + p] * l;
        }
        const d = w[rj + j];
        w[r0 + j] = s0 / d;
        w[r1 + j] = s1 / d;
        w[r2 + j] = s2 / d;
        w[r3 + j] = s3 / d;
      }
    } else {
      for (let r = i0; r < n; r++) {
        const ri = r * n;
        for (let j = 0; j < i0; j++) {
          const rj = j * n;
          let s = w[ri + j];
          for (let p = 0; p < j; p++) s -= w[ri + p] * w[rj + p];
          w[ri + j] = s / w[rj + j];
        }
      }
    }
    // The triangle inside the block depends on its own rows, so it goes in order.
    for (let i = i0; i < i0 + rows; i++) {
      const ri = i * n;
      for (let j = i0; j <= i; j++) {
        const rj = j * n;
        let s = w[ri + j];
        for (let p = 0; p < j; p++) s -= w[ri + p] * w[rj + p];
        if (i === j) {
          // `!(s > 0)` also catches NaN from non-finite input.
          if (!(s > 0)) return false;
          w[ri + i] = Math.sqrt(s);
        } else {
          w[ri + j] = s / w[rj + j];
        }
      }
    }
  }
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) out[off + i * n + j] = w[i * n + j];
  }
  return true;
}

const cholesky: Kernels<TypedArray>['cholesky'] = (x) => {
  const r = x.shape.length;
  const n = x.shape[r - 1];
  const src = x.handle as Float32Array;
  const out = new Float32Array(src.length);
  if (n === 0) return out;
  const count = src.length / (n * n);
  const w = new Float64Array(n * n);
  for (let q = 0; q < count; q++) {
    const off = q * n * n;
    // A matrix that is not positive definite comes out entirely NaN: one clear signal
    // that every backend can reproduce, whatever its elimination order.
    if (!choleskyOne(src, out, off, n, w)) out.fill(NaN, off, off + n * n);
  }
  return out;
};

/**
 * Inverse of the lower triangular `[n, n]` matrix held in float64 `l` (upper triangle
 * ignored), written into `x` (zero-filled by the caller). Row i of L⁻¹ is
 * (eᵢ − Σ_{p<i} L[i,p]·X[p,:]) / L[i,i]; four rows are formed together so each earlier row
 * of X is read once per block.
 */
function lowerInverse(l: Float64Array, x: Float64Array, n: number): void {
  for (let i0 = 0; i0 < n; i0 += 4) {
    const rows = Math.min(4, n - i0);
    for (let r = 0; r < rows; r++) x[(i0 + r) * n + i0 + r] = 1;
    // Contributions of the rows above the block: X_i[0..p] -= L[i,p]·X_p[0..p]. Rows of X
    // are zero right of the diagonal, so four consecutive p share one loop over c ≤ p+3.
    let p = 0;
    if (rows === 4) {
      const r0 = i0 * n;
      const r1 = r0 + n;
      const r2 = r1 + n;
      const r3 = r2 + n;
      for (; p + 3 < i0; p += 4) {
        const x0 = p * n;
        const x1 = x0 + n;
        const x2 = x1 + n;
        const x3 = x2 + n;
        const l00 = l[r0 + p], l01 = l[r0 + p + 1], l02 = l[r0 + p + 2], l03 = l[r0 + p + 3];
        const l10 = l[r1 + p], l11 = l[r1 + p + 1], l12 = l[r1 + p + 2], l13 = l[r1 + p + 3];
        const l20 = l[r2 + p], l21 = l[r2 + p + 1], l22 = l[r2 + p + 2], l23 = l[r2 + p + 3];
        const l30 = l[r3 + p], l31 = l[r3 + p + 1], l32 = l[r3 + p + 2], l33 = l[r3 + p + 3];
        const end = p + 3;
        for (let c = 0; c <= end; c++) {
          const v0 = x[x0 + c], v1 = x[x1 + c], v2 = x[x2 + c], v3 = x[x3 + c];
          x[r0 + c] -= l00 * v0 + l01 * v1 + l02 * v2 + l03 * v3;
          x[r1 + c] -= l10 * v0 + l11 * v1 + l12 * v2 + l13 * v3;
          x[r2 + c] -= l20 * v0 + l21 * v1 + l22 * v2 + l23 * v3;
          x[r3 + c] -= l30 * v0 + l31 * v1 + l32 * v2 + l33 * v3;
        }
      }
    }
    for (; p < i0; p++) {
      const xp = p * n;
      for (let r = 0; r < rows; r++) {
        const ri = (i0 + r) * n;
        const lv = l[ri + p];
        for (let c = 0; c <= p; c++) x[ri + c] -= lv * x[xp + c];
      }
    }
    // Inside the block, in order.
    for (let r = 0; r < rows; r++) {
      const i = i0 + r;
      const ri = i * n;
      for (let p = i0; p < i; p++) {
        const lv = l[ri + p];
        const xp = p * n;
        for (let c = 0; c <= p; c++) x[ri + c] -= lv * x[xp + c];
      }
      const d = l[ri + i];
      for (let c = 0; c <= i; c++) x[ri + c] /= d;
    }
  }
}

const triangularInverse: Kernels<TypedArray>['triangularInverse'] = (x, { lower }) => {
  const r = x.shape.length;
  const n = x.shape[r - 1];
  const src = x.handle as Float32Array;
  const out = new Float32Array(src.length);
  if (n === 0) return out;
  const count = src.length / (n * n);
  const l = new Float64Array(n * n);
  const inv = new Float64Array(n * n);
  for (let q = 0; q < count; q++) {
    const off = q * n * n;
    // An upper matrix U is inverted as (Uᵀ)⁻¹ᵀ so one lower routine serves both.
    for (let i = 0; i < n; i++) {
      for (let j = 0; j <= i; j++) l[i * n + j] = lower ? src[off + i * n + j] : src[off + j * n + i];
    }
    inv.fill(0);
    lowerInverse(l, inv, n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j <= i; j++) {
        if (lower) out[off + i * n + j] = inv[i * n + j];
        else out[off + j * n + i] = inv[i * n + j];
      }
    }
  }
  return out;
};

/**
 * Rows of the `[rows, d]` matrix scaled to unit L2 norm (norm taken in float64). Zero rows
 * stay zero; rows with a NaN or infinite element become NaN so it propagates to their
 * similarities.
 */
function unitRows(v: Float32Array, rows: number, d: number): Float32Array {
  const out = new Float32Array(rows * d);
  for (let i = 0; i < rows; i++) {
    const o = i * d;
    let ss = 0;
    for (let p = 0; p < d; p++) ss += v[o + p] * v[o + p];
    if (!Number.isFinite(ss)) out.fill(NaN, o, o + d);
    else if (ss > 0) {
      const inv = 1 / Math.sqrt(ss);
      for (let p = 0; p < d; p++) out[o + p] = v[o + p] * inv;
    }
  }
  return out;
}

const cosineSimilarity: Kernels<TypedArray>['cosineSimilarity'] = (a, b, { outShape }) => {
  const [n, m] = outShape;
  const d = a.shape[1];
  const out = new Float32Array(n * m);
  if (out.length === 0 || d === 0) return out;
  // Normalise once, then one product of unit rows: Â·B̂ᵀ with float64 sums. Rounding the
  // unit rows to float32 moves a similarity by at most ~1e-7, below output rounding scale.
  const an = unitRows(a.handle as Float32Array, n, d);
  const bnT = transposeMatrices(unitRows(b.handle as Float32Array, m, d), 1, m, d);
  const width = Math.min(PANEL, m);
  const acc = [0, 1, 2, 3].map(() => new Float64Array(width));
  gemm(an, 0, d, 1, bnT, 0, out, 0, n, d, m, acc);
  return out;
};

/**
 * Reference kernels: matrix product, Cholesky factorisation, triangular inverse and
 * pairwise cosine similarity, all accumulating in float64.
 */
export const linalgKernels: Partial<Kernels<TypedArray>> = {
  matmul,
  cholesky,
  triangularInverse,
  cosineSimilarity,
};
