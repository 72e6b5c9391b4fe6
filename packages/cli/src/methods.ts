import { type ChannelCriterion, bnScale, l1Norm, l2Norm } from '@prune/structured';
import { type PruningMethod, magnitude, sparsegpt, wanda } from '@prune/weights';
import type { ChannelCriterionName, WeightMethodName } from './args.js';

/** A command-line method name resolved to a pruning method and whether OWL allocates sparsity. */
export interface ResolvedMethod {
  /** The name given on the command line. */
  name: WeightMethodName;
  /** The method the pipeline runs. */
  method: PruningMethod;
  /** OWL layerwise sparsity first (unstructured targets only). */
  owl: boolean;
  /** Whether it needs calibration data. */
  calibrated: boolean;
}

/** Resolves a {@link WeightMethodName}. */
export function resolveMethod(name: WeightMethodName): ResolvedMethod {
  const table: Record<WeightMethodName, () => Omit<ResolvedMethod, 'name'>> = {
    magnitude: () => ({ method: magnitude({ scope: 'matrix' }), owl: false, calibrated: false }),
    'magnitude-row': () => ({ method: magnitude({ scope: 'row' }), owl: false, calibrated: false }),
    'magnitude-global': () => ({ method: magnitude({ scope: 'global' }), owl: false, calibrated: false }),
    wanda: () => ({ method: wanda(), owl: false, calibrated: true }),
    'wanda-variant': () => ({ method: wanda({ variant: true }), owl: false, calibrated: true }),
    sparsegpt: () => ({ method: sparsegpt(), owl: false, calibrated: true }),
    'owl-wanda': () => ({ method: wanda(), owl: true, calibrated: true }),
    'owl-sparsegpt': () => ({ method: sparsegpt(), owl: true, calibrated: true }),
  };
  return { name, ...table[name]() };
}

/** Resolves a `--criterion` name of `--method channel` to a channel-importance criterion. */
export function resolveChannelCriterion(name: ChannelCriterionName): ChannelCriterion {
  const table: Record<ChannelCriterionName, () => ChannelCriterion> = { l1: () => l1Norm(), l2: () => l2Norm(), 'bn-scale': () => bnScale() };
  return table[name]();
}
