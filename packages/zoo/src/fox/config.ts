import { PruneError } from '@prune/core';

/**
 * Hyper-parameters of a FoX (Forgetting Transformer) decoder LM — the fields of its
 * `config.json`, named as in the official implementation. The "Pro" flags switch on QK-norm,
 * the output gate and the key / value token shifts.
 */
export interface FoxConfig {
  /** Number of token ids. */
  vocab_size: number;
  /** Model width d. */
  hidden_size: number;
  /** Width of the SwiGLU MLP. */
  intermediate_size: number;
  /** Number of transformer blocks. */
  num_hidden_layers: number;
  /** Attention heads; head size is `hidden_size / num_attention_heads`. */
  num_attention_heads: number;
  /** Context the model was trained with (FoX has no position table, so longer inputs run). */
  max_position_embeddings: number;
  /** RMSNorm epsilon of the block and final norms. */
  rms_norm_eps: number;
  /** RMSNorm epsilon of QK-norm. */
  norm_eps: number;
  /** Per-head RMSNorm of queries and keys (Pro). */
  qk_norm: boolean;
  /** Output gate o ⊙ σ(W_g x) before the output projection (Pro). */
  use_output_gate: boolean;
  /** Data-dependent key token shift (Pro). */
  use_k_shift: boolean;
  /** Data-dependent value token shift (Pro). */
  use_v_shift: boolean;
}

const NUMBERS = ['vocab_size', 'hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads', 'max_position_embeddings', 'rms_norm_eps'] as const;
const FLAGS = ['qk_norm', 'use_output_gate', 'use_k_shift', 'use_v_shift'] as const;

/**
 * Validates a parsed FoX `config.json`, with a clear error naming the bad field. Missing Pro
 * flags mean off; a missing `norm_eps` means 1e-6 (the official default).
 * @param json - the parsed file
 * @param source - file name for messages
 */
export function parseFoxConfig(json: unknown, source = 'config.json'): FoxConfig {
  if (json === null || typeof json !== 'object') throw new PruneError('CORRUPT_FILE', `${source} is not a JSON object`);
  const c = json as Record<string, unknown>;
  const positive = (f: string): number => {
    const v = c[f];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new PruneError('CORRUPT_FILE', `${source}: "${f}" must be a positive number, got ${JSON.stringify(v)}`);
    return v;
  };
  const flag = (f: string): boolean => {
    const v = c[f] ?? false;
    if (typeof v !== 'boolean') throw new PruneError('CORRUPT_FILE', `${source}: "${f}" must be true or false, got ${JSON.stringify(v)}`);
    return v;
  };
  if (c.use_rope === true) throw new PruneError('UNSUPPORTED', `${source}: "use_rope": true is not supported — forgetting attention here runs without RoPE (the FoX default); retrain with use_rope false`);
  const cfg = {
    ...Object.fromEntries(NUMBERS.map((f) => [f, positive(f)])),
    norm_eps: c.norm_eps === undefined ? 1e-6 : positive('norm_eps'),
    ...Object.fromEntries(FLAGS.map((f) => [f, flag(f)])),
  } as FoxConfig;
  for (const f of ['vocab_size', 'hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads', 'max_position_embeddings'] as const) {
    if (!Number.isInteger(cfg[f])) throw new PruneError('CORRUPT_FILE', `${source}: "${f}" must be an integer, got ${cfg[f]}`);
  }
  if (cfg.hidden_size % cfg.num_attention_heads !== 0) {
    throw new PruneError('CORRUPT_FILE', `${source}: hidden_size ${cfg.hidden_size} must split evenly into ${cfg.num_attention_heads} heads`);
  }
  return cfg;
}

/** Every tensor name of a FoX checkpoint with its shape, in file order. */
export function foxExpectedShapes(c: FoxConfig): [string, number[]][] {
  const d = c.hidden_size;
  const f = c.intermediate_size;
  const h = c.num_attention_heads;
  const out: [string, number[]][] = [['model.embed_tokens.weight', [c.vocab_size, d]]];
  for (let i = 0; i < c.num_hidden_layers; i++) {
    const p = `model.layers.${i}`;
    out.push([`${p}.input_layernorm.weight`, [d]], [`${p}.post_attention_layernorm.weight`, [d]]);
    for (const n of ['q_proj', 'k_proj', 'v_proj', 'o_proj']) out.push([`${p}.self_attn.${n}.weight`, [d, d]]);
    out.push([`${p}.self_attn.fgate_proj.weight`, [h, d]], [`${p}.self_attn.fgate_proj.bias`, [h]]);
    if (c.use_output_gate) out.push([`${p}.self_attn.ogate_proj.weight`, [d, d]]);
    if (c.qk_norm) out.push([`${p}.self_attn.q_norm.weight`, [d]], [`${p}.self_attn.k_norm.weight`, [d]]);
    if (c.use_k_shift) out.push([`${p}.self_attn.k_shift_proj.weight`, [h, d]]);
    if (c.use_v_shift) out.push([`${p}.self_attn.v_shift_proj.weight`, [h, d]]);
    out.push([`${p}.mlp.gate_proj.weight`, [f, d]], [`${p}.mlp.up_proj.weight`, [f, d]], [`${p}.mlp.down_proj.weight`, [d, f]]);
  }
  out.push(['model.norm.weight', [d]], ['lm_head.weight', [c.vocab_size, d]]);
  return out;
}
