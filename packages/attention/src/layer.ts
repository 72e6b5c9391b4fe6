import { PruneError, type Tensor, add, concat, fromArray, matmul, mean, mul, reshape, rsqrt, sigmoid, slice, square, sub, tidy, transpose } from '@prune/core';
import type { AcpOptions } from './acp.js';
import { type AcpKernel, forgettingAttentionAcp } from './acp-attention.js';
import { ForgettingKVCache, decodeForgettingAttention } from './cache.js';
import { type SeqStartOptions, forgetGateLog, forgettingAttention } from './forgetting.js';
import { checkFloatTensor, resolveSeqStart, shapeText } from './validate.js';


/**
 * Weights of one forgetting-attention layer, linear weights as `[out, in]` (PyTorch layout).
 * The optional entries switch on the "Pro" block parts: QK-norm, output gate, token shift.
 */
export interface ForgettingLayerWeights {
  /** Query projection `[dModel, dModel]`. */
  readonly qProj: Tensor;
  /** Key projection `[dModel, dModel]`. */
  readonly kProj: Tensor;
  /** Value projection `[dModel, dModel]`. */
  readonly vProj: Tensor;
  /** Output projection `[dModel, dModel]`. */
  readonly oProj: Tensor;
  /** Forget-gate projection w_f `[heads, dModel]`. */
  readonly fgateProj: Tensor;
  /** Forget-gate bias b_f `[heads]`. */
  readonly fgateBias: Tensor;
  /** Output gate: o ← o ⊙ σ(W_g x) before the output projection, `[dModel, dModel]`. */
  readonly ogateProj?: Tensor;
  /** QK-norm: per-head RMSNorm gain γ_q of the queries, `[dModel]` (= `[heads, d]`). */
  readonly qNorm?: Tensor;
  /** QK-norm: per-head RMSNorm gain γ_k of the keys, `[dModel]`. */
  readonly kNorm?: Tensor;
  /** Key token shift: α = σ(W_α x) per head mixes k_{t−1} into k_t, `[heads, dModel]`. */
  readonly kShiftProj?: Tensor;
  /** Value token shift, `[heads, dModel]`. */
  readonly vShiftProj?: Tensor;
}

/** Options of {@link forgettingAttentionLayer} and {@link forgettingAttentionLayerStep}. */
export interface ForgettingLayerOptions extends SeqStartOptions {
  /** Number of heads (dModel must split evenly). */
  heads: number;
  /**
   * RMSNorm epsilon of QK-norm.
   * @defaultValue 1e-6
   */
  normEps?: number;
  /**
   * Adaptive Computation Pruning. With QK-norm weights and no `bound` given, the QK-norm
   * bound from γ_q and γ_k is used.
   * @defaultValue false (full forgetting attention)
   */
  acp?: AcpOptions | false;
  /**
   * Kernel of the ACP prefill.
   * @defaultValue `'auto'`
   */
  kernel?: AcpKernel;
  /**
   * Return a {@link ForgettingLayerCache} for decoding from the prefill.
   * @defaultValue false
   */
  cache?: boolean;
  /**
   * Sees the attention inputs of the call — q, k, v after token shift and QK-norm and the
   * log forget gates — e.g. to measure ACP on a trained model. The tensors are valid only
   * during the callback.
   * @defaultValue none
   */
  observe?: (inputs: ForgettingAttentionInputs) => void;
}

/** What {@link ForgettingLayerOptions.observe} sees. */
export interface ForgettingAttentionInputs {
  /** Queries `[batch, heads, seq, d]`. */
  readonly q: Tensor<'float32'>;
  /** Keys `[batch, heads, seq, d]`. */
  readonly k: Tensor<'float32'>;
  /** Values `[batch, heads, seq, d]`. */
  readonly v: Tensor<'float32'>;
  /** Log forget gates `[batch, heads, seq]`. */
  readonly logF: Tensor<'float32'>;
}

/** Decoding state of one layer: the KV cache plus the token-shift states. */
export interface ForgettingLayerCache {
  /** Keys, values and Λ so far. */
  readonly kv: ForgettingKVCache;
  /** Last key projection before the shift, `[batch, dModel]` (token shift only). */
  keyShift: Float32Array | null;
  /** Last value projection before the shift, `[batch, dModel]`. */
  valueShift: Float32Array | null;
}

/** Output of a layer call. */
export interface ForgettingLayerResult {
  /** Layer output `[batch, seq, dModel]`. */
  readonly output: Tensor<'float32'>;
  /** FLOP saving of softmax attention per head (0 without ACP). */
  readonly headFlopSaving: Float64Array;
  /** Decoding state, when asked for (prefill) or updated (step). */
  readonly cache?: ForgettingLayerCache;
}

/**
 * Per-head RMSNorm (QK-norm): x / √(mean(x²) + eps) · γ over the head dimension.
 * @param x - `[batch, seq, heads, d]`
 * @param gamma - gains `[heads·d]`
 * @param eps - epsilon
 */
export function headRmsNorm(x: Tensor, gamma: Tensor, eps = 1e-6): Tensor<'float32'> {
  checkFloatTensor('headRmsNorm', 'x', x, 4);
  const [, , h, d] = x.shape;
  if (gamma.size !== h * d) throw new PruneError('SHAPE_MISMATCH', `headRmsNorm: gamma has ${gamma.size} values, need heads·d = ${h * d}`);
  return tidy(() => mul(mul(x as Tensor<'float32'>, rsqrt(add(mean(square(x as Tensor<'float32'>), { axis: -1, keepDims: true }), eps))), reshape(gamma as Tensor<'float32'>, [h, d])));
}

/** Options of {@link tokenShift}. */
export interface TokenShiftOptions extends SeqStartOptions {
  /**
   * Position of the first row of `x` in the sequence (during decoding: the cache length), so
   * `previous` is used only where the position before is a real token.
   * @defaultValue 0
   */
  offset?: number;
}

/**
 * Token shift: y_t = α_t·x_{t−1} + (1 − α_t)·x_t per head, with x_{−1} = `previous` (zeros
 * when absent). The first real token of a left-padded sequence has no predecessor: it sees 0,
 * so padding never leaks in.
 * @param x - projections `[batch, seq, heads, d]`
 * @param alpha - mixing weights α `[batch, seq, heads]`
 * @param previous - x_{−1} `[batch, heads·d]`, e.g. from a decoding cache
 * @param options - left padding and the position of `x`'s first row
 */
export function tokenShift(x: Tensor, alpha: Tensor, previous?: Float32Array | null, options: TokenShiftOptions = {}): Tensor<'float32'> {
  checkFloatTensor('tokenShift', 'x', x, 4);
  checkFloatTensor('tokenShift', 'alpha', alpha, 3);
  const [b, t, h, d] = x.shape;
  if (alpha.shape.join() !== [b, t, h].join()) throw new PruneError('SHAPE_MISMATCH', `tokenShift: alpha ${shapeText(alpha.shape)} must be [${b}, ${t}, ${h}]`);
  const offset = options.offset ?? 0;
  const starts = options.seqStart ? Int32Array.from(options.seqStart) : new Int32Array(b);
  return tidy(() => {
    const first = fromArray(previous ?? new Float32Array(b * h * d), [b, 1, h, d], 'float32', { backend: x.backend });
    const prev = t > 1 ? concat([first, slice(x as Tensor<'float32'>, [0, 0, 0, 0], [b, t - 1, h, d])], 1) : first;
    const keep0 = new Float32Array(b * t);
    for (let bb = 0; bb < b; bb++) for (let i = 0; i < t; i++) keep0[bb * t + i] = offset + i > starts[bb] ? 1 : 0;
    const prevMasked = mul(prev, fromArray(keep0, [b, t, 1, 1], 'float32', { backend: x.backend }));
    const a = reshape(alpha as Tensor<'float32'>, [b, t, h, 1]);
    return add(mul(a, prevMasked), mul(sub(1, a) as Tensor<'float32'>, x as Tensor<'float32'>));
  });
}

interface Projected {
  q: Tensor<'float32'>;
  k: Tensor<'float32'>;
  v: Tensor<'float32'>;
  logF: Tensor<'float32'>;
  kRaw: Tensor<'float32'>;
  vRaw: Tensor<'float32'>;
}

function checkWeights(op: string, w: ForgettingLayerWeights, dm: number, heads: number): void {
  if (!Number.isInteger(heads) || heads < 1 || dm % heads !== 0) {
    throw new PruneError('INVALID_ARGUMENT', `${op}: heads = ${String(heads)} must be a positive integer dividing dModel = ${dm}`);
  }
  const want: [keyof ForgettingLayerWeights, number[]][] = [
    ['qProj', [dm, dm]],
    ['kProj', [dm, dm]],
    ['vProj', [dm, dm]],
    ['oProj', [dm, dm]],
    ['fgateProj', [heads, dm]],
    ['fgateBias', [heads]],
    ['ogateProj', [dm, dm]],
    ['qNorm', [dm]],
    ['kNorm', [dm]],
    ['kShiftProj', [heads, dm]],
    ['vShiftProj', [heads, dm]],
  ];
  for (const [name, shape] of want) {
    const t = w[name];
    if (t === undefined) {
      if (['qProj', 'kProj', 'vProj', 'oProj', 'fgateProj', 'fgateBias'].includes(name)) throw new PruneError('NOT_FOUND', `${op}: weights.${name} is missing`);
      continue;
    }
    if (t.shape.join() !== shape.join()) throw new PruneError('SHAPE_MISMATCH', `${op}: weights.${name} is ${shapeText(t.shape)}, expected ${shapeText(shape)}`);
  }
  if ((w.qNorm === undefined) !== (w.kNorm === undefined)) throw new PruneError('INVALID_ARGUMENT', `${op}: QK-norm needs both qNorm and kNorm`);
}

/** Projections, token shift, QK-norm and forget gates; head-first q, k, v `[b, h, t, d]`. */
function project(x: Tensor<'float32'>, w: ForgettingLayerWeights, heads: number, eps: number, seqStart: Int32Array, offset: number, shift: { k: Float32Array | null; v: Float32Array | null }): Projected {
  const [b, t, dm] = x.shape;
  const d = dm / heads;
  const x2 = reshape(x, [b * t, dm]);
  const lin = (wt: Tensor) => matmul(x2, wt as Tensor<'float32'>, { transposeB: true });
  const split = (y: Tensor<'float32'>) => reshape(y, [b, t, heads, d]);
  const kRaw = split(lin(w.kProj));
  const vRaw = split(lin(w.vProj));
  const shifted = (raw: Tensor<'float32'>, proj: Tensor | undefined, prev: Float32Array | null) =>
    proj ? tokenShift(raw, reshape(sigmoid(lin(proj)), [b, t, heads]), prev, { seqStart, offset }) : raw;
  let q = split(lin(w.qProj));
  let k = shifted(kRaw, w.kShiftProj, shift.k);
  const v = shifted(vRaw, w.vShiftProj, shift.v);
  if (w.qNorm && w.kNorm) {
    q = headRmsNorm(q, w.qNorm, eps);
    k = headRmsNorm(k, w.kNorm, eps);
  }
  const heads4 = (y: Tensor<'float32'>) => transpose(y, [0, 2, 1, 3]);
  return { q: heads4(q), k: heads4(k), v: heads4(v), logF: forgetGateLog(x, w.fgateProj, w.fgateBias), kRaw, vRaw };
}

/** Output gate and output projection of o `[b, h, t, d]`. */
function finish(o: Tensor<'float32'>, x: Tensor<'float32'>, w: ForgettingLayerWeights): Tensor<'float32'> {
  const [b, h, t, d] = o.shape;
  let y = reshape(transpose(o, [0, 2, 1, 3]), [b * t, h * d]);
  if (w.ogateProj) y = mul(y, sigmoid(matmul(reshape(x, [b * t, h * d]), w.ogateProj as Tensor<'float32'>, { transposeB: true })));
  return reshape(matmul(y, w.oProj as Tensor<'float32'>, { transposeB: true }), [b, t, h * d]);
}

function acpWithBound(acp: AcpOptions, w: ForgettingLayerWeights): AcpOptions {
  if (acp.bound !== undefined || !w.qNorm || !w.kNorm) return acp;
  return { ...acp, bound: { kind: 'qkNorm', gammaQ: w.qNorm, gammaK: w.kNorm } };
}

function lastRow(raw: Tensor<'float32'>): Float32Array {
  const [b, t, h, d] = raw.shape;
  return slice(raw, [0, t - 1, 0, 0], [b, 1, h, d]).dataSync() as Float32Array;
}

/**
 * A forgetting-attention layer on a whole sequence (prefill or training forward): q, k, v
 * projections, optional token shift and QK-norm, forget gates, forgetting attention (with
 * ACP when asked), optional output gate, output projection. No RoPE (as in FoX).
 * @param x - hidden states `[batch, seq, dModel]`
 * @param weights - layer weights
 * @param options - heads, padding, ACP, cache
 */
export function forgettingAttentionLayer(x: Tensor, weights: ForgettingLayerWeights, options: ForgettingLayerOptions): ForgettingLayerResult {
  const op = 'forgettingAttentionLayer';
  checkFloatTensor(op, 'x', x, 3);
  const [b, t, dm] = x.shape;
  checkWeights(op, weights, dm, options.heads);
  const starts = resolveSeqStart(op, options.seqStart, b, t);
  const eps = options.normEps ?? 1e-6;
  const saving = new Float64Array(options.heads);
  let cache: ForgettingLayerCache | undefined;
  const output = tidy(() => {
    const p = project(x as Tensor<'float32'>, weights, options.heads, eps, starts, 0, { k: null, v: null });
    options.observe?.({ q: p.q, k: p.k, v: p.v, logF: p.logF });
    let o: Tensor<'float32'>;
    if (options.acp) {
      const r = forgettingAttentionAcp(p.q, p.k, p.v, p.logF, { ...acpWithBound(options.acp, weights), seqStart: starts, kernel: options.kernel });
      o = r.output;
      saving.set(r.headFlopSaving);
    } else {
      o = forgettingAttention(p.q, p.k, p.v, p.logF, { seqStart: starts });
    }
    if (options.cache) {
      cache = {
        kv: ForgettingKVCache.fromPrefill(p.k, p.v, p.logF, { seqStart: starts }),
        keyShift: weights.kShiftProj ? lastRow(p.kRaw) : null,
        valueShift: weights.vShiftProj ? lastRow(p.vRaw) : null,
      };
    }
    return finish(o, x as Tensor<'float32'>, weights);
  });
  return { output, headFlopSaving: saving, ...(cache ? { cache } : {}) };
}

/**
 * One decoding step of {@link forgettingAttentionLayer}: the new token's projections use the
 * cached token-shift states, its key, value and gate join the KV cache, and its query attends
 * to every cached position (old KV blocks skipped by ACP when `acp` is set). Equals the last
 * row of the layer over the whole sequence.
 * @param x - the new token's hidden state `[batch, 1, dModel]`
 * @param weights - layer weights
 * @param cache - the state returned by the prefill (updated in place)
 * @param options - heads and ACP (`seqStart` and `cache` are taken from the cache)
 */
export function forgettingAttentionLayerStep(x: Tensor, weights: ForgettingLayerWeights, cache: ForgettingLayerCache, options: ForgettingLayerOptions): ForgettingLayerResult {
  const op = 'forgettingAttentionLayerStep';
  checkFloatTensor(op, 'x', x, 3);
  const [b, t, dm] = x.shape;
  if (t !== 1) throw new PruneError('SHAPE_MISMATCH', `${op}: decoding takes one token per step: x must be [batch, 1, dModel], got ${shapeText(x.shape)}`);
  checkWeights(op, weights, dm, options.heads);
  if (cache.kv.batch !== b) throw new PruneError('SHAPE_MISMATCH', `${op}: the cache holds ${cache.kv.batch} sequences, x has ${b}`);
  const eps = options.normEps ?? 1e-6;
  const saving = new Float64Array(options.heads);
  const output = tidy(() => {
    const p = project(x as Tensor<'float32'>, weights, options.heads, eps, cache.kv.seqStart, cache.kv.length, { k: cache.keyShift, v: cache.valueShift });
    options.observe?.({ q: p.q, k: p.k, v: p.v, logF: p.logF });
    const r = decodeForgettingAttention(cache.kv, p.q, p.k, p.v, p.logF, { acp: options.acp ? acpWithBound(options.acp, weights) : false });
    for (let g = 0; g < r.flopSaving.length; g++) saving[g % options.heads] += r.flopSaving[g] / b;
    if (weights.kShiftProj) cache.keyShift = lastRow(p.kRaw);
    if (weights.vShiftProj) cache.valueShift = lastRow(p.vRaw);
    return finish(r.output, x as Tensor<'float32'>, weights);
  });
  return { output, headFlopSaving: saving, cache };
}
