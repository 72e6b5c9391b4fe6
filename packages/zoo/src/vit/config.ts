import { PruneError } from '@prune/core';
import { addPreNormBlockShapes } from '../model-weights.js';

/** Hyper-parameters of the zoo ViT, as stored in its `config.json`. */
export interface VitConfig {
  /** Always `"vit"`. */
  model_type: 'vit';
  /** Side of the square input image in pixels. */
  image_size: number;
  /** Side of a square patch in pixels; the grid is image_size / patch_size on each side. */
  patch_size: number;
  /** Token width d. */
  hidden_size: number;
  /** Number of transformer blocks. */
  num_layers: number;
  /** Attention heads per block. */
  num_heads: number;
  /** Hidden width of the MLP. */
  mlp_size: number;
  /** Output classes. */
  num_classes: number;
  /** LayerNorm epsilon. */
  layer_norm_eps: number;
  /** Pixel mean subtracted before the patch embedding. */
  pixel_mean: number;
  /** Pixel standard deviation divided out before the patch embedding. */
  pixel_std: number;
}

/**
 * Checks a parsed `config.json` of the zoo ViT.
 * @param json - the parsed file
 * @param where - file name for error messages
 * @returns the typed config
 */
export function parseVitConfig(json: unknown, where = 'config.json'): VitConfig {
  const c = json as Record<string, unknown>;
  if (typeof c !== 'object' || c === null || c.model_type !== 'vit') {
    throw new PruneError('CORRUPT_FILE', `${where}: not a ViT config (model_type must be "vit")`);
  }
  const ints = ['image_size', 'patch_size', 'hidden_size', 'num_layers', 'num_heads', 'mlp_size', 'num_classes'] as const;
  for (const k of ints) {
    const v = c[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
      throw new PruneError('CORRUPT_FILE', `${where}: ${k} must be a positive integer, got ${JSON.stringify(v)}`);
    }
  }
  for (const k of ['layer_norm_eps', 'pixel_mean', 'pixel_std'] as const) {
    if (typeof c[k] !== 'number' || !Number.isFinite(c[k])) {
      throw new PruneError('CORRUPT_FILE', `${where}: ${k} must be a finite number`);
    }
  }
  const cfg = c as unknown as VitConfig;
  if (cfg.image_size % cfg.patch_size !== 0) {
    throw new PruneError('CORRUPT_FILE', `${where}: image_size ${cfg.image_size} is not a multiple of patch_size ${cfg.patch_size}`);
  }
  if (cfg.hidden_size % cfg.num_heads !== 0) {
    throw new PruneError('CORRUPT_FILE', `${where}: hidden_size ${cfg.hidden_size} is not divisible by num_heads ${cfg.num_heads}`);
  }
  if (!(cfg.pixel_std > 0)) throw new PruneError('CORRUPT_FILE', `${where}: pixel_std must be positive`);
  return cfg;
}

/**
 * Every tensor of the checkpoint with its shape (PyTorch names and layouts; linear weights
 * are [out, in]).
 * @param config - hyper-parameters
 * @returns name → shape
 */
export function vitExpectedShapes(config: VitConfig): Map<string, number[]> {
  const { hidden_size: d, mlp_size: f, patch_size: p, num_classes: k } = config;
  const g = config.image_size / p;
  const m = new Map<string, number[]>([
    ['patch_embed.weight', [d, p * p]],
    ['patch_embed.bias', [d]],
    ['cls_token', [1, 1, d]],
    ['pos_embed', [1, g * g + 1, d]],
    ['norm.weight', [d]],
    ['norm.bias', [d]],
    ['head.weight', [k, d]],
    ['head.bias', [k]],
  ]);
  for (let i = 0; i < config.num_layers; i++) addPreNormBlockShapes(m, `blocks.${i}`, d, f);
  return m;
}

/** Tokens a block processed: in its attention branch and, after any pruning, in its MLP. */
export interface VitBlockTokens {
  /** Tokens entering the attention branch (CLS included). */
  attention: number;
  /** Tokens entering the MLP (CLS included). */
  mlp: number;
}

/**
 * Floating-point operations (2 per multiply–add) of the matrix products of one forward pass:
 * patch embedding, per block qkv, QKᵀ, attention·V, output projection and MLP, and the head.
 * LayerNorm, softmax and GELU are left out (a few percent at this size).
 * @param config - hyper-parameters
 * @param blocks - tokens per block (length num_layers)
 * @returns FLOPs
 */
export function vitFlops(config: VitConfig, blocks: readonly VitBlockTokens[]): number {
  if (blocks.length !== config.num_layers) {
    throw new PruneError('SHAPE_MISMATCH', `vitFlops: ${blocks.length} block entries for a ${config.num_layers}-block model`);
  }
  const { hidden_size: d, mlp_size: f, patch_size: p, num_classes: k } = config;
  const g = config.image_size / p;
  let flops = 2 * g * g * p * p * d + 2 * d * k;
  for (const { attention: n, mlp: m } of blocks) {
    flops += 2 * n * d * 3 * d + 2 * 2 * n * n * d + 2 * n * d * d + 2 * 2 * m * d * f;
  }
  return flops;
}
