import { PruneError, type Tensor } from '@prune/core';
import { attentionReceived } from './attention.js';
import { checkCount, checkGrid, checkKeep, rankDescending } from './common.js';

/** Options of {@link hipruneBuffer}. */
export interface HipruneBufferOptions {
  /** Patches per row of the grid, W. */
  gridWidth: number;
  /** Number of patch tokens N. */
  count: number;
  /**
   * Whether a left/right neighbour must lie on the anchor's own row. The reference code
   * has no such check (an anchor at the end of a row takes the first patch of the next
   * row); `true` drops those wrapped neighbours.
   * @defaultValue `false`
   */
  noRowWrap?: boolean;
}

/**
 * HiPrune's buffer tokens: S = A ∪ (A−1) ∪ (A+1) ∪ (A−W) ∪ (A+W), clamped to [0, N−1] and
 * de-duplicated.
 * @param anchors - anchor patch positions A
 * @param options - grid width, token count, row-wrap rule
 * @returns the positions in S, ascending
 */
export function hipruneBuffer(anchors: ArrayLike<number>, options: HipruneBufferOptions): Int32Array {
  const { gridWidth: w, count: n } = options;
  checkCount('hipruneBuffer', n);
  checkGrid('hipruneBuffer', n, w);
  const noWrap = options.noRowWrap ?? false;
  const set = new Set<number>();
  const clamp = (i: number): number => Math.min(n - 1, Math.max(0, i));
  for (let k = 0; k < anchors.length; k++) {
    const a = anchors[k];
    if (!Number.isInteger(a) || a < 0 || a >= n) {
      throw new PruneError('OUT_OF_RANGE', `hipruneBuffer: anchor ${a} is outside [0, ${n}); anchors are patch positions (CLS excluded)`);
    }
    set.add(a);
    set.add(clamp(a - w));
    set.add(clamp(a + w));
    if (noWrap) {
      if (a % w > 0) set.add(a - 1);
      if (a % w < w - 1) set.add(a + 1);
    } else {
      set.add(clamp(a - 1));
      set.add(clamp(a + 1));
    }
  }
  return Int32Array.from([...set].sort((x, y) => x - y));
}

/** Options of {@link hipruneSelect}. */
export interface HipruneOptions {
  /** Patch budget N′ (tokens kept, CLS excluded). */
  keep: number;
  /** Patches per row of the grid, W. */
  gridWidth: number;
  /**
   * α: the share of the budget spent on anchors and their buffers; n_a = round(N′·α/5).
   * @defaultValue `0.1`
   */
  alpha?: number;
  /**
   * Drop left/right neighbours that wrap onto another row (see {@link HipruneBufferOptions}).
   * @defaultValue `false`
   */
  noRowWrap?: boolean;
}

/** HiPrune's selection, with its three parts. */
export interface HipruneSelection {
  /** All kept patch positions, ascending (S ∪ R). */
  kept: Int32Array;
  /** Anchor positions A: top-n_a of the object layer's scores, by descending score. */
  anchors: Int32Array;
  /** Buffer set S (anchors and their grid neighbours), ascending. */
  buffer: Int32Array;
  /** Register positions R: top-(N′ − |S|) of the deep layer's scores outside S, ascending. */
  registers: Int32Array;
}

/**
 * HiPrune's selection from per-token scores of an object (middle) layer and a deep layer:
 * anchors are the top n_a = round(N′·α/5) object-layer tokens, their grid neighbours form
 * buffers S, and the remaining N′ − |S| slots go to the deep layer's top tokens outside S
 * (registers). If |S| exceeds N′ (α large on a small grid), the buffer set is cut to the
 * N′ tokens with the highest object-layer score.
 * @param objectScores - a^(object), one score per patch token
 * @param deepScores - a^(deep), one score per patch token
 * @param options - budget, grid width, α
 * @returns kept positions and the anchor, buffer and register sets
 */
export function hipruneSelect(objectScores: ArrayLike<number>, deepScores: ArrayLike<number>, options: HipruneOptions): HipruneSelection {
  const n = objectScores.length;
  checkCount('hipruneSelect', n);
  if (deepScores.length !== n) {
    throw new PruneError('SHAPE_MISMATCH', `hipruneSelect: ${n} object-layer scores but ${deepScores.length} deep-layer scores; score the same patch tokens in both layers`);
  }
  checkGrid('hipruneSelect', n, options.gridWidth);
  checkKeep('hipruneSelect', options.keep, n);
  const alpha = options.alpha ?? 0.1;
  if (!(alpha >= 0 && alpha <= 1)) {
    throw new PruneError('OUT_OF_RANGE', `hipruneSelect: alpha ${alpha} must lie in [0, 1] (the share of the budget for anchors and buffers)`);
  }
  const keep = options.keep;
  // Python's round (half to even), as in the reference code.
  const na = Math.min(n, roundHalfEven((keep * alpha) / 5));
  const objectOrder = rankDescending(objectScores);
  const anchors = Int32Array.from(objectOrder.subarray(0, na));
  let buffer = hipruneBuffer(anchors, { gridWidth: options.gridWidth, count: n, noRowWrap: options.noRowWrap });
  if (buffer.length > keep) {
    const inBuffer = new Set(buffer);
    buffer = Int32Array.from(Array.from(objectOrder).filter((i) => inBuffer.has(i)).slice(0, keep)).sort();
  }
  const taken = new Uint8Array(n);
  for (const i of buffer) taken[i] = 1;
  const registers: number[] = [];
  for (const i of rankDescending(deepScores)) {
    if (registers.length >= keep - buffer.length) break;
    if (!taken[i]) registers.push(i);
  }
  const registersArr = Int32Array.from(registers).sort();
  const kept = Int32Array.from([...buffer, ...registersArr]).sort();
  return { kept, anchors, buffer, registers: registersArr };
}

/** Options of {@link hiprune}. */
export interface HipruneMapsOptions extends HipruneOptions {
  /**
   * Whether token 0 of the attention maps is a CLS token (its column is dropped).
   * @defaultValue `true`
   */
  clsToken?: boolean;
}

/**
 * HiPrune from two full attention maps: scores each layer by the attention every patch
 * token receives (mean over heads and all query rows), then {@link hipruneSelect}.
 * @param objectAttention - attention of the object (middle) layer, [heads, n, n]
 * @param deepAttention - attention of the deep layer, [heads, n, n]
 * @param options - budget, grid width, α, CLS handling
 * @returns kept patch positions (CLS excluded; see {@link withClsToken}) and the three sets
 */
export function hiprune(objectAttention: Tensor, deepAttention: Tensor, options: HipruneMapsOptions): HipruneSelection {
  const clsToken = options.clsToken ?? true;
  return hipruneSelect(attentionReceived(objectAttention, { clsToken }), attentionReceived(deepAttention, { clsToken }), options);
}

function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}
