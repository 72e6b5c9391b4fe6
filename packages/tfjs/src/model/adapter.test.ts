import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PruneError, type Tensor, fromArray, referenceBackend } from '@prune/core';
import { magnitude, pruneModel, unstructured, wanda } from '@prune/weights';
import * as tf from '@tensorflow/tfjs-core';
import * as tfc from '@tensorflow/tfjs-converter';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { folderHandler } from '../../test/tfjs-folder.js';
import { createTfjsBackend } from '../backend.js';
import { openTfjsModelAdapter } from './adapter.js';

let root: string;

beforeAll(async () => {
  await createTfjsBackend({ backend: 'cpu' });
  root = await mkdtemp(join(tmpdir(), 'prune-tfjs-adapter-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function seeded(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  });
}

/** Gives every weight of `model` distinct seeded values. */
function seedWeights(model: tfl.LayersModel, seed: number): void {
  model.layers.forEach((layer, i) => {
    const weights = layer.getWeights();
    if (weights.length === 0) return;
    layer.setWeights(weights.map((w, j) => tf.tensor(seeded(w.size, seed + 31 * i + j), w.shape)));
  });
}

function sequentialModel(): tfl.Sequential {
  const model = tfl.sequential({
    layers: [
      tfl.layers.dense({ inputShape: [4], units: 6, activation: 'relu', name: 'fc1' }),
      tfl.layers.dense({ units: 5, activation: 'tanh', name: 'fc2' }),
      tfl.layers.dense({ units: 3, name: 'logits' }),
    ],
  });
  seedWeights(model, 1);
  return model;
}

/** A small CNN with a residual connection and a SeparableConv2D (which is not prunable). */
function functionalModel(): tfl.LayersModel {
  const input = tfl.input({ shape: [6, 6, 2], name: 'image' });
  const c1 = tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', name: 'c1' }).apply(input) as tfl.SymbolicTensor;
  const c2 = tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', name: 'c2' }).apply(c1) as tfl.SymbolicTensor;
  const sum = tfl.layers.add({ name: 'residual' }).apply([c1, c2]) as tfl.SymbolicTensor;
  const sep = tfl.layers.separableConv2d({ filters: 3, kernelSize: 3, strides: 2, padding: 'valid', name: 'sep' }).apply(sum) as tfl.SymbolicTensor;
  const pooled = tfl.layers.globalAveragePooling2d({ name: 'pool' }).apply(sep) as tfl.SymbolicTensor;
  const fc = tfl.layers.dense({ units: 5, activation: 'relu', name: 'fc' }).apply(pooled) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 2, name: 'head' }).apply(fc) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: out });
  seedWeights(model, 7);
  return model;
}

/** Zeroes, per output unit (the last kernel axis), the `drop` entries of least score. */
function maskPerOutput(kernel: Float32Array, outputs: number, score: (i: number) => number, drop: number): Float32Array {
  const out = kernel.slice();
  const rows = kernel.length / outputs;
  for (let o = 0; o < outputs; o++) {
    const idx = Array.from({ length: rows }, (_, r) => r * outputs + o).sort((a, b) => score(a) - score(b));
    for (const i of idx.slice(0, drop)) out[i] = 0;
  }
  return out;
}

function kernelOf(model: tfl.LayersModel, name: string): Float32Array {
  return model.getLayer(name).getWeights()[0].dataSync() as Float32Array;
}

async function hashFolder(folder: string): Promise<string> {
  const h = createHash('sha256');
  for (const f of (await readdir(folder)).sort()) h.update(f).update(await readFile(join(folder, f)));
  return h.digest('hex');
}

async function saveFolder(model: tfl.LayersModel, folder: string): Promise<void> {
  await mkdir(folder, { recursive: true });
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      const data = new Uint8Array(a.weightData as ArrayBuffer);
      await writeFile(join(folder, 'w.bin'), data);
      await writeFile(join(folder, 'model.json'), JSON.stringify({ format: 'layers-model', modelTopology: a.modelTopology, weightsManifest: [{ paths: ['w.bin'], weights: a.weightSpecs }] }));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
}

describe('openTfjsModelAdapter: LayersModel', () => {
  it('lists Dense layers of a Sequential model, leaves the head dense, and prunes per row of the [out, in] view', async () => {
    const model = sequentialModel();
    const before = { fc1: kernelOf(model, 'fc1'), fc2: kernelOf(model, 'fc2'), logits: kernelOf(model, 'logits') };
    const adapter = await openTfjsModelAdapter(model, { backend: referenceBackend });
    expect(adapter.layers.map((l) => [l.name, l.shape, l.kind])).toEqual([
      ['fc1', [6, 4], 'linear'],
      ['fc2', [5, 6], 'linear'],
    ]);
    expect(adapter.skipped).toEqual([{ name: 'logits', className: 'Dense', reason: 'output head (includeHead: true prunes it)' }]);
    // readWeight is the transposed kernel
    const w = await adapter.readWeight('fc1');
    const k = before.fc1;
    expect(Array.from(w.dataSync())).toEqual(Array.from({ length: 24 }, (_, i) => k[(i % 4) * 6 + Math.floor(i / 4)]));
    w.dispose();
    await pruneModel(adapter, { method: magnitude({ scope: 'row' }), target: unstructured(0.5) });
    // per row of [out, in] = per output column of the [in, out] kernel
    expect(Array.from(kernelOf(model, 'fc1'))).toEqual(Array.from(maskPerOutput(before.fc1, 6, (i) => Math.abs(before.fc1[i]), 2)));
    expect(Array.from(kernelOf(model, 'fc2'))).toEqual(Array.from(maskPerOutput(before.fc2, 5, (i) => Math.abs(before.fc2[i]), 3)));
    expect(Array.from(kernelOf(model, 'logits'))).toEqual(Array.from(before.logits));
    const result = await adapter.finish();
    expect(result).toMatchObject({ folder: undefined, files: [], writtenWeights: 2 });
    model.dispose();
  });

  it('prunes a functional CNN like manual masking; the saved folder reloads with stock tfjs and predicts the same', async () => {
    const model = functionalModel();
    const input = join(root, 'cnn');
    await saveFolder(model, input);
    const inputHash = await hashFolder(input);
    const output = join(root, 'cnn-pruned');
    const adapter = await openTfjsModelAdapter(input, { output, includeHead: true });
    expect(adapter.layers.map((l) => [l.name, l.className, l.shape, l.head])).toEqual([
      ['c1', 'Conv2D', [4, 18], false],
      ['c2', 'Conv2D', [4, 36], false],
      ['fc', 'Dense', [5, 3], false],
      ['head', 'Dense', [2, 5], true],
    ]);
    expect(adapter.skipped.map((s) => s.name)).toEqual(['sep']);
    // write(read(w)) leaves every weight bit for bit as it was
    const conv = await adapter.readWeight('c2');
    await adapter.writeWeight('c2', conv);
    conv.dispose();
    expect(new Uint32Array(kernelOf(adapter.model!, 'c2').buffer)).toEqual(new Uint32Array(kernelOf(model, 'c2').buffer));

    await pruneModel(adapter, { method: magnitude({ scope: 'row' }), target: unstructured(0.5) });
    await adapter.finish();
    expect(await hashFolder(input)).toBe(inputHash);

    // Manual: per output channel, zero the half of its kh·kw·in (or in) weights of least magnitude.
    const manual = functionalModel();
    for (const [name, outputs, drop] of [['c1', 4, 9], ['c2', 4, 18], ['fc', 5, 1], ['head', 2, 2]] as const) {
      const layer = manual.getLayer(name);
      const [kernel, ...rest] = layer.getWeights();
      const values = kernel.dataSync() as Float32Array;
      layer.setWeights([tf.tensor(maskPerOutput(values, outputs, (i) => Math.abs(values[i]), drop), kernel.shape), ...rest]);
    }
    const reloaded = await tfl.loadLayersModel(folderHandler(output));
    const x = tf.tensor4d(seeded(3 * 6 * 6 * 2, 99), [3, 6, 6, 2]);
    const expected = manual.predict(x) as tf.Tensor;
    const got = reloaded.predict(x) as tf.Tensor;
    expect(Array.from(got.dataSync())).toEqual(Array.from(expected.dataSync()));
    for (const name of ['c1', 'c2', 'fc', 'head']) expect(Array.from(kernelOf(reloaded, name))).toEqual(Array.from(kernelOf(manual, name)));
    tf.dispose([x, expected, got]);
    [model, manual, reloaded].forEach((m) => m.dispose());
  });

  it("runner: observed inputs equal the layer inputs (Dense flattened, conv im2col by hand), across the residual's frontier", async () => {
    const model = functionalModel();
    const adapter = await openTfjsModelAdapter(model, { includeHead: true, backend: referenceBackend });
    expect(typeof adapter.runner?.runBlock).toBe('function');
    const runner = adapter.runner!;
    const xData = seeded(2 * 6 * 6 * 2, 5);
    const x = tf.tensor4d(xData, [2, 6, 6, 2]);
    const observed = new Map<string, { shape: number[]; values: number[] }>();
    const sample = fromArray(xData, [2, 6, 6, 2], 'float32', { backend: referenceBackend });
    let hidden = runner.embed(sample);
    sample.dispose();
    for (let b = 0; b < adapter.blocks().length; b++) {
      const next: Tensor = runner.runBlock(b, hidden, (layer, input) => observed.set(layer, { shape: [...input.shape], values: Array.from(input.dataSync()) }));
      hidden.dispose();
      hidden = next;
    }
    // After the head, the frontier is the model output.
    const predicted = model.predict(x) as tf.Tensor;
    expect(hidden.shape).toEqual([2, 2]);
    expect(Array.from(hidden.dataSync())).toEqual(Array.from(predicted.dataSync()));
    hidden.dispose();

    const inputOf = (name: string): tf.Tensor => tfl.model({ inputs: model.inputs, outputs: model.getLayer(name).input as tfl.SymbolicTensor }).predict(x) as tf.Tensor;
    // Dense: its input as is.
    const fcIn = inputOf('fc');
    expect(observed.get('fc')).toEqual({ shape: [2, 3], values: Array.from(fcIn.dataSync()) });
    // Conv2D 3×3 'same' on 6×6×4: patch rows (b, y, x), columns (dy, dx, c), zero outside.
    const c2In = inputOf('c2');
    const v = c2In.dataSync();
    const expected: number[] = [];
    for (let b = 0; b < 2; b++) for (let y = 0; y < 6; y++) for (let xx = 0; xx < 6; xx++) {
      for (let dy = 0; dy < 3; dy++) for (let dx = 0; dx < 3; dx++) for (let c = 0; c < 4; c++) {
        const yy = y + dy - 1;
        const xc = xx + dx - 1;
        expected.push(yy < 0 || yy >= 6 || xc < 0 || xc >= 6 ? 0 : v[((b * 6 + yy) * 6 + xc) * 4 + c]);
      }
    }
    expect(observed.get('c2')).toEqual({ shape: [72, 36], values: expected });
    tf.dispose([x, predicted, fcIn, c2In]);
    await adapter.finish();
    model.dispose();
  });

  it('Wanda through the runner (no propagation) keeps, per row, the largest |W|·‖X_j‖ of the dense inputs', async () => {
    const model = functionalModel();
    const dense = functionalModel();
    const adapter = await openTfjsModelAdapter(model, { backend: referenceBackend });
    const xData = seeded(4 * 6 * 6 * 2, 17);
    await pruneModel(adapter, {
      method: wanda(),
      target: unstructured(0.5),
      calibration: [fromArray(xData, [4, 6, 6, 2], 'float32', { backend: referenceBackend })],
      nsamples: 1,
      propagate: false,
    });
    const x = tf.tensor4d(xData, [4, 6, 6, 2]);
    for (const [name, outputs, drop, window] of [['c1', 4, 9, 3], ['c2', 4, 18, 3], ['fc', 5, 1, 0]] as const) {
      const layerIn = tfl.model({ inputs: dense.inputs, outputs: dense.getLayer(name).input as tfl.SymbolicTensor }).predict(x) as tf.Tensor;
      const v = layerIn.dataSync();
      const channels = layerIn.shape[layerIn.rank - 1]!;
      const rows = window === 0 ? 1 : window * window * channels;
      const norms = new Float64Array(window === 0 ? channels : rows);
      if (window === 0) for (let i = 0; i < v.length; i++) norms[i % channels] += v[i] * v[i];
      else {
        for (let b = 0; b < 4; b++) for (let y = 0; y < 6; y++) for (let xx = 0; xx < 6; xx++) for (let dy = 0; dy < 3; dy++) for (let dx = 0; dx < 3; dx++) {
          const yy = y + dy - 1;
          const xc = xx + dx - 1;
          if (yy < 0 || yy >= 6 || xc < 0 || xc >= 6) continue;
          for (let c = 0; c < channels; c++) norms[(dy * 3 + dx) * channels + c] += v[((b * 6 + yy) * 6 + xc) * channels + c] ** 2;
        }
      }
      const kernel = kernelOf(dense, name);
      const expected = maskPerOutput(kernel, outputs, (i) => Math.abs(kernel[i]) * Math.sqrt(norms[Math.floor(i / outputs)]), drop);
      expect(Array.from(kernelOf(model, name)).map((w) => w === 0)).toEqual(Array.from(expected).map((w) => w === 0));
      layerIn.dispose();
    }
    x.dispose();
    await adapter.finish();
    [model, dense].forEach((m) => m.dispose());
  });
});

describe('openTfjsModelAdapter: bad input', () => {
  it('reports a folder without model.json, corrupt JSON and a truncated shard', async () => {
    const empty = join(root, 'empty');
    await mkdir(empty, { recursive: true });
    await expect(openTfjsModelAdapter(empty, { output: join(root, 'x1') })).rejects.toMatchObject({ code: 'NOT_FOUND', message: expect.stringMatching(/model\.json/) });

    const broken = join(root, 'broken');
    await mkdir(broken, { recursive: true });
    await writeFile(join(broken, 'model.json'), '{"modelTopology": {');
    await expect(openTfjsModelAdapter(broken, { output: join(root, 'x2') })).rejects.toMatchObject({ code: 'CORRUPT_FILE' });

    const model = sequentialModel();
    const short = join(root, 'short');
    await saveFolder(model, short);
    await truncate(join(short, 'w.bin'), 40);
    const error = await openTfjsModelAdapter(short, { output: join(root, 'x3') }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PruneError);
    expect(error).toMatchObject({ code: 'CORRUPT_FILE', message: expect.stringMatching(/hold 40 bytes.*truncated/) });
    expect(await readdir(root)).not.toContain('x3');
    model.dispose();
  });

  it('lists unsupported layers asked for by name, and refuses an output inside the input', async () => {
    const model = functionalModel();
    await expect(openTfjsModelAdapter(model, { include: ['c1', 'sep', 'pool'] })).rejects.toMatchObject({
      code: 'UNSUPPORTED',
      message: expect.stringMatching(/"sep" \(SeparableConv2D: .*not supported\); "pool" \(GlobalAveragePooling2D: it has no weights\)\. Prunable are Dense, Conv1D, Conv2D, DepthwiseConv2D/),
    });
    await expect(openTfjsModelAdapter(model, { include: ['nope'] })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    const input = join(root, 'cnn-guard');
    await saveFolder(model, input);
    await expect(openTfjsModelAdapter(input, { output: join(input, 'pruned') })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/inside the input/) });
    await expect(openTfjsModelAdapter(input, { output: input })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    const onlyHead = await openTfjsModelAdapter(model, { include: /head/ }).catch((e: unknown) => e);
    expect(onlyHead).toMatchObject({ code: 'NOT_FOUND', message: expect.stringMatching(/no prunable layer.*output head/) });
    model.dispose();
  });
});

/** A hand-written GraphModel: Conv2D (uint8-quantized filter) → Reshape → MatMul → Relu → MatMul(transpose_b). */
async function writeGraphModel(folder: string): Promise<{ filter: Float32Array; dense: Float32Array; out: Float32Array }> {
  const filter = seeded(3 * 3 * 2 * 4, 3);
  const dense = seeded(64 * 6, 4);
  const out = seeded(3 * 6, 5); // [out, in] with transpose_b
  // uint8-quantize the filter the way tfjs-converter does: q = round((w - min) / scale)
  let lo = Infinity;
  let hi = -Infinity;
  for (const w of filter) [lo, hi] = [Math.min(lo, w), Math.max(hi, w)];
  const scale = (hi - lo) / 255;
  const q = Uint8Array.from(filter, (w) => Math.round((w - lo) / scale));
  const dequantized = Float32Array.from(q, (v) => v * scale + lo);
  const dim = (...d: number[]) => ({ dim: d.map((size) => ({ size: String(size) })) });
  const constNode = (name: string, shape: number[], type = 'DT_FLOAT') => ({ name, op: 'Const', attr: { dtype: { type }, value: { tensor: { dtype: type, tensorShape: dim(...shape) } } } });
  const f32 = { type: 'DT_FLOAT' };
  const json = {
    format: 'graph-model',
    generatedBy: 'test',
    convertedBy: 'test',
    modelTopology: {
      node: [
        { name: 'x', op: 'Placeholder', attr: { dtype: f32, shape: { shape: dim(-1, 4, 4, 2) } } },
        constNode('conv/filter', [3, 3, 2, 4]),
        { name: 'conv', op: 'Conv2D', input: ['x', 'conv/filter'], attr: { T: f32, strides: { list: { i: ['1', '1', '1', '1'] } }, padding: { s: btoa('SAME') }, data_format: { s: btoa('NHWC') }, dilations: { list: { i: ['1', '1', '1', '1'] } } } },
        constNode('flat/shape', [2], 'DT_INT32'),
        { name: 'flat', op: 'Reshape', input: ['conv', 'flat/shape'], attr: { T: f32 } },
        constNode('dense/kernel', [64, 6]),
        { name: 'dense/kernel/read', op: 'Identity', input: ['dense/kernel'], attr: { T: f32 } },
        { name: 'dense', op: 'MatMul', input: ['flat', 'dense/kernel/read'], attr: { T: f32, transpose_a: { b: false }, transpose_b: { b: false } } },
        { name: 'relu', op: 'Relu', input: ['dense'], attr: { T: f32 } },
        constNode('out/kernel', [3, 6]),
        { name: 'out', op: 'MatMul', input: ['relu', 'out/kernel'], attr: { T: f32, transpose_a: { b: false }, transpose_b: { b: true } } },
      ],
      library: {},
      versions: { producer: 1 },
    },
    weightsManifest: [
      {
        paths: ['weights.bin'],
        weights: [
          { name: 'conv/filter', shape: [3, 3, 2, 4], dtype: 'float32', quantization: { dtype: 'uint8', scale, min: lo } },
          { name: 'flat/shape', shape: [2], dtype: 'int32' },
          { name: 'dense/kernel', shape: [64, 6], dtype: 'float32' },
          { name: 'out/kernel', shape: [3, 6], dtype: 'float32' },
        ],
      },
    ],
  };
  await mkdir(folder, { recursive: true });
  const shape = new Uint8Array(Int32Array.from([-1, 64]).buffer);
  await writeFile(join(folder, 'weights.bin'), Buffer.concat([q, shape, new Uint8Array(dense.buffer), new Uint8Array(out.buffer)]));
  await writeFile(join(folder, 'model.json'), JSON.stringify(json));
  return { filter: dequantized, dense, out };
}

describe('openTfjsModelAdapter: GraphModel', () => {
  it('prunes MatMul and Conv2D weights (uint8 stays uint8 with exact zeros); stock tf.loadGraphModel runs the result', async () => {
    const input = join(root, 'graph');
    const w = await writeGraphModel(input);
    const output = join(root, 'graph-pruned');
    const adapter = await openTfjsModelAdapter(input, { output, backend: referenceBackend });
    expect(adapter.format).toBe('graph-model');
    expect(adapter.runner).toBeUndefined();
    expect(adapter.layers.map((l) => [l.name, l.className, l.shape, l.view])).toEqual([
      ['conv/filter', 'Conv2D', [4, 18], 'inOut'],
      ['dense/kernel', 'MatMul', [6, 64], 'inOut'],
    ]);
    expect(adapter.skipped).toEqual([{ name: 'out/kernel', className: 'MatMul', reason: 'output head (includeHead: true prunes it)' }]);
    const read = await adapter.readWeight('conv/filter');
    // [out, kh·kw·in] of the dequantized filter [3, 3, 2, 4]
    expect(Array.from(read.dataSync())).toEqual(Array.from({ length: 72 }, (_, i) => w.filter[(i % 18) * 4 + Math.floor(i / 18)]));
    read.dispose();
    await pruneModel(adapter, { method: magnitude(), target: unstructured(0.5) });
    const result = await adapter.finish();
    expect(result.files.map((f) => f.slice(output.length + 1))).toEqual(['model.json', 'group1-shard1of1.bin']);

    const json = JSON.parse(await readFile(join(output, 'model.json'), 'utf8'));
    expect(json.weightsManifest[0].weights[0].quantization.dtype).toBe('uint8');
    const graph = await tfc.loadGraphModel(folderHandler(output));
    const x = tf.tensor4d(seeded(2 * 4 * 4 * 2, 9), [2, 4, 4, 2]);
    const y = graph.predict(x) as tf.Tensor;
    // Manual: per-matrix magnitude (threshold at the 50th percentile) on the dequantized weights;
    // kept filter weights may move by up to one quantization step when re-quantized.
    const prunedFilter = graph.weights['conv/filter'][0].dataSync();
    const sortedF = Array.from(w.filter, Math.abs).sort((a, b) => a - b);
    const thrF = sortedF[36];
    const zerosF = Array.from(w.filter).map((v) => Math.abs(v) <= thrF);
    expect(Array.from(prunedFilter).map((v) => v === 0)).toEqual(zerosF);
    const step = json.weightsManifest[0].weights[0].quantization.scale;
    for (let i = 0; i < 72; i++) if (!zerosF[i]) expect(Math.abs(prunedFilter[i] - w.filter[i])).toBeLessThanOrEqual(step + 1e-7);
    const sortedD = Array.from(w.dense, Math.abs).sort((a, b) => a - b);
    const manualDense = Float32Array.from(w.dense, (v) => (Math.abs(v) <= sortedD[192] ? 0 : v));
    const expected = tf.tidy(() => {
      const c = tf.conv2d(x, tf.tensor4d(prunedFilter, [3, 3, 2, 4]), 1, 'same');
      const h = tf.relu(tf.matMul(tf.reshape(c, [-1, 64]), tf.tensor2d(manualDense, [64, 6])));
      return tf.matMul(h, tf.tensor2d(w.out, [3, 6]), false, true);
    });
    expect(y.shape).toEqual([2, 3]);
    const diff = tf.max(tf.abs(tf.sub(y, expected))).dataSync()[0];
    expect(diff).toBeLessThan(1e-5);
    tf.dispose([x, y, expected]);
    graph.dispose();
  });

  it("includeHead prunes the transpose_b head as [out, in]; weightEncoding 'float32' drops the quantization", async () => {
    const input = join(root, 'graph2');
    const w = await writeGraphModel(input);
    const output = join(root, 'graph2-pruned');
    const adapter = await openTfjsModelAdapter(input, { output, includeHead: true, weightEncoding: 'float32', backend: referenceBackend });
    const head = adapter.layer('out/kernel');
    expect([head.view, head.shape, head.head]).toEqual(['outIn', [3, 6], true]);
    const read = await adapter.readWeight('out/kernel');
    expect(Array.from(read.dataSync())).toEqual(Array.from(w.out));
    await adapter.writeWeight('out/kernel', read);
    read.dispose();
    const filter = await adapter.readWeight('conv/filter');
    await adapter.writeWeight('conv/filter', filter);
    filter.dispose();
    await adapter.finish();
    const json = JSON.parse(await readFile(join(output, 'model.json'), 'utf8'));
    expect(json.weightsManifest[0].weights[0]).toEqual({ name: 'conv/filter', shape: [3, 3, 2, 4], dtype: 'float32' });
    const graph = await tfc.loadGraphModel(folderHandler(output));
    expect(Array.from(graph.weights['conv/filter'][0].dataSync())).toEqual(Array.from(w.filter));
    expect(Array.from(graph.weights['out/kernel'][0].dataSync())).toEqual(Array.from(w.out));
    graph.dispose();
  });
});
