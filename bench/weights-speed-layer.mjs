#!/usr/bin/env node
// One-layer speed check, ours against the PyTorch reference on the same synthetic layer (the
// large case of bench/weights-speed.mjs: W 4096 × 4096 normal, 2048 tokens of activations as
// 16 sequences of 128 with every 64th input feature ×20), for when the full bench is too slow
// for the machine. Rounds are interleaved (ours, then the reference); each cell is the median
// over rounds of wall and process CPU time (all threads) of the statistic plus the pruning, up
// to the pruned weight and mask being on the host.
//
//   pnpm run build && OPENBLAS_NUM_THREADS=2 node bench/weights-speed-layer.mjs
// Options (environment): LAYER (ROWSxCOLSxTOKENS, default 4096x4096x2048), ROUNDS (3),
// METHODS (wanda; add sparsegpt), BACKENDS (reference; e.g. reference,tfjs-wasm). Results go
// to bench/results/weights-speed-layer.json (Wanda) or weights-speed-layer-METHODS.json.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as core from '../packages/core/dist/index.js';
import { registerTfjsBackends } from '../packages/tfjs/dist/index.js';
import * as pw from '../packages/weights/dist/index.js';
import { loadLayerTensors, median, onHost, runReference, timed } from './weights-faithfulness.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const [ROWS, COLS, TOKENS] = (process.env.LAYER ?? '4096x4096x2048').split('x').map(Number);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const METHODS = (process.env.METHODS ?? 'wanda').split(',');
const BACKENDS = (process.env.BACKENDS ?? 'reference').split(',');
const TARGET = { kind: 'unstructured', sparsity: 0.5 };

function ours(method, layer, { weight, batches }) {
  return timed(() => {
    const acc = method === 'wanda' ? new core.ColumnNormAccumulator(layer.cols) : new core.HessianAccumulator(layer.cols);
    for (const x of batches) acc.update(x);
    const stat = acc.value();
    acc.dispose();
    const r = method === 'wanda' ? pw.pruneWanda(weight, stat, TARGET) : pw.sparsegptPrune(weight, stat, TARGET, { blockSize: 128, percdamp: 0.01 });
    onHost(r.weight);
    onHost(r.mask);
    core.dispose([r.weight, r.mask, stat]);
  });
}

registerTfjsBackends();
const dir = mkdtempSync(join(os.tmpdir(), 'prune-layer-'));
try {
  const seqlen = 128;
  const w = core.randomNormal([ROWS, COLS], { seed: 11 });
  const x = core.randomNormal([TOKENS, COLS], { seed: 12 }).dataSync().slice();
  for (let t = 0; t < TOKENS; t++) for (let j = 0; j < COLS; j += 64) x[t * COLS + j] *= 20;
  writeFileSync(join(dir, 'L0.weight.f32'), Buffer.from(w.dataSync().buffer));
  writeFileSync(join(dir, 'L0.inputs.f32'), Buffer.from(x.buffer));
  const layer = { name: `synthetic ${ROWS}×${COLS}, ${TOKENS} tokens`, block: 0, rows: ROWS, cols: COLS, samples: TOKENS / seqlen, tokens: seqlen, weight: 'L0.weight.f32', inputs: 'L0.inputs.f32' };
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ layers: [layer] }));
  const backends = [];
  for (const name of BACKENDS) backends.push({ name, tensors: loadLayerTensors(dir, layer, await core.findBackend(name)) });
  for (const b of backends) for (const m of METHODS) ours(m, layer, b.tensors); // warm-up
  const raw = { ours: Object.fromEntries(backends.map((b) => [b.name, Object.fromEntries(METHODS.map((m) => [m, []]))])), reference: Object.fromEntries(METHODS.map((m) => [m, []])) };
  let torch;
  for (let r = 0; r < ROUNDS; r++) {
    for (const b of backends) for (const m of METHODS) raw.ours[b.name][m].push(ours(m, layer, b.tensors));
    const ref = JSON.parse(runReference(['time', dir, '1', '0.5', r === 0 ? '1' : '0', METHODS.join(',')]));
    torch = { torch: ref.torch, threads: ref.threads };
    for (const m of METHODS) {
      const l = ref.layers[0][m];
      raw.reference[m].push([l.statistic[0][0] + l.prune[0][0], l.statistic[0][1] + l.prune[0][1]]);
    }
    console.log(`round ${r + 1}/${ROUNDS} done`);
  }
  const med = (list, k) => median(list.map((v) => v[k]));
  const rows = [];
  for (const m of METHODS) {
    const ref = { wall: med(raw.reference[m], 0), cpu: med(raw.reference[m], 1) };
    for (const b of backends) {
      const o = { wall: med(raw.ours[b.name][m], 0), cpu: med(raw.ours[b.name][m], 1) };
      rows.push({ method: m, backend: b.name, reference: ref, ours: o, speedupWall: ref.wall / o.wall, speedupCpu: ref.cpu / o.cpu });
    }
  }
  console.log(`\n${layer.name}; ${ROUNDS} interleaved rounds, medians; load average ${os.loadavg().map((v) => v.toFixed(1)).join(' ')}`);
  console.log('| method | ours on | reference wall | ours wall | speed-up (wall) | reference CPU | ours CPU | speed-up (CPU) |');
  console.log('|---|---|---|---|---|---|---|---|');
  const s = (v) => `${v.toFixed(3)} s`;
  for (const r of rows) console.log(`| ${r.method} | ${r.backend} | ${s(r.reference.wall)} | ${s(r.ours.wall)} | ${r.speedupWall.toFixed(2)}× | ${s(r.reference.cpu)} | ${s(r.ours.cpu)} | ${r.speedupCpu.toFixed(2)}× |`);
  mkdirSync(join(HERE, 'results'), { recursive: true });
  const out = { bench: 'weights-speed-layer', command: 'OPENBLAS_NUM_THREADS=2 node bench/weights-speed-layer.mjs', env: { LAYER: `${ROWS}x${COLS}x${TOKENS}`, ROUNDS, METHODS, BACKENDS }, date: new Date().toISOString(), machine: { cpus: os.cpus().length, node: process.version, loadavg: os.loadavg() }, reference: { python: '/usr/bin/python3', ...torch }, rows, raw };
  const file = `weights-speed-layer${METHODS.join(',') === 'wanda' ? '' : `-${METHODS.join('-')}`}.json`;
  writeFileSync(join(HERE, 'results', file), JSON.stringify(out, null, 1) + '\n');
  console.log(`\nwrote bench/results/${file}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
