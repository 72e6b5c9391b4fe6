import { PruneError } from '@prune/core';
import type { TfjsStoredWeight } from './artifacts.js';
import { type KernelView, matrixShapeOf } from './layout.js';
import { type Candidate, type LayerSelection, selectCandidates } from './layers-model.js';
import type { SkippedTfjsLayer, TfjsPrunableLayer } from './types.js';

/** A node of a GraphModel's `modelTopology.node` list. */
interface GraphDefNode {
  readonly name: string;
  readonly op: string;
  readonly input?: readonly string[];
  readonly attr?: Readonly<Record<string, { readonly b?: boolean } | undefined>>;
}

/** Ops whose second input is a weight matrix or filter, with its kind and matrix view. */
const GRAPH_OPS: Readonly<Record<string, { kind: TfjsPrunableLayer['kind']; view: KernelView; rank: number; transposeAttr?: string }>> = {
  MatMul: { kind: 'linear', view: 'inOut', rank: 2, transposeAttr: 'transpose_b' },
  _FusedMatMul: { kind: 'linear', view: 'inOut', rank: 2, transposeAttr: 'transpose_b' },
  BatchMatMul: { kind: 'linear', view: 'inOut', rank: 2, transposeAttr: 'adj_y' },
  BatchMatMulV2: { kind: 'linear', view: 'inOut', rank: 2, transposeAttr: 'adj_y' },
  Conv1D: { kind: 'conv2d', view: 'inOut', rank: 3 },
  Conv2D: { kind: 'conv2d', view: 'inOut', rank: 4 },
  _FusedConv2D: { kind: 'conv2d', view: 'inOut', rank: 4 },
  FusedConv2D: { kind: 'conv2d', view: 'inOut', rank: 4 },
  DepthwiseConv2d: { kind: 'depthwiseConv2d', view: 'depthwise', rank: 4 },
  DepthwiseConv2dNative: { kind: 'depthwiseConv2d', view: 'depthwise', rank: 4 },
  FusedDepthwiseConv2dNative: { kind: 'depthwiseConv2d', view: 'depthwise', rank: 4 },
};

/** Ops the graph adapter prunes the weight input of. */
export const GRAPH_PRUNABLE_OPS: readonly string[] = Object.keys(GRAPH_OPS);

/** A node name from an input reference: `name`, `name:1` or `^name` (control). */
function inputNode(ref: string): string | undefined {
  if (ref.startsWith('^')) return undefined;
  const colon = ref.lastIndexOf(':');
  return colon > 0 && /^\d+$/.test(ref.slice(colon + 1)) ? ref.slice(0, colon) : ref;
}

/**
 * The prunable weights of a GraphModel: float32 Const inputs (directly or through Identity
 * nodes) of the ops in {@link GRAPH_PRUNABLE_OPS}, one layer per weight named after its Const
 * node, in the order the graph first uses them. A weight counts as the output head when an
 * output is reached from its op through non-prunable ops only.
 *
 * @param topology - the model.json `modelTopology`
 * @param weights - the stored weights
 * @param selection - which layers to prune
 * @param file - where the model came from, for messages
 * @returns the layers and the skipped weights with reasons
 */
export function discoverGraphLayers(
  topology: Readonly<Record<string, unknown>>,
  weights: readonly TfjsStoredWeight[],
  selection: LayerSelection,
  file: string,
): { layers: TfjsPrunableLayer[]; skipped: SkippedTfjsLayer[] } {
  const nodes = topology.node;
  if (!Array.isArray(nodes) || !nodes.every((n) => n !== null && typeof n === 'object' && typeof n.name === 'string' && typeof n.op === 'string')) {
    throw new PruneError('CORRUPT_FILE', `${file}: modelTopology.node must be a list of nodes with a name and an op`);
  }
  const graph = nodes as GraphDefNode[];
  const byName = new Map(graph.map((n) => [n.name, n]));
  const weightByName = new Map(weights.map((w) => [w.spec.name, w]));

  // The Const a value reference comes from, looking through Identity nodes.
  const constOf = (ref: string): string | undefined => {
    let name = inputNode(ref);
    for (let hops = 0; name !== undefined && hops < 64; hops++) {
      const node = byName.get(name);
      if (node === undefined || node.op === 'Const') return name;
      if (node.op !== 'Identity' || node.input === undefined || node.input.length === 0) return undefined;
      name = inputNode(node.input[0]);
    }
    return undefined;
  };

  const uses = new Map<string, { op: GraphDefNode; view: KernelView; kind: TfjsPrunableLayer['kind'] }>();
  const conflicts = new Set<string>();
  const weightOps = new Set<string>();
  for (const node of graph) {
    const rule = GRAPH_OPS[node.op];
    if (rule === undefined || node.input === undefined || node.input.length < 2) continue;
    const name = constOf(node.input[1]);
    const weight = name === undefined ? undefined : weightByName.get(name);
    if (weight === undefined || weight.spec.dtype !== 'float32' || weight.spec.shape.length !== rule.rank) continue;
    const view: KernelView = rule.transposeAttr !== undefined && node.attr?.[rule.transposeAttr]?.b === true ? 'outIn' : rule.view;
    weightOps.add(node.name);
    const previous = uses.get(name!);
    if (previous === undefined) uses.set(name!, { op: node, view, kind: rule.kind });
    else if (previous.view !== view || previous.kind !== rule.kind) conflicts.add(name!);
  }

  // Heads: walk back from the graph's sinks through non-prunable ops.
  const consumed = new Set<string>();
  for (const node of graph) for (const ref of node.input ?? []) {
    const n = inputNode(ref);
    if (n !== undefined) consumed.add(n);
  }
  const headOps = new Set<string>();
  const seen = new Set<string>();
  const stack = graph.filter((n) => !consumed.has(n.name) && n.op !== 'Const' && n.op !== 'NoOp' && n.op !== 'Placeholder').map((n) => n.name);
  while (stack.length > 0) {
    const name = stack.pop()!;
    if (seen.has(name)) continue;
    seen.add(name);
    const node = byName.get(name);
    if (node === undefined || node.op === 'Const') continue;
    if (weightOps.has(name)) {
      headOps.add(name);
      continue;
    }
    for (const ref of node.input ?? []) {
      const n = inputNode(ref);
      if (n !== undefined) stack.push(n);
    }
  }

  const candidates: Candidate[] = [];
  for (const [name, use] of uses) {
    const head = headOps.has(use.op.name);
    if (conflicts.has(name)) candidates.push({ name, className: use.op.op, kind: undefined, head, unsupported: 'used by ops with different layouts' });
    else candidates.push({ name, className: use.op.op, kind: use.kind, head });
  }
  const { chosen, skipped } = selectCandidates(candidates, selection, GRAPH_PRUNABLE_OPS.join(', '));
  const layers: TfjsPrunableLayer[] = [];
  for (const [name, use] of uses) {
    if (!chosen.has(name)) continue;
    const kernelShape = [...weightByName.get(name)!.spec.shape];
    layers.push({
      name,
      shape: matrixShapeOf(kernelShape, use.view),
      kind: use.kind,
      className: use.op.op,
      weight: name,
      kernelShape,
      view: use.view,
      head: headOps.has(use.op.name),
    });
  }
  return { layers, skipped };
}
