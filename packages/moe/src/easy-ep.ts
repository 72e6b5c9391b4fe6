import { PruneError, Random, type Tensor, tidy } from '@prune/core';
import { type MoeModelAdapter, asMoeModel } from './model.js';

/** Expert scores of a model: one row per MoE layer, one entry per routed expert. */
export type ExpertScores = number[][];

/**
 * Token contribution of EASY-EP: `c_t = max(1 − cos(h_t, h_t + r_t), 0)` — how far the
 * routed experts turn the residual stream. A token whose experts barely change h_t
 * contributes little.
 *
 * @param residual - h_t, `d` values
 * @param routedOutput - r_t = Σ_k g_tk·E_k(x_t), `d` values
 * @returns c_t ∈ [0, 2]; 0 when h_t or h_t + r_t is the zero vector (no direction to compare)
 */
export function tokenContribution(residual: ArrayLike<number>, routedOutput: ArrayLike<number>): number {
  if (residual.length !== routedOutput.length) {
    throw new PruneError('SHAPE_MISMATCH', `tokenContribution: residual has ${residual.length} values but routedOutput has ${routedOutput.length}`);
  }
  let dot = 0;
  let hh = 0;
  let oo = 0;
  for (let j = 0; j < residual.length; j++) {
    const h = residual[j];
    const o = h + routedOutput[j];
    dot += h * o;
    hh += h * h;
    oo += o * o;
  }
  if (hh === 0 || oo === 0) return 0;
  return Math.max(1 - dot / Math.sqrt(hh * oo), 0);
}

/** Per-layer expert statistics from one pass over demonstrations. */
export interface ExpertStatistics {
  /** EASY-EP importance `I_le = Σ_demos Σ_t Σ_k [idx_tk = e]·g_tk·n_tk·c_t`. */
  readonly easyEp: ExpertScores;
  /** Routing-frequency baseline: how many tokens were routed to each expert. */
  readonly frequency: ExpertScores;
  /** Gate-score-sum baseline: Σ g_tk over the tokens routed to each expert (no output norm, no c_t). */
  readonly gateSum: ExpertScores;
  /** Demonstrations read. */
  readonly demonstrations: number;
  /** Tokens read (over all demonstrations). */
  readonly tokens: number;
}

/** Options of {@link expertStatistics}. */
export interface ExpertStatisticsOptions {
  /**
   * Demonstrations to read at most.
   * @defaultValue all of them
   */
  limit?: number;
}

/**
 * Scores every routed expert of every MoE layer on few-shot demonstrations, one forward pass
 * each, no gradients: EASY-EP's output-aware importance (gate weight g_tk × raw output norm
 * n_tk = ‖E_k(x_t)‖₂ × token contribution c_t, see {@link tokenContribution}) and the two
 * count baselines. Shared experts are not scored (they are never pruned).
 *
 * @param model - the MoE model
 * @param demonstrations - int32 token ids `[seq]` (or `[1, seq]`) per demonstration
 * @param options - limit
 * @returns scores per layer and expert
 * @throws `UNSUPPORTED` for a model without MoE layers; `INVALID_ARGUMENT` when no
 *   demonstration holds a token
 */
export function expertStatistics(model: MoeModelAdapter, demonstrations: Iterable<Tensor>, options: ExpertStatisticsOptions = {}): ExpertStatistics {
  const m = asMoeModel(model, 'expertStatistics');
  const L = m.config.num_hidden_layers;
  const E = m.config.num_local_experts;
  const table = (): number[][] => Array.from({ length: L }, () => new Array<number>(E).fill(0));
  const easyEp = table();
  const frequency = table();
  const gateSum = table();
  const limit = options.limit ?? Infinity;
  let demos = 0;
  let tokens = 0;
  for (const ids of demonstrations) {
    if (demos >= limit) break;
    demos++;
    // Per layer of this demonstration: routing, then norms per (token, slot), then c_t.
    let indices: Int32Array = new Int32Array(0);
    let gates: Float32Array = new Float32Array(0);
    let k = 0;
    let norms: Float32Array = new Float32Array(0);
    tidy(() => {
      m.forward(ids, {
        routing: (r) => {
          indices = r.indices;
          gates = r.gates;
          k = r.topK;
          norms = new Float32Array(indices.length);
          tokens += r.layer === 0 ? r.input.shape[0] : 0;
        },
        expert: (o) => {
          const out = o.output.dataSync() as Float32Array;
          const d = o.output.shape[1];
          o.routed.tokens.forEach((t, i) => {
            let sq = 0;
            for (let j = 0; j < d; j++) sq += out[i * d + j] * out[i * d + j];
            for (let s = 0; s < k; s++) if (indices[t * k + s] === o.expert) norms[t * k + s] = Math.sqrt(sq);
          });
        },
        output: (o) => {
          const h = o.residual.dataSync();
          const r = o.routedOutput.dataSync();
          const [T, d] = o.residual.shape;
          for (let t = 0; t < T; t++) {
            const c = tokenContribution(h.subarray(t * d, (t + 1) * d) as Float32Array, r.subarray(t * d, (t + 1) * d) as Float32Array);
            for (let s = 0; s < k; s++) {
              const e = indices[t * k + s];
              const g = gates[t * k + s];
              easyEp[o.layer][e] += g * norms[t * k + s] * c;
              frequency[o.layer][e] += 1;
              gateSum[o.layer][e] += g;
            }
          }
        },
      });
    });
  }
  if (tokens === 0) {
    throw new PruneError('INVALID_ARGUMENT', `expertStatistics: ${demos === 0 ? 'no demonstrations were given' : 'the demonstrations hold no tokens'}; EASY-EP needs at least one in-domain demonstration to route`);
  }
  return { easyEp, frequency, gateSum, demonstrations: demos, tokens };
}

/**
 * Select step: the `keep` experts with the highest score in each layer (ties: lower index
 * first), returned in ascending expert order.
 *
 * @param scores - one row per layer
 * @param keep - experts to keep per layer, K
 * @param options - `minimum`: the least K allowed (the model's top-k, so every token can still be routed)
 * @returns kept expert indices per layer, ascending
 * @throws `OUT_OF_RANGE` when K exceeds a layer's expert count or is below the minimum;
 *   `INVALID_ARGUMENT` when a layer's scores are all zero or not finite (the demonstrations
 *   routed nowhere that matters, so any choice would be arbitrary)
 */
export function selectTopExperts(scores: ExpertScores, keep: number, options: { minimum?: number } = {}): number[][] {
  const min = options.minimum ?? 1;
  if (!Array.isArray(scores) || scores.length === 0) throw new PruneError('INVALID_ARGUMENT', 'selectTopExperts: scores must hold one row per MoE layer');
  return scores.map((row, l) => {
    if (!Number.isInteger(keep) || keep < min || keep > row.length) {
      throw new PruneError('OUT_OF_RANGE', `selectTopExperts: cannot keep ${keep} experts in layer ${l}, which has ${row.length}; choose K in ${min}..${row.length}`);
    }
    if (row.some((v) => !Number.isFinite(v) || v < 0)) throw new PruneError('NON_FINITE', `selectTopExperts: layer ${l} has a negative or non-finite score`);
    if (row.every((v) => v === 0)) {
      throw new PruneError('INVALID_ARGUMENT', `selectTopExperts: every expert of layer ${l} scored 0 — the demonstrations routed nowhere measurable; use more or longer in-domain demonstrations`);
    }
    const order = row.map((v, e) => [v, e] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
    return order.slice(0, keep).map(([, e]) => e).sort((a, b) => a - b);
  });
}

/**
 * Mixed-domain scores: each domain's row per layer is normalised to sum 1, then the domains
 * are summed — so a domain with more or longer demonstrations does not outvote the others.
 *
 * @param domains - one {@link ExpertScores} per domain, all the same shape
 * @returns the combined scores
 * @throws `INVALID_ARGUMENT` on shape mismatch or a domain whose layer row sums to 0
 */
export function mixDomainScores(domains: readonly ExpertScores[]): ExpertScores {
  if (!Array.isArray(domains) || domains.length === 0) throw new PruneError('INVALID_ARGUMENT', 'mixDomainScores: needs the scores of at least one domain');
  const first: ExpertScores = domains[0];
  return first.map((row, l) =>
    row.map((_, e) =>
      domains.reduce((acc: number, scores: ExpertScores, d: number) => {
        const r = scores[l];
        if (r === undefined || r.length !== row.length) throw new PruneError('SHAPE_MISMATCH', `mixDomainScores: domain ${d} has a different shape at layer ${l}`);
        const total = r.reduce((a, b) => a + b, 0);
        if (!(total > 0)) throw new PruneError('INVALID_ARGUMENT', `mixDomainScores: domain ${d} scores 0 for every expert of layer ${l}; its demonstrations routed nowhere measurable`);
        return acc + r[e] / total;
      }, 0),
    ),
  );
}

/**
 * Random-subset baseline: K experts per layer drawn uniformly without replacement.
 *
 * @param layers - MoE layers
 * @param experts - routed experts per layer
 * @param keep - K
 * @param seed - PRNG seed
 * @returns kept expert indices per layer, ascending
 */
export function randomExpertSubset(layers: number, experts: number, keep: number, seed: number): number[][] {
  if (!Number.isInteger(keep) || keep < 1 || keep > experts) throw new PruneError('OUT_OF_RANGE', `randomExpertSubset: cannot keep ${keep} of ${experts} experts; choose K in 1..${experts}`);
  const rng = new Random(seed);
  return Array.from({ length: layers }, () => Array.from(rng.sample(experts, keep)).sort((a, b) => a - b));
}

/**
 * The reference's demonstration choice: shuffle with `seed`, then take the `count` longest
 * (a stable sort, so equal lengths keep their shuffled order).
 *
 * @param demonstrations - candidates (any items with a length)
 * @param count - how many to take
 * @param seed - shuffle seed
 * @defaultValue count: 25; seed: 42
 * @returns the chosen demonstrations, longest first
 */
export function chooseDemonstrations<T extends { readonly length: number }>(demonstrations: readonly T[], count = 25, seed = 42): T[] {
  if (!Number.isInteger(count) || count < 1) throw new PruneError('INVALID_ARGUMENT', `chooseDemonstrations: count must be a positive integer, got ${String(count)}`);
  const order = new Random(seed).permutation(demonstrations.length);
  return Array.from(order, (i) => demonstrations[i]).sort((a, b) => b.length - a.length).slice(0, count);
}

/**
 * Jaccard overlap |A∩B| / |A∪B| of two expert selections, averaged over layers — how
 * stable a selection is across demonstration draws ("few-shot expert localisation").
 *
 * @param a - kept experts per layer
 * @param b - kept experts per layer
 * @returns mean Jaccard index in [0, 1]
 */
export function selectionOverlap(a: readonly (readonly number[])[], b: readonly (readonly number[])[]): number {
  if (a.length !== b.length || a.length === 0) throw new PruneError('SHAPE_MISMATCH', `selectionOverlap: selections have ${a.length} and ${b.length} layers`);
  let total = 0;
  for (let l = 0; l < a.length; l++) {
    const sa = new Set(a[l]);
    const sb = new Set(b[l]);
    const inter = [...sa].filter((e) => sb.has(e)).length;
    const union = new Set([...sa, ...sb]).size;
    total += union === 0 ? 1 : inter / union;
  }
  return total / a.length;
}
