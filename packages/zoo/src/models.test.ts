import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PruneError, tensor, tidy } from '@prune/core';
import { TEXT_SOURCES, loadText } from './data.js';
import { loadZooLanguageModel, zooModelFolder } from './models.js';

const cases = JSON.parse(readFileSync(new URL('../test/fixtures/lm-parity.json', import.meta.url), 'utf8')) as {
  source: string;
  ids: number[];
  last_logits: number[];
  mean_nll: number;
}[];

describe('shipped zoo LM', () => {
  it('loads and reproduces the training code (PyTorch) on every source', async () => {
    const lm = await loadZooLanguageModel('lm');
    try {
      for (const c of cases) {
        // The tokenizer gives the same ids as the training pipeline did.
        const text = await loadText(c.source as (typeof TEXT_SOURCES)[number], 'test');
        expect(lm.tokenizer.encode(text.slice(0, 2000)).slice(0, c.ids.length)).toEqual(c.ids);
        const logits = tidy(() => lm.model.forward(tensor(c.ids, [1, c.ids.length], 'int32')));
        const v = logits.dataSync();
        const vocab = lm.config.vocab_size;
        let maxErr = 0;
        for (let i = 0; i < vocab; i++) maxErr = Math.max(maxErr, Math.abs(v[(c.ids.length - 1) * vocab + i] - c.last_logits[i]));
        expect(maxErr, c.source).toBeLessThan(1e-3);
        let nll = 0;
        for (let p = 0; p < c.ids.length - 1; p++) {
          const row = v.subarray(p * vocab, (p + 1) * vocab);
          const max = Math.max(...row);
          let sum = 0;
          for (const x of row) sum += Math.exp(x - max);
          nll += max + Math.log(sum) - row[c.ids[p + 1]];
        }
        expect(nll / (c.ids.length - 1)).toBeCloseTo(c.mean_nll, 4);
        logits.dispose();
      }
    } finally {
      lm.model.dispose();
    }
  });

  it('names unknown models clearly', async () => {
    await expect(zooModelFolder('gpt-5' as 'lm')).rejects.toThrow(PruneError);
  });
});
