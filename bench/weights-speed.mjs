#!/usr/bin/env node
// Speed benchmark: Wanda and SparseGPT per layer and per model, ours (@prune/weights on the
// reference backend and on tfjs-wasm) against the reference algorithms in PyTorch, in the
// same run on the same inputs.
//
// Inputs: the zoo language model's 28 linear layers (4 blocks × q, k, v, o, gate, up, down)
// with their calibration inputs (16 windows × 128 tokens of the zoo calibration text, dense
// model), dumped once as raw float32 files (see bench/weights-faithfulness.mjs); plus one
// synthetic LLM-scale layer (default W 4096 × 4096, 2048 tokens of activations as 16
// sequences of 128, a few outlier input features), so the ratio at scale shows.
//
// Each layer is timed as the pipeline runs it: the statistic (Wanda: column norms;
// SparseGPT: the Hessian H = (2/N)·XᵀX) accumulated over the 16 batches, then the pruning
// (Wanda: score, per-row 50% mask, apply; SparseGPT: fasterprune at 50%), up to the pruned
// weight and the mask being on the host. The reference side is bench/reference/weights_ref.py
// (`time` mode): the `scaler_row` accumulation and torch.sort-based mask of locuslab/wanda
// (packages/weights/test/reference/wanda_ref.py) and IST-DASLab/sparsegpt's add_batch +
// fasterprune (sparsegpt_ref.py), Debian's PyTorch on 2 threads. Rounds are interleaved
// (ours on each backend, then the reference, then again), so a change of machine load
// hits both sides; each cell is the median over rounds. A whole-model time is the sum of a
// round's 28 layers (statistics + pruning), median over rounds. Wall time and process CPU
// time (all threads) are both recorded; the table's ratios use wall time.
//
// Uses the built packages:
//   TURBO_TELEMETRY_DISABLED=1 npx turbo run build --filter=@prune/cli...
//   OPENBLAS_NUM_THREADS=2 node bench/weights-speed.mjs
// Options (environment):
//   BENCH_ROUNDS        timed rounds for the zoo LM (default 3)
//   BENCH_LARGE         synthetic layer ROWSxCOLSxTOKENS (default 4096x4096x2048; 0 = skip)
//   BENCH_LARGE_ROUNDS  timed rounds for it (default 3)
//   BENCH_BACKENDS      our backends (default reference,tfjs-wasm)
//   BENCH_LARGE_BACKENDS our backends for the synthetic layer (default: BENCH_BACKENDS)
//   BENCH_METHODS       methods to time (default wanda,sparsegpt; the goals need both)
//   BENCH_MODEL, BENCH_NSAMPLES, BENCH_SEQLEN, BENCH_SEED: as bench/weights-faithfulness.mjs
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as core from '../packages/core/dist/index.js';
import { registerTfjsBackends } from '../packages/tfjs/dist/index.js';
import * as pw from '../packages/weights/dist/index.js';
import { defaultModelFolder, dumpLanguageModel, loadLayerTensors, median, onHost, runReference, timed } from './weights-faithfulness.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const LARGE = process.env.BENCH_LARGE ?? '4096x4096x2048';
const LARGE_ROUNDS = Number(process.env.BENCH_LARGE_ROUNDS ?? 3);
const BACKENDS = (process.env.BENCH_BACKENDS ?? 'reference,tfjs-wasm').split(',').map((s) => s.trim());
const LARGE_BACKENDS = (process.env.BENCH_LARGE_BACKENDS ?? BACKENDS.join(',')).split(',').map((s) => s.trim());
const SPARSITY = 0.5;
const TARGET = { kind: 'unstructured', sparsity: SPARSITY };
const METHODS = (process.env.BENCH_METHODS ?? 'wanda,sparsegpt').split(',').map((s) => s.trim());

/** One layer with one method on our side: the statistic, then the pruning, each timed. */
function oursLayer(method, layer, tensors) {
  const { weight, batches } = tensors;
  let stat;
  const statistic = timed(() => {
    const acc = method === 'wanda' ? new core.ColumnNormAccumulator(layer.cols) : new core.HessianAccumulator(layer.cols);
    for (const x of batches) acc.update(x);
    stat = acc.value();
    acc.dispose();
    onHost(stat);
  });
  const prune = timed(() => {
    const r = method === 'wanda' ? pw.pruneWanda(weight, stat, TARGET) : pw.sparsegptPrune(weight, stat, TARGET, { blockSize: 128, percdamp: 0.01 });
    onHost(r.weight);
    onHost(r.mask);
    core.dispose([r.weight, r.mask]);
  });
  stat.dispose();
  return { statistic, prune };
}

/** Times every layer of `layers` once per method; returns per layer { method: { statistic, prune } }. */
function oursRound(layers, uploaded) {
  return layers.map((layer, i) => Object.fromEntries(METHODS.map((m) => [m, oursLayer(m, layer, uploaded[i])])));
}

/** One reference round over the dump: per layer { method: { statistic, prune } } with [wall, cpu] pairs. */
function referenceRound(dir, warmup) {
  const out = JSON.parse(runReference(['time', dir, '1', String(SPARSITY), warmup ? '1' : '0', METHODS.join(',')]));
  return {
    torch: out.torch,
    threads: out.threads,
    layers: out.layers.map((l) => Object.fromEntries(METHODS.map((m) => [m, { statistic: l[m].statistic[0], prune: l[m].prune[0] }]))),
  };
}

/** A synthetic layer: W normal, X normal with 1 in 64 input features scaled ×20 (activation outliers). */
function writeSyntheticLayer(dir, rows, cols, tokens) {
  mkdirSync(dir, { recursive: true });
  const seqlen = 128;
  if (tokens % seqlen !== 0) throw new Error(`BENCH_LARGE tokens must be a multiple of ${seqlen}`);
  const samples = tokens / seqlen;
  const w = core.randomNormal([rows, cols], { seed: 11 });
  const x = core.randomNormal([tokens, cols], { seed: 12 }).dataSync().slice();
  for (let t = 0; t < tokens; t++) for (let j = 0; j < cols; j += 64) x[t * cols + j] *= 20;
  writeFileSync(join(dir, 'L0.weight.f32'), Buffer.from(w.dataSync().buffer));
  writeFileSync(join(dir, 'L0.inputs.f32'), Buffer.from(x.buffer));
  w.dispose();
  const manifest = { layers: [{ name: `synthetic ${rows}×${cols}, ${tokens} tokens`, block: 0, rows, cols, samples, tokens: seqlen, weight: 'L0.weight.f32', inputs: 'L0.inputs.f32' }] };
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest, null, 1));
  return manifest;
}

/**
 * Runs `rounds` interleaved rounds over `layers` (ours on each backend, then the reference);
 * returns the raw per-round measurements.
 */
function interleaved(dir, layers, backends, rounds, { warmupOurs, warmupReference, label }) {
  const uploads = new Map();
  for (const { name, backend } of backends) uploads.set(name, layers.map((l) => loadLayerTensors(dir, l, backend)));
  if (warmupOurs) for (const { name } of backends) oursRound(layers, uploads.get(name));
  const raw = { ours: Object.fromEntries(backends.map((b) => [b.name, []])), reference: [] };
  let torchInfo;
  for (let r = 0; r < rounds; r++) {
    for (const { name } of backends) {
      raw.ours[name].push(oursRound(layers, uploads.get(name)));
      console.log(`  ${label} round ${r + 1}/${rounds}: ours on ${name} done`);
    }
    const ref = referenceRound(dir, warmupReference);
    torchInfo = { torch: ref.torch, threads: ref.threads };
    raw.reference.push(ref.layers);
    console.log(`  ${label} round ${r + 1}/${rounds}: reference done`);
  }
  for (const list of uploads.values()) for (const t of list) core.dispose([t.weight, ...t.batches]);
  return { raw, torchInfo };
}

/** Medians per layer, method and part, plus per-round model totals, for one implementation. */
function summarise(rounds, layers) {
  const perLayer = layers.map((layer, i) =>
    Object.fromEntries(
      METHODS.map((m) => {
        const part = (p, k) => median(rounds.map((round) => round[i][m][p][k]));
        const total = (k) => median(rounds.map((round) => round[i][m].statistic[k] + round[i][m].prune[k]));
        return [m, { statistic: part('statistic', 0), prune: part('prune', 0), total: total(0), cpu: { statistic: part('statistic', 1), prune: part('prune', 1), total: total(1) } }];
      }),
    ),
  );
  const model = Object.fromEntries(
    METHODS.map((m) => {
      const sum = (p, k) => median(rounds.map((round) => round.reduce((acc, l) => acc + (p === 'total' ? l[m].statistic[k] + l[m].prune[k] : l[m][p][k]), 0)));
      return [m, { statistic: sum('statistic', 0), prune: sum('prune', 0), total: sum('total', 0), cpu: { statistic: sum('statistic', 1), prune: sum('prune', 1), total: sum('total', 1) } }];
    }),
  );
  return { perLayer, model };
}

const fmt = (s) => (s >= 10 ? s.toFixed(1) : s >= 1 ? s.toFixed(2) : s >= 0.01 ? (s * 1000).toFixed(1) + ' ms' : (s * 1000).toFixed(2) + ' ms').replace(/^(\d+\.\d+)$/, '$1 s');
const ratio = (ref, ours) => `${(ref / ours).toFixed(2)}×`;

function printTable(title, rowsOut, backendNames) {
  console.log(`\n${title}`);
  const head = ['layer', 'method', 'reference (torch)', ...backendNames.flatMap((b) => [`ours ${b}`, 'speed-up'])];
  const widths = [34, 10, 18, ...backendNames.flatMap(() => [18, 9])];
  console.log(head.map((h, i) => (i < 2 ? h.padEnd(widths[i]) : h.padStart(widths[i]))).join(' '));
  for (const r of rowsOut) {
    const cells = [r.layer, r.method, fmt(r.reference), ...backendNames.flatMap((b) => (r.ours[b] === undefined ? ['—', '—'] : [fmt(r.ours[b]), ratio(r.reference, r.ours[b])]))];
    console.log(cells.map((c, i) => (i < 2 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join(' '));
  }
}

async function main() {
  registerTfjsBackends();
  const backends = [];
  for (const name of BACKENDS) backends.push({ name, backend: await core.findBackend(name) });
  const backendNames = backends.map((b) => b.name);
  const folder = defaultModelFolder();
  const nsamples = Number(process.env.BENCH_NSAMPLES ?? 16);
  const seqlen = Number(process.env.BENCH_SEQLEN ?? 128);
  const seed = Number(process.env.BENCH_SEED ?? 0);
  const dir = mkdtempSync(join(os.tmpdir(), 'prune-speed-'));
  try {
    console.log(`model ${folder}; all blocks; ${nsamples} samples × ${seqlen} tokens, seed ${seed}; ${ROUNDS} rounds; backends ${backendNames.join(', ')}`);
    const lmDir = join(dir, 'lm');
    const manifest = await dumpLanguageModel(lmDir, { folder, blocks: [0, 1, 2, 3], nsamples, seqlen, seed });
    const lm = interleaved(lmDir, manifest.layers, backends, ROUNDS, { warmupOurs: true, warmupReference: true, label: 'zoo LM' });
    const lmRef = summarise(lm.raw.reference, manifest.layers);
    const lmOurs = Object.fromEntries(backendNames.map((b) => [b, summarise(lm.raw.ours[b], manifest.layers)]));

    const tableRows = [];
    const layerRows = [];
    for (const [i, layer] of manifest.layers.entries()) {
      for (const m of METHODS) {
        const row = {
          layer: layer.name,
          shape: [layer.rows, layer.cols],
          method: m,
          reference: lmRef.perLayer[i][m],
          ours: Object.fromEntries(backendNames.map((b) => [b, lmOurs[b].perLayer[i][m]])),
        };
        row.speedup = Object.fromEntries(backendNames.map((b) => [b, row.reference.total / row.ours[b].total]));
        layerRows.push(row);
        if (layer.block === 0) tableRows.push({ layer: layer.name.replace('model.layers.', 'L'), method: m, reference: row.reference.total, ours: Object.fromEntries(backendNames.map((b) => [b, row.ours[b].total])) });
      }
    }
    const modelRows = METHODS.map((m) => ({
      method: m,
      reference: lmRef.model[m],
      ours: Object.fromEntries(backendNames.map((b) => [b, lmOurs[b].model[m]])),
      speedup: Object.fromEntries(backendNames.map((b) => [b, lmRef.model[m].total / lmOurs[b].model[m].total])),
      speedupCpu: Object.fromEntries(backendNames.map((b) => [b, lmRef.model[m].cpu.total / lmOurs[b].model[m].cpu.total])),
    }));
    for (const r of modelRows) tableRows.push({ layer: 'whole model (28 linears)', method: r.method, reference: r.reference.total, ours: Object.fromEntries(backendNames.map((b) => [b, r.ours[b].total])) });

    let large = null;
    if (LARGE !== '0') {
      const [rows, cols, tokens] = LARGE.split('x').map(Number);
      console.log(`synthetic layer ${rows}×${cols}, ${tokens} tokens; ${LARGE_ROUNDS} rounds`);
      const largeDir = join(dir, 'large');
      const lmf = writeSyntheticLayer(largeDir, rows, cols, tokens);
      const largeBackends = backends.filter((b) => LARGE_BACKENDS.includes(b.name));
      const largeNames = largeBackends.map((b) => b.name);
      const res = interleaved(largeDir, lmf.layers, largeBackends, LARGE_ROUNDS, { warmupOurs: false, warmupReference: false, label: 'large' });
      const ref = summarise(res.raw.reference, lmf.layers).perLayer[0];
      const ours = Object.fromEntries(largeNames.map((b) => [b, summarise(res.raw.ours[b], lmf.layers).perLayer[0]]));
      large = { rows, cols, tokens, rounds: LARGE_ROUNDS, backends: largeNames, methods: {} };
      for (const m of METHODS) {
        large.methods[m] = {
          reference: ref[m],
          ours: Object.fromEntries(largeNames.map((b) => [b, ours[b][m]])),
          speedup: Object.fromEntries(largeNames.map((b) => [b, ref[m].total / ours[b][m].total])),
          speedupCpu: Object.fromEntries(largeNames.map((b) => [b, ref[m].cpu.total / ours[b][m].cpu.total])),
        };
        tableRows.push({ layer: `synthetic ${rows}×${cols}, ${tokens} tok`, method: m, reference: ref[m].total, ours: Object.fromEntries(largeNames.map((b) => [b, ours[b][m].total])) });
      }
      large.raw = res.raw;
      large.torch = res.torchInfo;
    }

    printTable('wall time (statistic + pruning), median over rounds; speed-up = reference / ours:', tableRows, backendNames);
    console.log('\nparts (median wall; statistic | pruning):');
    const parts = [...modelRows.map((r) => ['whole model', r.method, r.reference, r.ours]), ...(large ? METHODS.map((m) => ['synthetic', m, large.methods[m].reference, large.methods[m].ours]) : [])];
    for (const [what, m, ref, ours] of parts) {
      console.log(`  ${what.padEnd(12)} ${m.padEnd(10)} reference ${fmt(ref.statistic)} | ${fmt(ref.prune)}; ` + Object.keys(ours).map((b) => `${b} ${fmt(ours[b].statistic)} | ${fmt(ours[b].prune)}`).join('; '));
    }
    const goalOf = (m) => {
      const row = modelRows.find((r) => r.method === m);
      if (row === undefined) return undefined;
      return Object.fromEntries(backendNames.map((b) => [b, { model: row.speedup[b], large: large?.methods[m]?.speedup[b] ?? null, modelCpu: row.speedupCpu[b], largeCpu: large?.methods[m]?.speedupCpu[b] ?? null }]));
    };
    const goals = Object.fromEntries(
      [
        ['wanda ≥ 5× faster than the reference', goalOf('wanda')],
        ['sparsegpt within 2× of the reference (speed-up ≥ 0.5)', goalOf('sparsegpt')],
      ].filter(([, v]) => v !== undefined),
    );
    console.log('\ngoals (speed-up, wall):');
    for (const [goal, byBackend] of Object.entries(goals)) {
      const need = goal.startsWith('wanda') ? 5 : 0.5;
      for (const [b, v] of Object.entries(byBackend)) {
        const verdict = (x) => (x === null || x === undefined ? '—' : `${x.toFixed(2)}× ${x >= need ? 'met' : 'MISSED'}`);
        console.log(`  ${goal} — ${b}: zoo LM ${verdict(v.model)}, synthetic ${verdict(v.large)} (CPU-time ratios: ${v.modelCpu.toFixed(2)}×, ${v.largeCpu === null || v.largeCpu === undefined ? '—' : v.largeCpu.toFixed(2) + '×'})`);
      }
    }
    const out = {
      bench: 'weights-speed',
      command: 'OPENBLAS_NUM_THREADS=2 node bench/weights-speed.mjs',
      date: new Date().toISOString(),
      machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version, loadavg: os.loadavg() },
      reference: { python: '/usr/bin/python3', ...lm.torchInfo, scripts: ['bench/reference/weights_ref.py', 'packages/weights/test/reference/wanda_ref.py', 'packages/weights/test/reference/sparsegpt_ref.py'] },
      backends: backendNames,
      target: TARGET,
      sparsegpt: { blockSize: 128, percdamp: 0.01 },
      timing: 'seconds; [statistic, prune, total] wall medians over rounds, cpu = process CPU time over all threads; rounds interleaved ours/reference',
      model: { ...manifest.model, folder: relative(ROOT, manifest.model.folder) || manifest.model.folder },
      calibration: manifest.calibration,
      rounds: ROUNDS,
      goals,
      wholeModel: modelRows,
      layers: layerRows,
      large,
      raw: lm.raw,
    };
    mkdirSync(join(HERE, 'results'), { recursive: true });
    const file = METHODS.length === 2 ? 'weights-speed.json' : `weights-speed-${METHODS.join('-')}.json`;
    writeFileSync(join(HERE, 'results', file), JSON.stringify(out, null, 1) + '\n');
    console.log(`\nwrote bench/results/${file}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
