import { type ObsRows, obsRowsSimd } from './obs-kernel.js';
import { COLS, GROUP, KIND, KIND_OBS, PARAM, ROWS, START, TILE, helpersFor, runTiled } from './row-workers.js';

// SparseGPT's column loop inside one block of B columns (the optimal-brain-surgeon updates):
// row by row, each pruned weight's error err = w/U[c,c] is spread over the block's later
// columns with U's row c. Rows are independent here (the unstructured mask is chosen for
// the block beforehand; N:M chooses within each row), so a block's rows are cut into tiles
// for the worker pool.

/** One block of the column loop, with the strides of wherever its rows live. */
export interface ObsBlock extends ObsRows {
  /** U[c,c]² rounded to float32, per block column. */
  readonly diagSq: Float32Array;
  /** N:M — N pruned of every M; both 0 when the mask was chosen beforehand. */
  readonly prune: number;
  readonly group: number;
}

/**
 * Runs the block's column loop for rows `[from, to)`: N:M picks, per group of M columns as
 * the loop reaches it, the N smallest w²/U[c,c]² among the current weights (ties to the lower
 * column); each pruned weight's error is recorded and subtracted from the row's later
 * columns, as the reference's `W1[:, i:] -= err1 · Hinv1[i, i:]`.
 *
 * @param b - the block
 * @param from - first row
 * @param to - end of the rows
 */
export function obsBlockRows(b: ObsBlock, from: number, to: number): void {
  const { w, keep, u, err, count, diagSq, prune, group } = b;
  // A mask chosen beforehand: the WebAssembly SIMD loop, which rounds as this one does.
  if (group === 0 && obsRowsSimd(b, from, to)) return;
  const groupScore = new Float32Array(group);
  for (let r = from; r < to; r++) {
    const base = b.wAt + r * b.wStride;
    const kBase = b.keepAt + r * b.keepStride;
    const eBase = r * b.errStride;
    for (let c = 0; c < count; c++) {
      if (group > 0 && c % group === 0) {
        const width = Math.min(group, count - c);
        for (let g = 0; g < width; g++) {
          const x = w[base + c + g];
          groupScore[g] = Math.fround(Math.fround(x * x) / diagSq[c + g]);
        }
        for (let t = 0; t < Math.min(prune, width); t++) {
          let best = -1;
          for (let g = 0; g < width; g++) {
            if (keep[kBase + c + g] === 0) continue;
            if (best < 0 || groupScore[g] < groupScore[best]) best = g;
          }
          keep[kBase + c + best] = 0;
        }
      }
      if (keep[kBase + c] === 1) {
        err[eBase + c] = 0;
        continue;
      }
      const rowU = b.uAt + c * b.uStride;
      const e = Math.fround(w[base + c] / u[rowU + c]);
      err[eBase + c] = e;
      w[base + c] = 0;
      if (e === 0) continue;
      // The product rounded to float32 first, as the reference's float32 outer product is.
      for (let k = c + 1; k < count; k++) w[base + k] -= Math.fround(e * u[rowU + k]);
    }
  }
}

// Below this many multiply-adds per block (rows·B²) the hand-offs cost more than they save.
const PARALLEL_WORK = 1 << 22;

/**
 * {@link obsBlockRows} over all `rows` of the block, split between the calling thread and
 * the worker pool when the block is large. The same arithmetic in the same order per row,
 * so the result is identical either way.
 *
 * @param b - the block, laid out in the caller's matrices
 * @param rows - d_out
 */
export function runObsBlock(b: ObsBlock, rows: number): void {
  const { count } = b;
  // A worker's tile holds the rows' weights and errors; its factor buffer holds U's block.
  const capacity = count * count <= TILE && count > 0 ? Math.floor(TILE / (2 * count)) : 0;
  const helpers = rows * count * count < PARALLEL_WORK || capacity === 0 ? 0 : helpersFor(rows, 1, 2);
  const tileRows = Math.max(1, Math.min(capacity, Math.ceil(rows / (helpers + 1))));
  runTiled({
    rows,
    tileRows,
    helpers: capacity === 0 ? 0 : Math.min(helpers, Math.ceil(rows / tileRows) - 1),
    local: (from, to) => obsBlockRows(b, from, to),
    prepare(h) {
      const { scale } = h.buffers;
      for (let c = 0; c < count; c++) scale.set(b.u.subarray(b.uAt + c * b.uStride, b.uAt + c * b.uStride + count), c * count);
    },
    post(h, start, end) {
      const { tile, mask } = h.buffers;
      for (let r = start; r < end; r++) {
        const at = (r - start) * count;
        tile.set(b.w.subarray(b.wAt + r * b.wStride, b.wAt + r * b.wStride + count), at);
        mask.set(b.keep.subarray(b.keepAt + r * b.keepStride, b.keepAt + r * b.keepStride + count), at);
      }
      const c = h.control;
      c[KIND] = KIND_OBS;
      c[ROWS] = end - start;
      c[COLS] = count;
      c[PARAM] = b.prune;
      c[GROUP] = b.group;
      c[START] = start;
    },
    collect(h, start, end) {
      const { tile, mask } = h.buffers;
      const n = end - start;
      for (let r = start; r < end; r++) {
        const at = (r - start) * count;
        b.w.set(tile.subarray(at, at + count), b.wAt + r * b.wStride);
        b.keep.set(mask.subarray(at, at + count), b.keepAt + r * b.keepStride);
        b.err.set(tile.subarray(n * count + at, n * count + at + count), r * b.errStride);
      }
    },
  });
}

/**
 * The block as a worker holds it: `rows` rows of weights then their errors in `tile`, U's
 * block in `factor`, the keep rows in `mask`, all with stride B = `count`.
 *
 * @param tile - the worker's tile buffer
 * @param factor - the worker's factor buffer
 * @param mask - the worker's mask buffer
 * @param rows - rows in the tile
 * @param count - B
 * @param prune - N (N:M) or 0
 * @param group - M (N:M) or 0
 * @returns the block, ready for {@link obsBlockRows}
 */
export function tileObsBlock(tile: Float32Array, factor: Float32Array, mask: Uint8Array, rows: number, count: number, prune: number, group: number): ObsBlock {
  const diagSq = new Float32Array(count);
  for (let c = 0; c < count; c++) {
    const d = factor[c * count + c];
    diagSq[c] = Math.fround(d * d);
  }
  return {
    w: tile,
    wAt: 0,
    wStride: count,
    keep: mask,
    keepAt: 0,
    keepStride: count,
    u: factor,
    uAt: 0,
    uStride: count,
    err: tile.subarray(rows * count, 2 * rows * count),
    errStride: count,
    count,
    diagSq,
    prune,
    group,
  };
}
