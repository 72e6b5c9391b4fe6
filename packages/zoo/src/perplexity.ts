import { PruneError, type Tensor, fromArray, tidy } from '@prune/core';

/** The fixed evaluation protocol: identical for every method compared. */
export interface PerplexityProtocol {
  /** Tokens per window (the model's context unless set). */
  window: number;
  /** Start-to-start distance of windows; equal to `window` means non-overlapping. */
  stride: number;
  /** At most this many windows per text (from the start of the text). */
  maxWindows: number;
}

/** Something that maps int32 token ids `[batch, seq]` to logits `[batch, seq, vocab]`. */
export interface LanguageModel {
  /** Logits for `ids`. */
  forward(ids: Tensor): Tensor;
}

/** Perplexity of one text. */
export interface PerplexityResult {
  /** exp(mean negative log-likelihood). */
  perplexity: number;
  /** Mean negative log-likelihood in nats per token. */
  nll: number;
  /** Tokens scored. */
  tokens: number;
  /** Windows evaluated. */
  windows: number;
}

/**
 * Perplexity of `model` on `tokens` under `protocol`. Each window of `window` tokens scores
 * its last `window − 1` positions when non-overlapping; with a smaller stride, only the
 * positions not scored by the previous window count (the usual sliding-window protocol).
 * Log-softmax runs on the host in float64, so every backend is scored identically.
 */
export function perplexity(model: LanguageModel, tokens: readonly number[], protocol: PerplexityProtocol): PerplexityResult {
  const { window, stride, maxWindows } = protocol;
  if (!Number.isInteger(window) || window < 2) throw new PruneError('OUT_OF_RANGE', `window must be an integer ≥ 2, got ${window}`);
  if (!Number.isInteger(stride) || stride < 1 || stride > window) throw new PruneError('OUT_OF_RANGE', `stride must be in 1..window, got ${stride}`);
  if (tokens.length < window) throw new PruneError('OUT_OF_RANGE', `the text has ${tokens.length} tokens, fewer than one window of ${window}`);
  let nll = 0;
  let count = 0;
  let windows = 0;
  let scoredUpTo = 0; // positions < scoredUpTo already have a prediction
  for (let start = 0; start + window <= tokens.length && windows < maxWindows; start += stride) {
    const ids = tokens.slice(start, start + window);
    const logits = tidy(() => model.forward(fromArray(Int32Array.from(ids), [1, window], 'int32')));
    const values = logits.dataSync();
    logits.dispose();
    const vocab = values.length / window;
    const first = Math.max(1, scoredUpTo - start);
    for (let p = first; p < window; p++) {
      // logits at p-1 predict token p.
      const row = (p - 1) * vocab;
      let max = -Infinity;
      for (let v = 0; v < vocab; v++) max = Math.max(max, values[row + v]);
      let sum = 0;
      for (let v = 0; v < vocab; v++) sum += Math.exp(values[row + v] - max);
      nll += max + Math.log(sum) - values[row + ids[p]];
      count++;
    }
    scoredUpTo = start + window;
    windows++;
  }
  const mean = nll / count;
  return { perplexity: Math.exp(mean), nll: mean, tokens: count, windows };
}
