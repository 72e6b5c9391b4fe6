import type { LayersModel } from '@tensorflow/tfjs-layers';
import { weightKind } from './rules.js';

/** A layer entry of a saved (model.json) topology. */
export interface LayerEntry {
  /** Layer name (functional topologies). */
  name?: string;
  /** tfjs class name. */
  class_name?: string;
  /** The layer's saved config (snake_case keys). */
  config: Record<string, unknown>;
}

/** The saved configs of a model's layers, by name (Sequential and functional topologies). */
export function layerConfigs(topology: Record<string, unknown>): Map<string, LayerEntry> {
  const config = topology.config as { layers?: LayerEntry[] } | undefined;
  const out = new Map<string, LayerEntry>();
  for (const entry of config?.layers ?? []) out.set(entry.name ?? (entry.config.name as string), entry);
  return out;
}

/**
 * Writes `depth_multiplier` into the saved config of every separable convolution of `model`,
 * read from its depthwise kernel. tfjs 4.22 leaves the key out of SeparableConv configs, so a
 * multiplier above 1 would come back as 1 when the model is rebuilt or loaded; tfjs reads the
 * key when it is present.
 *
 * @param topology - a saved topology of `model` (changed in place)
 * @param model - the model it describes
 */
export function restoreDepthMultipliers(topology: Record<string, unknown>, model: LayersModel): void {
  const configs = layerConfigs(topology);
  for (const layer of model.layers) {
    const entry = configs.get(layer.name);
    if (entry === undefined || entry.config.depth_multiplier !== undefined) continue;
    const kernel = layer.weights.find((w) => weightKind(w.originalName ?? w.name) === 'depthwise_kernel');
    if (kernel !== undefined) entry.config.depth_multiplier = kernel.shape[kernel.shape.length - 1];
  }
}
