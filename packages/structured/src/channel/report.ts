import type { LayersModel } from '@tensorflow/tfjs-layers';

const CONVOLUTIONS: ReadonlySet<string> = new Set(['Conv1D', 'Conv2D', 'Conv3D', 'DepthwiseConv2D', 'Dense']);
const SEPARABLE: ReadonlySet<string> = new Set(['SeparableConv1D', 'SeparableConv2D']);

function product(values: readonly (number | null)[]): number {
  let n = 1;
  for (const v of values) n *= v ?? 1;
  return n;
}

/** Output shape of a layer's (single) output, with the batch axis. */
function outputShapeOf(layer: LayersModel['layers'][number]): readonly (number | null)[] {
  const shape = layer.outputShape as (number | null)[] | (number | null)[][];
  return Array.isArray(shape[0]) ? (shape[0] as (number | null)[]) : (shape as (number | null)[]);
}

/**
 * Multiply-accumulates of one forward pass of one sample through the model's convolution and
 * dense layers: for Conv/Dense/DepthwiseConv, output positions × kernel size (a dense layer on a
 * sequence counts every position); for SeparableConv, its depthwise and pointwise parts. Other
 * layers (BN, activations, pooling, adds) are not counted. FLOPs ≈ 2 × MACs.
 *
 * @param model - a built LayersModel with known spatial sizes
 * @returns MACs per sample
 */
export function countMacs(model: LayersModel): number {
  let total = 0;
  for (const layer of model.layers) {
    const className = layer.getClassName();
    if (!CONVOLUTIONS.has(className) && !SEPARABLE.has(className)) continue;
    const positions = product(outputShapeOf(layer).slice(1, -1));
    for (const w of layer.weights) {
      if (w.shape.length < 2) continue;
      total += positions * product(w.shape);
    }
  }
  return total;
}

/** Parameter count of a model (trainable and not). */
export function countParameters(model: LayersModel): number {
  return model.countParams();
}

/** Median of a non-empty list. */
export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}
