import { PruneError } from '@prune/core';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { ChannelGraph } from './graph.js';
import type { TfjsLayer, WeightBinding } from './rules.js';

/**
 * One layer's importance for the channels of one group: `values[u]` for channel `u`, `NaN`
 * where the layer does not touch that channel.
 */
export interface MemberImportance {
  /** Layer name. */
  readonly layer: string;
  /** Group id. */
  readonly group: number;
  /** Importance per channel of the group. */
  readonly values: Float64Array;
}

/**
 * A channel importance criterion: scores each layer of each dependency group per channel.
 * {@link groupImportance} then aggregates the layers of a group.
 */
export interface ChannelCriterion {
  /** Short name (`l1`, `l2`, `bn-scale`, `taylor`, `activation`). */
  readonly name: string;
  /** Per-layer importance of every group's channels. */
  score(graph: ChannelGraph): Promise<MemberImportance[]>;
}

const KERNELS: ReadonlySet<string> = new Set(['kernel', 'depthwise_kernel', 'pointwise_kernel', 'embeddings']);

function layerByName(graph: ChannelGraph, name: string): TfjsLayer {
  return graph.model.getLayer(name);
}

/** Sums per-position values of `binding` into per-layer, per-group channel scores. */
function accumulate(graph: ChannelGraph, binding: WeightBinding, perPosition: ArrayLike<number>, into: Map<string, MemberImportance>): void {
  for (let p = 0; p < binding.labels.length; p++) {
    const at = graph.unitOf(binding.labels[p]);
    if (at === undefined) continue;
    const key = `${at.group}\u0000${binding.layer}`;
    let member = into.get(key);
    if (member === undefined) {
      member = { layer: binding.layer, group: at.group, values: new Float64Array(graph.groups[at.group].size).fill(Number.NaN) };
      into.set(key, member);
    }
    const v = member.values[at.unit];
    member.values[at.unit] = (Number.isNaN(v) ? 0 : v) + perPosition[p];
  }
}

/** Reduces `x` over every axis but `axis` with `f`, as float64 host values. */
function perAxis(x: tf.Tensor, axis: number, f: (t: tf.Tensor) => tf.Tensor): Float64Array {
  const axes = x.shape.map((_, i) => i).filter((i) => i !== axis);
  const out = tf.tidy(() => (axes.length === 0 ? f(x) : tf.sum(f(x), axes)));
  const values = Float64Array.from(out.dataSync());
  out.dispose();
  return values;
}

function finish(members: Map<string, MemberImportance>, f: (v: number) => number): MemberImportance[] {
  const out = [...members.values()];
  for (const m of out) for (let u = 0; u < m.values.length; u++) if (!Number.isNaN(m.values[u])) m.values[u] = f(m.values[u]);
  return out;
}

/** Which layers' weights a norm criterion reads. */
export type NormScope = 'filters' | 'all';

/** Options of {@link l1Norm} and {@link l2Norm}. */
export interface NormOptions {
  /**
   * `'filters'`: the producers' filters and the per-channel kernels of depthwise convolutions
   * (Li et al. 2017). `'all'`: also every consumer's input-channel slice (DepGraph's group norm).
   * @defaultValue `'filters'`
   */
  scope?: NormScope;
}

function normCriterion(name: 'l1' | 'l2', options: NormOptions): ChannelCriterion {
  const scope = options.scope ?? 'filters';
  if (scope !== 'filters' && scope !== 'all') throw new PruneError('INVALID_ARGUMENT', `${name}Norm: scope must be 'filters' or 'all', got ${JSON.stringify(scope)}`);
  return {
    name,
    async score(graph) {
      const members = new Map<string, MemberImportance>();
      for (const b of graph.bindings) {
        if (!KERNELS.has(b.kind) || (b.role === 'in' && scope === 'filters')) continue;
        const w = layerByName(graph, b.layer).weights[b.weight].read();
        accumulate(graph, b, perAxis(w, b.axis, name === 'l1' ? tf.abs : tf.square), members);
      }
      return finish(members, name === 'l1' ? (v) => v : Math.sqrt);
    },
  };
}

/**
 * L1 filter norm ‖W_c‖₁ (Li et al. 2017, "Pruning Filters for Efficient ConvNets"): the sum of
 * absolute weights of output channel c's filter, per layer of the group.
 * @param options - which layers' weights count
 * @returns the criterion
 */
export function l1Norm(options: NormOptions = {}): ChannelCriterion {
  return normCriterion('l1', options);
}

/**
 * L2 filter norm ‖W_c‖₂ of output channel c's filter, per layer of the group.
 * @param options - which layers' weights count
 * @returns the criterion
 */
export function l2Norm(options: NormOptions = {}): ChannelCriterion {
  return normCriterion('l2', options);
}

/**
 * BatchNormalization scale |γ_c| (Liu et al. 2017, "Network Slimming"), per BN layer of the
 * group. Groups without a BN layer get no score and are not pruned by this criterion.
 * @returns the criterion
 */
export function bnScale(): ChannelCriterion {
  return {
    name: 'bn-scale',
    async score(graph) {
      const members = new Map<string, MemberImportance>();
      for (const b of graph.bindings) {
        if (b.kind !== 'gamma') continue;
        const gamma = layerByName(graph, b.layer).weights[b.weight].read();
        accumulate(graph, b, perAxis(gamma, b.axis, tf.abs), members);
      }
      return finish(members, (v) => v);
    },
  };
}

/** One calibration batch: the model input(s) and, for a loss, the target. */
export interface CalibrationBatch {
  /** Model input (or inputs, in `model.inputs` order). */
  readonly x: tf.Tensor | readonly tf.Tensor[];
  /** Target passed to the loss. */
  readonly y?: tf.Tensor;
}

/** Options of {@link taylor}. */
export interface TaylorOptions {
  /** Calibration batches (labelled). */
  batches: Iterable<CalibrationBatch>;
  /** The loss L(y, ŷ) whose first-order change is measured; e.g. `tf.losses.softmaxCrossEntropy` for logits. */
  loss: (target: tf.Tensor, prediction: tf.Tensor) => tf.Scalar;
}

/** Parameters whose θ·∂L/∂θ sums to a·∂L/∂a of the layer's output channel (linear in them). */
const AFFINE: ReadonlySet<string> = new Set(['kernel', 'bias', 'depthwise_kernel', 'pointwise_kernel', 'gamma', 'beta', 'alpha', 'embeddings']);

function modelInputs(x: CalibrationBatch['x']): tf.Tensor | tf.Tensor[] {
  return x instanceof tf.Tensor ? x : [...x];
}

/**
 * First-order Taylor importance |Σ a_c·∂L/∂a_c| (Molchanov et al. 2017) of each layer's output
 * channel c over the calibration batches. The activation a_c is linear in the channel's own
 * parameters (filter and bias; γ and β for BN), so Σ a·∂L/∂a = Σ θ·∂L/∂θ over them — computed
 * with tfjs gradients of the loss. Needs a tfjs backend with gradient kernels for every layer
 * (cpu; wasm lacks Conv2DBackpropFilter).
 *
 * @param options - calibration batches and the loss
 * @returns the criterion
 */
export function taylor(options: TaylorOptions): ChannelCriterion {
  if (options === null || typeof options !== 'object' || typeof options.loss !== 'function' || options.batches === undefined) {
    throw new PruneError('INVALID_ARGUMENT', 'taylor: pass { batches: [{ x, y }, …], loss: (y, yHat) => scalar } — first-order Taylor needs labelled calibration data and a loss');
  }
  return {
    name: 'taylor',
    async score(graph) {
      const used = graph.bindings.filter((b) => b.role !== 'in' && AFFINE.has(b.kind));
      const variables = new Map<string, tf.Variable>();
      for (const b of used) {
        const v = layerByName(graph, b.layer).weights[b.weight].read() as tf.Variable;
        variables.set(`${b.layer}\u0000${b.weight}`, v);
      }
      const list = [...variables.values()];
      const wasTrainable = list.map((v) => v.trainable);
      const sums = new Map<string, tf.Tensor>();
      let count = 0;
      try {
        // Non-trainable weights (frozen BN) still get gradients here.
        for (const v of list) v.trainable = true;
        for (const batch of options.batches) {
          if (batch.y === undefined) throw new PruneError('INVALID_ARGUMENT', 'taylor: every calibration batch needs a target y for the loss');
          let result: { grads: tf.NamedTensorMap; value: tf.Scalar };
          try {
            result = tf.variableGrads(() => options.loss(batch.y!, graph.model.apply(modelInputs(batch.x), { training: false }) as tf.Tensor), list);
          } catch (cause) {
            const message = (cause as Error)?.message ?? String(cause);
            if (!/kernel|gradient/i.test(message)) throw cause;
            throw new PruneError('KERNEL_UNAVAILABLE', `taylor: the tfjs "${tf.getBackend()}" backend cannot differentiate this model (${message}); compute Taylor scores on the cpu backend (createTfjsBackend({ backend: 'cpu' }))`, { cause });
          }
          const { grads, value } = result;
          value.dispose();
          for (const [name, g] of Object.entries(grads)) {
            const prev = sums.get(name);
            sums.set(name, prev === undefined ? g : tf.tidy(() => tf.add(prev, g)));
            if (prev !== undefined) {
              prev.dispose();
              g.dispose();
            }
          }
          count++;
        }
      } finally {
        list.forEach((v, i) => (v.trainable = wasTrainable[i]));
      }
      if (count === 0) throw new PruneError('INVALID_ARGUMENT', 'taylor: the calibration batches are empty; pass at least one { x, y }');
      const members = new Map<string, MemberImportance>();
      for (const b of used) {
        const v = variables.get(`${b.layer}\u0000${b.weight}`)!;
        const g = sums.get(v.name);
        if (g === undefined) continue;
        const theta = v as tf.Tensor;
        accumulate(graph, b, perAxis(theta, b.axis, (t) => tf.mul(t, g)), members);
      }
      for (const g of sums.values()) g.dispose();
      return finish(members, Math.abs);
    },
  };
}

/** Options of {@link activationAware}. */
export interface ActivationAwareOptions {
  /** Calibration batches (inputs only). */
  batches: Iterable<CalibrationBatch>;
}

/**
 * Activation-aware importance in the style of Wanda (Sun et al. 2023), aggregated per output
 * channel: S_c = Σ_i |W_{i,c}|·‖X_i‖₂, with ‖X_i‖₂ the norm of the layer's input channel i over
 * every calibration sample and position (for a conv, summed over the kernel taps too). For a
 * separable conv's pointwise kernel the depthwise output is not observed; its input channel's
 * norm stands in for it.
 *
 * @param options - calibration batches
 * @returns the criterion
 */
export function activationAware(options: ActivationAwareOptions): ChannelCriterion {
  if (options === null || typeof options !== 'object' || options.batches === undefined) {
    throw new PruneError('INVALID_ARGUMENT', 'activationAware: pass { batches: [{ x }, …] } — the input norms ‖X‖ come from calibration data');
  }
  return {
    name: 'activation',
    async score(graph) {
      const used = graph.bindings.filter((b) => b.role !== 'in' && KERNELS.has(b.kind) && b.kind !== 'embeddings');
      const inner = (graph.model as unknown as { model?: tfl.LayersModel }).model;
      const functional = graph.model.getClassName() === 'Sequential' && inner !== undefined ? inner : graph.model;
      const layers = [...new Set(used.map((b) => b.layer))];
      const inputTensors = layers.map((name) => functional.getLayer(name).input as tfl.SymbolicTensor);
      const probe = tfl.model({ inputs: functional.inputs, outputs: inputTensors });
      const sq = layers.map(() => undefined as Float64Array | undefined);
      let count = 0;
      for (const batch of options.batches) {
        const outs = tf.tidy(() => {
          const ys = probe.predict(modelInputs(batch.x)) as tf.Tensor | tf.Tensor[];
          const list = Array.isArray(ys) ? ys : [ys];
          return list.map((t) => tf.sum(tf.square(t), t.shape.map((_, i) => i).slice(0, -1)));
        });
        outs.forEach((t, i) => {
          const v = t.dataSync();
          const acc = sq[i] ?? new Float64Array(v.length);
          for (let c = 0; c < v.length; c++) acc[c] += v[c];
          sq[i] = acc;
          t.dispose();
        });
        count++;
      }
      if (count === 0) throw new PruneError('INVALID_ARGUMENT', 'activationAware: the calibration batches are empty; pass at least one { x }');
      const norms = new Map(layers.map((name, i) => [name, Float32Array.from(sq[i]!, Math.sqrt)]));
      const members = new Map<string, MemberImportance>();
      for (const b of used) {
        const w = layerByName(graph, b.layer).weights[b.weight].read();
        const rank = w.shape.length;
        // The kernel's input-channel axis: the one before the output axis (depthwise: its channel axis).
        const inAxis = rank - 2;
        let xNorm = norms.get(b.layer)!;
        const width = w.shape[inAxis];
        if (xNorm.length !== width) {
          // Separable pointwise: mid channel c·m + j comes from input channel c.
          const m = width / xNorm.length;
          xNorm = Float32Array.from({ length: width }, (_, i) => xNorm[Math.floor(i / m)]);
        }
        const shape = w.shape.map((d, i) => (i === inAxis ? d : 1));
        const x = tf.tensor(xNorm, shape);
        accumulate(graph, b, perAxis(w, b.axis, (t) => tf.mul(tf.abs(t), x)), members);
        x.dispose();
      }
      return finish(members, (v) => v);
    },
  };
}

/** How the layers of one group are combined per channel. */
export type GroupReduction = 'sum' | 'mean' | 'max';

/**
 * How a group's channel scores are scaled before a global ranking: divided by their mean,
 * max or sum, mapped to [0, 1] by `(s − min)/(max − min)`, or left as they are.
 */
export type ImportanceNormalization = 'none' | 'mean' | 'max' | 'sum' | 'minmax';

/** Options of {@link groupImportance} and {@link scoreChannels}. */
export interface GroupImportanceOptions {
  /**
   * How each channel's per-layer scores are combined.
   * @defaultValue `'mean'`
   */
  reduce?: GroupReduction;
  /**
   * How each group's scores are scaled (matters for global ranking only).
   * @defaultValue `'mean'`
   */
  normalize?: ImportanceNormalization;
}

/** Importance of every channel of every group, `scores[g][u]`; `NaN` where no layer gave a score. */
export type ChannelScores = readonly Float64Array[];

/**
 * Aggregates per-layer scores over each whole dependency group: reduced per channel across the
 * group's layers, then normalised per group.
 *
 * @param graph - the channel graph
 * @param members - per-layer scores from a {@link ChannelCriterion}
 * @param options - reduction and normalisation
 * @returns one score per channel of each group
 */
export function groupImportance(graph: ChannelGraph, members: readonly MemberImportance[], options: GroupImportanceOptions = {}): ChannelScores {
  const reduce = options.reduce ?? 'mean';
  const normalize = options.normalize ?? 'mean';
  if (!['sum', 'mean', 'max'].includes(reduce)) throw new PruneError('INVALID_ARGUMENT', `reduce must be 'sum', 'mean' or 'max', got ${JSON.stringify(reduce)}`);
  if (!['none', 'mean', 'max', 'sum', 'minmax'].includes(normalize)) {
    throw new PruneError('INVALID_ARGUMENT', `normalize must be 'none', 'mean', 'max', 'sum' or 'minmax', got ${JSON.stringify(normalize)}`);
  }
  const total = graph.groups.map((g) => new Float64Array(g.size));
  const counts = graph.groups.map((g) => new Float64Array(g.size));
  for (const m of members) {
    const t = total[m.group];
    const n = counts[m.group];
    for (let u = 0; u < m.values.length; u++) {
      const v = m.values[u];
      if (Number.isNaN(v)) continue;
      t[u] = reduce === 'max' ? (n[u] === 0 ? v : Math.max(t[u], v)) : t[u] + v;
      n[u]++;
    }
  }
  return total.map((t, g) => {
    const n = counts[g];
    const out = Float64Array.from(t, (v, u) => (n[u] === 0 ? Number.NaN : reduce === 'mean' ? v / n[u] : v));
    const valid = Array.from(out).filter((v) => !Number.isNaN(v));
    if (valid.length === 0 || normalize === 'none') return out;
    const lo = Math.min(...valid);
    const hi = Math.max(...valid);
    const sum = valid.reduce((a, b) => a + b, 0);
    if (normalize === 'minmax') return hi > lo ? out.map((v) => (v - lo) / (hi - lo)) : out;
    const d = normalize === 'mean' ? sum / valid.length : normalize === 'max' ? hi : sum;
    return d !== 0 && Number.isFinite(d) ? out.map((v) => v / d) : out;
  });
}

/**
 * Scores every channel of every group with `criterion` and aggregates over each group.
 *
 * @param graph - the channel graph
 * @param criterion - e.g. {@link l1Norm}()
 * @param options - reduction and normalisation
 * @returns one score per channel of each group
 */
export async function scoreChannels(graph: ChannelGraph, criterion: ChannelCriterion, options: GroupImportanceOptions = {}): Promise<ChannelScores> {
  if (criterion === null || typeof criterion !== 'object' || typeof criterion.score !== 'function') {
    throw new PruneError('INVALID_ARGUMENT', 'scoreChannels: criterion must be a ChannelCriterion, e.g. l1Norm(), l2Norm(), bnScale(), taylor({...}) or activationAware({...})');
  }
  return groupImportance(graph, await criterion.score(graph), options);
}
