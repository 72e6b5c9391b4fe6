#!/usr/bin/env node
// Kernel benchmark: every kernel of @prune/core at a representative size on every backend
// that starts here (reference, tfjs-cpu, tfjs-wasm, gpujs-cpu, gpujs-webasm,
// gpujs-headlessgl), in one process. Each cell is the median of several timed runs after
// a warm-up run, measured through the public ops (so a kernel a backend leaves to the
// reference backend is timed with its copies in and out, as users get it) up to the result
// being read back to the host. Prints a table with each backend's speed-up over the
// reference backend and writes bench/results/kernels.json.
//
// Uses the built packages: run `pnpm run bench:kernels` (builds first) or
// `node bench/kernels.mjs` after `pnpm run build`. Options (environment):
//   BENCH_ROUNDS    timed runs per cell (default 5)
//   BENCH_BACKENDS  comma-separated backend names to run (default: all that start)
// gpujs-headlessgl needs the `gl` module built (.ci/setup-headlessgl.sh) and a display:
// run under `xvfb-run -a` to include it.
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as core from '../packages/core/dist/index.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 5));
const WANTED = ['reference', 'tfjs-cpu', 'tfjs-wasm', 'gpujs-cpu', 'gpujs-webasm', 'gpujs-headlessgl'];
const SELECTED = process.env.BENCH_BACKENDS ? process.env.BENCH_BACKENDS.split(',').map((s) => s.trim()) : WANTED;

/** Backend packages and the function each exports to register its backends. */
const PROVIDERS = [
  { pkg: '@prune/tfjs', module: '../packages/tfjs/dist/index.js', register: 'registerTfjsBackends' },
  { pkg: '@prune/gpujs', module: '../packages/gpujs/dist/index.js', register: 'registerGpujsBackends' },
];

const { randomNormal, randomUniform, tensor } = core;

/**
 * One benchmark case: `setup` creates the inputs on a backend (untimed), `run` calls the op
 * under test (timed together with reading every output back).
 */
const CASES = [
  { kernel: 'cast', size: 'float32→int32 [1024, 1024]', setup: (b) => [rn([1024, 1024], b)], run: ([x]) => core.cast(x, 'int32') },
  { kernel: 'unary', size: 'exp [1024, 1024]', setup: (b) => [rn([1024, 1024], b)], run: ([x]) => core.exp(x) },
  { kernel: 'binary', size: 'add [1024, 1024] + [1024]', setup: (b) => [rn([1024, 1024], b), rn([1024], b, 2)], run: ([x, y]) => core.add(x, y) },
  { kernel: 'compare', size: 'greater [1024, 1024] > [1024, 1]', setup: (b) => [rn([1024, 1024], b), rn([1024, 1], b, 2)], run: ([x, y]) => core.greater(x, y) },
  {
    kernel: 'where',
    size: 'where [1024, 1024]',
    setup: (b) => {
      const x = rn([1024, 1024], b);
      return [core.greater(x, 0), x, rn([1024, 1024], b, 2)];
    },
    run: ([c, x, y]) => core.where(c, x, y),
  },
  { kernel: 'reduce', size: 'sum over axis 1 of [1024, 1024]', setup: (b) => [rn([1024, 1024], b)], run: ([x]) => core.sum(x, { axis: 1 }) },
  { kernel: 'argReduce', size: 'argmax over axis 1 of [1024, 1024]', setup: (b) => [rn([1024, 1024], b)], run: ([x]) => core.argmax(x, { axis: 1 }) },
  { kernel: 'cumsum', size: 'axis 1 of [1024, 1024]', setup: (b) => [rn([1024, 1024], b)], run: ([x]) => core.cumsum(x, { axis: 1 }) },
  { kernel: 'matmul', size: '[256, 512] × [512, 256]', setup: (b) => [rn([256, 512], b), rn([512, 256], b, 2)], run: ([x, y]) => core.matmul(x, y) },
  { kernel: 'matmul', size: 'batched [8, 128, 128] × [8, 128, 128]ᵀ', setup: (b) => [rn([8, 128, 128], b), rn([8, 128, 128], b, 2)], run: ([x, y]) => core.matmul(x, y, { transposeB: true }) },
  { kernel: 'transpose', size: '[1024, 1024]', setup: (b) => [rn([1024, 1024], b)], run: ([x]) => core.transpose(x) },
  { kernel: 'reshape', size: '[1024, 1024] → [256, 4096]', setup: (b) => [rn([1024, 1024], b)], run: ([x]) => core.reshape(x, [256, 4096]) },
  { kernel: 'slice', size: '[512, 512] block of [1024, 1024]', setup: (b) => [rn([1024, 1024], b)], run: ([x]) => core.slice(x, [256, 256], [512, 512]) },
  { kernel: 'concat', size: '2 × [512, 1024] along axis 0', setup: (b) => [rn([512, 1024], b), rn([512, 1024], b, 2)], run: ([x, y]) => core.concat([x, y], 0) },
  {
    kernel: 'gather',
    size: '512 rows of [1024, 1024]',
    setup: (b) => [rn([1024, 1024], b), tensor(Int32Array.from({ length: 512 }, (_, i) => (i * 7) % 1024), [512], 'int32', { backend: b })],
    run: ([x, i]) => core.gather(x, i, 0),
  },
  {
    kernel: 'scatter',
    size: '512 rows into [1024, 1024]',
    setup: (b) => [rn([1024, 1024], b), tensor(Int32Array.from({ length: 512 }, (_, i) => i * 2), [512], 'int32', { backend: b }), rn([512, 1024], b, 2)],
    run: ([x, i, u]) => core.scatter(x, i, u, 0),
  },
  { kernel: 'softmax', size: 'last axis of [1024, 1024]', setup: (b) => [rn([1024, 1024], b)], run: ([x]) => core.softmax(x) },
  { kernel: 'topk', size: 'k = 32 per row of [256, 4096]', setup: (b) => [rn([256, 4096], b)], run: ([x]) => Object.values(core.topk(x, { k: 32 })) },
  { kernel: 'kthValue', size: 'k = 2048 per row of [256, 4096]', setup: (b) => [rn([256, 4096], b)], run: ([x]) => Object.values(core.kthValue(x, { k: 2048 })) },
  { kernel: 'argsort', size: 'rows of [256, 4096]', setup: (b) => [rn([256, 4096], b)], run: ([x]) => core.argsort(x) },
  { kernel: 'selectMask', size: 'k = 2048 per row of [256, 4096]', setup: (b) => [rn([256, 4096], b)], run: ([x]) => core.selectMask(x, { k: 2048 }) },
  { kernel: 'cholesky', size: '[256, 256] SPD', setup: (b) => [spd(256, b)], run: ([x]) => core.cholesky(x, { check: false }) },
  {
    kernel: 'triangularInverse',
    size: '[256, 256] lower',
    setup: (b) => [lowerTriangular(256, b)],
    run: ([x]) => core.triangularInverse(x, { lower: true }),
  },
  { kernel: 'cosineSimilarity', size: '[512, 256] vs [512, 256]', setup: (b) => [rn([512, 256], b), rn([512, 256], b, 2)], run: ([x, y]) => core.cosineSimilarity(x, y) },
];

/** Seeded standard-normal float32 tensor on backend `b`. */
function rn(shape, b, seed = 1) {
  return randomNormal(shape, { seed, backend: b });
}

/** A well-conditioned symmetric positive-definite n×n matrix, AᵀA/n + I, built on the host. */
function spd(n, b) {
  const a = randomNormal([n, n], { seed: 3 }).dataSync();
  const m = new Float32Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += a[k * n + i] * a[k * n + j];
      m[i * n + j] = m[j * n + i] = s / n + (i === j ? 1 : 0);
    }
  }
  return tensor(m, [n, n], 'float32', { backend: b });
}

/** A lower-triangular n×n matrix with a dominant diagonal (inverse stays bounded). */
function lowerTriangular(n, b) {
  const u = randomUniform([n, n], { seed: 4, min: -1, max: 1 }).dataSync();
  const m = new Float32Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) m[i * n + j] = i === j ? 2 + Math.abs(u[i * n + j]) : u[i * n + j] / n;
  return tensor(m, [n, n], 'float32', { backend: b });
}

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Runs `c` on `backend`: one warm-up, then ROUNDS timed runs; returns the median in ms. */
async function timeCase(c, backend) {
  const inputs = c.setup(backend);
  try {
    const once = async () => {
      const start = performance.now();
      const out = c.run(inputs);
      const outputs = Array.isArray(out) ? out : [out];
      for (const t of outputs) await t.data();
      const elapsed = performance.now() - start;
      core.dispose(outputs);
      return elapsed;
    };
    await once();
    const times = [];
    for (let r = 0; r < ROUNDS; r++) times.push(await once());
    return median(times);
  } finally {
    core.dispose(inputs);
  }
}

function formatMs(ms) {
  return ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2);
}

async function main() {
  const notes = [];
  for (const p of PROVIDERS) {
    try {
      const mod = await import(p.module);
      if (typeof mod[p.register] !== 'function') throw new Error(`${p.pkg} does not export ${p.register}()`);
      await mod[p.register]();
    } catch (error) {
      notes.push(`${p.pkg} not loaded: ${error.message.split('\n')[0]}`);
    }
  }

  const backends = [];
  const status = {};
  for (const name of WANTED.filter((n) => SELECTED.includes(n))) {
    try {
      const backend = await core.findBackend(name);
      const caps = core.backendCapabilities(backend);
      backends.push({ name, backend, native: new Set(caps.native) });
      status[name] = { available: true, native: caps.native, fallback: caps.fallback };
    } catch (error) {
      status[name] = { available: false, reason: error.message.split('\n')[0] };
    }
  }
  if (!backends.some((b) => b.name === 'reference')) throw new Error('the reference backend must be part of the run (it is the baseline)');

  const results = [];
  // Written after every case, so a long run on a busy machine leaves its finished rows.
  const save = (complete) => {
    const out = {
      benchmark: 'kernels',
      date: new Date().toISOString(),
      complete,
      machine: { cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, node: process.version, platform: `${process.platform}-${process.arch}`, loadAverage: os.loadavg().map((l) => Number(l.toFixed(2))) },
      rounds: ROUNDS,
      method: 'median of ROUNDS timed runs after one warm-up; each run calls the public op and reads every output back to the host',
      backends: status,
      notes,
      results,
    };
    mkdirSync(join(HERE, 'results'), { recursive: true });
    writeFileSync(join(HERE, 'results', 'kernels.json'), JSON.stringify(out, null, 2) + '\n');
  };
  for (const c of CASES) {
    const row = { kernel: c.kernel, size: c.size, backends: {} };
    for (const { name, backend, native } of backends) {
      try {
        const ms = await timeCase(c, backend);
        row.backends[name] = { medianMs: ms, native: native.has(c.kernel) };
      } catch (error) {
        row.backends[name] = { error: error.message.split('\n')[0], native: native.has(c.kernel) };
      }
    }
    const ref = row.backends.reference?.medianMs;
    for (const cell of Object.values(row.backends)) {
      if (cell.medianMs !== undefined && ref !== undefined) cell.speedupVsReference = ref / cell.medianMs;
    }
    results.push(row);
    save(false);
    process.stderr.write(`  ${c.kernel} ${c.size} done\n`);
  }

  // Table: one row per case, one column per backend: median ms and speed-up over reference.
  const names = backends.map((b) => b.name);
  const header = ['kernel', 'size', ...names];
  const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`];
  for (const row of results) {
    const cells = names.map((n) => {
      const cell = row.backends[n];
      if (cell.error) return `error: ${cell.error}`;
      const mark = cell.native ? '' : ' †';
      return n === 'reference' ? `${formatMs(cell.medianMs)} ms` : `${formatMs(cell.medianMs)} ms (${cell.speedupVsReference.toFixed(2)}×)${mark}`;
    });
    lines.push(`| ${row.kernel} | ${row.size} | ${cells.join(' | ')} |`);
  }
  console.log(`Kernel benchmark: median of ${ROUNDS} runs after one warm-up, ms per call including read-back; (n×) = speed-up over reference; † = kernel falls back to the reference implementation on that backend.\n`);
  console.log(lines.join('\n'));
  for (const [name, s] of Object.entries(status)) if (!s.available) console.log(`\n${name}: not available (${s.reason})`);
  for (const note of notes) console.log(`\n${note}`);

  save(true);
  console.log('\nwrote bench/results/kernels.json');
  for (const { backend } of backends) backend.destroy?.();
}

await main();
