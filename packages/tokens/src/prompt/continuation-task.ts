import { PruneError, Random } from '@prune/core';
import type { StructuredPrompt } from './prompt.js';

/**
 * One instance of the passage-continuation task: the model must continue a passage (the
 * question) given demonstrations — passages retrieved from elsewhere in the same text and
 * the passages that precede the question — and is scored on the true continuation (the
 * answer). Quality is the frozen LM's loss on the answer.
 */
export interface ContinuationInstance {
  /** Token position of the question in the source text. */
  readonly position: number;
  /** The passage to continue. */
  readonly question: number[];
  /** Its true continuation. */
  readonly answer: number[];
  /**
   * The demonstrations in prompt order: the retrieved passages (least similar first), then
   * the passages immediately preceding the question, in text order — so the last ones and
   * the question form contiguous text.
   */
  readonly demonstrations: number[][];
  /** Number of leading demonstrations that were retrieved (the rest are preceding context). */
  readonly retrieved: number;
  /** Retrieval score of each retrieved demonstration (same order). */
  readonly scores: number[];
}

/** Options of {@link buildContinuationTask}. */
export interface ContinuationTaskOptions {
  /** Number of instances. */
  instances: number;
  /**
   * Tokens of the passage to continue.
   * @defaultValue 16
   */
  questionTokens?: number;
  /**
   * Tokens of the answer.
   * @defaultValue 12
   */
  answerTokens?: number;
  /**
   * Tokens per candidate passage (the text is cut into consecutive passages of this size).
   * @defaultValue 20
   */
  passageTokens?: number;
  /**
   * Passages retrieved by n-gram overlap per instance.
   * @defaultValue 2
   */
  retrievedPassages?: number;
  /**
   * Passages immediately preceding the question included as demonstrations (its context).
   * @defaultValue 3
   */
  contextPassages?: number;
  /**
   * Passages within this many tokens of the question or answer are not retrievable, so a
   * demonstration is never the surrounding text itself.
   * @defaultValue 256
   */
  exclusionRadius?: number;
  /**
   * Seed of the question positions.
   * @defaultValue 0
   */
  seed?: number;
}

function ngramKeys(ids: readonly number[], n: number): Set<string> {
  const keys = new Set<string>();
  for (let i = 0; i + n <= ids.length; i++) keys.add(ids.slice(i, i + n).join(','));
  return keys;
}

/**
 * Retrieval score of a passage for a query: the number of distinct token bigrams they share
 * plus twice the number of distinct trigrams (longer matches weigh more).
 */
export function ngramOverlap(query: readonly number[], passage: readonly number[]): number {
  let score = 0;
  for (const [n, weight] of [
    [2, 1],
    [3, 2],
  ] as const) {
    const q = ngramKeys(query, n);
    for (const k of ngramKeys(passage, n)) if (q.has(k)) score += weight;
  }
  return score;
}

/**
 * Builds the passage-continuation task from one tokenized text. The text is cut into
 * consecutive passages of `passageTokens`; each instance takes a question of
 * `questionTokens` at a seeded random passage boundary and the next `answerTokens` as the
 * answer. Its demonstrations are the `retrievedPassages` passages with the highest
 * {@link ngramOverlap} with the question (ties to the earlier passage; passages within
 * `exclusionRadius` tokens of the question are not retrievable), followed by the
 * `contextPassages` passages that precede the question.
 * @param tokens - the tokenized source text
 * @param options - sizes, count and seed
 * @throws `OUT_OF_RANGE` when the text is too short for the requested sizes
 */
export function buildContinuationTask(tokens: readonly number[], options: ContinuationTaskOptions): ContinuationInstance[] {
  const q = options.questionTokens ?? 16;
  const a = options.answerTokens ?? 12;
  const p = options.passageTokens ?? 20;
  const k = options.retrievedPassages ?? 2;
  const c = options.contextPassages ?? 3;
  const radius = options.exclusionRadius ?? 256;
  const { instances } = options;
  for (const [name, v] of Object.entries({ instances, questionTokens: q, answerTokens: a, passageTokens: p })) {
    if (!Number.isInteger(v) || v < 1) throw new PruneError('OUT_OF_RANGE', `${name} must be a positive integer, got ${v}`);
  }
  for (const [name, v] of Object.entries({ retrievedPassages: k, contextPassages: c, exclusionRadius: radius })) {
    if (!Number.isInteger(v) || v < 0) throw new PruneError('OUT_OF_RANGE', `${name} must be an integer ≥ 0, got ${v}`);
  }
  const passages = Math.floor(tokens.length / p);
  // Questions start at a passage boundary after the context passages.
  const firstStart = c;
  const lastStart = Math.floor((tokens.length - q - a) / p);
  const excluded = Math.ceil((c * p + q + a + 2 * radius) / p) + 2;
  if (lastStart < firstStart || passages - excluded < k) {
    throw new PruneError('OUT_OF_RANGE', `a text of ${tokens.length} tokens is too short for ${c} context and ${k} retrieved passages of ${p} tokens outside a ±${radius}-token exclusion zone; use a longer text or smaller sizes`);
  }
  const rng = new Random(options.seed ?? 0);
  const result: ContinuationInstance[] = [];
  for (let n = 0; n < instances; n++) {
    const position = (firstStart + rng.int(lastStart - firstStart + 1)) * p;
    const question = tokens.slice(position, position + q);
    const answer = tokens.slice(position + q, position + q + a);
    const lo = position - c * p - radius;
    const hi = position + q + a + radius;
    const ranked: { index: number; score: number }[] = [];
    for (let j = 0; j < passages; j++) {
      const start = j * p;
      if (start + p > lo && start < hi) continue;
      ranked.push({ index: j, score: ngramOverlap(question, tokens.slice(start, start + p)) });
    }
    ranked.sort((x, y) => y.score - x.score || x.index - y.index);
    const top = ranked.slice(0, k).reverse();
    const context = Array.from({ length: c }, (_, i) => tokens.slice(position - (c - i) * p, position - (c - i - 1) * p));
    result.push({
      position,
      question,
      answer,
      demonstrations: [...top.map((r) => tokens.slice(r.index * p, r.index * p + p)), ...context],
      retrieved: top.length,
      scores: top.map((r) => r.score),
    });
  }
  return result;
}

/** The instance as a {@link StructuredPrompt} (demonstrations, then the question). */
export function continuationPrompt(instance: ContinuationInstance, separator: readonly number[] = []): StructuredPrompt {
  return { demonstrations: instance.demonstrations, question: instance.question, separator };
}
