import { PruneError, Random } from '@prune/core';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { layoutOf, weightCount } from './architecture.js';
import type { Activation, ConvBlock, ConvNetSpec, DepthwiseBlock, WeightLayer } from './architecture.js';

/** Host copy of one layer's parameters, laid out as tfjs stores them. */
export interface LayerWeights {
  /** Kernel values, row-major in the layer's `kernelShape`. */
  kernel: Float32Array;
  /** One bias per output channel. */
  bias: Float32Array;
}

/** Parameters of a {@link ConvNetSpec}, by layer name. */
export type ConvNetWeights = Map<string, LayerWeights>;

/** Parameters as tfjs tensors, by layer name (what {@link forward} differentiates). */
export type ConvNetTensors = Map<string, { kernel: tf.Tensor; bias: tf.Tensor }>;

/**
 * Fresh seeded weights for `spec`: He-normal kernels (std √(2/fan_in), fan_in = k²·c_in, or
 * k² for depthwise), Glorot-uniform classifier, zero biases.
 *
 * @param spec - the architecture description
 * @param seed - seed of the generator
 * @returns the weights, by layer name
 */
export function initWeights(spec: ConvNetSpec, seed: number): ConvNetWeights {
  const rng = new Random(seed);
  const weights: ConvNetWeights = new Map();
  for (const layer of layoutOf(spec).layers) {
    const kernel = new Float32Array(weightCount(layer));
    if (layer.kind === 'dense') {
      const limit = Math.sqrt(6 / (layer.inChannels + layer.outChannels));
      for (let i = 0; i < kernel.length; i++) kernel[i] = (2 * rng.uniform() - 1) * limit;
    } else {
      const fanIn = layer.kernelSize * layer.kernelSize * (layer.kind === 'conv' ? layer.inChannels : 1);
      const std = Math.sqrt(2 / fanIn);
      for (let i = 0; i < kernel.length; i++) kernel[i] = rng.normal() * std;
    }
    weights.set(layer.name, { kernel, bias: new Float32Array(layer.outChannels) });
  }
  return weights;
}

function checkWeights(layers: readonly WeightLayer[], weights: ConvNetWeights): void {
  for (const layer of layers) {
    const w = weights.get(layer.name);
    if (w === undefined) throw new PruneError('NOT_FOUND', `no weights for layer "${layer.name}"; pass weights from initWeights(spec) or readWeights(model, spec)`);
    if (w.kernel.length !== weightCount(layer) || w.bias.length !== layer.outChannels) {
      throw new PruneError(
        'SHAPE_MISMATCH',
        `layer "${layer.name}" needs a kernel of ${weightCount(layer)} values [${layer.kernelShape.join(', ')}] and ${layer.outChannels} biases, got ${w.kernel.length} and ${w.bias.length}; were the weights made for another width?`,
      );
    }
  }
}

/** Options of {@link buildModel}. */
export interface BuildModelOptions {
  /** Weights to load; else fresh ones from {@link initWeights} with `seed`. @defaultValue fresh weights */
  weights?: ConvNetWeights;
  /** Seed for fresh weights. @defaultValue 0 */
  seed?: number;
}

/**
 * Builds a tfjs functional LayersModel from `spec` (conv / depthwise layers with `same`
 * padding, residual additions, global average pooling, dense logits — no softmax). Layer
 * names follow {@link layoutOf}. The model can be trained, saved and loaded with stock tfjs.
 *
 * @param spec - the architecture description
 * @param options - weights or seed
 * @returns the model, logits as output
 */
export function buildModel(spec: ConvNetSpec, options: BuildModelOptions = {}): tfl.LayersModel {
  const { layers } = layoutOf(spec);
  const weights = options.weights ?? initWeights(spec, options.seed ?? 0);
  checkWeights(layers, weights);
  const input = tfl.input({ shape: [...spec.inputShape] });
  const layerOf = (block: ConvBlock | DepthwiseBlock, name: string): tfl.layers.Layer =>
    block.kind === 'conv'
      ? tfl.layers.conv2d({ name, filters: block.filters, kernelSize: block.kernelSize, strides: block.strides ?? 1, padding: 'same', activation: block.activation ?? 'relu' })
      : tfl.layers.depthwiseConv2d({ name, kernelSize: block.kernelSize, strides: block.strides ?? 1, padding: 'same', activation: block.activation ?? 'relu' });
  let x = input as tfl.SymbolicTensor;
  spec.blocks.forEach((block, i) => {
    if (block.kind === 'residual') {
      let y = x;
      block.body.forEach((inner, j) => {
        y = layerOf(inner, `b${i}_${j}`).apply(y) as tfl.SymbolicTensor;
      });
      const strides = block.body.reduce((acc, inner) => acc * (inner.strides ?? 1), 1);
      const shortcut =
        block.shortcut === 'identity'
          ? x
          : (tfl.layers.conv2d({ name: `b${i}_proj`, filters: y.shape[3] as number, kernelSize: 1, strides, padding: 'same', activation: 'linear' }).apply(x) as tfl.SymbolicTensor);
      const sum = tfl.layers.add({ name: `b${i}_add` }).apply([y, shortcut]) as tfl.SymbolicTensor;
      x = tfl.layers.activation({ name: `b${i}_act`, activation: block.activation ?? 'relu' }).apply(sum) as tfl.SymbolicTensor;
    } else {
      x = layerOf(block, `b${i}`).apply(x) as tfl.SymbolicTensor;
    }
  });
  const pooled = tfl.layers.globalAveragePooling2d({ name: 'pool' }).apply(x) as tfl.SymbolicTensor;
  const logits = tfl.layers.dense({ name: 'classifier', units: spec.classes }).apply(pooled) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: logits });
  for (const layer of layers) {
    const w = weights.get(layer.name) as LayerWeights;
    const values = [tf.tensor(w.kernel, layer.kernelShape), tf.tensor(w.bias, [layer.outChannels])];
    model.getLayer(layer.name).setWeights(values);
    tf.dispose(values);
  }
  return model;
}

/**
 * Reads the weights of a model built by {@link buildModel} (or any model with the same layer
 * names and shapes) back to the host.
 *
 * @param model - the tfjs model
 * @param spec - its architecture description
 * @returns the weights, by layer name
 * @throws PruneError `NOT_FOUND` / `SHAPE_MISMATCH` when the model does not match `spec`
 */
export function readWeights(model: tfl.LayersModel, spec: ConvNetSpec): ConvNetWeights {
  const weights: ConvNetWeights = new Map();
  for (const layer of layoutOf(spec).layers) {
    let found: tfl.layers.Layer;
    try {
      found = model.getLayer(layer.name);
    } catch (cause) {
      throw new PruneError('NOT_FOUND', `the model has no layer "${layer.name}"; build it from the same spec with buildModel()`, { cause });
    }
    const [kernel, bias] = found.getWeights();
    if (kernel === undefined || bias === undefined) throw new PruneError('SHAPE_MISMATCH', `layer "${layer.name}" has no kernel and bias`);
    weights.set(layer.name, { kernel: kernel.dataSync() as Float32Array, bias: bias.dataSync() as Float32Array });
  }
  checkWeights(layoutOf(spec).layers, weights);
  return weights;
}

/**
 * Zeroes the kernel entries where `masks` holds 0 (unstructured pruning kept fixed during
 * training: call it after every optimizer step).
 *
 * @param model - a model built by {@link buildModel}
 * @param masks - 0/1 per kernel entry, by layer name; layers without a mask are left alone
 */
export function applyKernelMasks(model: tfl.LayersModel, masks: ReadonlyMap<string, Uint8Array>): void {
  for (const [name, mask] of masks) {
    const layer = model.getLayer(name);
    const [kernel, ...rest] = layer.getWeights();
    if (kernel.size !== mask.length) throw new PruneError('SHAPE_MISMATCH', `mask of "${name}" has ${mask.length} entries, its kernel ${kernel.size}`);
    const masked = tf.tidy(() => tf.mul(kernel, tf.cast(tf.tensor(mask, kernel.shape, 'int32'), 'float32')));
    layer.setWeights([masked, ...rest]);
    masked.dispose();
  }
}

/** Host weights → tfjs tensors (the caller disposes them). */
export function toTensors(spec: ConvNetSpec, weights: ConvNetWeights): ConvNetTensors {
  const { layers } = layoutOf(spec);
  checkWeights(layers, weights);
  const out: ConvNetTensors = new Map();
  for (const layer of layers) {
    const w = weights.get(layer.name) as LayerWeights;
    out.set(layer.name, { kernel: tf.tensor(w.kernel, layer.kernelShape), bias: tf.tensor1d(w.bias) });
  }
  return out;
}

/** Options of {@link forward}. */
export interface ForwardOptions {
  /**
   * Compute convolutions as patch extraction (pad + slices) and a matrix product instead of
   * tfjs' conv kernels. tfjs registers no gradient for the conv backprop kernels, so
   * second-order derivatives (GraSP's Hessian–gradient product) need this form.
   * @defaultValue false
   */
  patches?: boolean;
}

function activate(x: tf.Tensor, activation: Activation | undefined): tf.Tensor {
  return (activation ?? 'relu') === 'relu' ? tf.relu(x) : x;
}

/** `same`-padded k×k patches of `x` at stride `s`: one [n, h', w', c] tensor per kernel tap (row-major taps). */
function patchTaps(x: tf.Tensor4D, k: number, s: number): tf.Tensor4D[] {
  const [n, h, w, c] = x.shape;
  const ho = Math.ceil(h / s);
  const wo = Math.ceil(w / s);
  const padH = Math.max((ho - 1) * s + k - h, 0);
  const padW = Math.max((wo - 1) * s + k - w, 0);
  const top = Math.floor(padH / 2);
  const left = Math.floor(padW / 2);
  // Extra rows/columns at the end so that every tap can take a full s·h' × s·w' window.
  const extraH = Math.max(0, k - 1 + s * ho - (h + padH));
  const extraW = Math.max(0, k - 1 + s * wo - (w + padW));
  const padded = tf.pad(x, [
    [0, 0],
    [top, padH - top + extraH],
    [left, padW - left + extraW],
    [0, 0],
  ]) as tf.Tensor4D;
  const taps: tf.Tensor4D[] = [];
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) {
      let tap = tf.slice(padded, [0, i, j, 0], [n, s * ho, s * wo, c]) as tf.Tensor4D;
      if (s > 1) tap = tf.reshape(tf.slice(tf.reshape(tap, [n, ho, s, wo, s, c]), [0, 0, 0, 0, 0, 0], [n, ho, 1, wo, 1, c]), [n, ho, wo, c]);
      taps.push(tap);
    }
  }
  return taps;
}

function convLayer(x: tf.Tensor4D, layer: WeightLayer, p: { kernel: tf.Tensor; bias: tf.Tensor }, patches: boolean): tf.Tensor4D {
  const k = layer.kernelSize;
  const s = layer.strides;
  let y: tf.Tensor4D;
  if (!patches) {
    y = layer.kind === 'conv' ? tf.conv2d(x, p.kernel as tf.Tensor4D, s, 'same') : tf.depthwiseConv2d(x, p.kernel as tf.Tensor4D, s, 'same');
  } else {
    const taps = patchTaps(x, k, s);
    const [n, ho, wo] = taps[0].shape;
    if (layer.kind === 'conv') {
      // Tap-major, channel-minor columns match the [k, k, c_in, c_out] kernel layout.
      const cols = k * k === 1 ? taps[0] : tf.concat(taps, 3);
      const flat = tf.matMul(tf.reshape(cols, [n * ho * wo, k * k * layer.inChannels]), tf.reshape(p.kernel, [k * k * layer.inChannels, layer.outChannels]));
      y = tf.reshape(flat, [n, ho, wo, layer.outChannels]);
    } else {
      const kern = tf.reshape(p.kernel, [k * k, layer.inChannels]);
      let acc: tf.Tensor4D | undefined;
      taps.forEach((tap, t) => {
        const term = tf.mul(tap, tf.reshape(tf.slice(kern, [t, 0], [1, layer.inChannels]), [layer.inChannels])) as tf.Tensor4D;
        acc = acc === undefined ? term : (tf.add(acc, term) as tf.Tensor4D);
      });
      y = acc as tf.Tensor4D;
    }
  }
  return tf.add(y, p.bias) as tf.Tensor4D;
}

/**
 * The network's logits as a pure function of its parameters, for differentiation with
 * `tf.grads`: computes what {@link buildModel}'s model computes, from `params`.
 *
 * @param spec - the architecture description
 * @param params - kernel and bias tensors by layer name
 * @param x - images `[n, height, width, channels]`
 * @param options - see {@link ForwardOptions}
 * @returns logits `[n, classes]`
 */
export function forward(spec: ConvNetSpec, params: ConvNetTensors, x: tf.Tensor4D, options: ForwardOptions = {}): tf.Tensor2D {
  const layers = new Map(layoutOf(spec).layers.map((l) => [l.name, l]));
  const patches = options.patches ?? false;
  const run = (h: tf.Tensor4D, block: ConvBlock | DepthwiseBlock, name: string): tf.Tensor4D => {
    const p = params.get(name);
    if (p === undefined) throw new PruneError('NOT_FOUND', `no parameters for layer "${name}"`);
    return activate(convLayer(h, layers.get(name) as WeightLayer, p, patches), block.activation) as tf.Tensor4D;
  };
  let h = x;
  spec.blocks.forEach((block, i) => {
    if (block.kind === 'residual') {
      let y = h;
      block.body.forEach((inner, j) => {
        y = run(y, inner, `b${i}_${j}`);
      });
      const shortcut = block.shortcut === 'identity' ? h : convLayer(h, layers.get(`b${i}_proj`) as WeightLayer, params.get(`b${i}_proj`) as { kernel: tf.Tensor; bias: tf.Tensor }, patches);
      h = activate(tf.add(y, shortcut), block.activation) as tf.Tensor4D;
    } else {
      h = run(h, block, `b${i}`);
    }
  });
  const pooled = tf.mean(h, [1, 2]) as tf.Tensor2D;
  const head = params.get('classifier') as { kernel: tf.Tensor; bias: tf.Tensor };
  return tf.add(tf.matMul(pooled, head.kernel as tf.Tensor2D), head.bias) as tf.Tensor2D;
}
