import { PruneError, Random, reportProgress } from '@prune/core';
import type { ProgressOptions } from '@prune/core';
import * as tf from '@tensorflow/tfjs-core';
import { layoutOf, weightCount } from './architecture.js';
import type { ConvNetSpec, WeightLayer } from './architecture.js';
import { forward, toTensors } from './model.js';
import type { ConvNetTensors, ConvNetWeights, ForwardOptions } from './model.js';

/** One importance score per kernel entry, by layer name, in float64 (kernel layout). */
export type LayerScores = Map<string, Float64Array>;

/** One 0/1 entry per kernel entry, by layer name (1 = kept). */
export type KernelMasks = Map<string, Uint8Array>;

/** Labelled images for the data-dependent scores (SNIP, GraSP). */
export interface LabelledBatch {
  /** `count·height·width·channels` pixel values, image after image, channels-last. */
  images: Float32Array;
  /** One class index per image. */
  labels: ArrayLike<number>;
}

/** The pruning-at-initialization methods this module scores with. */
export type PaiMethod = 'snip' | 'grasp' | 'synflow';

function checkBatches(spec: ConvNetSpec, batches: readonly LabelledBatch[]): void {
  if (!Array.isArray(batches) || batches.length === 0) {
    throw new PruneError('INVALID_ARGUMENT', 'SNIP and GraSP need at least one labelled batch (e.g. 10 images per class)');
  }
  const perImage = spec.inputShape[0] * spec.inputShape[1] * spec.inputShape[2];
  batches.forEach((b, i) => {
    const n = b.labels.length;
    if (n === 0 || b.images.length !== n * perImage) {
      throw new PruneError('SHAPE_MISMATCH', `batch ${i}: ${n} labels need ${n * perImage} pixel values (${spec.inputShape.join('×')} per image), got ${b.images.length}`);
    }
    for (let j = 0; j < n; j++) {
      const y = b.labels[j];
      if (!Number.isInteger(y) || y < 0 || y >= spec.classes) {
        throw new PruneError('OUT_OF_RANGE', `batch ${i}, image ${j}: label ${y} is not a class index in [0, ${spec.classes})`);
      }
    }
  });
}

/**
 * exp with a gradient recomputed from its input. tfjs' own Exp gradient multiplies by the
 * saved *output*, whose saved copy is not connected to the parameters on the tape, so a second
 * derivative through it silently drops a term; recomputing exp(x) from the saved input keeps
 * GraSP's Hessian–gradient product exact.
 */
const expForSecondOrder = (x: tf.Tensor): tf.Tensor =>
  tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const input = args[0] as tf.Tensor;
    (args[1] as tf.GradSaveFunc)([input]);
    return { value: tf.exp(input), gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(dy, tf.exp(saved[0])) };
  })(x);

/** Mean softmax cross-entropy of `logits` against integer `labels`. */
function crossEntropy(logits: tf.Tensor2D, labels: ArrayLike<number>, classes: number): tf.Scalar {
  const oneHot = tf.cast(tf.oneHot(tf.tensor1d(Array.from(labels), 'int32'), classes), 'float32');
  // Shift by the row maximum for stability; the shift is rebuilt from host values so that it is
  // a constant to autodiff (tfjs has no gradient for the Equal op inside Max's gradient, which
  // GraSP's second derivative would need; the shift cancels mathematically anyway).
  const shift = tf.tensor(tf.max(logits, 1, true).dataSync(), [logits.shape[0], 1]);
  const shifted = tf.sub(logits, shift);
  const logProbs = tf.sub(shifted, tf.log(tf.sum(expForSecondOrder(shifted), 1, true)));
  return tf.neg(tf.mean(tf.sum(tf.mul(oneHot, logProbs), 1))) as tf.Scalar;
}

/** Runs `fn` in a tfjs scope that disposes every tensor it made (results are host arrays). */
function hostScope<T>(fn: () => T): T {
  tf.engine().startScope();
  try {
    return fn();
  } finally {
    tf.engine().endScope();
  }
}

/** Kernel gradients of `objective(params)` with biases held constant, as host float64 arrays. */
function kernelGradients(
  layers: readonly WeightLayer[],
  params: ConvNetTensors,
  objective: (p: ConvNetTensors) => tf.Scalar,
): Float64Array[] {
  return hostScope(() => {
    const names = layers.map((l) => l.name);
    const kernels = names.map((n) => (params.get(n) as { kernel: tf.Tensor }).kernel);
    const grads = tf.grads((...ks: tf.Tensor[]) =>
      objective(new Map(names.map((n, i) => [n, { kernel: ks[i], bias: (params.get(n) as { bias: tf.Tensor }).bias }]))),
    )(kernels);
    return grads.map((g) => Float64Array.from(g.dataSync()));
  });
}

function disposeParams(params: ConvNetTensors): void {
  for (const p of params.values()) tf.dispose([p.kernel, p.bias]);
}

function imagesTensor(spec: ConvNetSpec, batch: LabelledBatch): tf.Tensor4D {
  return tf.tensor4d(batch.images, [batch.labels.length, ...spec.inputShape]);
}

/** Options of {@link lossGradients} and {@link hessianGradientProduct}. */
export interface LossOptions {
  /** Softmax temperature T: the loss is the cross-entropy of logits / T. @defaultValue 1 */
  temperature?: number;
}

function temperatureOf(options: LossOptions, fallback: number): number {
  const t = options.temperature ?? fallback;
  if (!(t > 0) || !Number.isFinite(t)) throw new PruneError('INVALID_ARGUMENT', `temperature must be a positive number, got ${t}`);
  return t;
}

function batchLoss(spec: ConvNetSpec, temperature: number, forwardOptions: ForwardOptions) {
  return (p: ConvNetTensors, x: tf.Tensor4D, batch: LabelledBatch): tf.Scalar => {
    const logits = forward(spec, p, x, forwardOptions);
    return crossEntropy(temperature === 1 ? logits : (tf.div(logits, temperature) as tf.Tensor2D), batch.labels, spec.classes);
  };
}

/**
 * g = Σ_b ∇_θ L_b: kernel gradients of the mean cross-entropy of each batch, summed over the
 * batches in float64 on the host.
 *
 * @param spec - the architecture description
 * @param weights - the weights
 * @param batches - labelled images
 * @param options - temperature
 * @returns gradients by layer name (kernel layout)
 */
export function lossGradients(spec: ConvNetSpec, weights: ConvNetWeights, batches: readonly LabelledBatch[], options: LossOptions = {}): LayerScores {
  const { layers } = layoutOf(spec);
  checkBatches(spec, batches);
  const loss = batchLoss(spec, temperatureOf(options, 1), {});
  const params = toTensors(spec, weights);
  try {
    const total = layers.map((l) => new Float64Array(weightCount(l)));
    for (const batch of batches) {
      const grads = hostScope(() => {
        const x = imagesTensor(spec, batch);
        return kernelGradients(layers, params, (p) => loss(p, x, batch));
      });
      grads.forEach((g, i) => g.forEach((v, j) => (total[i][j] += v)));
    }
    return new Map(layers.map((l, i) => [l.name, total[i]]));
  } finally {
    disposeParams(params);
  }
}

/**
 * Hg = Σ_b ∇_θ(gᵀ∇_θ L_b): the Hessian of the summed loss times a fixed vector g, by double
 * back-propagation (exact, not a finite difference) through the patch form of the
 * convolutions ({@link ForwardOptions.patches}). Summed over batches in float64.
 *
 * @param spec - the architecture description
 * @param weights - the weights
 * @param batches - labelled images
 * @param g - the vector, by layer name (kernel layout), held constant
 * @param options - temperature
 * @returns Hg by layer name
 */
export function hessianGradientProduct(
  spec: ConvNetSpec,
  weights: ConvNetWeights,
  batches: readonly LabelledBatch[],
  g: ReadonlyMap<string, ArrayLike<number>>,
  options: LossOptions = {},
): LayerScores {
  const { layers } = layoutOf(spec);
  checkBatches(spec, batches);
  for (const l of layers) {
    const v = g.get(l.name);
    if (v === undefined || v.length !== weightCount(l)) throw new PruneError('SHAPE_MISMATCH', `g needs ${weightCount(l)} values for layer "${l.name}", got ${v?.length ?? 'none'}`);
  }
  const loss = batchLoss(spec, temperatureOf(options, 1), { patches: true });
  const names = layers.map((l) => l.name);
  const params = toTensors(spec, weights);
  try {
    const hg = layers.map((l) => new Float64Array(weightCount(l)));
    for (const batch of batches) {
      const terms = hostScope(() => {
        const x = imagesTensor(spec, batch);
        const stopped = layers.map((l) => tf.tensor(Float32Array.from(g.get(l.name) as ArrayLike<number>), l.kernelShape));
        return kernelGradients(layers, params, (p) => {
          const inner = tf.grads((...ks: tf.Tensor[]) => loss(new Map(names.map((n, i) => [n, { kernel: ks[i], bias: (p.get(n) as { bias: tf.Tensor }).bias }])), x, batch));
          const gradsB = inner(names.map((n) => (p.get(n) as { kernel: tf.Tensor }).kernel));
          return tf.addN(gradsB.map((gb, i) => tf.sum(tf.mul(stopped[i], gb)))) as tf.Scalar;
        });
      });
      terms.forEach((t, i) => t.forEach((v, j) => (hg[i][j] += v)));
    }
    return new Map(layers.map((l, i) => [l.name, hg[i]]));
  } finally {
    disposeParams(params);
  }
}

/**
 * SNIP connection sensitivity (Lee et al. 2019, as in Synaptic-Flow's `SNIP`):
 * s = |θ ⊙ Σ_b ∇_θ L_b| over the batches (L_b the mean cross-entropy of batch b), divided by
 * the sum of all scores. Only kernels are scored (biases are never pruned).
 *
 * @param spec - the architecture description
 * @param weights - the freshly initialised weights (e.g. `readWeights(model, spec)`)
 * @param batches - labelled images; the paper uses 10 per class
 * @returns scores summing to 1, by layer name
 */
export function snipScores(spec: ConvNetSpec, weights: ConvNetWeights, batches: readonly LabelledBatch[]): LayerScores {
  const grads = lossGradients(spec, weights, batches);
  const scores: LayerScores = new Map();
  let norm = 0;
  for (const [name, g] of grads) {
    const theta = (weights.get(name) as { kernel: Float32Array }).kernel;
    const s = g.map((v, j) => Math.abs(v * theta[j]));
    for (const v of s) norm += v;
    scores.set(name, s);
  }
  if (!Number.isFinite(norm)) throw new PruneError('NON_FINITE', 'SNIP scores overflowed; check the inputs and initial weights');
  if (norm > 0) for (const s of scores.values()) for (let j = 0; j < s.length; j++) s[j] /= norm;
  return scores;
}

/**
 * GraSP gradient-signal-preservation scores (Wang et al. 2020, as in Synaptic-Flow's
 * `GraSP`): with logits divided by T, g = Σ_b ∇_θ L_b ({@link lossGradients}, held constant),
 * Hg ({@link hessianGradientProduct}), s = θ ⊙ Hg / (|Σ s| + 1e−10). Signed: the smallest
 * scores are pruned. Kernels only.
 *
 * @param spec - the architecture description
 * @param weights - the freshly initialised weights
 * @param batches - labelled images; the paper uses 10 per class
 * @param options - temperature (default 200 here)
 * @returns signed scores, by layer name
 */
export function graspScores(spec: ConvNetSpec, weights: ConvNetWeights, batches: readonly LabelledBatch[], options: LossOptions = {}): LayerScores {
  const temperature = temperatureOf(options, 200);
  const g = lossGradients(spec, weights, batches, { temperature });
  const hg = hessianGradientProduct(spec, weights, batches, g, { temperature });
  const scores: LayerScores = new Map();
  let sum = 0;
  for (const [name, h] of hg) {
    const theta = (weights.get(name) as { kernel: Float32Array }).kernel;
    const s = h.map((v, j) => v * theta[j]);
    for (const v of s) sum += v;
    scores.set(name, s);
  }
  if (!Number.isFinite(sum)) throw new PruneError('NON_FINITE', 'GraSP scores overflowed; check the inputs and initial weights');
  const norm = Math.abs(sum) + 1e-10;
  for (const s of scores.values()) for (let j = 0; j < s.length; j++) s[j] /= norm;
  return scores;
}

/** What {@link synflowScores} computes besides the scores. */
export interface SynflowScores {
  /** |θ ⊙ ∂R/∂θ| per kernel entry, by layer name. */
  scores: LayerScores;
  /** The synaptic flow R = 𝟙ᵀ f(𝟙; |θ ⊙ m|), summed in float64. */
  flow: number;
}

/**
 * SynFlow scores (Tanaka et al. 2020, Synaptic-Flow's `SynFlow`), data-free: every parameter
 * is replaced by its absolute value (masked kernel entries by 0), the input is one all-ones
 * image, R = Σ f(𝟙), and s = |θ ⊙ ∂R/∂θ|. The given weights are not modified (their signs are
 * never lost). Kernels only.
 *
 * @param spec - the architecture description
 * @param weights - the freshly initialised weights
 * @param masks - current masks (from an earlier round); absent layers are unmasked
 * @returns the scores and R
 * @throws PruneError `NON_FINITE` when R overflows float32 (use fewer or narrower layers)
 */
export function synflowScores(spec: ConvNetSpec, weights: ConvNetWeights, masks?: ReadonlyMap<string, Uint8Array>): SynflowScores {
  const { layers } = layoutOf(spec);
  const linearised: ConvNetWeights = new Map();
  for (const layer of layers) {
    const w = weights.get(layer.name);
    if (w === undefined) throw new PruneError('NOT_FOUND', `no weights for layer "${layer.name}"`);
    const m = masks?.get(layer.name);
    if (m !== undefined && m.length !== w.kernel.length) throw new PruneError('SHAPE_MISMATCH', `mask of "${layer.name}" has ${m.length} entries, its kernel ${w.kernel.length}`);
    linearised.set(layer.name, {
      kernel: w.kernel.map((v, j) => (m === undefined || m[j] ? Math.abs(v) : 0)),
      bias: w.bias.map(Math.abs),
    });
  }
  const params = toTensors(spec, linearised);
  try {
    let flow = 0;
    const grads = hostScope(() => {
      const ones = tf.ones([1, ...spec.inputShape]) as tf.Tensor4D;
      const out = forward(spec, params, ones).dataSync();
      for (const v of out) flow += v;
      return kernelGradients(layers, params, (p) => tf.sum(forward(spec, p, ones)) as tf.Scalar);
    });
    const scores: LayerScores = new Map();
    layers.forEach((layer, i) => {
      const theta = (linearised.get(layer.name) as { kernel: Float32Array }).kernel;
      const s = grads[i].map((g, j) => Math.abs(g * theta[j]));
      for (const v of s) if (!Number.isFinite(v)) throw new PruneError('NON_FINITE', `SynFlow scores of "${layer.name}" overflowed float32; the network is too deep or wide for a float32 flow`);
      scores.set(layer.name, s);
    });
    if (!Number.isFinite(flow)) throw new PruneError('NON_FINITE', 'the synaptic flow R overflowed float32; the network is too deep or wide for a float32 flow');
    return { scores, flow };
  } finally {
    disposeParams(params);
  }
}

/** Options of {@link globalMask}. */
export interface GlobalMaskOptions {
  /** Only entries kept by these masks may be kept again (iterative pruning never revives a weight). @defaultValue every entry is a candidate */
  current?: ReadonlyMap<string, Uint8Array>;
}

/**
 * One global mask over all layers: keeps the k = round(density·N) highest scores (N = all
 * kernel entries). Ties are broken deterministically — the entry that comes first (layers in
 * the order of `scores`, then kernel order) is kept — so exactly k entries survive.
 *
 * @param scores - scores by layer name
 * @param density - fraction of entries to keep, in [0, 1]
 * @param options - candidates for iterative pruning
 * @returns 0/1 masks, by layer name
 */
export function globalMask(scores: LayerScores, density: number, options: GlobalMaskOptions = {}): KernelMasks {
  if (!(density >= 0 && density <= 1)) throw new PruneError('OUT_OF_RANGE', `density must be in [0, 1], got ${density}`);
  const names = [...scores.keys()];
  const offsets: number[] = [];
  let total = 0;
  for (const n of names) {
    offsets.push(total);
    total += (scores.get(n) as Float64Array).length;
  }
  const flat = new Float64Array(total);
  const candidates: number[] = [];
  names.forEach((n, i) => {
    const s = scores.get(n) as Float64Array;
    const cur = options.current?.get(n);
    if (cur !== undefined && cur.length !== s.length) throw new PruneError('SHAPE_MISMATCH', `current mask of "${n}" has ${cur.length} entries, its scores ${s.length}`);
    for (let j = 0; j < s.length; j++) {
      if (Number.isNaN(s[j])) throw new PruneError('NON_FINITE', `score ${j} of "${n}" is NaN`);
      flat[offsets[i] + j] = s[j];
      if (cur === undefined || cur[j]) candidates.push(offsets[i] + j);
    }
  });
  const keep = Math.min(Math.round(density * total), candidates.length);
  candidates.sort((a, b) => flat[b] - flat[a] || a - b);
  const kept = new Uint8Array(total);
  for (let i = 0; i < keep; i++) kept[candidates[i]] = 1;
  const masks: KernelMasks = new Map();
  names.forEach((n, i) => masks.set(n, kept.slice(offsets[i], offsets[i] + (scores.get(n) as Float64Array).length)));
  return masks;
}

/**
 * Fraction of kept entries per layer, d_l = kept_l / total_l.
 *
 * @param masks - 0/1 masks by layer name
 * @returns densities by layer name
 */
export function layerDensities(masks: ReadonlyMap<string, Uint8Array>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [name, m] of masks) {
    let kept = 0;
    for (const v of m) kept += v;
    out.set(name, m.length === 0 ? 1 : kept / m.length);
  }
  return out;
}

/** Options of {@link pruneAtInitialization}. */
export interface PruneAtInitOptions extends ProgressOptions {
  /** Fraction of kernel entries to keep, in (0, 1]. */
  density: number;
  /** Labelled images for SNIP and GraSP (ignored by SynFlow). */
  batches?: readonly LabelledBatch[];
  /** Scoring rounds: the density after round k is density^{k/n} (exponential schedule). @defaultValue 100 for SynFlow, 1 for SNIP and GraSP */
  iterations?: number;
  /** GraSP temperature. @defaultValue 200 */
  temperature?: number;
}

/** What {@link pruneAtInitialization} returns. */
export interface PaiResult {
  /** Final masks, by layer name. */
  masks: KernelMasks;
  /** Scores of the last round, by layer name. */
  scores: LayerScores;
  /** Layerwise densities d_l of the masks. */
  densities: Map<string, number>;
}

/**
 * Prunes a freshly initialised network with SNIP, GraSP or SynFlow and a global mask,
 * re-scoring `iterations` times with the exponential schedule ρ^{k/n} (Synaptic-Flow's
 * `prune_loop`); masked weights stay masked in later rounds.
 *
 * @param method - `'snip'`, `'grasp'` or `'synflow'`
 * @param spec - the architecture description
 * @param weights - the initial weights
 * @param options - density, data, rounds
 * @returns masks, last scores and layer densities
 */
export function pruneAtInitialization(method: PaiMethod, spec: ConvNetSpec, weights: ConvNetWeights, options: PruneAtInitOptions): PaiResult {
  const { density } = options;
  if (!(density > 0 && density <= 1)) throw new PruneError('OUT_OF_RANGE', `density must be in (0, 1], got ${density}`);
  if (method !== 'snip' && method !== 'grasp' && method !== 'synflow') {
    throw new PruneError('INVALID_ARGUMENT', `unknown pruning-at-initialization method "${String(method)}"; use 'snip', 'grasp' or 'synflow'`);
  }
  const iterations = options.iterations ?? (method === 'synflow' ? 100 : 1);
  if (!Number.isInteger(iterations) || iterations < 1) throw new PruneError('INVALID_ARGUMENT', `iterations must be a positive integer, got ${iterations}`);
  if (method !== 'synflow') checkBatches(spec, options.batches ?? []);
  let masks: KernelMasks | undefined;
  let scores: LayerScores = new Map();
  for (let k = 1; k <= iterations; k++) {
    const masked = masks === undefined ? weights : maskWeights(weights, masks);
    if (method === 'synflow') scores = synflowScores(spec, masked, masks).scores;
    else if (method === 'snip') scores = snipScores(spec, masked, options.batches as LabelledBatch[]);
    else scores = graspScores(spec, masked, options.batches as LabelledBatch[], { temperature: options.temperature ?? 200 });
    masks = globalMask(scores, density ** (k / iterations), { current: masks });
    reportProgress(options.onProgress, { stage: method, done: k, total: iterations, unit: 'rounds' });
  }
  return { masks: masks as KernelMasks, scores, densities: layerDensities(masks as KernelMasks) };
}

/** `weights` with masked kernel entries set to 0 (new arrays; the input is untouched). */
export function maskWeights(weights: ConvNetWeights, masks: ReadonlyMap<string, Uint8Array>): ConvNetWeights {
  const out: ConvNetWeights = new Map();
  for (const [name, w] of weights) {
    const m = masks.get(name);
    out.set(name, { kernel: m === undefined ? w.kernel : w.kernel.map((v, j) => (m[j] ? v : 0)), bias: w.bias });
  }
  return out;
}

/**
 * Picks `perClass` images of every class (seeded, in shuffled order) — SNIP's and GraSP's
 * usual "10 per class" calibration set.
 *
 * @param labels - class index per image
 * @param classes - number of classes
 * @param perClass - images per class
 * @param seed - seed of the shuffle
 * @returns indices into the dataset
 * @throws PruneError `OUT_OF_RANGE` when a class has too few images
 */
export function classBalancedIndices(labels: ArrayLike<number>, classes: number, perClass: number, seed: number): number[] {
  const order = new Random(seed).shuffle(Array.from({ length: labels.length }, (_, i) => i));
  const taken = new Array<number>(classes).fill(0);
  const out: number[] = [];
  for (const i of order) {
    const y = labels[i];
    if (y >= 0 && y < classes && taken[y] < perClass) {
      taken[y]++;
      out.push(i);
    }
  }
  const short = taken.findIndex((t) => t < perClass);
  if (short >= 0) throw new PruneError('OUT_OF_RANGE', `class ${short} has only ${taken[short]} images, ${perClass} requested; pass more data or a smaller perClass`);
  return out;
}
