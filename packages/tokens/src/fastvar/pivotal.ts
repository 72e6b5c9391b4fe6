import { PruneError, type Tensor } from '@prune/core';
import { readTokens } from './token-map.js';

/**
 * FastVAR's pivotal-token score: the squared distance of each token from the mean token of
 * its map, `‖xᵢ − μ‖²` with `μ` the average over the map (a token far from the
 * low-frequency component carries detail the scale still has to model).
 *
 * @param x - `[batch, tokens, channels]` or `[tokens, channels]` float32: a scale's token map
 * @returns `batch·tokens` scores, accumulated in float64
 */
export function pivotalScores(x: Tensor): Float64Array {
  const { data, batch, tokens, channels } = readTokens('pivotalScores', 'x', x);
  const scores = new Float64Array(batch * tokens);
  const mean = new Float64Array(channels);
  for (let b = 0; b < batch; b++) {
    mean.fill(0);
    const base = b * tokens * channels;
    for (let t = 0; t < tokens; t++) for (let k = 0; k < channels; k++) mean[k] += data[base + t * channels + k];
    for (let k = 0; k < channels; k++) mean[k] /= tokens;
    for (let t = 0; t < tokens; t++) {
      let s = 0;
      for (let k = 0; k < channels; k++) {
        const d = data[base + t * channels + k] - mean[k];
        s += d * d;
      }
      if (Number.isNaN(s)) {
        throw new PruneError('NON_FINITE', `pivotalScores: token ${t} of sample ${b} has a NaN value; check the model's activations`);
      }
      scores[b * tokens + t] = s;
    }
  }
  return scores;
}

/**
 * Tokens FastVAR keeps at a pruning ratio: `L − floor(r·L)` (the reference's
 * `x.shape[1] − int(L·ratio)`).
 * @param tokens - tokens in the map, L
 * @param ratio - fraction pruned, in [0, 1)
 * @returns how many tokens are forwarded
 */
export function pivotalKeepCount(tokens: number, ratio: number): number {
  if (!Number.isInteger(tokens) || tokens < 1) {
    throw new PruneError('INVALID_ARGUMENT', `pivotalKeepCount: token count ${tokens} must be a positive integer`);
  }
  if (!(ratio >= 0 && ratio < 1)) {
    throw new PruneError('OUT_OF_RANGE', `pivotalKeepCount: pruning ratio ${ratio} is outside [0, 1); pass the fraction of tokens to drop, e.g. 0.4`);
  }
  return tokens - Math.floor(ratio * tokens);
}

/**
 * The pivotal tokens of each sample: the `L − floor(r·L)` highest {@link pivotalScores},
 * ties to the lower position, returned in ascending position order.
 *
 * @param x - `[batch, tokens, channels]` or `[tokens, channels]` float32
 * @param ratio - fraction of tokens pruned, in [0, 1)
 * @returns `batch × kept` positions (row-major per sample)
 */
export function pivotalTokens(x: Tensor, ratio: number): Int32Array {
  const scores = pivotalScores(x);
  const tokens = x.shape[x.rank - 2];
  const batch = scores.length / tokens;
  const kept = pivotalKeepCount(tokens, ratio);
  const out = new Int32Array(batch * kept);
  const order = new Int32Array(tokens);
  for (let b = 0; b < batch; b++) {
    const s = scores.subarray(b * tokens, (b + 1) * tokens);
    for (let t = 0; t < tokens; t++) order[t] = t;
    order.sort((i, j) => s[j] - s[i] || i - j);
    const row = out.subarray(b * kept, (b + 1) * kept);
    row.set(order.subarray(0, kept));
    row.sort();
  }
  return out;
}
