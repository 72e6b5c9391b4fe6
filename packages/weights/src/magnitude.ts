import {
  PruneError,
  type PrunableLayer,
  Tensor,
  abs,
  applyMask,
  full,
  greater,
  nmMask,
  rowMask,
  thresholdMask,
  tidy,
} from '@prune/core';
import { globalScoreThreshold } from './global-threshold.js';
import { adoptValues, hostValues } from './host.js';
import type { PrepareContext, PrunedLayer, PruningMethod, SparsityTarget } from './method.js';
import { pruneGroups, pruneMatrixThreshold, pruneRows } from './row-prune.js';
import { kernelOutputs } from './row-workers.js';
import { checkTarget, checkTargetFits } from './target.js';

/**
 * Which weights magnitude pruning compares with each other:
 * - `'matrix'` — one threshold per weight matrix (the reference baseline);
 * - `'row'` — each output row loses exactly floor(d_in·s) weights;
 * - `'global'` — one threshold across every prunable matrix of the model (a baseline that
 *   collapses LLMs at high sparsity, because matrices with small weights lose most).
 */
export type MagnitudeScope = 'matrix' | 'row' | 'global';

const SCOPES: readonly MagnitudeScope[] = ['matrix', 'row', 'global'];

function checkWeight(op: string, weight: unknown, name: string): asserts weight is Tensor {
  if (!(weight instanceof Tensor)) throw new PruneError('INVALID_ARGUMENT', `${op}: the weight of ${name} must be a Tensor`);
  if (weight.dtype !== 'float32') {
    throw new PruneError('DTYPE_MISMATCH', `${op}: the weight of ${name} must be float32, got ${weight.dtype}; cast it with cast(w, 'float32')`);
  }
  if (weight.rank !== 2) {
    throw new PruneError('SHAPE_MISMATCH', `${op}: the weight of ${name} must be a [d_out, d_in] matrix, got shape [${weight.shape.join(', ')}]`);
  }
}

/**
 * Score of magnitude pruning: `S_ij = |W_ij|`.
 *
 * @param weight - float32 weight `[d_out, d_in]`
 * @returns float32 scores of the same shape
 */
export function magnitudeScore(weight: Tensor): Tensor<'float32'> {
  checkWeight('magnitudeScore', weight, 'the layer');
  return abs(weight) as Tensor<'float32'>;
}

/** Options of {@link magnitudeMask}. */
export interface MagnitudeMaskOptions {
  /**
   * Comparison group of an unstructured target: one threshold per matrix or exact counts
   * per row. (Global scope needs every matrix: see {@link globalScoreThreshold} and
   * {@link thresholdKeepMask}.) Ignored for N:M targets, whose groups are fixed.
   * @defaultValue `'matrix'`
   */
  scope?: 'matrix' | 'row';
  /**
   * How error messages name the layer.
   * @defaultValue `'scores'`
   */
  name?: string;
}

/**
 * Select step of magnitude pruning (any score works): the bool KEEP mask for `target`.
 * - unstructured, scope `'matrix'`: thr = sorted(S)[floor(numel·s)], prune `S ≤ thr`
 *   (locuslab/wanda `prune_magnitude`; ties at thr are all pruned; s = 0 keeps all);
 * - unstructured, scope `'row'`: per row prune the floor(d_in·s) lowest, ties lower index first;
 * - N:M: in each group of M consecutive inputs of a row prune the N lowest.
 *
 * @param scores - scores `[d_out, d_in]`, e.g. from {@link magnitudeScore}
 * @param target - the sparsity pattern
 * @param options - scope and name
 * @returns bool KEEP mask (true = keep)
 */
export function magnitudeMask(scores: Tensor, target: SparsityTarget, options: MagnitudeMaskOptions = {}): Tensor<'bool'> {
  const t = checkTarget('magnitudeMask', target);
  const scope = options.scope ?? 'matrix';
  if (scope !== 'matrix' && scope !== 'row') {
    throw new PruneError('INVALID_ARGUMENT', `magnitudeMask: scope must be 'matrix' or 'row' (global needs every matrix: use the magnitude method with scope 'global'), got ${String(scope)}`);
  }
  const name = options.name ?? 'scores';
  if (t.kind === 'nm') {
    if (scores instanceof Tensor) checkTargetFits('magnitudeMask', t, name, scores.shape[scores.rank - 1]);
    return nmMask(scores, { n: t.prune, m: t.group, mode: 'prune', name });
  }
  return scope === 'row' ? rowMask(scores, { sparsity: t.sparsity, name }) : thresholdMask(scores, { sparsity: t.sparsity, name });
}

/**
 * Select step against a threshold found elsewhere (global magnitude): keep `S > thr`,
 * prune `S ≤ thr`; keep everything when `thr` is undefined (s = 0).
 *
 * @param scores - float32 scores
 * @param thr - the shared threshold from {@link globalScoreThreshold}
 * @returns bool KEEP mask
 */
export function thresholdKeepMask(scores: Tensor, thr: number | undefined): Tensor<'bool'> {
  if (!(scores instanceof Tensor)) throw new PruneError('INVALID_ARGUMENT', 'thresholdKeepMask: scores must be a Tensor');
  if (thr === undefined) return full(scores.shape, 1, 'bool', { backend: scores.backend });
  if (typeof thr !== 'number' || Number.isNaN(thr)) throw new PruneError('INVALID_ARGUMENT', `thresholdKeepMask: thr must be a number, got ${String(thr)}`);
  return greater(scores, thr);
}

/**
 * Validates a magnitude call on a `[rows, cols]` matrix; returns the target and scope.
 */
function checkMagnitudeCall(op: string, target: SparsityTarget, options: MagnitudeMaskOptions, cols: number): { t: SparsityTarget; scope: 'matrix' | 'row'; name: string } {
  const t = checkTarget(op, target);
  const scope = options?.scope ?? 'matrix';
  if (scope !== 'matrix' && scope !== 'row') {
    throw new PruneError('INVALID_ARGUMENT', `${op}: scope must be 'matrix' or 'row' (global needs every matrix: use the magnitude method with scope 'global'), got ${String(scope)}`);
  }
  const name = options?.name ?? 'the layer';
  if (t.kind === 'nm') checkTargetFits(op, t, name, cols);
  return { t, scope, name };
}

/** Runs the fused magnitude kernel for a validated call; returns the pruned count. */
function runMagnitude(op: string, w: Float32Array, rows: number, cols: number, t: SparsityTarget, scope: 'matrix' | 'row', name: string, out: Float32Array, mask: Uint8Array | undefined): number {
  const args = { w, rows, cols, out, mask, op, name };
  if (t.kind === 'nm') return pruneGroups(args, t.prune, t.group);
  if (scope === 'row') return pruneRows(args, Math.floor(cols * t.sparsity));
  return pruneMatrixThreshold(args, t.sparsity);
}

/**
 * Magnitude pruning of one matrix — score, select and apply in one call. Runs as one fused
 * pass per row on the host (no |W| or mask tensor in between); the mask is exactly
 * {@link magnitudeMask}'s.
 *
 * @param weight - float32 weight `[d_out, d_in]` (left unchanged)
 * @param target - the sparsity pattern
 * @param options - scope (`'matrix'` or `'row'`) and name
 * @returns the pruned weight and its KEEP mask
 *
 * @example
 * ```ts
 * const { weight, mask } = pruneMagnitude(w, { kind: 'nm', prune: 2, group: 4 });
 * ```
 */
export function pruneMagnitude(weight: Tensor, target: SparsityTarget, options: MagnitudeMaskOptions = {}): PrunedLayer {
  checkWeight('pruneMagnitude', weight, options?.name ?? 'the layer');
  const [rows, cols] = weight.shape;
  const { t, scope, name } = checkMagnitudeCall('pruneMagnitude', target, options, cols);
  const w = hostValues(weight as Tensor<'float32'>);
  const { out, mask } = kernelOutputs(rows, cols);
  runMagnitude('pruneMagnitude', w, rows, cols, t, scope, name, out, mask);
  return { weight: adoptValues(out, weight.shape, 'float32', weight.backend), mask: adoptValues(mask, weight.shape, 'bool', weight.backend) };
}

/**
 * Magnitude pruning in place on a host array — the streaming form for checkpoints larger
 * than memory allows twice: the weights are overwritten with their pruned values and
 * nothing of their size is allocated (per row: one row of scores; per matrix: two
 * histograms, the threshold found by an exact radix select over the float bits). The
 * pruned set is exactly {@link pruneMagnitude}'s.
 *
 * @param values - row-major float32 weights `[rows, cols]`, overwritten
 * @param shape - `[rows, cols]`
 * @param target - the sparsity pattern
 * @param options - scope (`'matrix'` or `'row'`) and name
 * @returns the number of weights pruned
 *
 * @example
 * ```ts
 * const w = await checkpoint.readWeight(name);            // reference backend: no copy
 * pruneMagnitudeInPlace(w.ref<Float32Array>().handle, w.shape, { kind: 'nm', prune: 2, group: 4 });
 * await checkpoint.writeWeight(name, w);
 * ```
 */
export function pruneMagnitudeInPlace(values: Float32Array, shape: readonly number[], target: SparsityTarget, options: MagnitudeMaskOptions = {}): number {
  const op = 'pruneMagnitudeInPlace';
  if (!(values instanceof Float32Array)) throw new PruneError('DTYPE_MISMATCH', `${op}: values must be a Float32Array of weights`);
  if (!Array.isArray(shape) || shape.length !== 2 || !shape.every((d) => Number.isInteger(d) && d >= 0) || shape[0] * shape[1] !== values.length) {
    throw new PruneError('SHAPE_MISMATCH', `${op}: shape must be [rows, cols] with rows·cols = ${values.length} values, got [${String(shape)}]`);
  }
  const [rows, cols] = shape;
  const { t, scope, name } = checkMagnitudeCall(op, target, options, cols);
  return runMagnitude(op, values, rows, cols, t, scope, name, values, undefined);
}

/** Options of {@link magnitude}. */
export interface MagnitudeOptions {
  /**
   * Comparison group of unstructured targets (N:M groups are fixed).
   * @defaultValue `'matrix'`
   */
  scope?: MagnitudeScope;
}

function globalMethod(thr: number | undefined, prepared: boolean): PruningMethod {
  return {
    name: 'magnitude',
    options: { scope: 'global' },
    async prepare(context: PrepareContext): Promise<PruningMethod> {
      const target = checkTarget('magnitude', context.target);
      if (target.kind === 'nm') return globalMethod(undefined, true);
      const found = await globalScoreThreshold(
        async function* () {
          for (const layer of context.layers) {
            context.signal?.throwIfAborted();
            const w = await context.readWeight(layer.name);
            try {
              checkWeight('magnitude', w, layer.name);
              yield abs(w);
            } finally {
              w.dispose();
            }
          }
        },
        { sparsity: target.sparsity, disposeScores: true },
      );
      return globalMethod(found, true);
    },
    pruneLayer(layer: PrunableLayer, weight: Tensor, target: SparsityTarget): PrunedLayer {
      const t = checkTarget('magnitude', target);
      checkWeight('magnitude', weight, layer.name);
      if (t.kind === 'nm') return pruneMagnitude(weight, t, { name: layer.name });
      if (!prepared) {
        throw new PruneError(
          'INVALID_ARGUMENT',
          "magnitude: scope 'global' needs the threshold over every matrix first — run it through pruneModel (which calls prepare), or compute it with globalScoreThreshold and use thresholdKeepMask",
        );
      }
      return tidy(() => {
        const mask = thresholdKeepMask(abs(weight), thr);
        return { weight: applyMask(weight, mask), mask };
      });
    },
  };
}

/**
 * Magnitude pruning as a {@link PruningMethod} (data-free: no calibration). With scope
 * `'global'` the pipeline first walks every weight to find the shared threshold
 * ({@link globalScoreThreshold}), then prunes `|W| ≤ thr` in each matrix.
 *
 * @param options - the scope
 * @returns the method
 *
 * @example
 * ```ts
 * await pruneModel(adapter, { method: magnitude({ scope: 'row' }), target: { kind: 'unstructured', sparsity: 0.5 } });
 * ```
 */
export function magnitude(options: MagnitudeOptions = {}): PruningMethod {
  const scope = options?.scope ?? 'matrix';
  if (!SCOPES.includes(scope)) {
    throw new PruneError('INVALID_ARGUMENT', `magnitude: scope must be one of ${SCOPES.map((s) => `'${s}'`).join(', ')}, got ${String(scope)}`);
  }
  if (scope === 'global') return globalMethod(undefined, false);
  return {
    name: 'magnitude',
    options: { scope },
    pruneLayer(layer: PrunableLayer, weight: Tensor, target: SparsityTarget): PrunedLayer {
      return pruneMagnitude(weight, target, { scope, name: layer.name });
    },
    pruneLayerInPlace(layer: PrunableLayer, values: Float32Array, target: SparsityTarget): number {
      return pruneMagnitudeInPlace(values, layer.shape, target, { scope, name: layer.name });
    },
  };
}
