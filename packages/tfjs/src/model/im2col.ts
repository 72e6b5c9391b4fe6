import { PruneError } from '@prune/core';
import * as tf from '@tensorflow/tfjs-core';

/** Padding modes of tfjs convolution layers (`causal` only for Conv1D). */
export type ConvPadding = 'valid' | 'same' | 'causal';

/** The geometry of a 2-D convolution over an NHWC input. */
export interface Conv2dGeometry {
  /** `[kh, kw]`. */
  readonly kernelSize: readonly [number, number];
  /** `[sh, sw]`. */
  readonly strides: readonly [number, number];
  /** `[dh, dw]`. */
  readonly dilation: readonly [number, number];
  /** Padding mode. */
  readonly padding: ConvPadding;
}

/** Output length and padding before/after of one spatial axis, as TensorFlow computes them. */
function axisPlan(size: number, kernel: number, stride: number, dilation: number, padding: ConvPadding): { out: number; before: number; after: number } {
  const effective = (kernel - 1) * dilation + 1;
  if (padding === 'valid') return { out: Math.max(0, Math.floor((size - effective) / stride) + 1), before: 0, after: 0 };
  if (padding === 'causal') {
    const padded = size + effective - 1;
    return { out: Math.max(0, Math.floor((padded - effective) / stride) + 1), before: effective - 1, after: 0 };
  }
  const out = Math.ceil(size / stride);
  const total = Math.max(0, (out - 1) * stride + effective - size);
  const before = Math.floor(total / 2);
  return { out, before, after: total - before };
}

/**
 * im2col for a 2-D convolution: every output position's receptive field as one row, so a
 * Conv2D is `patches · Wᵀ` with `W` the kernel's `[out, kh·kw·in]` matrix view. Row order is
 * `(batch, y, x)`, column order `(dy, dx, channel)` — the order of the flattened
 * `[kh, kw, in, out]` kernel. Memory: `kh·kw` times the (padded) input.
 *
 * @param x - input `[batch, height, width, channels]`
 * @param geometry - kernel size, strides, dilation, padding
 * @returns `[batch·outHeight·outWidth, kh·kw·channels]`
 */
export function conv2dPatches(x: tf.Tensor, geometry: Conv2dGeometry): tf.Tensor2D {
  if (x.rank !== 4) throw new PruneError('SHAPE_MISMATCH', `conv2dPatches: expected an NHWC input of rank 4, got shape [${x.shape.join(', ')}]`);
  const [batch, height, width, channels] = x.shape;
  const [kh, kw] = geometry.kernelSize;
  const [sh, sw] = geometry.strides;
  const [dh, dw] = geometry.dilation;
  if (![kh, kw, sh, sw, dh, dw].every((v) => Number.isInteger(v) && v >= 1)) {
    throw new PruneError('INVALID_ARGUMENT', `conv2dPatches: kernel size, strides and dilation must be positive integers, got ${JSON.stringify(geometry)}`);
  }
  if ((sh > 1 || sw > 1) && (dh > 1 || dw > 1)) {
    throw new PruneError('UNSUPPORTED', 'conv2dPatches: strides > 1 together with dilation > 1 is not a valid tfjs convolution');
  }
  const rows = axisPlan(height, kh, sh, dh, geometry.padding);
  const cols = axisPlan(width, kw, sw, dw, geometry.padding);
  return tf.tidy(() => {
    const padded = rows.before + rows.after + cols.before + cols.after === 0
      ? x
      : tf.pad(x, [[0, 0], [rows.before, rows.after], [cols.before, cols.after], [0, 0]]);
    const taps: tf.Tensor[] = [];
    for (let dy = 0; dy < kh; dy++) {
      for (let dx = 0; dx < kw; dx++) {
        const y0 = dy * dh;
        const x0 = dx * dw;
        taps.push(
          tf.stridedSlice(padded, [0, y0, x0, 0], [batch, y0 + (rows.out - 1) * sh + 1, x0 + (cols.out - 1) * sw + 1, channels], [1, sh, sw, 1]),
        );
      }
    }
    // [batch, oh, ow, kh·kw, channels] → one row per output position.
    return tf.reshape(tf.stack(taps, 3), [batch * rows.out * cols.out, kh * kw * channels]);
  });
}

/**
 * im2col for a 1-D convolution (`[batch, length, channels]` input), the rows of which match a
 * Conv1D kernel `[k, in, out]` viewed as `[out, k·in]`.
 *
 * @param x - input `[batch, length, channels]`
 * @param kernel - kernel length
 * @param stride - stride
 * @param dilation - dilation
 * @param padding - `valid`, `same` or `causal`
 * @returns `[batch·outLength, k·channels]`
 */
export function conv1dPatches(x: tf.Tensor, kernel: number, stride: number, dilation: number, padding: ConvPadding): tf.Tensor2D {
  if (x.rank !== 3) throw new PruneError('SHAPE_MISMATCH', `conv1dPatches: expected an input [batch, length, channels], got shape [${x.shape.join(', ')}]`);
  return tf.tidy(() => {
    const asImage = tf.expandDims(x, 1);
    const geometry: Conv2dGeometry = { kernelSize: [1, kernel], strides: [1, stride], dilation: [1, dilation], padding: 'valid' };
    if (padding === 'valid') return conv2dPatches(asImage, geometry);
    const plan = axisPlan(x.shape[1] as number, kernel, stride, dilation, padding);
    const padded = tf.pad(asImage, [[0, 0], [0, 0], [plan.before, plan.after], [0, 0]]);
    return conv2dPatches(padded, geometry);
  });
}
