import {
  type Backend,
  type BlockRunner,
  type ModelAdapter,
  type ModelBlock,
  PruneError,
  type SafetensorsSource,
  type Tensor,
  add,
  clone,
  dispose,
  fromArray,
  gather,
  getBackend,
  keep,
  matmul,
  mul,
  openCheckpoint,
  randomNormal,
  reshape,
  scatter,
  sigmoid,
  silu,
  slice,
  softmax,
  tidy,
  transpose,
} from '@prune/core';
import { readJsonFile } from '../folder.js';
import { type MoeConfig, moeBlockLinears, moeBlockPrefix, parseMoeConfig } from './moe-config.js';
import { type DecoderTables, applyRope, decoderTables, rmsNorm } from './decoder.js';
import { ModelWeights, readModelWeights } from '../model-weights.js';

/** The tokens one expert receives in one MoE layer, in ascending token order. */
export interface ExpertTokens {
  /** Token rows (of the layer's `[tokens, d]` input) routed to this expert. */
  readonly tokens: Int32Array;
  /** The final gate weight g_te of each of those tokens (renormalised, times the route scale). */
  readonly gates: Float32Array;
}

/**
 * Routing decisions of one MoE layer on one batch, handed to {@link MoeObserver.routing}
 * before any expert runs. Tensors are valid only during the call.
 */
export interface MoeRouting {
  /** Block index. */
  readonly layer: number;
  /** MoE block name, e.g. `model.layers.0.block_sparse_moe`. */
  readonly name: string;
  /** h_t: the residual stream entering the MoE block, `[tokens, d]`. */
  readonly residual: Tensor;
  /** x_t: the normalised MoE input (what router and experts see), `[tokens, d]`. */
  readonly input: Tensor;
  /** Router logits `[tokens, E]` (before any routing mask). */
  readonly routerLogits: Tensor;
  /** E, routed experts in this layer. */
  readonly numExperts: number;
  /** k, experts per token. */
  readonly topK: number;
  /** Chosen experts, `[tokens · k]` row-major, best first. */
  readonly indices: Int32Array;
  /** Gate weights g_tk of the chosen experts, aligned with `indices`. */
  readonly gates: Float32Array;
  /** Per routed expert: its tokens and their gate weights. */
  readonly experts: readonly ExpertTokens[];
}

/** One routed expert's raw output (not gate-weighted), handed to {@link MoeObserver.expert}. */
export interface MoeExpertOutput {
  /** Block index. */
  readonly layer: number;
  /** Expert index. */
  readonly expert: number;
  /** Its tokens and gates. */
  readonly routed: ExpertTokens;
  /** E_e(x_t) for those tokens, `[n_e, d]`. Valid only during the call. */
  readonly output: Tensor;
}

/** What a MoE layer added to the residual stream, handed to {@link MoeObserver.output}. */
export interface MoeLayerOutput {
  /** Block index. */
  readonly layer: number;
  /** h_t, `[tokens, d]`. */
  readonly residual: Tensor;
  /** r_t = Σ_k g_tk · E_k(x_t), shared experts excluded, `[tokens, d]`. */
  readonly routedOutput: Tensor;
}

/**
 * Hooks into the MoE layers of a forward pass — what expert pruners need (router logits,
 * top-k and gates per token, each expert's output, h_t and x_t). Each hook is optional.
 * Each expert linear's *input* is reported through the {@link BlockRunner} `observe`
 * callback under its layer name, rows in the order of {@link ExpertTokens.tokens}.
 */
export interface MoeObserver {
  /** Called once per MoE layer after routing, before the experts run. */
  routing?(routing: MoeRouting): void;
  /** Called once per routed expert that received tokens. */
  expert?(output: MoeExpertOutput): void;
  /** Called once per MoE layer with its routed output. */
  output?(output: MoeLayerOutput): void;
}

/** Options of {@link MoeModel.fromSafetensors}. */
export interface MoeLoadOptions {
  /**
   * Backend the weights live on.
   * @defaultValue the current backend
   */
  backend?: Backend;
}

type F32 = Tensor<'float32'>;

/**
 * A mixture-of-experts decoder LM: LLaMA-style blocks (RMSNorm, rotary attention) whose MLP
 * is a routed mixture of SwiGLU experts — Mixtral-style (softmax, top-k, renormalised) or
 * DeepSeek-style (sigmoid scores, shared experts, selection bias, route scale). The forward
 * pass runs on `@prune/core` tensors; Mixtral tensor names. The model is a
 * {@link ModelAdapter} whose prunable layers include every expert linear, and takes a
 * {@link MoeObserver} in {@link MoeModel.block} and {@link MoeModel.forward}. A routing
 * mask ({@link MoeModel.setExpertMask}) blocks routing to chosen experts.
 */
export class MoeModel implements ModelAdapter {
  /** Hyper-parameters. */
  readonly config: MoeConfig;
  /** Backend holding the weights. */
  readonly backend: Backend;
  /** Description used in reports. */
  readonly description: string;
  readonly #weights: ModelWeights;
  readonly #tables: DecoderTables;
  readonly #expertMasks: (boolean[] | null)[];

  /**
   * @param config - hyper-parameters
   * @param weights - every tensor of the checkpoint by name (the model takes ownership)
   * @param description - label for reports
   * @param backend - backend of the weights
   * @defaultValue backend: the current backend
   */
  constructor(config: MoeConfig, weights: ReadonlyMap<string, Tensor>, description = 'moe', backend: Backend = getBackend()) {
    this.config = config;
    this.description = description;
    this.backend = backend;
    this.#weights = new ModelWeights(description, moeExpectedShapes(config), weights);
    this.#tables = decoderTables(config, backend);
    this.#expertMasks = Array.from({ length: config.num_hidden_layers }, () => null);
  }

  /**
   * Loads every tensor the config needs from a safetensors file or sharded checkpoint.
   * @param config - hyper-parameters
   * @param source - an open checkpoint
   * @param options - backend
   * @returns the model
   */
  static async fromSafetensors(config: MoeConfig, source: SafetensorsSource, options: MoeLoadOptions = {}): Promise<MoeModel> {
    const backend = options.backend ?? getBackend();
    return readModelWeights(source, moeExpectedShapes(config), backend, (weights) => new MoeModel(config, weights, source.path, backend));
  }

  /** Blocks and their linear layers: attention, then every expert's `w1, w3, w2`. */
  blocks(): readonly ModelBlock[] {
    const { hidden_size: d, intermediate_size: f } = this.config;
    return Array.from({ length: this.config.num_hidden_layers }, (_, i) => ({
      name: `model.layers.${i}`,
      layers: moeBlockLinears(i, this.config).map((name) => ({ name, kind: 'linear' as const, shape: linearShape(name, d, f) })),
    }));
  }

  /** A copy of the weight of linear `layer` (`[d_out, d_in]`). */
  async readWeight(layer: string): Promise<Tensor> {
    return clone(this.#weight(`${layer}.weight`));
  }

  /** Replaces the weight of linear `layer` with a copy of `weight` (same shape). */
  async writeWeight(layer: string, weight: Tensor): Promise<void> {
    this.#weights.replace(`${layer}.weight`, weight, this.backend, `writeWeight(${layer})`);
  }

  /** Every weight by name (read-only view; the model owns them), e.g. for saving or slicing. */
  weights(): ReadonlyMap<string, Tensor> {
    return this.#weights.all();
  }

  /**
   * Blocks routing to the experts of block `layer` whose entry in `keep` is false: their
   * router logits (softmax) or scores (sigmoid) are excluded before the top-k, so the
   * layer behaves as if those experts were removed. `null` lifts the mask.
   * @param layer - block index
   * @param keep - one flag per routed expert, at least k of them true; or null
   */
  setExpertMask(layer: number, keep: readonly boolean[] | null): void {
    this.#checkLayer(layer);
    if (keep === null) {
      this.#expertMasks[layer] = null;
      return;
    }
    const e = this.config.num_local_experts;
    if (!Array.isArray(keep) || keep.length !== e || keep.some((v) => typeof v !== 'boolean')) {
      throw new PruneError('INVALID_ARGUMENT', `setExpertMask: layer ${layer} needs ${e} booleans (one per routed expert)`);
    }
    const kept = keep.filter(Boolean).length;
    if (kept < this.config.num_experts_per_tok) {
      throw new PruneError('OUT_OF_RANGE', `setExpertMask: layer ${layer} keeps ${kept} experts but every token is routed to ${this.config.num_experts_per_tok}; keep at least that many`);
    }
    this.#expertMasks[layer] = [...keep];
  }

  /** The routing mask of block `layer` (true = routable), or null when none is set. */
  expertMask(layer: number): readonly boolean[] | null {
    this.#checkLayer(layer);
    return this.#expertMasks[layer];
  }

  /** Runs the model block by block for calibration (no MoE observer). */
  readonly runner: BlockRunner = {
    embed: (ids) => this.embed(ids),
    runBlock: (index, hidden, observe) => this.block(index, hidden, observe),
  };

  /** Token embeddings `[batch, seq, d]` of int32 `ids` `[seq]` or `[batch, seq]`. */
  embed(ids: Tensor): Tensor {
    if (ids.dtype !== 'int32') throw new PruneError('DTYPE_MISMATCH', 'token ids must be an int32 tensor');
    const [b, t] = ids.rank === 1 ? [1, ids.shape[0]] : [ids.shape[0], ids.shape[1]];
    if (ids.rank > 2 || t > this.config.max_position_embeddings || t === 0) {
      throw new PruneError('SHAPE_MISMATCH', `token ids must be [seq] or [batch, seq] with 1 ≤ seq ≤ ${this.config.max_position_embeddings}, got [${ids.shape}]`);
    }
    return tidy(() => reshape(gather(this.#weight('model.embed_tokens.weight'), reshape(ids as Tensor<'int32'>, [b * t]), 0), [b, t, this.config.hidden_size]));
  }

  /**
   * Block `index` on `hidden` `[batch, seq, d]`.
   * @param index - block index
   * @param hidden - the block's input
   * @param observe - sees each linear's input as `[rows, d_in]` (an expert's rows are its tokens)
   * @param observer - MoE hooks
   * @returns the block's output `[batch, seq, d]`
   */
  block(index: number, hidden: Tensor, observe?: (layer: string, input: Tensor) => void, observer?: MoeObserver): Tensor {
    this.#checkLayer(index);
    const p = `model.layers.${index}`;
    const [b, t, d] = hidden.shape;
    const h = this.config.num_attention_heads;
    const hd = d / h;
    return tidy(() => {
      const linear = (name: string, x2d: F32): F32 => {
        observe?.(name, x2d);
        return matmul(x2d, this.#weight(`${name}.weight`), { transposeB: true });
      };
      const x = reshape(hidden as F32, [b * t, d]);
      const a = this.#rmsNorm(x, `${p}.input_layernorm.weight`);
      const heads = (y: F32): F32 => transpose(reshape(y, [b, t, h, hd]), [0, 2, 1, 3]);
      const q = this.#rope(heads(linear(`${p}.self_attn.q_proj`, a)), t);
      const k = this.#rope(heads(linear(`${p}.self_attn.k_proj`, a)), t);
      const v = heads(linear(`${p}.self_attn.v_proj`, a));
      const scores = add(mul(matmul(q, k, { transposeB: true }), 1 / Math.sqrt(hd)), slice(this.#tables.mask, [0, 0], [t, t]));
      const ctx = reshape(transpose(matmul(softmax(scores, { axis: -1 }), v), [0, 2, 1, 3]), [b * t, d]);
      const x1 = add(x, linear(`${p}.self_attn.o_proj`, ctx));
      const m = this.#rmsNorm(x1, `${p}.post_attention_layernorm.weight`);
      return reshape(add(x1, this.#moe(index, x1, m, linear, observer)), [b, t, d]);
    });
  }

  /** Next-token logits `[batch, seq, vocab]` from the last block's output. */
  head(hidden: Tensor): Tensor {
    const [b, t, d] = hidden.shape;
    return tidy(() => {
      const x = this.#rmsNorm(reshape(hidden as F32, [b * t, d]), 'model.norm.weight');
      return reshape(matmul(x, this.#weight('lm_head.weight'), { transposeB: true }), [b, t, this.config.vocab_size]);
    });
  }

  /**
   * Logits `[batch, seq, vocab]` for int32 `ids` `[seq]` or `[batch, seq]`.
   * @param ids - token ids
   * @param observer - MoE hooks for every layer
   * @returns logits
   */
  forward(ids: Tensor, observer?: MoeObserver): Tensor {
    return tidy(() => {
      let x = this.embed(ids);
      for (let i = 0; i < this.config.num_hidden_layers; i++) x = this.block(i, x, undefined, observer);
      return this.head(x);
    });
  }

  /** Releases every weight. */
  dispose(): void {
    this.#weights.dispose();
    dispose([this.#tables.cos, this.#tables.sin, this.#tables.mask]);
  }

  // The MoE layer on x (normalised input, [T, d]); h is the residual stream entering it.
  #moe(layer: number, h: F32, x: F32, linear: (name: string, x2d: F32) => F32, observer?: MoeObserver): F32 {
    const c = this.config;
    const pre = moeBlockPrefix(layer);
    const [tokens, d] = x.shape;
    const e = c.num_local_experts;
    const k = c.num_experts_per_tok;
    const keepMask = this.#expertMasks[layer];
    const logits = matmul(x, this.#weight(`${pre}.gate.weight`), { transposeB: true });
    let scoreInput: F32 = logits;
    if (keepMask !== null && c.scoring_func === 'softmax') {
      // Softmax over the kept experts only, as if the others' router rows were removed.
      scoreInput = add(logits, fromArray(Float32Array.from(keepMask, (kp) => (kp ? 0 : -Infinity)), [1, e], 'float32', { backend: this.backend }));
    }
    const scores = (c.scoring_func === 'softmax' ? softmax(scoreInput, { axis: -1 }) : sigmoid(scoreInput)).dataSync() as Float32Array;
    const bias = c.router_bias ? (this.#weight(`${pre}.gate.e_score_correction_bias`).dataSync() as Float32Array) : null;
    const indices = new Int32Array(tokens * k);
    const gates = new Float32Array(tokens * k);
    const choice = new Float64Array(e);
    const taken = new Uint8Array(e);
    for (let t = 0; t < tokens; t++) {
      for (let j = 0; j < e; j++) {
        choice[j] = keepMask !== null && !keepMask[j] ? -Infinity : Math.fround(scores[t * e + j] + (bias ? bias[j] : 0));
      }
      let total = 0;
      taken.fill(0);
      for (let s = 0; s < k; s++) {
        let best = -1;
        // Ties go to the lower index; masked experts (-Infinity) are never reached as k ≤ kept.
        for (let j = 0; j < e; j++) if (!taken[j] && (best < 0 || choice[j] > choice[best])) best = j;
        indices[t * k + s] = best;
        taken[best] = 1;
        gates[t * k + s] = scores[t * e + best];
        total = Math.fround(total + scores[t * e + best]);
      }
      for (let s = 0; s < k; s++) {
        let g = gates[t * k + s];
        if (c.norm_topk_prob) g = Math.fround(g / total);
        gates[t * k + s] = Math.fround(g * c.routed_scaling_factor);
      }
    }
    const lists = Array.from({ length: e }, () => ({ tokens: [] as number[], gates: [] as number[] }));
    for (let i = 0; i < tokens * k; i++) {
      lists[indices[i]].tokens.push(Math.floor(i / k));
      lists[indices[i]].gates.push(gates[i]);
    }
    const experts: ExpertTokens[] = lists.map((l) => ({ tokens: Int32Array.from(l.tokens), gates: Float32Array.from(l.gates) }));
    observer?.routing?.({ layer, name: pre, residual: h, input: x, routerLogits: logits, numExperts: e, topK: k, indices, gates, experts });
    const expert = (name: string, input: F32): F32 => linear(`${name}.w2`, mul(silu(linear(`${name}.w1`, input)), linear(`${name}.w3`, input)));
    let routed: F32 = fromArray(new Float32Array(tokens * d), [tokens, d], 'float32', { backend: this.backend });
    for (let j = 0; j < e; j++) {
      const r = experts[j];
      if (r.tokens.length === 0) continue;
      const rows = Array.from(r.tokens);
      const out = expert(`${pre}.experts.${j}`, gather(x, rows, 0));
      observer?.expert?.({ layer, expert: j, routed: r, output: out });
      const weighted = mul(out, fromArray(r.gates, [r.tokens.length, 1], 'float32', { backend: this.backend }));
      routed = scatter(routed, rows, add(gather(routed, rows, 0), weighted), 0);
    }
    observer?.output?.({ layer, residual: h, routedOutput: routed });
    let out = routed;
    for (let s = 0; s < c.n_shared_experts; s++) out = add(out, expert(`${pre}.shared_experts.${s}`, x));
    return out;
  }

  #checkLayer(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.config.num_hidden_layers) {
      throw new PruneError('OUT_OF_RANGE', `block index ${index} is outside 0..${this.config.num_hidden_layers - 1}`);
    }
  }

  #weight(name: string): F32 {
    return this.#weights.get(name);
  }

  #rmsNorm(x: F32, weight: string): F32 {
    return rmsNorm(x, this.#weight(weight), this.config.rms_norm_eps);
  }

  #rope(x: F32, t: number): F32 {
    return applyRope(x, this.#tables, t);
  }
}

function linearShape(name: string, d: number, f: number): [number, number] {
  if (name.endsWith('.w2')) return [d, f];
  if (name.endsWith('.w1') || name.endsWith('.w3')) return [f, d];
  return [d, d];
}

/**
 * Every tensor a MoE checkpoint with `config` holds, with its shape, in a fixed order.
 * @param config - hyper-parameters
 * @returns `[name, shape]` pairs
 */
export function moeExpectedShapes(config: MoeConfig): [string, number[]][] {
  const { hidden_size: d, intermediate_size: f } = config;
  const out: [string, number[]][] = [['model.embed_tokens.weight', [config.vocab_size, d]]];
  for (let i = 0; i < config.num_hidden_layers; i++) {
    const p = `model.layers.${i}`;
    out.push([`${p}.input_layernorm.weight`, [d]], [`${p}.post_attention_layernorm.weight`, [d]]);
    out.push([`${moeBlockPrefix(i)}.gate.weight`, [config.num_local_experts, d]]);
    if (config.router_bias) out.push([`${moeBlockPrefix(i)}.gate.e_score_correction_bias`, [config.num_local_experts]]);
    for (const name of moeBlockLinears(i, config)) out.push([`${name}.weight`, linearShape(name, d, f)]);
  }
  out.push(['model.norm.weight', [d]], ['lm_head.weight', [config.vocab_size, d]]);
  return out;
}

/**
 * Reads `config.json` and the safetensors checkpoint in `folder` and loads the MoE model
 * (Node only).
 * @param folder - folder with `config.json` and `model.safetensors` (or a sharded index)
 * @param options - backend
 * @returns the model and its config
 */
export async function loadMoeModelFolder(folder: string, options: MoeLoadOptions = {}): Promise<{ model: MoeModel; config: MoeConfig }> {
  const { json, path: file } = await readJsonFile(folder, 'config.json');
  const config = parseMoeConfig(json, file);
  const source = await openCheckpoint(folder);
  try {
    return { model: await MoeModel.fromSafetensors(config, source, options), config };
  } finally {
    await source.close();
  }
}

/** Options of {@link createRandomMoeModel}. */
export interface RandomMoeOptions {
  /**
   * Seed of the normal initialisation.
   * @defaultValue 0
   */
  seed?: number;
  /**
   * Standard deviation of every weight (norm weights are 1, selection biases are drawn too).
   * @defaultValue 0.3
   */
  std?: number;
  /**
   * Backend for the weights.
   * @defaultValue the current backend
   */
  backend?: Backend;
}

/**
 * A randomly initialised MoE model — for examples, tests and benchmarks of pruners, never
 * for evaluation of quality.
 *
 * @param config - hyper-parameters (e.g. from {@link parseMoeConfig})
 * @param options - seed, scale, backend
 * @returns the model
 */
export function createRandomMoeModel(config: MoeConfig, options: RandomMoeOptions = {}): MoeModel {
  const backend = options.backend ?? getBackend();
  const std = options.std ?? 0.3;
  let seed = options.seed ?? 0;
  const weights = new Map<string, Tensor>();
  for (const [name, shape] of moeExpectedShapes(config)) {
    const norm = name.endsWith('layernorm.weight') || name === 'model.norm.weight';
    weights.set(name, norm ? fromArray(new Float32Array(shape[0]).fill(1), shape, 'float32', { backend }) : randomNormal(shape, { seed: seed++, std, backend }));
  }
  return new MoeModel(config, weights, 'random-moe', backend);
}
