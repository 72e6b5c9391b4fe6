import { PruneError, type Tensor, fromArray } from '@prune/core';
import { type AcpBoundaries, type AcpOptions, acpThreshold, qkNormLogitBound, resolveAcpOptions } from './acp.js';
import { NORM_HEADROOM, savings } from './acp-attention.js';
import { type SeqStartOptions, cumulativeLogForget, resolveScale } from './forgetting.js';
import { hostForgettingAttention } from './host-kernel.js';
import { checkFloatTensor, resolveSeqStart, shapeText } from './validate.js';


/**
 * The decoding cache of one forgetting-attention layer: keys, values and the cumulative log
 * forget gates Λ of every position so far, per (batch, head), in host memory that grows by
 * doubling. Λ is cached (not the gates) so a new token costs one addition:
 * Λₙ = Λₙ₋₁ + log fₙ. It also tracks max‖k_t‖ over real tokens for the ACP logit bound.
 */
export class ForgettingKVCache {
  /** Batch size. */
  readonly batch: number;
  /** Heads. */
  readonly heads: number;
  /** Head size d. */
  readonly headDim: number;
  /** First real token per batch entry (left padding). */
  readonly seqStart: Int32Array;
  #k: Float32Array;
  #v: Float32Array;
  #lambda: Float32Array;
  #maxKeyNorm: Float64Array;
  #capacity: number;
  #length = 0;

  /**
   * An empty cache; fill it with {@link ForgettingKVCache.append} or create it with
   * {@link ForgettingKVCache.fromPrefill}.
   * @param batch - batch size
   * @param heads - heads
   * @param headDim - head size
   * @param options - left padding of the sequences that will be appended
   */
  constructor(batch: number, heads: number, headDim: number, options: { seqStart?: ArrayLike<number>; capacity?: number } = {}) {
    for (const [what, value] of [['batch', batch], ['heads', heads], ['headDim', headDim]] as const) {
      if (!Number.isInteger(value) || value < 1) throw new PruneError('INVALID_ARGUMENT', `ForgettingKVCache: ${what} must be a positive integer, got ${String(value)}`);
    }
    this.batch = batch;
    this.heads = heads;
    this.headDim = headDim;
    this.seqStart = new Int32Array(batch);
    if (options.seqStart !== undefined) {
      if (options.seqStart.length !== batch) throw new PruneError('SHAPE_MISMATCH', `ForgettingKVCache: seqStart needs ${batch} entries, got ${options.seqStart.length}`);
      for (let b = 0; b < batch; b++) {
        const s = options.seqStart[b];
        if (!Number.isInteger(s) || s < 0) throw new PruneError('OUT_OF_RANGE', `ForgettingKVCache: seqStart[${b}] must be a non-negative integer, got ${String(s)}`);
        this.seqStart[b] = s;
      }
    }
    this.#capacity = Math.max(1, options.capacity ?? 16);
    const g = batch * heads;
    this.#k = new Float32Array(g * this.#capacity * headDim);
    this.#v = new Float32Array(g * this.#capacity * headDim);
    this.#lambda = new Float32Array(g * this.#capacity);
    this.#maxKeyNorm = new Float64Array(g);
  }

  /**
   * A cache holding a prefill's keys, values and Λ (Λ from the same
   * {@link cumulativeLogForget} the prefill uses, so decoding continues it exactly).
   * @param k - keys `[batch, heads, n, d]`
   * @param v - values `[batch, heads, n, d]`
   * @param logF - log forget gates `[batch, heads, n]`
   * @param options - left padding of the prefill
   */
  static fromPrefill(k: Tensor, v: Tensor, logF: Tensor, options: SeqStartOptions = {}): ForgettingKVCache {
    checkFloatTensor('ForgettingKVCache.fromPrefill', 'k', k, 4);
    checkFloatTensor('ForgettingKVCache.fromPrefill', 'v', v, 4);
    checkFloatTensor('ForgettingKVCache.fromPrefill', 'logF', logF, 3);
    const [b, h, n, d] = k.shape;
    if (v.shape.join() !== k.shape.join() || logF.shape.join() !== [b, h, n].join()) {
      throw new PruneError('SHAPE_MISMATCH', `ForgettingKVCache.fromPrefill: k ${shapeText(k.shape)}, v ${shapeText(v.shape)}, logF ${shapeText(logF.shape)} must be [b, h, n, d], [b, h, n, d], [b, h, n]`);
    }
    const starts = resolveSeqStart('ForgettingKVCache.fromPrefill', options.seqStart, b, n);
    const cache = new ForgettingKVCache(b, h, d, { seqStart: starts, capacity: Math.max(16, 2 * n) });
    const lambdaT = cumulativeLogForget(logF, { seqStart: starts });
    cache.#write(k.dataSync() as Float32Array, v.dataSync() as Float32Array, lambdaT.dataSync() as Float32Array, n);
    lambdaT.dispose();
    return cache;
  }

  /** Number of cached positions n. */
  get length(): number {
    return this.#length;
  }

  /** A copy of Λ `[batch·heads, n]` (row-major). */
  lambda(): Float32Array {
    const n = this.#length;
    const out = new Float32Array(this.batch * this.heads * n);
    for (let g = 0; g < this.batch * this.heads; g++) out.set(this.#lambda.subarray(g * this.#capacity, g * this.#capacity + n), g * n);
    return out;
  }

  /**
   * Appends one position per (batch, head).
   * @param k - key `[batch, heads, 1, d]`
   * @param v - value `[batch, heads, 1, d]`
   * @param logF - log forget gate `[batch, heads, 1]`
   */
  append(k: Tensor, v: Tensor, logF: Tensor): void {
    const { batch: b, heads: h, headDim: d } = this;
    checkFloatTensor('ForgettingKVCache.append', 'k', k, 4);
    checkFloatTensor('ForgettingKVCache.append', 'v', v, 4);
    checkFloatTensor('ForgettingKVCache.append', 'logF', logF, 3);
    const want = [b, h, 1, d].join();
    if (k.shape.join() !== want || v.shape.join() !== want || logF.shape.join() !== [b, h, 1].join()) {
      throw new PruneError(
        'SHAPE_MISMATCH',
        `ForgettingKVCache.append: one token per step: k and v must be [${want}] and logF [${b}, ${h}, 1], got ${shapeText(k.shape)}, ${shapeText(v.shape)}, ${shapeText(logF.shape)}`,
      );
    }
    const n = this.#length;
    const lf = logF.dataSync();
    const lam = new Float32Array(b * h);
    for (let g = 0; g < b * h; g++) {
      const real = n >= this.seqStart[Math.floor(g / h)];
      const prev = n > 0 ? this.#lambda[g * this.#capacity + n - 1] : 0;
      lam[g] = Math.fround(prev + (real ? lf[g] : 0));
    }
    this.#write(k.dataSync() as Float32Array, v.dataSync() as Float32Array, lam, 1);
  }

  /** @internal Host views for the decoding kernel. */
  hostState(): { k: Float32Array; v: Float32Array; lambda: Float32Array; capacity: number; maxKeyNorm: Float64Array } {
    return { k: this.#k, v: this.#v, lambda: this.#lambda, capacity: this.#capacity, maxKeyNorm: this.#maxKeyNorm };
  }

  // Appends `count` positions given as [g, count, d] / [g, count] arrays.
  #write(k: Float32Array, v: Float32Array, lambda: Float32Array, count: number): void {
    const g = this.batch * this.heads;
    const d = this.headDim;
    const n = this.#length;
    if (n + count > this.#capacity) {
      let cap = this.#capacity;
      while (cap < n + count) cap *= 2;
      const grow = (old: Float32Array, width: number): Float32Array => {
        const out = new Float32Array(g * cap * width);
        for (let i = 0; i < g; i++) out.set(old.subarray(i * this.#capacity * width, (i * this.#capacity + n) * width), i * cap * width);
        return out;
      };
      this.#k = grow(this.#k, d);
      this.#v = grow(this.#v, d);
      this.#lambda = grow(this.#lambda, 1);
      this.#capacity = cap;
    }
    const cap = this.#capacity;
    for (let i = 0; i < g; i++) {
      const s0 = this.seqStart[Math.floor(i / this.heads)];
      this.#k.set(k.subarray(i * count * d, (i + 1) * count * d), (i * cap + n) * d);
      this.#v.set(v.subarray(i * count * d, (i + 1) * count * d), (i * cap + n) * d);
      this.#lambda.set(lambda.subarray(i * count, (i + 1) * count), i * cap + n);
      for (let t = 0; t < count; t++) {
        if (n + t < s0) continue;
        let s = 0;
        for (let c = 0; c < d; c++) s += k[(i * count + t) * d + c] ** 2;
        this.#maxKeyNorm[i] = Math.max(this.#maxKeyNorm[i], Math.sqrt(s));
      }
    }
    this.#length = n + count;
  }
}

/** Options of {@link decodeForgettingAttention}. */
export interface DecodeOptions {
  /**
   * Softmax scale.
   * @defaultValue 1/√d
   */
  scale?: number;
  /**
   * Adaptive Computation Pruning of old KV blocks: the same threshold and boundary search
   * as the prefill, for the single new query. `false` attends to every cached key.
   * @defaultValue false
   */
  acp?: AcpOptions | false;
  /**
   * Return the kept key range in {@link DecodeResult.boundaries}.
   * @defaultValue false
   */
  returnBoundaries?: boolean;
}

/** Output of {@link decodeForgettingAttention}. */
export interface DecodeResult {
  /** O `[batch, heads, 1, d]` on the query's backend. */
  readonly output: Tensor<'float32'>;
  /** FLOP saving per (batch, head) for this step (0 without ACP). */
  readonly flopSaving: Float64Array;
  /** FLOP saving over all (batch, head) pairs. */
  readonly totalFlopSaving: number;
  /** Kept key range per (batch, head), when asked for. */
  readonly boundaries?: readonly AcpBoundaries[];
}

/**
 * One decoding step: appends the new token's key, value and forget gate to `cache`, then
 * attends from its query to every cached position (the new one included). Equals the last
 * row of a prefill over the whole sequence. With `acp`, old KV blocks whose decay bias is
 * below the threshold are skipped.
 * @param cache - the layer's cache (mutated: one position longer afterwards)
 * @param q - query `[batch, heads, 1, d]`
 * @param k - key `[batch, heads, 1, d]`
 * @param v - value `[batch, heads, 1, d]`
 * @param logF - log forget gate `[batch, heads, 1]`
 * @param options - scale and ACP
 */
export function decodeForgettingAttention(cache: ForgettingKVCache, q: Tensor, k: Tensor, v: Tensor, logF: Tensor, options: DecodeOptions = {}): DecodeResult {
  const op = 'decodeForgettingAttention';
  if (!(cache instanceof ForgettingKVCache)) throw new PruneError('INVALID_ARGUMENT', `${op}: cache must be a ForgettingKVCache (create one with ForgettingKVCache.fromPrefill)`);
  checkFloatTensor(op, 'q', q, 4);
  const { batch: b, heads: h, headDim: d } = cache;
  if (q.shape.join() !== [b, h, 1, d].join()) {
    throw new PruneError('SHAPE_MISMATCH', `${op}: decoding takes one query per step: q must be [${b}, ${h}, 1, ${d}], got ${shapeText(q.shape)}`);
  }
  const scale = resolveScale(op, options.scale, d);
  const acp = options.acp ? resolveAcpOptions(op, options.acp) : undefined;
  cache.append(k, v, logF);
  const n = cache.length;
  const state = cache.hostState();
  const qd = q.dataSync() as Float32Array;
  let threshold: Float64Array | null = null;
  if (acp) {
    let bound: Float64Array;
    if (acp.bound === 'auto' || acp.bound === 'norms') {
      bound = new Float64Array(b * h);
      for (let g = 0; g < b * h; g++) {
        let s = 0;
        for (let c = 0; c < d; c++) s += qd[g * d + c] ** 2;
        bound[g] = Math.sqrt(s) * NORM_HEADROOM * state.maxKeyNorm[g] * NORM_HEADROOM * scale;
      }
    } else {
      const perHead = qkNormLogitBound(acp.bound, h, d, scale);
      bound = Float64Array.from({ length: b * h }, (_, g) => perHead[g % h]);
    }
    threshold = acpThreshold(bound, n, acp.logTolerance);
  }
  const result = hostForgettingAttention({
    q: qd,
    k: state.k,
    v: state.v,
    lambda: state.lambda,
    groups: b * h,
    heads: h,
    m: 1,
    n,
    d,
    capacity: state.capacity,
    scale,
    seqStart: cache.seqStart,
    threshold,
    blockM: 1,
    blockN: acp?.blockN ?? 64,
  });
  const s = savings(result.boundaries, b, h);
  return {
    output: fromArray(result.output, [b, h, 1, d], 'float32', { backend: q.backend }),
    flopSaving: s.flopSaving,
    totalFlopSaving: s.totalFlopSaving,
    ...(options.returnBoundaries ? { boundaries: result.boundaries } : {}),
  };
}
