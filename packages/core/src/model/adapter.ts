import type { Tensor } from '../tensor.js';

/** Kinds of layer a weight pruner can prune. Each is viewed as a `[d_out, d_in]` matrix. */
export type PrunableKind = 'linear' | 'conv2d' | 'depthwiseConv2d';

/** One prunable layer of a model, as a weight matrix `W ∈ ℝ^{d_out × d_in}`. */
export interface PrunableLayer {
  /** Unique name, e.g. `model.layers.0.self_attn.q_proj`. */
  readonly name: string;
  /** Matrix view of the weight: `[d_out, d_in]` (a conv kernel is `[out, in·kh·kw]`). */
  readonly shape: readonly [number, number];
  /** Layer type. */
  readonly kind: PrunableKind;
}

/**
 * A block of layers that calibration treats as a unit: one transformer block, or one layer
 * of a model without blocks. Every layer of a block gets its statistics from one pass
 * through the (still dense) block.
 */
export interface ModelBlock {
  /** Block name, e.g. `model.layers.3`. */
  readonly name: string;
  /** Its prunable layers, in execution order. */
  readonly layers: readonly PrunableLayer[];
}

/**
 * Runs a model block by block on calibration samples so pruners can observe each layer's
 * inputs (Wanda's column norms, SparseGPT's Hessian) and propagate pruned outputs.
 */
export interface BlockRunner {
  /**
   * Hidden state that enters block 0 for one calibration `sample` (e.g. int32 token ids
   * `[seq]` for a language model, an image batch for a CNN).
   */
  embed(sample: Tensor): Tensor;
  /**
   * Runs block `index` on `hidden` and returns the block's output. When `observe` is given,
   * it is called once per prunable layer of the block with that layer's input viewed as
   * `[tokens, d_in]`; the tensor is valid only during the call.
   */
  runBlock(index: number, hidden: Tensor, observe?: (layer: string, input: Tensor) => void): Tensor;
  /**
   * Optional: runs block `index` on ONE sample's `hidden` state, like {@link BlockRunner.runBlock}, but
   * shows each prunable layer more than its input — for methods that read layer outputs or
   * attention (TAMP). `observe` is called once per prunable layer, in execution order, with
   * its `input` `[tokens, d_in]`, its `output` `[tokens, d_out]` and, when `attention` is
   * true, the block's self-attention probabilities of the last query row averaged over
   * heads, float32 `[tokens]` (how much the last token attends to each token). The tensors
   * are valid only during the call.
   * @defaultValue absent: methods that need outputs or attention report the model as unsupported
   */
  runBlockObserved?(
    index: number,
    hidden: Tensor,
    observe: (layer: string, observation: { readonly input: Tensor; readonly output: Tensor; readonly attention?: Tensor }) => void,
    attention: boolean,
  ): Tensor;
}

/**
 * What a pruner needs from a model: its blocks and prunable layers, read and write access to
 * each weight matrix, and — for calibrated methods — a {@link BlockRunner}. Implemented for
 * the zoo language models, tfjs LayersModels and safetensors checkpoints.
 */
export interface ModelAdapter {
  /** Human-readable description for reports (e.g. `zoo:lm-tiny`, a file path). */
  readonly description: string;
  /** Blocks in execution order. */
  blocks(): readonly ModelBlock[];
  /** The weight of `layer` as a float32 `[d_out, d_in]` tensor the caller owns. */
  readWeight(layer: string): Promise<Tensor>;
  /** Replaces the weight of `layer` (same shape) with a copy of `weight`. */
  writeWeight(layer: string, weight: Tensor): Promise<void>;
  /** Present when the model can run on calibration data. */
  readonly runner?: BlockRunner;
}
