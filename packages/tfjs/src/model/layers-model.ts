import { PruneError } from '@prune/core';
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { type ConvPadding, conv1dPatches, conv2dPatches } from './im2col.js';
import type { KernelView } from './layout.js';
import { matrixShapeOf } from './layout.js';
import type { SkippedTfjsLayer, TfjsPrunableLayer } from './types.js';

/** A tfjs-layers layer, as the model lists it. */
export type TfjsLayer = LayersModel['layers'][number];

/** The part of a tfjs-layers `LayerVariable` this module uses. */
interface KernelVariable {
  readonly originalName: string;
  readonly shape: number[];
  read(): tf.Variable;
  write(value: tf.Tensor): unknown;
}

/** How each prunable tfjs-layers class is handled. */
interface LayerRule {
  readonly kind: TfjsPrunableLayer['kind'];
  readonly view: KernelView;
  /** Property of the layer that holds the kernel `LayerVariable`. */
  readonly property: string;
}

/**
 * The tfjs-layers classes the adapter prunes, with their matrix views. Conv1D is reported as
 * kind `conv2d` (a 1-D convolution is a 2-D one with a kernel height of 1).
 */
export const LAYER_RULES: Readonly<Record<string, LayerRule>> = {
  Dense: { kind: 'linear', view: 'inOut', property: 'kernel' },
  Conv1D: { kind: 'conv2d', view: 'inOut', property: 'kernel' },
  Conv2D: { kind: 'conv2d', view: 'inOut', property: 'kernel' },
  DepthwiseConv2D: { kind: 'depthwiseConv2d', view: 'depthwise', property: 'depthwiseKernel' },
};

/** Layer classes with weights that the adapter does not prune, and why. */
const UNSUPPORTED_REASONS: Readonly<Record<string, string>> = {
  SeparableConv2D: 'SeparableConv2D (a depthwise and a pointwise kernel in one layer) is not supported',
  Conv2DTranspose: 'transposed convolutions are not supported',
  Conv3D: '3-D convolutions are not supported',
  Embedding: 'embeddings are not pruned (like Wanda and SparseGPT, the adapter prunes linear and convolution layers only)',
  LSTM: 'recurrent layers are not supported',
  GRU: 'recurrent layers are not supported',
  SimpleRNN: 'recurrent layers are not supported',
  Bidirectional: 'recurrent layers are not supported',
  TimeDistributed: 'wrapper layers are not supported',
  BatchNormalization: 'normalization parameters are not pruned',
  LayerNormalization: 'normalization parameters are not pruned',
};

const CONTAINER_CLASSES = new Set(['Sequential', 'Model', 'Functional', 'LayersModel']);

/** The kernel `LayerVariable` of a prunable layer. */
export function kernelVariable(layer: TfjsLayer): KernelVariable {
  const rule = LAYER_RULES[layer.getClassName()];
  const variable = rule === undefined ? undefined : (layer as unknown as Record<string, KernelVariable | undefined>)[rule.property];
  if (variable === undefined || typeof variable.read !== 'function') {
    throw new PruneError('UNSUPPORTED', `layer ${JSON.stringify(layer.name)} (${layer.getClassName()}) has no kernel variable; is the model built?`);
  }
  return variable;
}

/** One layer call in execution order: which values it reads and which it produces. */
interface Step {
  readonly layer: TfjsLayer;
  readonly inputs: readonly number[];
  readonly outputs: readonly number[];
  readonly kwargs: Record<string, unknown>;
}

/** The part of a tfjs-layers graph node this module uses. */
interface GraphNode {
  readonly outboundLayer: TfjsLayer;
  readonly inputTensors: readonly { readonly id: number }[];
  readonly outputTensors: readonly { readonly id: number }[];
  readonly callArgs?: Record<string, unknown>;
}

/** A LayersModel flattened into layer calls, in an order that respects every dependency. */
export interface ExecutionPlan {
  /** Layer calls in execution order (input layers left out). */
  readonly steps: readonly Step[];
  /** Value ids of the model inputs. */
  readonly inputs: readonly number[];
  /** Value ids of the model outputs. */
  readonly outputs: readonly number[];
}

/**
 * Flattens a LayersModel into layer calls. A Sequential model is a chain; a functional
 * model follows its graph nodes deepest first (the order tfjs itself executes them in).
 */
export function executionPlan(model: LayersModel): ExecutionPlan {
  const isSequential = model.getClassName() === 'Sequential';
  if (isSequential) {
    const layers = model.layers.filter((l) => l.getClassName() !== 'InputLayer');
    const steps = layers.map((layer, i) => ({ layer, inputs: [i], outputs: [i + 1], kwargs: {} }));
    return { steps, inputs: [0], outputs: [layers.length] };
  }
  const byDepth = (model as unknown as { nodesByDepth: Record<string, GraphNode[]> }).nodesByDepth;
  const depths = Object.keys(byDepth)
    .map((d) => Number.parseInt(d, 10))
    .sort((a, b) => b - a);
  const steps: Step[] = [];
  for (const depth of depths) {
    for (const node of byDepth[depth]) {
      if (node.outboundLayer.getClassName() === 'InputLayer') continue;
      steps.push({
        layer: node.outboundLayer,
        inputs: node.inputTensors.map((t) => t.id),
        outputs: node.outputTensors.map((t) => t.id),
        kwargs: { ...(node.callArgs ?? {}) },
      });
    }
  }
  return { steps, inputs: model.inputs.map((t) => t.id), outputs: model.outputs.map((t) => t.id) };
}

/**
 * Names of the prunable layers that feed a model output through non-prunable layers only: the
 * classifier or output head.
 */
export function headLayers(plan: ExecutionPlan): Set<string> {
  const producer = new Map<number, Step>();
  for (const step of plan.steps) for (const id of step.outputs) producer.set(id, step);
  const heads = new Set<string>();
  const seen = new Set<number>();
  const stack = [...plan.outputs];
  while (stack.length > 0) {
    const id = stack.pop()!;
    if (seen.has(id)) continue;
    seen.add(id);
    const step = producer.get(id);
    if (step === undefined) continue;
    if (LAYER_RULES[step.layer.getClassName()] !== undefined) heads.add(step.layer.name);
    else stack.push(...step.inputs);
  }
  return heads;
}

/** Which layers to prune. */
export interface LayerSelection {
  /** Layer kinds to prune. */
  readonly kinds: ReadonlySet<TfjsPrunableLayer['kind']>;
  /** Keep only these names (a list) or matching names (a pattern). */
  readonly include?: RegExp | readonly string[];
  /** Leave out these names or matching names. */
  readonly exclude?: RegExp | readonly string[];
  /** Prune the output head too. */
  readonly includeHead: boolean;
}

const matches = (filter: RegExp | readonly string[], name: string): boolean =>
  filter instanceof RegExp ? new RegExp(filter.source, filter.flags.replace('g', '')).test(name) : filter.includes(name);

/** A candidate weight for selection: name, class, kind (undefined when unsupported), head flag. */
export interface Candidate {
  readonly name: string;
  readonly className: string;
  readonly kind: TfjsPrunableLayer['kind'] | undefined;
  readonly head: boolean;
  readonly unsupported?: string;
}

/**
 * Applies a {@link LayerSelection} to candidates. Names given in an `include` list must exist
 * and be prunable; otherwise the error lists what is wrong and which classes are supported.
 *
 * @returns the chosen names and the skipped ones with reasons
 */
export function selectCandidates(
  candidates: readonly Candidate[],
  selection: LayerSelection,
  supported: string,
): { chosen: Set<string>; skipped: SkippedTfjsLayer[] } {
  const include = selection.include;
  if (include !== undefined && !(include instanceof RegExp)) {
    const byName = new Map(candidates.map((c) => [c.name, c]));
    const missing = include.filter((n) => !byName.has(n));
    if (missing.length > 0) {
      throw new PruneError('NOT_FOUND', `include names ${missing.map((n) => JSON.stringify(n)).join(', ')}, which the model does not have; its weighted layers are ${candidates.map((c) => c.name).slice(0, 12).join(', ')}${candidates.length > 12 ? ', …' : ''}`);
    }
    const bad = include.map((n) => byName.get(n)!).filter((c) => c.kind === undefined);
    if (bad.length > 0) {
      throw new PruneError(
        'UNSUPPORTED',
        `cannot prune ${bad.map((c) => `${JSON.stringify(c.name)} (${c.className}: ${c.unsupported ?? 'not a prunable layer'})`).join('; ')}. Prunable are ${supported}; remove these names from include`,
      );
    }
  }
  const chosen = new Set<string>();
  const skipped: SkippedTfjsLayer[] = [];
  for (const c of candidates) {
    const named = include !== undefined && !(include instanceof RegExp);
    let reason: string | undefined;
    if (c.kind === undefined) reason = c.unsupported ?? 'not a prunable layer';
    else if (include !== undefined && !matches(include, c.name)) reason = 'not included';
    else if (selection.exclude !== undefined && matches(selection.exclude, c.name)) reason = 'excluded';
    else if (!named && !selection.kinds.has(c.kind)) reason = `kind ${c.kind} is not selected (kinds option)`;
    else if (!named && c.head && !selection.includeHead) reason = 'output head (includeHead: true prunes it)';
    if (reason === undefined) chosen.add(c.name);
    else skipped.push({ name: c.name, className: c.className, reason });
  }
  return { chosen, skipped };
}

/** The prunable layers of a LayersModel, in execution order, and the skipped weighted layers. */
export function discoverLayers(model: LayersModel, plan: ExecutionPlan, selection: LayerSelection): { layers: TfjsPrunableLayer[]; skipped: SkippedTfjsLayer[] } {
  const heads = headLayers(plan);
  const order = new Map<string, number>();
  plan.steps.forEach((s, i) => {
    if (!order.has(s.layer.name)) order.set(s.layer.name, i);
  });
  const candidates: Candidate[] = [];
  for (const layer of [...model.layers].sort((a, b) => (order.get(a.name) ?? -1) - (order.get(b.name) ?? -1))) {
    const className = layer.getClassName();
    const rule = LAYER_RULES[className];
    if (rule !== undefined) {
      candidates.push({ name: layer.name, className, kind: rule.kind, head: heads.has(layer.name) });
      continue;
    }
    if (layer.weights.length === 0) {
      // Listed only when asked for by name, so the error can say why.
      const named = Array.isArray(selection.include) && selection.include.includes(layer.name);
      if (named && className !== 'InputLayer') candidates.push({ name: layer.name, className, kind: undefined, head: false, unsupported: 'it has no weights' });
      continue;
    }
    const unsupported = CONTAINER_CLASSES.has(className)
      ? 'a nested model: its layers are not listed (prune the inner model on its own)'
      : (UNSUPPORTED_REASONS[className] ?? `${className} layers are not supported`);
    candidates.push({ name: layer.name, className, kind: undefined, head: false, unsupported });
  }
  const { chosen, skipped } = selectCandidates(candidates, selection, Object.keys(LAYER_RULES).join(', '));
  const layers: TfjsPrunableLayer[] = [];
  for (const layer of model.layers) {
    if (!chosen.has(layer.name)) continue;
    const rule = LAYER_RULES[layer.getClassName()];
    const variable = kernelVariable(layer);
    const kernelShape = [...variable.shape];
    layers.push({
      name: layer.name,
      shape: matrixShapeOf(kernelShape, rule.view),
      kind: rule.kind,
      className: layer.getClassName(),
      weight: variable.originalName,
      kernelShape,
      view: rule.view,
      head: heads.has(layer.name),
    });
  }
  layers.sort((a, b) => (order.get(a.name) ?? 0) - (order.get(b.name) ?? 0));
  return { layers, skipped };
}

/** Reads a layer config field that tfjs writes as a number or a list. */
function pair(value: unknown, fallback: number): [number, number] {
  if (Array.isArray(value)) return [Number(value[0]), Number(value[value.length > 1 ? 1 : 0])];
  if (typeof value === 'number') return [value, value];
  return [fallback, fallback];
}

/**
 * A prunable layer's input viewed as `[tokens, d_in]`, matching the columns of its matrix
 * view: a Dense input flattened over all leading axes; a Conv1D/Conv2D input as im2col
 * patches.
 *
 * @param layer - a Dense, Conv1D or Conv2D layer
 * @param input - its input tensor
 * @returns a new tfjs tensor `[tokens, d_in]`
 */
export function layerInputMatrix(layer: TfjsLayer, input: tf.Tensor): tf.Tensor2D {
  const className = layer.getClassName();
  const config = layer.getConfig() as Record<string, unknown>;
  return tf.tidy(() => {
    if (className === 'Dense') return tf.reshape(input, [-1, input.shape[input.rank - 1]]) as tf.Tensor2D;
    const channelsFirst = config.dataFormat === 'channelsFirst';
    const padding = String(config.padding ?? 'valid') as ConvPadding;
    if (className === 'Conv2D') {
      const x = channelsFirst ? tf.transpose(input, [0, 2, 3, 1]) : input;
      return conv2dPatches(x, {
        kernelSize: pair(config.kernelSize, 1),
        strides: pair(config.strides, 1),
        dilation: pair(config.dilationRate, 1),
        padding,
      });
    }
    if (className === 'Conv1D') {
      const x = channelsFirst ? tf.transpose(input, [0, 2, 1]) : input;
      return conv1dPatches(x, pair(config.kernelSize, 1)[0], pair(config.strides, 1)[0], pair(config.dilationRate, 1)[0], padding);
    }
    throw new PruneError(
      'UNSUPPORTED',
      `layer ${JSON.stringify(layer.name)} (${className}) cannot be observed: a depthwise convolution's rows see different input channels, so no single [tokens, d_in] input exists; prune it with a data-free method (magnitude) or leave it out (kinds)`,
    );
  });
}
