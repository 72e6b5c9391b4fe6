import {
  type AcpKernel,
  type AcpOptions,
  type ForgettingAttentionInputs,
  type ForgettingLayerCache,
  type ForgettingLayerWeights,
  forgettingAttentionLayer,
  forgettingAttentionLayerStep,
} from '@prune/attention';
import {
  type Backend,
  PruneError,
  type SafetensorsSource,
  type Tensor,
  add,
  dispose,
  fromArray,
  gather,
  getBackend,
  matmul,
  mul,
  reshape,
  silu,
  tidy,
} from '@prune/core';
import { rmsNorm } from '../lm/decoder.js';
import { type FoxConfig, foxExpectedShapes } from './config.js';
import { ModelWeights, readModelWeights } from '../model-weights.js';

type F32 = Tensor<'float32'>;

/** Options of {@link FoxModel.fromSafetensors}. */
export interface FoxLoadOptions {
  /**
   * Backend the weights live on.
   * @defaultValue the current backend
   */
  backend?: Backend;
}

/** Options of {@link FoxModel.forward}, {@link FoxModel.prefill} and {@link FoxModel.decode}. */
export interface FoxForwardOptions {
  /**
   * Adaptive Computation Pruning in every layer (`{}` for the defaults: ln ε = −10, 64 × 64
   * tiles, the QK-norm bound when the model has QK-norm).
   * @defaultValue false (full forgetting attention)
   */
  acp?: AcpOptions | false;
  /**
   * ACP kernel of the prefill.
   * @defaultValue `'auto'`
   */
  kernel?: AcpKernel;
  /**
   * First real token per sequence of a left-padded batch (prefill and forward only; decoding
   * takes it from the state).
   * @defaultValue every sequence starts at 0
   */
  seqStart?: ArrayLike<number>;
  /**
   * Called after each layer's attention with its FLOP saving of softmax attention per head
   * (zeros without ACP).
   * @defaultValue none
   */
  onLayer?: (layer: number, headFlopSaving: Float64Array) => void;
  /**
   * Sees each layer's attention inputs — q, k, v after token shift and QK-norm, and log f —
   * during a forward or prefill (not in decoding steps). The tensors are valid only during
   * the callback.
   * @defaultValue none
   */
  observeAttention?: (layer: number, inputs: ForgettingAttentionInputs) => void;
}

/** Decoding state of a {@link FoxModel}: one KV cache (with token-shift states) per layer. */
export interface FoxDecodingState {
  /** Per-layer caches (updated in place by {@link FoxModel.decode}). */
  readonly layers: ForgettingLayerCache[];
}

/**
 * A FoX (Forgetting Transformer) decoder LM: LLaMA-style blocks (RMSNorm, SwiGLU MLP, untied
 * head) whose attention is `@prune/attention`'s forgetting attention — a per-head forget gate
 * log f = logsigmoid(w_f·x + b_f), decay bias Λ_i − Λ_j, no RoPE — with the optional Pro parts
 * (QK-norm, output gate, key / value token shift). The forward pass runs on `@prune/core`
 * tensors on every backend, with Adaptive Computation Pruning on request, and decodes one
 * token at a time from a KV cache. Tensor names follow the official implementation
 * (`model.layers.0.self_attn.fgate_proj.weight`, …).
 */
export class FoxModel {
  /** Hyper-parameters. */
  readonly config: FoxConfig;
  /** Backend holding the weights. */
  readonly backend: Backend;
  /** Description used in messages. */
  readonly description: string;
  readonly #weights: ModelWeights;

  /**
   * @param config - hyper-parameters
   * @param weights - every tensor of the checkpoint by name (the model keeps its own references)
   * @param description - label for messages
   * @param backend - backend of the weights
   */
  constructor(config: FoxConfig, weights: ReadonlyMap<string, Tensor>, description: string, backend: Backend) {
    this.config = config;
    this.description = description;
    this.backend = backend;
    this.#weights = new ModelWeights(description, foxExpectedShapes(config), weights);
  }

  /** Loads every tensor the config needs from a safetensors file or sharded checkpoint. */
  static async fromSafetensors(config: FoxConfig, source: SafetensorsSource, options: FoxLoadOptions = {}): Promise<FoxModel> {
    const backend = options.backend ?? getBackend();
    return readModelWeights(source, foxExpectedShapes(config), backend, (weights) => new FoxModel(config, weights, source.path, backend));
  }

  /** Every weight by name (read-only view; the model owns them). */
  weights(): ReadonlyMap<string, Tensor> {
    return this.#weights.all();
  }

  /** The weights of layer `index`'s forgetting attention, in `@prune/attention`'s layout. */
  attentionWeights(index: number): ForgettingLayerWeights {
    this.#checkLayer(index);
    const p = `model.layers.${index}.self_attn`;
    const c = this.config;
    return {
      qProj: this.#weight(`${p}.q_proj.weight`),
      kProj: this.#weight(`${p}.k_proj.weight`),
      vProj: this.#weight(`${p}.v_proj.weight`),
      oProj: this.#weight(`${p}.o_proj.weight`),
      fgateProj: this.#weight(`${p}.fgate_proj.weight`),
      fgateBias: this.#weight(`${p}.fgate_proj.bias`),
      ...(c.use_output_gate ? { ogateProj: this.#weight(`${p}.ogate_proj.weight`) } : {}),
      ...(c.qk_norm ? { qNorm: this.#weight(`${p}.q_norm.weight`), kNorm: this.#weight(`${p}.k_norm.weight`) } : {}),
      ...(c.use_k_shift ? { kShiftProj: this.#weight(`${p}.k_shift_proj.weight`) } : {}),
      ...(c.use_v_shift ? { vShiftProj: this.#weight(`${p}.v_shift_proj.weight`) } : {}),
    };
  }

  /** Token embeddings `[batch, seq, d]` of int32 `ids` `[seq]` or `[batch, seq]` (on any backend). */
  embed(ids: Tensor): Tensor<'float32'> {
    if (ids.dtype !== 'int32') throw new PruneError('DTYPE_MISMATCH', `${this.description}: token ids must be an int32 tensor, got ${ids.dtype}`);
    if (ids.rank < 1 || ids.rank > 2 || ids.size === 0) throw new PruneError('SHAPE_MISMATCH', `${this.description}: token ids must be [seq] or [batch, seq] with seq ≥ 1, got [${ids.shape}]`);
    const [b, t] = ids.rank === 1 ? [1, ids.shape[0]] : [ids.shape[0], ids.shape[1]];
    const vocab = this.config.vocab_size;
    if ((ids.dataSync() as Int32Array).some((v) => v < 0 || v >= vocab)) throw new PruneError('OUT_OF_RANGE', `${this.description}: token ids must lie in 0..${vocab - 1}`);
    return tidy(() => {
      // Token ids are small: bring them to the weights' backend (e.g. from perplexity()).
      const here = ids.backend === this.backend ? (ids as Tensor<'int32'>) : fromArray(ids.dataSync() as Int32Array, [b * t], 'int32', { backend: this.backend });
      return reshape(gather(this.#weight('model.embed_tokens.weight'), reshape(here, [b * t]), 0), [b, t, this.config.hidden_size]);
    });
  }

  /**
   * Block `index` on `hidden` `[batch, seq, d]` (a whole sequence): forgetting attention with
   * a residual, then the SwiGLU MLP with a residual.
   * @returns the block output and the attention's per-head FLOP saving
   */
  block(index: number, hidden: Tensor, options: FoxForwardOptions = {}): { output: Tensor<'float32'>; headFlopSaving: Float64Array } {
    return this.#block(index, hidden, options, null);
  }

  /** Next-token logits `[batch, seq, vocab]` from the last block's output. */
  head(hidden: Tensor): Tensor<'float32'> {
    const [b, t, d] = hidden.shape;
    return tidy(() => {
      const x = rmsNorm(reshape(hidden as F32, [b * t, d]), this.#weight('model.norm.weight'), this.config.rms_norm_eps);
      return reshape(matmul(x, this.#weight('lm_head.weight'), { transposeB: true }), [b, t, this.config.vocab_size]);
    });
  }

  /**
   * Logits `[batch, seq, vocab]` for int32 `ids` `[seq]` or `[batch, seq]`. Any length runs
   * (no position table); quality beyond `max_position_embeddings` is what the forget gates
   * make of it.
   * @example
   * ```ts
   * const logits = model.forward(ids, { acp: { logTolerance: -10 } });
   * ```
   */
  forward(ids: Tensor, options: FoxForwardOptions = {}): Tensor<'float32'> {
    return tidy(() => {
      let x = this.embed(ids);
      for (let i = 0; i < this.config.num_hidden_layers; i++) x = this.#block(i, x, options, null).output;
      return this.head(x);
    });
  }

  /**
   * Runs the prompt `ids` and keeps every layer's KV cache for {@link FoxModel.decode}.
   * @returns the prompt's logits `[batch, seq, vocab]` and the decoding state
   */
  prefill(ids: Tensor, options: FoxForwardOptions = {}): { logits: Tensor<'float32'>; state: FoxDecodingState } {
    const layers: ForgettingLayerCache[] = [];
    const logits = tidy(() => {
      let x = this.embed(ids);
      for (let i = 0; i < this.config.num_hidden_layers; i++) x = this.#block(i, x, options, layers).output;
      return this.head(x);
    });
    return { logits, state: { layers } };
  }

  /**
   * One decoding step: the next token of every sequence, `[batch]` or `[batch, 1]` int32,
   * attends to the cached positions (old KV blocks skipped under ACP) and joins the caches.
   * Equals the last row of {@link FoxModel.forward} over the whole sequence.
   * @returns logits `[batch, 1, vocab]`
   */
  decode(ids: Tensor, state: FoxDecodingState, options: FoxForwardOptions = {}): Tensor<'float32'> {
    if (state.layers.length !== this.config.num_hidden_layers) {
      throw new PruneError('INVALID_ARGUMENT', `${this.description}: the decoding state has ${state.layers.length} layer caches, the model ${this.config.num_hidden_layers}; create it with prefill()`);
    }
    const b = state.layers[0].kv.batch;
    if (ids.size !== b) throw new PruneError('SHAPE_MISMATCH', `${this.description}: decoding takes one token per sequence: ids must hold ${b} values ([batch] or [batch, 1]), got [${ids.shape}]`);
    return tidy(() => {
      let x = this.embed(reshape(ids as Tensor<'int32'>, [b, 1]));
      for (let i = 0; i < this.config.num_hidden_layers; i++) x = this.#step(i, x, state.layers[i], options);
      return this.head(x);
    });
  }

  /** Releases every weight. */
  dispose(): void {
    this.#weights.dispose();
  }

  #block(index: number, hidden: Tensor, options: FoxForwardOptions, caches: ForgettingLayerCache[] | null): { output: F32; headFlopSaving: Float64Array } {
    this.#checkLayer(index);
    const p = `model.layers.${index}`;
    const [b, t, d] = hidden.shape;
    let saving: Float64Array = new Float64Array(0);
    const output = tidy(() => {
      const x = reshape(hidden as F32, [b * t, d]);
      const a = reshape(rmsNorm(x, this.#weight(`${p}.input_layernorm.weight`), this.config.rms_norm_eps), [b, t, d]);
      const r = forgettingAttentionLayer(a, this.attentionWeights(index), {
        heads: this.config.num_attention_heads,
        normEps: this.config.norm_eps,
        acp: options.acp ?? false,
        kernel: options.kernel,
        seqStart: options.seqStart,
        cache: caches !== null,
        ...(options.observeAttention ? { observe: (inputs: ForgettingAttentionInputs) => options.observeAttention?.(index, inputs) } : {}),
      });
      saving = r.headFlopSaving;
      options.onLayer?.(index, saving);
      if (caches !== null && r.cache) caches.push(r.cache);
      return this.#mlp(index, add(x, reshape(r.output, [b * t, d])), [b, t, d]);
    });
    return { output, headFlopSaving: saving };
  }

  #step(index: number, hidden: F32, cache: ForgettingLayerCache, options: FoxForwardOptions): F32 {
    const p = `model.layers.${index}`;
    const [b, t, d] = hidden.shape;
    return tidy(() => {
      const x = reshape(hidden, [b * t, d]);
      const a = reshape(rmsNorm(x, this.#weight(`${p}.input_layernorm.weight`), this.config.rms_norm_eps), [b, t, d]);
      const r = forgettingAttentionLayerStep(a, this.attentionWeights(index), cache, { heads: this.config.num_attention_heads, normEps: this.config.norm_eps, acp: options.acp ?? false });
      options.onLayer?.(index, r.headFlopSaving);
      return this.#mlp(index, add(x, reshape(r.output, [b * t, d])), [b, t, d]);
    });
  }

  #mlp(index: number, x1: F32, shape: [number, number, number]): F32 {
    const p = `model.layers.${index}`;
    const m = rmsNorm(x1, this.#weight(`${p}.post_attention_layernorm.weight`), this.config.rms_norm_eps);
    const lin = (name: string, x: F32): F32 => matmul(x, this.#weight(`${p}.mlp.${name}.weight`), { transposeB: true });
    return reshape(add(x1, lin('down_proj', mul(silu(lin('gate_proj', m)), lin('up_proj', m)))), shape);
  }

  #checkLayer(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.config.num_hidden_layers) {
      throw new PruneError('OUT_OF_RANGE', `${this.description}: layer index ${index} is outside 0..${this.config.num_hidden_layers - 1}`);
    }
  }

  #weight(name: string): F32 {
    return this.#weights.get(name);
  }
}
