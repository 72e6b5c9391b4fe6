import { type MapSize, PruneError, type Tensor, areaInterpolate, fromArray } from '@prune/core';

/** A batch of token maps read to the host: `[batch, tokens, channels]`. */
export interface HostTokens {
  /** Values, `batch·tokens·channels`, token-major within each sample. */
  data: Float32Array;
  /** Samples in the batch. */
  batch: number;
  /** Tokens per sample. */
  tokens: number;
  /** Channels per token. */
  channels: number;
}

/** @internal Reads a float32 `[batch, tokens, channels]` tensor (rank 2 is one sample). */
export function readTokens(where: string, name: string, x: Tensor): HostTokens {
  if (x.dtype !== 'float32') {
    throw new PruneError('DTYPE_MISMATCH', `${where}: ${name} has dtype ${x.dtype}; pass a float32 tensor`);
  }
  if (x.rank !== 2 && x.rank !== 3) {
    throw new PruneError('SHAPE_MISMATCH', `${where}: ${name} has shape [${x.shape.join(', ')}]; expected [tokens, channels] or [batch, tokens, channels]`);
  }
  const [batch, tokens, channels] = x.rank === 3 ? x.shape : [1, ...x.shape];
  return { data: x.dataSync() as Float32Array, batch, tokens, channels };
}

/** @internal Checks a map size and that it holds `tokens` tokens. */
export function checkMapSize(where: string, size: MapSize, tokens?: number): void {
  const { height, width } = size;
  if (!Number.isInteger(height) || !Number.isInteger(width) || height < 1 || width < 1) {
    throw new PruneError('INVALID_ARGUMENT', `${where}: map size ${height}×${width} must be positive integers`);
  }
  if (tokens !== undefined && height * width !== tokens) {
    throw new PruneError('SHAPE_MISMATCH', `${where}: ${tokens} tokens do not form a ${height}×${width} map; pass the scale's height and width`);
  }
}

/** @internal Builds a tensor of the input's rank and backend from host data. */
export function toTensorLike(like: Tensor, data: Float32Array, batch: number, tokens: number, channels: number): Tensor<'float32'> {
  const shape = like.rank === 3 ? [batch, tokens, channels] : [tokens, channels];
  return fromArray(data, shape, 'float32', { backend: like.backend });
}

/**
 * Area interpolation of token maps (PyTorch's `interpolate(mode='area')`; see
 * `areaInterpolate` in `@prune/core`), for any size ratio.
 *
 * @param x - `[batch, from.height·from.width, channels]` or `[tokens, channels]` float32
 * @param from - size of the input map
 * @param to - size of the output map
 * @returns the resized maps, same rank and backend as `x`
 */
export function areaResize(x: Tensor, from: MapSize, to: MapSize): Tensor<'float32'> {
  const { data, batch, tokens, channels } = readTokens('areaResize', 'x', x);
  checkMapSize('areaResize', from, tokens);
  checkMapSize('areaResize', to);
  const out = areaInterpolate(data, batch, channels, from, to);
  return toTensorLike(x, out, batch, to.height * to.width, channels);
}

/**
 * Gathers the tokens at `indices` of each sample.
 * @param x - `[batch, tokens, channels]` or `[tokens, channels]` float32
 * @param indices - `batch × kept` token positions (row-major per sample)
 * @returns `[batch, kept, channels]` (or `[kept, channels]`)
 */
export function gatherTokens(x: Tensor, indices: Int32Array): Tensor<'float32'> {
  const { data, batch, tokens, channels } = readTokens('gatherTokens', 'x', x);
  const kept = checkIndices('gatherTokens', indices, batch, tokens);
  const out = new Float32Array(batch * kept * channels);
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < kept; t++) {
      const src = (b * tokens + indices[b * kept + t]) * channels;
      out.set(data.subarray(src, src + channels), (b * kept + t) * channels);
    }
  }
  return toTensorLike(x, out, batch, kept, channels);
}

/**
 * Writes `values` (the outputs computed for the kept tokens) over `base` at `indices`; the
 * other positions keep `base`'s values.
 * @param base - `[batch, tokens, channels]` (or rank 2) float32: the restored full map
 * @param indices - `batch × kept` token positions
 * @param values - `[batch, kept, channels]` (or rank 2) float32
 * @returns a new tensor shaped like `base`
 */
export function scatterTokens(base: Tensor, indices: Int32Array, values: Tensor): Tensor<'float32'> {
  const full = readTokens('scatterTokens', 'base', base);
  const part = readTokens('scatterTokens', 'values', values);
  const kept = checkIndices('scatterTokens', indices, full.batch, full.tokens);
  if (part.batch !== full.batch || part.tokens !== kept || part.channels !== full.channels) {
    throw new PruneError(
      'SHAPE_MISMATCH',
      `scatterTokens: values are ${part.batch}×${part.tokens}×${part.channels} but base and indices need ${full.batch}×${kept}×${full.channels}`,
    );
  }
  const out = Float32Array.from(full.data);
  scatterHost(out, full.tokens, full.channels, indices, part.data, full.batch, kept);
  return toTensorLike(base, out, full.batch, full.tokens, full.channels);
}

/** @internal Writes kept rows into a host map. */
export function scatterHost(out: Float32Array, tokens: number, channels: number, indices: Int32Array, values: Float32Array, batch: number, kept: number): void {
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < kept; t++) {
      const src = (b * kept + t) * channels;
      out.set(values.subarray(src, src + channels), (b * tokens + indices[b * kept + t]) * channels);
    }
  }
}

/** Checks `batch × kept` indices in range and distinct per sample; returns `kept`. */
function checkIndices(where: string, indices: Int32Array, batch: number, tokens: number): number {
  if (indices.length % batch !== 0) {
    throw new PruneError('SHAPE_MISMATCH', `${where}: ${indices.length} indices do not split into ${batch} samples`);
  }
  const kept = indices.length / batch;
  for (let b = 0; b < batch; b++) {
    const seen = new Uint8Array(tokens);
    for (let t = 0; t < kept; t++) {
      const p = indices[b * kept + t];
      if (!Number.isInteger(p) || p < 0 || p >= tokens || seen[p]) {
        throw new PruneError('OUT_OF_RANGE', `${where}: index ${p} of sample ${b} is out of [0, ${tokens}) or repeated`);
      }
      seen[p] = 1;
    }
  }
  return kept;
}
