import { PruneError, type Tensor, fromArray } from '@prune/core';
import { readFloat } from './common.js';

/** Options of {@link bipartiteSoftMatching}. */
export interface BipartiteMatchingOptions {
  /**
   * Whether token 0 is a CLS token; it is never merged and stays first.
   * @defaultValue `true`
   */
  classToken?: boolean;
}

/**
 * One ToMe matching: which tokens of set A (even positions) merge into which tokens of set
 * B (odd positions). Output order after merging is: unmerged A tokens, then all of B.
 */
export interface TomeMatching {
  /** Tokens before merging, t. */
  count: number;
  /** Tokens removed, r (after clamping to ⌊(t − protected)/2⌋). */
  r: number;
  /** A-local indices (token = 2·index) that stay, in output order. */
  unmerged: Int32Array;
  /** A-local indices that merge, by descending similarity of their best match. */
  source: Int32Array;
  /** For each `source[k]`, the B-local index (token = 2·index + 1) it merges into. */
  destination: Int32Array;
}

/**
 * ToMe's bipartite soft matching: keys are L2-normalised, tokens alternate into sets A
 * (even) and B (odd), each A token's most similar B token is its edge, and the r edges of
 * highest cosine similarity are merged. A CLS token (A's first) is protected: its score is
 * −∞, and the unmerged A tokens are then put back in position order so it stays first.
 * @param metric - the similarity metric, [t, c] (ToMe: the keys averaged over heads)
 * @param r - tokens to remove; clamped to ⌊(t − protected)/2⌋
 * @param options - CLS handling
 * @returns the matching (use {@link mergeWeightedAverage} to apply it)
 */
export function bipartiteSoftMatching(metric: Tensor, r: number, options: BipartiteMatchingOptions = {}): TomeMatching {
  const m = readFloat('bipartiteSoftMatching', 'metric', metric, 2);
  const [t, c] = metric.shape;
  if (!Number.isInteger(r) || r < 0) {
    throw new PruneError('OUT_OF_RANGE', `bipartiteSoftMatching: r = ${r} must be a non-negative integer (tokens removed in this layer)`);
  }
  const classToken = options.classToken ?? true;
  const protectedCount = classToken ? 1 : 0;
  const rr = Math.max(0, Math.min(r, Math.floor((t - protectedCount) / 2)));
  const na = Math.ceil(t / 2);
  const nb = Math.floor(t / 2);
  if (rr === 0) {
    return { count: t, r: 0, unmerged: Int32Array.from({ length: na }, (_, i) => i), source: new Int32Array(0), destination: new Int32Array(0) };
  }
  const unit = new Float64Array(t * c);
  for (let i = 0; i < t; i++) {
    let s = 0;
    for (let k = 0; k < c; k++) s += m[i * c + k] * m[i * c + k];
    const inv = 1 / Math.sqrt(s);
    for (let k = 0; k < c; k++) unit[i * c + k] = m[i * c + k] * inv;
  }
  const nodeMax = new Float64Array(na);
  const nodeIdx = new Int32Array(na);
  for (let a = 0; a < na; a++) {
    let best = -Infinity;
    let bestJ = 0;
    if (!(classToken && a === 0)) {
      for (let b = 0; b < nb; b++) {
        let s = 0;
        for (let k = 0; k < c; k++) s += unit[2 * a * c + k] * unit[(2 * b + 1) * c + k];
        if (s > best) {
          best = s;
          bestJ = b;
        }
      }
    }
    nodeMax[a] = best;
    nodeIdx[a] = bestJ;
  }
  const edges = Int32Array.from({ length: na }, (_, i) => i).sort((x, y) => nodeMax[y] - nodeMax[x] || x - y);
  const source = edges.slice(0, rr);
  const destination = Int32Array.from(source, (a) => nodeIdx[a]);
  let unmerged = edges.slice(rr);
  if (classToken) unmerged = unmerged.sort();
  return { count: t, r: rr, unmerged, source, destination };
}

/** Tokens after a size-weighted merge. */
export interface MergedTokens {
  /** Merged tokens, [t − r, d]: unmerged A tokens, then B. */
  tokens: Tensor<'float32'>;
  /** How many original patches each merged token stands for. */
  sizes: Float32Array;
}

/**
 * Applies a matching with ToMe's size-weighted average: x ← Σ sᵢxᵢ / Σ sᵢ over the tokens
 * merged together, s ← Σ sᵢ.
 * @param matching - from {@link bipartiteSoftMatching}
 * @param x - tokens, [t, d]
 * @param sizes - current token sizes (all 1 before the first merge)
 * @returns merged tokens and their sizes
 */
export function mergeWeightedAverage(matching: TomeMatching, x: Tensor, sizes?: ArrayLike<number>): MergedTokens {
  const data = readFloat('mergeWeightedAverage', 'x', x, 2);
  const [t, d] = x.shape;
  if (t !== matching.count) {
    throw new PruneError('SHAPE_MISMATCH', `mergeWeightedAverage: x has ${t} tokens but the matching was made for ${matching.count}; match and merge the same tokens`);
  }
  const size = sizes ?? new Float32Array(t).fill(1);
  if (size.length !== t) {
    throw new PruneError('SHAPE_MISMATCH', `mergeWeightedAverage: ${size.length} sizes for ${t} tokens`);
  }
  const nb = Math.floor(t / 2);
  const nu = matching.unmerged.length;
  const out = new Float64Array((nu + nb) * d);
  const outSize = new Float64Array(nu + nb);
  const addTo = (row: number, token: number): void => {
    const s = size[token];
    outSize[row] += s;
    for (let k = 0; k < d; k++) out[row * d + k] += s * data[token * d + k];
  };
  matching.unmerged.forEach((a, row) => addTo(row, 2 * a));
  for (let b = 0; b < nb; b++) addTo(nu + b, 2 * b + 1);
  matching.source.forEach((a, k) => addTo(nu + matching.destination[k], 2 * a));
  const merged = new Float32Array(out.length);
  for (let row = 0; row < nu + nb; row++) {
    for (let k = 0; k < d; k++) merged[row * d + k] = out[row * d + k] / outSize[row];
  }
  return { tokens: fromArray(merged, [nu + nb, d], 'float32', { backend: x.backend }), sizes: Float32Array.from(outSize) };
}

/**
 * Where each token of a merged sequence came from: merges a one-hot source map with the
 * same matching, so row i lists the original tokens that merged token i averages.
 * @param matching - from {@link bipartiteSoftMatching}
 * @param sources - the current sources, one list of original token indices per token
 * @returns the sources after the merge
 */
export function mergeSources(matching: TomeMatching, sources?: readonly (readonly number[])[]): number[][] {
  const t = matching.count;
  const src = sources ?? Array.from({ length: t }, (_, i) => [i]);
  if (src.length !== t) {
    throw new PruneError('SHAPE_MISMATCH', `mergeSources: ${src.length} source lists for ${t} tokens`);
  }
  const nb = Math.floor(t / 2);
  const out: number[][] = [...Array.from(matching.unmerged, (a) => [...src[2 * a]]), ...Array.from({ length: nb }, (_, b) => [...src[2 * b + 1]])];
  const nu = matching.unmerged.length;
  matching.source.forEach((a, k) => out[nu + matching.destination[k]].push(...src[2 * a]));
  for (const row of out) row.sort((x, y) => x - y);
  return out;
}

/**
 * ToMe's per-layer schedule (`parse_r`): a constant r, or with an inflection the values
 * ramp linearly from ⌊r(1 − inflect)⌋ to 2r − ⌊r(1 − inflect)⌋ across the layers.
 * @param layers - number of blocks
 * @param r - tokens removed per layer
 * @param inflect - slope of the schedule (0: constant)
 * @returns r for each block
 */
export function tomeSchedule(layers: number, r: number, inflect = 0): number[] {
  if (!Number.isInteger(layers) || layers < 1) {
    throw new PruneError('INVALID_ARGUMENT', `tomeSchedule: layers ${layers} must be a positive integer`);
  }
  const minVal = Math.trunc(r * (1 - inflect));
  const maxVal = 2 * r - minVal;
  const step = layers > 1 ? (maxVal - minVal) / (layers - 1) : 0;
  return Array.from({ length: layers }, (_, i) => Math.trunc(minVal + step * i));
}

/** Options of {@link tomeScheduleToKeep}. */
export interface TomeTargetOptions {
  /** Patch tokens before the first merge, N. */
  count: number;
  /** Patch tokens wanted after the last merging layer, N′. */
  keep: number;
  /** Number of blocks. */
  layers: number;
  /** Block by which the budget should be reached; later blocks merge only what is left. */
  byLayer: number;
}

/**
 * A per-layer ToMe schedule that reduces N patch tokens to N′: the removals are spread as
 * evenly as the ⌊(t − protected)/2⌋ per-layer limit allows over blocks 0..byLayer; what
 * cannot be removed by then is removed in the following blocks.
 * @param options - counts and layers
 * @returns r for each block
 * @throws PruneError `OUT_OF_RANGE` when N′ cannot be reached within `layers` blocks
 */
export function tomeScheduleToKeep(options: TomeTargetOptions): number[] {
  const { count, keep, layers, byLayer } = options;
  if (!Number.isInteger(keep) || keep < 1 || keep > count) {
    throw new PruneError('OUT_OF_RANGE', `tomeScheduleToKeep: keep ${keep} must be an integer in [1, ${count}]`);
  }
  if (!Number.isInteger(byLayer) || byLayer < 0 || byLayer >= layers) {
    throw new PruneError('OUT_OF_RANGE', `tomeScheduleToKeep: byLayer ${byLayer} must be a block index in [0, ${layers})`);
  }
  const schedule = new Array<number>(layers).fill(0);
  let t = count;
  for (let l = 0; l < layers && t > keep; l++) {
    // ⌊(t + 1 − 1)/2⌋ with a protected CLS token, ⌊t/2⌋ without: the same limit.
    const limit = Math.floor(t / 2);
    const left = Math.max(1, byLayer - l + 1);
    const r = Math.min(limit, l <= byLayer ? Math.ceil((t - keep) / left) : t - keep);
    schedule[l] = r;
    t -= r;
  }
  if (t > keep) {
    throw new PruneError('OUT_OF_RANGE', `tomeScheduleToKeep: ${count} tokens cannot be merged down to ${keep} in ${layers} blocks (each block removes at most half); keep more tokens`);
  }
  return schedule;
}
