import { PruneError } from '@prune/core';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { ChannelGraph } from './graph.js';
import type { WeightBinding } from './rules.js';
import { type ChannelPlan, removedMasks } from './select.js';
import { layerConfigs, restoreDepthMultipliers } from './topology.js';

/** Running-statistics weights: zeroing them would not silence a channel, so masking leaves them. */
const STATISTICS: ReadonlySet<string> = new Set(['moving_mean', 'moving_variance']);

/** For each binding, a keep flag per position along its axis. */
function keepFlags(graph: ChannelGraph, plan: ChannelPlan): Map<WeightBinding, Uint8Array> {
  const masks = removedMasks(graph, plan);
  const out = new Map<WeightBinding, Uint8Array>();
  for (const b of graph.bindings) {
    const keep = new Uint8Array(b.labels.length);
    for (let p = 0; p < keep.length; p++) {
      const at = graph.unitOf(b.labels[p]);
      keep[p] = at !== undefined && masks[at.group][at.unit] === 1 ? 0 : 1;
    }
    out.set(b, keep);
  }
  return out;
}

/** Bindings grouped by (layer, weight index). */
function byWeight(graph: ChannelGraph): Map<string, Map<number, WeightBinding[]>> {
  const out = new Map<string, Map<number, WeightBinding[]>>();
  for (const b of graph.bindings) {
    let layer = out.get(b.layer);
    if (layer === undefined) out.set(b.layer, (layer = new Map()));
    const list = layer.get(b.weight) ?? [];
    list.push(b);
    layer.set(b.weight, list);
  }
  return out;
}

/** Number of positions each layer's output keeps on its last axis. */
export function keptWidths(graph: ChannelGraph, plan: ChannelPlan): Map<string, { kept: number; total: number }> {
  const masks = removedMasks(graph, plan);
  const out = new Map<string, { kept: number; total: number }>();
  for (const [layer, labels] of graph.outputs) {
    let kept = 0;
    for (const atom of labels) {
      const at = graph.unitOf(atom);
      if (at === undefined || masks[at.group][at.unit] === 0) kept++;
    }
    out.set(layer, { kept, total: labels.length });
  }
  return out;
}

/**
 * Zeroes the removed channels in place, in every coupled weight of `graph.model`: producers'
 * filters and biases, BN scale and shift, depthwise kernels and every consumer's input-channel
 * slice. The model keeps its shapes; its outputs equal those of {@link shrinkModel}'s model.
 *
 * @param graph - the channel graph of the model to mask
 * @param plan - the channels to remove
 */
export function maskChannels(graph: ChannelGraph, plan: ChannelPlan): void {
  const flags = keepFlags(graph, plan);
  for (const [layerName, weights] of byWeight(graph)) {
    const layer = graph.model.getLayer(layerName);
    for (const [index, bindings] of weights) {
      const variable = layer.weights[index];
      if (STATISTICS.has(bindings[0].kind)) continue;
      const rank = variable.shape.length;
      const next = tf.tidy(() => {
        let value = variable.read() as tf.Tensor;
        for (const b of bindings) {
          const keep = flags.get(b)!;
          if (keep.every((k) => k === 1)) continue;
          const shape = Array.from({ length: rank }, (_, i) => (i === b.axis ? keep.length : 1));
          value = tf.mul(value, tf.tensor(Float32Array.from(keep), shape));
        }
        return value === variable.read() ? undefined : value;
      });
      if (next !== undefined) {
        variable.write(next);
        next.dispose();
      }
    }
  }
}

/**
 * Builds a new, physically smaller tfjs LayersModel without the removed channels: layer configs
 * are rewritten (filters, units, reshape targets) and every coupled weight is sliced. The new
 * model is an ordinary LayersModel: `model.save` writes it and stock `tf.loadLayersModel`
 * reads it back. The source model is not changed.
 *
 * @param graph - the channel graph of the source model
 * @param plan - the channels to remove
 * @returns the smaller model (dispose it when done)
 * @throws PruneError `INVALID_ARGUMENT` when the plan does not match the graph
 */
export async function shrinkModel(graph: ChannelGraph, plan: ChannelPlan): Promise<tfl.LayersModel> {
  const flags = keepFlags(graph, plan);
  const topology = structuredClone(graph.model.toJSON(null, false)) as Record<string, unknown>;
  const configs = layerConfigs(topology);
  for (const [layer, { kept, total }] of keptWidths(graph, plan)) {
    if (kept === total) continue;
    const rule = graph.rules.get(layer);
    const entry = configs.get(layer);
    if (entry === undefined) throw new PruneError('UNSUPPORTED', `shrinkModel: layer ${layer} is not in the model's saved topology`);
    rule?.resize?.(entry.config, kept, total);
  }
  restoreDepthMultipliers(topology, graph.model);
  const model = await tfl.models.modelFromJSON({ modelTopology: topology } as unknown as Parameters<typeof tfl.models.modelFromJSON>[0]);
  const bound = byWeight(graph);
  for (const source of graph.model.layers) {
    if (source.weights.length === 0) continue;
    const target = model.getLayer(source.name);
    const weights = bound.get(source.name);
    const values = tf.tidy(() =>
      source.weights.map((w, index) => {
        let value = w.read() as tf.Tensor;
        for (const b of weights?.get(index) ?? []) {
          const keep = flags.get(b)!;
          if (keep.every((k) => k === 1)) continue;
          const indices: number[] = [];
          keep.forEach((k, p) => k === 1 && indices.push(p));
          value = tf.gather(value, tf.tensor1d(indices, 'int32'), b.axis);
        }
        return tf.clone(value);
      }),
    );
    try {
      target.setWeights(values);
    } catch (cause) {
      model.dispose();
      throw new PruneError('UNSUPPORTED', `shrinkModel: layer ${source.name} rejected its sliced weights (${(cause as Error).message}); its channel rule does not match its weights`, { cause });
    } finally {
      tf.dispose(values);
    }
  }
  return model;
}
