import { type Tensor, fromArray, tidy } from '@prune/core';
import { type ZooLanguageModel, loadText, loadZooLanguageModel, perplexity } from '@prune/zoo';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeShots } from './encoder.js';
import { compressSelfInformation } from './self-information.js';
import { answerLosses, languageModelTokenLosses } from './token-losses.js';

// The trained zoo reference LM on a short held-out text: a few forward passes of ≤ 192 tokens.
let zoo: ZooLanguageModel;
let tokens: number[];
beforeAll(async () => {
  zoo = await loadZooLanguageModel('lm');
  tokens = zoo.tokenizer.encode((await loadText('austen', 'test')).slice(0, 3000));
});
afterAll(() => zoo?.model.dispose());

describe('token losses under the zoo LM', () => {
  it('agree with the zoo perplexity protocol, within one context and across windows', () => {
    const context = zoo.config.max_position_embeddings;
    const losses = languageModelTokenLosses(zoo.model, { context });
    const short = tokens.slice(0, context);
    const l1 = losses(short);
    expect(Number.isNaN(l1[0])).toBe(true);
    const mean1 = l1.slice(1).reduce((a, b) => a + b, 0) / (context - 1);
    expect(mean1).toBeCloseTo(perplexity(zoo.model, short, { window: context, stride: context, maxWindows: 1 }).nll, 5);
    // 192 tokens: windows [0, 128) then [64, 192) scoring 128..191 — the zoo protocol with stride 64.
    const long = tokens.slice(0, context + context / 2);
    const l2 = losses(long);
    const mean2 = l2.slice(1).reduce((a, b) => a + b, 0) / (long.length - 1);
    expect(mean2).toBeCloseTo(perplexity(zoo.model, long, { window: context, stride: context / 2, maxWindows: 2 }).nll, 5);
    expect(Array.from(l2.slice(0, context))).toEqual(Array.from(l1));
  });

  it('scores answers given prompts the same alone and in a right-padded batch', () => {
    const context = zoo.config.max_position_embeddings;
    const pairs = [
      { prompt: tokens.slice(0, 40), answer: tokens.slice(40, 52) },
      { prompt: tokens.slice(100, 110), answer: tokens.slice(110, 115) },
    ];
    const batched = answerLosses(zoo.model, pairs, { context, batch: 2 });
    const alone = pairs.map((p) => answerLosses(zoo.model, [p], { context })[0]);
    batched.forEach((s, i) => expect(s.loss).toBeCloseTo(alone[i].loss, 5));
    // Second implementation: the token losses of prompt + answer over the answer positions.
    const full = languageModelTokenLosses(zoo.model, { context })(tokens.slice(0, 52));
    expect(batched[0].loss).toBeCloseTo(full.slice(40).reduce((a, b) => a + b, 0) / 12, 5);
    expect(batched[0].accuracy).toBeGreaterThanOrEqual(0);
    expect(() => answerLosses(zoo.model, [{ prompt: tokens.slice(0, 120), answer: tokens.slice(120, 130) }], { context })).toThrow(/context/);
  });

  it('self-information compression meets the ratio on a real passage and keeps the question', () => {
    const context = zoo.config.max_position_embeddings;
    const losses = languageModelTokenLosses(zoo.model, { context });
    const demonstrations = [tokens.slice(200, 230), tokens.slice(400, 425), tokens.slice(600, 640)];
    const question = tokens.slice(700, 712);
    for (const ratio of [0.5, 0.2]) {
      const out = compressSelfInformation({ demonstrations, question }, losses, { ratio, segmentSize: 24 });
      expect(out.keptTokens).toBe(Math.round(ratio * 95));
      expect(out.ids.slice(-12)).toEqual(question);
    }
  });
});

describe('frozen encoder over the zoo LM', () => {
  it('layer 0 is the token embedding; batching and padding do not change a shot', () => {
    const shots = [tokens.slice(0, 6), tokens.slice(10, 19)];
    const emb = encodeShots(zoo.model, shots, { layer: 0 });
    const direct: Tensor = tidy(() => zoo.model.embed(fromArray(Int32Array.from(shots[0]), [1, 6], 'int32')));
    expect(Array.from(emb[0].values)).toEqual(Array.from(direct.dataSync()));
    direct.dispose();
    const prefix = tokens.slice(30, 34);
    const both = encodeShots(zoo.model, shots, { prefix });
    const alone = encodeShots(zoo.model, [shots[0]], { prefix });
    expect(both[0].tokens).toBe(6);
    expect(both[0].dim).toBe(zoo.config.hidden_size);
    expect(both[0].values.length).toBe(alone[0].values.length);
    expect(Math.max(...Array.from(both[0].values, (v, i) => Math.abs(v - alone[0].values[i])))).toBeLessThan(1e-4);
    expect(() => encodeShots(zoo.model, [[]])).toThrow(/empty/);
    expect(() => encodeShots(zoo.model, shots, { layer: 9 })).toThrow(/layer/);
  });
});
