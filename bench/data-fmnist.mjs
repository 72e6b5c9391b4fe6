// Data pruning on Fashion-MNIST: test accuracy of a small MLP (784-128-10, tfjs-wasm, one
// thread) trained on 30/50/70 % of a training pool chosen by random, EL2N, forgetting, CCS and
// balanced k-means curation, each without and with knowledge distillation from a teacher
// trained on all 60 000 training images; an α sweep for random selection and CCS; a
// heavy-tailed, duplicate-heavy version of the pool (balanced curation vs random: class/cluster
// balance and accuracy); and dynamic re-curation vs static curation vs full data at the same
// number of optimizer steps. Every cell runs with several seeds (selection seed and student
// initialisation change together; one teacher) and the tables print mean ± sd.
//
// Usage: node bench/data-fmnist.mjs [--pool 20000] [--test 10000] [--epochs 20]
//          [--teacher-train 60000] [--teacher-epochs 20] [--seeds 3] [--out data-fmnist.json]
//          [--fractions 0.3,0.5,0.7] [--methods random,el2n,forgetting,ccs,kmeans-balanced]
//          [--sections full,pruning,alpha,heavy,alpha-ccs] [--steps S]
// (--steps: every student trains for S optimizer steps instead of --epochs passes.)
// (heavy includes the dynamic re-curation runs; alpha needs pruning for its α = 0 column.)
// Writes bench/results/<out> after every finished cell (a partial run keeps its rows).
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
    pool: { type: 'string', default: '20000' },
    test: { type: 'string', default: '10000' },
    epochs: { type: 'string', default: '20' },
    'teacher-train': { type: 'string', default: '60000' },
    'teacher-epochs': { type: 'string', default: '20' },
    seeds: { type: 'string', default: '3' },
    hidden: { type: 'string', default: '128' },
    backend: { type: 'string', default: 'wasm' },
    out: { type: 'string', default: 'data-fmnist.json' },
    fractions: { type: 'string', default: '0.3,0.5,0.7' },
    methods: { type: 'string', default: 'random,el2n,forgetting,ccs,kmeans-balanced' },
    sections: { type: 'string', default: 'full,pruning,alpha,heavy,alpha-ccs' },
    steps: { type: 'string' },
  },
});
const N = Number(args.pool);
const NTEST = Number(args.test);
const EPOCHS = Number(args.epochs);
const NTEACHER = Number(args['teacher-train']);
const TEACHER_EPOCHS = Number(args['teacher-epochs']);
const SEEDS = Array.from({ length: Number(args.seeds) }, (_, s) => s);
const H = Number(args.hidden);
const B = 128;
const C = 10;
const D = 784;
const TAU = 4;
const FRACTIONS = args.fractions.split(',').map(Number);
const METHODS = args.methods.split(',');
const SECTIONS = new Set(args.sections.split(','));
const STUDENT_STEPS = args.steps === undefined ? undefined : Number(args.steps);
const ALPHAS = [0.25, 0.5, 0.75, 1];
if (N > NTEACHER) throw new Error(`--pool ${N} must not exceed --teacher-train ${NTEACHER} (the pool is the first rows of the teacher's data)`);

await createTfjsBackend({ backend: args.backend });
const started = Date.now();
const out = join(here, 'results', args.out);
mkdirSync(dirname(out), { recursive: true });
const results = {
  bench: 'data-fmnist',
  date: new Date().toISOString(),
  command: `node bench/data-fmnist.mjs ${process.argv.slice(2).join(' ')}`.trim(),
  machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version, loadavgAtStart: os.loadavg() },
  setup: { studentSteps: STUDENT_STEPS, fractions: FRACTIONS, methods: METHODS, sections: [...SECTIONS], pool: N, test: NTEST, epochs: EPOCHS, teacherTrain: NTEACHER, teacherEpochs: TEACHER_EPOCHS, seeds: SEEDS, hidden: H, batch: B, temperature: TAU, backend: tf.getBackend() },
  teacher: {},
  scores: [],
  pruning: [],
  alphaSweep: [],
  heavyTailed: {},
  dynamic: [],
};
const save = () => {
  results.seconds = (Date.now() - started) / 1000;
  results.machine.loadavgAtSave = os.loadavg();
  writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
};
const log = (...a) => console.error(`[${((Date.now() - started) / 1000).toFixed(0)}s]`, ...a);
const mean = (v) => v.reduce((a, b) => a + b, 0) / v.length;
const sd = (v) => (v.length < 2 ? 0 : Math.sqrt(v.reduce((s, x) => s + (x - mean(v)) ** 2, 0) / (v.length - 1)));
const summary = (v) => ({ mean: mean(v), sd: sd(v), n: v.length });

const trainSet = await loadFashionMnist('train', { limit: NTEACHER });
const testSet = await loadFashionMnist('test', { limit: NTEST });
const Xtest = tf.tensor2d(testSet.images, [NTEST, D]);
const Ytest = Int32Array.from(testSet.labels);

/** An MLP 784-H-10 as plain variables; its hidden layer is the embedding the curation uses. */
function createMlp(seed) {
  return {
    W1: tf.variable(tf.randomNormal([D, H], 0, Math.sqrt(2 / D), 'float32', seed)),
    b1: tf.variable(tf.zeros([H])),
    W2: tf.variable(tf.randomNormal([H, C], 0, Math.sqrt(1 / H), 'float32', seed + 1)),
    b2: tf.variable(tf.zeros([C])),
  };
}
/**
 * x·W + b with the gradient written as plain (untransposed) products. tfjs-wasm's matMul is
 * ~13× slower when either operand is transposed, and the stock gradient of x·W uses xᵀ·dy and
 * dy·Wᵀ through those flags; an explicit transpose (≈0.2 ms for a 128×784 batch) and a plain
 * product is the same math at a quarter of the step time. `x` needs a gradient only when it
 * is itself computed from variables (the hidden layer), not for the input images.
 */
function dense(x, W, b, inputNeedsGrad) {
  if (!inputNeedsGrad) {
    return tf.customGrad((w, bias, save) => {
      save([w]);
      return { value: tf.add(tf.matMul(x, w), bias), gradFunc: (dy) => [tf.matMul(tf.transpose(x), dy), tf.sum(dy, 0)] };
    })(W, b);
  }
  return tf.customGrad((input, w, bias, save) => {
    save([input, w]);
    return {
      value: tf.add(tf.matMul(input, w), bias),
      gradFunc: (dy, [xs, ws]) => [tf.matMul(dy, tf.transpose(ws)), tf.matMul(tf.transpose(xs), dy), tf.sum(dy, 0)],
    };
  })(x, W, b);
}
const hidden = (m, x) => tf.relu(dense(x, m.W1, m.b1, false));
const logitsOf = (m, x) => dense(hidden(m, x), m.W2, m.b2, true);
const disposeMlp = (m) => Object.values(m).forEach((v) => v.dispose());

function gatherRows(images, rows) {
  const data = new Float32Array(rows.length * D);
  rows.forEach((r, i) => data.set(images.subarray(r * D, (r + 1) * D), i * D));
  return data;
}

/** Runs `fn(model, x)` over the first `count` rows of `images` in chunks; returns the float32 output. */
function mapRows(m, images, count, width, fn) {
  const outv = new Float32Array(count * width);
  for (let s = 0; s < count; s += 2000) {
    const n = Math.min(2000, count - s);
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
 * teacher's logits (indexed by row), the loss is kdLoss with α; else cross-entropy (kdLoss
 * with α = 0). The recorder, when given, sees every batch's logits.
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
      const n = idx.length;
      const xb = tf.tensor2d(gatherRows(images, idx), [n, D]);
      const yLabels = Int32Array.from(idx, (r) => labels[r]);
      const yb = tf.tensor1d(yLabels, 'int32');
      let tb;
      if (teacherLogits) {
        const t = new Float32Array(n * C);
        idx.forEach((r, i) => t.set(teacherLogits.subarray(r * C, (r + 1) * C), i * C));
        tb = tf.tensor2d(t, [n, C]);
      } else tb = tf.zeros([n, C]);
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

const labelsAll = trainSet.labels;
const poolRows = Int32Array.from({ length: N }, (_, i) => i);
const poolLabels = labelsAll.subarray(0, N);

// ---- teacher on all training data, with the training-dynamics recorder (forgetting) --------
log(`teacher: ${NTEACHER} examples, ${TEACHER_EPOCHS} epochs`);
const recorder = new TrainingDynamicsRecorder({ count: NTEACHER, numClasses: C });
const allTeacherRows = Int32Array.from({ length: NTEACHER }, (_, i) => i);
const teacherRun = await train({ images: trainSet.images, labels: labelsAll, rowsFor: () => allTeacherRows, epochs: TEACHER_EPOCHS, seed: 1000, recorder });
const teacher = teacherRun.model;
const teacherLogits = mapRows(teacher, trainSet.images, N, C, logitsOf);
const embeddings = embeddingMatrix(mapRows(teacher, trainSet.images, N, H, hidden), H);
results.teacher = { accuracy: accuracy(teacher), trainedOn: NTEACHER, epochs: TEACHER_EPOCHS, seconds: teacherRun.seconds, recordSeconds: teacherRun.recordSeconds, steps: teacherRun.steps };
// Recorder overhead: one epoch over the pool with and without it, three interleaved pairs.
{
  const pairs = [];
  for (let r = 0; r < 3; r++) {
    const a = await train({ images: trainSet.images, labels: poolLabels, rowsFor: () => poolRows, epochs: 1, seed: 1100 + r, recorder: new TrainingDynamicsRecorder({ count: N, numClasses: C }) });
    const b = await train({ images: trainSet.images, labels: poolLabels, rowsFor: () => poolRows, epochs: 1, seed: 1100 + r });
    pairs.push({ withRecorder: a.seconds, without: b.seconds, inRecord: a.recordSeconds });
    disposeMlp(a.model);
    disposeMlp(b.model);
  }
  results.teacher.overheadPairs = pairs;
  results.teacher.recorderOverhead = mean(pairs.map((p) => p.withRecorder)) / mean(pairs.map((p) => p.without)) - 1;
}
log('teacher', results.teacher);
save();

// ---- scores ---------------------------------------------------------------------------------
// Forgetting: from the teacher's recorded dynamics (one run, so the same for every seed).
const forgetting = forgettingScores(recorder.trace()).subarray(0, N);
// EL2N: error norms after 2 epochs on the pool, averaged over 3 runs (Paul et al.'s
// early-training score); the runs' initialisations depend on the seed.
const el2nBySeed = [];
for (const seed of SEEDS) {
  const probs = [];
  for (let r = 0; r < 3; r++) {
    const run = await train({ images: trainSet.images, labels: poolLabels, rowsFor: () => poolRows, epochs: 2, seed: 2000 + 10 * seed + r });
    probs.push(mapRows(run.model, trainSet.images, N, C, (m, x) => tf.softmax(logitsOf(m, x))));
    disposeMlp(run.model);
  }
  el2nBySeed.push(el2nScores({ probabilities: probs, labels: poolLabels, numClasses: C }));
  results.scores.push({ seed, el2nMean: mean(el2nBySeed[seed]) });
}
results.forgetting = { neverLearned: Array.from(forgetting).filter((v) => v === TEACHER_EPOCHS).length, zero: Array.from(forgetting).filter((v) => v === 0).length, mean: mean(forgetting) };
log('scores', results.scores, results.forgetting);
save();

const allSelectors = {
  random: (f, seed) => selectByScore(randomScores(N, 7 + seed), { keep: f }),
  el2n: (f, seed) => selectByScore(el2nBySeed[seed], { keep: f }),
  forgetting: (f) => selectByScore(forgetting, { keep: f }),
  ccs: (f, seed) => ccsSelect(el2nBySeed[seed], { keep: f, hardPruneFraction: 0.1, seed }),
  'kmeans-balanced': (f, seed) => balancedCuration(embeddings, { keep: f, seed, iterations: 30, resamplingSteps: 3 }),
};
const selectors = Object.fromEntries(METHODS.map((m) => {
  if (!allSelectors[m]) throw new Error(`unknown method ${m}; use ${Object.keys(allSelectors).join(', ')}`);
  return [m, allSelectors[m]];
}));
const studentSeed = (seed) => 3000 + 10 * seed;
const selections = new Map();
const selection = (method, f, seed) => {
  const key = `${method}/${f}/${seed}`;
  if (!selections.has(key)) selections.set(key, selectors[method](f, seed));
  return selections.get(key);
};

async function studentAccuracy(rows, alpha, seed) {
  const run = await train({ images: trainSet.images, labels: labelsAll, rowsFor: () => rows, epochs: EPOCHS, steps: STUDENT_STEPS, teacherLogits: alpha > 0 ? teacherLogits : undefined, alpha, seed: studentSeed(seed) });
  const acc = accuracy(run.model);
  disposeMlp(run.model);
  return { acc, steps: run.steps, seconds: run.seconds };
}

// ---- full pool (the 100 % reference) and pruning × KD ----------------------------------------
if (SECTIONS.has('full')) {
  const plain = [];
  const kd = [];
  for (const seed of SEEDS) {
    plain.push((await studentAccuracy(poolRows, 0, seed)).acc);
    kd.push((await studentAccuracy(poolRows, 0.5, seed)).acc);
  }
  results.fullPool = { plain, kd, alpha: 0.5, plainSummary: summary(plain), kdSummary: summary(kd) };
  log('full pool', results.fullPool);
  save();
}
if (SECTIONS.has('pruning')) for (const f of FRACTIONS) {
  for (const method of Object.keys(selectors)) {
    const alpha = defaultKdAlpha(f);
    const row = { method, fraction: f, alpha, kept: 0, steps: 0, plain: [], kd: [], seconds: 0 };
    for (const seed of SEEDS) {
      const rows = selection(method, f, seed);
      row.kept = rows.length;
      const a = await studentAccuracy(rows, 0, seed);
      const b = await studentAccuracy(rows, alpha, seed);
      row.plain.push(a.acc);
      row.kd.push(b.acc);
      row.steps = a.steps;
      row.seconds += a.seconds + b.seconds;
    }
    row.plainSummary = summary(row.plain);
    row.kdSummary = summary(row.kd);
    row.kdGain = summary(row.kd.map((v, i) => v - row.plain[i]));
    results.pruning.push(row);
    log('pruning', method, f, row.plainSummary, row.kdSummary);
    save();
  }
}

// ---- α sweep ----------------------------------------------------------------------------------
async function alphaSweep(method) {
  for (const f of FRACTIONS) {
    const base = results.pruning.find((p) => p.method === method && p.fraction === f);
    const row = { method, fraction: f, byAlpha: { 0: base.plain } };
    for (const alpha of ALPHAS) {
      const accs = [];
      for (const seed of SEEDS) accs.push((await studentAccuracy(selection(method, f, seed), alpha, seed)).acc);
      row.byAlpha[alpha] = accs;
    }
    row.summary = Object.fromEntries(Object.entries(row.byAlpha).map(([a, v]) => [a, summary(v)]));
    row.defaultAlpha = { alpha: base.alpha, accuracy: base.kd, summary: base.kdSummary };
    // Best α per seed (paired: same selection and initialisation across α).
    row.bestAlphaPerSeed = SEEDS.map((_, i) => Number(Object.entries(row.byAlpha).reduce((best, [a, v]) => (v[i] > row.byAlpha[best][i] ? a : best), '0')));
    results.alphaSweep.push(row);
    log('alpha', method, f, row.summary, row.bestAlphaPerSeed);
    save();
  }
}
if (SECTIONS.has('alpha') && selectors.random) await alphaSweep('random');

if (SECTIONS.has('heavy')) await heavyAndDynamic();

// ---- α sweep for a score-based selection (last: the least essential cell) ---------------------
if (SECTIONS.has('alpha-ccs') && selectors.ccs) await alphaSweep('ccs');

/** The heavy-tailed data: balanced curation vs random, then dynamic vs static vs full. */
async function heavyAndDynamic() {
  // ---- heavy-tailed, duplicate-heavy data ---------------------------------------------------------
  // Classes 0-2 are "head" classes: 600 unique pool images each, every one repeated 8× with small
  // pixel noise. Classes 3-9 are a long tail with 100·(10 − c) unique images each.
  const heavyRng = new Random(5);
  const byClass = Array.from({ length: C }, () => []);
  for (let i = 0; i < N; i++) byClass[labelsAll[i]].push(i);
  const heavySource = [];
  for (let c = 0; c < C; c++) {
    const unique = c < 3 ? 600 : 100 * (10 - c);
    const copies = c < 3 ? 8 : 1;
    for (const src of byClass[c].slice(0, unique)) for (let k = 0; k < copies; k++) heavySource.push(src);
  }
  const HN = heavySource.length;
  const heavyImages = new Float32Array(HN * D);
  heavySource.forEach((src, i) => {
    for (let t = 0; t < D; t++) heavyImages[i * D + t] = Math.min(1, Math.max(0, trainSet.images[src * D + t] + 0.02 * heavyRng.normal()));
  });
  const heavyLabels = Uint8Array.from(heavySource, (s) => labelsAll[s]);
  const heavyEmbeddings = embeddingMatrix(mapRows(teacher, heavyImages, HN, H, hidden), H);
  const heavyClusters = kmeans(heavyEmbeddings, { k: 50, seed: 0 });
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
      uniqueImages: new Set(Array.from(rows, (r) => heavySource[r])).size,
    };
  }
  const HEAVY_KEEP = 0.3;
  // Many leaf clusters (Vo et al. use far more clusters than classes) so near-duplicates share a leaf.
  const HEAVY_LEVELS = [300, 30];
  const heavySteps = Math.ceil((HEAVY_KEEP * HN) / B) * EPOCHS;
  results.heavyTailed = { rows: HN, unique: new Set(heavySource).size, keep: HEAVY_KEEP, levels: HEAVY_LEVELS, steps: heavySteps, full: balanceOf(Int32Array.from({ length: HN }, (_, i) => i)), runs: [] };
  const heavySelect = {
    random: (seed) => selectByScore(randomScores(HN, 9 + seed), { keep: HEAVY_KEEP }),
    'kmeans-balanced': (seed) => balancedCuration(heavyEmbeddings, { keep: HEAVY_KEEP, levels: HEAVY_LEVELS, seed, iterations: 30, resamplingSteps: 3 }),
  };
  const staticHeavy = [];
  for (const [method, select] of Object.entries(heavySelect)) {
    const row = { method, kept: 0, accuracy: [], balance: [] };
    for (const seed of SEEDS) {
      const rows = select(seed);
      if (method === 'kmeans-balanced') staticHeavy[seed] = rows;
      const run = await train({ images: heavyImages, labels: heavyLabels, rowsFor: () => rows, steps: heavySteps, seed: 4000 + 10 * seed });
      row.kept = rows.length;
      row.accuracy.push(accuracy(run.model));
      row.balance.push(balanceOf(rows));
      disposeMlp(run.model);
    }
    row.accuracySummary = summary(row.accuracy);
    for (const k of ['classEntropy', 'clusterEntropy', 'maxMinClassRatio', 'uniqueImages']) row[k] = summary(row.balance.map((b) => b[k]));
    results.heavyTailed.runs.push(row);
    log('heavy', method, row.accuracySummary, row.classEntropy.mean, row.uniqueImages.mean);
    save();
  }

  // ---- dynamic re-curation vs static vs full (same optimizer steps, heavy-tailed data) ----------
  const allHeavy = Int32Array.from({ length: HN }, (_, i) => i);
  const DYN_STEPS = heavySteps;
  const variants = {
    full: () => () => allHeavy,
    'static (teacher embeddings)': (seed) => () => staticHeavy[seed],
    dynamic: (seed) => {
      const curator = new DynamicCurator({ count: HN, keepFraction: HEAVY_KEEP, warmupEpochs: 1, period: 2, closestFraction: 0.5, levels: HEAVY_LEVELS, seed, clustering: { iterations: 20, resamplingSteps: 2 } });
      return (epoch, model) => curator.subsetFor(epoch, (idx) => mapRows(model, gatherRows(heavyImages, idx), idx.length, H, hidden));
    },
  };
  for (const [name, make] of Object.entries(variants)) {
    const row = { variant: name, steps: 0, accuracy: [], seconds: [] };
    for (const seed of SEEDS) {
      const run = await train({ images: heavyImages, labels: heavyLabels, rowsFor: make(seed), steps: DYN_STEPS, seed: 5000 + 10 * seed });
      row.steps = run.steps;
      row.seconds.push(run.seconds);
      row.accuracy.push(accuracy(run.model));
      disposeMlp(run.model);
    }
    row.accuracySummary = summary(row.accuracy);
    results.dynamic.push(row);
    log('dynamic', name, row.accuracySummary, row.seconds);
    save();
  }
}

// ---- tables ---------------------------------------------------------------------------------
const pm = (s) => `${(100 * s.mean).toFixed(1)} ± ${(100 * s.sd).toFixed(1)}`;
const n = SEEDS.length;
console.log(`\nteacher (all ${NTEACHER}, ${TEACHER_EPOCHS} epochs): ${(100 * results.teacher.accuracy).toFixed(1)} % · recorder: ${results.teacher.recordSeconds.toFixed(2)} s of record() in a ${results.teacher.seconds.toFixed(0)} s run; paired 1-epoch runs +${(100 * results.teacher.recorderOverhead).toFixed(1)} %`);
if (results.fullPool) console.log(`full pool (${N}): ${pm(results.fullPool.plainSummary)} · with KD (α = 0.5) ${pm(results.fullPool.kdSummary)}  (n = ${n})`);
const pctOf = (f) => `${Math.round(f * 100)} %`;
console.log(`\n| method (n = ${n}) | ${FRACTIONS.map((f) => `${pctOf(f)} | ${pctOf(f)} + KD`).join(' | ')} |\n|---|${FRACTIONS.map(() => '---|---|').join('')}`);
for (const method of Object.keys(selectors)) {
  const cells = FRACTIONS.flatMap((f) => {
    const r = results.pruning.find((p) => p.method === method && p.fraction === f);
    return r ? [pm(r.plainSummary), pm(r.kdSummary)] : ['—', '—'];
  });
  console.log(`| ${method} | ${cells.join(' | ')} |`);
}
console.log(`\nKD gain (paired, KD − plain), points:\n| method | ${FRACTIONS.map(pctOf).join(' | ')} |\n|---|${FRACTIONS.map(() => '---|').join('')}`);
for (const method of Object.keys(selectors)) {
  const cells = FRACTIONS.map((f) => {
    const r = results.pruning.find((p) => p.method === method && p.fraction === f);
    return r ? `${(100 * r.kdGain.mean).toFixed(1)} ± ${(100 * r.kdGain.sd).toFixed(1)}` : '—';
  });
  console.log(`| ${method} | ${cells.join(' | ')} |`);
}
for (const method of ['random', 'ccs'].filter((m) => results.alphaSweep.some((x) => x.method === m))) {
  console.log(`\nα sweep, ${method} (n = ${n}):\n| kept | α = 0 | ${ALPHAS.join(' | ')} | default α | best α per seed |\n|---|---|${ALPHAS.map(() => '---|').join('')}---|---|`);
  for (const f of FRACTIONS) {
    const r = results.alphaSweep.find((x) => x.method === method && x.fraction === f);
    if (!r) continue;
    console.log(`| ${pctOf(f)} | ${[0, ...ALPHAS].map((a) => pm(r.summary[a])).join(' | ')} | ${pm(r.defaultAlpha.summary)} (α = ${r.defaultAlpha.alpha}) | ${r.bestAlphaPerSeed.join(', ')} |`);
  }
}
const ht = results.heavyTailed;
if (ht.runs) console.log(`\n| heavy-tailed, keep 30 % (n = ${n}) | accuracy | class entropy | cluster entropy | max/min class | unique images |\n|---|---|---|---|---|---|`);
if (ht.runs) console.log(`| all ${ht.rows} rows (not trained) | — | ${ht.full.classEntropy.toFixed(3)} | ${ht.full.clusterEntropy.toFixed(3)} | ${ht.full.maxMinClassRatio.toFixed(1)} | ${ht.full.uniqueImages} |`);
for (const r of ht.runs ?? []) console.log(`| ${r.method} (${r.kept}) | ${pm(r.accuracySummary)} | ${r.classEntropy.mean.toFixed(3)} | ${r.clusterEntropy.mean.toFixed(3)} | ${r.maxMinClassRatio.mean.toFixed(1)} | ${r.uniqueImages.mean.toFixed(0)} |`);
if (results.dynamic.length) console.log(`\n| heavy-tailed, same steps (n = ${n}) | steps | accuracy |\n|---|---|---|`);
for (const r of results.dynamic) console.log(`| ${r.variant} | ${r.steps} | ${pm(r.accuracySummary)} |`);
save();
log(`wrote ${out}`);
process.exit(0);
