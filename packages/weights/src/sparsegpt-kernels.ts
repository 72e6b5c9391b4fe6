import type { MatmulStructure } from '@prune/core/wasm';
import { runObsBlock } from './obs-block.js';
import { absKthBits } from './row-prune.js';

/**
 * Host kernels of SparseGPT on row-major typed arrays. The algorithm is matmul-bound, and
 * every inner loop here runs over contiguous rows with 4×4 register blocking (or skips the
 * zero half of the error matrix), so the O(n³) and O(d_out·d_in²) parts stay close to what a
 * scalar JIT can do. The public entry points with validation live in `sparsegpt.ts`.
 */

/** Rounds `n` up to a multiple of 4 (the register block). */
function padTo4(n: number): number {
  return (n + 3) & ~3;
}

/**
 * Lower Cholesky factor of the row-major `[np, np]` matrix in `m`, in place (the strict upper
 * triangle is left as it was). Row-oriented (Cholesky–Banachiewicz): every entry is a dot
 * product of two contiguous rows, computed four rows by four rows.
 * @returns the index of the first non-positive pivot, or -1 on success
 */
function choleskyInPlace(m: Float64Array, np: number): number {
  for (let i0 = 0; i0 < np; i0 += 4) {
    const r0 = i0 * np;
    const r1 = r0 + np;
    const r2 = r1 + np;
    const r3 = r2 + np;
    for (let j0 = 0; j0 <= i0; j0 += 4) {
      const q0 = j0 * np;
      const q1 = q0 + np;
      const q2 = q1 + np;
      const q3 = q2 + np;
      // s_ab = Σ_{k<j0} m[i0+a][k]·m[j0+b][k]
      let s00 = 0, s01 = 0, s02 = 0, s03 = 0;
      let s10 = 0, s11 = 0, s12 = 0, s13 = 0;
      let s20 = 0, s21 = 0, s22 = 0, s23 = 0;
      let s30 = 0, s31 = 0, s32 = 0, s33 = 0;
      for (let k = 0; k < j0; k++) {
        const a0 = m[r0 + k], a1 = m[r1 + k], a2 = m[r2 + k], a3 = m[r3 + k];
        const b0 = m[q0 + k], b1 = m[q1 + k], b2 = m[q2 + k], b3 = m[q3 + k];
        s00 += a0 * b0; s01 += a0 * b1; s02 += a0 * b2; s03 += a0 * b3;
        s10 += a1 * b0; s11 += a1 * b1; s12 += a1 * b2; s13 += a1 * b3;
        s20 += a2 * b0; s21 += a2 * b1; s22 += a2 * b2; s23 += a2 * b3;
        s30 += a3 * b0; s31 += a3 * b1; s32 += a3 * b2; s33 += a3 * b3;
      }
      const s = [s00, s01, s02, s03, s10, s11, s12, s13, s20, s21, s22, s23, s30, s31, s32, s33];
      // Finish the 4×4 block column by column: column j needs columns j0..j-1 done.
      for (let b = 0; b < 4; b++) {
        const j = j0 + b;
        const qj = j * np;
        for (let a = 0; a < 4; a++) {
          const i = i0 + a;
          if (j > i) continue;
          const ri = i * np;
          let v = m[ri + j] - s[a * 4 + b];
          for (let k = j0; k < j; k++) v -= m[ri + k] * m[qj + k];
          if (i === j) {
            if (!(v > 0)) return i;
            m[ri + i] = Math.sqrt(v);
          } else {
            m[ri + j] = v / m[qj + j];
          }
        }
      }
    }
  }
  return -1;
}

/**
 * Upper Cholesky factor U of H⁻¹ (H⁻¹ = Uᵀ·U) for a symmetric positive definite H, the
 * matrix SparseGPT calls `Hinv` (the reference computes it as
 * `cholesky(cholesky_inverse(cholesky(H)), upper=True)`).
 *
 * Computed with half the work of that chain and the same result in exact arithmetic: with J
 * the reversal permutation and M the lower Cholesky factor of J·H·J, H⁻¹ = J·M⁻ᵀ·M⁻¹·J =
 * (J·M⁻¹·J)ᵀ(J·M⁻¹·J), and J·M⁻¹·J is upper triangular with a positive diagonal — the unique
 * factor. One Cholesky (n³/6 multiply-adds) and one triangular inverse (n³/6), both in
 * float64 as dot products of contiguous rows.
 *
 * @param h - row-major `[n, n]` symmetric matrix (only its upper triangle is read)
 * @param n - its order
 * @returns `{ factor }` (row-major float32 `[n, n]`, zero below the diagonal), or
 *   `{ pivot }`: the column of H at which positive definiteness failed
 */
export function upperCholeskyOfInverse(h: ArrayLike<number>, n: number): { factor: Float32Array } | { pivot: number } {
  const np = padTo4(n);
  // P = J·H·J, padded with the identity (a block-diagonal matrix factors block by block).
  const m = new Float64Array(np * np);
  for (let a = 0; a < np; a++) {
    if (a >= n) {
      m[a * np + a] = 1;
      continue;
    }
    const src = (n - 1 - a) * n;
    for (let b = 0; b <= a; b++) m[a * np + b] = h[src + (n - 1 - b)];
  }
  const bad = choleskyInPlace(m, np);
  if (bad >= 0) return { pivot: n - 1 - bad };
  // Z = (M⁻¹)ᵀ, upper, row by row: Z[j][i] = (δ_ij − Σ_{k<i} M[i][k]·Z[j][k]) / M[i][i]
  // for i ≥ j (entries left of the diagonal are zero, so every sum may start at the block).
  // Four rows of Z at a time, then scattered into U = J·M⁻¹·J: U[n−1−i][n−1−j] = Z[j][i].
  const factor = new Float32Array(n * n);
  const z = new Float64Array(4 * np);
  for (let j0 = 0; j0 < np; j0 += 4) {
    z.fill(0);
    for (let i0 = j0; i0 < np; i0 += 4) {
      const r0 = i0 * np;
      const r1 = r0 + np;
      const r2 = r1 + np;
      const r3 = r2 + np;
      const z1 = np;
      const z2 = 2 * np;
      const z3 = 3 * np;
      // s_ab = Σ_{j0≤k<i0} M[i0+b][k]·Z[j0+a][k]
      let s00 = 0, s01 = 0, s02 = 0, s03 = 0;
      let s10 = 0, s11 = 0, s12 = 0, s13 = 0;
      let s20 = 0, s21 = 0, s22 = 0, s23 = 0;
      let s30 = 0, s31 = 0, s32 = 0, s33 = 0;
      for (let k = j0; k < i0; k++) {
        const b0 = m[r0 + k], b1 = m[r1 + k], b2 = m[r2 + k], b3 = m[r3 + k];
        const a0 = z[k], a1 = z[z1 + k], a2 = z[z2 + k], a3 = z[z3 + k];
        s00 += a0 * b0; s01 += a0 * b1; s02 += a0 * b2; s03 += a0 * b3;
        s10 += a1 * b0; s11 += a1 * b1; s12 += a1 * b2; s13 += a1 * b3;
        s20 += a2 * b0; s21 += a2 * b1; s22 += a2 * b2; s23 += a2 * b3;
        s30 += a3 * b0; s31 += a3 * b1; s32 += a3 * b2; s33 += a3 * b3;
      }
      const s = [s00, s01, s02, s03, s10, s11, s12, s13, s20, s21, s22, s23, s30, s31, s32, s33];
      for (let b = 0; b < 4; b++) {
        const i = i0 + b;
        const ri = i * np;
        const d = m[ri + i];
        for (let a = 0; a < 4; a++) {
          const zr = a * np;
          let v = (i === j0 + a ? 1 : 0) - s[a * 4 + b];
          for (let k = i0; k < i; k++) v -= m[ri + k] * z[zr + k];
          z[zr + i] = v / d;
        }
      }
    }
    for (let a = 0; a < 4; a++) {
      const j = j0 + a;
      if (j >= n) break;
      const col = n - 1 - j;
      const zr = a * np;
      for (let i = j; i < n; i++) factor[(n - 1 - i) * n + col] = z[zr + i];
    }
  }
  return { factor };
}

/**
 * The lazy batch update's product by a fast matrix product: returns Err·U[i1:i2, i2:] as a
 * row-major float32 `[rows, cols − i2]` array, for `err` a row-major `[rows, i2 − i1]` array.
 */
export type LazyUpdateProduct = (err: Float32Array, i1: number, i2: number) => Float32Array;

/** The sparsity pattern of one SparseGPT run, as the kernels take it. */
export type SparseGPTPattern = { readonly kind: 'unstructured'; readonly sparsity: number } | { readonly kind: 'nm'; readonly prune: number; readonly group: number };

/**
 * SparseGPT's block loop (Frantar & Alistarh, 2023, Algorithm 1; `fasterprune` in
 * IST-DASLab/sparsegpt), in place on `w`.
 *
 * For each block of B columns [i1, i2): choose the block's mask (unstructured: prune
 * W1²/diag(U1)² ≤ the value at floor(numel·s) of the whole block's sorted scores; N:M:
 * at every in-block column i with i % M = 0, per row the N smallest of that score over the
 * next M columns), then for each column: q = w with the pruned entries zeroed,
 * err = (w − q)/U[i,i], and the rest of the block's row absorbs −err·U[i, i:]. Finally the
 * columns right of the block absorb −Err1·U[i1:i2, i2:] (the lazy batch update).
 *
 * Rows are independent inside a block, so each row's column loop runs over a contiguous
 * segment; the lazy update skips the zero entries of Err1 (kept weights have err = 0), half
 * the work at 50% sparsity.
 *
 * @param w - row-major float32 `[rows, cols]` weights, replaced by the pruned, updated weights
 * @param rows - d_out
 * @param cols - d_in
 * @param u - row-major `[cols, cols]` upper factor from {@link upperCholeskyOfInverse}
 * @param pattern - unstructured sparsity or N:M (prune N of every M)
 * @param blockSize - B
 * @param product - computes the lazy update's product Err·U[i1:i2, i2:] with a fast matrix
 *   product (WebAssembly SIMD, a backend's native matmul), which is then subtracted on the
 *   host; without it the host loop runs over the non-zero errors
 * @returns keep mask, 1 = kept, row-major `[rows, cols]`
 */
export function sparsegptBlocks(
  w: Float32Array,
  rows: number,
  cols: number,
  u: Float32Array,
  pattern: SparseGPTPattern,
  blockSize: number,
  product?: LazyUpdateProduct,
): Uint8Array {
  const keep = new Uint8Array(rows * cols).fill(1);
  const err = new Float32Array(rows * blockSize);
  const scoreBuffer = new Float32Array(rows * blockSize);
  const diagSq = new Float32Array(blockSize);
  const nz = new Int32Array(blockSize);
  const nzErr = new Float64Array(blockSize);
  for (let i1 = 0; i1 < cols; i1 += blockSize) {
    const i2 = Math.min(i1 + blockSize, cols);
    const count = i2 - i1;
    for (let c = 0; c < count; c++) {
      const d = u[(i1 + c) * cols + i1 + c];
      diagSq[c] = Math.fround(d * d);
    }
    if (pattern.kind === 'unstructured' && pattern.sparsity > 0) {
      // tmp = W1² / diag(Hinv1)², in float32 as the reference rounds it.
      const numel = rows * count;
      const tmp = scoreBuffer.subarray(0, numel);
      for (let r = 0; r < rows; r++) {
        const base = r * cols + i1;
        for (let c = 0; c < count; c++) {
          const x = w[base + c];
          tmp[r * count + c] = Math.fround(Math.fround(x * x) / diagSq[c]);
        }
      }
      // The scores are non-negative floats, so their bits order like them: the exact k-th
      // smallest by a radix select over the bits, compared as integers.
      const threshold = absKthBits(tmp, Math.floor(numel * pattern.sparsity));
      const bits = new Int32Array(tmp.buffer, tmp.byteOffset, numel);
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < count; c++) if (bits[r * count + c] <= threshold) keep[r * cols + i1 + c] = 0;
      }
    }
    runObsBlock(
      {
        w,
        wAt: i1,
        wStride: cols,
        keep,
        keepAt: i1,
        keepStride: cols,
        u,
        uAt: i1 * cols + i1,
        uStride: cols,
        err,
        errStride: blockSize,
        count,
        diagSq,
        prune: pattern.kind === 'nm' ? pattern.prune : 0,
        group: pattern.kind === 'nm' ? pattern.group : 0,
      },
      rows,
    );
    if (i2 === cols) continue;
    const tail = cols - i2;
    if (product !== undefined) {
      // Every block but the last is full, so err is exactly [rows, count] row-major.
      const p = product(count === blockSize ? err : err.subarray(0, rows * count), i1, i2);
      for (let r = 0; r < rows; r++) {
        const wr = r * cols + i2;
        const pr = r * tail;
        for (let j = 0; j < tail; j++) w[wr + j] -= p[pr + j];
      }
      continue;
    }
    // Lazy batch update W[:, i2:] −= Err1·U[i1:i2, i2:], over the non-zero errors only.
    for (let r = 0; r < rows; r++) {
      let nnz = 0;
      const eBase = r * blockSize;
      for (let c = 0; c < count; c++) {
        const e = err[eBase + c];
        if (e !== 0) {
          nz[nnz] = (i1 + c) * cols + i2;
          nzErr[nnz] = e;
          nnz++;
        }
      }
      const wr = r * cols + i2;
      let t = 0;
      for (; t + 3 < nnz; t += 4) {
        const e0 = nzErr[t], e1 = nzErr[t + 1], e2 = nzErr[t + 2], e3 = nzErr[t + 3];
        const u0 = nz[t], u1 = nz[t + 1], u2 = nz[t + 2], u3 = nz[t + 3];
        for (let j = 0; j < tail; j++) {
          w[wr + j] -= e0 * u[u0 + j] + e1 * u[u1 + j] + e2 * u[u2 + j] + e3 * u[u3 + j];
        }
      }
      for (; t < nnz; t++) {
        const e0 = nzErr[t];
        const u0 = nz[t];
        for (let j = 0; j < tail; j++) w[wr + j] -= e0 * u[u0 + j];
      }
    }
  }
  return keep;
}

/**
 * C = A·B for row-major float32 A `[m, k]` and B `[k, n]`, on some engine (WebAssembly SIMD, a
 * backend's matmul); `structure` tells which blocks of zeros it may skip.
 */
export type Gemm = (a: Float32Array, b: Float32Array, m: number, k: number, n: number, structure?: MatmulStructure) => Float32Array;

/** Row-major transpose of `[rows, cols]`. */
function transposed(a: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = a[r * cols + c];
  return t;
}

/** Lower Cholesky factor L of a small symmetric `[n, n]` matrix and L⁻¹, on the host in float64. */
function hostCholeskyAndInverse(p: Float32Array, n: number): { l: Float32Array; li: Float32Array } | { pivot: number } {
  const np = padTo4(n);
  const m = new Float64Array(np * np);
  for (let a = 0; a < np; a++) {
    if (a >= n) m[a * np + a] = 1;
    else for (let b = 0; b <= a; b++) m[a * np + b] = p[a * n + b];
  }
  const bad = choleskyInPlace(m, np);
  if (bad >= 0) return { pivot: bad };
  const l = new Float32Array(n * n);
  const li = new Float32Array(n * n);
  // Column j of L⁻¹ by forward substitution: X[i][j] = (δ_ij − Σ_{j≤k<i} L[i][k]·X[k][j]) / L[i][i].
  const col = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    col.fill(0);
    for (let i = j; i < n; i++) {
      const ri = i * np;
      let v = i === j ? 1 : 0;
      for (let k = j; k < i; k++) v -= m[ri + k] * col[k];
      col[i] = v / m[ri + i];
      li[i * n + j] = col[i];
    }
    for (let i = j; i < n; i++) l[i * n + j] = m[i * np + j];
  }
  return { l, li };
}

/**
 * Lower Cholesky factor L of the symmetric positive definite `[n, n]` matrix P (row-major;
 * its lower triangle is read) together with L⁻¹, by recursive halving, so that almost all
 * of the O(n³) work is four matrix products per level, done by `gemm`:
 * with P = [[A, ·], [B, C]], L₁₁ = chol(A), L₂₁ = B·L₁₁⁻ᵀ, L₂₂ = chol(C − L₂₁·L₂₁ᵀ), and
 * L⁻¹ = [[L₁₁⁻¹, 0], [−L₂₂⁻¹·L₂₁·L₁₁⁻¹, L₂₂⁻¹]]. Blocks of at most `base` rows run on the
 * host in float64.
 */
function choleskyAndInverse(p: Float32Array, n: number, gemm: Gemm, base: number): { l: Float32Array; li: Float32Array } | { pivot: number } {
  if (n <= base) return hostCholeskyAndInverse(p, n);
  const n1 = padTo4(n >> 1);
  const n2 = n - n1;
  const a = new Float32Array(n1 * n1);
  const b = new Float32Array(n2 * n1);
  const c = new Float32Array(n2 * n2);
  for (let i = 0; i < n1; i++) a.set(p.subarray(i * n, i * n + n1), i * n1);
  for (let i = 0; i < n2; i++) {
    const row = (n1 + i) * n;
    b.set(p.subarray(row, row + n1), i * n1);
    c.set(p.subarray(row + n1, row + n), i * n2);
  }
  const first = choleskyAndInverse(a, n1, gemm, base);
  if ('pivot' in first) return first;
  // L₁₁⁻ᵀ is upper triangular, L₂₁·L₂₁ᵀ symmetric, L₁₁⁻¹ and L₂₂⁻¹ lower triangular: the
  // products skip the zero halves.
  const l21 = gemm(b, transposed(first.li, n1, n1), n2, n1, n1, { bUpper: true });
  const q = gemm(l21, transposed(l21, n2, n1), n2, n1, n2, { symmetric: true });
  for (let i = 0; i < c.length; i++) c[i] -= q[i];
  const second = choleskyAndInverse(c, n2, gemm, base);
  if ('pivot' in second) return { pivot: n1 + second.pivot };
  const x21 = gemm(second.li, gemm(l21, first.li, n2, n1, n1, { bLower: true }), n2, n2, n1, { aLower: true });
  const l = new Float32Array(n * n);
  const li = new Float32Array(n * n);
  for (let i = 0; i < n1; i++) {
    l.set(first.l.subarray(i * n1, (i + 1) * n1), i * n);
    li.set(first.li.subarray(i * n1, (i + 1) * n1), i * n);
  }
  for (let i = 0; i < n2; i++) {
    const row = (n1 + i) * n;
    l.set(l21.subarray(i * n1, (i + 1) * n1), row);
    l.set(second.l.subarray(i * n2, (i + 1) * n2), row + n1);
    for (let j = 0; j < n1; j++) li[row + j] = -x21[i * n1 + j];
    li.set(second.li.subarray(i * n2, (i + 1) * n2), row + n1);
  }
  return { l, li };
}

/**
 * {@link upperCholeskyOfInverse} with the O(n³) work as matrix products on `gemm` (a
 * backend's native matmul): the same reversal (U = J·M⁻¹·J with M the lower Cholesky factor
 * of J·H·J), M and M⁻¹ by recursive halving down to blocks of `base` rows factored on the
 * host in float64. The products round to float32, as the reference's float32 LAPACK chain
 * does.
 *
 * @param h - row-major `[n, n]` symmetric matrix (only its upper triangle is read)
 * @param n - its order
 * @param gemm - the matrix product
 * @param base - largest block factored on the host
 * @returns `{ factor }` (row-major float32 `[n, n]`, zero below the diagonal), or `{ pivot }`
 */
export function upperCholeskyOfInverseBlocked(h: ArrayLike<number>, n: number, gemm: Gemm, base = 256): { factor: Float32Array } | { pivot: number } {
  // P = J·H·J: P[a][b] = H[n−1−a][n−1−b]; its lower triangle is H's upper one.
  const p = new Float32Array(n * n);
  for (let a = 0; a < n; a++) {
    const src = (n - 1 - a) * n;
    for (let b = 0; b <= a; b++) p[a * n + b] = h[src + (n - 1 - b)];
  }
  const result = choleskyAndInverse(p, n, gemm, Math.max(4, base));
  if ('pivot' in result) return { pivot: n - 1 - result.pivot };
  const factor = new Float32Array(n * n);
  const x = result.li;
  for (let a = 0; a < n; a++) for (let b = 0; b <= a; b++) factor[(n - 1 - a) * n + (n - 1 - b)] = x[a * n + b];
  return { factor };
}
