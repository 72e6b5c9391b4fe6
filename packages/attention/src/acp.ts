import { PruneError, type Tensor } from '@prune/core';
import { checkPositiveInt } from './validate.js';

/**
 * Logit bound of the QK-norm ("Pro") block: q and k are per-head RMS-normalised with gains
 * γ_q and γ_k, so ‖qₜ‖ ≤ max|γ_q|·√d and ‖kₜ‖ ≤ max|γ_k|·√d for every token, whatever the
 * input.
 */
export interface QkNormBound {
  /** Discriminator. */
  readonly kind: 'qkNorm';
  /** RMSNorm gain of the queries γ_q, `[heads, d]` (row-major; a tensor or plain numbers). */
  readonly gammaQ: Tensor | ArrayLike<number>;
  /** RMSNorm gain of the keys γ_k, `[heads, d]`. */
  readonly gammaK: Tensor | ArrayLike<number>;
}

/**
 * How the logit bound U (|q_iᵀk_j|·scale ≤ U) is obtained: `'norms'` (alias `'auto'`) uses
 * U = max_t‖q_t‖·max_t‖k_t‖·scale per (batch, head) from the data; a {@link QkNormBound} uses
 * U = max|γ_q|·max|γ_k|·d·scale per head from the weights alone.
 */
export type LogitBoundMode = 'auto' | 'norms' | QkNormBound;

/** Options of Adaptive Computation Pruning. */
export interface AcpOptions {
  /**
   * ln ε, the natural log of the pruning tolerance: the attention mass pruned from any query
   * row stays below ε. Must be < 0.
   * @defaultValue -10
   */
  logTolerance?: number;
  /**
   * Query block size BM (rows per tile).
   * @defaultValue 64
   */
  blockM?: number;
  /**
   * Key block size BN (columns per tile); pruning skips whole key blocks.
   * @defaultValue 64
   */
  blockN?: number;
  /**
   * Where the logit bound U comes from.
   * @defaultValue `'auto'` (norms of the data)
   */
  bound?: LogitBoundMode;
}

/** ACP options with defaults filled in and checked. */
export interface ResolvedAcpOptions {
  /** ln ε. */
  readonly logTolerance: number;
  /** BM. */
  readonly blockM: number;
  /** BN. */
  readonly blockN: number;
  /** Bound mode. */
  readonly bound: LogitBoundMode;
}

/** Fills in and validates {@link AcpOptions}. */
export function resolveAcpOptions(op: string, options: AcpOptions = {}): ResolvedAcpOptions {
  const logTolerance = options.logTolerance ?? -10;
  if (!(logTolerance < 0) || !Number.isFinite(logTolerance)) {
    throw new PruneError('OUT_OF_RANGE', `${op}: logTolerance is ln ε and must be a finite negative number (ε < 1), got ${String(options.logTolerance)}; the paper uses -10`);
  }
  const blockM = options.blockM ?? 64;
  const blockN = options.blockN ?? 64;
  checkPositiveInt(op, 'blockM', blockM);
  checkPositiveInt(op, 'blockN', blockN);
  const bound = options.bound ?? 'auto';
  if (bound !== 'auto' && bound !== 'norms' && (typeof bound !== 'object' || bound === null || bound.kind !== 'qkNorm')) {
    throw new PruneError('INVALID_ARGUMENT', `${op}: bound must be 'auto', 'norms' or { kind: 'qkNorm', gammaQ, gammaK }`);
  }
  return { logTolerance, blockM, blockN, bound };
}

function hostValues(x: Tensor | ArrayLike<number>): ArrayLike<number> {
  return typeof (x as Tensor).dataSync === 'function' ? (x as Tensor).dataSync() : (x as ArrayLike<number>);
}

/**
 * Largest Euclidean norm among rows `[from, rows)` of each `[rows, d]` matrix in `data`
 * (`groups` matrices back to back); `from` is per group.
 */
export function maxRowNorms(data: ArrayLike<number>, groups: number, rows: number, d: number, from: (g: number) => number = () => 0): Float64Array {
  const out = new Float64Array(groups);
  for (let g = 0; g < groups; g++) {
    let best = 0;
    for (let r = from(g); r < rows; r++) {
      const base = (g * rows + r) * d;
      let s = 0;
      for (let c = 0; c < d; c++) s += data[base + c] * data[base + c];
      if (s > best) best = s;
    }
    out[g] = Math.sqrt(best);
  }
  return out;
}

/**
 * The QK-norm logit bound per head: U_h = max|γ_q,h|·max|γ_k,h|·d·scale. (An RMS-normalised
 * vector of size d has norm ≤ √d, so |qᵀk| ≤ max|γ_q|·max|γ_k|·d; with the default scale 1/√d
 * this is max|γ_q|·max|γ_k|·√d, the bound of the reference implementation.)
 * @param bound - the RMSNorm gains, `[heads, d]` each
 * @param heads - number of heads
 * @param d - head size
 * @param scale - softmax scale
 * @returns U per head
 */
export function qkNormLogitBound(bound: QkNormBound, heads: number, d: number, scale: number): Float64Array {
  const gq = hostValues(bound.gammaQ);
  const gk = hostValues(bound.gammaK);
  if (gq.length !== heads * d || gk.length !== heads * d) {
    throw new PruneError('SHAPE_MISMATCH', `qkNorm bound: gammaQ and gammaK need ${heads}×${d} = ${heads * d} values ([heads, d]), got ${gq.length} and ${gk.length}`);
  }
  const out = new Float64Array(heads);
  for (let h = 0; h < heads; h++) {
    let mq = 0;
    let mk = 0;
    for (let c = 0; c < d; c++) {
      mq = Math.max(mq, Math.abs(gq[h * d + c]));
      mk = Math.max(mk, Math.abs(gk[h * d + c]));
    }
    out[h] = mq * mk * d * scale;
  }
  return out;
}

/**
 * The ACP threshold δ = −2U − ln L + ln ε for each bound U. Every decay-bias entry
 * D_ij < δ has attention weight A_ij < ε/L, so pruning all of them removes less than ε of
 * each row's mass.
 * @param logitBound - U per (batch, head) or per head
 * @param keyLength - L, the number of keys
 * @param logTolerance - ln ε (< 0)
 * @returns δ, one per entry of `logitBound`
 */
export function acpThreshold(logitBound: ArrayLike<number>, keyLength: number, logTolerance = -10): Float64Array {
  checkPositiveInt('acpThreshold', 'keyLength', keyLength);
  if (!(logTolerance < 0) || !Number.isFinite(logTolerance)) {
    throw new PruneError('OUT_OF_RANGE', `acpThreshold: logTolerance is ln ε and must be a finite negative number, got ${String(logTolerance)}`);
  }
  const out = new Float64Array(logitBound.length);
  for (let i = 0; i < out.length; i++) {
    const u = logitBound[i];
    if (!(u >= 0) || !Number.isFinite(u)) throw new PruneError('NON_FINITE', `acpThreshold: logit bound ${i} is ${String(u)}; it must be finite and ≥ 0 (check q and k for NaN or Infinity)`);
    out[i] = -2 * u - Math.log(keyLength) + logTolerance;
  }
  return out;
}

/**
 * The tile test: query rows `[rowStart, rowStart + BM)` and keys `[keyStart, keyStart + BN)`
 * (positions in key coordinates). Λ is non-increasing, so the largest decay bias of the tile
 * is Λ[rowStart] − Λ[min(n−1, keyStart + BN − 1)]; the tile is skipped iff that is < δ.
 * @param lambda - Λ of one head, length n
 * @param rowStart - key position of the tile's first query row
 * @param keyStart - first key of the tile
 * @param blockN - BN
 * @param threshold - δ
 */
export function tileIsPrunable(lambda: ArrayLike<number>, rowStart: number, keyStart: number, blockN: number, threshold: number): boolean {
  const last = Math.min(lambda.length - 1, keyStart + blockN - 1);
  return lambda[rowStart] - lambda[last] < threshold;
}

/** Kept key range of every query block of one head, from {@link acpBoundaries}. */
export interface AcpBoundaries {
  /** start_m: first kept key of query block m (a multiple of BN from the first block touching real keys). */
  readonly start: Int32Array;
  /** hi_m: causal end (exclusive) of query block m. */
  readonly end: Int32Array;
  /** First key the unpruned kernel visits (the padding start rounded down to BN). */
  readonly lo: number;
}

/** Options of {@link acpBoundaries}. */
export interface AcpBoundaryOptions {
  /** δ; `-Infinity` prunes nothing. */
  threshold: number;
  /**
   * Number of queries m (the last m of the n key positions).
   * @defaultValue n
   */
  queries?: number;
  /**
   * BM.
   * @defaultValue 64
   */
  blockM?: number;
  /**
   * BN.
   * @defaultValue 64
   */
  blockN?: number;
  /**
   * First real token of the sequence (left padding).
   * @defaultValue 0
   */
  seqStart?: number;
}

/**
 * The monotone block-boundary search of ACP for one head, O(M/BM + N/BN): start = lo; for
 * each query block m0, while the tile (m0, [start, start+BN)) is prunable, start += BN. The
 * kept keys of block m are [start_m, hi_m). Since Λ is non-increasing, a tile prunable for
 * one block is prunable for every later block, so start never moves back, and it never
 * passes the diagonal (D_ii = 0 > δ).
 * @param lambda - Λ of one head, length n
 * @param options - threshold, sizes and padding
 */
export function acpBoundaries(lambda: ArrayLike<number>, options: AcpBoundaryOptions): AcpBoundaries {
  const n = lambda.length;
  const m = options.queries ?? n;
  const bm = options.blockM ?? 64;
  const bn = options.blockN ?? 64;
  const seqStart = options.seqStart ?? 0;
  checkPositiveInt('acpBoundaries', 'blockM', bm);
  checkPositiveInt('acpBoundaries', 'blockN', bn);
  if (!Number.isInteger(m) || m < 1 || m > n) throw new PruneError('OUT_OF_RANGE', `acpBoundaries: queries = ${String(m)} must be in [1, ${n}]`);
  if (typeof options.threshold !== 'number' || Number.isNaN(options.threshold)) {
    throw new PruneError('INVALID_ARGUMENT', `acpBoundaries: threshold must be a number (use -Infinity to prune nothing), got ${String(options.threshold)}`);
  }
  const p = n - m;
  const blocks = Math.ceil(m / bm);
  const start = new Int32Array(blocks);
  const end = new Int32Array(blocks);
  const lo = Math.floor(Math.min(seqStart, n - 1) / bn) * bn;
  let s = lo;
  for (let mb = 0; mb < blocks; mb++) {
    const row = p + mb * bm;
    const hi = Math.min(n, p + Math.min(m, (mb + 1) * bm));
    while (s + bn <= row && tileIsPrunable(lambda, row, s, bn, options.threshold)) s += bn;
    start[mb] = s;
    end[mb] = hi;
  }
  return { start, end, lo };
}

/**
 * FLOP saving of softmax attention for one head: 1 − Σ_m (hi_m − start_m) / Σ_m (hi_m − lo),
 * i.e. the share of causal tile columns the kernel skips.
 */
export function flopSaving(boundaries: AcpBoundaries): number {
  let kept = 0;
  let total = 0;
  for (let i = 0; i < boundaries.start.length; i++) {
    kept += boundaries.end[i] - boundaries.start[i];
    total += boundaries.end[i] - boundaries.lo;
  }
  return total > 0 ? 1 - kept / total : 0;
}
