import { PruneError } from '@prune/core';
import type { LayersModel, SymbolicTensor } from '@tensorflow/tfjs-layers';
import { AtomSets } from './labels.js';
import { type ChannelLayerRule, type ChannelRuleContext, type TfjsLayer, UnsupportedLayer, type WeightBinding, ruleFor, weightKind } from './rules.js';

/** What to do with a layer channel pruning cannot go through. */
export type UnsupportedLayerPolicy = 'error' | 'keep';

/** Options of {@link buildChannelGraph}. */
export interface ChannelGraphOptions {
  /**
   * `'error'`: a layer type without a rule (or a configuration a rule rejects) throws a
   * `PruneError` naming it. `'keep'`: that layer is left intact — every channel it reads or
   * writes is kept — and listed in {@link ChannelGraph.blocked}.
   * @defaultValue `'error'`
   */
  unsupported?: UnsupportedLayerPolicy;
  /**
   * Extra or replacement layer rules, by tfjs class name (see `CHANNEL_LAYER_RULES`).
   * @defaultValue none
   */
  rules?: Readonly<Record<string, ChannelLayerRule>>;
}

/**
 * A dependency group: the output channels of one or more producer layers that must be removed
 * together (residual partners joined by Add/Multiply share one group), with every tensor they
 * reach — BN, depthwise chains, consumers' input channels, concat offsets, flattened positions.
 * Channel `u` of the group is one unit of pruning.
 */
export interface DependencyGroup {
  /** Index in {@link ChannelGraph.groups}. */
  readonly id: number;
  /** Layers that create these channels (conv/dense filters). */
  readonly producers: readonly string[];
  /** Every layer with a weight that is sliced when a channel of this group goes. */
  readonly layers: readonly string[];
  /** Number of removable channels. */
  readonly size: number;
  /** Channels of these producers that must stay (coupled to the model's input or output, or to a kept layer). */
  readonly fixed: number;
}

/** A layer that keeps channels intact, and why. */
export interface BlockedLayer {
  /** Layer name. */
  readonly layer: string;
  /** tfjs class name. */
  readonly className: string;
  /** Why its channels are kept. */
  readonly reason: string;
}

/** The channel dependency graph of a tfjs LayersModel, from {@link buildChannelGraph}. */
export interface ChannelGraph {
  /** The model it describes. */
  readonly model: LayersModel;
  /** Dependency groups, in the order their first producer appears in the model. */
  readonly groups: readonly DependencyGroup[];
  /** Every channel-indexed weight axis. */
  readonly bindings: readonly WeightBinding[];
  /** Layers kept intact under `unsupported: 'keep'`, and channel-mixing layers (softmax, layer norm) whose inputs are kept. */
  readonly blocked: readonly BlockedLayer[];
  /** Output channel labels of every layer (last axis). */
  readonly outputs: ReadonlyMap<string, Int32Array>;
  /** Layer rules used, by layer name (for config rewriting). */
  readonly rules: ReadonlyMap<string, ChannelLayerRule>;
  /** The group and channel of a channel atom, or `undefined` when it is fixed. */
  unitOf(atom: number): { group: number; unit: number } | undefined;
}

interface NodeLike {
  inputTensors: SymbolicTensor[];
  outputTensors: SymbolicTensor[];
}

/** The inbound nodes of `layer` that belong to `model` (a layer can also be used by other models). */
function nodesIn(model: LayersModel, layer: TfjsLayer): NodeLike[] {
  const all = (layer as unknown as { inboundNodes: NodeLike[] }).inboundNodes;
  const keys = (model as unknown as { containerNodes?: Set<string> }).containerNodes;
  if (keys === undefined || keys.size === 0) return all;
  return all.filter((_, i) => keys.has(`${layer.name}_ib-${i}`));
}

/** The functional graph under a Sequential model, whose layers carry the inbound nodes. */
function graphModel(model: LayersModel): LayersModel {
  const inner = (model as unknown as { model?: LayersModel }).model;
  return model.getClassName() === 'Sequential' && inner !== undefined ? inner : model;
}

/**
 * Builds the channel dependency graph of a tfjs LayersModel (Sequential or functional) from
 * its layer graph: every layer's rule propagates channel labels from its inputs to its output,
 * couples element-wise partners and records which weight axes each channel indexes. The
 * model's inputs and outputs are never pruned.
 *
 * @param model - a built tfjs LayersModel
 * @param options - unsupported-layer policy and extra layer rules
 * @returns the graph and its dependency groups
 * @throws PruneError `UNSUPPORTED` naming the layer (and why) for a layer it cannot handle
 *   under `unsupported: 'error'`; `INVALID_ARGUMENT` for a model that is not a LayersModel
 */
export function buildChannelGraph(model: LayersModel, options: ChannelGraphOptions = {}): ChannelGraph {
  if (model === null || typeof model !== 'object' || !Array.isArray((model as { layers?: unknown }).layers) || !Array.isArray(model.inputs)) {
    throw new PruneError('INVALID_ARGUMENT', 'buildChannelGraph: expected a built tfjs LayersModel (tf.sequential / tf.model / tf.loadLayersModel)');
  }
  const policy = options.unsupported ?? 'error';
  if (policy !== 'error' && policy !== 'keep') throw new PruneError('INVALID_ARGUMENT', `buildChannelGraph: unsupported must be 'error' or 'keep', got ${JSON.stringify(policy)}`);
  const graph = graphModel(model);
  const atoms = new AtomSets();
  const labelsOf = new Map<number, Int32Array>();
  const bindings: WeightBinding[] = [];
  const blocked: BlockedLayer[] = [];
  const outputs = new Map<string, Int32Array>();
  const rules = new Map<string, ChannelLayerRule>();

  for (const input of graph.inputs) {
    const width = input.shape[input.shape.length - 1];
    labelsOf.set(input.id, atoms.create(width ?? 0, undefined, true));
  }

  for (const layer of graph.layers) {
    const className = layer.getClassName();
    if (className === 'InputLayer') continue;
    const nodes = nodesIn(graph, layer);
    if (nodes.length === 0) continue;
    const node = nodes[0];
    const inputs = node.inputTensors.map((t) => {
      const labels = labelsOf.get(t.id);
      if (labels === undefined) throw new PruneError('UNSUPPORTED', `layer ${layer.name} reads a tensor the graph walk has not reached; the model's layer order is not topological`);
      return labels;
    });
    const outputShape = node.outputTensors[0]?.shape ?? [];
    const width = outputShape[outputShape.length - 1] ?? 0;
    const pending: WeightBinding[] = [];
    const notes: string[] = [];
    const ctx: ChannelRuleContext = {
      layer,
      config: layer.getConfig() as Record<string, unknown>,
      inputs,
      inputShapes: node.inputTensors.map((t) => t.shape),
      outputShape,
      produce: (count) => atoms.create(count, layer.name, false),
      fixedChannels: (count) => atoms.create(count, layer.name, true),
      couple(a, b) {
        if (a.length !== b.length) ctx.unsupported(`couples ${a.length} channels with ${b.length}`);
        for (let i = 0; i < a.length; i++) atoms.union(a[i], b[i]);
      },
      fix: (labels) => atoms.fix(labels),
      bind(kind, axis, labels, role) {
        const index = layer.weights.findIndex((w) => weightKind(w.originalName ?? w.name) === kind);
        if (index < 0) return;
        const size = layer.weights[index].shape[axis];
        if (size !== labels.length) ctx.unsupported(`weight ${kind} has ${String(size)} positions on axis ${axis} but ${labels.length} channels reach it`);
        pending.push({ layer: layer.name, weight: index, kind, axis, labels, role });
      },
      block(reason) {
        notes.push(reason);
      },
      unsupported(reason) {
        throw new UnsupportedLayer(reason);
      },
    };
    let out: Int32Array;
    try {
      const rule = ruleFor(className, options.rules);
      if (rule === undefined) throw new UnsupportedLayer(`no channel rule for ${className} layers`);
      if (nodes.length > 1) throw new UnsupportedLayer(`it is called ${nodes.length} times (a shared layer); channels of shared layers are not pruned`);
      if (node.outputTensors.length !== 1) throw new UnsupportedLayer(`it has ${node.outputTensors.length} outputs`);
      out = rule.propagate(ctx);
      if (out.length !== width) throw new UnsupportedLayer(`its rule gave ${out.length} channel labels for an output of ${width} channels`);
      bindings.push(...pending);
      rules.set(layer.name, rule);
      for (const reason of notes) blocked.push({ layer: layer.name, className, reason });
    } catch (error) {
      if (!(error instanceof UnsupportedLayer)) throw error;
      const why = `layer ${layer.name} (${className}) blocks channel pruning: ${error.message}`;
      if (policy === 'error') {
        throw new PruneError('UNSUPPORTED', `${why}. Pass unsupported: 'keep' to keep the channels it touches intact, or add a rule for ${className}`);
      }
      for (const labels of inputs) atoms.fix(labels);
      out = atoms.create(width, layer.name, true);
      blocked.push({ layer: layer.name, className, reason: error.message });
    }
    outputs.set(layer.name, out);
    labelsOf.set(node.outputTensors[0].id, out);
  }
  for (const output of graph.outputs) {
    const labels = labelsOf.get(output.id);
    if (labels !== undefined) atoms.fix(labels);
  }
  return groupChannels(model, atoms, bindings, blocked, outputs, rules);
}

/** Forms dependency groups: producers whose channels are coupled are joined; one unit per non-fixed channel class. */
function groupChannels(
  model: LayersModel,
  atoms: AtomSets,
  bindings: WeightBinding[],
  blocked: BlockedLayer[],
  outputs: Map<string, Int32Array>,
  rules: Map<string, ChannelLayerRule>,
): ChannelGraph {
  // Union-find over producers, keyed by the first atom's class they reach.
  const producerOfClass = new Map<number, string>();
  const parent = new Map<string, string>();
  const findP = (p: string): string => {
    let r = p;
    while (parent.get(r) !== r) r = parent.get(r)!;
    parent.set(p, r);
    return r;
  };
  const order: string[] = [];
  for (let a = 0; a < atoms.size; a++) {
    const owner = atoms.owner[a];
    if (owner === undefined) continue;
    if (!parent.has(owner)) {
      parent.set(owner, owner);
      order.push(owner);
    }
    const root = atoms.find(a);
    const seen = producerOfClass.get(root);
    if (seen === undefined) producerOfClass.set(root, owner);
    else {
      const x = findP(seen);
      const y = findP(owner);
      if (x !== y) parent.set(order.indexOf(x) < order.indexOf(y) ? y : x, order.indexOf(x) < order.indexOf(y) ? x : y);
    }
  }
  const groupOfRoot = new Map<string, number>();
  const unitOfClass = new Map<number, { group: number; unit: number }>();
  const drafts: { producers: string[]; size: number; fixed: Set<number>; layers: Set<string> }[] = [];
  for (let a = 0; a < atoms.size; a++) {
    const owner = atoms.owner[a];
    if (owner === undefined) continue;
    const top = findP(owner);
    let g = groupOfRoot.get(top);
    if (g === undefined) {
      g = drafts.length;
      groupOfRoot.set(top, g);
      drafts.push({ producers: [], size: 0, fixed: new Set(), layers: new Set() });
    }
    const draft = drafts[g];
    if (!draft.producers.includes(owner)) draft.producers.push(owner);
    const root = atoms.find(a);
    if (atoms.isFixed(a)) {
      draft.fixed.add(root);
      continue;
    }
    if (!unitOfClass.has(root)) unitOfClass.set(root, { group: g, unit: draft.size++ });
  }
  for (const b of bindings) {
    for (const atom of b.labels) {
      const unit = atoms.isFixed(atom) ? undefined : unitOfClass.get(atoms.find(atom));
      if (unit !== undefined) drafts[unit.group].layers.add(b.layer);
    }
  }
  // Only groups with something to remove, renumbered densely.
  const keep = drafts.map((d) => d.size > 0);
  const renumber = new Int32Array(drafts.length).fill(-1);
  const groups: DependencyGroup[] = [];
  drafts.forEach((d, g) => {
    if (!keep[g]) return;
    renumber[g] = groups.length;
    groups.push({ id: groups.length, producers: d.producers, layers: [...d.layers], size: d.size, fixed: d.fixed.size });
  });
  return {
    model,
    groups,
    bindings,
    blocked,
    outputs,
    rules,
    unitOf(atom) {
      if (atoms.isFixed(atom)) return undefined;
      const u = unitOfClass.get(atoms.find(atom));
      return u === undefined ? undefined : { group: renumber[u.group], unit: u.unit };
    },
  };
}
