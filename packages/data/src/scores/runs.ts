import { PruneError } from '@prune/core';
import { checkFinite } from '../internal/validate.js';

/**
 * Normalises "one array or one array per run" to a list and checks each has `length` values.
 * @param name - option name, for messages
 */
export function runsOf(name: string, value: Float32Array | readonly Float32Array[] | undefined, length: number): readonly Float32Array[] {
  if (value === undefined) throw new PruneError('INVALID_ARGUMENT', `${name} is required`);
  const runs = value instanceof Float32Array ? [value] : value;
  if (runs.length === 0) throw new PruneError('INVALID_ARGUMENT', `${name} needs at least one run`);
  runs.forEach((r, i) => {
    if (!(r instanceof Float32Array) || r.length !== length) {
      throw new PruneError('SHAPE_MISMATCH', `${name}[${i}] must be a Float32Array of ${length} values, got ${r?.length}`);
    }
    checkFinite(`${name}[${i}]`, r);
  });
  return runs;
}
