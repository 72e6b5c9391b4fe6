import { PruneError } from '@prune/core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { repeatLabels, tileLabels } from './labels.js';

/** A layer of a tfjs LayersModel. */
export type TfjsLayer = LayersModel['layers'][number];

/**
 * How a weight axis relates to channels: `'out'` a producer's filters (conv/dense output
 * channels), `'channel'` a per-channel parameter that follows its input (BN, depthwise conv),
 * `'in'` a consumer's input channels.
 */
export type ChannelRole = 'out' | 'channel' | 'in';

/** One axis of one layer weight, indexed by channel labels. */
export interface WeightBinding {
  /** Layer name. */
  readonly layer: string;
  /** Index into `layer.weights`. */
  readonly weight: number;
  /** The weight's short name: `kernel`, `bias`, `gamma`, `depthwise_kernel`, … */
  readonly kind: string;
  /** The axis that is indexed by channels. */
  readonly axis: number;
  /** Channel atom of each position along `axis`. */
  readonly labels: Int32Array;
  /** How the axis relates to the channel. */
  readonly role: ChannelRole;
}

/** What a {@link ChannelLayerRule} can see and do while the graph is built. */
export interface ChannelRuleContext {
  /** The layer. */
  readonly layer: TfjsLayer;
  /** `layer.getConfig()` (camelCase keys). */
  readonly config: Readonly<Record<string, unknown>>;
  /** Channel labels of each input tensor's last axis. */
  readonly inputs: readonly Int32Array[];
  /** Shapes of the input tensors (batch dimension `null`). */
  readonly inputShapes: readonly (readonly (number | null)[])[];
  /** Shape of the output tensor. */
  readonly outputShape: readonly (number | null)[];
  /** New channels created by this layer (a producer's filters or units). */
  produce(count: number): Int32Array;
  /** New channels that may never be removed (the output of a channel-mixing layer). */
  fixedChannels(count: number): Int32Array;
  /** Couples two equally long label lists position by position. */
  couple(a: Int32Array, b: Int32Array): void;
  /** Marks channels as never removable. */
  fix(labels: Int32Array): void;
  /** Declares that axis `axis` of the weight named `kind` is indexed by `labels`; a missing optional weight (e.g. no bias) is skipped. */
  bind(kind: string, axis: number, labels: Int32Array, role: ChannelRole): void;
  /** Records that this layer keeps some channels intact, and why (listed in the graph's `blocked`). */
  block(reason: string): void;
  /** Stops: this layer cannot be pruned through, for `reason`. */
  unsupported(reason: string): never;
}

/**
 * How one layer type carries channels: which output channels it creates or passes on, which
 * weight axes they index, and how its config changes when its output narrows. A new layer type
 * is one entry of {@link CHANNEL_LAYER_RULES}.
 */
export interface ChannelLayerRule {
  /** Returns the labels of the layer's output's last axis. */
  propagate(ctx: ChannelRuleContext): Int32Array;
  /**
   * Rewrites the layer's saved config (snake_case keys, as in model.json) for an output whose
   * last axis keeps `kept` of its `total` positions.
   */
  resize?(config: Record<string, unknown>, kept: number, total: number): void;
}

/** A tfjs-internal rejection of one layer; the graph builder turns it into an error or a kept layer. */
export class UnsupportedLayer extends Error {}

const lastDim = (shape: readonly (number | null)[]): number | null => shape[shape.length - 1] ?? null;

function requireChannelsLast(ctx: ChannelRuleContext): void {
  const format = ctx.config.dataFormat;
  if (format !== undefined && format !== 'channelsLast' && format !== 'channels_last') {
    ctx.unsupported(`data format ${String(format)}; only channels-last layers are pruned (convert the model to channels-last)`);
  }
}

function single(ctx: ChannelRuleContext): Int32Array {
  if (ctx.inputs.length !== 1) ctx.unsupported(`expected one input, got ${ctx.inputs.length}`);
  return ctx.inputs[0];
}

/** Producer channels, fixed when the activation mixes them (softmax). */
function producerOutputs(ctx: ChannelRuleContext, count: number): Int32Array {
  if (ctx.config.activation !== 'softmax') return ctx.produce(count);
  ctx.block('its softmax activation mixes its output channels; they are kept');
  return ctx.fixedChannels(count);
}

const convolution: ChannelLayerRule = {
  propagate(ctx) {
    requireChannelsLast(ctx);
    const input = single(ctx);
    const filters = ctx.config.filters as number;
    const rank = (ctx.layer.weights[0]?.shape.length ?? 0) as number;
    const out = producerOutputs(ctx, filters);
    ctx.bind('kernel', rank - 2, input, 'in');
    ctx.bind('kernel', rank - 1, out, 'out');
    ctx.bind('bias', 0, out, 'out');
    return out;
  },
  resize(config, kept) {
    config.filters = kept;
  },
};

const dense: ChannelLayerRule = {
  propagate(ctx) {
    const input = single(ctx);
    const out = producerOutputs(ctx, ctx.config.units as number);
    ctx.bind('kernel', 0, input, 'in');
    ctx.bind('kernel', 1, out, 'out');
    ctx.bind('bias', 0, out, 'out');
    return out;
  },
  resize(config, kept) {
    config.units = kept;
  },
};

/** Depth multiplier m of a depthwise kernel `[…, in, m]` (read from the weight: configs differ). */
function multiplierOf(ctx: ChannelRuleContext): number {
  const kernel = ctx.layer.weights.find((w) => weightKind(w.originalName ?? w.name) === 'depthwise_kernel');
  if (kernel === undefined) ctx.unsupported('it has no depthwise_kernel weight');
  return kernel.shape[kernel.shape.length - 1] as number;
}

const depthwise: ChannelLayerRule = {
  propagate(ctx) {
    requireChannelsLast(ctx);
    const input = single(ctx);
    const m = multiplierOf(ctx);
    // Output channel c·m + j is input channel c filtered by its j-th kernel: same channel.
    const out = repeatLabels(input, m);
    if (ctx.config.activation === 'softmax') {
      ctx.block('its softmax activation mixes channels; the channels it reads are kept');
      ctx.fix(out);
    }
    const rank = ctx.layer.weights[0].shape.length;
    ctx.bind('depthwise_kernel', rank - 2, input, 'channel');
    ctx.bind('bias', 0, out, 'channel');
    return out;
  },
};

const separable: ChannelLayerRule = {
  propagate(ctx) {
    requireChannelsLast(ctx);
    const input = single(ctx);
    const m = multiplierOf(ctx);
    const out = producerOutputs(ctx, ctx.config.filters as number);
    const rank = ctx.layer.weights[0].shape.length;
    ctx.bind('depthwise_kernel', rank - 2, input, 'in');
    ctx.bind('pointwise_kernel', rank - 2, repeatLabels(input, m), 'in');
    ctx.bind('pointwise_kernel', rank - 1, out, 'out');
    ctx.bind('bias', 0, out, 'out');
    return out;
  },
  resize(config, kept) {
    config.filters = kept;
  },
};

const batchNormalization: ChannelLayerRule = {
  propagate(ctx) {
    const input = single(ctx);
    const rank = ctx.inputShapes[0].length;
    const axis = ctx.config.axis as number | number[];
    const a = Array.isArray(axis) ? (axis.length === 1 ? axis[0] : NaN) : axis;
    if (a !== -1 && a !== rank - 1) ctx.unsupported(`normalises axis ${JSON.stringify(axis)}; only the channel (last) axis is pruned`);
    for (const kind of ['gamma', 'beta', 'moving_mean', 'moving_variance']) ctx.bind(kind, 0, input, 'channel');
    return input;
  },
};

const prelu: ChannelLayerRule = {
  propagate(ctx) {
    const input = single(ctx);
    const alpha = ctx.layer.weights[0];
    if (alpha !== undefined && alpha.shape[alpha.shape.length - 1] === input.length && input.length > 1) ctx.bind('alpha', alpha.shape.length - 1, input, 'channel');
    return input;
  },
};

/** Element-wise layers and layers that move positions but never mix channels. */
const passThrough: ChannelLayerRule = {
  propagate(ctx) {
    requireChannelsLast(ctx);
    return single(ctx);
  },
};

/** Layers whose output channel depends on all input channels without weights to slice. */
const channelMixing: ChannelLayerRule = {
  propagate(ctx) {
    ctx.block('mixes channels without weights to slice; the channels it reads are kept');
    for (const input of ctx.inputs) ctx.fix(input);
    return ctx.fixedChannels(lastDim(ctx.outputShape) ?? 0);
  },
};

const activation: ChannelLayerRule = {
  propagate(ctx) {
    return ctx.config.activation === 'softmax' ? channelMixing.propagate(ctx) : passThrough.propagate(ctx);
  },
};

const softmaxLayer: ChannelLayerRule = {
  propagate(ctx) {
    const axis = ctx.config.axis as number | number[] | undefined;
    const rank = ctx.outputShape.length;
    const axes = axis === undefined ? [-1] : Array.isArray(axis) ? axis : [axis];
    return axes.some((a) => a === -1 || a === rank - 1) ? channelMixing.propagate(ctx) : passThrough.propagate(ctx);
  },
};

function spatialSize(shape: readonly (number | null)[], ctx: ChannelRuleContext): number {
  let n = 1;
  for (let i = 1; i < shape.length - 1; i++) {
    const d = shape[i];
    if (d === null) ctx.unsupported('its input has an unknown spatial size; give the model a fixed input shape');
    n *= d;
  }
  return n;
}

const flatten: ChannelLayerRule = {
  propagate(ctx) {
    requireChannelsLast(ctx);
    const input = single(ctx);
    // Channels-last: flattened position (…, c) carries channel c, so channel c owns H·W positions.
    return tileLabels(input, spatialSize(ctx.inputShapes[0], ctx));
  },
};

const reshape: ChannelLayerRule = {
  propagate(ctx) {
    const input = single(ctx);
    const target = ctx.config.targetShape as number[];
    const c = input.length;
    if (target.length === 1) return tileLabels(input, spatialSize(ctx.inputShapes[0], ctx));
    if (target[target.length - 1] === c) return input;
    return ctx.unsupported(`target shape [${target.join(', ')}] moves channels (only a channel-preserving reshape — same last axis, or a flatten — is pruned)`);
  },
  resize(config, kept, total) {
    const target = config.target_shape as number[];
    if (target.length === 1 || target[target.length - 1] === total) {
      config.target_shape = [...target.slice(0, -1), kept];
    }
  },
};

/** Element-wise merges: positions of all inputs become one channel. */
const elementwise: ChannelLayerRule = {
  propagate(ctx) {
    const width = Math.max(...ctx.inputs.map((l) => l.length));
    const full = ctx.inputs.filter((l) => l.length === width);
    for (const labels of ctx.inputs) {
      // A broadcast input (one channel against many) is kept whole; the others are coupled.
      if (labels.length !== width) {
        if (labels.length !== 1) ctx.unsupported(`inputs of ${ctx.inputs.map((l) => l.length).join(' and ')} channels cannot be matched`);
        ctx.fix(labels);
      }
    }
    for (let i = 1; i < full.length; i++) ctx.couple(full[0], full[i]);
    return full[0];
  },
};

const concatenate: ChannelLayerRule = {
  propagate(ctx) {
    const rank = ctx.outputShape.length;
    const axis = (ctx.config.axis as number | undefined) ?? -1;
    if (axis === -1 || axis === rank - 1) {
      // Channel offsets: the output's channels are the inputs' channels one after another.
      const out = new Int32Array(ctx.inputs.reduce((a, l) => a + l.length, 0));
      let at = 0;
      for (const labels of ctx.inputs) {
        out.set(labels, at);
        at += labels.length;
      }
      return out;
    }
    return elementwise.propagate(ctx);
  },
};

const embedding: ChannelLayerRule = {
  propagate(ctx) {
    for (const input of ctx.inputs) ctx.fix(input);
    const out = ctx.produce(ctx.config.outputDim as number);
    ctx.bind('embeddings', 1, out, 'out');
    return out;
  },
  resize(config, kept) {
    config.output_dim = kept;
  },
};

/**
 * The layer types channel pruning understands, by tfjs class name. Producers (Conv, Dense,
 * SeparableConv, Embedding) create channels; per-channel layers (BatchNormalization, PReLU,
 * DepthwiseConv2D) and position-moving layers pass them on; Add/Multiply/… couple their inputs;
 * Concatenate joins them at offsets; Flatten maps channel c to its H·W positions; Softmax and
 * LayerNormalization mix channels, so the channels they read are kept.
 */
export const CHANNEL_LAYER_RULES: Readonly<Record<string, ChannelLayerRule>> = {
  Conv1D: convolution,
  Conv2D: convolution,
  Conv3D: convolution,
  Dense: dense,
  DepthwiseConv2D: depthwise,
  SeparableConv1D: separable,
  SeparableConv2D: separable,
  Embedding: embedding,
  BatchNormalization: batchNormalization,
  PReLU: prelu,
  Activation: activation,
  ReLU: passThrough,
  LeakyReLU: passThrough,
  ELU: passThrough,
  ThresholdedReLU: passThrough,
  Dropout: passThrough,
  SpatialDropout1D: passThrough,
  SpatialDropout2D: passThrough,
  GaussianNoise: passThrough,
  GaussianDropout: passThrough,
  AlphaDropout: passThrough,
  MaxPooling1D: passThrough,
  MaxPooling2D: passThrough,
  MaxPooling3D: passThrough,
  AveragePooling1D: passThrough,
  AveragePooling2D: passThrough,
  AveragePooling3D: passThrough,
  GlobalAveragePooling1D: passThrough,
  GlobalAveragePooling2D: passThrough,
  GlobalMaxPooling1D: passThrough,
  GlobalMaxPooling2D: passThrough,
  ZeroPadding1D: passThrough,
  ZeroPadding2D: passThrough,
  Cropping1D: passThrough,
  Cropping2D: passThrough,
  UpSampling1D: passThrough,
  UpSampling2D: passThrough,
  Flatten: flatten,
  Reshape: reshape,
  Add: elementwise,
  Subtract: elementwise,
  Multiply: elementwise,
  Average: elementwise,
  Maximum: elementwise,
  Minimum: elementwise,
  Concatenate: concatenate,
  Softmax: softmaxLayer,
  LayerNormalization: channelMixing,
};

/** The short name of a layer weight (`conv/kernel` → `kernel`). */
export function weightKind(name: string): string {
  const last = name.slice(name.lastIndexOf('/') + 1);
  return last.replace(/_\d+$/, '');
}

/**
 * The rule for `className`, from `extra` first, then {@link CHANNEL_LAYER_RULES}.
 * @throws PruneError `INVALID_ARGUMENT` when `extra` holds something that is not a rule
 */
export function ruleFor(className: string, extra: Readonly<Record<string, ChannelLayerRule>> | undefined): ChannelLayerRule | undefined {
  const rule = extra?.[className] ?? CHANNEL_LAYER_RULES[className];
  if (rule !== undefined && typeof rule.propagate !== 'function') {
    throw new PruneError('INVALID_ARGUMENT', `the channel rule for ${className} has no propagate() function`);
  }
  return rule;
}
