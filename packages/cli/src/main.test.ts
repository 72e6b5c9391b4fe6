import { createHash } from 'node:crypto';
import { cp, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSafetensors, writeSafetensors } from '@prune/core';
import { run } from '../test/run-main.js';

const fixture = fileURLToPath(new URL('../test/fixtures/tiny-lm/', import.meta.url));

const fast = ['--backend', 'reference', '--nsamples', '4', '--eval-windows', '1'];
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'prune-cli-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function hashFolder(folder: string): Promise<string> {
  const h = createHash('sha256');
  for (const f of (await readdir(folder)).sort()) h.update(f).update(await readFile(join(folder, f)));
  return h.digest('hex');
}

describe('prune command', () => {
  it('prints help with examples', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--method/);
    expect(r.stdout).toMatch(/Examples/);
  });

  it('prunes a language model folder with Wanda at 50% and writes checkpoint + report', async () => {
    const out = join(dir, 'out');
    const r = await run(['--model', fixture, ...fast, '--out', out]);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/wanda\s+unstructured\s+50\.0%/);
    expect((await readdir(out)).sort()).toEqual(['config.json', 'model.safetensors', 'report.json', 'tokenizer.json']);
    const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
    expect(report.results[0].report.calibration.protocol).toMatchObject({ nsamples: 4, seqlen: 32, seed: 0 });
    const file = await openSafetensors(join(out, 'model.safetensors'));
    const w = await file.readTensor('model.layers.1.mlp.down_proj.weight', { as: 'float32' });
    await file.close();
    // 16 rows of 32 inputs: exactly 16 pruned per row.
    expect(w.filter((v) => v === 0).length).toBe(16 * 16);
  });

  it('compares several methods in one run and prints JSON when asked', async () => {
    const out = join(dir, 'cmp');
    const r = await run(['--model', fixture, ...fast, '--compare', 'magnitude,wanda', '--pattern', '2:4', '--threads', '1', '--json', '--out', out]);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.options.threads).toBe(1);
    expect(report.results.map((m: { method: string }) => m.method)).toEqual(['magnitude', 'wanda']);
    expect(report.results[0].pattern).toBe('2:4');
    expect((await readdir(out)).sort()).toEqual(['magnitude', 'report.json', 'wanda']);
  });

  it('prunes a bare safetensors checkpoint data-free and keeps the input intact', async () => {
    const input = join(dir, 'ckpt.safetensors');
    const w = new Float32Array(8 * 8).map((_, i) => ((i * 37) % 17) - 8);
    await writeSafetensors(input, { 'model.layers.0.fc.weight': { dtype: 'F32', shape: [8, 8], data: w }, 'model.norm.weight': { dtype: 'F32', shape: [8], data: new Float32Array(8).fill(1) } });
    const before = await readFile(input);
    const out = join(dir, 'pruned');
    const r = await run(['--model', input, '--method', 'magnitude', '--sparsity', '0.5', '--out', out, '--backend', 'reference']);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    expect(await readFile(input)).toEqual(before);
    const file = await openSafetensors(join(out, 'ckpt.safetensors'));
    const pruned = await file.readTensor('model.layers.0.fc.weight', { as: 'float32' });
    expect(pruned.filter((v) => v === 0).length).toBeGreaterThanOrEqual(32);
    expect(Array.from(await file.readTensor('model.norm.weight', { as: 'float32' }))).toEqual(new Array(8).fill(1));
    await file.close();
  });

  describe('bad input gets a clear error, a non-zero exit code and no output', () => {
    const cases: [string, string[], RegExp, number][] = [
      ['unknown method', ['--method', 'lottery'], /unknown method "lottery"/, 2],
      ['sparsity outside [0, 1)', ['--sparsity', '1.5'], /\[0, 1\)/, 2],
      ['N:M with N ≥ M', ['--pattern', '4:4'], /0 < N < M/, 2],
      ['no threads', ['--threads', '0'], /--threads must be at least 1/, 2],
      ['unknown option', ['--frobnicate'], /frobnicate/, 2],
      ['missing model file', ['--model', '/nonexistent/model.safetensors'], /neither a zoo model/, 1],
    ];
    for (const [what, args, message, code] of cases) {
      it(what, async () => {
        const out = join(dir, 'out');
        const r = await run([...args, '--out', out]);
        expect(r.code).toBe(code);
        expect(r.stderr).toMatch(message);
        await expect(readdir(out)).rejects.toThrow();
      });
    }

    it('a corrupt checkpoint', async () => {
      const input = join(dir, 'bad.safetensors');
      await writeFile(input, Buffer.from([200, 0, 0, 0, 0, 0, 0, 0, 123, 34]));
      const r = await run(['--model', input, '--method', 'magnitude', '--out', join(dir, 'o')]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/CORRUPT_FILE/);
      expect((await readdir(dir)).sort()).toEqual(['bad.safetensors']);
    });

    it('a checkpoint without prunable layers', async () => {
      const input = join(dir, 'norms.safetensors');
      await writeSafetensors(input, { 'norm.weight': { dtype: 'F32', shape: [4], data: new Float32Array(4) } });
      const r = await run(['--model', input, '--method', 'magnitude', '--out', join(dir, 'o')]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/prunable/);
    });

    it('NaN weights', async () => {
      const model = join(dir, 'nan-lm');
      await cp(fixture, model, { recursive: true });
      const file = await openSafetensors(join(model, 'model.safetensors'));
      const tensors: Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }> = {};
      for (const name of file.names()) {
        const info = await file.info(name);
        tensors[name] = { dtype: 'F32', shape: [...info.shape], data: await file.readTensor(name, { as: 'float32' }) };
      }
      await file.close();
      tensors['model.layers.0.self_attn.q_proj.weight'].data[3] = Number.NaN;
      await writeSafetensors(join(model, 'model.safetensors'), tensors);
      const r = await run(['--model', model, ...fast, '--out', join(dir, 'o')]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/NON_FINITE/);
    });

    it('an output folder that is the input, leaving the input untouched', async () => {
      const model = join(dir, 'lm');
      await cp(fixture, model, { recursive: true });
      const before = await hashFolder(model);
      const r = await run(['--model', model, ...fast, '--out', model]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/overlaps the input/);
      expect(await hashFolder(model)).toBe(before);
    });

    it('a calibrated method on a bare checkpoint', async () => {
      const input = join(dir, 'ckpt.safetensors');
      await writeSafetensors(input, { 'layers.0.fc.weight': { dtype: 'F32', shape: [4, 4], data: new Float32Array(16).fill(1) } });
      const r = await run(['--model', input, '--method', 'wanda', '--out', join(dir, 'o')]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/needs calibration data/);
      await expect(readdir(join(dir, 'o'))).rejects.toThrow();
    });
  });

  it('keeps an earlier output when a later run fails', async () => {
    const out = join(dir, 'out');
    expect((await run(['--model', fixture, ...fast, '--out', out])).code).toBe(0);
    const before = await hashFolder(out);
    const r = await run(['--model', fixture, ...fast, '--calib', join(dir, 'missing.txt'), '--out', out]);
    expect(r.code).toBe(1);
    expect(await hashFolder(out)).toBe(before);
    expect((await readdir(dir)).sort()).toEqual(['out']);
  });
});
