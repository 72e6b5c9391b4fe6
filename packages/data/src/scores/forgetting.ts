import { checkTrace } from './trace.js';
import type { TrainingTrace } from './recorder.js';

/**
 * Forgetting events (Toneva et al. 2019): per example, the number of transitions from
 * correctly to incorrectly classified between consecutive presentations (epochs where it
 * was presented). An example never classified correctly counts as maximally hard: it gets
 * the number of epochs in the trace, more than any example that was learned can reach
 * (at most ⌊presentations/2⌋ events). High = hard.
 *
 * @param trace - a recorded training run
 * @returns one score per example
 */
export function forgettingScores(trace: TrainingTrace): Float32Array {
  checkTrace(trace, 'forgettingScores');
  const n = trace.count;
  const E = trace.epochs.length;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let prev = -1;
    let events = 0;
    let learned = false;
    for (let e = 0; e < E; e++) {
      const rec = trace.epochs[e];
      if (!rec.presented[i]) continue;
      const acc = rec.correct[i];
      if (acc) learned = true;
      if (prev === 1 && acc === 0) events++;
      prev = acc;
    }
    out[i] = learned ? events : E;
  }
  return out;
}
