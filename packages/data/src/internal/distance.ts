// Blocked squared-distance kernels. ‖x − c‖² = ‖x‖² − 2·x·c + ‖c‖²: one dot product per
// (row, centroid) pair, four centroids per pass over a row so each loaded x value feeds four
// multiply-adds. Rows stay float32 (half the memory traffic); every sum is a JS double.

/**
 * Squared Euclidean norms of `count` rows of `dim` values.
 * @param data - row-major values
 */
export function rowSquaredNorms(data: ArrayLike<number>, count: number, dim: number): Float64Array {
  const out = new Float64Array(count);
  for (let i = 0, o = 0; i < count; i++, o += dim) {
    let s = 0;
    for (let t = 0; t < dim; t++) {
      const v = data[o + t];
      s += v * v;
    }
    out[i] = s;
  }
  return out;
}

/** Nearest and second-nearest centroid of one row, written by {@link nearestTwo}. */
export interface NearestTwo {
  /** Index of the nearest centroid. */
  best: number;
  /** Squared distance to it (clamped at 0). */
  bestSq: number;
  /** Squared distance to the second nearest (Infinity when k = 1). */
  secondSq: number;
}

/**
 * Nearest and second-nearest of `k` centroids to row `row` of `data`.
 * @param out - receives the result (reused to avoid allocation in hot loops)
 */
export function nearestTwo(
  data: Float32Array,
  row: number,
  dim: number,
  rowNorm: number,
  centroids: Float64Array,
  centroidNorms: Float64Array,
  k: number,
  out: NearestTwo,
): void {
  const xo = row * dim;
  let b1 = Infinity;
  let b2 = Infinity;
  let bi = 0;
  let j = 0;
  for (; j + 3 < k; j += 4) {
    const c0 = j * dim;
    const c1 = c0 + dim;
    const c2 = c1 + dim;
    const c3 = c2 + dim;
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    for (let t = 0; t < dim; t++) {
      const x = data[xo + t];
      s0 += x * centroids[c0 + t];
      s1 += x * centroids[c1 + t];
      s2 += x * centroids[c2 + t];
      s3 += x * centroids[c3 + t];
    }
    const d0 = rowNorm - 2 * s0 + centroidNorms[j];
    const d1 = rowNorm - 2 * s1 + centroidNorms[j + 1];
    const d2 = rowNorm - 2 * s2 + centroidNorms[j + 2];
    const d3 = rowNorm - 2 * s3 + centroidNorms[j + 3];
    if (d0 < b1) { b2 = b1; b1 = d0; bi = j; } else if (d0 < b2) b2 = d0;
    if (d1 < b1) { b2 = b1; b1 = d1; bi = j + 1; } else if (d1 < b2) b2 = d1;
    if (d2 < b1) { b2 = b1; b1 = d2; bi = j + 2; } else if (d2 < b2) b2 = d2;
    if (d3 < b1) { b2 = b1; b1 = d3; bi = j + 3; } else if (d3 < b2) b2 = d3;
  }
  for (; j < k; j++) {
    const c0 = j * dim;
    let s0 = 0;
    for (let t = 0; t < dim; t++) s0 += data[xo + t] * centroids[c0 + t];
    const d0 = rowNorm - 2 * s0 + centroidNorms[j];
    if (d0 < b1) { b2 = b1; b1 = d0; bi = j; } else if (d0 < b2) b2 = d0;
  }
  out.best = bi;
  out.bestSq = b1 > 0 ? b1 : 0;
  out.secondSq = b2 > 0 ? b2 : 0;
}

/**
 * Squared distance between row `row` of `data` and centroid `j`, computed directly (no
 * cancellation), for bounds that must be tight.
 */
export function squaredDistanceTo(data: Float32Array, row: number, dim: number, centroids: Float64Array, j: number): number {
  const xo = row * dim;
  const co = j * dim;
  let s = 0;
  for (let t = 0; t < dim; t++) {
    const v = data[xo + t] - centroids[co + t];
    s += v * v;
  }
  return s;
}
