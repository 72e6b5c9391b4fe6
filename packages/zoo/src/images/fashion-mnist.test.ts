import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { PruneError } from '@prune/core';
import { afterAll, describe, expect, it } from 'vitest';
import { FASHION_MNIST_CLASSES, loadFashionMnist } from './fashion-mnist.js';

function idx(magic: number, dims: number[], data: number[]): Uint8Array {
  const header = new DataView(new ArrayBuffer(4 + 4 * dims.length));
  header.setUint32(0, magic);
  dims.forEach((d, i) => header.setUint32(4 + 4 * i, d));
  return new Uint8Array([...new Uint8Array(header.buffer), ...data]);
}

const dirs: string[] = [];
async function folder(files: Record<string, Uint8Array>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'fmnist-'));
  dirs.push(dir);
  for (const [name, bytes] of Object.entries(files)) await writeFile(join(dir, name), bytes);
  return dir;
}
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

describe('loadFashionMnist', () => {
  it('decodes hand-built IDX files, gzip-compressed or plain', async () => {
    // Two 2×3 images with known bytes.
    const pixels = [0, 51, 102, 153, 204, 255, 255, 0, 0, 0, 0, 255];
    const dir = await folder({
      't10k-images-idx3-ubyte.gz': gzipSync(idx(2051, [2, 2, 3], pixels)),
      't10k-labels-idx1-ubyte': idx(2049, [2], [7, 3]),
    });
    const set = await loadFashionMnist('test', { dir });
    expect(set.count).toBe(2);
    expect([set.height, set.width]).toEqual([2, 3]);
    expect(Array.from(set.images)).toEqual(pixels.map((p) => Math.fround(p / 255)));
    expect(Array.from(set.labels)).toEqual([7, 3]);
    expect(set.classes[7]).toBe('Sneaker');
    const first = await loadFashionMnist('test', { dir, limit: 1 });
    expect(first.count).toBe(1);
    expect(first.images.length).toBe(6);
  });

  it('rejects truncated files, wrong magic numbers, bad labels and missing folders', async () => {
    const truncated = await folder({
      'train-images-idx3-ubyte': idx(2051, [2, 2, 2], [1, 2, 3]),
      'train-labels-idx1-ubyte': idx(2049, [2], [0, 1]),
    });
    await expect(loadFashionMnist('train', { dir: truncated })).rejects.toThrow(/header says 2×2×2 values but the file holds 3/);
    const wrongMagic = await folder({
      'train-images-idx3-ubyte': idx(2049, [1, 1, 1], [0]),
      'train-labels-idx1-ubyte': idx(2049, [1], [0]),
    });
    await expect(loadFashionMnist('train', { dir: wrongMagic })).rejects.toThrow(/not an unsigned-byte IDX file of rank 3/);
    const badLabel = await folder({
      'train-images-idx3-ubyte': idx(2051, [1, 1, 1], [0]),
      'train-labels-idx1-ubyte': idx(2049, [1], [12]),
    });
    await expect(loadFashionMnist('train', { dir: badLabel })).rejects.toThrow(/label 12 of image 0/);
    const missing = loadFashionMnist('train', { dir: join(tmpdir(), 'no-such-fashion-mnist') });
    await expect(missing).rejects.toBeInstanceOf(PruneError);
    await expect(missing).rejects.toThrow(/apt-get install dataset-fashion-mnist/);
    await expect(loadFashionMnist('train', { limit: 0 })).rejects.toThrow(/positive integer/);
  });

  it('reads the installed dataset: sizes and the first labels of each split', async () => {
    const train = await loadFashionMnist('train', { limit: 5 });
    const test = await loadFashionMnist('test');
    expect([train.count, train.height, train.width]).toEqual([5, 28, 28]);
    expect(test.count).toBe(10_000);
    // First labels of the published files: train starts Ankle boot, T-shirt, T-shirt, Dress, T-shirt.
    expect(Array.from(train.labels)).toEqual([9, 0, 0, 3, 0]);
    expect(FASHION_MNIST_CLASSES[test.labels[0]]).toBe('Ankle boot');
    const counts = new Array(10).fill(0);
    for (const label of test.labels) counts[label]++;
    expect(counts).toEqual(new Array(10).fill(1000));
    let [lo, hi] = [Infinity, -Infinity];
    for (const v of test.images) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
    expect([lo, hi]).toEqual([0, 1]);
  });
});
