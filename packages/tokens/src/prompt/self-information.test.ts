import { Random } from '@prune/core';
import { describe, expect, it } from 'vitest';
import type { StructuredPrompt } from './prompt.js';
import { compressSelfInformation, controlDemonstrationBudget, demonstrationPerplexities, selectSelfInformation } from './self-information.js';
import type { TokenLossFn } from './token-losses.js';

/**
 * A fake LM with hand-checkable losses: a token that follows its predecessor + 1 costs 0.1
 * nats; any other token costs its own id. Position 0 has no context (NaN). Counts calls.
 */
function fakeLm(): { losses: TokenLossFn; calls: () => number; contexts: number[][] } {
  let calls = 0;
  const contexts: number[][] = [];
  const losses: TokenLossFn = (ids) => {
    calls++;
    contexts.push([...ids]);
    return Float64Array.from(ids, (id, i) => (i === 0 ? Number.NaN : id === ids[i - 1] + 1 ? 0.1 : id));
  };
  return { losses, calls: () => calls, contexts };
}

const kept = (sel: { demonstrations: readonly Int32Array[] }): number[][] => sel.demonstrations.map((d) => Array.from(d));

describe('self-information token selection', () => {
  it('keeps the highest-loss tokens of one segment (hand-checked)', () => {
    // Losses of [1, 2, 3, 7, 8]: [NaN→∞, 0.1, 0.1, 7, 0.1]; keep 3 → positions 0, 3 and the
    // earliest 0.1 (position 1).
    const { losses } = fakeLm();
    const prompt: StructuredPrompt = { demonstrations: [[1, 2, 3, 7, 8]] };
    const sel = selectSelfInformation(prompt, losses, { ratio: 0.6, segmentSize: 5 });
    expect(kept(sel)).toEqual([[0, 1, 3]]);
  });

  it('conditions each segment on the already compressed prefix (hand-checked)', () => {
    // Segments [1, 2] [3, 7] [8]; cumulative quotas round(3·2/5)=1, round(3·4/5)=2, 3 → 1, 1, 1.
    // Segment 1 keeps 1 (loss ∞). Segment 2 is scored after [1]: 3 no longer follows 2, so
    // loss(3) = 3, loss(7) = 7 → keeps 7. Segment 3 after [1, 7]: loss(8) = 0.1 → keeps 8.
    const lm = fakeLm();
    const sel = selectSelfInformation({ demonstrations: [[1, 2, 3, 7, 8]] }, lm.losses, { ratio: 0.6, segmentSize: 2 });
    expect(kept(sel)).toEqual([[0, 3, 4]]);
    expect(Array.from(sel.tokenLosses[0])).toEqual([Number.NaN, 0.1, 3, 7, 0.1]);
    expect(lm.contexts).toEqual([
      [1, 2],
      [1, 3, 7],
      [1, 7, 8],
    ]);
  });

  it('meets the requested ratio exactly for random prompts, segment sizes and budgets', () => {
    const rng = new Random(1);
    const { losses } = fakeLm();
    for (let trial = 0; trial < 300; trial++) {
      const demonstrations = Array.from({ length: 1 + rng.int(5) }, () => Array.from({ length: 1 + rng.int(30) }, () => rng.int(50)));
      const prompt: StructuredPrompt = { demonstrations, question: [7, 8], instruction: rng.uniform() < 0.5 ? [3] : undefined, separator: [0] };
      const total = demonstrations.reduce((n, d) => n + d.length, 0);
      const ratio = rng.uniform();
      const out = compressSelfInformation(prompt, losses, {
        ratio,
        segmentSize: 1 + rng.int(40),
        demonstrationFilter: rng.uniform() < 0.7,
        demonstrationSlack: 1 + rng.uniform(),
      });
      expect(out.keptTokens).toBe(Math.round(ratio * total));
      expect(out.originalTokens).toBe(total);
      // The question is never pruned and ends the prompt.
      expect(out.ids.slice(-2)).toEqual([7, 8]);
    }
  });

  it('compresses a prompt shorter than one segment (no silent no-op)', () => {
    const { losses } = fakeLm();
    const out = compressSelfInformation({ demonstrations: [[4, 9, 2, 6, 1, 8, 3, 5, 7, 0]] }, losses, { ratio: 0.5, segmentSize: 200 });
    expect(out.keptTokens).toBe(5);
    // Losses [∞, 9, 2, 6, 1, 8, 3, 5, 7, 0] → keep positions 0, 1, 5, 8, 3.
    expect(out.demonstrations[0]).toEqual([4, 9, 6, 8, 7]);
  });

  it('returns the prompt unchanged without calling the LM when the budget covers it', () => {
    const lm = fakeLm();
    const prompt: StructuredPrompt = { demonstrations: [[1, 5], [9]], question: [2], separator: [0] };
    for (const budget of [{ ratio: 1 }, { targetTokens: 3 }, { targetTokens: 50 }]) {
      const out = compressSelfInformation(prompt, lm.losses, budget);
      expect(out.ids).toEqual([1, 5, 0, 9, 0, 2]);
      expect(out.keptTokens).toBe(3);
    }
    expect(lm.calls()).toBe(0);
  });

  it('keeps protected spans and counts them towards the budget', () => {
    const { losses } = fakeLm();
    const prompt: StructuredPrompt = { demonstrations: [[1, 2, 3, 4, 5, 6], [10, 11, 12, 13]] };
    const sel = selectSelfInformation(prompt, losses, { targetTokens: 4, protectedSpans: [{ demonstration: 0, start: 2, end: 5 }], demonstrationFilter: false });
    const all = kept(sel);
    expect(all[0]).toEqual(expect.arrayContaining([2, 3, 4]));
    expect(all.flat().length).toBe(4);
    expect(() => selectSelfInformation(prompt, losses, { targetTokens: 2, protectedSpans: [{ demonstration: 0, start: 0, end: 3 }] })).toThrow(/protected/);
    expect(() => selectSelfInformation(prompt, losses, { targetTokens: 2, protectedSpans: [{ demonstration: 2, start: 0, end: 1 }] })).toThrow(/demonstration 2/);
  });

  it('conditions on the question and instruction when asked', () => {
    const lm = fakeLm();
    // Context: question [1], instruction [2, 4], then the demonstration [5, 9]:
    // loss(5 | 4) = 0.1, loss(9 | 5) = 9.
    const prompt: StructuredPrompt = { demonstrations: [[5, 9]], question: [1], instruction: [2, 4], separator: [] };
    const sel = selectSelfInformation(prompt, lm.losses, { targetTokens: 1, conditionOnQuestion: true });
    expect(kept(sel)).toEqual([[1]]);
    expect(lm.contexts[0]).toEqual([1, 2, 4, 5, 9]);
    expect(Array.from(sel.tokenLosses[0])).toEqual([0.1, 9]);
  });

  it('rejects bad options', () => {
    const { losses } = fakeLm();
    const prompt: StructuredPrompt = { demonstrations: [[1, 2]] };
    expect(() => selectSelfInformation(prompt, losses, { ratio: 2 })).toThrow(/ratio/);
    expect(() => selectSelfInformation(prompt, losses, { targetTokens: 1.5 })).toThrow(/targetTokens/);
    expect(() => selectSelfInformation(prompt, losses, { segmentSize: 0 })).toThrow(/segmentSize/);
    expect(() => selectSelfInformation(prompt, losses, { demonstrationSlack: 0.5 })).toThrow(/demonstrationSlack/);
    expect(() => selectSelfInformation({ demonstrations: [[1, -2]] }, losses)).toThrow(/token id/);
  });
});

describe('demonstration-level budget controller', () => {
  it('keeps demonstrations by decreasing perplexity until they hold the budget, in prompt order', () => {
    expect(controlDemonstrationBudget([5, 5, 5, 5], [2, 9, 4, 7], 8)).toEqual([1, 3]);
    expect(controlDemonstrationBudget([5, 5, 5, 5], [2, 9, 4, 7], 11)).toEqual([1, 2, 3]);
    expect(controlDemonstrationBudget([5, 5, 5], [2, 9, Number.NaN], 100)).toEqual([0, 1, 2]);
    // Forced demonstrations count first.
    expect(controlDemonstrationBudget([5, 5, 5, 5], [2, 9, 4, 7], 8, new Set([0]))).toEqual([0, 1]);
  });

  it('perplexity is exp of the mean token loss (first token unscored without the question)', () => {
    const { losses } = fakeLm();
    const ppl = demonstrationPerplexities({ demonstrations: [[3, 4, 9], [2, 6]], question: [1] }, losses);
    expect(ppl[0]).toBeCloseTo(Math.exp((0.1 + 9) / 2), 12);
    expect(ppl[1]).toBeCloseTo(Math.exp(6), 12);
    const cond = demonstrationPerplexities({ demonstrations: [[2, 6]], question: [1] }, losses, true);
    expect(cond[0]).toBeCloseTo(Math.exp((0.1 + 6) / 2), 12);
  });

  it('drops the low-perplexity demonstration whole before pruning tokens', () => {
    const { losses } = fakeLm();
    // Demonstration 0 is a run (all 0.1 after its first token); 1 and 2 are costly.
    const prompt: StructuredPrompt = { demonstrations: [[1, 2, 3, 4, 5], [9, 3, 8, 2, 7], [6, 1, 9, 4, 8]] };
    const sel = selectSelfInformation(prompt, losses, { targetTokens: 4, demonstrationSlack: 2 });
    expect(sel.keptDemonstrations).toEqual([1, 2]);
    expect(sel.demonstrations[0].length).toBe(0);
    expect(kept(sel).flat().length).toBe(4);
  });
});
