import { type Backend, type BlockRunner, PruneError, Tensor } from '@prune/core';
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { fromTfjs, toTfjs } from '../interop.js';
import { type ExecutionPlan, layerInputMatrix } from './layers-model.js';

// The runner cuts the model's execution plan after each prunable layer. Block i runs the
// layer calls after the previous cut up to and including prunable layer i. What crosses a cut
// is its frontier: every value computed before the cut that a later call still reads (for a
// chain, one tensor; a residual connection adds its skip tensor). A frontier of one tensor is
// passed as that tensor; a larger one is packed into one float32 vector (see pack()).

/**
 * Packs tensors into one float32 vector: `[count, (dtype, rank, ...dims) per tensor, ...data]`.
 * Header numbers are small integers, exact in float32.
 */
function pack(parts: readonly tf.Tensor[]): tf.Tensor {
  const header: number[] = [parts.length];
  for (const p of parts) header.push(p.dtype === 'int32' ? 1 : 0, p.rank, ...p.shape);
  return tf.concat([tf.tensor1d(header), ...parts.map((p) => tf.reshape(tf.cast(p, 'float32'), [-1]))]);
}

/** Inverse of {@link pack}. */
function unpack(packed: tf.Tensor, expected: number): tf.Tensor[] {
  const values = packed.dataSync();
  const count = values[0];
  if (packed.rank !== 1 || count !== expected) {
    throw new PruneError('INVALID_ARGUMENT', `runBlock: the hidden state is not the one this runner produced for that block (expected ${expected} packed tensors); pass the previous block's output`);
  }
  let at = 1;
  const specs: { int: boolean; shape: number[] }[] = [];
  for (let i = 0; i < count; i++) {
    const int = values[at++] === 1;
    const rank = values[at++];
    specs.push({ int, shape: Array.from(values.subarray(at, at + rank)) });
    at += rank;
  }
  const out: tf.Tensor[] = [];
  for (const s of specs) {
    const size = s.shape.reduce((a, b) => a * b, 1);
    const part = tf.reshape(tf.slice(packed, [at], [size]), s.shape);
    out.push(s.int ? tf.cast(part, 'int32') : part);
    at += size;
  }
  return out;
}

/** The cut structure of a plan for a list of prunable layer names. */
export interface RunnerCuts {
  /** Step index of each block's prunable layer. */
  readonly at: readonly number[];
  /**
   * Frontier value ids entering each block (index i), and after the last block (index n: what
   * the rest of the model reads).
   */
  readonly frontiers: readonly (readonly number[])[];
}

/**
 * Where the plan is cut for `layers` (in execution order), and the frontier at each cut.
 * @throws PruneError `UNSUPPORTED` when a layer is called more than once (a shared layer) or
 *   the model has several inputs
 */
export function runnerCuts(plan: ExecutionPlan, layers: readonly string[]): RunnerCuts {
  if (plan.inputs.length !== 1) throw new PruneError('UNSUPPORTED', `the model has ${plan.inputs.length} inputs; the block runner supports single-input models`);
  const at: number[] = [];
  for (const name of layers) {
    const calls = plan.steps.flatMap((s, i) => (s.layer.name === name ? [i] : []));
    if (calls.length !== 1) throw new PruneError('UNSUPPORTED', `layer ${JSON.stringify(name)} is called ${calls.length} times in the model (a shared layer); the block runner needs each prunable layer called once`);
    at.push(calls[0]);
  }
  for (let i = 1; i < at.length; i++) {
    if (at[i] <= at[i - 1]) throw new PruneError('INVALID_ARGUMENT', 'runnerCuts: layers must be listed in execution order');
  }
  const producedAt = new Map<number, number>(plan.inputs.map((id) => [id, -1]));
  const lastUse = new Map<number, number>();
  plan.steps.forEach((s, i) => {
    for (const id of s.outputs) producedAt.set(id, i);
    for (const id of s.inputs) lastUse.set(id, i);
  });
  // Model outputs are read "after the last call", so the last block returns them when they are due.
  for (const id of plan.outputs) lastUse.set(id, plan.steps.length);
  // Values produced at or before `cut` and read after it.
  const frontierAfter = (cut: number): number[] =>
    [...lastUse.entries()].filter(([id, use]) => use > cut && (producedAt.get(id) ?? Infinity) <= cut).map(([id]) => id).sort((a, b) => a - b);
  const frontiers = [frontierAfter(-1), ...at.map((cut) => frontierAfter(cut))];
  return { at, frontiers };
}

/**
 * A {@link BlockRunner} over a LayersModel: `embed` is the model input itself; block `i`
 * runs the layer calls from the previous prunable layer's output up to and including
 * prunable layer `i` with the model's current weights, and observes that layer's input as
 * `[tokens, d_in]` (a Dense input flattened, a convolution input as im2col patches).
 *
 * Memory per sample: the frontier crossing the cut (the tensors a later layer still reads),
 * plus, while observing a convolution, its im2col matrix (`kh·kw` times its input).
 *
 * @param model - the model (its layers execute eagerly on concrete tensors)
 * @param plan - its execution plan
 * @param layers - the prunable layers, one block each, in execution order
 * @param backend - core backend for the tensors the runner returns
 * @param checkOpen - throws when the adapter is finished
 * @returns the runner
 */
export function createLayersRunner(
  model: LayersModel,
  plan: ExecutionPlan,
  layers: readonly string[],
  backend: () => Backend,
  checkOpen: (action: string) => void,
): BlockRunner {
  const { at, frontiers } = runnerCuts(plan, layers);
  const inputShape = model.inputs[0].shape;

  const fromCore = (hidden: Tensor, expected: number): tf.Tensor[] => {
    const t = toTfjs(hidden);
    return expected === 1 ? [t] : unpack(t, expected);
  };

  return {
    embed(sample: Tensor): Tensor {
      checkOpen('embed a sample');
      if (!(sample instanceof Tensor)) throw new PruneError('INVALID_ARGUMENT', `embed: a sample must be a Tensor (the model input batch), got ${typeof sample}`);
      const ok = sample.rank === inputShape.length && inputShape.every((d, i) => d === null || d === sample.shape[i]);
      if (!ok) {
        throw new PruneError('SHAPE_MISMATCH', `embed: the model input is [${inputShape.map((d) => (d === null ? 'batch' : d)).join(', ')}] but the sample has shape [${sample.shape.join(', ')}]`);
      }
      // A new core tensor (sharing storage on a @prune/tfjs backend): the caller disposes it.
      const x = toTfjs(sample);
      try {
        return fromTfjs(x, { backend: backend() });
      } finally {
        x.dispose();
      }
    },
    runBlock(index: number, hidden: Tensor, observe?: (layer: string, input: Tensor) => void): Tensor {
      checkOpen('run a block');
      if (!Number.isInteger(index) || index < 0 || index >= at.length) {
        throw new PruneError('OUT_OF_RANGE', `runBlock: block ${index} does not exist; the model has ${at.length} blocks`);
      }
      if (!(hidden instanceof Tensor)) throw new PruneError('INVALID_ARGUMENT', 'runBlock: hidden must be the Tensor that embed() or the previous runBlock() returned');
      const out = tf.tidy(() => {
        const values = new Map<number, tf.Tensor>();
        const incoming = frontiers[index];
        fromCore(hidden, incoming.length).forEach((t, i) => values.set(incoming[i], t));
        const first = index === 0 ? 0 : at[index - 1] + 1;
        for (let s = first; s <= at[index]; s++) {
          const step = plan.steps[s];
          const inputs = step.inputs.map((id) => {
            const v = values.get(id);
            if (v === undefined) throw new PruneError('INVALID_ARGUMENT', `runBlock: layer ${step.layer.name} reads a value that block ${index} did not receive`);
            return v;
          });
          if (s === at[index] && observe !== undefined) {
            const matrix = layerInputMatrix(step.layer, inputs[0]);
            const view = fromTfjs(matrix, { backend: backend() });
            matrix.dispose();
            try {
              observe(layers[index], view);
            } finally {
              view.dispose();
            }
          }
          const result = step.layer.apply(inputs.length === 1 ? inputs[0] : inputs, step.kwargs);
          const outputs = (Array.isArray(result) ? result : [result]) as tf.Tensor[];
          step.outputs.forEach((id, i) => values.set(id, outputs[i]));
        }
        const frontier = frontiers[index + 1].map((id) => values.get(id)!);
        return frontier.length === 1 ? frontier[0] : pack(frontier);
      });
      try {
        return fromTfjs(out, { backend: backend() });
      } finally {
        out.dispose();
      }
    },
  };
}
