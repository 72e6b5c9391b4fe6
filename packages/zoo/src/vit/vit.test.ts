import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PruneError, fromArray } from '@prune/core';
import { parseVitConfig, vitFlops } from './config.js';
import { loadVitFolder } from './load.js';
import type { TokenHook } from '@prune/core';
import { type VitModel, argmaxOf } from './vit.js';

const tinyFolder = fileURLToPath(new URL('../../test/fixtures/tiny-vit/', import.meta.url));
interface TinyExpected {
  images: number[];
  logits: number[];
  attention: number[][];
  keys0: number[];
  keep: { layer: number; indices: number[]; logits: number[] };
  tome: { schedule: number[]; logits: number[]; sizes: number[]; counts: [number, number][] };
}
const expected = JSON.parse(readFileSync(`${tinyFolder}expected.json`, 'utf8')) as TinyExpected;
const images = Float32Array.from(expected.images);

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

async function tiny(): Promise<VitModel> {
  return (await loadVitFolder(tinyFolder)).model;
}

describe('VitModel (tiny PyTorch parity fixture)', () => {
  it('reproduces the PyTorch logits of train_vit.py', async () => {
    const model = await tiny();
    for (let i = 0; i < 2; i++) {
      expect(maxAbsDiff(model.forward(images, i).logits, expected.logits.slice(i * 5, i * 5 + 5))).toBeLessThan(1e-4);
    }
    model.dispose();
  });

  it('shows every block attention map and the head-averaged keys', async () => {
    const model = await tiny();
    const maps: Float32Array[] = [];
    let keys0: Float32Array | undefined;
    model.forward(images, 0, {
      onLayer: (view) => {
        expect(view.attention.shape).toEqual([2, 17, 17]);
        maps.push(view.attention.dataSync() as Float32Array);
        if (view.layer === 0) keys0 = view.keys.dataSync() as Float32Array;
      },
    });
    expect(maps).toHaveLength(3);
    for (let l = 0; l < 3; l++) expect(maxAbsDiff(maps[l], expected.attention[l])).toBeLessThan(1e-5);
    expect(maxAbsDiff(keys0!, expected.keys0)).toBeLessThan(1e-5);
    model.dispose();
  });

  it('drops tokens between attention and MLP as the PyTorch reference does', async () => {
    const model = await tiny();
    const hook: TokenHook = {
      afterAttention: (view) => (view.layer === expected.keep.layer ? { keep: Int32Array.from(expected.keep.indices) } : undefined),
    };
    const out = model.forward(images, 0, { hook });
    expect(maxAbsDiff(out.logits, expected.keep.logits)).toBeLessThan(1e-4);
    expect(out.blocks).toEqual([
      { attention: 17, mlp: 17 },
      { attention: 17, mlp: 8 },
      { attention: 8, mlp: 8 },
    ]);
    model.dispose();
  });

  it('uses log(size) as an attention bias once merged tokens carry sizes', async () => {
    const model = await tiny();
    const state = model.embed(images, 0);
    const plain = model.attentionBranch(0, state);
    const ones = model.attentionBranch(0, { ...state, sizes: new Float32Array(17).fill(1) });
    const sized = model.attentionBranch(0, { ...state, sizes: Float32Array.from({ length: 17 }, (_, i) => 1 + (i % 3)) });
    // Sizes of 1 add log(1) = 0; other sizes shift attention towards the bigger tokens.
    expect(maxAbsDiff(plain.attention.dataSync(), ones.attention.dataSync())).toBe(0);
    const a = plain.attention.dataSync();
    const b = sized.attention.dataSync();
    // Row 0, head 0: the ratio of the weights of keys 2 (size 3) and 0 (size 1) grows 3×.
    expect((b[2] / b[0]) / (a[2] / a[0])).toBeCloseTo(3, 4);
    model.dispose();
  });

  it('rejects hooks that drop CLS or give unsorted indices', async () => {
    const model = await tiny();
    const dropCls: TokenHook = { afterAttention: (v) => (v.layer === 0 ? { keep: Int32Array.from([1, 2, 3]) } : undefined) };
    expect(() => model.forward(images, 0, { hook: dropCls })).toThrow(PruneError);
    const unsorted: TokenHook = { afterAttention: (v) => (v.layer === 0 ? { keep: Int32Array.from([0, 3, 2]) } : undefined) };
    expect(() => model.forward(images, 0, { hook: unsorted })).toThrow(/ascending/);
    const wrongWidth: TokenHook = {
      afterAttention: (v) => (v.layer === 0 ? { tokens: fromArray(new Float32Array(6), [2, 3], 'float32'), sizes: Float32Array.from([1, 16]), positions: Int32Array.from([-1, 0]) } : undefined),
    };
    expect(() => model.forward(images, 0, { hook: wrongWidth })).toThrow(PruneError);
    expect(() => model.embed(images, 2)).toThrow(/image 2/);
    model.dispose();
  });

  it('counts FLOPs of the matrix products by hand', () => {
    const config = parseVitConfig(JSON.parse(readFileSync(`${tinyFolder}config.json`, 'utf8')));
    // d = 16, f = 24, 16 patches of 4 pixels, 5 classes.
    const embedHead = 2 * 16 * 4 * 16 + 2 * 16 * 5;
    const block = (n: number, m: number): number => 2 * n * 16 * 48 + 4 * n * n * 16 + 2 * n * 16 * 16 + 4 * m * 16 * 24;
    expect(vitFlops(config, [{ attention: 17, mlp: 17 }, { attention: 17, mlp: 8 }, { attention: 8, mlp: 8 }])).toBe(embedHead + block(17, 17) + block(17, 8) + block(8, 8));
    expect(() => vitFlops(config, [])).toThrow(PruneError);
  });

  it('rejects a config that is not a ViT or has inconsistent sizes', () => {
    expect(() => parseVitConfig({ model_type: 'llama' })).toThrow(PruneError);
    const good = JSON.parse(readFileSync(`${tinyFolder}config.json`, 'utf8')) as Record<string, unknown>;
    expect(() => parseVitConfig({ ...good, patch_size: 3 })).toThrow(/multiple/);
    expect(() => parseVitConfig({ ...good, num_heads: 3 })).toThrow(/divisible/);
  });

  it('argmaxOf takes the first of equal maxima', () => {
    expect(argmaxOf([0.1, 0.7, 0.7, 0.2])).toBe(1);
  });
});
