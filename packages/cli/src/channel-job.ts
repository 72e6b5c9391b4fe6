import { PruneError, Random } from '@prune/core';
import { type BlockedLayer, type LayerWidth, compareLatency, loadModelFolder, pruneChannels, saveModelFolder, storageLike } from '@prune/structured';
import { createTfjsBackend } from '@prune/tfjs';
import * as tf from '@tensorflow/tfjs-core';
import type { WeightOptions } from './args.js';
import { resolveChannelCriterion } from './methods.js';
import { type OutputAgreement, compareOutputs } from './tfjs-job.js';

/** Size and speed of one model in a channel-pruning run. */
export interface ChannelModelFigures {
  /** Parameters. */
  parameters: number;
  /** Conv/dense multiply-accumulates per sample. */
  macs: number;
  /** Bytes of model.json and its weight shards. */
  fileBytes: number;
  /** Median latency of one forward pass of a batch of one, milliseconds (interleaved rounds). */
  latencyMs: number;
}

/** Result of channel-pruning a tfjs LayersModel folder. */
export interface ChannelJobResult {
  /** Input folder. */
  model: string;
  /** Criterion name. */
  criterion: string;
  /** Requested ratio. */
  ratio: number;
  /** Global ranking. */
  global: boolean;
  /** Width rounding. */
  roundTo: number;
  /** The tfjs backend it ran on. */
  tfjsBackend: string;
  /** Dependency groups with removable channels. */
  groups: number;
  /** Removable channels. */
  prunableChannels: number;
  /** Channels removed. */
  removedChannels: number;
  /** The input model. */
  before: ChannelModelFigures;
  /** The pruned model, as written. */
  after: ChannelModelFigures;
  /** Dense vs pruned outputs, both reloaded from their folders with stock tfjs. */
  agreement: OutputAgreement;
  /** Layers whose width changed. */
  layers: LayerWidth[];
  /** Layers that kept channels intact, and why. */
  blocked: BlockedLayer[];
  /** Wall time of loading, pruning and writing, seconds. */
  seconds: number;
}

const TFJS_NAMES: Readonly<Record<string, 'cpu' | 'wasm' | 'tensorflow'>> = { 'tfjs-cpu': 'cpu', 'tfjs-wasm': 'wasm', 'tfjs-node': 'tensorflow', 'tfjs-node-gpu': 'tensorflow' };

/**
 * Channel-prunes the tfjs LayersModel in `input` (`--method channel`): builds its channel
 * dependency graph, scores and removes channels, writes the physically smaller model into
 * `staging` with each weight stored as the input stored it, then measures both models
 * (parameters, MACs, file size, latency) and compares their outputs.
 */
export async function runChannelJob(input: string, options: WeightOptions, staging: string): Promise<ChannelJobResult> {
  const channel = options.channel;
  if (channel === undefined) throw new PruneError('INVALID_ARGUMENT', 'runChannelJob needs --method channel options');
  if (options.compress) throw new PruneError('UNSUPPORTED', '--compress applies to sparse weights; channel pruning writes a smaller dense tfjs model');
  const backend = await createTfjsBackend({ backend: TFJS_NAMES[options.backend] ?? 'auto' });
  const started = performance.now();
  const { model: dense, bytes: inputBytes } = await loadModelFolder(input);
  try {
    const { model: small, report } = await pruneChannels(dense, {
      ratio: channel.ratio,
      global: channel.global,
      roundTo: channel.roundTo,
      unsupported: channel.keepUnsupported ? 'keep' : 'error',
      criterion: resolveChannelCriterion(channel.criterion),
    });
    try {
      const written = await saveModelFolder(small, staging, { storage: await storageLike(input), inputFolder: input });
      const seconds = (performance.now() - started) / 1000;
      const shape = [1, ...dense.inputs[0].shape.slice(1).map((d) => d ?? 1)];
      const rng = new Random(options.seed);
      const x = tf.tensor(new Float32Array(shape.reduce((a, b) => a * b, 1)).map(() => rng.uniform()), shape);
      const [denseMs, smallMs] = await compareLatency([dense, small], x, { rounds: 5 });
      x.dispose();
      return {
        model: input,
        criterion: channel.criterion,
        ratio: channel.ratio,
        global: channel.global,
        roundTo: channel.roundTo,
        tfjsBackend: backend.tfjsBackend,
        groups: report.groups,
        prunableChannels: report.prunableChannels,
        removedChannels: report.removedChannels,
        before: { ...report.before, fileBytes: inputBytes, latencyMs: denseMs },
        after: { ...report.after, fileBytes: written.bytes, latencyMs: smallMs },
        agreement: await compareOutputs(input, staging, 16, options.seed),
        layers: [...report.layers],
        blocked: [...report.blocked],
        seconds,
      };
    } finally {
      small.dispose();
    }
  } finally {
    dense.dispose();
  }
}
