import { PruneError } from './errors.js';

/** Height and width of a 2-D map. */
export interface MapSize {
  /** Rows. */
  height: number;
  /** Columns. */
  width: number;
}

/**
 * Area interpolation of channels-last 2-D maps on the host (PyTorch's
 * `interpolate(mode='area')`, i.e. adaptive average pooling): output cell `i` of an axis
 * averages input cells `floor(i·in/out) … ceil((i+1)·in/out) − 1`, in both directions, for
 * any size ratio (up- or down-sampling, non-integer factors). Sums run in float64.
 *
 * @param data - `batch · from.height · from.width · channels` values, row-major, channels last
 * @param batch - number of maps
 * @param channels - values per cell
 * @param from - input map size
 * @param to - output map size
 * @returns `batch · to.height · to.width · channels` values
 */
export function areaInterpolate(data: ArrayLike<number>, batch: number, channels: number, from: MapSize, to: MapSize): Float32Array {
  for (const [what, s] of [['from', from], ['to', to]] as const) {
    if (!Number.isInteger(s.height) || !Number.isInteger(s.width) || s.height < 1 || s.width < 1) {
      throw new PruneError('INVALID_ARGUMENT', `areaInterpolate: ${what} size ${s.height}×${s.width} must be positive integers`);
    }
  }
  if (!Number.isInteger(batch) || !Number.isInteger(channels) || batch < 1 || channels < 1) {
    throw new PruneError('INVALID_ARGUMENT', `areaInterpolate: batch ${batch} and channels ${channels} must be positive integers`);
  }
  const inCells = from.height * from.width;
  if (data.length !== batch * inCells * channels) {
    throw new PruneError(
      'SHAPE_MISMATCH',
      `areaInterpolate: ${data.length} values do not form ${batch} map(s) of ${from.height}×${from.width}×${channels}`,
    );
  }
  const rows = bins(from.height, to.height);
  const cols = bins(from.width, to.width);
  const outCells = to.height * to.width;
  const out = new Float32Array(batch * outCells * channels);
  const acc = new Float64Array(channels);
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < to.height; i++) {
      for (let j = 0; j < to.width; j++) {
        acc.fill(0);
        for (let r = rows.start[i]; r < rows.end[i]; r++) {
          for (let c = cols.start[j]; c < cols.end[j]; c++) {
            const base = (b * inCells + r * from.width + c) * channels;
            for (let k = 0; k < channels; k++) acc[k] += data[base + k];
          }
        }
        const n = (rows.end[i] - rows.start[i]) * (cols.end[j] - cols.start[j]);
        const o = (b * outCells + i * to.width + j) * channels;
        for (let k = 0; k < channels; k++) out[o + k] = acc[k] / n;
      }
    }
  }
  return out;
}

/** Adaptive-average-pooling bins of one axis. */
function bins(inSize: number, outSize: number): { start: Int32Array; end: Int32Array } {
  const start = new Int32Array(outSize);
  const end = new Int32Array(outSize);
  for (let i = 0; i < outSize; i++) {
    start[i] = Math.floor((i * inSize) / outSize);
    end[i] = Math.ceil(((i + 1) * inSize) / outSize);
  }
  return { start, end };
}
