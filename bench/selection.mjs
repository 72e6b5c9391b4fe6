#!/usr/bin/env node
// Selection benchmark: per-row 50% pruning masks of a 4096 × 11008 float32 score matrix
// (the shape of a LLaMA-7B MLP up/gate projection), computed
//   - with @prune/core's rowMask (and the bare selectMask kernel) on the reference backend:
//     a per-row selection, O(d) per row; and
//   - the way the Wanda reference (locuslab/wanda, lib/prune.py) does it in PyTorch:
//     torch.sort(W_metric, dim=-1, stable=True), take the first half of the indices of each
//     row and scatter them into a mask — run in the same script with Debian's python3-torch
//     on 2 threads.
// Both sides read the same scores (written once to a temporary .f32 file), the masks are
// checked to be identical, and each side reports the median of several timed runs after a
// warm-up run. Prints a table and writes bench/results/selection.json.
//
// Uses the built package: `npx tsc -p packages/core/tsconfig.build.json && node bench/selection.mjs`.
// Needs /usr/bin/python3 with torch and numpy (Debian: apt-get install python3-torch).
// Options (environment):
//   BENCH_ROUNDS   timed runs per method (default 5, at least 5 are used for the table)
//   BENCH_ROWS, BENCH_COLS  matrix shape (default 4096 × 11008)
//   BENCH_SPARSITY fraction pruned per row (default 0.5)
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as core from '../packages/core/dist/index.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROUNDS = Math.max(5, Number(process.env.BENCH_ROUNDS ?? 5));
const ROWS = Number(process.env.BENCH_ROWS ?? 4096);
const COLS = Number(process.env.BENCH_COLS ?? 11008);
const SPARSITY = Number(process.env.BENCH_SPARSITY ?? 0.5);
const PYTHON = '/usr/bin/python3';
const THREADS = 2;

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/**
 * Wanda-style scores S_ij = |W_ij| · sqrt(s_j): W normal, the column statistic s_j spread
 * over two orders of magnitude as activation norms are. A few exact ties are planted
 * (repeated values within rows) so tie-breaking is exercised by the mask comparison.
 */
function makeScores(rows, cols, seed) {
  const rng = new core.Random(seed);
  const colScale = new Float32Array(cols);
  for (let j = 0; j < cols; j++) colScale[j] = Math.sqrt(10 ** (2 * rng.uniform() - 1));
  const s = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    const o = i * cols;
    for (let j = 0; j < cols; j++) s[o + j] = Math.abs(rng.normal()) * colScale[j];
    for (let t = 0; t < 8; t++) s[o + rng.int(cols)] = s[o + rng.int(cols)];
  }
  return s;
}

// The Wanda reference's unstructured per-row mask, verbatim in its operations
// (lib/prune.py, prune_wanda): W_mask is True where a weight is pruned.
const PY = String.raw`
import json, sys, time
import numpy as np
import torch
path, rows, cols, sparsity, rounds, threads, mask_path = sys.argv[1:8]
rows, cols, rounds, threads, sparsity = int(rows), int(cols), int(rounds), int(threads), float(sparsity)
torch.set_num_threads(threads)
W_metric = torch.from_numpy(np.fromfile(path, dtype=np.float32).reshape(rows, cols))

def wanda_mask():
    W_mask = (torch.zeros_like(W_metric) == 1)
    sort_res = torch.sort(W_metric, dim=-1, stable=True)
    indices = sort_res[1][:, :int(W_metric.shape[1] * sparsity)]
    W_mask.scatter_(1, indices, True)
    return W_mask

mask = wanda_mask()  # warm-up
times = []
cpu = []
for _ in range(rounds):
    c0 = time.process_time()
    t0 = time.perf_counter()
    mask = wanda_mask()
    times.append((time.perf_counter() - t0) * 1000)
    cpu.append((time.process_time() - c0) * 1000)
mask.numpy().astype(np.uint8).tofile(mask_path)
print(json.dumps({"times_ms": times, "cpu_ms": cpu, "torch": torch.__version__, "numpy": np.__version__, "threads": torch.get_num_threads()}))
`;

function runTorch(scoresPath, maskPath) {
  const r = spawnSync(PYTHON, ['-c', PY, scoresPath, String(ROWS), String(COLS), String(SPARSITY), String(ROUNDS), String(THREADS), maskPath], {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
    env: { ...process.env, OMP_NUM_THREADS: String(THREADS), MKL_NUM_THREADS: String(THREADS) },
  });
  if (r.status !== 0) {
    throw new Error(`${PYTHON} failed (status ${r.status}); install Debian's python3-torch (apt-get install -y python3-torch).\n${r.stderr}`);
  }
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

function timeJs(fn) {
  core.dispose(fn()); // warm-up (JIT)
  const times = [];
  const cpu = [];
  let last;
  for (let i = 0; i < ROUNDS; i++) {
    core.dispose(last);
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    last = fn();
    last.dataSync(); // include reading the result back, as the PyTorch side has it in memory
    times.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  return { times, cpu, last };
}

function main() {
  const tmp = join(HERE, 'results', 'tmp');
  mkdirSync(tmp, { recursive: true });
  const scoresPath = join(tmp, `selection-scores-${process.pid}.f32`);
  const maskPath = join(tmp, `selection-torch-mask-${process.pid}.u8`);
  try {
    console.log(`scores: ${ROWS} × ${COLS} float32, sparsity ${SPARSITY} per row, ${ROUNDS} timed runs per method`);
    const scores = makeScores(ROWS, COLS, 0);
    writeFileSync(scoresPath, new Uint8Array(scores.buffer, scores.byteOffset, scores.byteLength));

    console.log(`running the Wanda reference (torch.sort, ${THREADS} threads)…`);
    const torchRun = runTorch(scoresPath, maskPath);
    const torchPrune = new Uint8Array(readFileSync(maskPath));

    const backend = core.referenceBackend;
    const x = core.fromArray(scores, [ROWS, COLS], 'float32', { backend });
    const k = Math.floor(COLS * SPARSITY);
    console.log('running @prune/core on the reference backend…');
    const rowMaskRun = timeJs(() => core.rowMask(x, { sparsity: SPARSITY }));
    const selectRun = timeJs(() => core.selectMask(x, { k, largest: false }));

    // Identical masks: our KEEP mask is the complement of the reference's prune mask, and
    // selectMask marks exactly the reference's pruned entries.
    const keep = rowMaskRun.last.dataSync();
    const pruned = selectRun.last.dataSync();
    let keepMismatches = 0;
    let pruneMismatches = 0;
    for (let i = 0; i < torchPrune.length; i++) {
      if (keep[i] === torchPrune[i]) keepMismatches++;
      if (pruned[i] !== torchPrune[i]) pruneMismatches++;
    }
    const identical = torchPrune.length === keep.length && keepMismatches === 0 && pruneMismatches === 0;

    const torchMs = median(torchRun.times_ms);
    const torchCpuMs = median(torchRun.cpu_ms);
    const methods = [
      { method: `PyTorch ${torchRun.torch} torch.sort(stable) + scatter (Wanda reference, ${torchRun.threads} threads)`, runsMs: torchRun.times_ms, cpuMs: torchRun.cpu_ms },
      { method: '@prune/core rowMask (reference backend: NaN check + selectMask + logicalNot)', runsMs: rowMaskRun.times, cpuMs: rowMaskRun.cpu },
      { method: '@prune/core selectMask kernel (reference backend)', runsMs: selectRun.times, cpuMs: selectRun.cpu },
    ].map((m) => ({
      ...m,
      medianMs: median(m.runsMs),
      medianCpuMs: median(m.cpuMs),
      speedupVsTorchSort: torchMs / median(m.runsMs),
      cpuSpeedupVsTorchSort: torchCpuMs / median(m.cpuMs),
    }));

    // Wall time is what a user waits for; CPU time (all threads) is shown too because the
    // machine may be shared, which inflates wall time unevenly between the two processes.
    const header = ['method', 'median wall ms', 'min–max wall ms', 'median CPU ms', 'speed-up (wall)', 'speed-up (CPU)'];
    const rows = methods.map((m) => [
      m.method,
      m.medianMs.toFixed(0),
      `${Math.min(...m.runsMs).toFixed(0)}–${Math.max(...m.runsMs).toFixed(0)}`,
      m.medianCpuMs.toFixed(0),
      `${m.speedupVsTorchSort.toFixed(1)}×`,
      `${m.cpuSpeedupVsTorchSort.toFixed(1)}×`,
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const line = (cells) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
    console.log('');
    console.log(line(header));
    console.log(`|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`);
    for (const r of rows) console.log(line(r));
    console.log('');
    console.log(`load average at the end: ${os.loadavg().map((l) => l.toFixed(1)).join(' ')} on ${os.cpus().length} CPUs`);
    console.log(`masks identical to the reference: ${identical ? 'yes' : `NO (rowMask ${keepMismatches}, selectMask ${pruneMismatches} entries differ)`}`);

    const result = {
      benchmark: 'per-row selection mask',
      shape: [ROWS, COLS],
      sparsity: SPARSITY,
      prunedPerRow: k,
      rounds: ROUNDS,
      masksIdentical: identical,
      methods,
      goal: 'rowMask at least 5× faster than the torch.sort approach',
      goalMet: methods[1].speedupVsTorchSort >= 5,
      machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, loadAverage: os.loadavg(), node: process.version, platform: `${os.platform()} ${os.release()}` },
      python: { torch: torchRun.torch, numpy: torchRun.numpy, threads: torchRun.threads },
      command: 'npx tsc -p packages/core/tsconfig.build.json && node bench/selection.mjs',
      date: new Date().toISOString(),
    };
    mkdirSync(join(HERE, 'results'), { recursive: true });
    writeFileSync(join(HERE, 'results', 'selection.json'), `${JSON.stringify(result, null, 2)}\n`);
    console.log('wrote bench/results/selection.json');
    if (!identical) process.exitCode = 1;
  } finally {
    rmSync(scoresPath, { force: true });
    rmSync(maskPath, { force: true });
  }
}

main();
