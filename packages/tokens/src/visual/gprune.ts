import { PruneError, type Tensor, fromArray } from '@prune/core';
import { checkKeep, readFloat, topKIndices } from './common.js';

/** Options of {@link gpruneScores}. */
export interface GpruneScoreOptions {
  /**
   * τ: cosine similarities below it are not edges.
   * @defaultValue `0.5`
   */
  similarityThreshold?: number;
  /**
   * T: edge weights are divided by it before the row softmax.
   * @defaultValue `0.03`
   */
  temperature?: number;
  /**
   * n: propagation steps (the power of the transition matrix P).
   * @defaultValue `5`
   */
  iterations?: number;
}

/** G-Prune's graph: the row-stochastic transition matrix and each node's degree. */
export interface GpruneGraph {
  /** P = row-softmax(A / T) over edges, row-major [n, n]. */
  transition: Float64Array;
  /** deg_j = #{k : P_jk > 0} (the self-loop counts). */
  degree: Int32Array;
  /** Number of tokens n. */
  count: number;
}

/**
 * Builds G-Prune's similarity graph over token features: A_ij = cos(x_i, x_j) with
 * self-loops, A_ij = 0 where A_ij < τ, A ← A / T, non-edges (|A| < 1e−6) get −5000, and
 * P = row-softmax(A). Degrees count the non-zero entries of each row of P.
 * @param features - token features X, [n, d] (patch tokens only)
 * @param options - τ and T
 * @returns the transition matrix and degrees
 */
export function gpruneGraph(features: Tensor, options: GpruneScoreOptions = {}): GpruneGraph {
  const x = readFloat('gpruneGraph', 'features', features, 2);
  const [n, d] = features.shape;
  const tau = options.similarityThreshold ?? 0.5;
  const temperature = options.temperature ?? 0.03;
  if (!(temperature > 0)) {
    throw new PruneError('OUT_OF_RANGE', `gpruneGraph: temperature ${temperature} must be positive (the reference uses 0.03)`);
  }
  if (!(tau >= -1 && tau <= 1)) {
    throw new PruneError('OUT_OF_RANGE', `gpruneGraph: similarityThreshold ${tau} must lie in [-1, 1] (a cosine similarity)`);
  }
  const unit = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let c = 0; c < d; c++) s += x[i * d + c] * x[i * d + c];
    // F.normalize divides by max(‖x‖, 1e-12).
    const inv = 1 / Math.max(Math.sqrt(s), 1e-12);
    for (let c = 0; c < d; c++) unit[i * d + c] = x[i * d + c] * inv;
  }
  const p = new Float64Array(n * n);
  const degree = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let rowMax = -Infinity;
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let c = 0; c < d; c++) s += unit[i * d + c] * unit[j * d + c];
      let a = s < tau ? 0 : s / temperature;
      if (Math.abs(a) < 1e-6) a = -5000;
      p[i * n + j] = a;
      if (a > rowMax) rowMax = a;
    }
    let z = 0;
    for (let j = 0; j < n; j++) {
      const e = Math.exp(p[i * n + j] - rowMax);
      p[i * n + j] = e;
      z += e;
    }
    let deg = 0;
    for (let j = 0; j < n; j++) {
      // Round through float32 as the reference does, so exp(−5000 − max) counts as 0.
      const v = Math.fround(p[i * n + j] / z);
      p[i * n + j] = v;
      if (v > 0) deg++;
    }
    degree[i] = deg;
  }
  return { transition: p, degree, count: n };
}

/**
 * G-Prune's importance: information propagates n steps over the graph from every token with
 * initial mass w_i = ‖x_i‖₂, and the arriving mass is normalised by degree:
 * s = (w Pⁿ) ⊘ deg. Computed as n vector–matrix products, never a matrix power.
 * @param features - token features X, [n, d] (patch tokens only)
 * @param options - τ, T and n
 * @returns one score per token
 */
export function gpruneScores(features: Tensor, options: GpruneScoreOptions = {}): Float32Array {
  const iterations = options.iterations ?? 5;
  if (!Number.isInteger(iterations) || iterations < 0) {
    throw new PruneError('OUT_OF_RANGE', `gpruneScores: iterations ${iterations} must be a non-negative integer (the reference uses 5)`);
  }
  const { transition: p, degree, count: n } = gpruneGraph(features, options);
  const x = features.dataSync() as Float32Array;
  const d = features.shape[1];
  let v = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let c = 0; c < d; c++) s += x[i * d + c] * x[i * d + c];
    v[i] = Math.sqrt(s);
  }
  for (let step = 0; step < iterations; step++) {
    const next = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const vi = v[i];
      if (vi === 0) continue;
      const row = i * n;
      for (let j = 0; j < n; j++) next[j] += vi * p[row + j];
    }
    v = next;
  }
  return Float32Array.from(v, (s, j) => s / degree[j]);
}

/** Options of {@link gprune}. */
export interface GpruneOptions extends GpruneScoreOptions {
  /** Number of tokens to keep, floor(ρ·N) in the reference (ρ = 0.5). */
  keep: number;
  /**
   * Positions that are always kept on top of the budget (the reference keeps row-end
   * newline tokens this way); they are excluded from scoring.
   * @defaultValue none
   */
  alwaysKeep?: ArrayLike<number>;
}

/**
 * G-Prune: scores tokens by propagation over the feature-similarity graph
 * ({@link gpruneScores}) and keeps the top `keep` of them, plus `alwaysKeep`.
 * @param features - token features X, [n, d] (patch tokens only; drop CLS first)
 * @param options - budget, graph options and forced tokens
 * @returns kept positions, ascending
 */
export function gprune(features: Tensor, options: GpruneOptions): Int32Array {
  const n = features.shape[0] ?? 0;
  const forced = new Set<number>();
  for (const i of Array.from(options.alwaysKeep ?? [])) {
    if (!Number.isInteger(i) || i < 0 || i >= n) {
      throw new PruneError('OUT_OF_RANGE', `gprune: alwaysKeep position ${i} is outside [0, ${n})`);
    }
    forced.add(i);
  }
  checkKeep('gprune', options.keep, n - forced.size);
  if (forced.size === 0) return topKIndices(gpruneScores(features, options), options.keep);
  // The reference scores the ordinary tokens on their own graph, then adds the forced ones.
  const rest = Array.from({ length: n }, (_, i) => i).filter((i) => !forced.has(i));
  const x = features.dataSync() as Float32Array;
  const d = features.shape[1];
  const sub = new Float32Array(rest.length * d);
  rest.forEach((i, r) => sub.set(x.subarray(i * d, (i + 1) * d), r * d));
  const subTensor = fromArray(sub, [rest.length, d], 'float32', { backend: features.backend });
  try {
    const picked = topKIndices(gpruneScores(subTensor, options), options.keep);
    return Int32Array.from([...Array.from(picked, (r) => rest[r]), ...forced]).sort();
  } finally {
    subTensor.dispose();
  }
}
