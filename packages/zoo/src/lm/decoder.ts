import { type Backend, type Tensor, add, concat, fromArray, keep, mean, mul, neg, rsqrt, slice, square } from '@prune/core';
import type { LlamaConfig } from './config.js';

type F32 = Tensor<'float32'>;

/**
 * Constant tensors every LLaMA-style decoder needs: rotary cos/sin tables `[maxPos, headDim]`
 * (frequencies duplicated over both halves, computed in float32 as the training code does)
 * and the additive causal mask `[maxPos, maxPos]` (−∞ above the diagonal).
 */
export interface DecoderTables {
  /** cos of the rotary angles. */
  readonly cos: F32;
  /** sin of the rotary angles. */
  readonly sin: F32;
  /** Causal mask. */
  readonly mask: F32;
}

/** Builds the {@link DecoderTables} of `config` on `backend` (kept: the caller disposes them). */
export function decoderTables(config: LlamaConfig, backend: Backend): DecoderTables {
  const hd = config.hidden_size / config.num_attention_heads;
  const t = config.max_position_embeddings;
  const cos = new Float32Array(t * hd);
  const sin = new Float32Array(t * hd);
  for (let pos = 0; pos < t; pos++) {
    for (let i = 0; i < hd / 2; i++) {
      // Match PyTorch: inv_freq is computed in float32.
      const inv = Math.fround(1 / Math.fround(config.rope_theta ** Math.fround((2 * i) / hd)));
      const angle = Math.fround(pos * inv);
      cos[pos * hd + i] = cos[pos * hd + i + hd / 2] = Math.cos(angle);
      sin[pos * hd + i] = sin[pos * hd + i + hd / 2] = Math.sin(angle);
    }
  }
  const maskData = new Float32Array(t * t);
  for (let i = 0; i < t; i++) for (let j = i + 1; j < t; j++) maskData[i * t + j] = -Infinity;
  return {
    cos: keep(fromArray(cos, [t, hd], 'float32', { backend })),
    sin: keep(fromArray(sin, [t, hd], 'float32', { backend })),
    mask: keep(fromArray(maskData, [t, t], 'float32', { backend })),
  };
}

/** RMSNorm over the last axis: x · rsqrt(mean(x²) + ε) · weight. */
export function rmsNorm(x: F32, weight: F32, eps: number): F32 {
  const scale = rsqrt(add(mean(square(x), { axis: -1, keepDims: true }), eps));
  return mul(mul(x, scale), weight);
}

/** Rotate-half rotary embedding of `x` `[b, h, t, hd]` with the first `t` rows of the tables. */
export function applyRope(x: F32, tables: DecoderTables, t: number): F32 {
  const [b, h, , hd] = x.shape;
  const half = hd / 2;
  const cos = slice(tables.cos, [0, 0], [t, hd]);
  const sin = slice(tables.sin, [0, 0], [t, hd]);
  const rotated = concat([neg(slice(x, [0, 0, 0, half], [b, h, t, half])), slice(x, [0, 0, 0, 0], [b, h, t, half])], 3);
  return add(mul(x, cos), mul(rotated, sin));
}
