import { Random } from '@prune/core';
import { describe, expect, it } from 'vitest';
import { buildContinuationTask, continuationPrompt, ngramOverlap } from './continuation-task.js';

describe('n-gram overlap', () => {
  it('counts shared distinct bigrams once and trigrams twice', () => {
    // Bigrams shared: (1,2), (2,3); trigram shared: (1,2,3) → 1 + 1 + 2.
    expect(ngramOverlap([1, 2, 3, 4], [9, 1, 2, 3, 1, 2])).toBe(4);
    expect(ngramOverlap([1, 2], [2, 1])).toBe(0);
    expect(ngramOverlap([5, 5, 5], [5, 5, 5, 5])).toBe(3);
  });
});

describe('passage-continuation task', () => {
  const rng = new Random(4);
  const text = Array.from({ length: 3000 }, () => rng.int(20));

  it('builds question, answer, preceding context and retrieved passages from the text', () => {
    const task = buildContinuationTask(text, { instances: 6, questionTokens: 8, answerTokens: 5, passageTokens: 10, retrievedPassages: 2, contextPassages: 3, exclusionRadius: 50, seed: 1 });
    expect(task.length).toBe(6);
    for (const inst of task) {
      const p = inst.position;
      expect(p % 10).toBe(0);
      expect(inst.question).toEqual(text.slice(p, p + 8));
      expect(inst.answer).toEqual(text.slice(p + 8, p + 13));
      expect(inst.retrieved).toBe(2);
      expect(inst.demonstrations.slice(2)).toEqual([text.slice(p - 30, p - 20), text.slice(p - 20, p - 10), text.slice(p - 10, p)]);
      // Brute force retrieval over every passage outside the exclusion zone.
      const candidates: { start: number; score: number }[] = [];
      for (let s = 0; s + 10 <= text.length; s += 10) {
        if (s + 10 > p - 30 - 50 && s < p + 13 + 50) continue;
        candidates.push({ start: s, score: ngramOverlap(inst.question, text.slice(s, s + 10)) });
      }
      candidates.sort((a, b) => b.score - a.score || a.start - b.start);
      expect(inst.demonstrations.slice(0, 2)).toEqual([text.slice(candidates[1].start, candidates[1].start + 10), text.slice(candidates[0].start, candidates[0].start + 10)]);
      expect(inst.scores).toEqual([candidates[1].score, candidates[0].score]);
      expect(continuationPrompt(inst).question).toEqual(inst.question);
    }
    expect(buildContinuationTask(text, { instances: 6, questionTokens: 8, answerTokens: 5, passageTokens: 10, exclusionRadius: 50, seed: 1 })).toEqual(task);
  });

  it('rejects texts too short for the sizes and bad sizes', () => {
    expect(() => buildContinuationTask(text.slice(0, 100), { instances: 1 })).toThrow(/too short/);
    expect(() => buildContinuationTask(text, { instances: 0 })).toThrow(/instances/);
    expect(() => buildContinuationTask(text, { instances: 1, retrievedPassages: -1 })).toThrow(/retrievedPassages/);
  });
});
