import type { Tensor } from '../tensor.js';

// The contract between vision transformers and token pruners: a model calls its hook in every
// block between the attention branch and the MLP; a pruner (`@prune/tokens`) answers with the
// tokens to keep or merged tokens. Models and pruners only share these types.

/**
 * What a transformer block shows a token hook after its attention branch, for one image.
 * Token 0 is the CLS token; the others are patch tokens.
 */
export interface TokenLayerView {
  /** Block index, from 0. */
  layer: number;
  /** The residual stream after the attention branch, [n, d]. */
  tokens: Tensor<'float32'>;
  /** This block's softmax attention, [heads, n, n] (rows are queries). */
  attention: Tensor<'float32'>;
  /** This block's keys averaged over heads, [n, headDim] (ToMe's similarity metric). */
  keys: Tensor<'float32'>;
  /** Token sizes after merges; `undefined` while every token is one patch. */
  sizes: Float32Array | undefined;
  /** Original patch position of each token (−1 for CLS). */
  positions: Int32Array;
  /** Patch rows of the image. */
  gridHeight: number;
  /** Patches per row of the image. */
  gridWidth: number;
}

/**
 * A hook's decision for the rest of the forward pass: keep a subset of the tokens (indices
 * into the current tokens, CLS included explicitly, ascending), or replace them by merged
 * tokens with sizes (later blocks then add log(size) to the attention logits: proportional
 * attention).
 */
export type TokenAction =
  | { readonly keep: Int32Array }
  | { readonly tokens: Tensor<'float32'>; readonly sizes: Float32Array; readonly positions: Int32Array };

/**
 * Called by a vision transformer in every block, between the attention branch and the MLP;
 * the returned action (if any) applies before the MLP. A hook serves one forward pass at a
 * time; layer 0 starts a new image.
 */
export interface TokenHook {
  /**
   * @param view - tokens, attention and keys of the block
   * @returns an action, or `undefined` to leave the tokens unchanged
   */
  afterAttention(view: TokenLayerView): TokenAction | undefined;
}
