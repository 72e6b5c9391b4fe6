import {
  areaInterpolate,
  type Backend,
  PruneError,
  Random,
  type SafetensorsSource,
  type Tensor,
  add,
  concat,
  dispose,
  fromArray,
  gelu,
  getBackend,
  matmul,
  mul,
  reshape,
  slice,
  softmax,
  square,
  tidy,
  transpose,
} from '@prune/core';
import { type VarConfig, varExpectedShapes } from './config.js';
import { ModelWeights, readModelWeights } from '../model-weights.js';

/** Height and width of a token map. */
export interface VarMapSize {
  /** Rows. */
  height: number;
  /** Columns. */
  width: number;
}

/**
 * A residual branch of a block run on a scale's tokens: receives the tokens to process and,
 * when a hook pruned the map, their positions in it; returns one output row per token.
 */
export type VarBranchRun = (tokens: Tensor, positions: Int32Array | undefined) => Tensor;

/**
 * Wraps every residual branch of every block during generation (FastVAR's
 * `FastVarCache` from `@prune/tokens` has this shape). A hook may run the branch on a subset
 * of the tokens and fill in the rest; it must return the branch output for all of them.
 */
export interface VarBranchHook {
  /**
   * @param layer - block index
   * @param name - `attn` or `ffn`
   * @param x - the scale's tokens entering the branch, [s², d] (before the branch's LayerNorm)
   * @param size - the scale's map size
   * @param run - the branch
   * @returns the branch output for every token, [s², d]
   */
  branch(layer: number, name: string, x: Tensor, size: VarMapSize, run: VarBranchRun): Tensor;
  /**
   * Whether the hook asks to skip a scale's forward pass entirely. This model has no
   * skipped-scale path: a scale for which this returns true is rejected with a `PruneError`
   * rather than silently run in full.
   */
  skips?(size: VarMapSize): boolean;
}

/** The residual token maps of an image. */
export interface VarTokens {
  /** Token indices per scale (s² each, row-major). */
  tokens: Int32Array[];
  /** The model input per scale: the sum of the earlier scales' maps area-resized to the scale (s² each). */
  inputs: Float32Array[];
  /** The decoded map (sum of all scales' maps), side². */
  decoded: Float32Array;
}

/** Options of {@link VarModel.generate}. */
export interface VarGenerateOptions {
  /**
   * Seed of the uniform draws that sample the tokens (inverse CDF, one draw per token in
   * sequence order, so two runs with the same seed see the same draws).
   * @defaultValue 0
   */
  seed?: number;
  /**
   * Softmax temperature of the sampling.
   * @defaultValue 1
   */
  temperature?: number;
  /** Wraps the blocks' branches, e.g. FastVAR's cached token pruning. */
  hook?: VarBranchHook;
}

/** Result of {@link VarModel.generate}. */
export interface VarGeneration {
  /** Sampled token indices per scale. */
  tokens: Int32Array[];
  /** The generated map, side² values (pixel scale, roughly [0, 1]). */
  map: Float32Array;
  /** The map area-resized to image_size² (e.g. for a classifier). */
  image: Float32Array;
}

/** Options of {@link VarModel.fromSafetensors}. */
export interface VarLoadOptions {
  /**
   * Backend the weights live on.
   * @defaultValue the current backend
   */
  backend?: Backend;
}

/** Area resize of a one-channel square map (`from`×`from` → `to`×`to`). */
function areaResizeMap(data: Float32Array, from: number, to: number): Float32Array {
  return areaInterpolate(data, 1, 1, { height: from, width: from }, { height: to, width: to });
}

/**
 * The zoo's small next-scale-prediction (VAR-style) model: an image is a stack of residual
 * token maps at growing scales (each token one of `levels` per-scale codebook values); a
 * class-conditional transformer predicts each scale's tokens from the sum of the earlier
 * scales' maps, attending to its own scale and (through a key/value cache) the earlier ones.
 * Generation runs scale by scale on `@prune/core` tensors; a {@link VarBranchHook} can wrap
 * every attention and MLP branch (FastVAR prunes tokens there). Weights use the PyTorch
 * names of `train/train_var.py`.
 */
export class VarModel {
  /** Hyper-parameters. */
  readonly config: VarConfig;
  /** Backend of the weights. */
  readonly backend: Backend;
  readonly #w: ModelWeights;

  /**
   * @param config - hyper-parameters
   * @param weights - every tensor of {@link varExpectedShapes} (the model takes ownership)
   * @param backend - backend of the weights
   */
  constructor(config: VarConfig, weights: Map<string, Tensor>, backend: Backend) {
    this.config = config;
    this.backend = backend;
    this.#w = new ModelWeights('VAR', varExpectedShapes(config), weights);
  }

  /**
   * Loads every tensor the config needs from a safetensors source.
   * @param config - hyper-parameters
   * @param source - an open safetensors file
   * @param options - backend
   * @returns the model
   */
  static async fromSafetensors(config: VarConfig, source: SafetensorsSource, options: VarLoadOptions = {}): Promise<VarModel> {
    const backend = options.backend ?? getBackend();
    return readModelWeights(source, varExpectedShapes(config), backend, (weights) => new VarModel(config, weights, backend));
  }

  /** Releases the weights. */
  dispose(): void {
    this.#w.dispose();
  }

  /**
   * Writes an image as residual token maps: area-resized to side×side, then scale by scale
   * the residual's nearest codebook value per token (ties to the lower index), whose map,
   * area-resized back to side×side, leaves the residual.
   * @param images - pixels in [0, 1], image_size² per image, back to back
   * @param index - which image
   * @returns tokens, model inputs and the decoded map
   */
  tokenize(images: Float32Array, index = 0): VarTokens {
    const { image_size: px, side, scales, codebooks } = this.config;
    const off = index * px * px;
    if (!Number.isInteger(index) || index < 0 || off + px * px > images.length) {
      throw new PruneError('OUT_OF_RANGE', `VarModel.tokenize: image ${index} is not in an array of ${Math.floor(images.length / (px * px))} ${px}×${px} images`);
    }
    const residual = areaResizeMap(images.subarray(off, off + px * px), px, side);
    const decoded = new Float32Array(side * side);
    const tokens: Int32Array[] = [];
    const inputs: Float32Array[] = [];
    scales.forEach((s, k) => {
      inputs.push(areaResizeMap(decoded, side, s));
      const z = areaResizeMap(residual, side, s);
      const idx = new Int32Array(s * s);
      for (let t = 0; t < z.length; t++) idx[t] = nearest(codebooks[k], z[t]);
      tokens.push(idx);
      const up = areaResizeMap(Float32Array.from(idx, (i) => codebooks[k][i]), s, side);
      for (let t = 0; t < up.length; t++) {
        residual[t] = Math.fround(residual[t] - up[t]);
        decoded[t] = Math.fround(decoded[t] + up[t]);
      }
    });
    return { tokens, inputs, decoded };
  }

  /** Embeds scale k's inputs: value embedding (start token at k = 0), position and class embeddings. */
  #embed(k: number, input: Float32Array, label: number): Tensor<'float32'> {
    const { scales, hidden_size: d } = this.config;
    const s = scales[k];
    const offset = scales.slice(0, k).reduce((n, v) => n + v * v, 0);
    return tidy(() => {
      const e = k === 0 ? this.#w.get('start') : this.#w.linear(fromArray(input, [s * s, 1], 'float32', { backend: this.backend }), 'value_embed');
      const pos = slice(this.#w.get('pos_embed'), [offset, 0], [s * s, d]);
      const cls = slice(this.#w.get('class_embed.weight'), [label, 0], [1, d]);
      return add(add(e, pos), cls);
    });
  }

  /**
   * Attention branch output Proj(Attn(LN₁(x))) for the given tokens; their keys and values
   * join the layer's cache, and they attend to everything cached (own and earlier scales).
   */
  #attention(layer: number, x: Tensor, cache: { k?: Tensor<'float32'>; v?: Tensor<'float32'> }): Tensor<'float32'> {
    const { hidden_size: d, num_heads: h } = this.config;
    const dh = d / h;
    const n = x.shape[0];
    const b = `blocks.${layer}`;
    const [out, kAll, vAll] = tidy(() => {
      const qkv = this.#w.linear(this.#w.layerNorm(x as Tensor<'float32'>, `${b}.norm1`, this.config.layer_norm_eps), `${b}.qkv`);
      const heads = transpose(reshape(qkv, [n, 3, h, dh]), [1, 2, 0, 3]); // [3, h, n, dh]
      const q = reshape(slice(heads, [0, 0, 0, 0], [1, h, n, dh]), [h, n, dh]);
      const k = reshape(slice(heads, [1, 0, 0, 0], [1, h, n, dh]), [h, n, dh]);
      const v = reshape(slice(heads, [2, 0, 0, 0], [1, h, n, dh]), [h, n, dh]);
      const kc = cache.k ? concat([cache.k, k], 1) : k;
      const vc = cache.v ? concat([cache.v, v], 1) : v;
      const att = softmax(mul(matmul(q, kc, { transposeB: true }), 1 / Math.sqrt(dh)), { axis: -1 });
      const mixed = reshape(transpose(matmul(att, vc), [1, 0, 2]), [n, d]);
      return [this.#w.linear(mixed, `${b}.proj`), kc, vc] as const;
    });
    dispose([cache.k, cache.v].filter((t): t is Tensor<'float32'> => t !== undefined));
    cache.k = kAll;
    cache.v = vAll;
    return out;
  }

  #mlp(layer: number, x: Tensor): Tensor<'float32'> {
    const b = `blocks.${layer}`;
    return tidy(() => this.#w.linear(gelu(this.#w.linear(this.#w.layerNorm(x as Tensor<'float32'>, `${b}.norm2`, this.config.layer_norm_eps), `${b}.fc1`)), `${b}.fc2`));
  }

  /** One scale through the blocks; returns the head's logits [s², levels] on the host. */
  #step(k: number, input: Float32Array, label: number, caches: { k?: Tensor<'float32'>; v?: Tensor<'float32'> }[], hook: VarBranchHook | undefined): Float32Array {
    const s = this.config.scales[k];
    const size = { height: s, width: s };
    if (hook?.skips?.(size)) {
      throw new PruneError('INVALID_ARGUMENT', `VarModel: the branch hook asks to skip scale ${s}×${s}, which this model cannot do; remove it from the hook's skipped scales`);
    }
    let x: Tensor = this.#embed(k, input, label);
    for (let layer = 0; layer < this.config.num_layers; layer++) {
      const runAttn: VarBranchRun = (t) => this.#attention(layer, t, caches[layer]);
      const a = hook ? hook.branch(layer, 'attn', x, size, runAttn) : runAttn(x, undefined);
      const x1 = add(x, a);
      dispose([x, a]);
      const runMlp: VarBranchRun = (t) => this.#mlp(layer, t);
      const m = hook ? hook.branch(layer, 'ffn', x1, size, runMlp) : runMlp(x1, undefined);
      x = add(x1, m);
      dispose([x1, m]);
    }
    const logits = tidy(() => this.#w.linear(this.#w.layerNorm(x as Tensor<'float32'>, 'norm', this.config.layer_norm_eps), 'head'));
    const out = Float32Array.from(logits.dataSync() as Float32Array);
    dispose([x, logits]);
    return out;
  }

  #checkLabel(label: number): void {
    if (!Number.isInteger(label) || label < 0 || label >= this.config.num_classes) {
      throw new PruneError('OUT_OF_RANGE', `VarModel: class ${label} is not in [0, ${this.config.num_classes})`);
    }
  }

  /**
   * Teacher-forced logits of an image's tokens: every scale fed the true earlier scales.
   * @param images - pixels in [0, 1], back to back
   * @param index - which image
   * @param label - its class
   * @param hook - optional branch hook
   * @returns logits, [Σ s², levels] row-major
   */
  logits(images: Float32Array, index: number, label: number, hook?: VarBranchHook): Float32Array {
    this.#checkLabel(label);
    const { inputs } = this.tokenize(images, index);
    const caches = Array.from({ length: this.config.num_layers }, () => ({}) as { k?: Tensor<'float32'>; v?: Tensor<'float32'> });
    try {
      const parts = inputs.map((inp, k) => this.#step(k, inp, label, caches, hook));
      const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
      let o = 0;
      for (const p of parts) {
        out.set(p, o);
        o += p.length;
      }
      return out;
    } finally {
      for (const c of caches) dispose([c.k, c.v].filter((t): t is Tensor<'float32'> => t !== undefined));
    }
  }

  /**
   * Generates one map of a class, scale by scale: each scale's tokens sampled from the
   * softmax of its logits (seeded inverse-CDF draws), its codebook map added to the sum that
   * feeds the next scale.
   * @param label - the class
   * @param options - seed, temperature and branch hook
   * @returns tokens, the side² map and the image_size² image
   */
  generate(label: number, options: VarGenerateOptions = {}): VarGeneration {
    this.#checkLabel(label);
    const { scales, side, levels, codebooks, image_size: px } = this.config;
    const temperature = options.temperature ?? 1;
    if (!(temperature > 0) || !Number.isFinite(temperature)) {
      throw new PruneError('OUT_OF_RANGE', `VarModel.generate: temperature ${temperature} must be a positive finite number`);
    }
    const rng = new Random(options.seed ?? 0);
    const map = new Float32Array(side * side);
    const tokens: Int32Array[] = [];
    const caches = Array.from({ length: this.config.num_layers }, () => ({}) as { k?: Tensor<'float32'>; v?: Tensor<'float32'> });
    try {
      scales.forEach((s, k) => {
        const logits = this.#step(k, areaResizeMap(map, side, s), label, caches, options.hook);
        const idx = new Int32Array(s * s);
        const p = new Float64Array(levels);
        for (let t = 0; t < s * s; t++) {
          let max = -Infinity;
          for (let j = 0; j < levels; j++) max = Math.max(max, logits[t * levels + j] / temperature);
          let z = 0;
          for (let j = 0; j < levels; j++) z += p[j] = Math.exp(logits[t * levels + j] / temperature - max);
          const u = rng.uniform() * z;
          let acc = 0;
          let pick = levels - 1;
          for (let j = 0; j < levels; j++) {
            acc += p[j];
            if (u < acc) {
              pick = j;
              break;
            }
          }
          idx[t] = pick;
        }
        tokens.push(idx);
        const up = areaResizeMap(Float32Array.from(idx, (i) => codebooks[k][i]), s, side);
        for (let t = 0; t < up.length; t++) map[t] = Math.fround(map[t] + up[t]);
      });
    } finally {
      for (const c of caches) dispose([c.k, c.v].filter((t): t is Tensor<'float32'> => t !== undefined));
    }
    return { tokens, map, image: areaResizeMap(map, side, px) };
  }
}

/** Index of the codebook value nearest to v (the lower on ties, like argmin). */
function nearest(book: readonly number[], v: number): number {
  let best = 0;
  let bestD = Math.abs(v - book[0]);
  for (let j = 1; j < book.length; j++) {
    const dj = Math.abs(v - book[j]);
    if (dj < bestD) {
      best = j;
      bestD = dj;
    }
  }
  return best;
}
