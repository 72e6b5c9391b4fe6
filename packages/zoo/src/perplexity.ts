import { PruneError, type Tensor, fromArray, tidy } from '@prune/core';

/** The fixed evaluation protocol: identical for every method compared. */
export interface PerplexityProtocol {
  /** Tokens per window (the model's context unless set). */
  window: number;
  /** Start-to-start distance of windows; equal to `window` means non-overlapping. */
  stride: number;
  /** At most this many windows per text (from the start of the text). */
  maxWindows: number;
  /**
   * Windows per forward pass (does not change the result).
   * @defaultValue 8
   */
  batch?: number;
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
  const starts: number[] = [];
  for (let start = 0; start + window <= tokens.length && starts.length < maxWindows; start += stride) starts.push(start);
  const batch = Math.max(1, Math.min(protocol.batch ?? 8, starts.length));
  let nll = 0;
  let count = 0;
  for (let b0 = 0; b0 < starts.length; b0 += batch) {
    const group = starts.slice(b0, b0 + batch);
    const ids = new Int32Array(group.length * window);
    group.forEach((start, r) => ids.set(tokens.slice(start, start + window), r * window));
    const logits = tidy(() => model.forward(fromArray(ids, [group.length, window], 'int32')));
    const values = logits.dataSync();
    logits.dispose();
    const vocab = values.length / (group.length * window);
    group.forEach((start, r) => {
      // Positions already predicted by the previous (overlapping) window are not scored again.
      const first = start === 0 ? 1 : Math.max(1, window - stride);
      for (let p = first; p < window; p++) {
        // logits at p-1 predict token p.
        const row = (r * window + p - 1) * vocab;
        let max = -Infinity;
        for (let v = 0; v < vocab; v++) max = Math.max(max, values[row + v]);
        let sum = 0;
        for (let v = 0; v < vocab; v++) sum += Math.exp(values[row + v] - max);
        nll += max + Math.log(sum) - values[row + ids[r * window + p]];
        count++;
      }
    });
  }
  const mean = nll / count;
  return { perplexity: Math.exp(mean), nll: mean, tokens: count, windows: starts.length };
}
