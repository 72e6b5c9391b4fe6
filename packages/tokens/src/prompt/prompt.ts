import { PruneError, Random } from '@prune/core';

/**
 * A few-shot prompt as token ids, split into the parts prompt pruners treat differently.
 * The assembled prompt is `instruction, separator, demonstration₁, separator, …,
 * demonstrationₘ, separator, question` (empty parts and their separators are left out).
 * Only demonstration tokens are pruned; the instruction, the question and the separators are
 * kept whole, as LLMLingua and CoT-Max keep the question.
 */
export interface StructuredPrompt {
  /**
   * Leading instruction, kept whole.
   * @defaultValue none
   */
  readonly instruction?: readonly number[];
  /** The demonstrations (shots, retrieved examples): the tokens a pruner may drop. */
  readonly demonstrations: readonly (readonly number[])[];
  /**
   * The question (the query the answer follows), kept whole.
   * @defaultValue none
   */
  readonly question?: readonly number[];
  /**
   * Tokens placed between parts (e.g. the ids of `"\n\n"`); never pruned.
   * @defaultValue none
   */
  readonly separator?: readonly number[];
}

/** A token range `[start, end)` of one demonstration that every pruner must keep. */
export interface ProtectedSpan {
  /** Index of the demonstration. */
  readonly demonstration: number;
  /** First protected token. */
  readonly start: number;
  /** One past the last protected token. */
  readonly end: number;
}

/**
 * How many demonstration tokens to keep. Give `ratio` (a fraction of the demonstration
 * tokens, rounded to the nearest token) or `targetTokens` (a count); with both,
 * `targetTokens` wins.
 */
export interface PromptBudget {
  /**
   * Fraction of the demonstration tokens to keep, in [0, 1].
   * @defaultValue 0.5 when `targetTokens` is not given
   */
  ratio?: number;
  /**
   * Number of demonstration tokens to keep (an integer ≥ 0).
   * @defaultValue `round(ratio × demonstration tokens)`
   */
  targetTokens?: number;
}

/**
 * Which tokens of each demonstration survive: one sorted array of kept token indices per
 * demonstration (empty when the whole demonstration is dropped).
 */
export interface PromptSelection {
  /** Kept token indices of demonstration i, ascending. */
  readonly demonstrations: readonly Int32Array[];
}

/** A pruned prompt: the selection applied. */
export interface CompressedPrompt {
  /** The assembled pruned prompt (instruction, kept demonstration tokens, question). */
  readonly ids: number[];
  /** The kept tokens of each demonstration (empty when dropped). */
  readonly demonstrations: number[][];
  /** The selection that produced it. */
  readonly selection: PromptSelection;
  /** Demonstration tokens before pruning. */
  readonly originalTokens: number;
  /** Demonstration tokens kept. */
  readonly keptTokens: number;
}

/**
 * Checks a {@link StructuredPrompt}: every part holds non-negative integer ids.
 * @throws `INVALID_ARGUMENT` when a part is not an array of integer token ids
 */
export function checkStructuredPrompt(prompt: StructuredPrompt): void {
  if (prompt === null || typeof prompt !== 'object' || !Array.isArray(prompt.demonstrations)) {
    throw new PruneError('INVALID_ARGUMENT', 'a prompt needs `demonstrations`: an array of token-id arrays (pass [] when there are none)');
  }
  const check = (ids: readonly number[] | undefined, what: string): void => {
    if (ids === undefined) return;
    if (!Array.isArray(ids)) throw new PruneError('INVALID_ARGUMENT', `${what} must be an array of token ids`);
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0) throw new PruneError('INVALID_ARGUMENT', `${what} holds ${id}, which is not a token id (non-negative integer)`);
    }
  };
  check(prompt.instruction, 'the instruction');
  check(prompt.question, 'the question');
  check(prompt.separator, 'the separator');
  prompt.demonstrations.forEach((d, i) => check(d, `demonstration ${i}`));
}

/** Number of demonstration tokens of `prompt` (the tokens a budget counts). */
export function demonstrationTokenCount(prompt: StructuredPrompt): number {
  return prompt.demonstrations.reduce((n, d) => n + d.length, 0);
}

/**
 * The number of demonstration tokens a budget asks to keep, clamped to the tokens there are.
 * @param prompt - the prompt
 * @param budget - ratio or token count
 * @returns the demonstration tokens to keep
 * @throws `OUT_OF_RANGE` for a ratio outside [0, 1] or a negative / fractional token count
 */
export function budgetTokens(prompt: StructuredPrompt, budget: PromptBudget): number {
  return budgetFromTotal(demonstrationTokenCount(prompt), budget);
}

/**
 * The number of tokens a budget asks to keep out of `total`, clamped to `total`.
 * @throws `OUT_OF_RANGE` for a ratio outside [0, 1] or a negative / fractional token count
 */
export function budgetFromTotal(total: number, budget: PromptBudget): number {
  if (budget.targetTokens !== undefined) {
    if (!Number.isInteger(budget.targetTokens) || budget.targetTokens < 0) {
      throw new PruneError('OUT_OF_RANGE', `targetTokens must be an integer ≥ 0, got ${budget.targetTokens}`);
    }
    return Math.min(total, budget.targetTokens);
  }
  const ratio = budget.ratio ?? 0.5;
  if (!(ratio >= 0 && ratio <= 1)) throw new PruneError('OUT_OF_RANGE', `ratio is the fraction of demonstration tokens to keep and must be in [0, 1], got ${ratio}`);
  return Math.round(ratio * total);
}

/**
 * Per-demonstration flags of protected tokens, validated against the prompt.
 * @throws `OUT_OF_RANGE` when a span lies outside its demonstration
 */
export function protectedMask(prompt: StructuredPrompt, spans: readonly ProtectedSpan[] = []): Uint8Array[] {
  const masks = prompt.demonstrations.map((d) => new Uint8Array(d.length));
  for (const s of spans) {
    const d = prompt.demonstrations[s.demonstration];
    if (!Number.isInteger(s.demonstration) || d === undefined) {
      throw new PruneError('OUT_OF_RANGE', `protected span names demonstration ${s.demonstration}, but the prompt has ${prompt.demonstrations.length}`);
    }
    if (!Number.isInteger(s.start) || !Number.isInteger(s.end) || s.start < 0 || s.end > d.length || s.start > s.end) {
      throw new PruneError('OUT_OF_RANGE', `protected span [${s.start}, ${s.end}) does not fit demonstration ${s.demonstration} of ${d.length} tokens`);
    }
    masks[s.demonstration].fill(1, s.start, s.end);
  }
  return masks;
}

/** Counts the set flags of `masks`. */
export function countFlags(masks: readonly Uint8Array[]): number {
  let n = 0;
  for (const m of masks) for (const v of m) n += v;
  return n;
}

/** The selection that keeps every demonstration token (the no-op). */
export function keepAllSelection(prompt: StructuredPrompt): PromptSelection {
  return { demonstrations: prompt.demonstrations.map((d) => Int32Array.from(d.keys())) };
}

/**
 * Assembles the prompt ids: instruction, kept demonstration tokens and question, with the
 * separator between non-empty parts. Without a selection, every token is kept.
 */
export function assemblePrompt(prompt: StructuredPrompt, selection?: PromptSelection): number[] {
  const parts: (readonly number[])[] = [];
  if (prompt.instruction?.length) parts.push(prompt.instruction);
  prompt.demonstrations.forEach((d, i) => {
    const kept = selection ? Array.from(selection.demonstrations[i], (j) => d[j]) : d;
    if (kept.length > 0) parts.push(kept);
  });
  if (prompt.question?.length) parts.push(prompt.question);
  const sep = prompt.separator ?? [];
  const ids: number[] = [];
  parts.forEach((p, i) => {
    if (i > 0) ids.push(...sep);
    ids.push(...p);
  });
  return ids;
}

/**
 * Applies a selection (the **apply** step of every prompt pruner).
 * @throws `SHAPE_MISMATCH` when the selection does not match the prompt's demonstrations
 */
export function applyPromptSelection(prompt: StructuredPrompt, selection: PromptSelection): CompressedPrompt {
  if (selection.demonstrations.length !== prompt.demonstrations.length) {
    throw new PruneError('SHAPE_MISMATCH', `the selection covers ${selection.demonstrations.length} demonstrations but the prompt has ${prompt.demonstrations.length}`);
  }
  selection.demonstrations.forEach((kept, i) => {
    const n = prompt.demonstrations[i].length;
    for (let k = 0; k < kept.length; k++) {
      if (!(kept[k] >= 0 && kept[k] < n) || (k > 0 && kept[k] <= kept[k - 1])) {
        throw new PruneError('SHAPE_MISMATCH', `selection of demonstration ${i} must hold ascending indices in 0..${n - 1}`);
      }
    }
  });
  const demonstrations = prompt.demonstrations.map((d, i) => Array.from(selection.demonstrations[i], (j) => d[j]));
  return {
    ids: assemblePrompt(prompt, selection),
    demonstrations,
    selection,
    originalTokens: demonstrationTokenCount(prompt),
    keptTokens: demonstrations.reduce((n, d) => n + d.length, 0),
  };
}

/** Options of {@link selectRandomTokens}. */
export interface RandomPromptOptions extends PromptBudget {
  /**
   * Seed of the draw.
   * @defaultValue 0
   */
  seed?: number;
  /**
   * Spans always kept (they count towards the budget).
   * @defaultValue none
   */
  protectedSpans?: readonly ProtectedSpan[];
}

/**
 * Random baseline: keeps a uniformly drawn set of exactly the budgeted number of
 * demonstration tokens (protected tokens first), in their original order.
 * @throws `OUT_OF_RANGE` when the protected tokens alone exceed the budget
 */
export function selectRandomTokens(prompt: StructuredPrompt, options: RandomPromptOptions = {}): PromptSelection {
  checkStructuredPrompt(prompt);
  const target = budgetTokens(prompt, options);
  const masks = protectedMask(prompt, options.protectedSpans);
  const forced = countFlags(masks);
  checkProtectedFits(forced, target);
  const free: [number, number][] = [];
  masks.forEach((m, i) => m.forEach((v, j) => v === 0 && free.push([i, j])));
  const rng = new Random(options.seed ?? 0);
  for (const k of rng.sample(free.length, target - forced)) masks[free[k][0]][free[k][1]] = 1;
  return selectionFromMasks(masks);
}

/** Throws when protected tokens do not fit the budget. */
export function checkProtectedFits(protectedTokens: number, target: number): void {
  if (protectedTokens > target) {
    throw new PruneError('OUT_OF_RANGE', `the protected spans hold ${protectedTokens} tokens, more than the budget of ${target}; raise the budget or protect less`);
  }
}

/** Converts per-demonstration keep flags into a {@link PromptSelection}. */
export function selectionFromMasks(masks: readonly Uint8Array[]): PromptSelection {
  return {
    demonstrations: masks.map((m) => {
      const kept: number[] = [];
      m.forEach((v, j) => v && kept.push(j));
      return Int32Array.from(kept);
    }),
  };
}
