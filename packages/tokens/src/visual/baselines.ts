import { PruneError, Random } from '@prune/core';
import { checkCount, checkGrid, checkKeep } from './common.js';

/** Options of {@link randomKeep}. */
export interface RandomKeepOptions {
  /** Number of patch tokens N. */
  count: number;
  /** Number kept. */
  keep: number;
  /** Source of randomness: a seeded `Random` of `@prune/core`, or a seed. */
  random: Random | number;
}

/**
 * Random baseline: `keep` distinct patch positions drawn uniformly.
 * @param options - count, budget, seed
 * @returns kept positions, ascending
 */
export function randomKeep(options: RandomKeepOptions): Int32Array {
  checkCount('randomKeep', options.count);
  checkKeep('randomKeep', options.keep, options.count);
  const rng = typeof options.random === 'number' ? new Random(options.random) : options.random;
  return Int32Array.from(rng.sample(options.count, options.keep)).sort();
}

/** Options of {@link uniformGridKeep}. */
export interface UniformGridOptions {
  /** Patch rows. */
  gridHeight: number;
  /** Patches per row. */
  gridWidth: number;
  /** Number kept. */
  keep: number;
}

/**
 * Uniform-grid baseline: a sub-grid of gh × gw patches at the centres of equal bands
 * (gh ≈ √(keep·H/W), gw = ⌊keep/gh⌋), then the `keep − gh·gw` remaining slots at evenly
 * spaced positions (raster order) among the patches not yet kept.
 * @param options - grid and budget
 * @returns kept positions, ascending
 */
export function uniformGridKeep(options: UniformGridOptions): Int32Array {
  const { gridHeight: h, gridWidth: w, keep } = options;
  if (!Number.isInteger(h) || h < 1) {
    throw new PruneError('INVALID_ARGUMENT', `uniformGridKeep: gridHeight ${h} must be a positive integer`);
  }
  checkGrid('uniformGridKeep', h * w, w, h);
  const n = h * w;
  checkKeep('uniformGridKeep', keep, n);
  if (keep === 0) return new Int32Array(0);
  const gh = Math.min(h, keep, Math.max(1, Math.round(Math.sqrt((keep * h) / w))));
  const gw = Math.min(w, Math.floor(keep / gh));
  const kept = new Uint8Array(n);
  let count = 0;
  for (let r = 0; r < gh; r++) {
    const row = Math.floor(((r + 0.5) * h) / gh);
    for (let c = 0; c < gw; c++) {
      const col = Math.floor(((c + 0.5) * w) / gw);
      kept[row * w + col] = 1;
      count++;
    }
  }
  const rest = keep - count;
  if (rest > 0) {
    const free: number[] = [];
    for (let i = 0; i < n; i++) if (!kept[i]) free.push(i);
    for (let k = 0; k < rest; k++) kept[free[Math.floor(((k + 0.5) * free.length) / rest)]] = 1;
  }
  const out: number[] = [];
  for (let i = 0; i < n; i++) if (kept[i]) out.push(i);
  return Int32Array.from(out);
}
