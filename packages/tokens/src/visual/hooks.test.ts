import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PruneError } from '@prune/core';
import { type VitModel, loadVitFolder } from '@prune/zoo';
import { keepCount } from './common.js';
import { fastvHook, fixedKeepHook, gpruneHook, hipruneHook, randomHook, tomeHook, uniformGridHook } from './hooks.js';
import type { TokenPruningHook } from './hooks.js';

// A tiny ViT (8×8 images, 4×4 patch grid, 3 blocks) with PyTorch reference outputs, made by
// packages/zoo/train/make_vit_parity_fixture.py.
const folder = fileURLToPath(new URL('../../../zoo/test/fixtures/tiny-vit/', import.meta.url));
const expected = JSON.parse(readFileSync(`${folder}expected.json`, 'utf8')) as {
  images: number[];
  keep: { layer: number; indices: number[]; logits: number[] };
  tome: { schedule: number[]; logits: number[]; sizes: number[]; counts: [number, number][] };
};
const images = Float32Array.from(expected.images);

async function tiny(): Promise<VitModel> {
  return (await loadVitFolder(folder)).model;
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i])));

describe('token pruning hooks in a ViT forward pass', () => {
  it('ToMe merging in the ViT equals the PyTorch ToMe reference (logits, sizes, token counts)', async () => {
    const model = await tiny();
    let sizes: Float32Array | undefined;
    const out = model.forward(images, 0, { hook: tomeHook({ schedule: expected.tome.schedule }), onLayer: (v) => (sizes = v.sizes) });
    expect(maxDiff(out.logits, expected.tome.logits)).toBeLessThan(1e-4);
    expect(out.blocks.map((b) => [b.attention, b.mlp])).toEqual(expected.tome.counts);
    // Sizes seen by the last block's view are those entering it; the final merge is checked
    // through the logits. 17 tokens → 13 → 10 → 8 with sizes summing to 17.
    expect(sizes!.reduce((s, v) => s + v, 0)).toBe(17);
    model.dispose();
  });

  it('a fixed keep hook reproduces the PyTorch token-dropping reference', async () => {
    const model = await tiny();
    const out = model.forward(images, 0, { hook: fixedKeepHook(expected.keep.indices, expected.keep.layer) });
    expect(maxDiff(out.logits, expected.keep.logits)).toBeLessThan(1e-4);
    model.dispose();
  });

  it('every pruner keeps CLS plus the budget from its block on, for each ratio', async () => {
    const model = await tiny();
    for (const ratio of [0.5, 0.33, 0.11]) {
      const keep = keepCount(16, ratio);
      const hooks: TokenPruningHook[] = [
        hipruneHook({ keep, objectLayer: 0, deepLayer: 1 }),
        hipruneHook({ keep, objectLayer: 0, deepLayer: 1, alpha: 1 }),
        gpruneHook({ keep, layer: 1 }),
        fastvHook({ keep, layer: 1 }),
        randomHook({ keep, layer: 1, seed: 3 }),
        uniformGridHook({ keep, layer: 1 }),
      ];
      for (const hook of hooks) {
        const out = model.forward(images, 1, { hook });
        expect(out.blocks, `${hook.name} at ratio ${ratio}`).toEqual([
          { attention: 17, mlp: 17 },
          { attention: 17, mlp: keep + 1 },
          { attention: keep + 1, mlp: keep + 1 },
        ]);
        expect(out.logits.every(Number.isFinite)).toBe(true);
      }
    }
    model.dispose();
  });

  it('FastV in a ViT keeps the patches the CLS row attends to most', async () => {
    const model = await tiny();
    let cls: number[] = [];
    let kept: number[] = [];
    model.forward(images, 0, {
      hook: fastvHook({ keep: 4, layer: 1 }),
      onLayer: (v) => {
        if (v.layer === 1) {
          const a = v.attention.dataSync();
          // Head-averaged CLS row over the 16 patch columns, computed here independently.
          cls = Array.from({ length: 16 }, (_, j) => (a[j + 1] + a[17 * 17 + j + 1]) / 2);
        }
        if (v.layer === 2) kept = Array.from(v.positions).slice(1);
      },
    });
    const top = [...cls.keys()].sort((x, y) => cls[y] - cls[x]).slice(0, 4).sort((x, y) => x - y);
    expect(kept).toEqual(top);
    model.dispose();
  });

  it('HiPrune needs the full grid at its layers, and layers in order', async () => {
    const model = await tiny();
    expect(() => hipruneHook({ keep: 4, objectLayer: 2, deepLayer: 1 })).toThrow(PruneError);
    // A ToMe merge in block 0 leaves fewer tokens than the grid when HiPrune scores block 1.
    const tome = tomeHook({ schedule: [2] });
    const hi = hipruneHook({ keep: 4, objectLayer: 0, deepLayer: 1 });
    const both: TokenPruningHook = {
      name: 'both',
      afterAttention: (v) => (v.layer === 0 ? (hi.afterAttention(v), tome.afterAttention(v)) : hi.afterAttention(v)),
    };
    expect(() => model.forward(images, 0, { hook: both })).toThrow(/full 4×4 grid/);
    expect(() => tomeHook({ schedule: [1.5] })).toThrow(PruneError);
    expect(() => fastvHook({ keep: 4, layer: -1 })).toThrow(PruneError);
    model.dispose();
  });
});
