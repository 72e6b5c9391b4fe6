import { describe, expect, it } from 'vitest';
import {
  type StructuredPrompt,
  applyPromptSelection,
  assemblePrompt,
  budgetTokens,
  demonstrationTokenCount,
  keepAllSelection,
  protectedMask,
  selectRandomTokens,
} from './prompt.js';

const prompt: StructuredPrompt = { instruction: [1], demonstrations: [[10, 11, 12], [20, 21], [30]], question: [40, 41], separator: [0] };

describe('structured prompts', () => {
  it('assembles instruction, demonstrations and question with separators between non-empty parts', () => {
    expect(assemblePrompt(prompt)).toEqual([1, 0, 10, 11, 12, 0, 20, 21, 0, 30, 0, 40, 41]);
    const sel = { demonstrations: [Int32Array.of(0, 2), Int32Array.of(), Int32Array.of(0)] };
    expect(assemblePrompt(prompt, sel)).toEqual([1, 0, 10, 12, 0, 30, 0, 40, 41]);
    expect(assemblePrompt({ demonstrations: [[5]] })).toEqual([5]);
  });

  it('applies a selection and counts demonstration tokens', () => {
    const out = applyPromptSelection(prompt, { demonstrations: [Int32Array.of(1), Int32Array.of(0, 1), Int32Array.of()] });
    expect(out.demonstrations).toEqual([[11], [20, 21], []]);
    expect(out.keptTokens).toBe(3);
    expect(out.originalTokens).toBe(6);
    expect(applyPromptSelection(prompt, keepAllSelection(prompt)).ids).toEqual(assemblePrompt(prompt));
    expect(() => applyPromptSelection(prompt, { demonstrations: [Int32Array.of(0)] })).toThrow(/covers 1/);
    expect(() => applyPromptSelection(prompt, { demonstrations: [Int32Array.of(2, 1), Int32Array.of(), Int32Array.of()] })).toThrow(/ascending/);
    expect(() => applyPromptSelection(prompt, { demonstrations: [Int32Array.of(3), Int32Array.of(), Int32Array.of()] })).toThrow(/ascending/);
  });

  it('turns ratios and counts into a token budget', () => {
    expect(demonstrationTokenCount(prompt)).toBe(6);
    expect(budgetTokens(prompt, { ratio: 0.5 })).toBe(3);
    expect(budgetTokens(prompt, { ratio: 0.33 })).toBe(2);
    expect(budgetTokens(prompt, {})).toBe(3);
    expect(budgetTokens(prompt, { targetTokens: 4, ratio: 0.1 })).toBe(4);
    expect(budgetTokens(prompt, { targetTokens: 99 })).toBe(6);
    expect(() => budgetTokens(prompt, { ratio: -0.1 })).toThrow(/\[0, 1\]/);
    expect(() => budgetTokens(prompt, { targetTokens: -1 })).toThrow(/targetTokens/);
  });

  it('marks protected spans', () => {
    expect(protectedMask(prompt, [{ demonstration: 0, start: 1, end: 3 }]).map((m) => Array.from(m))).toEqual([[0, 1, 1], [0, 0], [0]]);
    expect(() => protectedMask(prompt, [{ demonstration: 1, start: 1, end: 3 }])).toThrow(/does not fit/);
  });
});

describe('random baseline', () => {
  it('keeps exactly the budget, protected tokens included, deterministically per seed', () => {
    const long: StructuredPrompt = { demonstrations: [Array.from({ length: 40 }, (_, i) => i), Array.from({ length: 25 }, (_, i) => 100 + i)] };
    for (const ratio of [0, 0.2, 0.33, 0.5, 1]) {
      const sel = selectRandomTokens(long, { ratio, seed: 3, protectedSpans: ratio >= 0.2 ? [{ demonstration: 1, start: 0, end: 5 }] : [] });
      expect(sel.demonstrations.reduce((n, d) => n + d.length, 0)).toBe(Math.round(ratio * 65));
      if (ratio >= 0.2) expect(Array.from(sel.demonstrations[1].slice(0, 5))).toEqual([0, 1, 2, 3, 4]);
    }
    const a = selectRandomTokens(long, { ratio: 0.3, seed: 1 });
    const b = selectRandomTokens(long, { ratio: 0.3, seed: 1 });
    const c = selectRandomTokens(long, { ratio: 0.3, seed: 2 });
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    expect(() => selectRandomTokens(long, { targetTokens: 2, protectedSpans: [{ demonstration: 0, start: 0, end: 3 }] })).toThrow(/protected/);
  });

  it('draws every token with equal frequency', () => {
    const p: StructuredPrompt = { demonstrations: [[1, 2, 3, 4, 5]] };
    const counts = new Array(5).fill(0);
    for (let seed = 0; seed < 2000; seed++) for (const j of selectRandomTokens(p, { targetTokens: 2, seed }).demonstrations[0]) counts[j]++;
    for (const c of counts) expect(Math.abs(c / 2000 - 0.4)).toBeLessThan(0.05);
  });
});
