import { Random } from '@prune/core';
import { checkInteger } from '../internal/validate.js';

/**
 * Random scores: i.i.d. uniform in [0, 1), the baseline every data-pruning score is measured
 * against. Selecting the top fraction of these is a uniform random subset.
 *
 * @param count - number of examples
 * @param seed - seed of the stream
 * @defaultValue seed `0`
 * @returns one score per example
 */
export function randomScores(count: number, seed = 0): Float32Array {
  checkInteger('count', count, 0);
  const rng = new Random(seed);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = rng.uniform();
  return out;
}
