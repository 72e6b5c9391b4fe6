import { PruneError, type Tensor, fromArray, tidy } from '@prune/core';

/**
 * Per-token losses of a token sequence under a language model: `losses[i] = −log p(ids[i] |
 * ids[<i])` in nats (the token's self-information). Position 0 has no left context and is
 * `NaN`. Prompt pruners take this function, so any model (or a hand-written fake) can score.
 */
export type TokenLossFn = (ids: readonly number[]) => Float64Array;

/** A causal language model: int32 ids `[batch, seq]` → next-token logits `[batch, seq, vocab]`. */
export interface CausalLanguageModel {
  /** Logits for `ids`. */
  forward(ids: Tensor): Tensor;
}

/** Options of {@link languageModelTokenLosses} and {@link answerLosses}. */
export interface LanguageModelScoringOptions {
  /** The model's context length (its `max_position_embeddings`). */
  context: number;
  /**
   * Sequences per forward pass in {@link answerLosses} (does not change the result).
   * @defaultValue 8
   */
  batch?: number;
}

function checkContext(context: number): void {
  if (!Number.isInteger(context) || context < 2) throw new PruneError('OUT_OF_RANGE', `context must be an integer ≥ 2 (the model's max_position_embeddings), got ${context}`);
}

function checkIds(ids: readonly number[], what: string): void {
  for (const id of ids) {
    if (!Number.isInteger(id) || id < 0) throw new PruneError('INVALID_ARGUMENT', `${what} holds ${id}, which is not a token id`);
  }
}

/** −log softmax(row)[target] in float64. */
function rowLoss(values: ArrayLike<number>, offset: number, vocab: number, target: number): number {
  let max = -Infinity;
  for (let v = 0; v < vocab; v++) max = Math.max(max, values[offset + v]);
  let sum = 0;
  for (let v = 0; v < vocab; v++) sum += Math.exp(values[offset + v] - max);
  return max + Math.log(sum) - values[offset + target];
}

function argmaxRow(values: ArrayLike<number>, offset: number, vocab: number): number {
  let best = 0;
  for (let v = 1; v < vocab; v++) if (values[offset + v] > values[offset + best]) best = v;
  return best;
}

/**
 * A {@link TokenLossFn} backed by a causal LM. Sequences longer than the context are scored
 * in overlapping windows advancing by half a context, so every position keeps at least half
 * a context of left tokens. Log-softmax runs on the host in float64.
 * @param model - the frozen LM
 * @param options - its context length
 */
export function languageModelTokenLosses(model: CausalLanguageModel, options: LanguageModelScoringOptions): TokenLossFn {
  const { context } = options;
  checkContext(context);
  const half = Math.max(1, Math.floor(context / 2));
  return (ids) => {
    checkIds(ids, 'the sequence');
    const n = ids.length;
    const losses = new Float64Array(n).fill(Number.NaN);
    let scored = Math.min(n, context);
    const runWindow = (start: number, from: number, to: number): void => {
      const windowIds = ids.slice(start, Math.min(n, start + context));
      const logits = tidy(() => model.forward(fromArray(Int32Array.from(windowIds), [1, windowIds.length], 'int32')));
      const values = logits.dataSync();
      logits.dispose();
      const vocab = values.length / windowIds.length;
      // Logits at position p − 1 predict token p.
      for (let p = Math.max(from, 1); p < to; p++) losses[p] = rowLoss(values, (p - 1 - start) * vocab, vocab, ids[p]);
    };
    if (n >= 2) runWindow(0, 1, scored);
    while (scored < n) {
      const end = Math.min(n, scored + half);
      runWindow(end - context, scored, end);
      scored = end;
    }
    return losses;
  };
}

/** One (prompt, answer) pair to score. */
export interface AnswerPair {
  /** Prompt ids (what the model conditions on). */
  readonly prompt: readonly number[];
  /** Answer ids (what it is scored on). */
  readonly answer: readonly number[];
}

/** Quality of the model's answer given a prompt. */
export interface AnswerScore {
  /** Mean negative log-likelihood of the answer tokens (nats per token). */
  loss: number;
  /** Fraction of answer tokens that are the model's most likely next token. */
  accuracy: number;
}

/**
 * Scores each answer given its prompt: the mean NLL of the answer tokens and the fraction the
 * model predicts exactly (greedy). Pairs are batched with right padding, which a causal model
 * never attends to. The first answer token is predicted from the last prompt token, so an
 * empty prompt scores the answer from its second token on.
 * @throws `OUT_OF_RANGE` when a prompt plus answer exceeds the context, or an answer is empty
 */
export function answerLosses(model: CausalLanguageModel, pairs: readonly AnswerPair[], options: LanguageModelScoringOptions): AnswerScore[] {
  const { context } = options;
  checkContext(context);
  const batch = options.batch ?? 8;
  if (!Number.isInteger(batch) || batch < 1) throw new PruneError('OUT_OF_RANGE', `batch must be a positive integer, got ${batch}`);
  pairs.forEach((p, i) => {
    checkIds(p.prompt, `prompt ${i}`);
    checkIds(p.answer, `answer ${i}`);
    const len = p.prompt.length + p.answer.length;
    if (p.answer.length === 0 || (p.prompt.length === 0 && p.answer.length < 2)) {
      throw new PruneError('OUT_OF_RANGE', `pair ${i} has no answer token the model can predict; give a non-empty answer (two tokens when the prompt is empty)`);
    }
    if (len > context) throw new PruneError('OUT_OF_RANGE', `pair ${i} has ${len} tokens, more than the context of ${context}; shorten the prompt (prune it) or the answer`);
  });
  const scores: AnswerScore[] = [];
  for (let b0 = 0; b0 < pairs.length; b0 += batch) {
    const group = pairs.slice(b0, b0 + batch);
    const width = Math.max(...group.map((p) => p.prompt.length + p.answer.length));
    const ids = new Int32Array(group.length * width);
    group.forEach((p, r) => {
      ids.set(p.prompt, r * width);
      ids.set(p.answer, r * width + p.prompt.length);
    });
    const logits = tidy(() => model.forward(fromArray(ids, [group.length, width], 'int32')));
    const values = logits.dataSync();
    logits.dispose();
    const vocab = values.length / (group.length * width);
    group.forEach((p, r) => {
      let nll = 0;
      let correct = 0;
      let count = 0;
      for (let a = 0; a < p.answer.length; a++) {
        const pos = p.prompt.length + a;
        if (pos === 0) continue;
        const row = (r * width + pos - 1) * vocab;
        nll += rowLoss(values, row, vocab, p.answer[a]);
        if (argmaxRow(values, row, vocab) === p.answer[a]) correct++;
        count++;
      }
      scores.push({ loss: nll / count, accuracy: correct / count });
    });
  }
  return scores;
}
