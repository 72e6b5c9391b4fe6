import { PruneError, assert } from '../errors.js';
import { type Shape, broadcastShapes } from '../shape.js';
import { Tensor } from '../tensor.js';
import { run } from './dispatch.js';
import { reshape, transpose } from './layout.js';

function shapeText(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

function checkFloat(op: string, value: unknown, what: string): asserts value is Tensor<'float32'> {
  if (!(value instanceof Tensor)) {
    throw new PruneError('INVALID_ARGUMENT', `${op}: ${what} must be a Tensor, got ${value === null ? 'null' : typeof value}`);
  }
  assert(value.dtype === 'float32', 'DTYPE_MISMATCH', () => `${op}: ${what} must be float32, got ${value.dtype}; cast it with cast(${what}, 'float32')`);
}

/** Checks a float32 batch of square matrices `[..., n, n]`. */
function checkSquare(op: string, x: unknown): asserts x is Tensor<'float32'> {
  checkFloat(op, x, 'x');
  const r = x.rank;
  assert(
    r >= 2 && x.shape[r - 1] === x.shape[r - 2],
    'SHAPE_MISMATCH',
    () => `${op}: needs square matrices [..., n, n], got shape ${shapeText(x.shape)}`,
  );
}

/** Transpose flags of {@link matmul}. */
export interface MatmulOptions {
  /**
   * Use the transpose of each matrix of `a` (its last two axes swapped).
   * @defaultValue false
   */
  transposeA?: boolean;
  /**
   * Use the transpose of each matrix of `b` (its last two axes swapped).
   * @defaultValue false
   */
  transposeB?: boolean;
}

/**
 * Matrix product over the last two axes, with leading (batch) axes broadcast numpy-style.
 * `a` is `[..., m, k]` (`[..., k, m]` with `transposeA`), `b` is `[..., k, n]`
 * (`[..., n, k]` with `transposeB`); the result is `[...batch, m, n]`.
 * @param a - float32, rank ≥ 2
 * @param b - float32, rank ≥ 2
 * @param options - transpose flags
 * @example
 * ```ts
 * const y = matmul(x, w, { transposeB: true }); // x·wᵀ, as a linear layer computes it
 * ```
 */
export function matmul(a: Tensor<'float32'>, b: Tensor<'float32'>, options: MatmulOptions = {}): Tensor<'float32'> {
  checkFloat('matmul', a, 'a');
  checkFloat('matmul', b, 'b');
  for (const [t, what] of [[a, 'a'], [b, 'b']] as const) {
    assert(
      t.rank >= 2,
      'SHAPE_MISMATCH',
      () => `matmul: ${what} has shape ${shapeText(t.shape)} but needs rank ≥ 2; use expandDims() for a vector, or dot()/outer()`,
    );
  }
  const transposeA = options.transposeA ?? false;
  const transposeB = options.transposeB ?? false;
  const ar = a.rank;
  const br = b.rank;
  const m = transposeA ? a.shape[ar - 1] : a.shape[ar - 2];
  const ka = transposeA ? a.shape[ar - 2] : a.shape[ar - 1];
  const kb = transposeB ? b.shape[br - 1] : b.shape[br - 2];
  const n = transposeB ? b.shape[br - 2] : b.shape[br - 1];
  assert(
    ka === kb,
    'SHAPE_MISMATCH',
    () =>
      `matmul: inner dimensions differ: a ${shapeText(a.shape)}${transposeA ? 'ᵀ' : ''} has ${ka} columns, b ${shapeText(b.shape)}${transposeB ? 'ᵀ' : ''} has ${kb} rows; check the shapes or the transpose flags`,
  );
  let batch: number[];
  try {
    batch = broadcastShapes(a.shape.slice(0, ar - 2), b.shape.slice(0, br - 2));
  } catch {
    throw new PruneError(
      'SHAPE_MISMATCH',
      `matmul: batch axes of a ${shapeText(a.shape)} and b ${shapeText(b.shape)} do not broadcast (numpy rules on all but the last two axes)`,
    );
  }
  const outShape = [...batch, m, n];
  return run('matmul', 'matmul', [a, b], (k, r) => k(r[0], r[1], { transposeA, transposeB, outShape }), {
    shape: outShape,
    dtype: 'float32',
  }) as Tensor<'float32'>;
}

/**
 * Inner product of two vectors of equal length, as a rank-0 tensor.
 * @param a - float32 `[k]`
 * @param b - float32 `[k]`
 */
export function dot(a: Tensor<'float32'>, b: Tensor<'float32'>): Tensor<'float32'> {
  checkFloat('dot', a, 'a');
  checkFloat('dot', b, 'b');
  assert(
    a.rank === 1 && b.rank === 1 && a.size === b.size,
    'SHAPE_MISMATCH',
    () => `dot: needs two vectors of equal length, got ${shapeText(a.shape)} and ${shapeText(b.shape)}`,
  );
  const row = reshape(a, [1, a.size]);
  const col = reshape(b, [b.size, 1]);
  const p = matmul(row, col);
  const out = reshape(p, []);
  for (const t of [row, col, p]) t.dispose();
  return out;
}

/**
 * Outer product `a·bᵀ` of two vectors: `[n]` and `[m]` give `[n, m]`.
 * @param a - float32 `[n]`
 * @param b - float32 `[m]`
 */
export function outer(a: Tensor<'float32'>, b: Tensor<'float32'>): Tensor<'float32'> {
  checkFloat('outer', a, 'a');
  checkFloat('outer', b, 'b');
  assert(a.rank === 1 && b.rank === 1, 'SHAPE_MISMATCH', () => `outer: needs two vectors, got ${shapeText(a.shape)} and ${shapeText(b.shape)}`);
  const col = reshape(a, [a.size, 1]);
  const row = reshape(b, [1, b.size]);
  const out = matmul(col, row);
  col.dispose();
  row.dispose();
  return out;
}

/** Options of {@link cholesky}. */
export interface CholeskyOptions {
  /**
   * Read the factor back and throw `NOT_POSITIVE_DEFINITE` when it holds NaN (the kernel's
   * signal for a matrix that is not positive definite). Turn off to skip the read-back and
   * test for NaN yourself.
   * @defaultValue true
   */
  check?: boolean;
  /**
   * Return the upper factor U with x = Uᵀ·U (the transpose of the lower factor) instead of
   * the lower factor L with x = L·Lᵀ.
   * @defaultValue false
   */
  upper?: boolean;
}

/**
 * Cholesky factor of each symmetric positive definite matrix in `x` `[..., n, n]`: the
 * lower triangular L with x = L·Lᵀ (or its transpose with `upper`). Only the lower triangle
 * of `x` is read. A matrix that is not positive definite gives an all-NaN factor; with
 * `check` (the default) that becomes a `NOT_POSITIVE_DEFINITE` error.
 * @param x - float32 `[..., n, n]`
 * @param options - read-back check and upper/lower choice
 * @example
 * ```ts
 * const l = cholesky(h); // h = l·lᵀ
 * ```
 */
export function cholesky(x: Tensor<'float32'>, options: CholeskyOptions = {}): Tensor<'float32'> {
  checkSquare('cholesky', x);
  const l = run('cholesky', 'cholesky', [x], (k, r) => k(r[0]), { shape: x.shape, dtype: 'float32' }) as Tensor<'float32'>;
  if (options.check ?? true) {
    const values = l.dataSync();
    const n = x.shape[x.rank - 1];
    const bad = values.findIndex((v) => Number.isNaN(v));
    if (bad >= 0) {
      l.dispose();
      const which = x.rank > 2 ? ` (matrix ${Math.floor(bad / (n * n))} of the batch)` : '';
      throw new PruneError(
        'NOT_POSITIVE_DEFINITE',
        `cholesky: the ${n}×${n} matrix${which} is not positive definite (or holds NaN/Infinity); add damping to its diagonal, e.g. x + λ·I with λ = 0.01·mean(diag(x)) as SparseGPT does, and retry`,
      );
    }
  }
  if (!options.upper) return l;
  const r = x.rank;
  const u = transpose(l, [...Array(r - 2).keys(), r - 1, r - 2]);
  l.dispose();
  return u;
}

/** Options of {@link triangularInverse}. */
export interface TriangularInverseOptions {
  /**
   * Whether the matrices are lower triangular (else upper). Only that triangle is read.
   * @defaultValue true
   */
  lower?: boolean;
}

/**
 * Inverse of each triangular matrix in `x` `[..., n, n]`, by substitution in float64 on the
 * reference backend. The result is triangular the same way. A zero on the diagonal
 * (a singular matrix) gives Infinity/NaN entries.
 * @param x - float32 `[..., n, n]`
 * @param options - which triangle holds the matrix
 */
export function triangularInverse(x: Tensor<'float32'>, options: TriangularInverseOptions = {}): Tensor<'float32'> {
  checkSquare('triangularInverse', x);
  const lower = options.lower ?? true;
  return run('triangularInverse', 'triangularInverse', [x], (k, r) => k(r[0], { lower }), { shape: x.shape, dtype: 'float32' }) as Tensor<'float32'>;
}

/**
 * Inverse of L·Lᵀ from its Cholesky factor L: (L·Lᵀ)⁻¹ = L⁻ᵀ·L⁻¹, computed from the
 * triangular inverse of L (torch's `cholesky_inverse`). SparseGPT uses it for the inverse
 * Hessian: H⁻¹ = choleskyInverse(cholesky(H)).
 * @param l - float32 lower triangular `[..., n, n]` with a positive diagonal
 * @returns the symmetric `[..., n, n]` inverse
 */
export function choleskyInverse(l: Tensor<'float32'>): Tensor<'float32'> {
  checkSquare('choleskyInverse', l);
  const li = triangularInverse(l, { lower: true });
  try {
    return matmul(li, li, { transposeA: true });
  } finally {
    li.dispose();
  }
}

/**
 * Cosine similarity of every row of `a` with every row of `b`: entry (i, j) is
 * aᵢ·bⱼ / (‖aᵢ‖·‖bⱼ‖). A zero row has similarity 0 with every row; a row holding NaN or
 * Infinity gives NaN.
 * @param a - float32 `[n, d]`
 * @param b - float32 `[m, d]`
 * @returns float32 `[n, m]`
 */
export function cosineSimilarity(a: Tensor<'float32'>, b: Tensor<'float32'>): Tensor<'float32'> {
  checkFloat('cosineSimilarity', a, 'a');
  checkFloat('cosineSimilarity', b, 'b');
  assert(
    a.rank === 2 && b.rank === 2 && a.shape[1] === b.shape[1],
    'SHAPE_MISMATCH',
    () => `cosineSimilarity: needs [n, d] and [m, d] with the same d, got ${shapeText(a.shape)} and ${shapeText(b.shape)}`,
  );
  const outShape = [a.shape[0], b.shape[0]];
  return run('cosineSimilarity', 'cosineSimilarity', [a, b], (k, r) => k(r[0], r[1], { outShape }), { shape: outShape, dtype: 'float32' }) as Tensor<'float32'>;
}
