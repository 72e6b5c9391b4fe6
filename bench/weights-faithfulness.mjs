#!/usr/bin/env node
// Faithfulness benchmark: our Wanda and SparseGPT against the reference algorithms run in
// PyTorch, side by side on the same weights and the same calibration activations.
//
// 1. Loads the zoo language model (LLaMA-style, d = 192, SwiGLU 512, 4 blocks), draws
//    calibration windows from the zoo's shipped calibration text (all four sources, seeded,
//    `calibrationSamples`), runs them through the dense model block by block and records the
//    inputs of every linear layer of the selected blocks; writes those activations and the
//    layers' weights as raw little-endian float32 files plus a manifest.json to a temp folder.
// 2. Runs bench/reference/weights_ref.py on that folder with Debian's PyTorch: the reference
//    statistics (Wanda's scaler_row, SparseGPT's H), Wanda masks (torch.sort / topk / the
//    α-variant bisection, from packages/weights/test/reference/wanda_ref.py) and SparseGPT's
//    fasterprune (packages/weights/test/reference/sparsegpt_ref.py).
// 3. Runs @prune/weights on the same files (reference backend) and compares: mask
//    mismatches (entries whose keep/prune decision differs) and, for SparseGPT, the largest
//    absolute difference of the pruned weights. Each comparison is made twice: with each side
//    accumulating its own statistic from the activations ("own statistics", the end-to-end
//    result) and with ours fed the reference's statistic ("shared statistic", the selection /
//    reconstruction step alone).
// Prints a table and writes bench/results/weights-faithfulness.json.
//
// Uses the built packages:
//   TURBO_TELEMETRY_DISABLED=1 npx turbo run build --filter=@prune/cli...
//   OPENBLAS_NUM_THREADS=2 node bench/weights-faithfulness.mjs
// Needs /usr/bin/python3 with torch and numpy (Debian: apt-get install python3-torch).
// Options (environment):
//   BENCH_MODEL     model folder (default packages/zoo/weights/lm when it holds
//                   model.safetensors, else /tmp/lm-quick)
//   BENCH_BLOCKS    comma-separated block indices (default 0,2)
//   BENCH_NSAMPLES  calibration samples (default 16); BENCH_SEQLEN tokens each (default 128)
//   BENCH_SEED      calibration seed (default 0)
//   BENCH_KEEP_DUMP keep the temp folder (its path is printed)
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as core from '../packages/core/dist/index.js';
import * as pw from '../packages/weights/dist/index.js';
import * as zoo from '../packages/zoo/dist/index.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..');
export const PYTHON = '/usr/bin/python3';
export const REFERENCE_SCRIPT = join(HERE, 'reference', 'weights_ref.py');

/** The model folder the benches use: the committed zoo LM when present, else the quick stand-in. */
export function defaultModelFolder() {
  if (process.env.BENCH_MODEL) return process.env.BENCH_MODEL;
  const shipped = join(ROOT, 'packages', 'zoo', 'weights', 'lm');
  return existsSync(join(shipped, 'model.safetensors')) ? shipped : '/tmp/lm-quick';
}

/** Environment for the Python child: two BLAS / OpenMP threads, as torch.set_num_threads(2). */
export function pythonEnv() {
  return { ...process.env, OPENBLAS_NUM_THREADS: '2', OMP_NUM_THREADS: '2' };
}

/** Runs the reference script; throws with its stderr when it fails. */
export function runReference(args, options = {}) {
  const r = spawnSync(PYTHON, [REFERENCE_SCRIPT, ...args], { encoding: 'utf8', env: pythonEnv(), maxBuffer: 1 << 28, ...options });
  if (r.status !== 0) throw new Error(`${PYTHON} ${REFERENCE_SCRIPT} ${args.join(' ')} failed (${r.status}):\n${r.stderr}`);
  return r.stdout;
}

/**
 * A pruned tensor's values in host memory, as the reference leaves its own: the reference
 * backend keeps tensors there already (reading them is free), other backends download.
 */
export function onHost(t) {
  return t.backend === core.referenceBackend ? t.ref().handle : t.dataSync();
}

/** [wall seconds, process CPU seconds] of fn(). */
export function timed(fn) {
  const t = performance.now();
  const c = process.cpuUsage();
  fn();
  const u = process.cpuUsage(c);
  return [(performance.now() - t) / 1000, (u.user + u.system) / 1e6];
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function readF32(path) {
  const b = readFileSync(path);
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4).slice();
}

function readU8(path) {
  return new Uint8Array(readFileSync(path));
}

function writeF32(path, data) {
  writeFileSync(path, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
}

/**
 * Dumps the inputs of every linear layer of `blocks` (dense model, calibration windows drawn
 * with `calibrationSamples` from the four shipped calibration texts) and the layers' weights
 * to `dir`, with a manifest.json describing them. Returns the manifest.
 */
export async function dumpLanguageModel(dir, { folder, blocks, nsamples, seqlen, seed }) {
  mkdirSync(dir, { recursive: true });
  const { model, tokenizer, config } = await zoo.loadLanguageModelFolder(folder);
  try {
    const texts = await Promise.all(zoo.TEXT_SOURCES.map((s) => zoo.loadText(s, 'calib')));
    const tokens = zoo.tokenizeAll(tokenizer, texts);
    const wanted = new Set(blocks);
    const layers = [];
    const buffers = new Map();
    for (const [b, block] of model.blocks().entries()) {
      if (!wanted.has(b)) continue;
      for (const layer of block.layers) {
        const [rows, cols] = layer.shape;
        const index = layers.length;
        layers.push({ name: layer.name, block: b, rows, cols, samples: nsamples, tokens: seqlen, weight: `L${index}.weight.f32`, inputs: `L${index}.inputs.f32` });
        buffers.set(layer.name, new Float32Array(nsamples * seqlen * cols));
      }
    }
    const last = Math.max(...blocks);
    let s = 0;
    for (const ids of zoo.calibrationSamples(tokens, { nsamples, seqlen, seed })) {
      let x = model.runner.embed(ids);
      ids.dispose();
      for (let b = 0; b <= last; b++) {
        const observe = wanted.has(b)
          ? (name, input) => {
              const buf = buffers.get(name);
              const data = input.dataSync();
              if (data.length !== seqlen * (buf.length / (nsamples * seqlen))) throw new Error(`${name}: unexpected input size ${data.length}`);
              buf.set(data, s * data.length);
            }
          : undefined;
        const y = model.runner.runBlock(b, x, observe);
        x.dispose();
        x = y;
      }
      x.dispose();
      s++;
    }
    if (s !== nsamples) throw new Error(`only ${s} calibration samples were drawn`);
    for (const layer of layers) {
      const w = await model.readWeight(layer.name);
      writeF32(join(dir, layer.weight), w.dataSync());
      w.dispose();
      writeF32(join(dir, layer.inputs), buffers.get(layer.name));
    }
    const checkpoint = readFileSync(join(folder, 'model.safetensors'));
    const manifest = {
      model: { folder, sha256: createHash('sha256').update(checkpoint).digest('hex'), config },
      calibration: { data: `zoo calib split: ${zoo.TEXT_SOURCES.join(', ')}`, nsamples, seqlen, seed, activations: 'dense model (no propagation of pruned outputs): both sides see identical inputs' },
      layers,
    };
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest, null, 1));
    return manifest;
  } finally {
    model.dispose();
  }
}

/** The layer's weight and its calibration batches `[1, tokens, cols]` as tensors on `backend`. */
export function loadLayerTensors(dir, layer, backend) {
  const w = readF32(join(dir, layer.weight));
  const x = readF32(join(dir, layer.inputs));
  const per = layer.tokens * layer.cols;
  const weight = core.fromArray(w, [layer.rows, layer.cols], 'float32', { backend });
  const batches = Array.from({ length: layer.samples }, (_, s) => core.fromArray(x.subarray(s * per, (s + 1) * per), [1, layer.tokens, layer.cols], 'float32', { backend }));
  return { weight, batches };
}

/** Largest accepted max |ΔW| of SparseGPT, relative to the layer's largest reference weight. */
const SPARSEGPT_TOLERANCE = 1e-4;

const WANDA = [
  { id: 'wanda-50', pattern: '50%', target: { kind: 'unstructured', sparsity: 0.5 } },
  { id: 'wanda-2:4', pattern: '2:4', target: { kind: 'nm', prune: 2, group: 4 } },
  { id: 'wanda-4:8', pattern: '4:8', target: { kind: 'nm', prune: 4, group: 8 } },
  { id: 'wanda-variant-50', pattern: '50% α-variant', target: { kind: 'unstructured', sparsity: 0.5 }, variant: true },
];
const SPARSEGPT = [
  { id: 'sparsegpt-50', pattern: '50%', target: { kind: 'unstructured', sparsity: 0.5 } },
  { id: 'sparsegpt-2:4', pattern: '2:4', target: { kind: 'nm', prune: 2, group: 4 } },
];

function mismatches(keep, refKeep) {
  let n = 0;
  for (let i = 0; i < keep.length; i++) if ((keep[i] ? 1 : 0) !== refKeep[i]) n++;
  return n;
}

function maxAbsDiff(a, b) {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function maxAbs(a) {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** Our Wanda mask (and α for the variant) from a column statistic. */
function oursWanda(weight, stat, run) {
  return core.tidy(() => {
    const scores = pw.wandaScore(weight, stat);
    if (run.variant) {
      const r = pw.wandaVariantMask(scores, { sparsity: run.target.sparsity });
      return { keep: r.mask.dataSync().slice(), alpha: r.alpha, achieved: r.sparsity };
    }
    return { keep: pw.wandaMask(scores, run.target).dataSync().slice() };
  });
}

function oursSparseGPT(weight, hessian, run) {
  const r = pw.sparsegptPrune(weight, hessian, run.target, { blockSize: 128, percdamp: 0.01 });
  const out = { keep: r.mask.dataSync().slice(), weight: r.weight.dataSync().slice() };
  core.dispose([r.mask, r.weight]);
  return out;
}

function pad(s, n, right = false) {
  s = String(s);
  return right ? s.padStart(n) : s.padEnd(n);
}

async function main() {
  const folder = defaultModelFolder();
  const blocks = (process.env.BENCH_BLOCKS ?? '0,2').split(',').map(Number);
  const nsamples = Number(process.env.BENCH_NSAMPLES ?? 16);
  const seqlen = Number(process.env.BENCH_SEQLEN ?? 128);
  const seed = Number(process.env.BENCH_SEED ?? 0);
  const dir = mkdtempSync(join(os.tmpdir(), 'prune-faithfulness-'));
  try {
    console.log(`model ${folder}; blocks ${blocks.join(', ')}; ${nsamples} samples × ${seqlen} tokens, seed ${seed}; dump in ${dir}`);
    const manifest = await dumpLanguageModel(dir, { folder, blocks, nsamples, seqlen, seed });
    const refDir = join(dir, 'reference');
    const t0 = performance.now();
    runReference(['prune', dir, refDir], { stdio: ['ignore', 'pipe', 'inherit'] });
    console.log(`reference run: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const ref = JSON.parse(readFileSync(join(refDir, 'results.json'), 'utf8'));

    const rows = [];
    const statistics = [];
    for (const [li, layer] of manifest.layers.entries()) {
      const refLayer = ref.layers[li];
      if (refLayer.name !== layer.name) throw new Error(`layer order differs: ${refLayer.name} vs ${layer.name}`);
      const { weight, batches } = loadLayerTensors(dir, layer, core.getBackend());
      const colNorm = new core.ColumnNormAccumulator(layer.cols);
      const hess = new core.HessianAccumulator(layer.cols);
      for (const x of batches) {
        colNorm.update(x);
        hess.update(x);
      }
      core.dispose(batches);
      const sOurs = colNorm.value();
      const hOurs = hess.value();
      colNorm.dispose();
      hess.dispose();
      const sRefData = readF32(join(refDir, refLayer.scalerRow));
      const hRefData = readF32(join(refDir, refLayer.hessian));
      const sRef = core.fromArray(sRefData, [layer.cols], 'float32');
      const hRef = core.fromArray(hRefData, [layer.cols, layer.cols], 'float32');
      const sOursData = sOurs.dataSync();
      let sRel = 0;
      for (let j = 0; j < layer.cols; j++) if (sRefData[j] > 0) sRel = Math.max(sRel, Math.abs(sOursData[j] - sRefData[j]) / sRefData[j]);
      statistics.push({
        layer: layer.name,
        scalerRowMaxRelDiff: sRel,
        hessianMaxAbsDiff: maxAbsDiff(hOurs.dataSync(), hRefData),
        hessianMaxAbs: maxAbs(hRefData),
      });
      const refRuns = new Map(refLayer.runs.map((r) => [r.id, r]));
      for (const run of WANDA) {
        const refRun = refRuns.get(run.id);
        const refKeep = readU8(join(refDir, refRun.keep));
        const own = oursWanda(weight, sOurs, run);
        const shared = oursWanda(weight, sRef, run);
        const row = {
          layer: layer.name,
          method: 'wanda',
          pattern: run.pattern,
          weights: refKeep.length,
          maskMismatches: mismatches(own.keep, refKeep),
          maskMismatchesSharedStatistic: mismatches(shared.keep, refKeep),
        };
        if (run.variant) Object.assign(row, { alpha: own.alpha, alphaShared: shared.alpha, alphaReference: refRun.alpha, achieved: own.achieved, achievedReference: refRun.achieved });
        rows.push(row);
      }
      for (const run of SPARSEGPT) {
        const refRun = refRuns.get(run.id);
        const refKeep = readU8(join(refDir, refRun.keep));
        const refW = readF32(join(refDir, refRun.weight));
        const own = oursSparseGPT(weight, hOurs, run);
        const shared = oursSparseGPT(weight, hRef, run);
        const scale = maxAbs(refW);
        rows.push({
          layer: layer.name,
          method: 'sparsegpt',
          pattern: run.pattern,
          weights: refKeep.length,
          maskMismatches: mismatches(own.keep, refKeep),
          maskMismatchesSharedStatistic: mismatches(shared.keep, refKeep),
          maxAbsDiff: maxAbsDiff(own.weight, refW),
          maxAbsDiffSharedStatistic: maxAbsDiff(shared.weight, refW),
          maxAbsWeight: scale,
          maxRelDiff: maxAbsDiff(own.weight, refW) / scale,
          maxRelDiffSharedStatistic: maxAbsDiff(shared.weight, refW) / scale,
        });
      }
      core.dispose([weight, sOurs, hOurs, sRef, hRef]);
    }

    // Table.
    const head = ['layer', 'method', 'pattern', 'mask mismatches (own stats)', '(shared stat)', 'max |ΔW| (own)', '(shared)', 'max |ΔW|/max |W|'];
    const w = [34, 10, 14, 28, 14, 15, 10, 16];
    console.log('\n' + head.map((h, i) => pad(h, w[i], i >= 3)).join(' '));
    for (const r of rows) {
      const cells = [
        r.layer.replace('model.layers.', 'L'),
        r.method,
        r.pattern,
        `${r.maskMismatches} / ${r.weights}`,
        r.maskMismatchesSharedStatistic,
        r.maxAbsDiff === undefined ? '—' : r.maxAbsDiff.toExponential(2),
        r.maxAbsDiffSharedStatistic === undefined ? '—' : r.maxAbsDiffSharedStatistic.toExponential(2),
        r.maxRelDiff === undefined ? (r.alpha !== undefined ? `α ${+r.alpha.toFixed(6)} / ${+r.alphaReference.toFixed(6)}` : '—') : r.maxRelDiff.toExponential(2),
      ];
      console.log(cells.map((c, i) => pad(c, w[i], i >= 3)).join(' '));
    }
    const summary = {};
    for (const r of rows) {
      const key = `${r.method} ${r.pattern}`;
      const s = (summary[key] ??= { layers: 0, weights: 0, maskMismatches: 0, maskMismatchesSharedStatistic: 0, maxAbsDiff: 0, maxRelDiff: 0, maxAbsDiffSharedStatistic: 0, maxRelDiffSharedStatistic: 0 });
      s.layers++;
      s.weights += r.weights;
      s.maskMismatches += r.maskMismatches;
      s.maskMismatchesSharedStatistic += r.maskMismatchesSharedStatistic;
      if (r.maxAbsDiff !== undefined) {
        s.maxAbsDiff = Math.max(s.maxAbsDiff, r.maxAbsDiff);
        s.maxRelDiff = Math.max(s.maxRelDiff, r.maxRelDiff);
        s.maxAbsDiffSharedStatistic = Math.max(s.maxAbsDiffSharedStatistic, r.maxAbsDiffSharedStatistic);
        s.maxRelDiffSharedStatistic = Math.max(s.maxRelDiffSharedStatistic, r.maxRelDiffSharedStatistic);
      }
    }
    console.log('\nsummary over layers:');
    for (const [k, s] of Object.entries(summary)) {
      const extra = k.startsWith('sparsegpt') ? `, max |ΔW| ${s.maxAbsDiff.toExponential(2)} (rel ${s.maxRelDiff.toExponential(2)}), shared H: ${s.maxAbsDiffSharedStatistic.toExponential(2)}` : '';
      console.log(`  ${pad(k, 24)} ${s.layers} layers, ${s.weights} weights: ${s.maskMismatches} mask mismatches (shared statistic: ${s.maskMismatchesSharedStatistic})${extra}`);
    }
    const maxStat = statistics.reduce((m, s) => ({ s: Math.max(m.s, s.scalerRowMaxRelDiff), h: Math.max(m.h, s.hessianMaxAbsDiff / s.hessianMaxAbs) }), { s: 0, h: 0 });
    console.log(`statistics: scaler_row max rel diff ${maxStat.s.toExponential(2)}, H max |ΔH|/max|H| ${maxStat.h.toExponential(2)}`);

    // Pass criteria: every Wanda mask identical (and the variant's α equal); SparseGPT masks
    // identical and every pruned weight within SPARSEGPT_TOLERANCE·max|W| of the reference's
    // (both sides run float32: the Hessian, its factor and the sequential column updates
    // round differently; 1e-4 is about 840 float32 ulps of the largest weight).
    const failures = [];
    for (const r of rows) {
      const where = `${r.layer} ${r.method} ${r.pattern}`;
      if (r.maskMismatches !== 0) failures.push(`${where}: ${r.maskMismatches} mask mismatches`);
      if (r.alpha !== undefined && r.alpha !== r.alphaReference) failures.push(`${where}: alpha ${r.alpha} vs ${r.alphaReference}`);
      if (r.maxRelDiff !== undefined && !(r.maxRelDiff <= SPARSEGPT_TOLERANCE)) failures.push(`${where}: max |ΔW|/max|W| ${r.maxRelDiff}`);
    }
    console.log(failures.length === 0 ? `PASS: Wanda masks identical; SparseGPT masks identical, |ΔW| ≤ ${SPARSEGPT_TOLERANCE}·max|W|` : `FAIL:\n  ${failures.join('\n  ')}`);
    const out = {
      bench: 'weights-faithfulness',
      pass: failures.length === 0,
      failures,
      criteria: { wanda: 'mask mismatches = 0 (and the α-variant stops at the same α)', sparsegpt: `mask mismatches = 0 and max |ΔW| ≤ ${SPARSEGPT_TOLERANCE}·max|W_reference| per layer` },
      command: 'OPENBLAS_NUM_THREADS=2 node bench/weights-faithfulness.mjs',
      date: new Date().toISOString(),
      machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version },
      reference: { python: PYTHON, torch: ref.torch, threads: ref.threads, scripts: ['bench/reference/weights_ref.py', 'packages/weights/test/reference/wanda_ref.py', 'packages/weights/test/reference/sparsegpt_ref.py'] },
      backend: core.getBackend().name,
      model: { ...manifest.model, folder: relative(ROOT, manifest.model.folder) || manifest.model.folder },
      calibration: manifest.calibration,
      blocks,
      sparsegpt: { blockSize: 128, percdamp: 0.01 },
      statistics,
      summary,
      rows,
    };
    mkdirSync(join(HERE, 'results'), { recursive: true });
    writeFileSync(join(HERE, 'results', 'weights-faithfulness.json'), JSON.stringify(out, null, 1) + '\n');
    console.log('\nwrote bench/results/weights-faithfulness.json');
    if (failures.length > 0) process.exitCode = 1;
  } finally {
    if (process.env.BENCH_KEEP_DUMP) console.log(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
