// Channel pruning of a real pretrained CNN nobody here trained: nsfwjs 4.3.0's MobileNetV2
// (a Keras functional LayersModel, 5 classes, uint8-quantized weights, decoded from the npm
// package). For each criterion (L1 filter norm, BN scale |γ|, first-order Taylor) and ratio
// (10%, 30%, 50% of every dependency group), in one run: the physically smaller model is saved
// quantized like the source, reloaded with stock tfjs and compared with the dense model —
// parameters, conv/dense MACs, file size, median latency (interleaved rounds, batch of 1),
// top-1 agreement and mean KL(dense ‖ pruned) on real photographs; plus the largest
// difference between the shrunk model and the masked dense model (same channels zeroed).
//
// Images: scikit-image's sample photographs (Debian python3-skimage 0.19.3, data_dir): 9
// colour and 8 greyscale photos, each as 10 views (centre square, four 75% corner crops, and
// their mirror images) = 170 images, plus Labeled-Faces-in-the-Wild crops (lfw_subset, 25×25
// greyscale); all resized to 224×224 RGB. Taylor calibrates on the first 16 faces with the
// dense model's own top-1 class as the label (no labels ship with these photos); the next 50
// faces join the evaluation. Scores are computed once per criterion, then each ratio is
// selected, shrunk, saved, reloaded and evaluated.
//
// Usage: nice -n 10 node bench/structured-channels.mjs [--rounds 5] [--ratios 0.1,0.3,0.5]
//        [--criteria l1,bn-scale,taylor] [--faces 50] [--calibration 16]
// Needs: pnpm install; packages built (core, tfjs, structured); /usr/bin/python3 with skimage.
// Writes bench/results/structured-channels.json.
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runInNewContext } from 'node:vm';
import { createTfjsBackend } from '../packages/tfjs/dist/index.js';
import {
  bnScale,
  buildChannelGraph,
  compareLatency,
  countMacs,
  l1Norm,
  loadModelFolder,
  maskChannels,
  saveModelFolder,
  scoreChannels,
  selectChannels,
  shrinkModel,
  storageLike,
  taylor,
} from '../packages/structured/dist/index.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    faces: { type: 'string', default: '50' },
    calibration: { type: 'string', default: '16' },
    ratios: { type: 'string', default: '0.1,0.3,0.5' },
    criteria: { type: 'string', default: 'l1,bn-scale,taylor' },
  },
});
const rounds = Number(values.rounds);
const ratios = values.ratios.split(',').map(Number);
const criteria = values.criteria.split(',');

const requireHere = createRequire(new URL('../packages/structured/package.json', import.meta.url));
const tf = requireHere('@tensorflow/tfjs-core');
const tfl = requireHere('@tensorflow/tfjs-layers');
const wasm = await createTfjsBackend({ backend: 'wasm' });

const work = await mkdtemp(join(tmpdir(), 'structured-channels-'));

/** nsfwjs ships model.json and each shard as browserify bundles (a JSON object / a base64 string). */
function runBundle(source) {
  const module = { exports: {} };
  runInNewContext(source, { module, exports: module.exports });
  return module.exports;
}
async function writeNsfwjsMobileNetV2(folder) {
  const modelDir = resolve(dirname(requireHere.resolve('nsfwjs')), '..', 'models', 'mobilenet_v2');
  const modelJson = runBundle(await readFile(join(modelDir, 'model.min.js'), 'utf8'));
  await mkdir(folder, { recursive: true });
  for (const group of modelJson.weightsManifest) {
    for (const p of group.paths) await writeFile(join(folder, p), Buffer.from(runBundle(await readFile(join(modelDir, `${p}.min.js`), 'utf8')), 'base64'));
  }
  await writeFile(join(folder, 'model.json'), JSON.stringify(modelJson));
}

const PHOTOS = `
import os, sys, numpy as np
from skimage import io, data_dir, transform, color
out = sys.argv[1]
colour = ['astronaut.png','chelsea.png','coffee.png','hubble_deep_field.jpg','ihc.png','motorcycle_left.png','motorcycle_right.png','retina.jpg','rocket.jpg']
grey = ['camera.png','coins.png','moon.png','page.png','grass.png','gravel.png','brick.png','clock_motion.png']
def rgb(im):
    im = im.astype(np.float64) / (255.0 if im.dtype == np.uint8 else 1.0)
    return np.stack([im] * 3, -1) if im.ndim == 2 else im[..., :3]
def fit(im):
    return transform.resize(im, (224, 224, 3), order=1, anti_aliasing=True)
views = []
for name in colour + grey:
    im = rgb(io.imread(os.path.join(data_dir, name)))
    h, w = im.shape[:2]; s = min(h, w); c = int(0.75 * s)
    crops = [im[(h - s)//2:(h - s)//2 + s, (w - s)//2:(w - s)//2 + s], im[:c, :c], im[:c, w - c:], im[h - c:, :c], im[h - c:, w - c:]]
    for crop in crops:
        views.append(fit(crop)); views.append(fit(crop[:, ::-1]))
faces = np.load(os.path.join(data_dir, 'lfw_subset.npy'))
for f in faces:
    views.append(fit(np.stack([f] * 3, -1)))
np.asarray(views, dtype=np.float32).tofile(out)
print(len(views))
`;
const photosFile = join(work, 'photos.f32');
const count = Number(execFileSync('/usr/bin/python3', ['-c', PHOTOS, photosFile], { encoding: 'utf8' }).trim());
const pixels = new Float32Array((await readFile(photosFile)).buffer.slice(0));
const PHOTO_VIEWS = 170;
const CALIBRATION = Number(values.calibration);
const FACES = Math.min(Number(values.faces), count - PHOTO_VIEWS - CALIBRATION);
// Evaluation: the 170 photo views and FACES faces after the first CALIBRATION ones (those calibrate Taylor).
const all = tf.tensor4d(pixels, [count, 224, 224, 3]);
const evalImages = tf.concat([tf.slice(all, [0, 0, 0, 0], [PHOTO_VIEWS, -1, -1, -1]), tf.slice(all, [PHOTO_VIEWS + CALIBRATION, 0, 0, 0], [FACES, -1, -1, -1])]);
const calibImages = tf.slice(all, [PHOTO_VIEWS, 0, 0, 0], [CALIBRATION, -1, -1, -1]);
all.dispose();

const source = join(work, 'mobilenet_v2');
await writeNsfwjsMobileNetV2(source);
const { model: dense, bytes: denseBytes } = await loadModelFolder(source);
const storage = await storageLike(source);

function predictAll(model, x) {
  const parts = [];
  for (let i = 0; i < x.shape[0]; i += 32) {
    const n = Math.min(32, x.shape[0] - i);
    parts.push(tf.tidy(() => model.predict(tf.slice(x, [i, 0, 0, 0], [n, -1, -1, -1])).dataSync()));
  }
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
const CLASSES = 5;
const argmax = (p, i) => {
  let best = 0;
  for (let c = 1; c < CLASSES; c++) if (p[i * CLASSES + c] > p[i * CLASSES + best]) best = c;
  return best;
};
const denseProbs = predictAll(dense, evalImages);
const n = denseProbs.length / CLASSES;
function agreement(q) {
  let agree = 0;
  let kl = 0;
  for (let i = 0; i < n; i++) {
    if (argmax(denseProbs, i) === argmax(q, i)) agree++;
    for (let c = 0; c < CLASSES; c++) {
      const a = denseProbs[i * CLASSES + c];
      if (a > 0) kl += a * Math.log(a / Math.max(q[i * CLASSES + c], 1e-12));
    }
  }
  return { top1Agreement: agree / n, meanKl: kl / n };
}

// Taylor's calibration labels: the dense model's own top-1 class on the calibration faces.
const calibProbs = predictAll(dense, calibImages);
const pseudo = tf.cast(tf.oneHot(tf.tensor1d(Array.from({ length: CALIBRATION }, (_, i) => argmax(calibProbs, i)), 'int32'), CLASSES), 'float32');
const crossEntropy = (y, p) => tf.neg(tf.mean(tf.sum(tf.mul(y, tf.log(tf.clipByValue(p, 1e-7, 1))), -1)));

function criterionFor(name) {
  if (name === 'l1') return l1Norm();
  if (name === 'bn-scale') return bnScale();
  if (name === 'taylor') {
    const batches = Array.from({ length: Math.ceil(CALIBRATION / 8) }, (_, b) => 8 * b).map((i) => ({ x: tf.slice(calibImages, [i, 0, 0, 0], [Math.min(8, CALIBRATION - i), -1, -1, -1]), y: tf.slice(pseudo, [i, 0], [Math.min(8, CALIBRATION - i), -1]) }));
    return taylor({ batches, loss: crossEntropy });
  }
  throw new Error(`unknown criterion ${name}`);
}

/** Pre-softmax outputs: the head layer's input times its kernel plus bias. */
function logits(model, x) {
  const head = model.layers[model.layers.length - 1];
  const [kernel, bias] = head.getWeights();
  const features = tfl.model({ inputs: model.inputs, outputs: head.input }).predict(x);
  return tf.add(tf.matMul(features, kernel), bias);
}
/** How many evaluation images each class gets as top-1. */
function classCounts(p) {
  const counts = new Array(CLASSES).fill(0);
  for (let i = 0; i < p.length / CLASSES; i++) counts[argmax(p, i)]++;
  return counts;
}

const one = tf.slice(evalImages, [0, 0, 0, 0], [1, -1, -1, -1]);
const rows = [];
const denseRow = { model: 'dense', criterion: '—', ratio: 0, parameters: dense.countParams(), macs: countMacs(dense), fileBytes: denseBytes, latencyMs: 0, top1Agreement: 1, meanKl: 0, classCounts: classCounts(denseProbs), maxMaskedDiff: 0 };
const latencies = [];
const resultsUrl = new URL('./results/structured-channels.json', import.meta.url);
await mkdir(fileURLToPath(new URL('./results/', import.meta.url)), { recursive: true });
const save = () =>
  writeFile(
    resultsUrl,
    `${JSON.stringify({ model: 'nsfwjs@4.3.0 mobilenet_v2', backend: wasm.tfjsBackend, images: { evaluation: n, photoViews: PHOTO_VIEWS, faces: n - PHOTO_VIEWS, calibration: CALIBRATION }, rounds, dense: denseRow, pruned: rows }, null, 2)}\n`,
  );
const graph = buildChannelGraph(dense);
for (const name of criteria) {
  // Scores once per criterion; Taylor's gradients need the cpu backend (tfjs-wasm has no Conv2DBackpropFilter).
  const scoringStarted = performance.now();
  if (name === 'taylor') await tf.setBackend('cpu');
  const scores = await scoreChannels(graph, criterionFor(name));
  if (name === 'taylor') await tf.setBackend(wasm.tfjsBackend);
  const scoreSeconds = (performance.now() - scoringStarted) / 1000;
  for (const ratio of ratios) {
    const started = performance.now();
    const plan = selectChannels(graph, scores, { ratio });
    const small = await shrinkModel(graph, plan);
    const seconds = (performance.now() - started) / 1000;
    const folder = join(work, `${name}-${ratio}`);
    const written = await saveModelFolder(small, folder, { storage, inputFolder: source });
    const { model: reloaded } = await loadModelFolder(folder);
    const q = predictAll(reloaded, evalImages);
    // Shrunk vs masked (float32, before the uint8 save) on 8 images.
    const { model: masked } = await loadModelFolder(source);
    maskChannels(buildChannelGraph(masked), plan);
    const probe = tf.slice(evalImages, [0, 0, 0, 0], [8, -1, -1, -1]);
    // On the logits (the head's softmax saturates): penultimate features times each model's own head.
    const maxMaskedDiff = tf.tidy(() => tf.max(tf.abs(tf.sub(logits(masked, probe), logits(small, probe)))).dataSync()[0]);
    probe.dispose();
    masked.dispose();
    rows.push({
      model: `${name} ${Math.round(ratio * 100)}%`,
      criterion: name,
      ratio,
      removedChannels: plan.removed.reduce((a, r) => a + r.length, 0),
      prunableChannels: graph.groups.reduce((a, g) => a + g.size, 0),
      groups: graph.groups.length,
      parameters: small.countParams(),
      macs: countMacs(small),
      fileBytes: written.bytes,
      scoreSeconds,
      shrinkSeconds: seconds,
      ...agreement(q),
      classCounts: classCounts(q),
      maxMaskedDiff,
    });
    small.dispose();
    latencies.push(reloaded);
    await save();
    console.error(`${name} ${ratio}: agreement ${(100 * rows.at(-1).top1Agreement).toFixed(1)}% (scores ${scoreSeconds.toFixed(1)} s, shrink ${seconds.toFixed(1)} s)`);
  }
}
// Latency: all models in interleaved rounds on the same single image.
const medians = await compareLatency([dense, ...latencies], one, { rounds });
denseRow.latencyMs = medians[0];
rows.forEach((r, i) => (r.latencyMs = medians[i + 1]));

const fmt = (v, d = 0) => v.toFixed(d);
const mb = (b) => `${(b / 1e6).toFixed(2)} MB`;
const table = [
  ['model', 'params', 'MACs', 'file (uint8)', 'latency', 'speed-up', 'top-1 agree', 'KL', 'top-1 per class', 'max |shrunk − masked| (logits)'],
  ...[denseRow, ...rows].map((r) => [
    r.model,
    `${fmt(r.parameters / 1e6, 3)} M (${fmt((100 * r.parameters) / denseRow.parameters)}%)`,
    `${fmt(r.macs / 1e6, 1)} M (${fmt((100 * r.macs) / denseRow.macs)}%)`,
    `${mb(r.fileBytes)} (${fmt((100 * r.fileBytes) / denseRow.fileBytes)}%)`,
    `${fmt(r.latencyMs, 1)} ms`,
    `${fmt(denseRow.latencyMs / r.latencyMs, 2)}×`,
    `${fmt(100 * r.top1Agreement, 1)}%`,
    fmt(r.meanKl, 4),
    r.classCounts.join('/'),
    r.maxMaskedDiff.toExponential(1),
  ]),
];
const widths = table[0].map((_, c) => Math.max(...table.map((r) => r[c].length)));
const lines = table.map((r) => `| ${r.map((v, c) => v.padEnd(widths[c])).join(' | ')} |`);
lines.splice(1, 0, `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
console.log(lines.join('\n'));
console.log(`\n${n} evaluation images (${PHOTO_VIEWS} photo views + ${n - PHOTO_VIEWS} faces); latency: median of ${rounds} interleaved rounds, batch of 1, tfjs ${wasm.tfjsBackend}`);

await save();
for (const m of [dense, ...latencies]) m.dispose();
await rm(work, { recursive: true, force: true });
