// PreCropping on Fashion-MNIST: a small ResNet-style CNN pruned at initialization by SNIP,
// GraSP and SynFlow, then trained three ways from the same seeds in one run —
//   full      the dense network at full width,
//   precrop   the narrower dense network whose widths follow the method's layer densities,
//   masked    the full network with the method's unstructured mask at the same parameter
//             count as the PreCropped network (up to width rounding), the mask held
//             fixed during training.
// Images are 2×2 average-pooled to 14×14. Reports test accuracy, parameters, FLOPs per image, median training time per epoch and
// median inference latency (batch 1 and batch 100). tfjs cpu backend (tfjs-wasm lacks conv
// gradients), one thread.
//
//   node bench/structured-precrop.mjs [--train 10000] [--test 5000] [--epochs 2]
//        [--density 0.2] [--batch 32] [--lr 0.01] [--latency-rounds 3] [--methods snip,synflow (grasp too)] [--seed 0] [--out bench/results/structured-precrop.json]
//
// Needs built packages: core, tfjs, zoo, structured (`npx tsc -p tsconfig.build.json` in each).
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Random } from '../packages/core/dist/index.js';
import { createTfjsBackend } from '../packages/tfjs/dist/index.js';
import { loadFashionMnist } from '../packages/zoo/dist/index.js';
import {
  applyKernelMasks,
  buildModel,
  classBalancedIndices,
  countCost,
  initWeights,
  layerDensities,
  layoutOf,
  pruneAtInitialization,
  precropSpec,
} from '../packages/structured/dist/precrop/index.js';

const here = dirname(fileURLToPath(import.meta.url));
// The same tfjs-core instance the structured package uses (one engine, one backend registry).
const requireFromStructured = createRequire(join(here, '../packages/structured/package.json'));
const tf = await import(pathToFileURL(requireFromStructured.resolve('@tensorflow/tfjs-core')).href);

const args = process.argv.slice(2);
const arg = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const TRAIN = Number(arg('train', 10000));
const TEST = Number(arg('test', 5000));
const EPOCHS = Number(arg('epochs', 2));
const DENSITY = Number(arg('density', 0.2));
const METHODS = arg('methods', 'snip,synflow').split(',');
const SEED = Number(arg('seed', 0));
const BATCH = Number(arg('batch', 32));
const LATENCY_ROUNDS = Number(arg('latency-rounds', 3));
const LR = Number(arg('lr', 1e-2));
const SIZE = 14; // Fashion-MNIST images average-pooled 2×2 to 14×14 (the shared machine's CPU budget)
const OUT = arg('out', join(here, 'results/structured-precrop.json'));

await createTfjsBackend({ backend: 'cpu' });

/** The full network: 14×14×1 → stem (8) → identity block (8) → projection block (16, stride 2) → GAP → 10 logits. */
const FULL = {
  inputShape: [SIZE, SIZE, 1],
  classes: 10,
  blocks: [
    { kind: 'conv', filters: 8, kernelSize: 3 },
    {
      kind: 'residual',
      shortcut: 'identity',
      body: [
        { kind: 'conv', filters: 8, kernelSize: 3 },
        { kind: 'conv', filters: 8, kernelSize: 3, activation: 'linear' },
      ],
    },
    {
      kind: 'residual',
      shortcut: 'projection',
      body: [
        { kind: 'conv', filters: 16, kernelSize: 3, strides: 2 },
        { kind: 'conv', filters: 16, kernelSize: 3, activation: 'linear' },
      ],
    },
  ],
};

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const t0 = performance.now();
/** 2×2 average pooling of 28×28 images to 14×14. */
function downsample(data) {
  const images = new Float32Array(data.count * SIZE * SIZE);
  for (let n = 0; n < data.count; n++)
    for (let i = 0; i < SIZE; i++)
      for (let j = 0; j < SIZE; j++) {
        const at = (r, c) => data.images[n * 784 + r * 28 + c];
        images[n * SIZE * SIZE + i * SIZE + j] = (at(2 * i, 2 * j) + at(2 * i + 1, 2 * j) + at(2 * i, 2 * j + 1) + at(2 * i + 1, 2 * j + 1)) / 4;
      }
  return { ...data, images, height: SIZE, width: SIZE };
}
const train = downsample(await loadFashionMnist('train', { limit: TRAIN }));
const test = downsample(await loadFashionMnist('test', { limit: TEST }));
const PIX = SIZE * SIZE;

function batchTensors(data, indices) {
  const x = new Float32Array(indices.length * PIX);
  const y = new Int32Array(indices.length);
  indices.forEach((idx, i) => {
    x.set(data.images.subarray(idx * PIX, (idx + 1) * PIX), i * PIX);
    y[i] = data.labels[idx];
  });
  return { x: tf.tensor4d(x, [indices.length, SIZE, SIZE, 1]), y: tf.oneHot(tf.tensor1d(y, 'int32'), 10) };
}

/** One epoch of Adam on the training subset (seeded order); masks are re-applied after every step. */
function trainEpoch(entry, epoch) {
  const { model, masks, optimizer, vars } = entry;
  const order = new Random(SEED * 1000 + epoch).shuffle(Array.from({ length: train.count }, (_, i) => i));
  const start = performance.now();
  for (let b = 0; b + BATCH <= order.length; b += BATCH) {
    const { x, y } = batchTensors(train, order.slice(b, b + BATCH));
    optimizer.minimize(() => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true })), false, vars);
    tf.dispose([x, y]);
    if (masks) applyKernelMasks(model, masks);
  }
  return (performance.now() - start) / 1000;
}

function accuracy(model) {
  let correct = 0;
  for (let b = 0; b < test.count; b += 500) {
    const idx = Array.from({ length: Math.min(500, test.count - b) }, (_, i) => b + i);
    const { x, y } = batchTensors(test, idx);
    const pred = tf.tidy(() => tf.argMax(model.predict(x), 1).dataSync());
    idx.forEach((k, i) => (correct += pred[i] === test.labels[k] ? 1 : 0));
    tf.dispose([x, y]);
  }
  return correct / test.count;
}

function latency(model, batch, runs) {
  const { x, y } = batchTensors(test, Array.from({ length: batch }, (_, i) => i));
  tf.tidy(() => model.predict(x).dataSync()); // warm-up
  const times = [];
  for (let r = 0; r < runs; r++) {
    const start = performance.now();
    tf.tidy(() => model.predict(x).dataSync());
    times.push(performance.now() - start);
  }
  tf.dispose([x, y]);
  return median(times);
}

/** Parameters and FLOPs of the full network under an unstructured mask: zeros still run. */
function maskedCost(spec, masks) {
  const { layers } = layoutOf(spec);
  let kept = 0;
  let sparseFlops = 0;
  for (const layer of layers) {
    let k = 0;
    for (const v of masks.get(layer.name)) k += v;
    kept += k;
    const positions = layer.outputSize[0] * layer.outputSize[1];
    sparseFlops += positions * (2 * k + layer.outChannels);
  }
  const dense = countCost(spec);
  return { parameters: kept + (dense.parameters - dense.weights), weights: kept, flops: dense.flops, sparseFlops };
}

function entry(label, method, spec, weights, masks) {
  const model = buildModel(spec, { weights });
  if (masks) applyKernelMasks(model, masks);
  const cost = masks ? maskedCost(spec, masks) : { ...countCost(spec), sparseFlops: countCost(spec).flops };
  return { label, method, model, masks, cost, optimizer: tf.train.adam(LR), vars: model.trainableWeights.map((w) => w.read()), epochTimes: [], lat1: [], lat100: [] };
}

const fullWeights = initWeights(FULL, SEED);
const fullLayout = layoutOf(FULL);
const fullCost = countCost(FULL);
const calib = classBalancedIndices(train.labels, 10, 10, SEED + 1);
const calibBatch = {
  images: Float32Array.from(calib.flatMap((i) => Array.from(train.images.subarray(i * PIX, (i + 1) * PIX)))),
  labels: calib.map((i) => train.labels[i]),
};

const entries = [entry('full', '—', FULL, fullWeights, undefined)];
const plans = {};
for (const method of METHODS) {
  process.stderr.write(`${method}: scoring\n`);
  const start = performance.now();
  const pai = pruneAtInitialization(method, FULL, fullWeights, { density: DENSITY, batches: [calibBatch] });
  const scoreSeconds = (performance.now() - start) / 1000;
  const masks = pai.masks;
  const masked = maskedCost(FULL, masks);
  // Same parameter count as the masked network: the narrow network's weights plus its biases
  // must equal the kept weights plus all biases of the full network (a fixed point in the
  // bias count; a few rounds settle it).
  let plan = precropSpec(FULL, pai.densities);
  for (let round = 0; round < 3; round++) {
    const narrow = countCost(plan.spec);
    plan = precropSpec(FULL, pai.densities, { budget: masked.parameters - (narrow.parameters - narrow.weights) });
  }
  plans[method] = {
    scoreSeconds,
    layerDensities: Object.fromEntries(pai.densities),
    groupWidths: plan.widths,
    groupRatios: plan.ratios,
    groupProducers: fullLayout.groups.map((g) => g.producers),
    precropSpec: plan.spec,
  };
  process.stderr.write(`${method}: scored in ${scoreSeconds.toFixed(1)} s; widths ${plan.widths.join(',')}\n`);
  entries.push(entry(`precrop-${method}`, method, plan.spec, initWeights(plan.spec, SEED + 100), undefined));
  entries.push(entry(`masked-${method}`, method, FULL, fullWeights, masks));
}

// Epochs interleaved across the models, so that they share the machine's load alike.
for (let epoch = 0; epoch < EPOCHS; epoch++) {
  for (const e of entries) {
    e.epochTimes.push(trainEpoch(e, epoch));
    process.stderr.write(`  epoch ${epoch + 1}/${EPOCHS} ${e.label}: ${e.epochTimes.at(-1).toFixed(1)} s\n`);
  }
}
for (const e of entries) {
  e.accuracy = accuracy(e.model);
  process.stderr.write(`  ${e.label}: accuracy ${(e.accuracy * 100).toFixed(2)}%\n`);
}
// Latency in interleaved rounds, medians per model.
for (let round = 0; round < LATENCY_ROUNDS; round++) {
  for (const e of entries) {
    e.lat1.push(latency(e.model, 1, 5));
    e.lat100.push(latency(e.model, 100, 1));
  }
}
const rows = entries.map((e) => ({
  model: e.label,
  method: e.method,
  accuracy: e.accuracy,
  parameters: e.cost.parameters,
  flops: e.cost.flops,
  nonzeroFlops: e.cost.sparseFlops,
  trainSecondsPerEpoch: median(e.epochTimes),
  latencyMsBatch1: median(e.lat1),
  latencyMsBatch100: median(e.lat100),
}));

const pct = (x) => `${(x * 100).toFixed(2)}%`;
const header = '| model | accuracy | parameters | FLOPs/image | nonzero FLOPs | train s/epoch | latency b=1 (ms) | latency b=100 (ms) |';
const lines = [header, '|---|---:|---:|---:|---:|---:|---:|---:|'];
for (const r of rows) {
  lines.push(
    `| ${r.model} | ${pct(r.accuracy)} | ${r.parameters} | ${(r.flops / 1e6).toFixed(2)}M | ${(r.nonzeroFlops / 1e6).toFixed(2)}M | ${r.trainSecondsPerEpoch.toFixed(1)} | ${r.latencyMsBatch1.toFixed(2)} | ${r.latencyMsBatch100.toFixed(1)} |`,
  );
}
console.log(lines.join('\n'));
const widthLines = ['| method | ' + fullLayout.groups.map((g) => g.producers[0] ?? 'input').join(' | ') + ' |', '|---|' + fullLayout.groups.map(() => '---:').join('|') + '|'];
widthLines.push('| full | ' + fullLayout.groups.map((g) => g.width).join(' | ') + ' |');
for (const m of METHODS) widthLines.push(`| ${m} | ` + plans[m].groupWidths.join(' | ') + ' |');
console.log('\nchannel-group widths (group named by its first producer):\n' + widthLines.join('\n'));

const result = {
  benchmark: 'structured-precrop',
  date: new Date().toISOString(),
  machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, loadavg: os.loadavg(), node: process.version },
  config: { train: train.count, test: test.count, imageSize: SIZE, epochs: EPOCHS, batch: BATCH, learningRate: LR, optimizer: 'adam', density: DENSITY, seed: SEED, backend: 'tfjs-cpu', calibration: '10 images per class', synflowIterations: 100 },
  spec: FULL,
  rows,
  plans,
  table: lines.join('\n'),
  widthTable: widthLines.join('\n'),
  totalSeconds: (performance.now() - t0) / 1000,
};
mkdirSync(dirname(OUT), { recursive: true });
writeFileSync(OUT, JSON.stringify(result, null, 2) + '\n');
console.log(`\nwrote ${OUT} (${result.totalSeconds.toFixed(0)} s)`);
