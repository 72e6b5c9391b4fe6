import { PruneError } from '@prune/core';

/** Hyper-parameters of a LLaMA-style decoder (the fields of its `config.json`). */
export interface LlamaConfig {
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
  /** Longest sequence the rotary tables cover (the model's context). */
  max_position_embeddings: number;
  /** RMSNorm epsilon. */
  rms_norm_eps: number;
  /** Rotary base θ. */
  rope_theta: number;
}

const FIELDS: (keyof LlamaConfig)[] = [
  'vocab_size',
  'hidden_size',
  'intermediate_size',
  'num_hidden_layers',
  'num_attention_heads',
  'max_position_embeddings',
  'rms_norm_eps',
  'rope_theta',
];

/** Validates a parsed `config.json`, with a clear error naming the bad field. */
export function parseLlamaConfig(json: unknown, source = 'config.json'): LlamaConfig {
  if (json === null || typeof json !== 'object') throw new PruneError('CORRUPT_FILE', `${source} is not a JSON object`);
  const c = json as Record<string, unknown>;
  for (const f of FIELDS) {
    const v = c[f];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
      throw new PruneError('CORRUPT_FILE', `${source}: "${f}" must be a positive number, got ${JSON.stringify(v)}`);
    }
  }
  const cfg = Object.fromEntries(FIELDS.map((f) => [f, c[f]])) as unknown as LlamaConfig;
  if (cfg.hidden_size % cfg.num_attention_heads !== 0 || (cfg.hidden_size / cfg.num_attention_heads) % 2 !== 0) {
    throw new PruneError('CORRUPT_FILE', `${source}: hidden_size ${cfg.hidden_size} must split into ${cfg.num_attention_heads} heads of even size`);
  }
  return cfg;
}

/** Names of the prunable linear layers of block `i`, in execution order. */
export function llamaBlockLinears(i: number): string[] {
  const p = `model.layers.${i}`;
  return [
    `${p}.self_attn.q_proj`,
    `${p}.self_attn.k_proj`,
    `${p}.self_attn.v_proj`,
    `${p}.self_attn.o_proj`,
    `${p}.mlp.gate_proj`,
    `${p}.mlp.up_proj`,
    `${p}.mlp.down_proj`,
  ];
}
