import { PruneError, Random } from '@prune/core';

/**
 * CoT-Max's pruner head ("skim predictor"): LayerNorm(d) → Linear(d, h) → LayerNorm(h) →
 * GELU → Linear(h, 2), giving drop/keep logits for one embedding. All parameters live in one
 * flat `params` vector (so optimisers and gradient checks treat them uniformly); the named
 * fields are views into it.
 */
export interface MlpHead {
  /** Input width d. */
  readonly dim: number;
  /** Hidden width h. */
  readonly hidden: number;
  /** Every parameter, in the order of the views below. */
  readonly params: Float64Array;
  /** First LayerNorm gain γ₁ `[d]`. */
  readonly norm1Gain: Float64Array;
  /** First LayerNorm bias β₁ `[d]`. */
  readonly norm1Bias: Float64Array;
  /** First linear weight W₁ `[h, d]` row-major. */
  readonly weight1: Float64Array;
  /** First linear bias b₁ `[h]`. */
  readonly bias1: Float64Array;
  /** Second LayerNorm gain γ₂ `[h]`. */
  readonly norm2Gain: Float64Array;
  /** Second LayerNorm bias β₂ `[h]`. */
  readonly norm2Bias: Float64Array;
  /** Output weight W₂ `[2, h]` (row 0: drop, row 1: keep). */
  readonly weight2: Float64Array;
  /** Output bias b₂ `[2]`. */
  readonly bias2: Float64Array;
}

/** Options of {@link createMlpHead}. */
export interface MlpHeadOptions {
  /**
   * Hidden width h.
   * @defaultValue `max(1, round(dim / 2))`
   */
  hidden?: number;
  /**
   * Seed of the N(0, 0.02) weight initialisation.
   * @defaultValue 0
   */
  seed?: number;
  /**
   * Initial output bias towards "keep": b₂ = (−keepBias, +keepBias), as the reference
   * initialises the skim predictor so it keeps most tokens at first.
   * @defaultValue 1
   */
  keepBias?: number;
}

const LAYER_NORM_EPS = 1e-5;

/** Number of parameters of a head with input width `dim` and hidden width `hidden`. */
export function mlpHeadParameterCount(dim: number, hidden: number): number {
  return 2 * dim + hidden * dim + hidden + 2 * hidden + 2 * hidden + 2;
}

/**
 * Wraps a flat parameter vector as an {@link MlpHead} (views, no copy).
 * @throws `SHAPE_MISMATCH` when `params` has the wrong length
 */
export function mlpHeadFromParams(dim: number, hidden: number, params: Float64Array): MlpHead {
  if (params.length !== mlpHeadParameterCount(dim, hidden)) {
    throw new PruneError('SHAPE_MISMATCH', `a head with dim ${dim} and hidden ${hidden} has ${mlpHeadParameterCount(dim, hidden)} parameters, got ${params.length}`);
  }
  let at = 0;
  const take = (n: number): Float64Array => params.subarray(at, (at += n));
  return {
    dim,
    hidden,
    params,
    norm1Gain: take(dim),
    norm1Bias: take(dim),
    weight1: take(hidden * dim),
    bias1: take(hidden),
    norm2Gain: take(hidden),
    norm2Bias: take(hidden),
    weight2: take(2 * hidden),
    bias2: take(2),
  };
}

/**
 * A freshly initialised head: LayerNorm gains 1 and biases 0, linear weights N(0, 0.02),
 * b₁ = 0 and the output bias leaning towards "keep".
 * @throws `OUT_OF_RANGE` for a non-positive width
 */
export function createMlpHead(dim: number, options: MlpHeadOptions = {}): MlpHead {
  const hidden = options.hidden ?? Math.max(1, Math.round(dim / 2));
  if (!Number.isInteger(dim) || dim < 1 || !Number.isInteger(hidden) || hidden < 1) {
    throw new PruneError('OUT_OF_RANGE', `head widths must be positive integers, got dim ${dim} and hidden ${hidden}`);
  }
  const head = mlpHeadFromParams(dim, hidden, new Float64Array(mlpHeadParameterCount(dim, hidden)));
  const rng = new Random(options.seed ?? 0);
  head.norm1Gain.fill(1);
  head.norm2Gain.fill(1);
  for (let i = 0; i < head.weight1.length; i++) head.weight1[i] = 0.02 * rng.normal();
  for (let i = 0; i < head.weight2.length; i++) head.weight2[i] = 0.02 * rng.normal();
  const keepBias = options.keepBias ?? 1;
  head.bias2[0] = -keepBias;
  head.bias2[1] = keepBias;
  return head;
}

/** Intermediate values of one forward pass, kept for the backward pass. */
export interface MlpHeadTrace {
  /** Normalised input x̂₁ `[d]`. */
  readonly normed1: Float64Array;
  /** 1 / σ₁. */
  readonly invStd1: number;
  /** LayerNorm-1 output y₁ `[d]`. */
  readonly out1: Float64Array;
  /** Normalised hidden x̂₂ `[h]`. */
  readonly normed2: Float64Array;
  /** 1 / σ₂. */
  readonly invStd2: number;
  /** LayerNorm-2 output (GELU input) `[h]`. */
  readonly out2: Float64Array;
  /** GELU output `[h]`. */
  readonly activation: Float64Array;
  /** The two logits (drop, keep). */
  readonly logits: Float64Array;
}

const GELU_C = Math.sqrt(2 / Math.PI);

/** GELU, tanh form: ½x(1 + tanh(√(2/π)(x + 0.044715x³))) — smooth, with an exact derivative. */
export function gelu(x: number): number {
  return 0.5 * x * (1 + Math.tanh(GELU_C * (x + 0.044715 * x * x * x)));
}

/** Derivative of {@link gelu}. */
export function geluDerivative(x: number): number {
  const u = GELU_C * (x + 0.044715 * x * x * x);
  const t = Math.tanh(u);
  return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * GELU_C * (1 + 3 * 0.044715 * x * x);
}

function layerNorm(x: ArrayLike<number>, offset: number, n: number, gain: Float64Array, bias: Float64Array): { normed: Float64Array; invStd: number; out: Float64Array } {
  let mean = 0;
  for (let i = 0; i < n; i++) mean += x[offset + i];
  mean /= n;
  let v = 0;
  for (let i = 0; i < n; i++) v += (x[offset + i] - mean) ** 2;
  const invStd = 1 / Math.sqrt(v / n + LAYER_NORM_EPS);
  const normed = new Float64Array(n);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    normed[i] = (x[offset + i] - mean) * invStd;
    out[i] = gain[i] * normed[i] + bias[i];
  }
  return { normed, invStd, out };
}

/**
 * Forward pass of the head on the embedding `x[offset .. offset + dim)`.
 * @returns the trace; `trace.logits` are (drop, keep)
 */
export function mlpHeadForward(head: MlpHead, x: ArrayLike<number>, offset = 0): MlpHeadTrace {
  const { dim, hidden } = head;
  const n1 = layerNorm(x, offset, dim, head.norm1Gain, head.norm1Bias);
  const pre = new Float64Array(hidden);
  for (let j = 0; j < hidden; j++) {
    let s = head.bias1[j];
    const row = j * dim;
    for (let i = 0; i < dim; i++) s += head.weight1[row + i] * n1.out[i];
    pre[j] = s;
  }
  const n2 = layerNorm(pre, 0, hidden, head.norm2Gain, head.norm2Bias);
  const activation = Float64Array.from(n2.out, gelu);
  const logits = new Float64Array(2);
  for (let c = 0; c < 2; c++) {
    let s = head.bias2[c];
    for (let j = 0; j < hidden; j++) s += head.weight2[c * hidden + j] * activation[j];
    logits[c] = s;
  }
  return { normed1: n1.normed, invStd1: n1.invStd, out1: n1.out, normed2: n2.normed, invStd2: n2.invStd, out2: n2.out, activation, logits };
}

/** Probability of "keep" from the two logits: softmax(z)[1] = σ(z₁ − z₀). */
export function keepProbability(logits: ArrayLike<number>): number {
  return 1 / (1 + Math.exp(logits[0] - logits[1]));
}

/** Gradient of LayerNorm's input given the gradient of its normalised output. */
function layerNormBackward(dNormed: Float64Array, normed: Float64Array, invStd: number): Float64Array {
  const n = dNormed.length;
  let mean = 0;
  let dot = 0;
  for (let i = 0; i < n; i++) {
    mean += dNormed[i];
    dot += dNormed[i] * normed[i];
  }
  mean /= n;
  dot /= n;
  return Float64Array.from(dNormed, (g, i) => invStd * (g - mean - normed[i] * dot));
}

/**
 * Backward pass: adds ∂L/∂θ to `grad` (laid out like `head.params`) given ∂L/∂logits.
 * @param head - the head
 * @param trace - its forward trace for this input
 * @param dLogits - gradient of the objective with respect to (drop, keep) logits
 * @param grad - accumulator, same length as `head.params`
 */
export function mlpHeadBackward(head: MlpHead, trace: MlpHeadTrace, dLogits: ArrayLike<number>, grad: Float64Array): void {
  const { dim, hidden } = head;
  const g = mlpHeadFromParams(dim, hidden, grad);
  const dAct = new Float64Array(hidden);
  for (let c = 0; c < 2; c++) {
    g.bias2[c] += dLogits[c];
    for (let j = 0; j < hidden; j++) {
      g.weight2[c * hidden + j] += dLogits[c] * trace.activation[j];
      dAct[j] += dLogits[c] * head.weight2[c * hidden + j];
    }
  }
  const dNormed2 = new Float64Array(hidden);
  for (let j = 0; j < hidden; j++) {
    const dOut2 = dAct[j] * geluDerivative(trace.out2[j]);
    g.norm2Gain[j] += dOut2 * trace.normed2[j];
    g.norm2Bias[j] += dOut2;
    dNormed2[j] = dOut2 * head.norm2Gain[j];
  }
  const dPre = layerNormBackward(dNormed2, trace.normed2, trace.invStd2);
  const dOut1 = new Float64Array(dim);
  for (let j = 0; j < hidden; j++) {
    g.bias1[j] += dPre[j];
    const row = j * dim;
    for (let i = 0; i < dim; i++) {
      g.weight1[row + i] += dPre[j] * trace.out1[i];
      dOut1[i] += dPre[j] * head.weight1[row + i];
    }
  }
  for (let i = 0; i < dim; i++) {
    g.norm1Gain[i] += dOut1[i] * trace.normed1[i];
    g.norm1Bias[i] += dOut1[i];
  }
}

/** Adam state for one parameter vector. */
export interface AdamState {
  /** First-moment estimate. */
  readonly m: Float64Array;
  /** Second-moment estimate. */
  readonly v: Float64Array;
  /** Steps taken. */
  step: number;
}

/** Fresh Adam state for `n` parameters. */
export function createAdamState(n: number): AdamState {
  return { m: new Float64Array(n), v: new Float64Array(n), step: 0 };
}

/** Options of {@link adamStep}. */
export interface AdamOptions {
  /** Learning rate. */
  learningRate: number;
  /**
   * First-moment decay β₁.
   * @defaultValue 0.9
   */
  beta1?: number;
  /**
   * Second-moment decay β₂.
   * @defaultValue 0.999
   */
  beta2?: number;
  /**
   * ε of the denominator.
   * @defaultValue 1e-8
   */
  epsilon?: number;
}

/**
 * One Adam step that *ascends* `grad` (REINFORCE maximises the expected reward).
 * @param params - parameters, updated in place
 * @param grad - gradient of the objective to maximise
 * @param state - optimiser state, updated in place
 * @param options - learning rate and moments
 */
export function adamStep(params: Float64Array, grad: Float64Array, state: AdamState, options: AdamOptions): void {
  const b1 = options.beta1 ?? 0.9;
  const b2 = options.beta2 ?? 0.999;
  const eps = options.epsilon ?? 1e-8;
  state.step++;
  const c1 = 1 - b1 ** state.step;
  const c2 = 1 - b2 ** state.step;
  for (let i = 0; i < params.length; i++) {
    state.m[i] = b1 * state.m[i] + (1 - b1) * grad[i];
    state.v[i] = b2 * state.v[i] + (1 - b2) * grad[i] * grad[i];
    params[i] += (options.learningRate * (state.m[i] / c1)) / (Math.sqrt(state.v[i] / c2) + eps);
  }
}
