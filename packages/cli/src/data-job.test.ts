import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ccsSelect } from '@prune/data';
import { parseDataArgs, readEmbeddingsFile, readScoresFile } from './data-job.js';
import { run } from '../test/run-main.js';

/** A .npy v1.0 file of float32 rows. */
function npy(rows: number, cols: number, values: number[]): Buffer {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${rows}, ${cols}), }`;
  header += ' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64) + '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  return Buffer.concat([head, Buffer.from(header, 'latin1'), Buffer.from(Float32Array.from(values).buffer)]);
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'prune-data-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('prune data', () => {
  it('selects with CCS from a JSON scores file and writes the kept indices', async () => {
    const scores = Array.from({ length: 40 }, (_, i) => (i * 7) % 40);
    await writeFile(join(dir, 'scores.json'), JSON.stringify({ scores, labels: scores.map((s) => s % 4) }));
    const out = join(dir, 'kept.txt');
    const r = await run(['data', '--method', 'ccs', '--keep', '0.5', '--scores', join(dir, 'scores.json'), '--out', out, '--seed', '3']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('ccs');
    const kept = (await readFile(out, 'utf8')).trim().split('\n').map(Number);
    expect(kept).toEqual(Array.from(ccsSelect(scores, { keep: 0.5, seed: 3 })));
    expect(kept.length).toBe(20);
  });

  it('reads CSV scores with labels and balances classes', async () => {
    const rows = ['index,score,label', ...Array.from({ length: 12 }, (_, i) => `${i},${i / 10},${i < 9 ? 0 : 1}`)];
    await writeFile(join(dir, 's.csv'), rows.join('\n'));
    const out = join(dir, 'k.json');
    const r = await run(['data', '--method', 'keep-hard', '--keep', '0.5', '--class-balance', 'equal', '--scores', join(dir, 's.csv'), '--out', out]);
    expect(r.code).toBe(0);
    const report = JSON.parse(await readFile(out, 'utf8'));
    // 9 of class 0, 3 of class 1, budget 6 → cap 3: the 3 hardest of each class
    expect(report.indices).toEqual([6, 7, 8, 9, 10, 11]);
    expect(report.perClass).toEqual({ 0: 3, 1: 3 });
  });

  it('curates an embeddings file with kmeans-balanced (npy and raw float32)', async () => {
    // two blobs: 30 rows near 0 and 6 rows near 10 → balanced sampling keeps the small blob whole
    const values: number[] = [];
    for (let i = 0; i < 36; i++) values.push(i < 30 ? (i % 5) * 0.01 : 10 + (i % 3) * 0.01, i < 30 ? 0 : 10);
    await writeFile(join(dir, 'e.npy'), npy(36, 2, values));
    const out = join(dir, 'k.txt');
    const r = await run(['data', '--method', 'kmeans-balanced', '--keep', '0.3', '--embeddings', join(dir, 'e.npy'), '--levels', '2', '--out', out]);
    expect(r.code).toBe(0);
    const kept = (await readFile(out, 'utf8')).trim().split('\n').map(Number);
    expect(kept.length).toBe(11);
    expect(kept.filter((i) => i >= 30).length).toBe(6);
    await writeFile(join(dir, 'e.f32'), Buffer.from(Float32Array.from(values).buffer));
    const raw = await readEmbeddingsFile(join(dir, 'e.f32'), 2);
    expect(raw.count).toBe(36);
    expect(Array.from(raw.data)).toEqual(Array.from((await readEmbeddingsFile(join(dir, 'e.npy'))).data));
  });

  it('reports bad input with a code and a hint, and leaves no output', async () => {
    await writeFile(join(dir, 's.json'), JSON.stringify([0.1, 0.5, 0.3]));
    const out = join(dir, 'k.txt');
    const badKeep = await run(['data', '--method', 'ccs', '--keep', '1.5', '--scores', join(dir, 's.json'), '--out', out]);
    expect(badKeep.code).toBe(2);
    expect(badKeep.stderr).toMatch(/--keep must be a fraction/);
    const noLabels = await run(['data', '--method', 'keep-hard', '--class-balance', 'equal', '--scores', join(dir, 's.json'), '--out', out]);
    expect(noLabels.code).toBe(2);
    expect(noLabels.stderr).toMatch(/label/);
    const noScores = await run(['data', '--method', 'ccs']);
    expect(noScores.stderr).toMatch(/--scores/);
    await writeFile(join(dir, 'nan.npy'), npy(2, 2, [0, Number.NaN, 1, 1]));
    const nan = await run(['data', '--method', 'kmeans-balanced', '--embeddings', join(dir, 'nan.npy'), '--out', out]);
    expect(nan.code).toBe(1);
    expect(nan.stderr).toMatch(/NON_FINITE/);
    await expect(readFile(out)).rejects.toThrow();
    expect((await run(['data', '--help'])).stdout).toContain('prune data');
  });

  it('parses and checks options', async () => {
    expect(() => parseDataArgs(['--method', 'nope'])).toThrow(/unknown data method/);
    expect(() => parseDataArgs(['--method', 'kmeans-balanced'])).toThrow(/--embeddings/);
    const p = parseDataArgs(['--method', 'offset', '--scores', 'x', '--offset', '0.2', '--harder', 'lower']);
    expect(p.help).toBe(false);
    if (!p.help) expect([p.options.offset, p.options.harderIs, p.options.keep]).toEqual([0.2, 'lower', 0.5]);
    await writeFile(join(dir, 'bad.csv'), 'a,b\n1,2\n');
    await expect(readScoresFile(join(dir, 'bad.csv'))).rejects.toThrow(/score/);
    await writeFile(join(dir, 'nan.json'), '[1, "x"]');
    await expect(readScoresFile(join(dir, 'nan.json'))).rejects.toThrow(/finite/);
  });
});
