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
  gather,
  getBackend,
  matmul,
  mean,
  mul,
  reshape,
  silu,
  slice,
  softmax,
  tidy,
  transpose,
} from '@prune/core';
import { type LlamaConfig, llamaBlockLinears } from './config.js';
import { type DecoderTables, applyRope, decoderTables, rmsNorm } from './decoder.js';
import { ModelWeights, readModelWeights } from '../model-weights.js';

/** Options of {@link LlamaModel.fromSafetensors}. */
export interface LlamaLoadOptions {
  /**
   * Backend the weights live on.
   * @defaultValue the current backend
   */
  backend?: Backend;
}

/**
 * A LLaMA-style decoder LM (RMSNorm, rotary multi-head attention, SwiGLU MLP) whose forward
 * pass runs on `@prune/core` tensors, so it runs on every backend. Weights use LLaMA tensor
 * names (`model.layers.0.self_attn.q_proj.weight`, …). The model is also a
 * {@link ModelAdapter}: pruners read and write its linear weights and run it block by block.
 */
export class LlamaModel implements ModelAdapter {
  /** Hyper-parameters. */
  readonly config: LlamaConfig;
  /** Backend holding the weights. */
  readonly backend: Backend;
  /** Description used in reports. */
  readonly description: string;
  readonly #weights: ModelWeights;
  readonly #tables: DecoderTables;

  /**
   * @param config - hyper-parameters
   * @param weights - every tensor of the checkpoint by name (the model takes ownership)
   * @param description - label for reports
   * @param backend - backend of the weights
   */
  constructor(config: LlamaConfig, weights: Map<string, Tensor>, description: string, backend: Backend) {
    this.config = config;
    this.description = description;
    this.backend = backend;
    this.#weights = new ModelWeights(description, expectedShapes(config), weights);
    this.#tables = decoderTables(config, backend);
  }

  /** Loads every tensor the config needs from a safetensors file or sharded checkpoint. */
  static async fromSafetensors(config: LlamaConfig, source: SafetensorsSource, options: LlamaLoadOptions = {}): Promise<LlamaModel> {
    const backend = options.backend ?? getBackend();
    return readModelWeights(source, expectedShapes(config), backend, (weights) => new LlamaModel(config, weights, source.path, backend));
  }

  /** Blocks and their linear layers (the prunable weights). */
  blocks(): readonly ModelBlock[] {
    const { hidden_size: d, intermediate_size: f } = this.config;
    return Array.from({ length: this.config.num_hidden_layers }, (_, i) => ({
      name: `model.layers.${i}`,
      layers: llamaBlockLinears(i).map((name) => ({
        name,
        kind: 'linear' as const,
        shape: (name.endsWith('down_proj') ? [d, f] : name.includes('mlp') ? [f, d] : [d, d]) as [number, number],
      })),
    }));
  }

  /** A copy of the weight of linear `layer` (`[d_out, d_in]`). */
  async readWeight(layer: string): Promise<Tensor> {
    return clone(this.#weight(`${layer}.weight`));
  }

  /** Replaces the weight of linear `layer` with a copy of `weight`. */
  async writeWeight(layer: string, weight: Tensor): Promise<void> {
    this.#weights.replace(`${layer}.weight`, weight, this.backend, `writeWeight(${layer})`);
  }

  /** Every weight by name (read-only view; the model owns them), e.g. for saving. */
  weights(): ReadonlyMap<string, Tensor> {
    return this.#weights.all();
  }

  /**
   * Runs the model block by block for calibration; `runBlockObserved` also shows each linear
   * its output and the block's last-row attention (see {@link LlamaModel.blockObserved}).
   */
  readonly runner: BlockRunner = {
    embed: (ids) => this.embed(ids),
    runBlock: (index, hidden, observe) => this.block(index, hidden, observe),
    runBlockObserved: (index, hidden, observe, attention) => this.blockObserved(index, hidden, observe, attention),
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
   * Block `index` on `hidden` `[batch, seq, d]`; `observe` sees each linear's input as
   * `[batch·seq, d_in]`.
   */
  block(index: number, hidden: Tensor, observe?: (layer: string, input: Tensor) => void): Tensor {
    return this.#block(index, hidden, observe === undefined ? undefined : (layer, o) => observe(layer, o.input), false);
  }

  /**
   * Block `index` on one sample's `hidden` `[1, seq, d]`, showing each linear (in execution
   * order) its input `[seq, d_in]`, its output `[seq, d_out]` and, with `attention`, the
   * block's softmax attention probabilities of the last query row averaged over heads, `[seq]`
   * (TAMP's token weights). The tensors are valid only during the call.
   * @throws `SHAPE_MISMATCH` when `attention` is asked for a batch of several samples
   */
  blockObserved(
    index: number,
    hidden: Tensor,
    observe: (layer: string, observation: { readonly input: Tensor; readonly output: Tensor; readonly attention?: Tensor }) => void,
    attention: boolean,
  ): Tensor {
    if (attention && hidden.shape[0] !== 1) {
      throw new PruneError('SHAPE_MISMATCH', `blockObserved: the attention row belongs to one sample, but hidden holds a batch of ${hidden.shape[0]}; run one sample ([1, seq, d]) at a time`);
    }
    return this.#block(index, hidden, observe, attention);
  }

  #block(index: number, hidden: Tensor, observe: ((layer: string, observation: LinearObservation) => void) | undefined, attention: boolean): Tensor {
    if (!Number.isInteger(index) || index < 0 || index >= this.config.num_hidden_layers) {
      throw new PruneError('OUT_OF_RANGE', `block index ${index} is outside 0..${this.config.num_hidden_layers - 1}`);
    }
    const p = `model.layers.${index}`;
    const [b, t, d] = hidden.shape;
    const h = this.config.num_attention_heads;
    const hd = d / h;
    return tidy(() => {
      const project = (name: string, x2d: F32): F32 => matmul(x2d, this.#weight(`${p}.${name}.weight`), { transposeB: true });
      const x = reshape(hidden as F32, [b * t, d]);
      const a = this.#rmsNorm(x, `${p}.input_layernorm.weight`);
      const heads = (y: F32): F32 => transpose(reshape(y, [b, t, h, hd]), [0, 2, 1, 3]);
      // q, k, v are observed after the attention probabilities exist, so each sees the row.
      const qkv = (['q_proj', 'k_proj', 'v_proj'] as const).map((n) => project(`self_attn.${n}`, a));
      const q = this.#rope(heads(qkv[0]), t);
      const k = this.#rope(heads(qkv[1]), t);
      const v = heads(qkv[2]);
      const scores = add(mul(matmul(q, k, { transposeB: true }), 1 / Math.sqrt(hd)), slice(this.#tables.mask, [0, 0], [t, t]));
      const probs = softmax(scores, { axis: -1 });
      const lastRow = attention ? reshape(mean(reshape(slice(probs, [0, 0, t - 1, 0], [1, h, 1, t]), [h, t]), { axis: 0 }), [t]) : undefined;
      (['q_proj', 'k_proj', 'v_proj'] as const).forEach((n, i) => observe?.(`${p}.self_attn.${n}`, { input: a, output: qkv[i], attention: lastRow }));
      const linear = (name: string, x2d: F32): F32 => {
        const y = project(name, x2d);
        observe?.(`${p}.${name}`, { input: x2d, output: y, attention: lastRow });
        return y;
      };
      const ctx = reshape(transpose(matmul(probs, v), [0, 2, 1, 3]), [b * t, d]);
      const x1 = add(x, linear('self_attn.o_proj', ctx));
      const m = this.#rmsNorm(x1, `${p}.post_attention_layernorm.weight`);
      const gated = mul(silu(linear('mlp.gate_proj', m)), linear('mlp.up_proj', m));
      return reshape(add(x1, linear('mlp.down_proj', gated)), [b, t, d]);
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

  /** Logits `[batch, seq, vocab]` for int32 `ids` `[seq]` or `[batch, seq]`. */
  forward(ids: Tensor): Tensor {
    return tidy(() => {
      let x = this.embed(ids);
      for (let i = 0; i < this.config.num_hidden_layers; i++) x = this.block(i, x);
      return this.head(x);
    });
  }

  /** Releases every weight. */
  dispose(): void {
    this.#weights.dispose();
    dispose([this.#tables.cos, this.#tables.sin, this.#tables.mask]);
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

type F32 = Tensor<'float32'>;

// What blockObserved shows a linear layer (the shape BlockRunner.runBlockObserved defines).
type LinearObservation = { readonly input: Tensor; readonly output: Tensor; readonly attention?: Tensor };

function expectedShapes(c: LlamaConfig): [string, number[]][] {
  const d = c.hidden_size;
  const f = c.intermediate_size;
  const out: [string, number[]][] = [['model.embed_tokens.weight', [c.vocab_size, d]]];
  for (let i = 0; i < c.num_hidden_layers; i++) {
    const p = `model.layers.${i}`;
    out.push([`${p}.input_layernorm.weight`, [d]], [`${p}.post_attention_layernorm.weight`, [d]]);
    for (const name of llamaBlockLinears(i)) {
      out.push([`${name}.weight`, name.endsWith('down_proj') ? [d, f] : name.includes('mlp') ? [f, d] : [d, d]]);
    }
  }
  out.push(['model.norm.weight', [d]], ['lm_head.weight', [c.vocab_size, d]]);
  return out;
}

