import { PruneError } from '@prune/core';

/** Nonlinearity after a layer. */
export type Activation = 'relu' | 'linear';

/** A k×k convolution with `filters` output channels, `same` padding and a bias. */
export interface ConvBlock {
  kind: 'conv';
  /** Output channels c_out. */
  filters: number;
  /** Kernel side k. */
  kernelSize: number;
  /** Stride. @defaultValue 1 */
  strides?: number;
  /** Nonlinearity after the convolution. @defaultValue `'relu'` */
  activation?: Activation;
}

/**
 * A k×k depthwise convolution (channel multiplier 1, `same` padding, a bias): as many
 * output channels as input channels, so its width is tied to the layer before it.
 */
export interface DepthwiseBlock {
  kind: 'depthwise';
  /** Kernel side k. */
  kernelSize: number;
  /** Stride. @defaultValue 1 */
  strides?: number;
  /** Nonlinearity after the convolution. @defaultValue `'relu'` */
  activation?: Activation;
}

/**
 * A residual block: `activation(body(x) + shortcut(x))`. The shortcut is the identity, or a
 * 1×1 projection convolution (stride = product of the body's strides) when the body changes
 * the width or the resolution. The body's output channels and the shortcut's are joined by
 * the addition, so they always share one width.
 */
export interface ResidualBlock {
  kind: 'residual';
  /** Layers on the main path, in order (usually the last one is `activation: 'linear'`, as in ResNets). */
  body: readonly (ConvBlock | DepthwiseBlock)[];
  /** `'identity'` or a 1×1 `'projection'` convolution. */
  shortcut: 'identity' | 'projection';
  /** Nonlinearity after the addition. @defaultValue `'relu'` */
  activation?: Activation;
}

/** One step of a {@link ConvNetSpec}. */
export type Block = ConvBlock | DepthwiseBlock | ResidualBlock;

/**
 * A small architecture description for image classifiers: convolutional blocks, then global
 * average pooling and a dense classifier. The same description with other widths is the
 * PreCropped (narrower) network; {@link buildModel} turns either into a tfjs LayersModel.
 *
 * @example
 * ```ts
 * const spec: ConvNetSpec = {
 *   inputShape: [28, 28, 1],
 *   classes: 10,
 *   blocks: [
 *     { kind: 'conv', filters: 16, kernelSize: 3, strides: 2 },
 *     { kind: 'residual', shortcut: 'identity', body: [
 *       { kind: 'conv', filters: 16, kernelSize: 3 },
 *       { kind: 'conv', filters: 16, kernelSize: 3, activation: 'linear' },
 *     ] },
 *   ],
 * };
 * ```
 */
export interface ConvNetSpec {
  /** Input image shape `[height, width, channels]` (channels-last). */
  inputShape: readonly [number, number, number];
  /** The blocks, in order. */
  blocks: readonly Block[];
  /** Classifier outputs (number of classes). */
  classes: number;
}

/** Kinds of layer that carry weights in a {@link ConvNetSpec}. */
export type WeightLayerKind = 'conv' | 'depthwise' | 'dense';

/**
 * One weight-carrying layer of a {@link ConvNetSpec}, flattened in build order, with the
 * channel groups its input and output belong to (see {@link ChannelGroup}).
 */
export interface WeightLayer {
  /** Layer name in the built tfjs model (`b0`, `b1_0`, `b1_proj`, `classifier`, …). */
  name: string;
  /** What the layer computes. */
  kind: WeightLayerKind;
  /** Kernel side (1 for dense). */
  kernelSize: number;
  /** Stride (1 for dense). */
  strides: number;
  /** Input channels c_in. */
  inChannels: number;
  /** Output channels c_out (= c_in for depthwise). */
  outChannels: number;
  /** Channel group of the input. */
  inGroup: number;
  /** Channel group of the output (= inGroup for depthwise). */
  outGroup: number;
  /** Kernel shape as tfjs stores it: `[k, k, c_in, c_out]`, `[k, k, c, 1]` or `[c_in, classes]`. */
  kernelShape: number[];
  /** Spatial size `[height, width]` of the output. */
  outputSize: [number, number];
}

/**
 * A set of channels that must keep one width: a layer's output channels, merged with every
 * tensor a residual addition joins to it, and followed through depthwise layers.
 */
export interface ChannelGroup {
  /** Index of the group. */
  id: number;
  /** Full width of the group in the described network. */
  width: number;
  /** Fixed groups (the input image channels and the classifier outputs) are never narrowed. */
  fixed: boolean;
  /** Names of the layers whose output channels form the group. */
  producers: string[];
}

/** The flattened weight layers of a {@link ConvNetSpec} and its channel groups. */
export interface ConvNetLayout {
  /** Weight layers in build order. */
  layers: WeightLayer[];
  /** Channel groups; group 0 is the input image, the last is the classifier output. */
  groups: ChannelGroup[];
}

function positiveInt(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new PruneError('INVALID_ARGUMENT', `${what} must be a positive integer, got ${String(value)}`);
  }
  return value;
}

/** Output side of a `same`-padded convolution. */
export function sameOutputSize(size: number, strides: number): number {
  return Math.ceil(size / strides);
}

/**
 * Flattens `spec` into its weight layers and works out the channel groups: residual
 * additions merge the groups they join (union–find), depthwise layers keep their input's
 * group. Validates the description.
 *
 * @param spec - the architecture description
 * @returns the layers in build order and the channel groups
 * @throws PruneError `INVALID_ARGUMENT` for a malformed description
 */
export function layoutOf(spec: ConvNetSpec): ConvNetLayout {
  if (spec === null || typeof spec !== 'object' || !Array.isArray(spec.blocks)) {
    throw new PruneError('INVALID_ARGUMENT', 'a ConvNetSpec needs inputShape, blocks and classes');
  }
  if (!Array.isArray(spec.inputShape) || spec.inputShape.length !== 3) {
    throw new PruneError('INVALID_ARGUMENT', `inputShape must be [height, width, channels], got ${JSON.stringify(spec.inputShape)}`);
  }
  const [h0, w0, c0] = spec.inputShape.map((v, i) => positiveInt(v, `inputShape[${i}]`));
  positiveInt(spec.classes, 'classes');

  const parent: number[] = [];
  const widths: number[] = [];
  const producers: string[][] = [];
  const newGroup = (width: number, producer?: string): number => {
    parent.push(parent.length);
    widths.push(width);
    producers.push(producer === undefined ? [] : [producer]);
    return parent.length - 1;
  };
  const find = (g: number): number => {
    while (parent[g] !== g) g = parent[g] = parent[parent[g]];
    return g;
  };
  const union = (a: number, b: number): void => {
    const ra = find(a);
    const rb = find(b);
    if (ra !== rb) parent[Math.max(ra, rb)] = Math.min(ra, rb);
  };

  const layers: WeightLayer[] = [];
  let size: [number, number] = [h0, w0];
  let channels = c0;
  let group = newGroup(c0);

  const addLayer = (block: ConvBlock | DepthwiseBlock, name: string): void => {
    if (block === null || typeof block !== 'object' || (block.kind !== 'conv' && block.kind !== 'depthwise')) {
      throw new PruneError('INVALID_ARGUMENT', `layer ${name}: kind must be 'conv' or 'depthwise', got ${JSON.stringify((block as { kind?: unknown })?.kind)}`);
    }
    const k = positiveInt(block.kernelSize, `layer ${name}: kernelSize`);
    const s = positiveInt(block.strides ?? 1, `layer ${name}: strides`);
    if (block.activation !== undefined && block.activation !== 'relu' && block.activation !== 'linear') {
      throw new PruneError('INVALID_ARGUMENT', `layer ${name}: activation must be 'relu' or 'linear', got ${JSON.stringify(block.activation)}`);
    }
    const outSize: [number, number] = [sameOutputSize(size[0], s), sameOutputSize(size[1], s)];
    if (block.kind === 'conv') {
      const f = positiveInt(block.filters, `layer ${name}: filters`);
      const out = newGroup(f, name);
      layers.push({ name, kind: 'conv', kernelSize: k, strides: s, inChannels: channels, outChannels: f, inGroup: group, outGroup: out, kernelShape: [k, k, channels, f], outputSize: outSize });
      group = out;
      channels = f;
    } else {
      producers[group].push(name);
      layers.push({ name, kind: 'depthwise', kernelSize: k, strides: s, inChannels: channels, outChannels: channels, inGroup: group, outGroup: group, kernelShape: [k, k, channels, 1], outputSize: outSize });
    }
    size = outSize;
  };

  spec.blocks.forEach((block, i) => {
    const name = `b${i}`;
    if (block !== null && typeof block === 'object' && block.kind === 'residual') {
      if (!Array.isArray(block.body) || block.body.length === 0) {
        throw new PruneError('INVALID_ARGUMENT', `residual block ${name} needs a non-empty body`);
      }
      if (block.activation !== undefined && block.activation !== 'relu' && block.activation !== 'linear') {
        throw new PruneError('INVALID_ARGUMENT', `residual block ${name}: activation must be 'relu' or 'linear'`);
      }
      const inGroup = group;
      const inChannels = channels;
      const inSize = size;
      block.body.forEach((inner: ConvBlock | DepthwiseBlock, j: number) => addLayer(inner, `${name}_${j}`));
      if (block.shortcut === 'identity') {
        if (channels !== inChannels || size[0] !== inSize[0] || size[1] !== inSize[1]) {
          throw new PruneError(
            'INVALID_ARGUMENT',
            `residual block ${name}: an identity shortcut needs the body to keep ${inChannels} channels at ${inSize.join('×')}, but it gives ${channels} at ${size.join('×')}; use shortcut: 'projection'`,
          );
        }
        union(inGroup, group);
      } else if (block.shortcut === 'projection') {
        const s = block.body.reduce((acc: number, inner: ConvBlock | DepthwiseBlock) => acc * (inner.strides ?? 1), 1);
        const projName = `${name}_proj`;
        const projSize: [number, number] = [sameOutputSize(inSize[0], s), sameOutputSize(inSize[1], s)];
        if (projSize[0] !== size[0] || projSize[1] !== size[1]) {
          throw new PruneError('INVALID_ARGUMENT', `residual block ${name}: the projection shortcut gives ${projSize.join('×')} but the body gives ${size.join('×')}`);
        }
        const projGroup = newGroup(channels, projName);
        layers.push({ name: projName, kind: 'conv', kernelSize: 1, strides: s, inChannels, outChannels: channels, inGroup, outGroup: projGroup, kernelShape: [1, 1, inChannels, channels], outputSize: projSize });
        union(projGroup, group);
      } else {
        throw new PruneError('INVALID_ARGUMENT', `residual block ${name}: shortcut must be 'identity' or 'projection', got ${JSON.stringify(block.shortcut)}`);
      }
    } else {
      addLayer(block as ConvBlock | DepthwiseBlock, name);
    }
  });
  const outGroup = newGroup(spec.classes, 'classifier');
  layers.push({ name: 'classifier', kind: 'dense', kernelSize: 1, strides: 1, inChannels: channels, outChannels: spec.classes, inGroup: group, outGroup, kernelShape: [channels, spec.classes], outputSize: [1, 1] });

  // Renumber union–find roots as dense group ids in order of first appearance.
  const idOf = new Map<number, number>();
  const groups: ChannelGroup[] = [];
  for (let g = 0; g < parent.length; g++) {
    const root = find(g);
    let id = idOf.get(root);
    if (id === undefined) {
      id = groups.length;
      idOf.set(root, id);
      groups.push({ id, width: widths[root], fixed: false, producers: [] });
    }
    groups[id].producers.push(...producers[g]);
  }
  for (const layer of layers) {
    layer.inGroup = idOf.get(find(layer.inGroup)) as number;
    layer.outGroup = idOf.get(find(layer.outGroup)) as number;
  }
  groups[layers[0].inGroup].fixed = true;
  groups[idOf.get(find(outGroup)) as number].fixed = true;
  return { layers, groups };
}

/**
 * Number of weights of a layer, P_l = k²·c_in·c_out for a convolution, k²·c for a depthwise
 * convolution, c_in·c_out for a dense layer (biases not included).
 */
export function weightCount(layer: Pick<WeightLayer, 'kernelShape'>): number {
  return layer.kernelShape.reduce((a, b) => a * b, 1);
}

/** Parameter and FLOP counts of a {@link ConvNetSpec} (see {@link countCost}). */
export interface ConvNetCost {
  /** Weights and biases. */
  parameters: number;
  /** Weights only (what pruning-at-initialization scores). */
  weights: number;
  /** Floating-point operations of one forward pass of one image, counting a multiply–add as 2. */
  flops: number;
}

/**
 * Counts parameters and forward FLOPs of one image (multiply–adds ×2, plus bias additions;
 * activations and pooling are not counted).
 *
 * @param spec - the architecture description
 * @returns parameters, weights and FLOPs
 */
export function countCost(spec: ConvNetSpec): ConvNetCost {
  const { layers } = layoutOf(spec);
  let parameters = 0;
  let weights = 0;
  let flops = 0;
  for (const layer of layers) {
    const w = weightCount(layer);
    const positions = layer.outputSize[0] * layer.outputSize[1];
    weights += w;
    parameters += w + layer.outChannels;
    flops += positions * (2 * w + layer.outChannels);
  }
  return { parameters, weights, flops };
}

/**
 * The same architecture with new channel widths: every convolution's `filters` becomes the
 * width of its output channel group. Coupled layers share a group, so residual additions stay
 * valid.
 *
 * @param spec - the full-width description
 * @param widths - one width per channel group of `layoutOf(spec)` (fixed groups must keep theirs)
 * @returns the narrower description
 * @throws PruneError `INVALID_ARGUMENT` when `widths` does not fit the groups
 */
export function withGroupWidths(spec: ConvNetSpec, widths: readonly number[]): ConvNetSpec {
  const { layers, groups } = layoutOf(spec);
  if (widths.length !== groups.length) {
    throw new PruneError('INVALID_ARGUMENT', `expected ${groups.length} group widths (one per channel group), got ${widths.length}`);
  }
  widths.forEach((w, g) => {
    positiveInt(w, `width of channel group ${g}`);
    if (groups[g].fixed && w !== groups[g].width) {
      throw new PruneError('INVALID_ARGUMENT', `channel group ${g} (${groups[g].producers.join(', ') || 'input'}) is fixed at ${groups[g].width} channels, got ${w}`);
    }
  });
  const filtersOf = new Map(layers.map((l) => [l.name, widths[l.outGroup]]));
  const narrowLayer = <T extends ConvBlock | DepthwiseBlock>(block: T, name: string): T =>
    block.kind === 'conv' ? { ...block, filters: filtersOf.get(name) as number } : { ...block };
  return {
    inputShape: [...spec.inputShape] as [number, number, number],
    classes: spec.classes,
    blocks: spec.blocks.map((block, i) =>
      block.kind === 'residual'
        ? { ...block, body: block.body.map((inner: ConvBlock | DepthwiseBlock, j: number) => narrowLayer(inner, `b${i}_${j}`)) }
        : narrowLayer(block, `b${i}`),
    ),
  };
}
