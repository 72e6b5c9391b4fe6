import { type ModelAdapter, PruneError, type Tensor } from '@prune/core';

/** The tokens one expert receives in one MoE layer, in ascending token order. */
export interface RoutedTokens {
  /** Token rows (of the layer's `[tokens, d]` input) routed to this expert. */
  readonly tokens: Int32Array;
  /** The gate weight g_te of each of those tokens (renormalised top-k, times any route scale). */
  readonly gates: Float32Array;
}

/** Routing of one MoE layer on one batch, reported before the experts run. Tensors are valid during the call only. */
export interface MoeRoutingEvent {
  /** Block index. */
  readonly layer: number;
  /** h_t, the residual stream entering the MoE block, `[tokens, d]`. */
  readonly residual: Tensor;
  /** x_t, the normalised MoE input, `[tokens, d]`. */
  readonly input: Tensor;
  /** k, experts per token. */
  readonly topK: number;
  /** Chosen experts `[tokens · k]`, row-major. */
  readonly indices: Int32Array;
  /** Gate weights g_tk aligned with `indices`. */
  readonly gates: Float32Array;
  /** Per routed expert: its tokens and gates. */
  readonly experts: readonly RoutedTokens[];
}

/** One routed expert's raw output E_e(x_t) `[n_e, d]` (not gate-weighted). */
export interface MoeExpertEvent {
  /** Block index. */
  readonly layer: number;
  /** Expert index. */
  readonly expert: number;
  /** Its tokens and gates. */
  readonly routed: RoutedTokens;
  /** Raw expert output, valid during the call only. */
  readonly output: Tensor;
}

/** The routed output r_t = Σ_k g_tk·E_k(x_t) of one MoE layer (shared experts excluded). */
export interface MoeOutputEvent {
  /** Block index. */
  readonly layer: number;
  /** h_t `[tokens, d]`. */
  readonly residual: Tensor;
  /** r_t `[tokens, d]`. */
  readonly routedOutput: Tensor;
}

/** Hooks a MoE model calls during a forward pass; each is optional. */
export interface MoeHooks {
  /** After routing, before the experts run. */
  routing?(event: MoeRoutingEvent): void;
  /** After each routed expert that received tokens. */
  expert?(event: MoeExpertEvent): void;
  /** After the routed experts of a layer are summed. */
  output?(event: MoeOutputEvent): void;
}

/** The routing hyper-parameters a MoE pruner reads (fields of a Mixtral/DeepSeek `config.json`). */
export interface MoeRoutingConfig {
  /** Transformer blocks; every block has one MoE layer. */
  readonly num_hidden_layers: number;
  /** Routed experts per layer, E. */
  readonly num_local_experts: number;
  /** Experts per token, k. */
  readonly num_experts_per_tok: number;
  /** Shared experts per layer (not routed). */
  readonly n_shared_experts: number;
  /** Whether each router has a selection bias `gate.e_score_correction_bias`. */
  readonly router_bias: boolean;
}

/**
 * What the MoE pruners need from a model: a {@link ModelAdapter} (whose prunable layers
 * include every expert linear, named `…block_sparse_moe.experts.E.{w1,w3,w2}`) that also
 * runs block by block with {@link MoeHooks}, exposes its tensors and routing config, and can
 * block routing to chosen experts. `MoeModel` of `@prune/zoo` implements it.
 */
export interface MoeModelAdapter extends ModelAdapter {
  /** Routing hyper-parameters (plus whatever else the model's config holds). */
  readonly config: MoeRoutingConfig;
  /** Hidden state `[batch, seq, d]` entering block 0 for int32 token ids. */
  embed(ids: Tensor): Tensor;
  /** Runs block `index`; `observe` sees each linear's input (an expert's rows are its tokens). */
  block(index: number, hidden: Tensor, observe?: (layer: string, input: Tensor) => void, hooks?: MoeHooks): Tensor;
  /** Logits `[batch, seq, vocab]` from the last block's output. */
  head(hidden: Tensor): Tensor;
  /** Logits for int32 token ids, with hooks on every MoE layer. */
  forward(ids: Tensor, hooks?: MoeHooks): Tensor;
  /** Every tensor of the model by name (the model owns them). */
  weights(): ReadonlyMap<string, Tensor>;
  /** Blocks routing to experts of block `layer` whose flag is false; `null` lifts the mask. */
  setExpertMask(layer: number, keep: readonly boolean[] | null): void;
}

/**
 * Checks that `model` is a mixture-of-experts model the MoE pruners can drive.
 *
 * @param model - the model to check
 * @param op - how error messages name the caller
 * @returns the model, typed
 * @throws `UNSUPPORTED` when the model has no MoE layers (e.g. a dense LM)
 */
export function asMoeModel(model: unknown, op: string): MoeModelAdapter {
  const m = model as Partial<MoeModelAdapter> | null;
  const c = m?.config as Partial<MoeRoutingConfig> | undefined;
  if (m === null || typeof m !== 'object' || typeof c?.num_local_experts !== 'number' || typeof m.block !== 'function' || typeof m.setExpertMask !== 'function' || typeof m.weights !== 'function') {
    const what = m !== null && typeof m === 'object' && typeof (m as ModelAdapter).description === 'string' ? `"${(m as ModelAdapter).description}"` : 'the model';
    throw new PruneError(
      'UNSUPPORTED',
      `${op}: ${what} has no mixture-of-experts layers (no num_local_experts in its config, or no MoE hooks); pass a MoE model such as @prune/zoo's MoeModel, or prune a dense model with @prune/weights`,
    );
  }
  return m as MoeModelAdapter;
}

/** Name prefix of the MoE block of layer `i`. */
export function moePrefix(i: number): string {
  return `model.layers.${i}.block_sparse_moe`;
}

const EXPERT_LINEAR = /\.block_sparse_moe\.experts\.(\d+)\.(w1|w3|w2)$/;

/** The routed expert a linear belongs to, or null for attention and shared-expert linears. */
export function routedExpertOf(layer: string): number | null {
  const m = EXPERT_LINEAR.exec(layer);
  return m === null ? null : Number(m[1]);
}
