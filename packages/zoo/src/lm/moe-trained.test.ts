import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { TEXT_SOURCES, loadText } from '../data.js';
import { perplexity } from '../perplexity.js';
import { BpeTokenizer } from '../tokenizer.js';
import { loadMoeModelFolder } from './moe.js';

const folder = fileURLToPath(new URL('../../weights/moe/', import.meta.url));

describe('shipped MoE LM (weights/moe)', () => {
  it('loads and is far better than a unigram model (ppl ≈ 365–393) on every held-out source', async () => {
    const { readFile } = await import('node:fs/promises');
    const tokenizer = new BpeTokenizer(JSON.parse(await readFile(`${folder}tokenizer.json`, 'utf8')));
    const { model, config } = await loadMoeModelFolder(folder);
    try {
      expect(config.num_local_experts).toBe(8);
      for (const source of TEXT_SOURCES) {
        const ids = tokenizer.encode(await loadText(source, 'test'));
        const r = perplexity(model, ids, { window: config.max_position_embeddings, stride: config.max_position_embeddings, maxWindows: 2 });
        expect(r.perplexity, source).toBeLessThan(60);
      }
    } finally {
      model.dispose();
    }
  });
});
