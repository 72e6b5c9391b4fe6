import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { tensor } from '@prune/core';
import { loadZooFoxModel } from './load.js';

interface Case {
  source: string;
  ids: number[];
  last_logits: number[];
  mean_nll: number;
}
const cases = JSON.parse(readFileSync(fileURLToPath(new URL('./fixtures/fox-trained-parity.json', import.meta.url)), 'utf8')) as Case[];

describe('the shipped FoX LM (weights/fox)', () => {
  it('reproduces PyTorch on 256 held-out tokens of every source, with ACP on and off', async () => {
    const { model, tokenizer, config } = await loadZooFoxModel();
    expect(config).toMatchObject({ hidden_size: 192, num_hidden_layers: 4, num_attention_heads: 6, max_position_embeddings: 256, qk_norm: true, use_output_gate: true });
    expect(tokenizer.vocabSize).toBe(config.vocab_size);
    const ids = tensor(cases.flatMap((c) => c.ids), [4, 256], 'int32');
    for (const acp of [false, {}] as const) {
      const logits = model.forward(ids, { acp });
      const data = logits.dataSync();
      logits.dispose();
      cases.forEach((c, b) => {
        // Mean NLL of the window from the TypeScript logits (float64 log-softmax).
        let nll = 0;
        for (let p = 0; p < 255; p++) {
          const row = data.subarray((b * 256 + p) * 1024, (b * 256 + p + 1) * 1024);
          let mx = -Infinity;
          for (const x of row) mx = Math.max(mx, x);
          let s = 0;
          for (const x of row) s += Math.exp(x - mx);
          nll += mx + Math.log(s) - row[c.ids[p + 1]];
        }
        expect(Math.abs(nll / 255 - c.mean_nll)).toBeLessThan(1e-4);
        const last = data.subarray((b * 256 + 255) * 1024, (b * 256 + 256) * 1024);
        let worst = 0;
        for (let i = 0; i < 1024; i++) worst = Math.max(worst, Math.abs(last[i] - c.last_logits[i]));
        expect(worst).toBeLessThan(1e-3);
      });
    }
    model.dispose();
  });
});
