import type { Backend } from '../../backend.js';
import { fromArray } from '../../ops/creation.js';
import { cholesky, choleskyInverse, cosineSimilarity, matmul, triangularInverse } from '../../ops/linalg.js';
import { Random } from '../../random.js';
import { tidy } from '../../scope.js';
import type { Shape } from '../../shape.js';
import type { Tensor } from '../../tensor.js';
import { type ConformanceCase, EXACT, type Tolerance } from '../conformance.js';
import { randomInput } from '../inputs.js';

function shapeName(shape: Shape): string {
  return `[${shape.join(',')}]`;
}

function f32(backend: Backend, shape: Shape, seed: number, specials?: readonly number[]): Tensor<'float32'> {
  return randomInput(backend, shape, { seed, specials }) as Tensor<'float32'>;
}

/**
 * Tolerance of a product with inner dimension `k`. Inputs are uniform in [-2, 2), so an
 * entry of the result is a sum of k terms of random sign with typical size ~1.3·√k. An
 * absolute tolerance of 1e-4·√k is therefore a fixed 1e-4 relative error against a typical
 * entry, and holds for entries that cancel to near zero (where rtol alone would demand more
 * than float32 sums can give); rtol 1e-4 covers the large ones. A plain float32 running sum
 * errs by about 6e-8·1.3·k/√2 — 4e-5 at k = 257, well inside 1e-4·√257 = 1.6e-3.
 */
function matmulTolerance(k: number): Tolerance {
  return { atol: 1e-4 * Math.sqrt(Math.max(k, 1)), rtol: 1e-4 };
}

const matmulCases: ConformanceCase[] = [];
function addMatmul(name: string, aShape: Shape, bShape: Shape, transposeA: boolean, transposeB: boolean, seed: number, specials?: readonly number[]): void {
  const k = transposeA ? aShape[aShape.length - 2] : aShape[aShape.length - 1];
  const flags = `${transposeA ? 'Aᵀ' : 'A'}·${transposeB ? 'Bᵀ' : 'B'}`;
  matmulCases.push({
    kernel: 'matmul',
    name: `${name} ${flags} ${shapeName(aShape)} × ${shapeName(bShape)}`,
    tolerance: matmulTolerance(k),
    run: (b) => tidy(() => matmul(f32(b, aShape, seed, specials), f32(b, bShape, seed + 1), { transposeA, transposeB })),
  });
}

// Square sizes that are not multiples of any block size.
for (const n of [1, 7, 33, 65, 129]) addMatmul('square', [n, n], [n, n], false, false, 1000 + n);
addMatmul('rectangular', [257, 33], [33, 129], false, false, 1300);
addMatmul('wide panel', [5, 65], [65, 600], false, false, 1310);
addMatmul('vector-matrix', [1, 257], [257, 65], false, false, 1320);
addMatmul('matrix-vector', [65, 257], [257, 1], false, false, 1330);
// All four transpose combinations on the same logical [33, 65] × [65, 7] product.
addMatmul('flags', [33, 65], [65, 7], false, false, 1400);
addMatmul('flags', [65, 33], [65, 7], true, false, 1410);
addMatmul('flags', [33, 65], [7, 65], false, true, 1420);
addMatmul('flags', [65, 33], [7, 65], true, true, 1430);
// Batched, with broadcasting batch axes.
addMatmul('batched', [3, 7, 33], [3, 33, 5], false, false, 1500);
addMatmul('broadcast batch', [2, 1, 7, 33], [3, 33, 5], false, false, 1510);
addMatmul('broadcast batch', [4, 9, 17], [17, 6], false, false, 1520);
addMatmul('broadcast batch', [9, 17], [4, 17, 6], false, false, 1530);
addMatmul('broadcast batch', [1, 8, 5], [3, 2, 8], true, true, 1540);
addMatmul('broadcast batch', [2, 3, 8, 5], [2, 1, 8, 6], true, false, 1550);
// Empty and degenerate shapes: k = 0 gives zeros.
addMatmul('empty m', [0, 5], [5, 3], false, false, 1600);
addMatmul('empty k', [4, 0], [0, 3], false, false, 1610);
addMatmul('empty n', [4, 5], [5, 0], false, false, 1620);
addMatmul('empty batch', [0, 3, 4], [4, 2], false, false, 1630);
// NaN rule: a NaN in A makes its whole output row NaN (IEEE propagation).
addMatmul('NaN propagates along the row', [7, 33], [33, 9], false, false, 1700, [NaN]);

/** A float32 `[..., n, n]` SPD matrix A·Aᵀ + n·I (A uniform in [-2, 2)), built on the host. */
function spdData(n: number, count: number, seed: number): Float32Array {
  const rng = new Random(seed);
  const out = new Float32Array(count * n * n);
  for (let q = 0; q < count; q++) {
    const a = Float64Array.from({ length: n * n }, () => 4 * rng.uniform() - 2);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        let s = i === j ? n : 0;
        for (let p = 0; p < n; p++) s += a[i * n + p] * a[j * n + p];
        out[q * n * n + i * n + j] = s;
      }
    }
  }
  return out;
}

/**
 * Rank-r Gram matrix plus a small ridge: B·Bᵀ + δ·I with B `[n, r]`. The shape of a
 * calibration Hessian XᵀX from few samples plus damping; condition number ≈ 9e3 here.
 */
function illConditionedData(n: number, r: number, ridge: number, seed: number): Float32Array {
  const rng = new Random(seed);
  const b = Float64Array.from({ length: n * r }, () => 4 * rng.uniform() - 2);
  const out = new Float32Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = i === j ? ridge : 0;
      for (let p = 0; p < r; p++) s += b[i * r + p] * b[j * r + p];
      out[i * n + j] = s;
    }
  }
  return out;
}

/**
 * Triangular `[..., n, n]` matrices with diagonal in [1, 2) and off-diagonal entries in
 * (-1/n, 1/n): diagonally dominant, so well conditioned. The other triangle holds
 * unrelated values, which the kernel must ignore.
 */
function triangularData(n: number, count: number, lower: boolean, seed: number): Float32Array {
  const rng = new Random(seed);
  const out = new Float32Array(count * n * n);
  for (let q = 0; q < count; q++) {
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        const inside = lower ? j < i : j > i;
        out[q * n * n + i * n + j] = i === j ? 1 + rng.uniform() : inside ? (2 * rng.uniform() - 1) / n : 100 * rng.uniform();
      }
    }
  }
  return out;
}

/**
 * Cholesky tolerance for A·Aᵀ + n·I: entries of L are ~√n in size and the matrix is well
 * conditioned (κ < 10), so float32 elimination errs by a few ε·n relative to √n; scaled to
 * the entry size that is atol 1e-4·√n, rtol 1e-4.
 */
function choleskyTolerance(n: number): Tolerance {
  return { atol: 1e-4 * Math.sqrt(n), rtol: 1e-4 };
}

const choleskyCases: ConformanceCase[] = [
  ...[1, 2, 3, 4, 5, 7, 8, 9, 16, 33, 64].map(
    (n): ConformanceCase => ({
      kernel: 'cholesky',
      name: `SPD A·Aᵀ + n·I, n = ${n}`,
      tolerance: choleskyTolerance(n),
      run: (b) => tidy(() => cholesky(fromArray(spdData(n, 1, 2000 + n), [n, n], 'float32', { backend: b }), { check: false })),
    }),
  ),
  {
    kernel: 'cholesky',
    name: 'batch of three SPD [3,17,17]',
    tolerance: choleskyTolerance(17),
    run: (b) => tidy(() => cholesky(fromArray(spdData(17, 3, 2100), [3, 17, 17], 'float32', { backend: b }), { check: false })),
  },
  {
    kernel: 'cholesky',
    name: 'empty [0,0] and [2,0,0]',
    tolerance: EXACT,
    run: (b) =>
      tidy(() => [
        cholesky(fromArray(new Float32Array(0), [0, 0], 'float32', { backend: b })),
        cholesky(fromArray(new Float32Array(0), [2, 0, 0], 'float32', { backend: b })),
      ]),
  },
  {
    // κ ≈ 9e3 and the trailing diagonal of L is ~0.1, the most sensitive part. Plain
    // float32 elimination errs by ~√κ·ε·‖L‖ ≈ 1e-5 here; 1e-3 leaves room for backends
    // whose division and square root are less exact than IEEE.
    kernel: 'cholesky',
    name: 'ill-conditioned rank-8 Gram + 1e-2·I, n = 33',
    tolerance: { atol: 1e-3, rtol: 1e-3 },
    run: (b) => tidy(() => cholesky(fromArray(illConditionedData(33, 8, 1e-2, 2200), [33, 33], 'float32', { backend: b }), { check: false })),
  },
  {
    // The stated NaN rule: a matrix that is not positive definite comes out entirely NaN;
    // the other matrices of the batch are unaffected.
    kernel: 'cholesky',
    name: 'not positive definite → that matrix all NaN',
    tolerance: choleskyTolerance(9),
    run: (b) =>
      tidy(() => {
        const data = spdData(9, 2, 2300);
        // Matrix 1 gets a negative eigenvalue: a large negative entry on its diagonal.
        data[81 + 4 * 9 + 4] = -50;
        return cholesky(fromArray(data, [2, 9, 9], 'float32', { backend: b }), { check: false });
      }),
  },
];

/** Entries of L⁻¹ for these diagonally dominant inputs are below 1; float32 substitution errs by a few ε·n. */
const TRIANGULAR_TOLERANCE: Tolerance = { atol: 1e-5, rtol: 1e-4 };

const triangularCases: ConformanceCase[] = [
  ...[1, 2, 5, 7, 33, 64].flatMap((n) =>
    [true, false].map(
      (lower): ConformanceCase => ({
        kernel: 'triangularInverse',
        name: `${lower ? 'lower' : 'upper'} n = ${n} (other triangle ignored)`,
        tolerance: TRIANGULAR_TOLERANCE,
        run: (b) => tidy(() => triangularInverse(fromArray(triangularData(n, 1, lower, 3000 + n), [n, n], 'float32', { backend: b }), { lower })),
      }),
    ),
  ),
  {
    kernel: 'triangularInverse',
    name: 'batch of four lower [2,2,9,9]',
    tolerance: TRIANGULAR_TOLERANCE,
    run: (b) => tidy(() => triangularInverse(fromArray(triangularData(9, 4, true, 3100), [2, 2, 9, 9], 'float32', { backend: b }))),
  },
  {
    kernel: 'triangularInverse',
    name: 'empty [3,0,0]',
    tolerance: EXACT,
    run: (b) => tidy(() => triangularInverse(fromArray(new Float32Array(0), [3, 0, 0], 'float32', { backend: b }))),
  },
  {
    // (L·Lᵀ)⁻¹ through L⁻¹ and a product: entries of size ~1/n for A·Aᵀ + n·I.
    kernel: 'triangularInverse',
    name: 'choleskyInverse of the factor of an SPD n = 33',
    tolerance: { atol: 1e-6, rtol: 1e-3 },
    run: (b) =>
      tidy(() => choleskyInverse(cholesky(fromArray(spdData(33, 1, 3200), [33, 33], 'float32', { backend: b })))),
  },
];

/**
 * Similarities lie in [-1, 1]; float32 norms and dot products over d terms err by ~ε·√d
 * typically, ~ε·d at worst: atol 1e-5 + 1e-6·d holds for any d here with room to spare.
 */
function cosineTolerance(d: number): Tolerance {
  return { atol: 1e-5 + 1e-6 * d, rtol: 0 };
}

const cosineCases: ConformanceCase[] = [
  ...(
    [
      [1, 1, 1],
      [7, 5, 33],
      [33, 65, 7],
      [65, 129, 257],
      [0, 4, 3],
      [4, 0, 3],
      [3, 4, 0],
    ] as [number, number, number][]
  ).map(
    ([n, m, d]): ConformanceCase => ({
      kernel: 'cosineSimilarity',
      name: `[${n},${d}] × [${m},${d}]`,
      tolerance: cosineTolerance(d),
      run: (b) => tidy(() => cosineSimilarity(f32(b, [n, d], 4000 + n), f32(b, [m, d], 4100 + m))),
    }),
  ),
  {
    kernel: 'cosineSimilarity',
    name: 'zero rows give 0; self-similarity 1',
    tolerance: cosineTolerance(33),
    run: (b) =>
      tidy(() => {
        const data = randomInput(b, [9, 33], { seed: 4200 }).dataSync();
        data.fill(0, 3 * 33, 4 * 33);
        const a = fromArray(data as Float32Array, [9, 33], 'float32', { backend: b });
        return cosineSimilarity(a, a);
      }),
  },
  {
    kernel: 'cosineSimilarity',
    name: 'NaN in a row makes that row of the result NaN',
    tolerance: cosineTolerance(17),
    run: (b) => tidy(() => cosineSimilarity(f32(b, [5, 17], 4300, [NaN]), f32(b, [6, 17], 4301))),
  },
];

/**
 * Conformance cases for the linear-algebra kernels: matmul (sizes off block sizes, all
 * transpose flags, broadcast batches, empty shapes, NaN propagation), Cholesky (SPD sizes
 * 1–64, an ill-conditioned matrix, the all-NaN rule), triangular inverse (lower and upper,
 * batched) and cosine similarity (zero rows, NaN rows). Tolerances are stated per case
 * relative to the sizes involved.
 */
export const linalgCases: readonly ConformanceCase[] = [...matmulCases, ...choleskyCases, ...triangularCases, ...cosineCases];
