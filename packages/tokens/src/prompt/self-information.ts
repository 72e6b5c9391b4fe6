import { PruneError } from '@prune/core';
import {
  type CompressedPrompt,
  type PromptBudget,
  type PromptSelection,
  type ProtectedSpan,
  type StructuredPrompt,
  applyPromptSelection,
  budgetTokens,
  checkProtectedFits,
  checkStructuredPrompt,
  countFlags,
  demonstrationTokenCount,
  keepAllSelection,
  protectedMask,
  selectionFromMasks,
} from './prompt.js';
import type { TokenLossFn } from './token-losses.js';

/** Options of {@link selectSelfInformation} (LLMLingua-style compression). */
export interface SelfInformationOptions extends PromptBudget {
  /**
   * Demonstration tokens per segment of the iterative token-level pass. Each segment's
   * losses are computed conditioned on the already compressed prefix.
   * @defaultValue 32
   */
  segmentSize?: number;
  /**
   * Run the demonstration-level budget controller first (keep whole demonstrations, highest
   * perplexity first).
   * @defaultValue true
   */
  demonstrationFilter?: boolean;
  /**
   * The controller keeps demonstrations until they hold at least `demonstrationSlack ×` the
   * token budget, leaving the token-level pass room to choose (LLMLingua adds 100 tokens to
   * a budget of a few hundred).
   * @defaultValue 1.5
   */
  demonstrationSlack?: number;
  /**
   * Put the question before the demonstrations when computing losses (LongLLMLingua's
   * question-aware perplexity); the assembled prompt keeps the question at the end.
   * @defaultValue false
   */
  conditionOnQuestion?: boolean;
  /**
   * Spans always kept; they count towards the budget and their demonstrations are never
   * dropped by the controller.
   * @defaultValue none
   */
  protectedSpans?: readonly ProtectedSpan[];
}

/** A self-information selection with the losses it was based on. */
export interface SelfInformationSelection extends PromptSelection {
  /**
   * Perplexity of each demonstration (exp of its mean token loss) used by the controller;
   * empty when the controller did not run.
   */
  readonly demonstrationPerplexity: Float64Array;
  /** Demonstrations the controller kept (all when it did not run). */
  readonly keptDemonstrations: readonly number[];
  /**
   * Each demonstration token's loss when the token-level pass judged it, conditioned on the
   * compressed prefix; `NaN` for tokens of dropped demonstrations or not judged (a no-op).
   */
  readonly tokenLosses: readonly Float64Array[];
}

function conditioningPrefix(prompt: StructuredPrompt, conditionOnQuestion: boolean): number[] {
  const sep = prompt.separator ?? [];
  const prefix: number[] = [];
  if (conditionOnQuestion && prompt.question?.length) prefix.push(...prompt.question, ...sep);
  if (prompt.instruction?.length) prefix.push(...prompt.instruction, ...sep);
  return prefix;
}

/**
 * Perplexity of each demonstration under the LM (exp of the mean loss of its tokens),
 * conditioned on the question when `conditionOnQuestion` is set. A demonstration's first
 * token has no left context without the question and is then not counted.
 * @param prompt - the prompt
 * @param losses - the LM's token losses
 * @param conditionOnQuestion - prefix the question (and separator)
 * @returns one perplexity per demonstration (`NaN` for a demonstration with no scored token)
 */
export function demonstrationPerplexities(prompt: StructuredPrompt, losses: TokenLossFn, conditionOnQuestion = false): Float64Array {
  const prefix = conditioningPrefix(prompt, conditionOnQuestion);
  return Float64Array.from(prompt.demonstrations, (d) => {
    const l = losses([...prefix, ...d]);
    let sum = 0;
    let count = 0;
    for (let p = prefix.length; p < l.length; p++) {
      if (Number.isFinite(l[p])) {
        sum += l[p];
        count++;
      }
    }
    return count > 0 ? Math.exp(sum / count) : Number.NaN;
  });
}

/**
 * LLMLingua's demonstration-level budget controller: keeps whole demonstrations in order of
 * decreasing perplexity (the most informative first) until they hold at least `minTokens`
 * tokens. Forced demonstrations are kept first. Returns kept indices in prompt order.
 * @param lengths - tokens per demonstration
 * @param perplexities - perplexity per demonstration (`NaN` ranks last)
 * @param minTokens - stop once the kept demonstrations hold this many tokens
 * @param forced - demonstrations that must stay
 */
export function controlDemonstrationBudget(lengths: readonly number[], perplexities: ArrayLike<number>, minTokens: number, forced: ReadonlySet<number> = new Set()): number[] {
  const kept = new Set<number>(forced);
  let tokens = 0;
  for (const i of kept) tokens += lengths[i];
  const order = lengths
    .map((_, i) => i)
    .filter((i) => !kept.has(i))
    .sort((a, b) => rank(perplexities[b]) - rank(perplexities[a]) || a - b);
  for (const i of order) {
    if (tokens >= minTokens) break;
    kept.add(i);
    tokens += lengths[i];
  }
  return [...kept].sort((a, b) => a - b);
}

function rank(ppl: number): number {
  return Number.isNaN(ppl) ? -Infinity : ppl;
}

interface RegionItem {
  /** Demonstration index, or −1 for a separator token. */
  demo: number;
  /** Token index in its demonstration. */
  index: number;
  token: number;
  protected: boolean;
}

/**
 * Self-information (LLMLingua-style) prompt compression — the **score** and **select**
 * steps. After the optional demonstration-level controller, the kept demonstrations are
 * walked in segments of `segmentSize` tokens; each segment's token losses are computed by
 * the LM conditioned on the prefix compressed so far, and the segment keeps its
 * highest-loss (most informative) tokens. Segment quotas follow the cumulative budget, so
 * the total kept is exactly the requested number of demonstration tokens — also for prompts
 * shorter than one segment. When the budget covers every token the prompt is returned
 * unchanged without running the LM.
 * @param prompt - the prompt to compress
 * @param losses - token losses of the frozen LM
 * @param options - budget and options
 * @throws `OUT_OF_RANGE` for a bad budget, segment size or slack, or protected spans larger than the budget
 */
export function selectSelfInformation(prompt: StructuredPrompt, losses: TokenLossFn, options: SelfInformationOptions = {}): SelfInformationSelection {
  checkStructuredPrompt(prompt);
  const segmentSize = options.segmentSize ?? 32;
  const slack = options.demonstrationSlack ?? 1.5;
  if (!Number.isInteger(segmentSize) || segmentSize < 1) throw new PruneError('OUT_OF_RANGE', `segmentSize must be a positive integer, got ${segmentSize}`);
  if (!(slack >= 1)) throw new PruneError('OUT_OF_RANGE', `demonstrationSlack must be ≥ 1 (a multiple of the budget), got ${slack}`);
  const total = demonstrationTokenCount(prompt);
  const target = budgetTokens(prompt, options);
  const masks = protectedMask(prompt, options.protectedSpans);
  checkProtectedFits(countFlags(masks), target);
  const m = prompt.demonstrations.length;
  const nanLosses = (): Float64Array[] => prompt.demonstrations.map((d) => new Float64Array(d.length).fill(Number.NaN));
  const all = Array.from({ length: m }, (_, i) => i);
  if (target >= total) {
    return { ...keepAllSelection(prompt), demonstrationPerplexity: new Float64Array(0), keptDemonstrations: all, tokenLosses: nanLosses() };
  }
  const conditionOnQuestion = options.conditionOnQuestion ?? false;

  // Coarse: whole demonstrations by perplexity.
  let keptDemonstrations = all;
  let demonstrationPerplexity: Float64Array = new Float64Array(0);
  if ((options.demonstrationFilter ?? true) && m > 1) {
    demonstrationPerplexity = demonstrationPerplexities(prompt, losses, conditionOnQuestion);
    const forced = new Set(all.filter((i) => masks[i].includes(1)));
    keptDemonstrations = controlDemonstrationBudget(
      prompt.demonstrations.map((d) => d.length),
      demonstrationPerplexity,
      Math.ceil(slack * target),
      forced,
    );
  }

  // Fine: segment-wise token selection conditioned on the compressed prefix.
  const sep = prompt.separator ?? [];
  const region: RegionItem[] = [];
  keptDemonstrations.forEach((i, k) => {
    if (k > 0) for (const token of sep) region.push({ demo: -1, index: -1, token, protected: true });
    prompt.demonstrations[i].forEach((token, j) => region.push({ demo: i, index: j, token, protected: masks[i][j] === 1 }));
  });
  const candidates = region.filter((r) => !r.protected).length;
  const candidateTarget = target - countFlags(masks);
  const tokenLosses = nanLosses();
  const keep = prompt.demonstrations.map((d) => new Uint8Array(d.length));
  const compressed = conditioningPrefix(prompt, conditionOnQuestion);
  let seen = 0;
  let keptSoFar = 0;
  for (let s = 0; s < region.length; s += segmentSize) {
    const segment = region.slice(s, s + segmentSize);
    const segCandidates = segment.filter((r) => !r.protected).length;
    seen += segCandidates;
    // Cumulative rounding makes the quotas sum to exactly the candidate budget.
    const quota = Math.round((candidateTarget * seen) / Math.max(1, candidates)) - keptSoFar;
    const scored = losses([...compressed, ...segment.map((r) => r.token)]);
    const offset = compressed.length;
    // A token with no left context has no loss estimate; it ranks first (kept when any is).
    const lossAt = (k: number): number => (Number.isNaN(scored[offset + k]) ? Infinity : scored[offset + k]);
    const order = segment
      .map((_, k) => k)
      .filter((k) => !segment[k].protected)
      .sort((a, b) => lossAt(b) - lossAt(a) || a - b);
    const chosen = new Set(order.slice(0, quota));
    segment.forEach((r, k) => {
      if (r.demo >= 0) tokenLosses[r.demo][r.index] = scored[offset + k];
      if (r.protected || chosen.has(k)) {
        compressed.push(r.token);
        if (r.demo >= 0) keep[r.demo][r.index] = 1;
      }
    });
    keptSoFar += chosen.size;
  }
  return { ...selectionFromMasks(keep), demonstrationPerplexity, keptDemonstrations, tokenLosses };
}

/**
 * Self-information prompt compression end to end: {@link selectSelfInformation} then
 * {@link applyPromptSelection}.
 * @param prompt - the prompt to compress
 * @param losses - token losses of the frozen LM
 * @param options - budget and options
 * @returns the compressed prompt (exactly the budgeted number of demonstration tokens)
 */
export function compressSelfInformation(prompt: StructuredPrompt, losses: TokenLossFn, options: SelfInformationOptions = {}): CompressedPrompt {
  return applyPromptSelection(prompt, selectSelfInformation(prompt, losses, options));
}
