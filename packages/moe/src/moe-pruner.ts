import {
  type AccumulatorOptions,
  ColumnNormAccumulator,
  type ProgressCallback,
  PruneError,
  type Tensor,
  dispose,
  fromArray,
  keep,
  progressStage,
  sparsityOf,
  zeros,
} from '@prune/core';
import { type SparsityTarget, checkTarget, describeTarget, pruneWanda } from '@prune/weights';
import { type MoeModelAdapter, asMoeModel, routedExpertOf } from './model.js';

/** What happens to the linears outside the routed experts. */
export type NonExpertTreatment = 'wanda' | 'dense';

/** Options of {@link moePrunerStatistics}. */
export interface MoePrunerStatisticsOptions {
  /**
   * How the column statistic is accumulated; see {@link ColumnNormAccumulator}.
   * @defaultValue `{ weighting: 'sequences', accumulation: 'float32' }` (Wanda's reference)
   */
  statistic?: AccumulatorOptions;
}

/**
 * Score input of MoE-Pruner (Xie et al., 2024) for one block: per prunable linear, the
 * squared input-column norms s_j. For a routed expert e's linears each token's input row is
 * multiplied by its router gate weight g_te first, over the tokens T_e routed to e —
 * `s_j = running average of Σ_{t∈T_e} (g_te·x_tj)²` — so tokens the router trusts the
 * expert with dominate. Attention and shared-expert linears get Wanda's plain statistic.
 * One update per sample and linear, as the reference's forward hooks (an expert that
 * received no token in a sample is not updated for it; one that never received any keeps
 * s = 0).
 *
 * @param model - the MoE model
 * @param block - block index
 * @param hiddens - the block's input for each calibration sample, `[1, seq, d]`
 * @param options - statistic options
 * @returns one accumulator per linear that saw input, by layer name (the caller disposes them)
 */
export function moePrunerStatistics(model: MoeModelAdapter, block: number, hiddens: readonly Tensor[], options: MoePrunerStatisticsOptions = {}): Map<string, ColumnNormAccumulator> {
  const m = asMoeModel(model, 'moePrunerStatistics');
  const stats = new Map<string, ColumnNormAccumulator>();
  const statistic = options.statistic ?? {};
  try {
    for (const hidden of hiddens) {
      let experts: readonly { gates: Float32Array }[] = [];
      const out = m.block(
        block,
        hidden,
        (layer, input) => {
          let stat = stats.get(layer);
          if (stat === undefined) {
            stat = new ColumnNormAccumulator(input.shape[input.rank - 1], statistic);
            stats.set(layer, stat);
          }
          const e = routedExpertOf(layer);
          if (e === null) {
            stat.update(input);
            return;
          }
          const g = experts[e].gates;
          const weights = fromArray(g, [g.length], 'float32', { backend: input.backend });
          try {
            stat.update(input, { weights });
          } finally {
            weights.dispose();
          }
        },
        { routing: (r) => (experts = r.experts) },
      );
      out.dispose();
    }
  } catch (e) {
    for (const s of stats.values()) s.dispose();
    throw e;
  }
  return stats;
}

/** Options of {@link moePruner}. */
export interface MoePrunerOptions extends MoePrunerStatisticsOptions {
  /** Sparsity pattern of every pruned linear: unstructured or N:M, per output row as Wanda. */
  target: SparsityTarget;
  /** Calibration samples: int32 token ids `[seq]` each. */
  calibration: Iterable<Tensor>;
  /**
   * Calibration samples to use.
   * @defaultValue 128
   */
  nsamples?: number;
  /**
   * Attention projections: plain Wanda, or left dense.
   * @defaultValue `'wanda'`
   */
  attention?: NonExpertTreatment;
  /**
   * Shared experts (DeepSeek-style): plain Wanda, or left dense.
   * @defaultValue `'wanda'`
   */
  sharedExperts?: NonExpertTreatment;
  /**
   * Sequential propagation: the next block calibrates on the pruned block's outputs.
   * @defaultValue true
   */
  propagate?: boolean;
  /**
   * Progress: stage `'calibrate'` (blocks).
   * @defaultValue no reporting
   */
  onProgress?: ProgressCallback;
}

/** One linear in a {@link MoePrunerReport}. */
export interface MoePrunerLayerReport {
  /** Layer name. */
  readonly name: string;
  /** Routed expert index, or null for attention / shared experts. */
  readonly expert: number | null;
  /** Pruned fraction (0 when left dense). */
  readonly sparsity: number;
  /** Whether the layer was left dense. */
  readonly dense: boolean;
  /** Whether calibration routed no token to it (its statistic is 0; Wanda's tie order decides). */
  readonly unrouted: boolean;
}

/** What {@link moePruner} did (plain JSON values). */
export interface MoePrunerReport {
  /** The model's description. */
  readonly model: string;
  /** Short pattern label, e.g. `unstructured 50%` or `2:4`. */
  readonly pattern: string;
  /** Samples used. */
  readonly nsamples: number;
  /** Per linear, in execution order. */
  readonly layers: readonly MoePrunerLayerReport[];
  /** Pruned fraction over the pruned linears. */
  readonly sparsity: number;
  /** Wall time in milliseconds. */
  readonly totalMs: number;
}

function checkTreatment(name: string, v: unknown): NonExpertTreatment {
  if (v === undefined) return 'wanda';
  if (v !== 'wanda' && v !== 'dense') throw new PruneError('INVALID_ARGUMENT', `moePruner: ${name} must be 'wanda' or 'dense', got ${String(v)}`);
  return v;
}

/**
 * MoE-Pruner: prunes a MoE model block by block with router-weighted Wanda statistics
 * ({@link moePrunerStatistics}), scoring `S_ij = |W_ij|·sqrt(s_j)` and selecting per output
 * row, unstructured or N:M — Wanda's score/select/apply from `@prune/weights`.
 *
 * @param model - the MoE model (weights are overwritten)
 * @param options - target, calibration and treatment of non-expert linears
 * @returns a report
 * @throws `UNSUPPORTED` for a model without MoE layers; `INVALID_ARGUMENT` for bad options or no samples
 */
export async function moePruner(model: MoeModelAdapter, options: MoePrunerOptions): Promise<MoePrunerReport> {
  const op = 'moePruner';
  const m = asMoeModel(model, op);
  if (options === null || typeof options !== 'object') throw new PruneError('INVALID_ARGUMENT', `${op}: needs an options object with target and calibration`);
  const target = checkTarget(op, options.target);
  const attention = checkTreatment('attention', options.attention);
  const shared = checkTreatment('sharedExperts', options.sharedExperts);
  const nsamples = options.nsamples ?? 128;
  if (!Number.isInteger(nsamples) || nsamples < 1) throw new PruneError('INVALID_ARGUMENT', `${op}: nsamples must be a positive integer, got ${String(nsamples)}`);
  if (options.calibration === undefined || typeof (options.calibration as Iterable<Tensor>)[Symbol.iterator] !== 'function') {
    throw new PruneError('INVALID_ARGUMENT', `${op}: calibration must be an iterable of int32 token-id tensors`);
  }
  const start = performance.now();
  let hiddens: Tensor[] = [];
  let used = 0;
  for (const ids of options.calibration) {
    if (hiddens.length >= nsamples) break;
    hiddens.push(keep(m.embed(ids)));
  }
  used = hiddens.length;
  if (hiddens.length === 0) throw new PruneError('INVALID_ARGUMENT', `${op}: calibration gave no samples; MoE-Pruner needs the experts' inputs`);
  const progress = progressStage(options.onProgress, 'calibrate', m.blocks().length);
  const layers: MoePrunerLayerReport[] = [];
  let pruned = 0;
  let total = 0;
  try {
    for (const [b, block] of m.blocks().entries()) {
      const propagate = options.propagate ?? true;
      // Without propagation the next block calibrates on the dense block's outputs.
      const denseNext = propagate ? [] : hiddens.map((h) => keep(m.block(b, h)));
      const stats = moePrunerStatistics(m, b, hiddens, options);
      try {
        for (const layer of block.layers) {
          const expert = routedExpertOf(layer.name);
          const isShared = expert === null && layer.name.includes('.shared_experts.');
          const dense = expert === null && ((isShared && shared === 'dense') || (!isShared && attention === 'dense'));
          const stat = stats.get(layer.name);
          if (dense) {
            layers.push({ name: layer.name, expert, sparsity: 0, dense: true, unrouted: false });
            continue;
          }
          const weight = await m.readWeight(layer.name);
          const s = stat?.value() ?? zeros([layer.shape[1]]);
          try {
            const result = pruneWanda(weight, s, target, { name: layer.name });
            await m.writeWeight(layer.name, result.weight);
            const sp = sparsityOf(result.mask);
            pruned += sp.pruned;
            total += sp.total;
            layers.push({ name: layer.name, expert, sparsity: sp.sparsity, dense: false, unrouted: stat === undefined });
            dispose([result.weight, result.mask]);
          } finally {
            dispose([weight, s]);
          }
        }
      } finally {
        for (const s of stats.values()) s.dispose();
      }
      const next = propagate ? hiddens.map((h) => keep(m.block(b, h))) : denseNext;
      dispose(hiddens);
      hiddens = next;
      progress.advance(1, block.name);
    }
  } finally {
    dispose(hiddens);
  }
  return { model: m.description, pattern: describeTarget(target), nsamples: used, layers, sparsity: total === 0 ? 0 : pruned / total, totalMs: performance.now() - start };
}
