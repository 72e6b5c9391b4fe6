import { type ProgressOptions, PruneError, Random, progressStage } from '@prune/core';
import { squaredDistanceTo } from '../internal/distance.js';
import { checkInteger, checkKeepFraction, checkUnitRange, keptCount } from '../internal/validate.js';
import { type Embeddings, checkEmbeddingShape, checkEmbeddings } from './embeddings.js';
import { type KMeansResult, assignToNearest, kmeans, miniBatchKmeans } from './kmeans.js';

/** Options of {@link hierarchicalKmeans}. */
export interface HierarchicalKMeansOptions extends ProgressOptions {
  /**
   * Clusters per level, finest first: `levels[0]` clusters the rows, `levels[1]` clusters
   * the centroids of level 0, and so on. Each entry must not exceed the one before it.
   */
  levels: readonly number[];
  /**
   * Lloyd iterations of every k-means run.
   * @defaultValue `50`
   */
  iterations?: number;
  /**
   * Resampling steps per level: from each cluster take {@link HierarchicalKMeansOptions.resampleSize}
   * points, re-run k-means on their union (starting from the current centroids) and reassign
   * every point. Moves centroids from dense regions towards an even coverage of the support.
   * @defaultValue `10`
   */
  resamplingSteps?: number;
  /**
   * Points taken from each cluster in a resampling step (all of a smaller cluster). Either
   * one number for every level or one per level.
   * @defaultValue the level's mean cluster size, `ceil(points / k)`
   */
  resampleSize?: number | readonly number[];
  /**
   * Which points a resampling step takes from each cluster: the closest to its centroid,
   * or uniformly random ones.
   * @defaultValue `'closest'`
   */
  resampleStrategy?: 'closest' | 'random';
  /**
   * Use mini-batch k-means (with this many steps of `batchSize` rows) for the first level
   * instead of Lloyd iterations: bounded time on very large inputs.
   * @defaultValue Lloyd iterations on every level
   */
  miniBatch?: { batchSize: number; steps: number };
  /**
   * Seed of every random choice.
   * @defaultValue `0`
   */
  seed?: number;
}

/** One level of a {@link HierarchicalClustering}. */
export interface ClusterLevel {
  /** Number of clusters. */
  k: number;
  /** `k·dim` centroid values, row-major. */
  centroids: Float32Array;
  /** For every item of this level's input (rows at level 0, level ℓ−1 clusters above): its cluster. */
  assignments: Int32Array;
}

/** A tree of clusterings made by {@link hierarchicalKmeans}: level 0 clusters the rows. */
export interface HierarchicalClustering {
  /** Number of clustered rows. */
  count: number;
  /** Values per row. */
  dim: number;
  /** Levels, finest first. */
  levels: ClusterLevel[];
}

function closestPerCluster(points: Embeddings, assignments: Int32Array, centroids: Float64Array, k: number, size: number, strategy: 'closest' | 'random', rng: Random): Int32Array {
  const members: number[][] = Array.from({ length: k }, () => []);
  for (let i = 0; i < points.count; i++) members[assignments[i]].push(i);
  const picked: number[] = [];
  for (let j = 0; j < k; j++) {
    const m = members[j];
    if (m.length <= size) {
      picked.push(...m);
    } else if (strategy === 'random') {
      for (const r of rng.sample(m.length, size)) picked.push(m[r]);
    } else {
      const d = m.map((i) => squaredDistanceTo(points.data, i, points.dim, centroids, j));
      const order = m.map((_, r) => r).sort((a, b) => d[a] - d[b] || m[a] - m[b]);
      for (let r = 0; r < size; r++) picked.push(m[order[r]]);
    }
  }
  picked.sort((a, b) => a - b);
  return Int32Array.from(picked);
}

function gatherRows(points: Embeddings, rows: Int32Array): Embeddings {
  const data = new Float32Array(rows.length * points.dim);
  for (let r = 0; r < rows.length; r++) data.set(points.data.subarray(rows[r] * points.dim, (rows[r] + 1) * points.dim), r * points.dim);
  return { data, count: rows.length, dim: points.dim };
}

/**
 * Hierarchical k-means with resampling (Vo et al. 2024, "Automatic Data Curation for
 * Self-Supervised Learning"). Level ℓ clusters the previous level's centroids (the rows at
 * level 0) into `levels[ℓ]` clusters with k-means++ and Lloyd iterations (float64 sums), then
 * runs the resampling step `resamplingSteps` times: take `resampleSize` points per cluster
 * (closest to the centroid, or random), re-run k-means on their union starting from the
 * current centroids, and reassign every point to the nearest new centroid.
 *
 * @param e - the rows
 * @param options - clusters per level, resampling, seed
 * @returns the levels, finest first
 * @throws PruneError `INVALID_ARGUMENT` for an empty or increasing `levels`, `OUT_OF_RANGE`
 *   when a level asks for more clusters than it has points
 */
export function hierarchicalKmeans(e: Embeddings, options: HierarchicalKMeansOptions): HierarchicalClustering {
  // Values are checked by the first level's k-means, in a pass it makes anyway.
  checkEmbeddingShape(e, 'hierarchicalKmeans');
  const { levels } = options;
  if (!Array.isArray(levels) || levels.length === 0) {
    throw new PruneError('INVALID_ARGUMENT', 'levels must list the clusters per level, finest first, e.g. [100, 10]');
  }
  levels.forEach((k, l) => {
    checkInteger(`levels[${l}]`, k, 1);
    if (l > 0 && k > levels[l - 1]) {
      throw new PruneError('INVALID_ARGUMENT', `levels[${l}] = ${k} exceeds levels[${l - 1}] = ${levels[l - 1]}; each level clusters the centroids of the one before, so k must not grow`);
    }
  });
  if (levels[0] > e.count) throw new PruneError('OUT_OF_RANGE', `levels[0] = ${levels[0]} clusters need at least as many rows, got ${e.count}`);
  const iterations = options.iterations ?? 50;
  const steps = options.resamplingSteps ?? 10;
  checkInteger('iterations', iterations, 0);
  checkInteger('resamplingSteps', steps, 0);
  const strategy = options.resampleStrategy ?? 'closest';
  if (strategy !== 'closest' && strategy !== 'random') throw new PruneError('INVALID_ARGUMENT', `resampleStrategy must be 'closest' or 'random', got "${String(strategy)}"`);
  const rng = new Random(options.seed ?? 0);
  const progress = progressStage(options.onProgress, 'hierarchical-kmeans', levels.length, 'levels');

  const out: ClusterLevel[] = [];
  let points: Embeddings = e;
  for (let l = 0; l < levels.length; l++) {
    const k = levels[l];
    const seed = rng.nextUint32();
    let clustering: KMeansResult =
      l === 0 && options.miniBatch
        ? miniBatchKmeans(points, { k, seed, batchSize: options.miniBatch.batchSize, steps: options.miniBatch.steps })
        : kmeans(points, { k, seed, maxIterations: iterations });
    let centroids = Float64Array.from(clustering.centroids);
    let assignments = clustering.assignments;
    const sizeOption = options.resampleSize;
    const size = typeof sizeOption === 'number' ? sizeOption : (sizeOption?.[l] ?? Math.ceil(points.count / k));
    checkInteger(`resampleSize (level ${l})`, size, 1);
    for (let s = 0; s < steps; s++) {
      const rows = closestPerCluster(points, assignments, centroids, k, size, strategy, rng);
      const union = gatherRows(points, rows);
      clustering = kmeans(union, { k, seed: rng.nextUint32(), maxIterations: iterations, initialCentroids: centroids });
      centroids = Float64Array.from(clustering.centroids);
      assignments = assignToNearest(points, centroids).assignments;
    }
    out.push({ k, centroids: Float32Array.from(centroids), assignments });
    points = { data: Float32Array.from(centroids), count: k, dim: e.dim };
    progress.advance(1);
  }
  return { count: e.count, dim: e.dim, levels: out };
}

/** What {@link capAllocation} decides. */
export interface CapAllocation {
  /** The largest cap c with Σᵢ min(c, sizeᵢ) ≤ budget. */
  cap: number;
  /** Items given to every group: min(c, sizeᵢ), plus one for the groups that got a remainder unit. */
  allocation: Int32Array;
}

/**
 * The cap search of balanced sampling: the largest integer cap c with Σᵢ min(c, sizeᵢ) ≤
 * budget (binary search), then the remainder `budget − Σᵢ min(c, sizeᵢ)` as +1 to groups
 * larger than c chosen at random. Small groups are kept whole; large groups are cut to the
 * same size. When the budget covers every item, every group is kept whole.
 *
 * @param sizes - items per group
 * @param budget - items to allocate in all
 * @param rng - chooses the groups that get a remainder unit
 * @returns the cap and the allocation (summing to min(budget, Σ sizes))
 */
export function capAllocation(sizes: ArrayLike<number>, budget: number, rng: Random): CapAllocation {
  checkInteger('budget', budget, 0);
  let total = 0;
  let largest = 0;
  for (let i = 0; i < sizes.length; i++) {
    checkInteger(`sizes[${i}]`, sizes[i], 0);
    total += sizes[i];
    if (sizes[i] > largest) largest = sizes[i];
  }
  const allocation = new Int32Array(sizes.length);
  if (budget >= total) {
    for (let i = 0; i < sizes.length; i++) allocation[i] = sizes[i];
    return { cap: largest, allocation };
  }
  const used = (c: number): number => {
    let s = 0;
    for (let i = 0; i < sizes.length; i++) s += sizes[i] < c ? sizes[i] : c;
    return s;
  };
  let lo = 0; // used(lo) ≤ budget
  let hi = largest; // used(hi) = total > budget
  while (hi - lo > 1) {
    const mid = (lo + hi) >>> 1;
    if (used(mid) <= budget) lo = mid;
    else hi = mid;
  }
  const cap = lo;
  const larger: number[] = [];
  for (let i = 0; i < sizes.length; i++) {
    allocation[i] = sizes[i] < cap ? sizes[i] : cap;
    if (sizes[i] > cap) larger.push(i);
  }
  const remainder = budget - used(cap);
  // used(cap + 1) > budget, so more than `remainder` groups are larger than the cap.
  for (const r of rng.sample(larger.length, remainder)) allocation[larger[r]]++;
  return { cap, allocation };
}

/** Options of {@link balancedSample}. */
export interface BalancedSampleOptions {
  /** Number of rows to keep (N). */
  size: number;
  /**
   * η: in every leaf cluster that keeps n rows, ceil(η·n) are the rows closest to its
   * centroid and the rest are drawn at random from the others. 0 = random rows (most
   * spread out), 1 = the most central rows.
   * @defaultValue `0`
   */
  closestFraction?: number;
  /**
   * Seed of the random choices.
   * @defaultValue `0`
   */
  seed?: number;
}

/**
 * Hierarchical balanced sampling (Vo et al. 2024): give the top-level clusters equal shares
 * of the target size by the cap search ({@link capAllocation}), split each cluster's share
 * among its sub-clusters the same way, level by level, and at the leaves (level-0 clusters)
 * take the rows — the closest to the centroid and/or random ones, as `closestFraction` says.
 *
 * @param clustering - the tree from {@link hierarchicalKmeans}
 * @param e - the clustered rows (for distances to the leaf centroids)
 * @param options - target size, leaf strategy, seed
 * @returns the kept row indices, ascending
 */
export function balancedSample(clustering: HierarchicalClustering, e: Embeddings, options: BalancedSampleOptions): Int32Array {
  checkEmbeddings(e, 'balancedSample');
  if (e.count !== clustering.count || e.dim !== clustering.dim) {
    throw new PruneError('SHAPE_MISMATCH', `balancedSample: the clustering covers ${clustering.count}×${clustering.dim} rows but the embeddings are ${e.count}×${e.dim}`);
  }
  checkInteger('size', options.size, 0);
  if (options.size > e.count) throw new PruneError('OUT_OF_RANGE', `size = ${options.size} exceeds the ${e.count} rows available`);
  const eta = options.closestFraction ?? 0;
  checkUnitRange('closestFraction', eta);
  const rng = new Random(options.seed ?? 0);
  const L = clustering.levels.length;
  // children[l][c]: members of cluster c of level l (rows for l = 0, level l−1 clusters above).
  const children: number[][][] = clustering.levels.map((lvl) => {
    const ch: number[][] = Array.from({ length: lvl.k }, () => []);
    lvl.assignments.forEach((c, i) => ch[c].push(i));
    return ch;
  });
  // rowsUnder[l][c]: number of rows below cluster c of level l.
  const rowsUnder: Int32Array[] = [];
  for (let l = 0; l < L; l++) {
    const counts = new Int32Array(clustering.levels[l].k);
    if (l === 0) for (const c of clustering.levels[0].assignments) counts[c]++;
    else clustering.levels[l].assignments.forEach((c, i) => (counts[c] += rowsUnder[l - 1][i]));
    rowsUnder.push(counts);
  }
  const kept: number[] = [];
  const leafCentroids = Float64Array.from(clustering.levels[0].centroids);
  const takeLeaf = (c: number, n: number): void => {
    const members = children[0][c];
    if (n >= members.length) {
      kept.push(...members);
      return;
    }
    const nClosest = Math.ceil(eta * n);
    let rest = members;
    if (nClosest > 0) {
      const d = members.map((i) => squaredDistanceTo(e.data, i, e.dim, leafCentroids, c));
      const order = members.map((_, r) => r).sort((a, b) => d[a] - d[b] || members[a] - members[b]);
      for (let r = 0; r < nClosest; r++) kept.push(members[order[r]]);
      rest = order.slice(nClosest).map((r) => members[r]);
    }
    for (const r of rng.sample(rest.length, n - nClosest)) kept.push(rest[r]);
  };
  const visit = (l: number, groups: readonly number[], budget: number): void => {
    const sizes = groups.map((g) => rowsUnder[l][g]);
    const { allocation } = capAllocation(sizes, budget, rng);
    groups.forEach((g, i) => {
      if (allocation[i] === 0) return;
      if (l === 0) takeLeaf(g, allocation[i]);
      else visit(l - 1, children[l][g], allocation[i]);
    });
  };
  visit(L - 1, Array.from({ length: clustering.levels[L - 1].k }, (_, c) => c), options.size);
  kept.sort((a, b) => a - b);
  return Int32Array.from(kept);
}

/** Options of {@link balancedCuration}. */
export interface BalancedCurationOptions extends Omit<HierarchicalKMeansOptions, 'levels'>, Omit<BalancedSampleOptions, 'size'> {
  /** Fraction of the rows to keep, in (0, 1]. */
  keep: number;
  /**
   * Clusters per level, finest first.
   * @defaultValue two levels: `round(sqrt(kept rows))` clusters, then a tenth of that (one level when that is below 2)
   */
  levels?: readonly number[];
}

/**
 * Curation in one call: {@link hierarchicalKmeans} on the rows, then {@link balancedSample}
 * to `round(keep·count)` rows.
 *
 * @param e - the rows (embeddings of the examples)
 * @param options - kept fraction, levels, leaf strategy, seed
 * @returns kept row indices, ascending
 */
export function balancedCuration(e: Embeddings, options: BalancedCurationOptions): Int32Array {
  // Values are checked by the clustering's first pass and again by balancedSample.
  checkEmbeddingShape(e, 'balancedCuration');
  checkKeepFraction('keep', options.keep);
  const size = keptCount(options.keep, e.count);
  const k0 = Math.max(1, Math.min(e.count, Math.round(Math.sqrt(size))));
  const levels = options.levels ?? (k0 >= 20 ? [k0, Math.round(k0 / 10)] : [k0]);
  const clustering = hierarchicalKmeans(e, { ...options, levels });
  return balancedSample(clustering, e, { size, closestFraction: options.closestFraction, seed: options.seed });
}
