import { PruneError, Tensor, cosineSimilarity, reshape, tidy } from '@prune/core';
import type { LayerObservation, ObservationNeeds, ObservingStatistic } from './tamp-observation.js';

/**
 * Mean cosine similarities of one layer's output tokens by modality (TAMP's
 * `cos_pairwise_density`): `visual` = S_vv, the mean of the positive strictly-upper-triangular
 * entries of Ô_v·Ô_vᵀ; `language` = S_ll, the same for language tokens; `cross` = S_vl, the
 * mean of all entries of Ô_v·Ô_lᵀ (Ô: L2-normalised output rows). Where the reference would
 * produce NaN we decide: a modality with pairs but no positive one gets 0 (its tokens are as
 * diverse as can be); a term without any pair (fewer than two tokens of a modality, or a
 * modality missing from the sample) is `undefined` and is left out of averages.
 */
export interface ModalitySimilarities {
  /** S_vv. */
  readonly visual: number | undefined;
  /** S_ll. */
  readonly language: number | undefined;
  /** S_vl. */
  readonly cross: number | undefined;
}

/**
 * {@link ModalitySimilarities} from the `[n, n]` cosine-similarity matrix `gram` of the
 * output tokens and their modality flags (1 = visual).
 * @param gram - row-major cosine similarities, float32 or float64
 * @param n - number of tokens
 * @param visual - per-token modality, 1 for the first modality
 */
export function similaritiesFromGram(gram: ArrayLike<number>, n: number, visual: ArrayLike<number>): ModalitySimilarities {
  let vvSum = 0, vvCount = 0, llSum = 0, llCount = 0, vlSum = 0, vlCount = 0, vvPairs = 0, llPairs = 0;
  for (let i = 0; i < n; i++) {
    const vi = visual[i] !== 0;
    for (let j = 0; j < n; j++) {
      const g = gram[i * n + j];
      const vj = visual[j] !== 0;
      if (vi && !vj) {
        vlSum += g;
        vlCount++;
      } else if (j > i && vi === vj) {
        if (vi) vvPairs++;
        else llPairs++;
        if (!(g > 0)) continue;
        if (vi) {
          vvSum += g;
          vvCount++;
        } else {
          llSum += g;
          llCount++;
        }
      }
    }
  }
  return {
    visual: vvCount > 0 ? vvSum / vvCount : vvPairs > 0 ? 0 : undefined,
    language: llCount > 0 ? llSum / llCount : llPairs > 0 ? 0 : undefined,
    cross: vlCount > 0 ? vlSum / vlCount : undefined,
  };
}

/**
 * Diversity score of a layer, d_m = (1 − S_vv) + (1 − S_ll) + (1 − S_vl) (Lee et al., 2025,
 * "TAMP: Token-Adaptive Layerwise Pruning for Multimodal Large Language Models",
 * diversity-aware sparsity; `compute_density` in G-JWLee/TAMP). Less similar outputs — more
 * diverse tokens — mean a layer that should keep more weights. A missing term contributes 0.
 * @param similarities - the layer's (averaged) similarities
 * @returns d_m ≥ 0 for similarities in [−1, 1]
 */
export function diversityScore(similarities: ModalitySimilarities): number {
  let d = 0;
  for (const s of [similarities.visual, similarities.language, similarities.cross]) if (s !== undefined) d += 1 - s;
  return d;
}

/**
 * The token rows of a sample as `[tokens, d]` plus its modality flags, validated. Accepts
 * `[tokens, d]` or `[1, tokens, d]` and a mask `[tokens]` or `[1, tokens]`.
 * @internal
 */
export function sampleRows(op: string, what: string, x: unknown, tokens?: number): Tensor<'float32'> {
  if (!(x instanceof Tensor)) throw new PruneError('INVALID_ARGUMENT', `${op}: the observation has no ${what}; the model adapter must pass each linear's ${what} for one sample as [tokens, d]`);
  if (x.dtype !== 'float32') throw new PruneError('DTYPE_MISMATCH', `${op}: the ${what} must be float32, got ${x.dtype}`);
  const ok = x.rank === 2 || (x.rank === 3 && x.shape[0] === 1);
  if (!ok) {
    throw new PruneError(
      'SHAPE_MISMATCH',
      `${op}: the ${what} has shape [${x.shape.join(', ')}]; TAMP works on one sample at a time, as [tokens, d] or [1, tokens, d] — feed batches of one sample`,
    );
  }
  const rows = x.shape[x.rank - 2];
  if (tokens !== undefined && rows !== tokens) {
    throw new PruneError('SHAPE_MISMATCH', `${op}: the ${what} has ${rows} tokens but the sample has ${tokens}; pass the same sample's tensors together`);
  }
  return x as Tensor<'float32'>;
}

/** Reads and validates a modality mask; returns one flag per token (1 = first modality). @internal */
export function modalityFlags(op: string, mask: unknown, tokens: number): Uint8Array {
  if (!(mask instanceof Tensor)) {
    throw new PruneError(
      'INVALID_ARGUMENT',
      `${op}: TAMP needs the modality of every token: pass modalityMask, a bool tensor [tokens] with true for visual tokens and false for language tokens (the model adapter or the calibration data provides it)`,
    );
  }
  if (mask.dtype !== 'bool') throw new PruneError('DTYPE_MISMATCH', `${op}: modalityMask must be bool (true = visual token), got ${mask.dtype}`);
  if (mask.size !== tokens || !(mask.rank === 1 || (mask.rank === 2 && mask.shape[0] === 1))) {
    throw new PruneError('SHAPE_MISMATCH', `${op}: modalityMask has shape [${mask.shape.join(', ')}] but the sample has ${tokens} tokens; pass one flag per token, [${tokens}]`);
  }
  return Uint8Array.from(mask.dataSync());
}

/**
 * Cosine similarities of every pair of a sample's output tokens, `[tokens, tokens]` on the
 * host (computed on the output's backend). A zero row is similar to nothing (0).
 * @internal
 */
export function tokenGram(output: Tensor<'float32'>): Float32Array {
  return tidy(() => {
    const d = output.shape[output.rank - 1];
    const rows = reshape(output, [output.size / Math.max(d, 1), d]);
    return cosineSimilarity(rows, rows);
  }).dataSync() as Float32Array;
}

/**
 * The similarities of one sample's layer outputs by modality (see
 * {@link ModalitySimilarities}).
 * @param output - float32 `[tokens, d_out]` (or `[1, tokens, d_out]`), one sample
 * @param modalityMask - bool `[tokens]`, true for visual tokens
 * @returns S_vv, S_ll, S_vl of this sample
 * @throws `INVALID_ARGUMENT` without a modality mask; `SHAPE_MISMATCH` when the mask does not
 *   have one flag per token or the output holds several samples
 */
export function modalitySimilarities(output: Tensor, modalityMask: Tensor): ModalitySimilarities {
  const op = 'modalitySimilarities';
  const rows = sampleRows(op, 'output', output);
  const n = rows.shape[rows.rank - 2];
  const flags = modalityFlags(op, modalityMask, n);
  return similaritiesFromGram(tokenGram(rows), n, flags);
}

/** One running mean that skips samples where its term is undefined. */
class TermMean {
  value = 0;
  count = 0;
  add(x: number | undefined): void {
    if (x === undefined) return;
    // The reference's running average: v ← v·n/(n+1); n ← n+1; v ← v + x/n.
    this.value *= this.count / (this.count + 1);
    this.count++;
    this.value += x / this.count;
  }
  get mean(): number | undefined {
    return this.count > 0 ? this.value : undefined;
  }
}

/**
 * TAMP's diversity statistic of one linear layer: the running average over calibration
 * samples of S_vv, S_ll and S_vl of its outputs (`ActivationDensity` in G-JWLee/TAMP). Each
 * term averages over the samples where it exists (a text-only sample adds nothing to S_vv).
 * Consumes observations with the layer's outputs and the modality mask.
 */
export class DiversityStatistic implements ObservingStatistic {
  /** Reads the outputs and the modality mask. */
  readonly needs: ObservationNeeds = { output: true, attention: false, modalityMask: true };
  readonly #visual = new TermMean();
  readonly #language = new TermMean();
  readonly #cross = new TermMean();
  #samples = 0;

  /** Samples observed. */
  get samples(): number {
    return this.#samples;
  }

  /**
   * Not usable: the statistic is computed on the layer's outputs by modality.
   * @throws `INVALID_ARGUMENT` always, saying what to pass instead
   */
  update(_input: Tensor): void {
    throw new PruneError(
      'INVALID_ARGUMENT',
      'DiversityStatistic: TAMP measures the diversity of a layer\'s outputs per modality, so it needs observe({ input, output, modalityMask }) rather than update(input); the pipeline must pass each linear\'s outputs and the sample\'s modality mask',
    );
  }

  /**
   * Adds one sample.
   * @param observation - needs `output` (`[tokens, d_out]`) and `modalityMask` (`[tokens]`)
   */
  observe(observation: LayerObservation): void {
    const s = modalitySimilarities(sampleRows('DiversityStatistic.observe', 'output', observation?.output), observation.modalityMask as Tensor);
    this.#visual.add(s.visual);
    this.#language.add(s.language);
    this.#cross.add(s.cross);
    this.#samples++;
  }

  /** The averaged S_vv, S_ll, S_vl. */
  value(): ModalitySimilarities {
    return { visual: this.#visual.mean, language: this.#language.mean, cross: this.#cross.mean };
  }

  /** d_m of the averaged similarities ({@link diversityScore}). */
  score(): number {
    return diversityScore(this.value());
  }

  /** Nothing to release (the state is three numbers). */
  dispose(): void {}
}

/** Options of {@link allocateKeepBudget}. */
export interface KeepBudgetOptions {
  /**
   * s_max, the highest sparsity any matrix may get: every matrix keeps at least
   * ceil(n_m·(1 − s_max)) weights. Capped at 1.
   * @defaultValue sparsity + 0.1 (the reference's setting)
   */
  maxSparsity?: number;
}

/**
 * Diversity-aware keep budgets (TAMP's `compute_the_sparsity_per_group`): how many weights
 * each matrix keeps so that the total is K = floor((1 − s)·Σ n_m) and more diverse matrices
 * keep more.
 *
 * keep_m starts at ceil(n_m·(1 − s_max)) (with a 1e-9 relative slack so decimal sparsities
 * such as s_max = 0.8 floor exactly, as the reference's float32 arithmetic does); then,
 * while Σ keep < K, each matrix gets ceil(d_m/Σd · (K − Σ keep)) more; a matrix that reaches n_m is clipped there and its score
 * drops out. Rounding is fixed so Σ keep = K exactly: a shortfall (no progress) is filled
 * in matrix order up to each n_m, an excess is taken back from the largest budgets down to
 * their floors. Departures from the released code: its excess branch adds where it should
 * subtract, and when every remaining score is 0 the shares are equal (the reference divides
 * by zero). When the floors alone exceed K (tiny matrices at a high s_max) the floors win.
 *
 * @param scores - d_m ≥ 0 per matrix, e.g. {@link diversityScore}
 * @param sizes - n_m, the number of weights of each matrix (positive integers)
 * @param sparsity - the target overall sparsity s ∈ [0, 1)
 * @param options - s_max
 * @returns keep_m per matrix (integers, ceil(n_m·(1 − s_max)) ≤ keep_m ≤ n_m)
 *
 * @example
 * ```ts
 * allocateKeepBudget([1, 3], [100, 100], 0.5); // [40, 60]: s_max = 0.6 floors both at 40
 * ```
 */
export function allocateKeepBudget(scores: readonly number[], sizes: readonly number[], sparsity: number, options: KeepBudgetOptions = {}): number[] {
  const op = 'allocateKeepBudget';
  if (!Array.isArray(scores) || !Array.isArray(sizes) || scores.length !== sizes.length || scores.length === 0) {
    throw new PruneError('SHAPE_MISMATCH', `${op}: needs one score and one size per matrix (two non-empty arrays of equal length), got ${scores?.length} scores and ${sizes?.length} sizes`);
  }
  if (typeof sparsity !== 'number' || !Number.isFinite(sparsity) || sparsity < 0 || sparsity >= 1) {
    throw new PruneError('OUT_OF_RANGE', `${op}: sparsity must be a finite number in [0, 1), got ${String(sparsity)}`);
  }
  for (let m = 0; m < scores.length; m++) {
    if (!Number.isFinite(scores[m]) || scores[m] < 0) throw new PruneError('OUT_OF_RANGE', `${op}: score ${m} is ${scores[m]}; diversity scores must be finite and ≥ 0`);
    if (!Number.isInteger(sizes[m]) || sizes[m] < 1) throw new PruneError('OUT_OF_RANGE', `${op}: size ${m} is ${sizes[m]}; sizes are weight counts, positive integers`);
  }
  const maxSparsity = options.maxSparsity ?? sparsity + 0.1;
  if (typeof maxSparsity !== 'number' || !Number.isFinite(maxSparsity) || maxSparsity < sparsity) {
    throw new PruneError('OUT_OF_RANGE', `${op}: maxSparsity must be a number ≥ sparsity (${sparsity}), got ${String(maxSparsity)}`);
  }
  const floorFraction = Math.max(0, 1 - Math.min(maxSparsity, 1));
  const count = scores.length;
  const total = sizes.reduce((a, b) => a + b, 0);
  const budget = Math.floor(total * (1 - sparsity));
  // ceil(n·(1 − s_max)) of the decimal values: s + 0.1 carries binary noise (1 − 0.8 is
  // 0.20000000000000007, so 1610·(1 − s_max) would ceil to 323); the reference, computing in
  // float32, gets 322. A relative slack of 1e-9 absorbs the noise and nothing else.
  const minimum = sizes.map((n) => Math.min(n, Math.max(0, Math.ceil(n * floorFraction - 1e-9 * n))));
  const keep = [...minimum];
  const active = [...scores];
  const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);
  while (sum(keep) < budget) {
    let ratio = sum(active);
    if (ratio === 0) {
      // Every remaining score is 0: share equally among matrices with room left.
      for (let m = 0; m < count; m++) active[m] = keep[m] < sizes[m] ? 1 : 0;
      ratio = sum(active);
    }
    const rest = budget - sum(keep);
    let added = 0;
    for (let m = 0; m < count; m++) {
      const add = Math.ceil((active[m] / ratio) * rest);
      keep[m] += add;
      added += add;
    }
    for (let m = 0; m < count; m++) {
      if (keep[m] >= sizes[m]) {
        active[m] = 0;
        keep[m] = sizes[m];
      }
    }
    if (added === 0) {
      let need = budget - sum(keep);
      for (let m = 0; m < count && need > 0; m++) {
        const add = Math.min(need, sizes[m] - keep[m]);
        keep[m] += add;
        need -= add;
      }
    }
  }
  let excess = sum(keep) - budget;
  if (excess > 0) {
    // Largest budgets give back first (stable: equal budgets in matrix order).
    const order = [...keep.keys()].sort((a, b) => keep[b] - keep[a] || a - b);
    for (const m of order) {
      if (excess === 0) break;
      const take = Math.min(excess, keep[m] - minimum[m]);
      keep[m] -= take;
      excess -= take;
    }
  }
  return keep;
}

/**
 * Per-matrix sparsities of diversity-aware sparsity: 1 − keep_m/n_m with keep_m from
 * {@link allocateKeepBudget}.
 * @param scores - d_m per matrix
 * @param sizes - n_m per matrix
 * @param sparsity - overall target s
 * @param options - s_max
 * @returns the sparsity of each matrix, in [0, 1]
 */
export function diversityAwareSparsity(scores: readonly number[], sizes: readonly number[], sparsity: number, options: KeepBudgetOptions = {}): number[] {
  return allocateKeepBudget(scores, sizes, sparsity, options).map((k, m) => 1 - k / sizes[m]);
}
