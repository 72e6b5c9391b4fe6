import { PruneError, Random, type Tensor, fromArray } from '@prune/core';
import type { BpeTokenizer } from './tokenizer.js';

/** The four public-domain text sources ("domains") the zoo language models were trained on. */
export const TEXT_SOURCES = ['kjv', 'austen', 'moby-dick', 'sotu'] as const;

/** One text source. */
export type TextSource = (typeof TEXT_SOURCES)[number];

/**
 * Shipped splits of each source: `test` is the held-out last 5% of the cleaned text (used
 * only for evaluation); `calib` is the last 120 kB of the training split (calibration data
 * for pruning).
 */
export type TextSplit = 'test' | 'calib';

/** Checks `name` is a {@link TextSource}. */
export function checkTextSource(name: string): TextSource {
  if (!(TEXT_SOURCES as readonly string[]).includes(name)) {
    throw new PruneError('INVALID_ARGUMENT', `unknown text source "${name}"; choose from ${TEXT_SOURCES.join(', ')}`);
  }
  return name as TextSource;
}

/** Reads a shipped split of `source` (Node only: the files live in the package's data/ folder). */
export async function loadText(source: TextSource, split: TextSplit): Promise<string> {
  checkTextSource(source);
  const [{ readFile }, { gunzipSync }] = await Promise.all([import('node:fs/promises'), import('node:zlib')]);
  const url = new URL(`../data/${source}.${split}.txt.gz`, import.meta.url);
  return gunzipSync(await readFile(url)).toString('utf8');
}

/** How calibration samples are drawn (recorded in pruning reports). */
export interface CalibrationProtocol {
  /** Text the samples come from (source names or a file path). */
  data: string;
  /** Number of samples. */
  nsamples: number;
  /** Tokens per sample. */
  seqlen: number;
  /** Seed of the random windows. */
  seed: number;
}

/**
 * Draws `nsamples` windows of `seqlen` tokens at seeded random positions, as the reference
 * Wanda/SparseGPT code draws C4 windows. With several texts, sample i comes from text
 * i mod (number of texts), so every source is represented equally. Yields int32 `[seqlen]`
 * tensors one at a time (the caller disposes each).
 */
export function* calibrationSamples(
  tokens: readonly (readonly number[])[],
  protocol: Pick<CalibrationProtocol, 'nsamples' | 'seqlen' | 'seed'>,
): Generator<Tensor> {
  const { nsamples, seqlen, seed } = protocol;
  if (!Number.isInteger(nsamples) || nsamples < 1) throw new PruneError('OUT_OF_RANGE', `nsamples must be a positive integer, got ${nsamples}`);
  if (!Number.isInteger(seqlen) || seqlen < 2) throw new PruneError('OUT_OF_RANGE', `seqlen must be an integer ≥ 2, got ${seqlen}`);
  if (tokens.length === 0) throw new PruneError('INVALID_ARGUMENT', 'calibration needs at least one text');
  for (const [i, t] of tokens.entries()) {
    if (t.length <= seqlen) throw new PruneError('OUT_OF_RANGE', `calibration text ${i} has ${t.length} tokens, fewer than seqlen ${seqlen} + 1; give more text or a shorter seqlen`);
  }
  const rng = new Random(seed);
  for (let s = 0; s < nsamples; s++) {
    const t = tokens[s % tokens.length];
    const start = rng.int(t.length - seqlen);
    yield fromArray(Int32Array.from(t.slice(start, start + seqlen)), [seqlen], 'int32');
  }
}

/** Tokenizes each text once (helper for {@link calibrationSamples}). */
export function tokenizeAll(tokenizer: BpeTokenizer, texts: readonly string[]): number[][] {
  return texts.map((t) => tokenizer.encode(t));
}
