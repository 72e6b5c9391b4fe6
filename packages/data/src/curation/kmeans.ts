import { type ProgressOptions, PruneError, Random, progressStage } from '@prune/core';
import { type NearestTwo, nearestTwo, rowSquaredNorms, squaredDistanceTo } from '../internal/distance.js';
import {
  BLOCK_ROWS,
  type BlockNearest,
  accumulateBlock,
  type PreparedCentroids,
  assignedSquaredDistances,
  blockDots,
  blockNearest,
  nearestBlock,
  prepareCentroids,
  preparedSums,
  simdAvailable,
} from '../internal/simd.js';
import { checkFinite, checkInteger } from '../internal/validate.js';
import { type Embeddings, checkEmbeddingShape, rejectNonFiniteRow } from './embeddings.js';
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
   * Run k-means++ on a uniform sample (with replacement) of this many rows instead of all rows
   * (cheaper seeding on very large inputs; scikit-learn's `init_size`).
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

/**
 * Squared norms of the given rows (all rows when `rows` is null), checking on the way that every
 * value is finite: a row's norm is finite exactly when its float32 values are.
 */
function checkedNorms(e: Embeddings, rows: Int32Array | null): Float64Array {
  const { data, dim } = e;
  const n = rows === null ? e.count : rows.length;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const o = (rows === null ? i : rows[i]) * dim;
    let s = 0;
    for (let t = 0; t < dim; t++) {
      const v = data[o + t];
      s += v * v;
    }
    if (!Number.isFinite(s)) rejectNonFiniteRow(e, rows === null ? i : rows[i]);
    out[i] = s;
  }
  return out;
}

function initialCentroids(e: Embeddings, options: KMeansOptions, rng: Random, defaultSample: number, norms: Float64Array | null): Float64Array {
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
  const trials = options.initTrials ?? 2 + Math.floor(Math.log(k));
  checkInteger('initTrials', trials, 1);
  return seedPlusPlus(e, k, rng, sampleSize, trials, norms);
}

/**
 * Greedy k-means++ seeding (Arthur & Vassilvitskii 2007, with local trials as in
 * scikit-learn): the first centroid is a uniform row; for each next one, `trials` candidate
 * rows are drawn with probability proportional to D(x)², the squared distance to the nearest
 * centroid so far, and the candidate that lowers Σ D(x)² the most is kept. Rows whose nearest
 * centroid is at least 2·D(x) from every candidate cannot move closer to one, so their
 * distances are not computed (exact, by the triangle inequality).
 *
 * @param e - the rows
 * @param k - number of centroids
 * @param rng - random stream
 * @param sampleSize - seed from a uniform sample of this many rows
 * @param trials - candidates per centroid; 1 is plain k-means++
 * @returns `k·dim` centroids (float64)
 * @throws PruneError `NON_FINITE` when a seeding row holds NaN or an infinite value
 */
export function kmeansPlusPlus(e: Embeddings, k: number, rng: Random, sampleSize = e.count, trials = 2 + Math.floor(Math.log(k))): Float64Array {
  checkEmbeddingShape(e, 'kmeansPlusPlus');
  checkK(k, e.count);
  checkInteger('sampleSize', sampleSize, 1);
  checkInteger('trials', trials, 1);
  return seedPlusPlus(e, k, rng, Math.min(sampleSize, e.count), trials, null);
}

/** {@link kmeansPlusPlus} after validation; `norms` are the squared norms of all rows, when known. */
function seedPlusPlus(whole: Embeddings, k: number, rng: Random, sampleSize: number, trials: number, allNorms: Float64Array | null): Float64Array {
  let e = whole;
  let xn: Float64Array;
  if (sampleSize < whole.count) {
    // The sample is copied into a matrix of its own: every step reads it again, and scattered
    // rows would miss the cache each time.
    // Uniform with replacement, as scikit-learn draws its init_size rows (drawing without
    // replacement would shuffle every row index).
    const rows = new Int32Array(sampleSize);
    for (let i = 0; i < sampleSize; i++) rows[i] = rng.int(whole.count);
    rows.sort();
    const { dim } = whole;
    const data = new Float32Array(sampleSize * dim);
    for (let i = 0; i < sampleSize; i++) data.set(whole.data.subarray(rows[i] * dim, (rows[i] + 1) * dim), i * dim);
    e = { data, count: sampleSize, dim };
    if (allNorms === null) {
      try {
        xn = checkedNorms(e, null);
      } catch (error) {
        // Name the row of the caller's matrix, not of the sample.
        for (let i = 0; i < sampleSize; i++) checkedNorms(whole, rows.subarray(i, i + 1));
        throw error;
      }
    } else xn = Float64Array.from(rows, (row) => allNorms[row]);
  } else xn = allNorms ?? checkedNorms(e, null);
  const { dim, data, count: n } = e;
  const centroids = new Float64Array(k * dim);
  const d2 = new Float64Array(n);
  const cumulative = new Float64Array(n);
  const nearest = new Int32Array(n);
  copyRowTo(centroids, 0, data, rng.int(n), dim);
  for (let i = 0; i < n; i++) d2[i] = squaredDistanceTo(data, i, dim, centroids, 0);
  let total = cumulativeSums(d2, cumulative);
  const candidates = new Float64Array(trials * dim);
  const candidateRows = new Int32Array(trials);
  const step: PlusPlusStep = {
    data,
    n,
    dim,
    k,
    trials,
    xn,
    d2,
    nearest,
    between: new Float64Array(trials * k),
    minBetween: new Float64Array(k),
    potentials: new Float64Array(trials),
    moved: new Int32Array(n),
    movedD2: new Float32Array(trials * n),
    m: 0,
  };
  const simd = simdAvailable();
  for (let j = 1; j < k; j++) {
    for (let q = 0; q < trials; q++) {
      candidateRows[q] = drawByMass(rng, d2, cumulative, total);
      copyRowTo(candidates, q, data, candidateRows[q], dim);
    }
    distancesToCentroids(step, centroids, j, candidates);
    const cn = rowSquaredNorms(candidates, trials, dim);
    step.potentials.fill(total);
    step.m = 0;
    const prepared = simd ? prepareCentroids(candidates, trials, dim, cn) : null;
    if (prepared !== null) scoreCandidatesSimd(step, prepared, cn);
    else scoreCandidatesPlain(step, candidates);
    let best = 0;
    for (let q = 1; q < trials; q++) if (step.potentials[q] < step.potentials[best]) best = q;
    copyRowTo(centroids, j, data, candidateRows[best], dim);
    applyCandidate(step, best, j);
    total = cumulativeSums(d2, cumulative);
  }
  return centroids;
}

// The steps of k-means++ are functions of their own: each is called k − 1 times, so V8
// optimizes them after the first steps (one large function would run long in its baseline
// tiers, which costs most on small samples).

/** State shared by the steps of {@link seedPlusPlus}. */
interface PlusPlusStep {
  data: Float32Array;
  n: number;
  dim: number;
  k: number;
  trials: number;
  /** Squared norms of the rows. */
  xn: Float64Array;
  /** D(x)²: squared distance of every row to its nearest centroid so far. */
  d2: Float64Array;
  nearest: Int32Array;
  /** ‖candidate q − centroid a‖² at [q·k + a]. */
  between: Float64Array;
  /** min over candidates of `between`, per centroid. */
  minBetween: Float64Array;
  /** Σ min(D², d(x, candidate q)²) per candidate. */
  potentials: Float64Array;
  /** Rows that may move to a candidate, and their squared distances to each ([q·n + r]). */
  moved: Int32Array;
  movedD2: Float32Array;
  m: number;
}

function copyRowTo(to: Float64Array, j: number, data: Float32Array, row: number, dim: number): void {
  for (let t = 0; t < dim; t++) to[j * dim + t] = data[row * dim + t];
}

/** Running sums of `d2` into `cumulative`; returns the total. */
function cumulativeSums(d2: Float64Array, cumulative: Float64Array): number {
  let total = 0;
  for (let i = 0; i < d2.length; i++) {
    total += d2[i];
    cumulative[i] = total;
  }
  return total;
}

/** A row with probability ∝ D²: the first whose cumulative sum exceeds a uniform target. */
function drawByMass(rng: Random, d2: Float64Array, cumulative: Float64Array, total: number): number {
  const n = d2.length;
  if (!(total > 0)) return rng.int(n); // every row coincides with a centroid already
  const target = rng.uniform() * total;
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cumulative[mid] > target) hi = mid;
    else lo = mid + 1;
  }
  // Rounding can leave the target at the very end: take the last row with mass.
  while (lo > 0 && d2[lo] === 0) lo--;
  return lo;
}

/**
 * ‖candidate − c_a‖² for every centroid a < j; a row nearest to a cannot move to candidate q
 * when that is ≥ 4·D(x)² (triangle inequality).
 */
function distancesToCentroids(st: PlusPlusStep, centroids: Float64Array, j: number, candidates: Float64Array): void {
  const { dim, k, trials, between, minBetween } = st;
  minBetween.fill(Infinity, 0, j);
  for (let q = 0; q < trials; q++) {
    for (let a = 0; a < j; a++) {
      let s = 0;
      for (let t = 0; t < dim; t++) {
        const v = centroids[a * dim + t] - candidates[q * dim + t];
        s += v * v;
      }
      between[q * k + a] = s;
      if (s < minBetween[a]) minBetween[a] = s;
    }
  }
}

/**
 * Potentials of every candidate with the SIMD kernel, over contiguous blocks: most rows pass
 * the test (in 128 dimensions the bound rarely excludes one), and gathering the others would
 * cost more than it saves.
 */
function scoreCandidatesSimd(st: PlusPlusStep, prepared: PreparedCentroids, cn: Float64Array): void {
  const { data, n, trials, xn, d2, nearest, minBetween, potentials, moved, movedD2 } = st;
  const stride = prepared.groups * 4;
  let m = 0;
  for (let s = 0; s < n; s += BLOCK_ROWS) {
    const count = Math.min(BLOCK_ROWS, n - s);
    let any = false;
    for (let i = s; i < s + count; i++) {
      if (minBetween[nearest[i]] < 4 * d2[i]) {
        any = true;
        break;
      }
    }
    if (!any) continue;
    const dots = blockDots(prepared, data, null, s, count);
    for (let r = 0; r < count; r++) {
      const i = s + r;
      const di = d2[i];
      if (!(minBetween[nearest[i]] < 4 * di)) continue;
      const x = xn[i];
      const o = r * stride;
      for (let q = 0; q < trials; q++) {
        let d = x - 2 * dots[o + q] + cn[q];
        if (d < 0) d = 0;
        movedD2[q * n + m] = d;
        if (d < di) potentials[q] -= di - d;
      }
      moved[m++] = i;
    }
  }
  st.m = m;
}

/** Potentials of every candidate in plain JS (float64), skipping what the bound excludes per candidate. */
function scoreCandidatesPlain(st: PlusPlusStep, candidates: Float64Array): void {
  const { data, n, dim, k, trials, d2, nearest, between, minBetween, potentials, moved, movedD2 } = st;
  let m = 0;
  for (let i = 0; i < n; i++) {
    const a = nearest[i];
    if (!(minBetween[a] < 4 * d2[i])) continue;
    for (let q = 0; q < trials; q++) {
      const d = between[q * k + a] < 4 * d2[i] ? squaredDistanceTo(data, i, dim, candidates, q) : Infinity;
      movedD2[q * n + m] = d;
      if (d < d2[i]) potentials[q] -= d2[i] - d;
    }
    moved[m++] = i;
  }
  st.m = m;
}

/** Commits candidate `best` as centroid j: rows nearer to it than to their centroid move. */
function applyCandidate(st: PlusPlusStep, best: number, j: number): void {
  const { n, d2, nearest, moved, movedD2, m } = st;
  for (let r = 0; r < m; r++) {
    const i = moved[r];
    const d = movedD2[best * n + r];
    if (d < d2[i]) {
      d2[i] = d;
      nearest[i] = j;
    }
  }
}

/** Scratch buffers for block assignment. */
interface BlockScratch extends BlockNearest {
  one: NearestTwo;
}

function blockScratch(): BlockScratch {
  return { ...blockNearest(), one: { best: 0, bestSq: 0, secondSq: 0 } };
}

/**
 * Nearest (and, with `rowNorms`, second-nearest) centroid of `count` rows (the indices
 * `rows[0..count)`, or `start..start+count` when `rows` is null; count ≤ BLOCK_ROWS):
 * WebAssembly SIMD when `prepared` is given, plain JS otherwise. With `exact`, bestSq is the
 * directly summed ‖x − c‖². Results land in `scratch`; a non-finite row throws.
 */
function nearestRows(
  e: Embeddings,
  prepared: PreparedCentroids | null,
  rows: Int32Array | null,
  start: number,
  count: number,
  rowNorms: Float64Array | null,
  exact: boolean,
  centroids: Float64Array,
  centroidNorms: Float64Array,
  k: number,
  scratch: BlockScratch,
): void {
  const { data, dim } = e;
  if (prepared !== null) {
    const bad = nearestBlock(prepared, data, rows, start, count, rowNorms, exact, scratch);
    if (bad >= 0) rejectNonFiniteRow(e, rows === null ? start + bad : rows[bad]);
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
      if (!Number.isFinite(norm)) rejectNonFiniteRow(e, row);
    }
    nearestTwo(data, row, dim, norm, centroids, centroidNorms, k, one);
    scratch.best[r] = one.best;
    scratch.bestSq[r] = exact ? squaredDistanceTo(data, row, dim, centroids, one.best) : one.bestSq;
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

/** Without WebAssembly SIMD the passes are plain JS; finiteness is then checked up front. */
function checkValuesWithoutSimd(e: Embeddings): void {
  if (!simdAvailable()) checkFinite('the embeddings', e.data);
}

/**
 * Nearest centroid of every row with the exact squared distance to it, in one pass (which
 * also rejects non-finite rows).
 */
function assignAll(e: Embeddings, centroids: Float64Array, k: number): { assignments: Int32Array; squaredDistances: Float64Array; counts: Int32Array; inertia: number } {
  const cn = centroidNormsOf(centroids, k, e.dim);
  const assignments = new Int32Array(e.count);
  const squaredDistances = new Float64Array(e.count);
  const counts = new Int32Array(k);
  const prepared = prepareCentroids(centroids, k, e.dim, cn);
  const scratch = blockScratch();
  let inertia = 0;
  for (let s = 0; s < e.count; s += BLOCK_ROWS) {
    const count = Math.min(BLOCK_ROWS, e.count - s);
    nearestRows(e, prepared, null, s, count, null, true, centroids, cn, k, scratch);
    for (let r = 0; r < count; r++) {
      const b = scratch.best[r];
      assignments[s + r] = b;
      squaredDistances[s + r] = scratch.bestSq[r];
      counts[b]++;
      inertia += scratch.bestSq[r];
    }
  }
  return { assignments, squaredDistances, counts, inertia };
}

/**
 * The nearest of `k` centroids for every row, with the squared distance to it.
 *
 * @param e - the rows
 * @param centroids - `k·dim` values, row-major
 * @returns assignments and squared distances (float64)
 * @throws PruneError `SHAPE_MISMATCH` when the centroids are not rows of `dim` values,
 *   `NON_FINITE` for NaN/infinite embeddings
 */
export function assignToNearest(e: Embeddings, centroids: Float32Array | Float64Array): { assignments: Int32Array; squaredDistances: Float64Array } {
  checkEmbeddingShape(e, 'assignToNearest');
  checkValuesWithoutSimd(e);
  if (centroids.length === 0 || centroids.length % e.dim !== 0) {
    throw new PruneError('SHAPE_MISMATCH', `centroids hold ${centroids.length} values, not a positive multiple of dim = ${e.dim}`);
  }
  const k = centroids.length / e.dim;
  const c = centroids instanceof Float64Array ? centroids : Float64Array.from(centroids);
  const { assignments, squaredDistances } = assignAll(e, c, k);
  return { assignments, squaredDistances };
}

/** Exact inertia of a given assignment (float32 differences, float64 sums). */
function inertiaOf(e: Embeddings, centroids: Float64Array, k: number, assignments: Int32Array): number {
  const prepared = prepareCentroids(centroids, k, e.dim, centroidNormsOf(centroids, k, e.dim));
  let s = 0;
  if (prepared === null) {
    for (let i = 0; i < e.count; i++) s += squaredDistanceTo(e.data, i, e.dim, centroids, assignments[i]);
    return s;
  }
  const sq = new Float64Array(BLOCK_ROWS);
  for (let start = 0; start < e.count; start += BLOCK_ROWS) {
    const count = Math.min(BLOCK_ROWS, e.count - start);
    assignedSquaredDistances(prepared, e.data, start, count, assignments, sq);
    for (let r = 0; r < count; r++) s += sq[r];
  }
  return s;
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
  checkEmbeddingShape(e, 'kmeans');
  const { k } = options;
  checkK(k, e.count);
  const maxIterations = options.maxIterations ?? 50;
  checkInteger('maxIterations', maxIterations, 0);
  const rng = new Random(options.seed ?? 0);
  const { dim, count: n, data } = e;
  // The norms pass reads every value once and doubles as the finiteness check.
  const xNorm = checkedNorms(e, null);
  let centroids = initialCentroids(e, options, rng, n, xNorm);
  const progress = progressStage(options.onProgress, 'kmeans', maxIterations, 'iterations');

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
      nearestRows(e, prepared, null, s, count, xNorm, false, centroids, cn, k, scratch);
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
      nearestRows(e, prepared, pending, 0, np, xNorm, false, centroids, cn, k, scratch);
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
  const counted = new Int32Array(k);
  for (let i = 0; i < n; i++) counted[assignments[i]]++;
  return {
    centroids: Float32Array.from(centroids),
    k,
    dim,
    assignments,
    counts: counted,
    inertia: inertiaOf(e, centroids, k, assignments),
    iterations,
    converged,
  };
}

/**
 * Mini-batch k-means (Sculley 2010), as scikit-learn's `MiniBatchKMeans` runs it: k-means++ on
 * `initSampleSize` rows (default 3·batchSize, drawn with replacement), then each step draws
 * `batchSize` rows uniformly with replacement, assigns them to the nearest centroid and moves
 * each centroid towards the mean of its batch rows with a per-centroid learning rate
 * 1/(rows seen so far). A final pass assigns every row and sums the exact inertia (scikit-learn's
 * `labels_` and `inertia_`); it also rejects non-finite rows that no batch drew. Memory beyond
 * the input is O(k·dim + batchSize) plus the final assignment of every row.
 *
 * @param e - the rows
 * @param options - k, batch size, steps, seed
 * @returns centroids, final assignment of every row, counts, inertia
 * @throws PruneError `OUT_OF_RANGE` when k exceeds the number of rows, `NON_FINITE` for
 *   NaN/infinite embeddings
 */
export function miniBatchKmeans(e: Embeddings, options: MiniBatchOptions): KMeansResult {
  checkEmbeddingShape(e, 'miniBatchKmeans');
  checkValuesWithoutSimd(e);
  const { k } = options;
  checkK(k, e.count);
  const batchSize = options.batchSize ?? 1024;
  const steps = options.steps ?? 100;
  checkInteger('batchSize', batchSize, 1);
  checkInteger('steps', steps, 0);
  const rng = new Random(options.seed ?? 0);
  const { dim, count: n, data } = e;
  const centroids = initialCentroids(e, options, rng, 3 * batchSize, null);
  const progress = progressStage(options.onProgress, 'kmeans', steps, 'steps');
  const seen = new Float64Array(k);
  const batchSums = new Float64Array(k * dim);
  const batchCounts = new Float64Array(k);
  const batch = new Int32Array(batchSize);
  const scratch = blockScratch();
  for (let step = 0; step < steps; step++) {
    for (let b = 0; b < batchSize; b++) batch[b] = rng.int(n);
    const cn = centroidNormsOf(centroids, k, dim);
    const prepared = prepareCentroids(centroids, k, dim, cn, true);
    batchSums.fill(0);
    batchCounts.fill(0);
    for (let s = 0; s < batchSize; s += BLOCK_ROWS) {
      const count = Math.min(BLOCK_ROWS, batchSize - s);
      const rows = batch.subarray(s, s + count);
      nearestRows(e, prepared, rows, 0, count, null, false, centroids, cn, k, scratch);
      for (let r = 0; r < count; r++) batchCounts[scratch.best[r]]++;
      // Sums from the rows already copied into the kernel memory (no second read of scattered rows).
      if (prepared !== null) accumulateBlock(prepared, count, scratch.best);
      else {
        for (let r = 0; r < count; r++) {
          const xo = rows[r] * dim;
          const so = scratch.best[r] * dim;
          for (let t = 0; t < dim; t++) batchSums[so + t] += data[xo + t];
        }
      }
    }
    const sums = prepared !== null ? preparedSums() : batchSums;
    for (let j = 0; j < k; j++) {
      const m = batchCounts[j];
      if (m === 0) continue;
      const total = seen[j] + m;
      const o = j * dim;
      // c ← (c·seen + Σ batch rows) / (seen + m): the running mean of every row it was given.
      for (let t = 0; t < dim; t++) centroids[o + t] = (centroids[o + t] * seen[j] + sums[o + t]) / total;
      seen[j] = total;
    }
    progress.advance(1);
  }
  // Every row's cluster and the exact inertia in one pass (scikit-learn's labels_ and inertia_),
  // which also checks the rows no batch drew.
  const { assignments, counts, inertia } = assignAll(e, centroids, k);
  return { centroids: Float32Array.from(centroids), k, dim, assignments, counts, inertia, iterations: steps, converged: false };
}
