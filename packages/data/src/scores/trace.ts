import { PruneError } from '@prune/core';
import type { TrainingTrace } from './recorder.js';

/**
 * Checks that `trace` is a {@link TrainingTrace} with at least one epoch of the right size.
 * @param what - the function that received it, for the message
 */
export function checkTrace(trace: TrainingTrace, what: string): void {
  if (trace === null || typeof trace !== 'object' || !Array.isArray(trace.epochs)) {
    throw new PruneError('INVALID_ARGUMENT', `${what} needs a training trace; record one with TrainingDynamicsRecorder`);
  }
  if (trace.epochs.length === 0) throw new PruneError('INVALID_ARGUMENT', `${what}: the trace has no finished epoch; call endEpoch() after each epoch`);
  for (const [e, rec] of trace.epochs.entries()) {
    for (const key of ['presented', 'correct', 'probabilityMargin', 'logitMargin', 'errorNorm'] as const) {
      if (rec[key]?.length !== trace.count) throw new PruneError('SHAPE_MISMATCH', `${what}: epoch ${e}'s ${key} has ${rec[key]?.length} entries for ${trace.count} examples`);
    }
  }
}
