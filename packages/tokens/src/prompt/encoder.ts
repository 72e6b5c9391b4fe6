import { PruneError, type Tensor, fromArray, tidy } from '@prune/core';
import type { ShotEncoding } from './cot-max.js';

/**
 * A decoder LM that exposes its hidden states block by block (the zoo's `LlamaModel` is
 * one): embeddings, then each block.
 */
export interface HiddenStateModel {
  /** Token embeddings `[batch, seq, d]` of int32 ids `[batch, seq]`. */
  embed(ids: Tensor): Tensor;
  /** Block `index` on hidden states `[batch, seq, d]`. */
  block(index: number, hidden: Tensor): Tensor;
  /** Hyper-parameters (block count and context length). */
  readonly config: {
    /** Number of blocks. */
    readonly num_hidden_layers: number;
    /** Context length in tokens. */
    readonly max_position_embeddings: number;
  };
}

/** Options of {@link encodeShots}. */
export interface EncodeShotsOptions {
  /**
   * Hidden states after this many blocks (0 = the token embeddings).
   * @defaultValue all blocks (the last hidden states, before the final norm)
   */
  layer?: number;
  /**
   * Tokens placed before every shot (e.g. the question and a separator), so the causal
   * model's states of the shot tokens see them; only the shot's rows are returned.
   * @defaultValue none
   */
  prefix?: readonly number[];
}

/**
 * The frozen encoder for CoT-Max: each shot is run through the LM (after `prefix`) and the
 * hidden states of its tokens after `layer` blocks are its embeddings. Shots are batched
 * with right padding, which a causal model never attends to.
 * @param model - the frozen LM
 * @param shots - token ids of each shot
 * @param options - layer and prefix
 * @throws `OUT_OF_RANGE` for an empty shot, a bad layer or a prefix plus shot longer than the context
 */
export function encodeShots(model: HiddenStateModel, shots: readonly (readonly number[])[], options: EncodeShotsOptions = {}): ShotEncoding[] {
  const layers = model.config.num_hidden_layers;
  const layer = options.layer ?? layers;
  if (!Number.isInteger(layer) || layer < 0 || layer > layers) throw new PruneError('OUT_OF_RANGE', `layer must be an integer in 0..${layers}, got ${layer}`);
  const prefix = options.prefix ?? [];
  if (shots.length === 0) return [];
  const width = prefix.length + Math.max(...shots.map((s) => s.length));
  shots.forEach((s, i) => {
    if (s.length === 0) throw new PruneError('OUT_OF_RANGE', `shot ${i} is empty; every shot needs at least one token`);
  });
  if (width > model.config.max_position_embeddings) {
    throw new PruneError('OUT_OF_RANGE', `prefix plus the longest shot hold ${width} tokens, more than the model's context of ${model.config.max_position_embeddings}`);
  }
  const ids = new Int32Array(shots.length * width);
  shots.forEach((s, r) => {
    ids.set(prefix, r * width);
    ids.set(s, r * width + prefix.length);
  });
  const hidden = tidy(() => {
    let x = model.embed(fromArray(ids, [shots.length, width], 'int32'));
    for (let i = 0; i < layer; i++) x = model.block(i, x);
    return x;
  });
  const values = hidden.dataSync();
  const dim = hidden.shape[2];
  hidden.dispose();
  return shots.map((s, r) => ({
    values: Float32Array.from(values.subarray((r * width + prefix.length) * dim, (r * width + prefix.length + s.length) * dim)),
    tokens: s.length,
    dim,
  }));
}
