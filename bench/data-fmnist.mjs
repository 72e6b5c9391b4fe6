// Data pruning on Fashion-MNIST: test accuracy of a small MLP (784-128-10, tfjs-wasm, one
// thread) trained on 30/50/70 % of a training subset chosen by random, EL2N, forgetting, CCS
// and balanced k-means curation, each without and with knowledge distillation from a teacher
// trained on the whole subset; an α sweep for random selection; a heavy-tailed, duplicate-heavy
// version of the data (balanced curation vs random: class/cluster balance and accuracy); and
// dynamic re-curation vs static curation vs full data at the same number of optimizer steps.
//
// Usage: node bench/data-fmnist.mjs [--train 3000] [--test 2000] [--epochs 6] [--teacher-epochs 15] [--seed 0]
// Writes bench/results/data-fmnist.json after every finished run (a partial run keeps its rows).
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Random } from '../packages/core/dist/index.js';
import {
  DynamicCurator,
  TrainingDynamicsRecorder,
  balancedCuration,
  ccsSelect,
  defaultKdAlpha,
  el2nScores,
  embeddingMatrix,
  forgettingScores,
  kmeans,
  randomScores,
  selectByScore,
} from '../packages/data/dist/index.js';
import { kdLoss } from '../packages/data/dist/tfjs/index.js';
import { createTfjsBackend } from '../packages/tfjs/dist/index.js';
import { loadFashionMnist } from '../packages/zoo/dist/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const requireFromData = createRequire(join(here, '..', 'packages', 'data', 'package.json'));
const tf = await import(pathToFileURL(requireFromData.resolve('@tensorflow/tfjs-core')).href);
// tfjs-layers registers tfjs' gradient kernels (tfjs-core alone has none).
await import(pathToFileURL(requireFromData.resolve('@tensorflow/tfjs-layers')).href);

const { values: args } = parseArgs({
  options: {
    train: { type: 'string', default: '3000' },
    test: { type: 'string', default: '2000' },
    epochs: { type: 'string', default: '6' },
    'teacher-epochs': { type: 'string', default: '15' },
    seed: { type: 'string', default: '0' },
    hidden: { type: 'string', default: '128' },
  },
});
const N = Number(args.train);
const NTEST = Number(args.test);
const EPOCHS = Number(args.epochs);
const TEACHER_EPOCHS = Number(args['teacher-epochs']);
const SEED = Number(args.seed);
const H = Number(args.hidden);
const B = 128;
const C = 10;
const D = 784;
const TAU = 4;
const FRACTIONS = [0.3, 0.5, 0.7];
const ALPHAS = [0.25, 0.5, 0.75, 1];

await createTfjsBackend({ backend: 'wasm' });
const started = Date.now();
const out = join(here, 'results', 'data-fmnist.json');
mkdirSync(dirname(out), { recursive: true });
const results = {
  bench: 'data-fmnist',
  date: new Date().toISOString(),
  machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version, loadavg: os.loadavg() },
  setup: { train: N, test: NTEST, epochs: EPOCHS, teacherEpochs: TEACHER_EPOCHS, hidden: H, batch: B, temperature: TAU, seed: SEED, backend: tf.getBackend() },
  teacher: {},
  pruning: [],
  alphaSweep: [],
  heavyTailed: {},
  dynamic: [],
};
const save = () => {
  results.seconds = (Date.now() - started) / 1000;
  writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
};
const log = (...a) => console.error(`[${((Date.now() - started) / 1000).toFixed(0)}s]`, ...a);

const trainSet = await loadFashionMnist('train', { limit: N });
const testSet = await loadFashionMnist('test', { limit: NTEST });
const Xtest = tf.tensor2d(testSet.images, [NTEST, D]);
const Ytest = Int32Array.from(testSet.labels);

/** An MLP 784-H-10 as plain variables; `hidden` is the 128-d embedding the curation uses. */
function createMlp(seed) {
  return {
    W1: tf.variable(tf.randomNormal([D, H], 0, Math.sqrt(2 / D), 'float32', seed)),
    b1: tf.variable(tf.zeros([H])),
    W2: tf.variable(tf.randomNormal([H, C], 0, Math.sqrt(1 / H), 'float32', seed + 1)),
    b2: tf.variable(tf.zeros([C])),
  };
}
const hidden = (m, x) => tf.relu(tf.add(tf.matMul(x, m.W1), m.b1));
const logitsOf = (m, x) => tf.add(tf.matMul(hidden(m, x), m.W2), m.b2);
const disposeMlp = (m) => Object.values(m).forEach((v) => v.dispose());

function gatherRows(images, rows) {
  const data = new Float32Array(rows.length * D);
  rows.forEach((r, i) => data.set(images.subarray(r * D, (r + 1) * D), i * D));
  return data;
}

/** Runs `fn(model, x)` over `images` in chunks and returns the concatenated float32 output. */
function mapRows(m, images, count, width, fn) {
  const outv = new Float32Array(count * width);
  for (let s = 0; s < count; s += 1000) {
    const n = Math.min(1000, count - s);
    const v = tf.tidy(() => fn(m, tf.tensor2d(images.subarray(s * D, (s + n) * D), [n, D])).dataSync());
    outv.set(v, s * width);
  }
  return outv;
}

function accuracy(m) {
  const z = tf.tidy(() => logitsOf(m, Xtest).dataSync());
  let ok = 0;
  for (let i = 0; i < NTEST; i++) {
    let best = 0;
    for (let j = 1; j < C; j++) if (z[i * C + j] > z[i * C + best]) best = j;
    if (best === Ytest[i]) ok++;
  }
  return ok / NTEST;
}

/**
 * Trains an MLP with Adam on `images`/`labels` rows given per epoch by `rowsFor(epoch, model)`,
 * for `steps` optimizer steps in all (or `epochs` passes when steps is not given). With a
 * teacher's logits, the loss is kdLoss with α; else cross-entropy (α = 0). The recorder, when
 * given, sees every batch's logits.
 */
async function train({ images, labels, rowsFor, epochs, steps, teacherLogits, alpha = 0, seed, recorder }) {
  const m = createMlp(seed);
  const opt = tf.train.adam(1e-3);
  const rng = new Random(seed);
  let done = 0;
  let recordMs = 0;
  const t0 = performance.now();
  for (let epoch = 0; steps !== undefined ? done < steps : epoch < epochs; epoch++) {
    const rows = Int32Array.from(await rowsFor(epoch, m));
    rng.shuffle(rows);
    for (let s = 0; s < rows.length; s += B) {
      if (steps !== undefined && done >= steps) break;
      const idx = rows.subarray(s, Math.min(rows.length, s + B));
      const xb = tf.tensor2d(gatherRows(images, idx), [idx.length, D]);
      const yLabels = Int32Array.from(idx, (r) => labels[r]);
      const yb = tf.tensor1d(yLabels, 'int32');
      const tb = teacherLogits ? tf.tensor2d(Float32Array.from({ length: idx.length * C }, (_, k) => teacherLogits[idx[Math.floor(k / C)] * C + (k % C)]), [idx.length, C]) : tf.zeros([idx.length, C]);
      let z;
      opt.minimize(() => {
        const logits = logitsOf(m, xb);
        if (recorder) z = tf.keep(logits);
        return kdLoss(logits, tb, yb, { alpha, temperature: TAU });
      });
      if (recorder) {
        const r0 = performance.now();
        recorder.record(idx, yLabels, z.dataSync());
        recordMs += performance.now() - r0;
        z.dispose();
      }
      tf.dispose([xb, yb, tb]);
      done++;
    }
    recorder?.endEpoch();
  }
  opt.dispose();
  return { model: m, steps: done, seconds: (performance.now() - t0) / 1000, recordSeconds: recordMs / 1000 };
}

const allRows = Int32Array.from({ length: N }, (_, i) => i);
const labels = trainSet.labels;

// ---- teacher on all data, with the training-dynamics recorder (forgetting) -----------------
log(`teacher: ${N} examples, ${TEACHER_EPOCHS} epochs`);
const recorder = new TrainingDynamicsRecorder({ count: N, numClasses: C });
const teacherRun = await train({ images: trainSet.images, labels, rowsFor: () => allRows, epochs: TEACHER_EPOCHS, seed: SEED + 1000, recorder });
const teacher = teacherRun.model;
const teacherLogits = mapRows(teacher, trainSet.images, N, C, logitsOf);
const embeddings = embeddingMatrix(mapRows(teacher, trainSet.images, N, H, hidden), H);
results.teacher = { accuracy: accuracy(teacher), seconds: teacherRun.seconds, recordSeconds: teacherRun.recordSeconds, steps: teacherRun.steps };
// Recorder overhead: 2 epochs with and without it (same seed, back to back).
{
  let withRec = 0;
  let without = 0;
  for (let r = 0; r < 1; r++) {
    const a = await train({ images: trainSet.images, labels, rowsFor: () => allRows, epochs: 2, seed: SEED + 1100, recorder: new TrainingDynamicsRecorder({ count: N, numClasses: C }) });
    const b = await train({ images: trainSet.images, labels, rowsFor: () => allRows, epochs: 2, seed: SEED + 1100 });
    withRec += a.seconds;
    without += b.seconds;
    disposeMlp(a.model);
    disposeMlp(b.model);
  }
  results.teacher.overheadRun = { epochs: 2, repeats: 1, secondsWithRecorder: withRec, secondsWithoutRecorder: without };
  results.teacher.recorderOverhead = withRec / without - 1;
}
log('teacher', results.teacher);
save();

// ---- scores ---------------------------------------------------------------------------------
// EL2N: probabilities after 2 epochs, averaged over 3 runs (Paul et al.'s early-training score).
const el2nRuns = [];
for (let r = 0; r < 3; r++) {
  const run = await train({ images: trainSet.images, labels, rowsFor: () => allRows, epochs: 2, seed: SEED + 2000 + r });
  el2nRuns.push(mapRows(run.model, trainSet.images, N, C, (m, x) => tf.softmax(logitsOf(m, x))));
  disposeMlp(run.model);
}
const el2n = el2nScores({ probabilities: el2nRuns, labels, numClasses: C });
const forgetting = forgettingScores(recorder.trace());
results.scores = {
  forgettingNeverLearned: forgetting.filter((v) => v === TEACHER_EPOCHS).length,
  forgettingMean: forgetting.reduce((a, b) => a + b, 0) / N,
  el2nMean: el2n.reduce((a, b) => a + b, 0) / N,
};
log('scores', results.scores);

const selectors = {
  random: (f) => selectByScore(randomScores(N, SEED + 7), { keep: f }),
  el2n: (f) => selectByScore(el2n, { keep: f }),
  forgetting: (f) => selectByScore(forgetting, { keep: f }),
  ccs: (f) => ccsSelect(el2n, { keep: f, hardPruneFraction: 0.1, seed: SEED }),
  'kmeans-balanced': (f) => balancedCuration(embeddings, { keep: f, seed: SEED, iterations: 30, resamplingSteps: 3 }),
};

// ---- pruning × KD -----------------------------------------------------------------------------
for (const f of FRACTIONS) {
  for (const [method, select] of Object.entries(selectors)) {
    const rows = select(f);
    const row = { method, fraction: f, kept: rows.length };
    for (const kd of [false, true]) {
      const alpha = kd ? defaultKdAlpha(f) : 0;
      const run = await train({ images: trainSet.images, labels, rowsFor: () => rows, epochs: EPOCHS, teacherLogits: kd ? teacherLogits : undefined, alpha, seed: SEED + 3000 });
      row[kd ? 'kd' : 'plain'] = accuracy(run.model);
      row[kd ? 'alpha' : 'plainSteps'] = kd ? alpha : run.steps;
      disposeMlp(run.model);
    }
    results.pruning.push(row);
    log('pruning', row);
    save();
  }
}

// ---- α sweep (random selection) ---------------------------------------------------------------
for (const f of FRACTIONS) {
  const rows = selectors.random(f);
  for (const alpha of ALPHAS) {
    const run = await train({ images: trainSet.images, labels, rowsFor: () => rows, epochs: EPOCHS, teacherLogits, alpha, seed: SEED + 3000 });
    const row = { method: 'random', fraction: f, alpha, accuracy: accuracy(run.model) };
    disposeMlp(run.model);
    results.alphaSweep.push(row);
    log('alpha', row);
    save();
  }
}

// ---- heavy-tailed, duplicate-heavy data ---------------------------------------------------------
// Classes 0-2 are "head" classes: 300 unique images each, every one repeated 8× with small
// pixel noise. Classes 3-9 are a long tail with 40·(10 − c) unique images each.
const heavyRng = new Random(SEED + 5);
const byClass = Array.from({ length: C }, () => []);
for (let i = 0; i < N; i++) byClass[labels[i]].push(i);
const heavySource = [];
const heavyGroup = []; // which unique image each row copies
for (let c = 0; c < C; c++) {
  const unique = c < 3 ? 300 : 40 * (10 - c);
  const copies = c < 3 ? 8 : 1;
  for (const src of byClass[c].slice(0, unique)) for (let k = 0; k < copies; k++) {
    heavySource.push(src);
    heavyGroup.push(src);
  }
}
const HN = heavySource.length;
const heavyImages = new Float32Array(HN * D);
heavySource.forEach((src, i) => {
  for (let t = 0; t < D; t++) heavyImages[i * D + t] = Math.min(1, Math.max(0, trainSet.images[src * D + t] + 0.02 * heavyRng.normal()));
});
const heavyLabels = Uint8Array.from(heavySource, (s) => labels[s]);
const heavyEmbeddings = embeddingMatrix(mapRows(teacher, heavyImages, HN, H, hidden), H);
const heavyClusters = kmeans(heavyEmbeddings, { k: 50, seed: SEED });
function balanceOf(rows) {
  const perClass = new Array(C).fill(0);
  const perCluster = new Array(50).fill(0);
  for (const r of rows) {
    perClass[heavyLabels[r]]++;
    perCluster[heavyClusters.assignments[r]]++;
  }
  const entropy = (counts) => {
    const tot = counts.reduce((a, b) => a + b, 0);
    return -counts.reduce((s, c) => (c > 0 ? s + (c / tot) * Math.log(c / tot) : s), 0) / Math.log(counts.length);
  };
  return {
    perClass,
    classEntropy: entropy(perClass),
    clusterEntropy: entropy(perCluster),
    maxMinClassRatio: Math.max(...perClass) / Math.max(1, Math.min(...perClass)),
    uniqueImages: new Set(Array.from(rows, (r) => heavyGroup[r])).size,
  };
}
const HEAVY_KEEP = 0.3;
// Many leaf clusters (Vo et al. use far more clusters than classes) so near-duplicates share a leaf.
const HEAVY_LEVELS = [200, 20];
const heavySteps = Math.ceil((HEAVY_KEEP * HN) / B) * EPOCHS;
results.heavyTailed = { rows: HN, unique: new Set(heavyGroup).size, keep: HEAVY_KEEP, steps: heavySteps, full: balanceOf(Int32Array.from({ length: HN }, (_, i) => i)), runs: [] };
for (const method of ['random', 'kmeans-balanced']) {
  const rows =
    method === 'random'
      ? selectByScore(randomScores(HN, SEED + 9), { keep: HEAVY_KEEP })
      : balancedCuration(heavyEmbeddings, { keep: HEAVY_KEEP, levels: HEAVY_LEVELS, seed: SEED, iterations: 30, resamplingSteps: 3 });
  const run = await train({ images: heavyImages, labels: heavyLabels, rowsFor: () => rows, steps: heavySteps, seed: SEED + 4000 });
  const row = { method, kept: rows.length, accuracy: accuracy(run.model), ...balanceOf(rows) };
  disposeMlp(run.model);
  results.heavyTailed.runs.push(row);
  log('heavy', row);
  save();
}

// ---- dynamic re-curation vs static vs full (same optimizer steps, heavy-tailed data) ----------
const allHeavy = Int32Array.from({ length: HN }, (_, i) => i);
const staticRows = balancedCuration(heavyEmbeddings, { keep: HEAVY_KEEP, levels: HEAVY_LEVELS, seed: SEED, iterations: 30, resamplingSteps: 3 });
const DYN_STEPS = heavySteps * 2;
const variants = {
  full: () => () => allHeavy,
  'static (teacher embeddings)': () => () => staticRows,
  dynamic: () => {
    const curator = new DynamicCurator({ count: HN, keepFraction: HEAVY_KEEP, warmupEpochs: 1, period: 2, closestFraction: 0.5, levels: HEAVY_LEVELS, seed: SEED, clustering: { iterations: 20, resamplingSteps: 2 } });
    return (epoch, model) => curator.subsetFor(epoch, (idx) => mapRows(model, gatherRows(heavyImages, idx), idx.length, H, hidden));
  },
};
for (const [name, make] of Object.entries(variants)) {
  const run = await train({ images: heavyImages, labels: heavyLabels, rowsFor: make(), steps: DYN_STEPS, seed: SEED + 5000 });
  const row = { variant: name, steps: run.steps, seconds: run.seconds, accuracy: accuracy(run.model) };
  disposeMlp(run.model);
  results.dynamic.push(row);
  log('dynamic', row);
  save();
}

// ---- tables ---------------------------------------------------------------------------------
const pct = (v) => `${(100 * v).toFixed(1)}`;
console.log(`\nteacher (all ${N}): ${pct(results.teacher.accuracy)} % · recorder overhead ${(100 * results.teacher.recorderOverhead).toFixed(1)} % of training time (${results.teacher.recordSeconds.toFixed(2)} s in record())`);
console.log('\n| method | kept | 30 % | 30 % + KD | 50 % | 50 % + KD | 70 % | 70 % + KD |\n|---|---|---|---|---|---|---|---|');
for (const method of Object.keys(selectors)) {
  const cells = FRACTIONS.flatMap((f) => {
    const r = results.pruning.find((p) => p.method === method && p.fraction === f);
    return r ? [pct(r.plain), pct(r.kd)] : ['—', '—'];
  });
  console.log(`| ${method} | | ${cells.join(' | ')} |`);
}
console.log(`\n| kept | α = 0 | ${ALPHAS.join(' | ')} | default α |\n|---|---|${ALPHAS.map(() => '---|').join('')}---|`);
for (const f of FRACTIONS) {
  const base = results.pruning.find((p) => p.method === 'random' && p.fraction === f);
  const cells = ALPHAS.map((a) => pct(results.alphaSweep.find((r) => r.fraction === f && r.alpha === a)?.accuracy ?? Number.NaN));
  console.log(`| ${f * 100} % | ${pct(base.plain)} | ${cells.join(' | ')} | ${defaultKdAlpha(f)} |`);
}
console.log('\n| heavy-tailed, keep 30 % | accuracy | class entropy | cluster entropy | max/min class | unique images |\n|---|---|---|---|---|---|');
const ht = results.heavyTailed;
console.log(`| all ${ht.rows} rows (no training) | — | ${ht.full.classEntropy.toFixed(3)} | ${ht.full.clusterEntropy.toFixed(3)} | ${ht.full.maxMinClassRatio.toFixed(1)} | ${ht.full.uniqueImages} |`);
for (const r of ht.runs) console.log(`| ${r.method} (${r.kept}) | ${pct(r.accuracy)} | ${r.classEntropy.toFixed(3)} | ${r.clusterEntropy.toFixed(3)} | ${r.maxMinClassRatio.toFixed(1)} | ${r.uniqueImages} |`);
console.log('\n| heavy-tailed, same steps | steps | accuracy |\n|---|---|---|');
for (const r of results.dynamic) console.log(`| ${r.variant} | ${r.steps} | ${pct(r.accuracy)} |`);
save();
log(`wrote ${out}`);
process.exit(0);
