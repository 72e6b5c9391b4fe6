import { type ProgressOptions, PruneError, Random, progressStage } from '@prune/core';
import { type NearestTwo, nearestTwo, rowSquaredNorms, squaredDistanceTo } from '../internal/distance.js';
import { BLOCK_ROWS, type PreparedCentroids, blockDots, nearestTwoBlock, prepareCentroids } from '../internal/simd.js';
import { checkInteger } from '../internal/validate.js';
import { type Embeddings, checkEmbeddings } from './embeddings.js';

/** Options shared by {@link kmeans} and {@link miniBatchKmeans}. */
export interface KMeansOptions extends ProgressOptions {
  /** Number of clusters k (1 ≤ k ≤ number of rows). */
  k: number;
  /**
   * Seed of every random choice (k-means++ draws, mini-batches).
   * @defaultValue `0`
   */
  seed?: number;
  /**
   * Starting centroids (`k·dim` values, row-major) instead of k-means++.
   * @defaultValue k-means++ seeding
   */
  initialCentroids?: Float32Array | Float64Array;
  /**
   * Candidates drawn per k-means++ centroid; the one that lowers the potential most is kept.
   * @defaultValue `2 + ⌊ln k⌋` (scikit-learn's choice)
   */
  initTrials?: number;
  /**
   * Run k-means++ on a uniform sample of this many rows instead of all rows (cheaper seeding
   * on very large inputs).
   * @defaultValue all rows for {@link kmeans}; `3·batchSize` for {@link miniBatchKmeans}
   */
  initSampleSize?: number;
}

/** Options of {@link kmeans} (Lloyd iterations). */
export interface LloydOptions extends KMeansOptions {
  /**
   * Maximum number of Lloyd iterations (each: recompute centroids, reassign rows). Stops
   * earlier when no row changes cluster.
   * @defaultValue `50`
   */
  maxIterations?: number;
}

/** Options of {@link miniBatchKmeans}. */
export interface MiniBatchOptions extends KMeansOptions {
  /**
   * Rows per mini-batch (drawn uniformly with replacement).
   * @defaultValue `1024`
   */
  batchSize?: number;
  /**
   * Number of mini-batch updates.
   * @defaultValue `100`
   */
  steps?: number;
}

/** A clustering: centroids and the nearest centroid of every row. */
export interface KMeansResult {
  /** `k·dim` centroid values, row-major. */
  centroids: Float32Array;
  /** Number of clusters. */
  k: number;
  /** Values per centroid. */
  dim: number;
  /** Cluster of every row (its nearest centroid). */
  assignments: Int32Array;
  /** Rows per cluster. */
  counts: Int32Array;
  /** Sum over rows of the squared distance to the assigned centroid. */
  inertia: number;
  /** Iterations (Lloyd) or mini-batch steps run. */
  iterations: number;
  /** True when Lloyd iterations stopped because no row changed cluster. */
  converged: boolean;
}

function checkK(k: number, count: number): void {
  checkInteger('k', k, 1);
  if (k > count) throw new PruneError('OUT_OF_RANGE', `k = ${k} clusters need at least ${k} rows, got ${count}; lower k`);
}

function initialCentroids(e: Embeddings, options: KMeansOptions, rng: Random, defaultSample: number): Float64Array {
  const { k } = options;
  if (options.initialCentroids !== undefined) {
    const c = options.initialCentroids;
    if (c.length !== k * e.dim) {
      throw new PruneError('SHAPE_MISMATCH', `initialCentroids holds ${c.length} values; k·dim = ${k}·${e.dim} = ${k * e.dim} expected`);
    }
    for (let i = 0; i < c.length; i++) {
      if (!Number.isFinite(c[i])) throw new PruneError('NON_FINITE', `initialCentroids holds ${c[i]} at element ${i}`);
    }
    return Float64Array.from(c);
  }
  const sampleSize = Math.min(e.count, Math.max(k, options.initSampleSize ?? defaultSample));
  checkInteger('initSampleSize', sampleSize, 1);
  return kmeansPlusPlus(e, k, rng, sampleSize, options.initTrials);
}

/**
 * Greedy k-means++ seeding (Arthur & Vassilvitskii 2007, with local trials as in
 * scikit-learn): the first centroid is a uniform row; for each next one, `trials` candidate
 * rows are drawn with probability proportional to D(x)², the squared distance to the nearest
 * centroid so far, and the candidate that lowers Σ D(x)² the most is kept. Rows whose nearest
 * centroid is at least 2·D(x) from a candidate cannot move closer to it, so their distance is
 * not computed (exact, by the triangle inequality).
 *
 * @param e - the rows
 * @param k - number of centroids
 * @param rng - random stream
 * @param sampleSize - seed from a uniform sample of this many rows
 * @param trials - candidates per centroid; 1 is plain k-means++
 * @returns `k·dim` centroids (float64)
 */
export function kmeansPlusPlus(e: Embeddings, k: number, rng: Random, sampleSize = e.count, trials = 2 + Math.floor(Math.log(k))): Float64Array {
  checkInteger('trials', trials, 1);
  const { dim } = e;
  let rows: Int32Array | undefined;
  let n = e.count;
  if (sampleSize < e.count) {
    rows = rng.sample(e.count, sampleSize);
    rows.sort();
    n = sampleSize;
  }
  const rowOf = (i: number): number => (rows ? rows[i] : i);
  const centroids = new Float64Array(k * dim);
  const d2 = new Float64Array(n);
  const nearest = new Int32Array(n);
  const candidate = new Float64Array(dim);
  const copyRow = (row: number, j: number): void => {
    for (let t = 0; t < dim; t++) centroids[j * dim + t] = e.data[row * dim + t];
  };
  copyRow(rowOf(rng.int(n)), 0);
  let total = 0;
  for (let i = 0; i < n; i++) {
    d2[i] = squaredDistanceTo(e.data, rowOf(i), dim, centroids, 0);
    total += d2[i];
  }
  const between = new Float64Array(k);
  const draw = (): number => {
    if (!(total > 0)) return rng.int(n); // every row coincides with a centroid already
    let target = rng.uniform() * total;
    for (let i = 0; i < n; i++) {
      target -= d2[i];
      if (target < 0) return i;
    }
    // Rounding can leave target ≥ 0 after the last row: take the last row with mass.
    for (let i = n - 1; i >= 0; i--) if (d2[i] > 0) return i;
    return rng.int(n);
  };
  // Potential Σ min(D², ‖x − c‖²) with c = candidate (as centroid j), optionally committing it.
  const potential = (j: number, commit: boolean): number => {
    for (let c = 0; c < j; c++) {
      let s = 0;
      for (let t = 0; t < dim; t++) {
        const v = centroids[c * dim + t] - candidate[t];
        s += v * v;
      }
      between[c] = s;
    }
    let sum = 0;
    for (let i = 0; i < n; i++) {
      let d = d2[i];
      // ‖c_new − c_a‖ ≥ 2·D(x)  ⇔  between ≥ 4·D²: the candidate cannot be nearer.
      if (between[nearest[i]] < 4 * d) {
        const xo = rowOf(i) * dim;
        let s = 0;
        for (let t = 0; t < dim; t++) {
          const v = e.data[xo + t] - candidate[t];
          s += v * v;
        }
        if (s < d) {
          d = s;
          if (commit) {
            d2[i] = s;
            nearest[i] = j;
          }
        }
      }
      sum += d;
    }
    return sum;
  };
  // With WebAssembly SIMD, all candidates of a step are scored in one blocked pass (their
  // distances kept, so the winner needs no second pass); otherwise row by row with the skips.
  const simd = trials > 1 && prepareCentroids(new Float64Array(trials * dim), trials, dim, new Float64Array(trials)) !== null;
  const candidates = new Float64Array(trials * dim);
  const candidateRows = new Int32Array(trials);
  const candidateD2 = simd ? new Float64Array(trials * n) : new Float64Array(0);
  const rowNorms = simd ? new Float64Array(n) : new Float64Array(0);
  if (simd) {
    for (let i = 0; i < n; i++) {
      const o = rowOf(i) * dim;
      let s = 0;
      for (let t = 0; t < dim; t++) s += e.data[o + t] * e.data[o + t];
      rowNorms[i] = s;
    }
  }
  const blockRows = new Int32Array(BLOCK_ROWS);
  for (let j = 1; j < k; j++) {
    let bestRow = -1;
    if (simd) {
      for (let q = 0; q < trials; q++) {
        candidateRows[q] = rowOf(draw());
        for (let t = 0; t < dim; t++) candidates[q * dim + t] = e.data[candidateRows[q] * dim + t];
      }
      const cn = rowSquaredNorms(candidates, trials, dim);
      const prepared = prepareCentroids(candidates, trials, dim, cn)!;
      const stride = prepared.groups * 4;
      const potentials = new Float64Array(trials);
      for (let s = 0; s < n; s += BLOCK_ROWS) {
        const count = Math.min(BLOCK_ROWS, n - s);
        let dots: Float32Array;
        if (rows) {
          for (let r = 0; r < count; r++) blockRows[r] = rows[s + r];
          dots = blockDots(prepared, e.data, blockRows, 0, count);
        } else dots = blockDots(prepared, e.data, null, s, count);
        for (let r = 0; r < count; r++) {
          const i = s + r;
          for (let q = 0; q < trials; q++) {
            let d = rowNorms[i] - 2 * dots[r * stride + q] + cn[q];
            if (d < 0) d = 0;
            candidateD2[q * n + i] = d;
            potentials[q] += d < d2[i] ? d : d2[i];
          }
        }
      }
      let best = 0;
      for (let q = 1; q < trials; q++) if (potentials[q] < potentials[best]) best = q;
      bestRow = candidateRows[best];
      copyRow(bestRow, j);
      total = 0;
      for (let i = 0; i < n; i++) {
        const d = candidateD2[best * n + i];
        if (d < d2[i]) {
          d2[i] = d;
          nearest[i] = j;
        }
        total += d2[i];
      }
      continue;
    }
    let bestPotential = Infinity;
    for (let trial = 0; trial < trials; trial++) {
      const row = rowOf(draw());
      if (trials === 1) {
        bestRow = row;
        break;
      }
      for (let t = 0; t < dim; t++) candidate[t] = e.data[row * dim + t];
      const p = potential(j, false);
      if (p < bestPotential) {
        bestPotential = p;
        bestRow = row;
      }
    }
    for (let t = 0; t < dim; t++) candidate[t] = e.data[bestRow * dim + t];
    copyRow(bestRow, j);
    total = potential(j, true);
  }
  return centroids;
}


/** Scratch buffers for block assignment. */
interface BlockScratch {
  best: Int32Array;
  bestSq: Float64Array;
  secondSq: Float64Array;
  one: NearestTwo;
}

function blockScratch(): BlockScratch {
  return { best: new Int32Array(BLOCK_ROWS), bestSq: new Float64Array(BLOCK_ROWS), secondSq: new Float64Array(BLOCK_ROWS), one: { best: 0, bestSq: 0, secondSq: 0 } };
}

/**
 * Nearest and second-nearest centroid of `count` rows (the indices `rows[0..count)`, or
 * `start..start+count` when `rows` is null; count ≤ BLOCK_ROWS): WebAssembly SIMD when
 * `prepared` is given, plain JS otherwise. Results land in `scratch`.
 */
function nearestTwoRows(
  prepared: PreparedCentroids | null,
  data: Float32Array,
  dim: number,
  rows: Int32Array | null,
  start: number,
  count: number,
  rowNorms: Float64Array | null,
  centroids: Float64Array,
  centroidNorms: Float64Array,
  k: number,
  scratch: BlockScratch,
): void {
  if (prepared !== null) {
    nearestTwoBlock(prepared, data, rows, start, count, rowNorms, scratch.best, scratch.bestSq, scratch.secondSq);
    return;
  }
  const one = scratch.one;
  for (let r = 0; r < count; r++) {
    const row = rows === null ? start + r : rows[r];
    let norm: number;
    if (rowNorms !== null) norm = rowNorms[row];
    else {
      norm = 0;
      const o = row * dim;
      for (let t = 0; t < dim; t++) norm += data[o + t] * data[o + t];
    }
    nearestTwo(data, row, dim, norm, centroids, centroidNorms, k, one);
    scratch.best[r] = one.best;
    scratch.bestSq[r] = one.bestSq;
    scratch.secondSq[r] = one.secondSq;
  }
}

function maxOf(values: Float64Array): number {
  let m = 0;
  for (const v of values) if (v > m) m = v;
  return m;
}

function centroidNormsOf(centroids: Float64Array, k: number, dim: number): Float64Array {
  return rowSquaredNorms(centroids, k, dim);
}

/**
 * The nearest of `k` centroids for every row, with the squared distance to it.
 *
 * @param e - the rows
 * @param centroids - `k·dim` values, row-major
 * @returns assignments and squared distances (float64)
 */
export function assignToNearest(e: Embeddings, centroids: Float32Array | Float64Array): { assignments: Int32Array; squaredDistances: Float64Array } {
  checkEmbeddings(e, 'assignToNearest');
  if (centroids.length === 0 || centroids.length % e.dim !== 0) {
    throw new PruneError('SHAPE_MISMATCH', `centroids hold ${centroids.length} values, not a positive multiple of dim = ${e.dim}`);
  }
  const k = centroids.length / e.dim;
  const c = centroids instanceof Float64Array ? centroids : Float64Array.from(centroids);
  const cn = centroidNormsOf(c, k, e.dim);
  const assignments = new Int32Array(e.count);
  const squaredDistances = new Float64Array(e.count);
  const prepared = prepareCentroids(c, k, e.dim, cn);
  const scratch = blockScratch();
  for (let s = 0; s < e.count; s += BLOCK_ROWS) {
    const count = Math.min(BLOCK_ROWS, e.count - s);
    nearestTwoRows(prepared, e.data, e.dim, null, s, count, null, c, cn, k, scratch);
    assignments.set(scratch.best.subarray(0, count), s);
    squaredDistances.set(scratch.bestSq.subarray(0, count), s);
  }
  return { assignments, squaredDistances };
}

function exactInertia(e: Embeddings, centroids: Float64Array, assignments: Int32Array): number {
  let s = 0;
  for (let i = 0; i < e.count; i++) s += squaredDistanceTo(e.data, i, e.dim, centroids, assignments[i]);
  return s;
}

function result(e: Embeddings, k: number, centroids: Float64Array, assignments: Int32Array, iterations: number, converged: boolean): KMeansResult {
  const counts = new Int32Array(k);
  for (let i = 0; i < e.count; i++) counts[assignments[i]]++;
  return {
    centroids: Float32Array.from(centroids),
    k,
    dim: e.dim,
    assignments,
    counts,
    inertia: exactInertia(e, centroids, assignments),
    iterations,
    converged,
  };
}

/**
 * k-means with Lloyd iterations, accelerated with Hamerly's bounds (exact: the same
 * assignments as plain Lloyd, but a row is only compared with every centroid when its
 * upper bound to its own centroid exceeds both half the distance to the nearest other
 * centroid and its lower bound to the second nearest). Centroid sums are kept in float64
 * and updated incrementally as rows move. An empty cluster is re-seeded at the row farthest
 * from its centroid.
 *
 * @param e - the rows (see {@link embeddingMatrix})
 * @param options - k, iterations, seed
 * @returns centroids, assignments, counts, inertia
 * @throws PruneError `OUT_OF_RANGE` when k exceeds the number of rows, `NON_FINITE` for
 *   NaN/infinite embeddings
 *
 * @example
 * ```ts
 * const e = embeddingMatrix(new Float32Array([0, 0, 0, 1, 10, 10, 10, 11]), 2);
 * const { assignments } = kmeans(e, { k: 2, seed: 0 }); // [a, a, b, b]
 * ```
 */
export function kmeans(e: Embeddings, options: LloydOptions): KMeansResult {
  checkEmbeddings(e, 'kmeans');
  const { k } = options;
  checkK(k, e.count);
  const maxIterations = options.maxIterations ?? 50;
  checkInteger('maxIterations', maxIterations, 0);
  const rng = new Random(options.seed ?? 0);
  const { dim, count: n, data } = e;
  let centroids = initialCentroids(e, options, rng, n);
  const progress = progressStage(options.onProgress, 'kmeans', maxIterations, 'iterations');

  const xNorm = rowSquaredNorms(data, n, dim);
  const assignments = new Int32Array(n);
  const upper = new Float64Array(n);
  const lower = new Float64Array(n);
  const sums = new Float64Array(k * dim);
  const counts = new Float64Array(k);

  const scratch = blockScratch();
  // Slack on the bounds for the rounding of ‖x‖² − 2·x·c + ‖c‖² (float32 dot products).
  const slackOf = (i: number, cnMax: number): number => 1e-5 * (xNorm[i] + cnMax);
  const fullAssign = (): void => {
    const cn = centroidNormsOf(centroids, k, dim);
    const cnMax = maxOf(cn);
    const prepared = prepareCentroids(centroids, k, dim, cn);
    sums.fill(0);
    counts.fill(0);
    for (let s = 0; s < n; s += BLOCK_ROWS) {
      const count = Math.min(BLOCK_ROWS, n - s);
      nearestTwoRows(prepared, data, dim, null, s, count, xNorm, centroids, cn, k, scratch);
      for (let r = 0; r < count; r++) {
        const i = s + r;
        const b = scratch.best[r];
        const slack = slackOf(i, cnMax);
        assignments[i] = b;
        upper[i] = Math.sqrt(scratch.bestSq[r] + slack);
        lower[i] = Math.sqrt(Math.max(0, scratch.secondSq[r] - slack));
        const so = b * dim;
        const xo = i * dim;
        for (let t = 0; t < dim; t++) sums[so + t] += data[xo + t];
        counts[b]++;
      }
    }
  };
  fullAssign();

  const half = new Float64Array(k);
  const shift = new Float64Array(k);
  const pending = new Int32Array(BLOCK_ROWS);
  let iterations = 0;
  let converged = false;
  while (iterations < maxIterations) {
    // M-step: centroids from the float64 sums.
    const next = new Float64Array(k * dim);
    let reseed = false;
    for (let j = 0; j < k; j++) {
      if (counts[j] === 0) {
        reseed = true;
        continue;
      }
      const inv = 1 / counts[j];
      for (let t = 0; t < dim; t++) next[j * dim + t] = sums[j * dim + t] * inv;
    }
    if (reseed) {
      // Empty clusters take the rows farthest from their centroids, then every row is
      // reassigned from scratch (bounds are no longer valid).
      const order = Array.from(upper.keys()).sort((a, b) => upper[b] - upper[a]);
      let o = 0;
      for (let j = 0; j < k; j++) {
        if (counts[j] !== 0) continue;
        const row = order[o++];
        for (let t = 0; t < dim; t++) next[j * dim + t] = data[row * dim + t];
      }
      centroids = next;
      fullAssign();
      iterations++;
      progress.advance(1);
      continue;
    }
    let max1 = 0;
    let max2 = 0;
    let argMax = -1;
    for (let j = 0; j < k; j++) {
      let s = 0;
      for (let t = 0; t < dim; t++) {
        const v = next[j * dim + t] - centroids[j * dim + t];
        s += v * v;
      }
      const d = Math.sqrt(s);
      shift[j] = d;
      if (d > max1) {
        max2 = max1;
        max1 = d;
        argMax = j;
      } else if (d > max2) max2 = d;
    }
    centroids = next;
    iterations++;
    for (let i = 0; i < n; i++) {
      const a = assignments[i];
      upper[i] += shift[a];
      lower[i] -= a === argMax ? max2 : max1;
    }
    // s(j): half the distance from centroid j to its nearest other centroid.
    half.fill(Infinity);
    for (let j = 0; j < k; j++) {
      for (let j2 = j + 1; j2 < k; j2++) {
        let s = 0;
        for (let t = 0; t < dim; t++) {
          const v = centroids[j * dim + t] - centroids[j2 * dim + t];
          s += v * v;
        }
        const h = Math.sqrt(s) / 2;
        if (h < half[j]) half[j] = h;
        if (h < half[j2]) half[j2] = h;
      }
    }
    // E-step with Hamerly's bounds; rows that need a full search are gathered into blocks.
    const cn = centroidNormsOf(centroids, k, dim);
    const cnMax = maxOf(cn);
    const prepared = prepareCentroids(centroids, k, dim, cn);
    let changed = 0;
    let np = 0;
    const flush = (): void => {
      nearestTwoRows(prepared, data, dim, pending, 0, np, xNorm, centroids, cn, k, scratch);
      for (let r = 0; r < np; r++) {
        const i = pending[r];
        const a = assignments[i];
        const b = scratch.best[r];
        const slack = slackOf(i, cnMax);
        upper[i] = Math.sqrt(scratch.bestSq[r] + slack);
        lower[i] = Math.sqrt(Math.max(0, scratch.secondSq[r] - slack));
        if (b !== a) {
          const xo = i * dim;
          for (let t = 0; t < dim; t++) {
            const v = data[xo + t];
            sums[a * dim + t] -= v;
            sums[b * dim + t] += v;
          }
          counts[a]--;
          counts[b]++;
          assignments[i] = b;
          changed++;
        }
      }
      np = 0;
    };
    for (let i = 0; i < n; i++) {
      const a = assignments[i];
      const m = half[a] > lower[i] ? half[a] : lower[i];
      if (upper[i] <= m) continue;
      upper[i] = Math.sqrt(squaredDistanceTo(data, i, dim, centroids, a));
      if (upper[i] <= m) continue;
      pending[np++] = i;
      if (np === BLOCK_ROWS) flush();
    }
    if (np > 0) flush();
    progress.advance(1);
    if (changed === 0) {
      converged = true;
      break;
    }
  }
  return result(e, k, centroids, assignments, iterations, converged);
}

/**
 * Mini-batch k-means (Sculley 2010): each step draws `batchSize` rows uniformly with
 * replacement, assigns them to the nearest centroid and moves each centroid towards the
 * mean of its batch rows with a per-centroid learning rate 1/(rows seen so far). Memory
 * beyond the input is O(k·dim + batchSize) plus the final assignment of every row.
 *
 * @param e - the rows
 * @param options - k, batch size, steps, seed
 * @returns centroids, final assignment of every row, counts, inertia
 */
export function miniBatchKmeans(e: Embeddings, options: MiniBatchOptions): KMeansResult {
  checkEmbeddings(e, 'miniBatchKmeans');
  const { k } = options;
  checkK(k, e.count);
  const batchSize = options.batchSize ?? 1024;
  const steps = options.steps ?? 100;
  checkInteger('batchSize', batchSize, 1);
  checkInteger('steps', steps, 0);
  const rng = new Random(options.seed ?? 0);
  const { dim, count: n, data } = e;
  const centroids = initialCentroids(e, options, rng, 3 * batchSize);
  const progress = progressStage(options.onProgress, 'kmeans', steps, 'steps');
  const seen = new Float64Array(k);
  const batchSums = new Float64Array(k * dim);
  const batchCounts = new Float64Array(k);
  const batch = new Int32Array(batchSize);
  const scratch = blockScratch();
  for (let step = 0; step < steps; step++) {
    for (let b = 0; b < batchSize; b++) batch[b] = rng.int(n);
    const cn = centroidNormsOf(centroids, k, dim);
    const prepared = prepareCentroids(centroids, k, dim, cn);
    batchSums.fill(0);
    batchCounts.fill(0);
    for (let s = 0; s < batchSize; s += BLOCK_ROWS) {
      const count = Math.min(BLOCK_ROWS, batchSize - s);
      const rows = batch.subarray(s, s + count);
      nearestTwoRows(prepared, data, dim, rows, 0, count, null, centroids, cn, k, scratch);
      for (let r = 0; r < count; r++) {
        const xo = rows[r] * dim;
        const so = scratch.best[r] * dim;
        for (let t = 0; t < dim; t++) batchSums[so + t] += data[xo + t];
        batchCounts[scratch.best[r]]++;
      }
    }
    for (let j = 0; j < k; j++) {
      const m = batchCounts[j];
      if (m === 0) continue;
      const total = seen[j] + m;
      const o = j * dim;
      // c ← (c·seen + Σ batch rows) / (seen + m): the running mean of every row it was given.
      for (let t = 0; t < dim; t++) centroids[o + t] = (centroids[o + t] * seen[j] + batchSums[o + t]) / total;
      seen[j] = total;
    }
    progress.advance(1);
  }
  const { assignments } = assignToNearest(e, centroids);
  return result(e, k, centroids, assignments, steps, false);
}
