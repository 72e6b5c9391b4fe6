import { PruneError, type Tensor, fromArray, max, mul, norm, referenceBackend, tidy } from '@prune/core';
import { type AcpBoundaries, type AcpOptions, type LogitBoundMode, acpBoundaries, acpThreshold, flopSaving, qkNormLogitBound, resolveAcpOptions } from './acp.js';
import { type ForgettingAttentionOptions, checkAttentionInputs, cumulativeLogForget, resolveScale } from './forgetting.js';
import { hostForgettingAttention } from './host-kernel.js';
import { tilesForgettingAttention } from './tiles-kernel.js';
import { resolveSeqStart } from './validate.js';


/**
 * Relative headroom on norms computed in float32 (a d-term float32 sum of squares can be off
 * by a few ulps per term), so U stays an upper bound of the exact logits.
 */
export const NORM_HEADROOM = 1 + 1e-5;

/**
 * Which implementation of the block-sparse kernel runs: `'host'` (typed-array loops on the
 * CPU; the fastest choice for the reference backend), `'tiles'` (core ops per query block on
 * the inputs' backend — tfjs, gpu.js, …), or `'auto'` (host for reference tensors, tiles
 * otherwise).
 */
export type AcpKernel = 'auto' | 'host' | 'tiles';

/** Options of {@link forgettingAttentionAcp}. */
export interface ForgettingAttentionAcpOptions extends ForgettingAttentionOptions, AcpOptions {
  /**
   * Kernel implementation.
   * @defaultValue `'auto'`
   */
  kernel?: AcpKernel;
  /**
   * Prune tiles below the threshold. `false` runs the same kernel over every causal tile,
   * which is full forgetting attention (the baseline for timing).
   * @defaultValue true
   */
  prune?: boolean;
  /**
   * Return the kept key range of every query block in {@link AcpAttentionResult.boundaries}.
   * @defaultValue false
   */
  returnBoundaries?: boolean;
}

/** Output of {@link forgettingAttentionAcp}. */
export interface AcpAttentionResult {
  /** O `[batch, heads, m, d]` on the inputs' backend; rows of padded queries are 0. */
  readonly output: Tensor<'float32'>;
  /** Logit bound U per (batch, head), row-major. */
  readonly logitBound: Float64Array;
  /** Threshold δ per (batch, head) (−∞ when `prune` is false). */
  readonly threshold: Float64Array;
  /** FLOP saving of softmax attention per (batch, head): the share of causal key columns skipped. */
  readonly flopSaving: Float64Array;
  /** FLOP saving per head, averaged over the batch. */
  readonly headFlopSaving: Float64Array;
  /** FLOP saving over all (batch, head) pairs, weighted by their causal work. */
  readonly totalFlopSaving: number;
  /** Kept key range per (batch, head) group, when `returnBoundaries` was set. */
  readonly boundaries?: readonly AcpBoundaries[];
}

/**
 * Logit bound U per (batch, head): the QK-norm bound from the RMSNorm gains, or
 * max_t‖q_t‖·max_t‖k_t‖·scale over the real (non-padding) tokens.
 * @param q - queries `[batch, heads, m, d]`
 * @param k - keys `[batch, heads, n, d]`
 * @param scale - softmax scale
 * @param bound - bound mode
 * @param seqStart - first real token per batch entry
 * @returns U, `batch·heads` values
 */
export function logitBound(q: Tensor, k: Tensor, scale: number, bound: LogitBoundMode = 'auto', seqStart?: ArrayLike<number>): Float64Array {
  const [b, h, m, d] = q.shape;
  const n = k.shape[2];
  const starts = resolveSeqStart('logitBound', seqStart, b, n);
  if (bound !== 'auto' && bound !== 'norms') {
    const perHead = qkNormLogitBound(bound, h, d, scale);
    const out = new Float64Array(b * h);
    for (let i = 0; i < out.length; i++) out[i] = perHead[i % h];
    return out;
  }
  const maxNorm = (x: Tensor, rows: number): Float32Array =>
    tidy(() => {
      const mask = new Float32Array(b * rows);
      for (let bb = 0; bb < b; bb++) mask.fill(1, bb * rows + Math.max(0, starts[bb] - (n - rows)), (bb + 1) * rows);
      const norms = mul(norm(x as Tensor<'float32'>, { axis: -1 }), fromArray(mask, [b, 1, rows], 'float32', { backend: x.backend }));
      return max(norms, { axis: -1 });
    }).dataSync() as Float32Array;
  const qn = maxNorm(q, m);
  const kn = maxNorm(k, n);
  return Float64Array.from(qn, (v, i) => v * NORM_HEADROOM * kn[i] * NORM_HEADROOM * scale);
}

/**
 * Forgetting attention with Adaptive Computation Pruning: computes the logit bound U and the
 * threshold δ = −2U − ln L + ln ε per (batch, head), finds the kept key range of every query
 * block with the monotone boundary search, and runs a block-sparse kernel that never computes
 * a pruned tile. The result differs from {@link forgettingAttention} by less than
 * 2ε·max_j‖v_j‖ per output row (pruned mass < ε per row).
 * @param q - queries `[batch, heads, m, d]` (the last m of the n positions)
 * @param k - keys `[batch, heads, n, d]`
 * @param v - values `[batch, heads, n, d]`
 * @param logF - log forget gates `[batch, heads, n]`
 * @param options - tolerance, block sizes, bound mode, kernel, padding
 * @example
 * ```ts
 * const { output, headFlopSaving } = forgettingAttentionAcp(q, k, v, logF, { logTolerance: -10 });
 * ```
 */
export function forgettingAttentionAcp(q: Tensor, k: Tensor, v: Tensor, logF: Tensor, options: ForgettingAttentionAcpOptions = {}): AcpAttentionResult {
  const op = 'forgettingAttentionAcp';
  const [b, h, m, n, d] = checkAttentionInputs(op, q, k, v, logF);
  const scale = resolveScale(op, options.scale, d);
  const acp = resolveAcpOptions(op, options);
  const starts = resolveSeqStart(op, options.seqStart, b, n);
  const kernel = options.kernel ?? 'auto';
  if (kernel !== 'auto' && kernel !== 'host' && kernel !== 'tiles') {
    throw new PruneError('INVALID_ARGUMENT', `${op}: kernel must be 'auto', 'host' or 'tiles', got ${String(kernel)}`);
  }
  const prune = options.prune ?? true;
  const lambdaT = cumulativeLogForget(logF, { seqStart: starts });
  const lambda = lambdaT.dataSync() as Float32Array;
  lambdaT.dispose();
  const bound = prune ? logitBound(q, k, scale, acp.bound, starts) : new Float64Array(b * h);
  const threshold = prune ? acpThreshold(bound, n, acp.logTolerance) : new Float64Array(b * h).fill(-Infinity);
  const useHost = kernel === 'host' || (kernel === 'auto' && q.backend === referenceBackend);
  let output: Tensor<'float32'>;
  let boundaries: AcpBoundaries[];
  if (useHost) {
    const result = hostForgettingAttention({
      q: q.dataSync() as Float32Array,
      k: k.dataSync() as Float32Array,
      v: v.dataSync() as Float32Array,
      lambda,
      groups: b * h,
      heads: h,
      m,
      n,
      d,
      capacity: n,
      scale,
      seqStart: starts,
      threshold,
      blockM: acp.blockM,
      blockN: acp.blockN,
    });
    output = fromArray(result.output, [b, h, m, d], 'float32', { backend: q.backend });
    boundaries = result.boundaries;
  } else {
    boundaries = [];
    for (let g = 0; g < b * h; g++) {
      boundaries.push(
        acpBoundaries(lambda.subarray(g * n, (g + 1) * n), {
          threshold: threshold[g],
          queries: m,
          blockM: acp.blockM,
          blockN: acp.blockN,
          seqStart: starts[Math.floor(g / h)],
        }),
      );
    }
    output = tilesForgettingAttention({ q: q as Tensor<'float32'>, k: k as Tensor<'float32'>, v: v as Tensor<'float32'>, lambda, scale, seqStart: starts, boundaries, blockM: acp.blockM });
  }
  return { output, logitBound: bound, threshold, ...savings(boundaries, b, h), ...(options.returnBoundaries ? { boundaries } : {}) };
}

/** Per-group, per-head and total FLOP savings of a set of boundaries. */
export function savings(boundaries: readonly AcpBoundaries[], batch: number, heads: number): { flopSaving: Float64Array; headFlopSaving: Float64Array; totalFlopSaving: number } {
  const perGroup = Float64Array.from(boundaries, (bd) => flopSaving(bd));
  const perHead = new Float64Array(heads);
  let kept = 0;
  let total = 0;
  for (let g = 0; g < boundaries.length; g++) {
    perHead[g % heads] += perGroup[g] / batch;
    const bd = boundaries[g];
    for (let i = 0; i < bd.start.length; i++) {
      kept += bd.end[i] - bd.start[i];
      total += bd.end[i] - bd.lo;
    }
  }
  return { flopSaving: perGroup, headFlopSaving: perHead, totalFlopSaving: total > 0 ? 1 - kept / total : 0 };
}
