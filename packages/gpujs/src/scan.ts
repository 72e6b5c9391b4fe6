import type { TypedArray } from '@prune/core';

/** What one pass over an array tells about whether a float32 kernel can treat it exactly. */
export interface ValueScan {
  /** No NaN and no ±Infinity. */
  readonly finite: boolean;
  /** Largest |v| over finite values (0 for an empty array). */
  readonly maxAbs: number;
  /** Smallest non-zero |v| (Infinity when there is none). */
  readonly minNonZeroAbs: number;
  /** Smallest value (Infinity for an empty array). */
  readonly min: number;
  /** Whether some element is ±0. */
  readonly hasZero: boolean;
}

/** Scans `values` once. */
export function scanValues(values: TypedArray): ValueScan {
  let finite = true;
  let maxAbs = 0;
  let minNonZeroAbs = Infinity;
  let min = Infinity;
  let hasZero = false;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v - v !== 0) {
      finite = false;
      continue;
    }
    if (v < min) min = v;
    const a = v < 0 ? -v : v;
    if (a > maxAbs) maxAbs = a;
    if (a === 0) hasZero = true;
    else if (a < minNonZeroAbs) minNonZeroAbs = a;
  }
  return { finite, maxAbs, minNonZeroAbs, min, hasZero };
}
