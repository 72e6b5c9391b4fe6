import { PruneError } from '@prune/core';
import { addPreNormBlockShapes } from '../model-weights.js';

/** Hyper-parameters of the zoo's next-scale-prediction model, as stored in its `config.json`. */
export interface VarConfig {
  /** Always `"var"`. */
  model_type: 'var';
  /** Side of each token map, coarse to fine; the last is {@link VarConfig.side}. */
  scales: number[];
  /** Side of the generated map (the image area-resized to side×side). */
  side: number;
  /** Side of the input images in pixels. */
  image_size: number;
  /** Codebook size per scale (token vocabulary). */
  levels: number;
  /** Token width d. */
  hidden_size: number;
  /** Number of transformer blocks. */
  num_layers: number;
  /** Attention heads per block. */
  num_heads: number;
  /** Hidden width of the MLP. */
  mlp_size: number;
  /** Classes the generation is conditioned on. */
  num_classes: number;
  /** LayerNorm epsilon. */
  layer_norm_eps: number;
  /** Per scale, the `levels` residual values the tokens stand for (ascending). */
  codebooks: number[][];
}

/**
 * Checks a parsed `config.json` of the zoo VAR model.
 * @param json - the parsed file
 * @param where - file name for error messages
 * @returns the typed config
 */
export function parseVarConfig(json: unknown, where = 'config.json'): VarConfig {
  const c = json as Record<string, unknown>;
  if (typeof c !== 'object' || c === null || c.model_type !== 'var') {
    throw new PruneError('CORRUPT_FILE', `${where}: not a VAR config (model_type must be "var")`);
  }
  for (const k of ['side', 'image_size', 'levels', 'hidden_size', 'num_layers', 'num_heads', 'mlp_size', 'num_classes'] as const) {
    const v = c[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
      throw new PruneError('CORRUPT_FILE', `${where}: ${k} must be a positive integer, got ${JSON.stringify(v)}`);
    }
  }
  if (typeof c.layer_norm_eps !== 'number' || !(c.layer_norm_eps > 0)) {
    throw new PruneError('CORRUPT_FILE', `${where}: layer_norm_eps must be a positive number`);
  }
  const cfg = c as unknown as VarConfig;
  const s = cfg.scales;
  if (!Array.isArray(s) || s.length < 2 || s.some((v, i) => !Number.isInteger(v) || v < 1 || (i > 0 && v <= s[i - 1])) || s[s.length - 1] !== cfg.side) {
    throw new PruneError('CORRUPT_FILE', `${where}: scales must be increasing positive integers ending at side ${cfg.side}, got ${JSON.stringify(s)}`);
  }
  if (s[0] !== 1) throw new PruneError('CORRUPT_FILE', `${where}: the first scale must be 1 (the start token), got ${s[0]}`);
  const books = cfg.codebooks;
  if (!Array.isArray(books) || books.length !== s.length || books.some((b) => !Array.isArray(b) || b.length !== cfg.levels || b.some((v) => typeof v !== 'number' || !Number.isFinite(v)))) {
    throw new PruneError('CORRUPT_FILE', `${where}: codebooks must hold ${s.length} lists of ${cfg.levels} finite numbers (one per scale)`);
  }
  if (cfg.hidden_size % cfg.num_heads !== 0) {
    throw new PruneError('CORRUPT_FILE', `${where}: hidden_size ${cfg.hidden_size} is not divisible by num_heads ${cfg.num_heads}`);
  }
  return cfg;
}

/**
 * Tokens of the whole multi-scale sequence, Σ scale².
 * @param config - hyper-parameters
 * @returns the sequence length
 */
export function varSequenceLength(config: VarConfig): number {
  return config.scales.reduce((n, s) => n + s * s, 0);
}

/**
 * Every tensor of the checkpoint with its shape (PyTorch names and layouts; linear weights
 * are [out, in]).
 * @param config - hyper-parameters
 * @returns name → shape
 */
export function varExpectedShapes(config: VarConfig): Map<string, number[]> {
  const { hidden_size: d, mlp_size: f, levels: k, num_classes: c } = config;
  const m = new Map<string, number[]>([
    ['value_embed.weight', [d, 1]],
    ['value_embed.bias', [d]],
    ['start', [1, d]],
    ['class_embed.weight', [c, d]],
    ['pos_embed', [varSequenceLength(config), d]],
    ['norm.weight', [d]],
    ['norm.bias', [d]],
    ['head.weight', [k, d]],
    ['head.bias', [k]],
  ]);
  for (let i = 0; i < config.num_layers; i++) addPreNormBlockShapes(m, `blocks.${i}`, d, f);
  return m;
}
