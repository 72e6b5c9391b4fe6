import {
  PruneError,
  type Tensor,
  add,
  cumsum,
  fromArray,
  logSigmoid,
  matmul,
  mul,
  reshape,
  slice,
  softmax,
  sub,
  tidy,
  transpose,
  where,
} from '@prune/core';
import { checkFloatTensor, resolveSeqStart, shapeText } from './validate.js';


/** Options shared by the forgetting-attention functions. */
export interface SeqStartOptions {
  /**
   * Left padding: for each sequence of the batch, the index of its first real token. Keys
   * before it get no attention weight, its log forget gates are treated as 0 (so Λ is flat
   * over the padding and padded values cannot disturb the cumulative sum), and the output
   * rows of padded queries are 0.
   * @defaultValue no padding (all zeros)
   */
  seqStart?: ArrayLike<number>;
}

/**
 * Log forget gates log fₜ = log σ(w_fᵀ xₜ + b_f) for every head and token, in float32.
 * @param x - hidden states `[batch, seq, dModel]`
 * @param weight - forget-gate projection w_f `[heads, dModel]`
 * @param bias - forget-gate bias b_f `[heads]`
 * @returns log f `[batch, heads, seq]` (head-first, as the attention functions take it)
 */
export function forgetGateLog(x: Tensor, weight: Tensor, bias: Tensor): Tensor<'float32'> {
  checkFloatTensor('forgetGateLog', 'x', x, 3);
  checkFloatTensor('forgetGateLog', 'weight', weight, 2);
  checkFloatTensor('forgetGateLog', 'bias', bias, 1);
  const [b, t, dm] = x.shape;
  const h = weight.shape[0];
  if (weight.shape[1] !== dm || bias.shape[0] !== h) {
    throw new PruneError(
      'SHAPE_MISMATCH',
      `forgetGateLog: weight ${shapeText(weight.shape)} and bias ${shapeText(bias.shape)} must be [heads, ${dm}] and [heads] for x ${shapeText(x.shape)}`,
    );
  }
  return tidy(() => {
    const logits = add(matmul(reshape(x, [b * t, dm]), weight, { transposeB: true }), bias);
    return transpose(reshape(logSigmoid(logits), [b, t, h]), [0, 2, 1]);
  });
}

/** 0/1 float mask `[batch, 1, n]`: 1 on real tokens (index ≥ seqStart). */
function realTokenMask(starts: Int32Array, n: number, like: Tensor): Tensor<'float32'> {
  const data = new Float32Array(starts.length * n);
  for (let b = 0; b < starts.length; b++) data.fill(1, b * n + starts[b], (b + 1) * n);
  return fromArray(data, [starts.length, 1, n], 'float32', { backend: like.backend });
}

/**
 * Cumulative log forget gates Λₜ = Σ_{l≤t} log f_l (float32), with the gates of padding
 * positions set to 0 first, so Λ is 0 over the padding and starts decaying at the first
 * real token.
 * @param logF - log forget gates `[batch, heads, n]`
 * @param options - left padding
 * @returns Λ `[batch, heads, n]`, non-increasing along the last axis
 */
export function cumulativeLogForget(logF: Tensor, options: SeqStartOptions = {}): Tensor<'float32'> {
  checkFloatTensor('cumulativeLogForget', 'logF', logF, 3);
  const [b, , n] = logF.shape;
  const starts = resolveSeqStart('cumulativeLogForget', options.seqStart, b, n);
  return tidy(() => {
    const masked = starts.some((s) => s > 0) ? mul(logF as Tensor<'float32'>, realTokenMask(starts, n, logF)) : (logF as Tensor<'float32'>);
    return cumsum(masked, { axis: -1 }) as Tensor<'float32'>;
  });
}

/**
 * Additive mask `[batch, 1, m, n]` for queries aligned to the end of the keys (query i sits
 * at key position n − m + i): 0 where key j may be attended, −∞ above the diagonal and on
 * padding keys. Rows of padded queries keep 0 on their causal keys so their softmax is finite;
 * the caller zeroes those rows afterwards.
 */
function causalPaddingMask(starts: Int32Array, m: number, n: number, like: Tensor, paddedRows: 'finite' | 'masked' = 'finite'): { mask: Tensor<'float32'>; rows: Tensor<'bool'> } {
  const batch = starts.length;
  const p = n - m;
  const mask = new Float32Array(batch * m * n);
  const rows = new Uint8Array(batch * m);
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < m; i++) {
      const pos = p + i;
      const padded = pos < starts[b];
      rows[b * m + i] = padded ? 0 : 1;
      const base = (b * m + i) * n;
      for (let j = 0; j < n; j++) {
        if (j > pos || (j < starts[b] && (!padded || paddedRows === 'masked'))) mask[base + j] = -Infinity;
      }
    }
  }
  return {
    mask: fromArray(mask, [batch, 1, m, n], 'float32', { backend: like.backend }),
    rows: fromArray(rows, [batch, 1, m, 1], 'bool', { backend: like.backend }),
  };
}

/**
 * The decay bias D_ij = Λ_i − Λ_j for j ≤ i and −∞ for j > i (causal), with padding keys at
 * −∞ too. Queries are the last `m` positions of the `n` keys (`m = n` for a full sequence).
 * @param lambda - Λ `[batch, heads, n]` from {@link cumulativeLogForget}
 * @param m - number of queries (the last `m` positions)
 * @param options - left padding
 * @returns D `[batch, heads, m, n]`
 */
export function decayBias(lambda: Tensor, m?: number, options: SeqStartOptions = {}): Tensor<'float32'> {
  checkFloatTensor('decayBias', 'lambda', lambda, 3);
  const [b, h, n] = lambda.shape;
  const rows = m ?? n;
  if (!Number.isInteger(rows) || rows < 1 || rows > n) {
    throw new PruneError('OUT_OF_RANGE', `decayBias: m = ${String(m)} queries must be an integer in [1, ${n}]`);
  }
  const starts = resolveSeqStart('decayBias', options.seqStart, b, n);
  return tidy(() => {
    const lq = reshape(slice(lambda as Tensor<'float32'>, [0, 0, n - rows], [b, h, rows]), [b, h, rows, 1]);
    const lk = reshape(lambda as Tensor<'float32'>, [b, h, 1, n]);
    // Padded query rows get −∞ on every key: no key is attended from them.
    const { mask } = causalPaddingMask(starts, rows, n, lambda, 'masked');
    return add(sub(lq, lk), mask);
  });
}

/** Options of {@link forgettingAttention}. */
export interface ForgettingAttentionOptions extends SeqStartOptions {
  /**
   * Softmax scale applied to q·k.
   * @defaultValue 1/√d
   */
  scale?: number;
}

/** Checks q, k, v, log f shapes; returns `[batch, heads, m, n, d]`. */
export function checkAttentionInputs(op: string, q: unknown, k: unknown, v: unknown, logF: unknown): [number, number, number, number, number] {
  checkFloatTensor(op, 'q', q, 4);
  checkFloatTensor(op, 'k', k, 4);
  checkFloatTensor(op, 'v', v, 4);
  checkFloatTensor(op, 'logF', logF, 3);
  const [b, h, m, d] = q.shape;
  const n = k.shape[2];
  if (k.shape[0] !== b || k.shape[1] !== h || k.shape[3] !== d || v.shape.join() !== k.shape.join()) {
    throw new PruneError(
      'SHAPE_MISMATCH',
      `${op}: q ${shapeText(q.shape)}, k ${shapeText(k.shape)} and v ${shapeText(v.shape)} must be [batch, heads, m, d], [batch, heads, n, d] and [batch, heads, n, d]`,
    );
  }
  if (m > n) throw new PruneError('SHAPE_MISMATCH', `${op}: ${m} queries but only ${n} keys; queries are the last m of the n key positions, so m ≤ n`);
  if (logF.shape[0] !== b || logF.shape[1] !== h || logF.shape[2] !== n) {
    throw new PruneError('SHAPE_MISMATCH', `${op}: logF ${shapeText(logF.shape)} must be [${b}, ${h}, ${n}] (one log gate per head and key position)`);
  }
  return [b, h, m, n, d];
}

/** Validates a softmax scale, defaulting to 1/√d. */
export function resolveScale(op: string, scale: number | undefined, d: number): number {
  const s = scale ?? 1 / Math.sqrt(d);
  if (!Number.isFinite(s) || s <= 0) throw new PruneError('INVALID_ARGUMENT', `${op}: scale must be a positive finite number, got ${String(scale)}`);
  return s;
}

/**
 * Full forgetting attention O = softmax(Q Kᵀ·scale + D) V, computed densely with core ops,
 * so it runs on every backend. Queries are the last `m` of the `n` key positions. This is the
 * unpruned baseline; {@link forgettingAttentionAcp} computes the same thing block-sparsely.
 * @param q - queries `[batch, heads, m, d]`
 * @param k - keys `[batch, heads, n, d]`
 * @param v - values `[batch, heads, n, d]`
 * @param logF - log forget gates `[batch, heads, n]` (see {@link forgetGateLog})
 * @param options - scale and left padding
 * @returns O `[batch, heads, m, d]`; rows of padded queries are 0
 */
export function forgettingAttention(q: Tensor, k: Tensor, v: Tensor, logF: Tensor, options: ForgettingAttentionOptions = {}): Tensor<'float32'> {
  const [b, h, m, n, d] = checkAttentionInputs('forgettingAttention', q, k, v, logF);
  const scale = resolveScale('forgettingAttention', options.scale, d);
  const starts = resolveSeqStart('forgettingAttention', options.seqStart, b, n);
  return tidy(() => {
    const lambda = cumulativeLogForget(logF, { seqStart: starts });
    const lq = reshape(slice(lambda, [0, 0, n - m], [b, h, m]), [b, h, m, 1]);
    const lk = reshape(lambda, [b, h, 1, n]);
    const { mask, rows } = causalPaddingMask(starts, m, n, q);
    const scores = add(add(mul(matmul(q as Tensor<'float32'>, k as Tensor<'float32'>, { transposeB: true }), scale), sub(lq, lk)), mask);
    const out = matmul(softmax(scores, { axis: -1 }), v as Tensor<'float32'>);
    return starts.some((s) => s > n - m) ? where(rows, out, 0) : out;
  });
}
