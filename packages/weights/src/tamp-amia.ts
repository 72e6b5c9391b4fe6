import { type AccumulatorOptions, ColumnNormAccumulator, PruneError, Tensor, gather, reshape, tidy } from '@prune/core';
import { modalityFlags, sampleRows, similaritiesFromGram, tokenGram } from './tamp-das.js';
import type { LayerObservation, ObservationNeeds, ObservingStatistic } from './tamp-observation.js';

/** Options of TAMP's adaptive multimodal input activation (token selection). */
export interface TokenSelectionOptions {
  /**
   * k of the token graph: each token's k nearest tokens by cosine distance (itself excluded).
   * @defaultValue 3
   */
  neighbours?: number;
  /**
   * γ of the neighbour penalty: a selected token lowers each neighbour's score by
   * exp(−γ·D)·max(score, 0).
   * @defaultValue 0.2
   */
  penalty?: number;
  /**
   * c of the stop rule: selection stops once MMD² < c·sqrt(1 − ρ).
   * @defaultValue 0.1
   */
  mmdFactor?: number;
}

/** The token graph of one sample: kNN lists and the attention-propagated scores. */
export interface TokenGraph {
  /** `[tokens·k]`: row i lists the k nearest tokens of token i, nearest first. */
  readonly neighbours: Int32Array;
  /** k. */
  readonly k: number;
  /** graph_score_i = a_i + Σ_{n∈kNN(i)} exp(−D_in)·a_n. */
  readonly scores: Float64Array;
}

function checkOptions(op: string, options: TokenSelectionOptions): Required<TokenSelectionOptions> {
  const neighbours = options.neighbours ?? 3;
  const penalty = options.penalty ?? 0.2;
  const mmdFactor = options.mmdFactor ?? 0.1;
  if (!Number.isInteger(neighbours) || neighbours < 1) throw new PruneError('OUT_OF_RANGE', `${op}: neighbours must be a positive integer (3 in the reference), got ${String(neighbours)}`);
  if (!Number.isFinite(penalty) || penalty < 0) throw new PruneError('OUT_OF_RANGE', `${op}: penalty must be a finite number ≥ 0 (0.2 in the reference), got ${String(penalty)}`);
  if (!Number.isFinite(mmdFactor) || mmdFactor < 0) throw new PruneError('OUT_OF_RANGE', `${op}: mmdFactor must be a finite number ≥ 0 (0.1 in the reference), got ${String(mmdFactor)}`);
  return { neighbours, penalty, mmdFactor };
}

/**
 * Builds TAMP's token graph from cosine similarities: D = 1 − cos, each token's k nearest
 * other tokens (ties to the lower index; fewer than k when the sample is small), and
 * graph_score_i = a_i + Σ_{n∈kNN(i)} exp(−D_in)·a_n — attention propagated one hop.
 * @param gram - row-major `[n, n]` cosine similarities of the output tokens
 * @param n - tokens
 * @param attention - a_i, the head-averaged attention of the last query row, `[n]`
 * @param k - neighbours per token
 */
export function tokenGraph(gram: ArrayLike<number>, n: number, attention: ArrayLike<number>, k: number): TokenGraph {
  const kk = Math.min(k, Math.max(n - 1, 0));
  const neighbours = new Int32Array(n * kk);
  const scores = new Float64Array(n);
  const bestD = new Float64Array(kk);
  for (let i = 0; i < n; i++) {
    // Insertion into a sorted list of the kk smallest distances (strict <: ties keep the lower index).
    let filled = 0;
    for (let j = 0; j < n; j++) {
      if (j === i) continue;
      const d = 1 - gram[i * n + j];
      if (filled === kk && !(d < bestD[kk - 1])) continue;
      let p = filled < kk ? filled++ : kk - 1;
      while (p > 0 && d < bestD[p - 1]) {
        bestD[p] = bestD[p - 1];
        neighbours[i * kk + p] = neighbours[i * kk + p - 1];
        p--;
      }
      bestD[p] = d;
      neighbours[i * kk + p] = j;
    }
    let s = attention[i];
    for (let t = 0; t < kk; t++) s += Math.exp(-bestD[t]) * attention[neighbours[i * kk + t]];
    scores[i] = s;
  }
  return { neighbours, k: kk, scores };
}

/**
 * TAMP's greedy token selection with its MMD stop rule (`AdaptiveMultimodalInputActivation`
 * in G-JWLee/TAMP). Repeatedly: pick i* = argmax of the graph scores (first on ties) among
 * unselected tokens; each kNN neighbour n of i* loses exp(−γ·D_i*n)·max(score_i*, 0); add
 * i* to S; stop once MMD² = mean(K) + mean(K_SS) − 2·mean(K_:S) < c·sqrt(1 − ρ), with the
 * RBF kernel K_ij = exp(−‖ô_i − ô_j‖²/2) on the normalised outputs (‖ô‖ = 1, or 0 for a
 * zero output). Every token is selected at the latest.
 *
 * @param gram - row-major `[n, n]` cosine similarities of the output tokens
 * @param n - tokens
 * @param attention - a, `[n]`
 * @param rho - ρ, the sample's mean similarity (S_vv + S_ll + S_vl)/3
 * @param options - k, γ, c
 * @returns selected token indices in selection order
 */
export function selectTokensFromGram(gram: ArrayLike<number>, n: number, attention: ArrayLike<number>, rho: number, options: TokenSelectionOptions = {}): number[] {
  const { neighbours: k, penalty, mmdFactor } = checkOptions('selectTokensFromGram', options);
  if (n === 0) return [];
  const graph = tokenGraph(gram, n, attention, k);
  const score = Float64Array.from(graph.scores);
  // ‖ô_i‖² is 1 for a normalised row and 0 for a zero row (whose self-similarity is 0).
  const sq = Float64Array.from({ length: n }, (_, i) => (gram[i * n + i] > 0.5 ? 1 : 0));
  const kernel = (i: number, j: number): number => Math.exp(-Math.max(sq[i] + sq[j] - 2 * gram[i * n + j], 0) / 2);
  const columnSum = new Float64Array(n);
  let totalSum = 0;
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < n; j++) s += kernel(i, j);
    columnSum[i] = s; // K is symmetric: row sum = column sum
    totalSum += s;
  }
  const meanAll = totalSum / (n * n);
  const threshold = mmdFactor * Math.sqrt(Math.max(1 - rho, 0));
  const selected: number[] = [];
  const isSelected = new Uint8Array(n);
  let crossSum = 0; // Σ_{i, j∈S} K_ij
  let innerSum = 0; // Σ_{i, j∈S} K_ij with i ∈ S too
  while (selected.length < n) {
    let best = -1;
    for (let i = 0; i < n; i++) if (!isSelected[i] && (best < 0 || score[i] > score[best])) best = i;
    const lift = Math.max(score[best], 0);
    for (let t = 0; t < graph.k; t++) {
      const nb = graph.neighbours[best * graph.k + t];
      score[nb] -= Math.exp(-penalty * (1 - gram[best * n + nb])) * lift;
    }
    for (const s of selected) innerSum += 2 * kernel(best, s);
    innerSum += kernel(best, best);
    crossSum += columnSum[best];
    selected.push(best);
    isSelected[best] = 1;
    const m = selected.length;
    const mmd2 = meanAll + innerSum / (m * m) - (2 * crossSum) / (n * m);
    if (mmd2 < threshold) break;
  }
  return selected;
}

/**
 * ρ of a sample: the mean of its defined similarity terms (S_vv + S_ll + S_vl)/3, 0 when none
 * is defined.
 */
function meanSimilarity(visual: number | undefined, language: number | undefined, cross: number | undefined): number {
  const terms = [visual, language, cross].filter((x): x is number => x !== undefined);
  return terms.length === 0 ? 0 : terms.reduce((a, b) => a + b, 0) / terms.length;
}

/**
 * Adaptive multimodal input activation on tensors: which tokens of one sample feed the
 * Wanda statistic of a layer, from the layer's outputs, the block's last-row attention and
 * the modality mask (ρ is this sample's mean similarity of the layer's outputs).
 * @param output - float32 `[tokens, d_out]`, one sample
 * @param attention - float32 `[tokens]`, head-averaged attention of the last query row
 * @param modalityMask - bool `[tokens]`, true for visual tokens
 * @param options - k, γ, c
 * @returns the selected token indices (in selection order) and ρ
 * @throws `INVALID_ARGUMENT` when attention or the modality mask is missing;
 *   `SHAPE_MISMATCH` when they do not have one entry per token
 */
export function selectTokens(output: Tensor, attention: Tensor, modalityMask: Tensor, options: TokenSelectionOptions = {}): { indices: number[]; rho: number } {
  const op = 'selectTokens';
  const rows = sampleRows(op, 'output', output);
  const n = rows.shape[rows.rank - 2];
  const flags = modalityFlags(op, modalityMask, n);
  const a = attentionScores(op, attention, n);
  const gram = tokenGram(rows);
  const s = similaritiesFromGram(gram, n, flags);
  const rho = meanSimilarity(s.visual, s.language, s.cross);
  return { indices: selectTokensFromGram(gram, n, a, rho, options), rho };
}

function attentionScores(op: string, attention: unknown, tokens: number): Float32Array {
  if (!(attention instanceof Tensor)) {
    throw new PruneError(
      'INVALID_ARGUMENT',
      `${op}: adaptive multimodal input activation needs the block's attention: pass attention, float32 [tokens], the last query row's attention probabilities averaged over heads (or turn token selection off with tokenSelection: 'all')`,
    );
  }
  if (attention.dtype !== 'float32') throw new PruneError('DTYPE_MISMATCH', `${op}: attention must be float32, got ${attention.dtype}`);
  if (attention.size !== tokens || !(attention.rank === 1 || (attention.rank === 2 && attention.shape[0] === 1))) {
    throw new PruneError('SHAPE_MISMATCH', `${op}: attention has shape [${attention.shape.join(', ')}] but the sample has ${tokens} tokens; pass one weight per token, [${tokens}]`);
  }
  const a = attention.dataSync() as Float32Array;
  for (const v of a) if (!Number.isFinite(v)) throw new PruneError('NON_FINITE', `${op}: attention holds NaN or Infinity; replace NaN by 0 as the reference does (nan_to_num)`);
  return a;
}

/**
 * TAMP's calibration statistic of one linear layer: Wanda's squared column norms of the
 * inputs, accumulated over the tokens chosen by adaptive multimodal input activation
 * ({@link selectTokens}) only, as a per-token running average (the reference counts
 * selected tokens, not sequences). With `tokenSelection: 'all'` every token counts.
 */
export class AmiaColumnNorm implements ObservingStatistic {
  /** Reads the outputs, attention and modality mask (only the input with `'all'`). */
  readonly needs: ObservationNeeds;
  readonly #norms: ColumnNormAccumulator;
  readonly #select: boolean;
  readonly #options: TokenSelectionOptions;
  #selectedTokens = 0;
  #seenTokens = 0;

  /**
   * @param columns - d_in
   * @param options - token selection (`'amia'` or `'all'`), its parameters, and the
   *   accumulation precision (weighting is always per token)
   */
  constructor(columns: number, options: TokenSelectionOptions & { tokenSelection?: 'amia' | 'all'; accumulation?: AccumulatorOptions['accumulation'] } = {}) {
    const selection = options.tokenSelection ?? 'amia';
    if (selection !== 'amia' && selection !== 'all') throw new PruneError('INVALID_ARGUMENT', `AmiaColumnNorm: tokenSelection must be 'amia' or 'all', got ${String(selection)}`);
    checkOptions('AmiaColumnNorm', options);
    this.#select = selection === 'amia';
    this.#options = options;
    this.needs = { output: this.#select, attention: this.#select, modalityMask: this.#select };
    this.#norms = new ColumnNormAccumulator(columns, { weighting: 'tokens', accumulation: options.accumulation ?? 'float32' });
  }

  /** Tokens chosen so far, over all samples. */
  get selectedTokens(): number {
    return this.#selectedTokens;
  }

  /** Tokens observed so far, over all samples. */
  get seenTokens(): number {
    return this.#seenTokens;
  }

  /**
   * Adds one batch of inputs with every token counted — only with `tokenSelection: 'all'`.
   * @throws `INVALID_ARGUMENT` under token selection, which needs {@link AmiaColumnNorm.observe}
   */
  update(input: Tensor): void {
    if (this.#select) {
      throw new PruneError(
        'INVALID_ARGUMENT',
        "AmiaColumnNorm: token selection needs the layer's outputs, the block's attention and the modality mask — call observe({ input, output, attention, modalityMask }) per sample, or use tokenSelection: 'all'",
      );
    }
    this.#norms.update(input);
    this.#seenTokens += input.size / Math.max(input.shape[input.rank - 1], 1);
    this.#selectedTokens = this.#seenTokens;
  }

  /**
   * Adds one sample: selects its tokens, then accumulates their input column norms.
   * @param observation - `input` `[tokens, d_in]`; under `'amia'` also `output`, `attention`, `modalityMask`
   */
  observe(observation: LayerObservation): void {
    const op = 'AmiaColumnNorm.observe';
    const input = sampleRows(op, 'input', observation?.input);
    const n = input.shape[input.rank - 2];
    if (!this.#select) {
      this.update(input);
      return;
    }
    const output = sampleRows(op, 'output', observation.output, n);
    const { indices } = selectTokens(output, observation.attention as Tensor, observation.modalityMask as Tensor, this.#options);
    const sorted = [...indices].sort((a, b) => a - b);
    const d = input.shape[input.rank - 1];
    const rows = tidy(() => gather(reshape(input, [n, d]), sorted, 0));
    try {
      this.#norms.update(rows);
    } finally {
      rows.dispose();
    }
    this.#seenTokens += n;
    this.#selectedTokens += sorted.length;
  }

  /** s, the squared column norms over the selected tokens, float32 `[d_in]` (caller owns it). */
  value(): Tensor<'float32'> {
    return this.#norms.value();
  }

  /** Releases the accumulator. */
  dispose(): void {
    this.#norms.dispose();
  }
}
