// k-means at scale: @prune/data's kmeans (Lloyd iterations with Hamerly bounds), miniBatchKmeans
// and hierarchical balanced curation on N × D float32 embeddings (a seeded Gaussian mixture),
// against scikit-learn's KMeans (lloyd) and MiniBatchKMeans on the same data, same k, same
// iterations / steps, in the same run. Every variant runs in its own process (one thread:
// OMP/OPENBLAS_NUM_THREADS=1 for scikit-learn) so its peak RSS is its own.
//
// Usage: node bench/data-kmeans.mjs [--n 1000000] [--dim 128] [--k 100] [--iterations 20]
//        [--batch 1024] [--rounds 1]
// Round r uses seed r on both sides (k-means++ and mini-batches draw differently in each
// library, so one seed's inertia is partly luck); times are medians, inertias means over rounds.
// Needs Debian's python3-sklearn (/usr/bin/python3). Writes bench/results/data-kmeans.json
// (1 000 000 rows) or data-kmeans-<n/1000>k.json.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, writeSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const { values: args } = parseArgs({
  options: {
    n: { type: 'string', default: '1000000' },
    dim: { type: 'string', default: '128' },
    k: { type: 'string', default: '100' },
    iterations: { type: 'string', default: '20' },
    batch: { type: 'string', default: '1024' },
    rounds: { type: 'string', default: '1' },
    worker: { type: 'string' },
    seed: { type: 'string', default: '0' },
    file: { type: 'string' },
  },
});
const N = Number(args.n);
const DIM = Number(args.dim);
const K = Number(args.k);
const ITER = Number(args.iterations);
const BATCH = Number(args.batch);
// One pass over the data in mini-batches, as scikit-learn's MiniBatchKMeans(max_iter=1) does.
const STEPS = Math.floor(N / BATCH);

// ---- worker: one JS variant in this process ---------------------------------------------------
if (args.worker) {
  const { kmeans, miniBatchKmeans, balancedCuration, hierarchicalKmeans, balancedSample } = await import('../packages/data/dist/index.js');
  const bytes = readFileSync(args.file);
  const data = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
  const e = { data, count: N, dim: DIM };
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  let r;
  if (args.worker === 'lloyd') {
    const res = kmeans(e, { k: K, maxIterations: ITER, seed: Number(args.seed) });
    r = { inertia: res.inertia, iterations: res.iterations };
  } else if (args.worker === 'minibatch') {
    const res = miniBatchKmeans(e, { k: K, batchSize: BATCH, steps: STEPS, seed: Number(args.seed) });
    r = { inertia: res.inertia, iterations: res.iterations };
  } else {
    // Balanced curation to 30 %: two levels (k, k/10), mini-batch k-means on the rows, 2
    // resampling steps of 1 mini-batch pass each on the union of per-cluster samples.
    const tree = hierarchicalKmeans(e, { levels: [K, Math.max(2, K / 10)], miniBatch: { batchSize: BATCH, steps: STEPS }, resamplingSteps: 2, resampleSize: 200, iterations: ITER, seed: 0 });
    const kept = balancedSample(tree, e, { size: Math.round(0.3 * N), seed: 0 });
    r = { kept: kept.length };
    void balancedCuration;
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(c0);
  process.stdout.write(JSON.stringify({ ...r, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, peakRssMB: process.resourceUsage().maxRSS / 1024 }));
  process.exit(0);
}

// ---- data -------------------------------------------------------------------------------------
const { Random } = await import('../packages/core/dist/index.js');
const file = join(os.tmpdir(), `prune-data-kmeans-${N}x${DIM}-k${K}.f32`);
if (!existsSync(file)) {
  // A mixture of 2k Gaussians with random centres and unequal weights (embeddings cluster, but
  // not into exactly k groups), written in chunks so generation needs little memory.
  const rng = new Random(12345);
  const M = 2 * K;
  const centres = Float32Array.from({ length: M * DIM }, () => 4 * rng.normal());
  const weights = Array.from({ length: M }, () => 0.2 + rng.uniform());
  const total = weights.reduce((a, b) => a + b, 0);
  const cdf = [];
  weights.reduce((acc, w, i) => (cdf[i] = acc + w / total), 0);
  const fd = openSync(file, 'w');
  const CH = 8192;
  const chunk = new Float32Array(CH * DIM);
  for (let s = 0; s < N; s += CH) {
    const n = Math.min(CH, N - s);
    for (let i = 0; i < n; i++) {
      const u = rng.uniform();
      let c = cdf.findIndex((v) => u < v);
      if (c < 0) c = M - 1;
      for (let t = 0; t < DIM; t++) chunk[i * DIM + t] = centres[c * DIM + t] + rng.normal();
    }
    writeSync(fd, new Uint8Array(chunk.buffer, 0, n * DIM * 4));
  }
  closeSync(fd);
}

const python = `
import json, resource, sys, time
import numpy as np
from threadpoolctl import threadpool_limits
from sklearn.cluster import KMeans, MiniBatchKMeans
kind, path, n, d, k, iters, batch, seed = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:9])
X = np.fromfile(path, dtype=np.float32).reshape(n, d)
with threadpool_limits(limits=1):
    t0 = time.perf_counter()
    c0 = time.process_time()
    if kind == 'lloyd':
        m = KMeans(n_clusters=k, init='k-means++', n_init=1, max_iter=iters, tol=0.0, algorithm='lloyd', random_state=seed).fit(X)
        out = {'inertia': float(m.inertia_), 'iterations': int(m.n_iter_)}
    else:
        m = MiniBatchKMeans(n_clusters=k, batch_size=batch, max_iter=1, n_init=1, tol=0.0, max_no_improvement=None, reassignment_ratio=0.0, random_state=seed).fit(X)
        out = {'inertia': float(m.inertia_), 'iterations': int(m.n_steps_)}
    out['seconds'] = time.perf_counter() - t0
    out['cpuSeconds'] = time.process_time() - c0
out['peakRssMB'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
`;

const env = { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1', MKL_NUM_THREADS: '1' };
function runJs(kind, seed = 0) {
  const r = spawnSync(process.execPath, ['--max-old-space-size=4096', fileURLToPath(import.meta.url), '--worker', kind, '--seed', String(seed), '--file', file, '--n', String(N), '--dim', String(DIM), '--k', String(K), '--iterations', String(ITER), '--batch', String(BATCH)], { encoding: 'utf8', env, maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`JS ${kind} failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}
function runSklearn(kind, seed = 0) {
  const r = spawnSync('/usr/bin/python3', ['-c', python, kind, file, String(N), String(DIM), String(K), String(ITER), String(BATCH), String(seed)], { encoding: 'utf8', env, maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`scikit-learn ${kind} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

const loadavgAtStart = os.loadavg();
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const rows = [];
const rounds = Number(args.rounds);
for (const kind of ['lloyd', 'minibatch']) {
  const js = [];
  const sk = [];
  for (let r = 0; r < rounds; r++) {
    // Interleaved, so a change in machine load hits both.
    js.push(runJs(kind, r));
    sk.push(runSklearn(kind, r));
    console.error(kind, 'round', r, JSON.stringify(js.at(-1)), JSON.stringify(sk.at(-1)));
  }
  rows.push({
    variant: kind,
    prune: { ...js[0], inertia: mean(js.map((x) => x.inertia)), seconds: median(js.map((x) => x.seconds)), cpuSeconds: median(js.map((x) => x.cpuSeconds)), peakRssMB: Math.max(...js.map((x) => x.peakRssMB)), runs: js },
    sklearn: { ...sk[0], inertia: mean(sk.map((x) => x.inertia)), seconds: median(sk.map((x) => x.seconds)), cpuSeconds: median(sk.map((x) => x.cpuSeconds)), peakRssMB: Math.max(...sk.map((x) => x.peakRssMB)), runs: sk },
  });
}
const curation = runJs('curation');
console.error('curation', JSON.stringify(curation));

const results = {
  bench: 'data-kmeans',
  date: new Date().toISOString(),
  machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version, loadavgAtStart, loadavgAtEnd: os.loadavg() },
  setup: { n: N, dim: DIM, k: K, iterations: ITER, batch: BATCH, miniBatchSteps: STEPS, rounds, threads: 1, data: `Gaussian mixture of ${2 * K} components, seed 12345` },
  rows: rows.map((r) => ({ ...r, timeRatio: r.prune.seconds / r.sklearn.seconds, cpuTimeRatio: r.prune.cpuSeconds / r.sklearn.cpuSeconds, inertiaRatio: r.prune.inertia / r.sklearn.inertia })),
  curation,
};
mkdirSync(join(here, 'results'), { recursive: true });
// 1 000 000 rows (the default) → data-kmeans.json; other sizes → data-kmeans-<n/1000>k.json
const outName = N === 1000000 ? 'data-kmeans.json' : `data-kmeans-${N / 1000}k.json`;
writeFileSync(join(here, 'results', outName), `${JSON.stringify(results, null, 2)}\n`);

console.log(`\n${N} × ${DIM} float32, k = ${K}, one thread each; Lloyd: ${ITER} iterations max; mini-batch: ${STEPS} steps of ${BATCH}; ${rounds} round(s) (seeds 0..${rounds - 1}); load average ${loadavgAtStart.map((x) => x.toFixed(1)).join(' ')} at start, ${results.machine.loadavgAtEnd.map((x) => x.toFixed(1)).join(' ')} at end\n`);
console.log('| variant | @prune/data CPU (wall) | scikit-learn CPU (wall) | CPU-time ratio prune / sklearn (wall) | inertia ratio | iterations prune / sklearn | peak RSS prune / sklearn |');
console.log('|---|---|---|---|---|---|---|');
for (const r of results.rows) {
  console.log(`| ${r.variant === 'lloyd' ? 'k-means (Lloyd)' : 'mini-batch k-means'} | ${r.prune.cpuSeconds.toFixed(1)} s (${r.prune.seconds.toFixed(1)} s) | ${r.sklearn.cpuSeconds.toFixed(1)} s (${r.sklearn.seconds.toFixed(1)} s) | ${r.cpuTimeRatio.toFixed(2)} (${r.timeRatio.toFixed(2)}) | ${r.inertiaRatio.toFixed(4)} | ${r.prune.runs.map((x) => x.iterations).join(',')} / ${r.sklearn.runs.map((x) => x.iterations).join(',')} | ${r.prune.peakRssMB.toFixed(0)} / ${r.sklearn.peakRssMB.toFixed(0)} MB |`);
}
console.log(`| hierarchical balanced curation to 30 % (levels ${K}, ${Math.max(2, K / 10)}; mini-batch; 2 resampling steps) | ${curation.cpuSeconds.toFixed(1)} s (${curation.seconds.toFixed(1)} s) | — | — | — | — | ${curation.peakRssMB.toFixed(0)} MB |`);
