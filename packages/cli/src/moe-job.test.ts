import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromArray, openSafetensors, tensor, tidy } from '@prune/core';
import { maskExperts, saveMoeCheckpoint } from '@prune/moe';
import { createRandomMoeModel, loadMoeModelFolder, parseMoeConfig } from '@prune/zoo';
import { splitDemonstrations } from './moe-job.js';
import { run } from '../test/run-main.js';

const tinyLm = fileURLToPath(new URL('../test/fixtures/tiny-lm/', import.meta.url));
const rawConfig = {
  architectures: ['MixtralForCausalLM'],
  vocab_size: 1024,
  hidden_size: 16,
  intermediate_size: 8,
  num_hidden_layers: 2,
  num_attention_heads: 2,
  max_position_embeddings: 32,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  num_local_experts: 4,
  num_experts_per_tok: 2,
};
const fast = ['--backend', 'reference', '--nsamples', '4', '--eval-windows', '1'];

let dir: string;
let moeFolder: string;
let deadFolder: string;
let demos: string;

// A random MoE checkpoint folder (with the zoo tokenizer); `silent` zeroes every expert's down
// projection, so no expert changes the residual stream and EASY-EP has nothing to measure.
async function writeMoeFolder(folder: string, silent: boolean): Promise<void> {
  await mkdir(folder);
  const model = createRandomMoeModel(parseMoeConfig(rawConfig), { seed: 7, std: 0.2 });
  const tensors = new Map(model.weights());
  if (silent) {
    for (const [name, t] of tensors) if (/experts\.\d+\.w2\.weight$/.test(name)) tensors.set(name, fromArray(new Float32Array(t.size), t.shape, 'float32'));
  }
  await saveMoeCheckpoint(folder, { config: rawConfig as never, tensors });
  await copyFile(join(tinyLm, 'tokenizer.json'), join(folder, 'tokenizer.json'));
  model.dispose();
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'prune-moe-cli-'));
  moeFolder = join(dir, 'moe');
  deadFolder = join(dir, 'silent-moe');
  await writeMoeFolder(moeFolder, false);
  await writeMoeFolder(deadFolder, true);
  demos = join(dir, 'demos.txt');
  await writeFile(demos, 'It is a truth universally acknowledged,\nthat a single man in possession of a good fortune\n\nmust be in want of a wife.\n\n\nHowever little known the feelings or views of such a man may be\n');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('splitDemonstrations', () => {
  it('splits on blank lines when there are any, otherwise one demonstration per line', () => {
    expect(splitDemonstrations('a b\nc\n\n  d  \n \n\ne\n')).toEqual(['a b\nc', 'd', 'e']);
    expect(splitDemonstrations('one\r\ntwo\n  \nthree')).toEqual(['one\ntwo', 'three']);
    expect(splitDemonstrations('one\ntwo\nthree\n')).toEqual(['one', 'two', 'three']);
    expect(splitDemonstrations(' \n\t\n')).toEqual([]);
  });
});

describe('prune --method moe-pruner', () => {
  it('prunes every expert linear to 2:4, distils a few steps and writes model, tokenizer and report', async () => {
    const out = join(dir, 'pruned');
    const r = await run(['--model', moeFolder, '--method', 'moe-pruner', '--pattern', '2:4', '--distill-steps', '3', ...fast, '--out', out]);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/moe-pruner 2:4 \+ 3 distillation steps/);
    expect((await readdir(out)).sort()).toEqual(['config.json', 'model.safetensors', 'report.json', 'tokenizer.json']);
    const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
    expect(report.method).toBe('moe-pruner');
    expect(report.moePruner.pattern).toBe('2:4');
    expect(report.distillation.steps).toBe(3);
    expect(Object.keys(report.pruned.bySource)).toEqual(['kjv', 'austen', 'moby-dick', 'sotu']);
    const file = await openSafetensors(join(out, 'model.safetensors'));
    const w = await file.readTensor('model.layers.1.block_sparse_moe.experts.3.w1.weight', { as: 'float32' });
    await file.close();
    for (let g = 0; g < w.length / 4; g++) expect(w.subarray(g * 4, g * 4 + 4).filter((v) => v === 0).length, `group ${g}`).toBe(2);
    expect(JSON.parse(await readFile(join(out, 'config.json'), 'utf8'))).toEqual(rawConfig);
  });
});

describe('prune --method easy-ep', () => {
  it('keeps K experts per layer, writes the physically smaller model, which matches routing masks', async () => {
    const out = join(dir, 'smaller');
    const r = await run(['--model', moeFolder, '--method', 'easy-ep', '--demos', demos, '--keep-experts', '2', ...fast, '--json', '--out', out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.easyEp.demonstrations).toBe(3); // three blank-line-separated passages
    expect(report.easyEp.kept).toHaveLength(2);
    expect(report.easyEp.kept.every((k: number[]) => k.length === 2)).toBe(true);
    expect(report.size.output.parameters).toBeLessThan(report.size.input.parameters);
    expect(report.size.output.fileBytes).toBeLessThan(report.size.input.fileBytes);
    const { model: small, config } = await loadMoeModelFolder(out);
    expect(config.num_local_experts).toBe(2);
    expect(small.weights().has('model.layers.0.block_sparse_moe.experts.2.w1.weight')).toBe(false);
    const { model: original } = await loadMoeModelFolder(moeFolder);
    maskExperts(original, report.easyEp.kept);
    const ids = tensor([5, 300, 17, 900, 42, 7, 7, 1000], [8], 'int32');
    const a = tidy(() => original.forward(ids)).dataSync();
    const b = tidy(() => small.forward(ids)).dataSync();
    expect(Array.from(b)).toEqual(Array.from(a));
    original.dispose();
    small.dispose();
  });

  it('the help lists both methods and their options', async () => {
    const r = await run(['--help']);
    expect(r.stdout).toMatch(/--method easy-ep/);
    expect(r.stdout).toMatch(/--keep-experts K/);
    expect(r.stdout).toMatch(/--distill-steps N/);
  });
});

describe('bad input to the MoE methods gets a clear error, a non-zero exit code and no output', () => {
  const cases: [string, () => string[], RegExp, number][] = [
    ['K larger than the expert count', () => ['--model', moeFolder, '--method', 'easy-ep', '--demos', demos, '--keep-experts', '5'], /--keep-experts 5: .* has 4 experts per layer .* choose K in 2..4/, 2],
    ['K larger than the zoo MoE model (the default model) has', () => ['--method', 'easy-ep', '--demos', demos, '--keep-experts', '9'], /zoo:moe has 8 experts per layer/, 2],
    ['K below the experts per token', () => ['--model', moeFolder, '--method', 'easy-ep', '--demos', demos, '--keep-experts', '1'], /choose K in 2..4/, 2],
    ['a model without MoE layers', () => ['--model', tinyLm, '--method', 'easy-ep', '--demos', demos], /UNSUPPORTED.*no num_local_experts/, 1],
    ['moe-pruner on a dense model', () => ['--model', tinyLm, '--method', 'moe-pruner'], /needs a mixture-of-experts model/, 1],
    ['an empty demos file', () => ['--model', moeFolder, '--method', 'easy-ep', '--demos', join(dir, 'empty.txt')], /holds no demonstration/, 2],
    ['demonstrations that route nowhere', () => ['--model', deadFolder, '--method', 'easy-ep', '--demos', demos], /scored 0 .* routed nowhere/, 2],
    ['a missing demos file', () => ['--model', moeFolder, '--method', 'easy-ep', '--demos', join(dir, 'nope.txt')], /cannot read the demonstrations file/, 1],
    ['easy-ep without --demos', () => ['--model', moeFolder, '--method', 'easy-ep'], /needs --demos FILE/, 2],
    ['--demos with moe-pruner', () => ['--model', moeFolder, '--method', 'moe-pruner', '--demos', demos], /--demos does not apply to --method moe-pruner/, 2],
    ['--distill-steps with a weight method', () => ['--method', 'wanda', '--distill-steps', '5'], /belongs to the mixture-of-experts methods/, 2],
    ['a MoE method in --compare', () => ['--compare', 'wanda,easy-ep'], /give it alone as --method easy-ep/, 2],
  ];
  for (const [what, args, message, code] of cases) {
    it(what, async () => {
      await writeFile(join(dir, 'empty.txt'), '\n \n');
      const out = join(dir, 'never');
      const r = await run([...args(), ...fast, '--out', out]);
      expect(r.stderr).toMatch(message);
      expect(r.code).toBe(code);
      await expect(readdir(out)).rejects.toThrow();
    });
  }
});
