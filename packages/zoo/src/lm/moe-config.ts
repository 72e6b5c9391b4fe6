import { PruneError } from '@prune/core';
import { type LlamaConfig, parseLlamaConfig } from './config.js';

/** How a router turns its logits into expert scores. */
export type MoeScoringFunc = 'softmax' | 'sigmoid';

/**
 * Hyper-parameters of a mixture-of-experts decoder (the fields of its `config.json`): the
 * LLaMA fields, with `intermediate_size` the width of each SwiGLU expert, plus the routing
 * fields of Mixtral and DeepSeek-V3.
 */
export interface MoeConfig extends LlamaConfig {
  /** Routed experts per MoE layer, E. */
  num_local_experts: number;
  /** Experts each token is routed to, k. */
  num_experts_per_tok: number;
  /** `softmax` over all experts (Mixtral) or per-expert `sigmoid` (DeepSeek-V3). */
  scoring_func: MoeScoringFunc;
  /** Renormalise the top-k scores to sum 1 (Mixtral: true). */
  norm_topk_prob: boolean;
  /** Factor on every routed gate weight (DeepSeek's route scale; 1 for Mixtral). */
  routed_scaling_factor: number;
  /** Shared experts every token passes through, unweighted (DeepSeek; 0 for Mixtral). */
  n_shared_experts: number;
  /**
   * Whether the router has a selection bias `gate.e_score_correction_bias` (DeepSeek-V3):
   * added to the scores to choose the top-k, but not to the gate weights.
   */
  router_bias: boolean;
}

const MOE_DEFAULTS = {
  num_local_experts: 8,
  num_experts_per_tok: 2,
  scoring_func: 'softmax',
  norm_topk_prob: true,
  routed_scaling_factor: 1,
  n_shared_experts: 0,
  router_bias: false,
} as const;

/**
 * Validates a parsed MoE `config.json`; routing fields that are absent take the Mixtral
 * defaults (8 experts, top-2, softmax, renormalised, no shared experts, no bias).
 *
 * @param json - the parsed file
 * @param source - how error messages name the file
 * @returns the config
 * @throws `CORRUPT_FILE` naming the bad field
 */
export function parseMoeConfig(json: unknown, source = 'config.json'): MoeConfig {
  const base = parseLlamaConfig(json, source);
  const c = { ...MOE_DEFAULTS, ...(json as Record<string, unknown>) };
  const bad = (field: string, want: string): never => {
    throw new PruneError('CORRUPT_FILE', `${source}: "${field}" must be ${want}, got ${JSON.stringify(c[field as keyof typeof c])}`);
  };
  const posInt = (field: 'num_local_experts' | 'num_experts_per_tok'): number => {
    const v = c[field];
    return typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : bad(field, 'a positive integer');
  };
  const experts = posInt('num_local_experts');
  const topK = posInt('num_experts_per_tok');
  if (topK > experts) bad('num_experts_per_tok', `at most num_local_experts (${experts})`);
  const scoring = c.scoring_func === 'softmax' || c.scoring_func === 'sigmoid' ? c.scoring_func : bad('scoring_func', '"softmax" or "sigmoid"');
  const norm = typeof c.norm_topk_prob === 'boolean' ? c.norm_topk_prob : bad('norm_topk_prob', 'true or false');
  const scale = typeof c.routed_scaling_factor === 'number' && Number.isFinite(c.routed_scaling_factor) && c.routed_scaling_factor > 0 ? c.routed_scaling_factor : bad('routed_scaling_factor', 'a positive number');
  const shared = typeof c.n_shared_experts === 'number' && Number.isInteger(c.n_shared_experts) && c.n_shared_experts >= 0 ? c.n_shared_experts : bad('n_shared_experts', 'a non-negative integer');
  const bias = typeof c.router_bias === 'boolean' ? c.router_bias : bad('router_bias', 'true or false');
  return {
    ...base,
    num_local_experts: experts,
    num_experts_per_tok: topK,
    scoring_func: scoring,
    norm_topk_prob: norm,
    routed_scaling_factor: scale,
    n_shared_experts: shared,
    router_bias: bias,
  };
}

/** Name prefix of the MoE block of layer `i`: `model.layers.i.block_sparse_moe`. */
export function moeBlockPrefix(i: number): string {
  return `model.layers.${i}.block_sparse_moe`;
}

/**
 * Names of the prunable linear layers of block `i` in execution order: the four attention
 * projections, then `w1, w3, w2` of every routed expert, then of every shared expert.
 *
 * @param i - block index
 * @param config - expert counts
 * @returns layer names without the `.weight` suffix
 */
export function moeBlockLinears(i: number, config: Pick<MoeConfig, 'num_local_experts' | 'n_shared_experts'>): string[] {
  const p = `model.layers.${i}`;
  const m = moeBlockPrefix(i);
  const out = [`${p}.self_attn.q_proj`, `${p}.self_attn.k_proj`, `${p}.self_attn.v_proj`, `${p}.self_attn.o_proj`];
  for (let e = 0; e < config.num_local_experts; e++) out.push(`${m}.experts.${e}.w1`, `${m}.experts.${e}.w3`, `${m}.experts.${e}.w2`);
  for (let s = 0; s < config.n_shared_experts; s++) out.push(`${m}.shared_experts.${s}.w1`, `${m}.shared_experts.${s}.w3`, `${m}.shared_experts.${s}.w2`);
  return out;
}
