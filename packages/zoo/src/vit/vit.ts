import {
  type Backend,
  PruneError,
  type SafetensorsSource,
  type Tensor,
  type TokenAction,
  type TokenHook,
  type TokenLayerView,
  add,
  concat,
  dispose,
  fromArray,
  gather,
  gelu,
  getBackend,
  log,
  matmul,
  mean,
  mul,
  reshape,
  slice,
  softmax,
  tidy,
  transpose,
} from '@prune/core';
import { type VitBlockTokens, type VitConfig, vitExpectedShapes, vitFlops } from './config.js';
import { ModelWeights, readModelWeights } from '../model-weights.js';

/** Options of {@link VitModel.forward}. */
export interface VitForwardOptions {
  /** Token pruning or merging hook. */
  hook?: TokenHook;
  /** Called with every block's view (after the hook has seen it), e.g. to record attention maps. */
  onLayer?: (view: TokenLayerView) => void;
}

/** Result of {@link VitModel.forward}. */
export interface VitForwardResult {
  /** Class logits. */
  logits: Float32Array;
  /** Tokens each block processed. */
  blocks: VitBlockTokens[];
  /** Matrix-product FLOPs of this pass ({@link vitFlops}). */
  flops: number;
}

/** Residual stream state between blocks. */
export interface VitState {
  /** Tokens, [n, d], CLS first. */
  tokens: Tensor<'float32'>;
  /** Token sizes (`undefined`: all 1). */
  sizes: Float32Array | undefined;
  /** Original patch position of each token (−1 for CLS). */
  positions: Int32Array;
}

/** Output of {@link VitModel.attentionBranch}. */
export interface VitAttentionOutput {
  /** x + Attn(LN₁(x)), [n, d]. */
  tokens: Tensor<'float32'>;
  /** Softmax attention, [heads, n, n]. */
  attention: Tensor<'float32'>;
  /** Keys averaged over heads, [n, headDim]. */
  keys: Tensor<'float32'>;
}

/** Options of {@link VitModel.fromSafetensors}. */
export interface VitLoadOptions {
  /**
   * Backend the weights live on.
   * @defaultValue the current backend
   */
  backend?: Backend;
}

/**
 * The zoo's small vision transformer: p×p patches of a grey image embedded linearly, a CLS
 * token, learned position embeddings, pre-norm blocks (LayerNorm → multi-head attention,
 * LayerNorm → GELU MLP), a final LayerNorm and a linear head on CLS. The forward pass runs on
 * `@prune/core` tensors one image at a time, shows every block's attention map, and lets a
 * hook keep or merge tokens between attention and MLP. Weights use the PyTorch names of
 * `train/train_vit.py`.
 */
export class VitModel {
  /** Hyper-parameters. */
  readonly config: VitConfig;
  /** Backend of the weights. */
  readonly backend: Backend;
  /** Patches per side. */
  readonly gridSize: number;
  readonly #w: ModelWeights;

  /**
   * @param config - hyper-parameters
   * @param weights - every tensor of {@link vitExpectedShapes} (the model takes ownership)
   * @param backend - backend of the weights
   */
  constructor(config: VitConfig, weights: Map<string, Tensor>, backend: Backend) {
    this.config = config;
    this.backend = backend;
    this.gridSize = config.image_size / config.patch_size;
    this.#w = new ModelWeights('ViT', vitExpectedShapes(config), weights);
  }

  /**
   * Loads every tensor the config needs from a safetensors source.
   * @param config - hyper-parameters
   * @param source - an open safetensors file
   * @param options - backend
   * @returns the model
   */
  static async fromSafetensors(config: VitConfig, source: SafetensorsSource, options: VitLoadOptions = {}): Promise<VitModel> {
    const backend = options.backend ?? getBackend();
    return readModelWeights(source, vitExpectedShapes(config), backend, (weights) => new VitModel(config, weights, backend));
  }

  /** Releases the weights. */
  dispose(): void {
    this.#w.dispose();
  }

  /**
   * Embeds one image: normalised patches → linear embedding, CLS token prepended, position
   * embeddings added.
   * @param images - pixels in [0, 1], row-major, one or more images back to back
   * @param index - which image
   * @returns the initial state (tokens [1 + g², d])
   */
  embed(images: Float32Array, index = 0): VitState {
    const { image_size: s, patch_size: p, pixel_mean: mu, pixel_std: sd, hidden_size: d } = this.config;
    const g = this.gridSize;
    const off = index * s * s;
    if (!Number.isInteger(index) || index < 0 || off + s * s > images.length) {
      throw new PruneError('OUT_OF_RANGE', `VitModel.embed: image ${index} is not in an array of ${Math.floor(images.length / (s * s))} ${s}×${s} images`);
    }
    const patches = new Float32Array(g * g * p * p);
    for (let pr = 0; pr < g; pr++) {
      for (let pc = 0; pc < g; pc++) {
        const base = (pr * g + pc) * p * p;
        for (let i = 0; i < p; i++) {
          for (let j = 0; j < p; j++) patches[base + i * p + j] = (images[off + (pr * p + i) * s + pc * p + j] - mu) / sd;
        }
      }
    }
    const tokens = tidy(() => {
      const x = fromArray(patches, [g * g, p * p], 'float32', { backend: this.backend });
      const e = add(matmul(x, this.#w.get('patch_embed.weight'), { transposeB: true }), this.#w.get('patch_embed.bias'));
      const cls = reshape(this.#w.get('cls_token'), [1, d]);
      return add(concat([cls, e], 0), reshape(this.#w.get('pos_embed'), [g * g + 1, d]));
    });
    return { tokens, sizes: undefined, positions: Int32Array.from({ length: g * g + 1 }, (_, i) => i - 1) };
  }

  /**
   * The attention branch of block `layer`: x + Proj(Attn(LN₁(x))). With `sizes`, log(size)
   * is added to the logits of each key (ToMe's proportional attention).
   * @param layer - block index
   * @param state - tokens entering the block
   * @returns new tokens, attention map and head-averaged keys
   */
  attentionBranch(layer: number, state: VitState): VitAttentionOutput {
    const { hidden_size: d, num_heads: h } = this.config;
    const dh = d / h;
    const n = state.tokens.shape[0];
    const b = `blocks.${layer}`;
    return tidy(() => {
      const y = this.#w.layerNorm(state.tokens, `${b}.norm1`, this.config.layer_norm_eps);
      const qkv = add(matmul(y, this.#w.get(`${b}.qkv.weight`), { transposeB: true }), this.#w.get(`${b}.qkv.bias`));
      const heads = transpose(reshape(qkv, [n, 3, h, dh]), [1, 2, 0, 3]); // [3, h, n, dh]
      const q = reshape(slice(heads, [0, 0, 0, 0], [1, h, n, dh]), [h, n, dh]);
      const k = reshape(slice(heads, [1, 0, 0, 0], [1, h, n, dh]), [h, n, dh]);
      const v = reshape(slice(heads, [2, 0, 0, 0], [1, h, n, dh]), [h, n, dh]);
      let logits = mul(matmul(q, k, { transposeB: true }), 1 / Math.sqrt(dh));
      if (state.sizes) logits = add(logits, log(fromArray(state.sizes, [1, 1, n], 'float32', { backend: this.backend })));
      const attention = softmax(logits, { axis: -1 });
      const mixed = reshape(transpose(matmul(attention, v), [1, 0, 2]), [n, d]);
      const out = add(state.tokens, add(matmul(mixed, this.#w.get(`${b}.proj.weight`), { transposeB: true }), this.#w.get(`${b}.proj.bias`)));
      return { tokens: out, attention, keys: mean(k, { axis: 0 }) };
    });
  }

  /**
   * The MLP branch of block `layer`: x + FC₂(GELU(FC₁(LN₂(x)))).
   * @param layer - block index
   * @param tokens - [n, d]
   * @returns [n, d]
   */
  mlpBranch(layer: number, tokens: Tensor<'float32'>): Tensor<'float32'> {
    const b = `blocks.${layer}`;
    return tidy(() => {
      const y = this.#w.layerNorm(tokens, `${b}.norm2`, this.config.layer_norm_eps);
      const hdn = gelu(add(matmul(y, this.#w.get(`${b}.fc1.weight`), { transposeB: true }), this.#w.get(`${b}.fc1.bias`)));
      return add(tokens, add(matmul(hdn, this.#w.get(`${b}.fc2.weight`), { transposeB: true }), this.#w.get(`${b}.fc2.bias`)));
    });
  }

  /**
   * Class logits from the final tokens: head(LN(CLS)).
   * @param tokens - [n, d], CLS first
   * @returns logits
   */
  classify(tokens: Tensor<'float32'>): Float32Array {
    const d = this.config.hidden_size;
    const out = tidy(() => {
      const cls = this.#w.layerNorm(slice(tokens, [0, 0], [1, d]), 'norm', this.config.layer_norm_eps);
      return add(matmul(cls, this.#w.get('head.weight'), { transposeB: true }), this.#w.get('head.bias'));
    });
    const logits = out.dataSync() as Float32Array;
    out.dispose();
    return logits;
  }

  /**
   * Applies a hook's action to the state after the attention branch (takes ownership of
   * `tokens`; returns a new state).
   * @param tokens - the residual stream after attention
   * @param state - the state that entered the block (sizes and positions)
   * @param action - what to keep or the merged tokens
   * @returns the state entering the MLP
   */
  applyAction(tokens: Tensor<'float32'>, state: VitState, action: TokenAction | undefined): VitState {
    if (!action) return { tokens, sizes: state.sizes, positions: state.positions };
    const n = tokens.shape[0];
    if ('keep' in action) {
      const idx = action.keep;
      for (let i = 0; i < idx.length; i++) {
        if (!(idx[i] >= 0 && idx[i] < n) || (i > 0 && idx[i] <= idx[i - 1])) {
          throw new PruneError('INVALID_ARGUMENT', `VitModel: a hook kept token ${idx[i]} at position ${i}; kept indices must be ascending and in [0, ${n})`);
        }
      }
      if (idx[0] !== 0) {
        throw new PruneError('INVALID_ARGUMENT', 'VitModel: a hook dropped the CLS token (index 0); the classifier reads it, so keep it');
      }
      const kept = gather(tokens, Array.from(idx), 0);
      tokens.dispose();
      return { tokens: kept, sizes: state.sizes ? Float32Array.from(idx, (i) => state.sizes![i]) : undefined, positions: Int32Array.from(idx, (i) => state.positions[i]) };
    }
    if (action.tokens.shape.length !== 2 || action.tokens.shape[1] !== tokens.shape[1] || action.sizes.length !== action.tokens.shape[0] || action.positions.length !== action.tokens.shape[0]) {
      throw new PruneError('SHAPE_MISMATCH', `VitModel: merged tokens [${action.tokens.shape}] with ${action.sizes.length} sizes and ${action.positions.length} positions do not fit [m, ${tokens.shape[1]}]`);
    }
    tokens.dispose();
    return { tokens: action.tokens, sizes: action.sizes, positions: action.positions };
  }

  /**
   * Runs blocks `from` … `to − 1` on a state, calling the hook in each (takes ownership of
   * `state.tokens`).
   * @param state - tokens entering block `from`
   * @param from - first block
   * @param to - end block (exclusive)
   * @param options - hook and observer
   * @param blocks - token counts are appended here
   * @returns the state after block `to − 1`
   */
  runBlocks(state: VitState, from: number, to: number, options: VitForwardOptions = {}, blocks: VitBlockTokens[] = []): VitState {
    let s = state;
    for (let layer = from; layer < to; layer++) {
      const a = this.attentionBranch(layer, s);
      const view: TokenLayerView = { layer, tokens: a.tokens, attention: a.attention, keys: a.keys, sizes: s.sizes, positions: s.positions, gridHeight: this.gridSize, gridWidth: this.gridSize };
      let action: TokenAction | undefined;
      try {
        action = options.hook?.afterAttention(view);
        options.onLayer?.(view);
      } finally {
        a.attention.dispose();
        a.keys.dispose();
      }
      const before = a.tokens.shape[0];
      s.tokens.dispose();
      const mid = this.applyAction(a.tokens, s, action);
      blocks.push({ attention: before, mlp: mid.tokens.shape[0] });
      const out = this.mlpBranch(layer, mid.tokens);
      mid.tokens.dispose();
      s = { tokens: out, sizes: mid.sizes, positions: mid.positions };
    }
    return s;
  }

  /**
   * Classifies one image, optionally pruning or merging tokens through a hook.
   * @param images - pixels in [0, 1], one or more images back to back
   * @param index - which image
   * @param options - hook and observer
   * @returns logits, tokens per block and FLOPs
   */
  forward(images: Float32Array, index = 0, options: VitForwardOptions = {}): VitForwardResult {
    const blocks: VitBlockTokens[] = [];
    const s = this.runBlocks(this.embed(images, index), 0, this.config.num_layers, options, blocks);
    try {
      return { logits: this.classify(s.tokens), blocks, flops: vitFlops(this.config, blocks) };
    } finally {
      s.tokens.dispose();
    }
  }

  /**
   * Predicted class of each image.
   * @param images - pixels in [0, 1], `count` images back to back
   * @param count - number of images
   * @param options - hook and observer
   * @returns class indices
   */
  predict(images: Float32Array, count: number, options: VitForwardOptions = {}): Int32Array {
    const out = new Int32Array(count);
    for (let i = 0; i < count; i++) out[i] = argmaxOf(this.forward(images, i, options).logits);
    return out;
  }
}

/**
 * Index of the largest value (first on ties).
 * @param values - scores
 * @returns the index
 */
export function argmaxOf(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}
