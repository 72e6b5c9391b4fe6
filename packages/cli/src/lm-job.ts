import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type Backend,
  type ProgressCallback,
  type Tensor,
  encodeSparse,
  sparseByteReport,
  sparseToRawTensors,
  writeSafetensors,
  type SafetensorsTensorEntry,
} from '@prune/core';
import { type PruneReport, owlLayerSparsity, pruneModel } from '@prune/weights';
import {
  type BpeTokenizer,
  type LlamaModel,
  TEXT_SOURCES,
  calibrationSamples,
  loadLanguageModelFolder,
  loadText,
  perplexity,
} from '@prune/zoo';
import type { Pattern, WeightOptions } from './args.js';
import { type ResolvedMethod, resolveMethod } from './methods.js';

/** Perplexity per text source plus their token-weighted mean. */
export interface PerplexityTable {
  /** Per source. */
  bySource: Record<string, number>;
  /** exp of the token-weighted mean NLL over all sources. */
  overall: number;
}

/** Size accounting of a pruned model. */
export interface SizeReport {
  /** Dense float32 bytes of all weights. */
  denseBytes: number;
  /** Bytes when each pruned matrix is stored in its smallest sparse format (others dense). */
  sparseBytes: number;
  /** Formats chosen, counted. */
  formats: Record<string, number>;
  /** Size of the compressed file written with --compress, if any. */
  compressedFileBytes?: number;
}

/** One method's outcome in a run. */
export interface MethodResult {
  /** Command-line method name. */
  method: string;
  /** `unstructured` or `N:M`. */
  pattern: string;
  /** Achieved sparsity over the pruned layers. */
  sparsity: number;
  /** Perplexity after pruning. */
  perplexity: PerplexityTable;
  /** Sizes. */
  size: SizeReport;
  /** Wall time of pruning (calibration included), seconds. */
  seconds: number;
  /** OWL's per-block sparsity, when used. */
  owlSparsity?: number[];
  /** The pipeline's report (per-layer sparsity, options, calibration protocol, timings). */
  report: PruneReport;
  /** Output folder of this method's checkpoint. */
  output: string;
}

/** Result of the language-model job. */
export interface LmJobResult {
  /** Model description. */
  model: string;
  /** Backend used. */
  backend: string;
  /** Dense perplexity. */
  dense: PerplexityTable;
  /** Evaluation protocol. */
  evaluation: { window: number; stride: number; windowsPerSource: number; sources: string[] };
  /** Per method. */
  results: MethodResult[];
}

function targetOf(pattern: Pattern, sparsity: number) {
  return pattern.kind === 'nm' ? ({ kind: 'nm', prune: pattern.n, group: pattern.m } as const) : ({ kind: 'unstructured', sparsity } as const);
}

/** Human-readable pattern. */
export function patternLabel(pattern: Pattern): string {
  return pattern.kind === 'nm' ? `${pattern.n}:${pattern.m}` : 'unstructured';
}

function evaluate(model: LlamaModel, eval_: Map<string, number[]>, windows: number): PerplexityTable {
  const bySource: Record<string, number> = {};
  let nll = 0;
  let tokens = 0;
  for (const [source, ids] of eval_) {
    const r = perplexity(model, ids, { window: model.config.max_position_embeddings, stride: model.config.max_position_embeddings, maxWindows: windows });
    bySource[source] = r.perplexity;
    nll += r.nll * r.tokens;
    tokens += r.tokens;
  }
  return { bySource, overall: Math.exp(nll / tokens) };
}

function sizeOf(model: LlamaModel, prunable: Set<string>, pattern: Pattern): SizeReport {
  let denseBytes = 0;
  let sparseBytes = 0;
  const formats: Record<string, number> = {};
  const nm = pattern.kind === 'nm' ? [{ n: pattern.m - pattern.n, m: pattern.m }] : [{ n: 2, m: 4 }];
  for (const [name, w] of model.weights()) {
    denseBytes += w.size * 4;
    if (!prunable.has(name)) {
      sparseBytes += w.size * 4;
      continue;
    }
    const r = sparseByteReport(w, { nm });
    sparseBytes += r.best.bytes;
    formats[r.best.format] = (formats[r.best.format] ?? 0) + 1;
  }
  return { denseBytes, sparseBytes, formats };
}

async function writeCheckpoint(model: LlamaModel, folder: string, source: string): Promise<void> {
  const tensors = new Map<string, SafetensorsTensorEntry>();
  for (const [name, w] of model.weights()) tensors.set(name, { dtype: 'F32', shape: [...w.shape], data: w.dataSync() as Float32Array });
  await writeSafetensors(join(folder, 'model.safetensors'), tensors, { metadata: { format: 'pt' } });
  for (const file of ['config.json', 'tokenizer.json']) await writeFile(join(folder, file), await readFile(join(source, file)));
}

async function writeCompressed(model: LlamaModel, prunable: Set<string>, folder: string, options: WeightOptions): Promise<number> {
  const tensors = new Map<string, SafetensorsTensorEntry>();
  const metadata: Record<string, string> = { format: 'pt' };
  for (const [name, w] of model.weights()) {
    if (!prunable.has(name)) {
      tensors.set(name, { dtype: 'F32', shape: [...w.shape], data: w.dataSync() as Float32Array });
      continue;
    }
    const pattern = options.pattern;
    const request =
      options.compress === 'nm'
        ? { format: 'nm' as const, pattern: pattern.kind === 'nm' ? { n: pattern.m - pattern.n, m: pattern.m } : { n: 2, m: 4 } }
        : { format: (options.compress ?? 'csr') as 'csr' | 'bitmask' };
    const raw = sparseToRawTensors(name, encodeSparse(w, request));
    for (const [n, t] of Object.entries(raw.tensors)) tensors.set(n, { dtype: t.dtype, shape: t.shape, data: t.data });
    Object.assign(metadata, raw.metadata);
  }
  const file = join(folder, `model.${options.compress}.safetensors`);
  await writeSafetensors(file, tensors, { metadata });
  const { stat } = await import('node:fs/promises');
  return (await stat(file)).size;
}

/**
 * Prunes a language model (a zoo model or a folder with config.json, tokenizer.json and
 * safetensors weights) with each requested method, evaluates perplexity before and after
 * under one fixed protocol, and writes each pruned checkpoint and a report into `staging`.
 */
export async function runLmJob(
  folder: string,
  description: string,
  options: WeightOptions,
  staging: string,
  backend: Backend,
  onProgress: ProgressCallback,
): Promise<LmJobResult> {
  const methods = options.methods.map(resolveMethod);
  if (options.pattern.kind === 'nm' && methods.some((m) => m.owl)) {
    const { PruneError } = await import('@prune/core');
    throw new PruneError('INVALID_ARGUMENT', 'OWL allocates unstructured sparsity per block; use --pattern unstructured with owl-* methods');
  }
  const first = await loadLanguageModelFolder(folder, { backend });
  const { tokenizer, config } = first;
  const seqlen = options.seqlen ?? config.max_position_embeddings;
  const calibTexts = options.calib ? [await readText(options.calib)] : await Promise.all(TEXT_SOURCES.map((s) => loadText(s, 'calib')));
  const calibTokens = calibTexts.map((t) => tokenizer.encode(t));
  const evalTokens = new Map<string, number[]>();
  for (const s of TEXT_SOURCES) evalTokens.set(s, tokenizer.encode(await loadText(s, 'test')));
  const protocol = { data: options.calib ?? `zoo calibration text (${TEXT_SOURCES.join(', ')})`, nsamples: options.nsamples, seqlen, seed: options.seed };

  const dense = evaluate(first.model, evalTokens, options.evalWindows);
  const results: MethodResult[] = [];
  let model: LlamaModel | undefined = first.model;
  for (const m of methods) {
    model ??= (await loadLanguageModelFolder(folder, { backend })).model;
    const result = await pruneOne(model, m, options, protocol, calibTokens, evalTokens, folder, staging, methods.length > 1, onProgress);
    results.push(result);
    model.dispose();
    model = undefined;
  }
  return {
    model: description,
    backend: backend.name,
    dense,
    evaluation: { window: config.max_position_embeddings, stride: config.max_position_embeddings, windowsPerSource: options.evalWindows, sources: [...TEXT_SOURCES] },
    results,
  };
}

async function readText(path: string): Promise<string> {
  const { PruneError } = await import('@prune/core');
  try {
    return await readFile(path, 'utf8');
  } catch (cause) {
    throw new PruneError('NOT_FOUND', `cannot read the calibration text ${path}: ${(cause as Error).message}`, { cause });
  }
}

async function pruneOne(
  model: LlamaModel,
  m: ResolvedMethod,
  options: WeightOptions,
  protocol: { data: string; nsamples: number; seqlen: number; seed: number },
  calibTokens: number[][],
  evalTokens: Map<string, number[]>,
  source: string,
  staging: string,
  several: boolean,
  onProgress: ProgressCallback,
): Promise<MethodResult> {
  const target = targetOf(options.pattern, options.sparsity);
  const samples = (): Iterable<Tensor> => calibrationSamples(calibTokens, protocol);
  const started = performance.now();
  let owlSparsity: number[] | undefined;
  if (m.owl) {
    owlSparsity = (await owlLayerSparsity(model, { sparsity: options.sparsity, calibration: samples(), nsamples: options.nsamples, onProgress })).sparsity.slice();
  }
  const report = await pruneModel(model, {
    method: m.method,
    target,
    calibration: m.calibrated ? samples() : undefined,
    nsamples: options.nsamples,
    propagate: options.propagate,
    layerSparsity: owlSparsity,
    protocol,
    onProgress,
  });
  const seconds = (performance.now() - started) / 1000;
  const prunable = new Set(report.layers.map((l) => `${l.name}.weight`));
  const ppl = evaluate(model, evalTokens, options.evalWindows);
  const out = several ? join(staging, m.name) : staging;
  if (several) await (await import('node:fs/promises')).mkdir(out);
  await writeCheckpoint(model, out, source);
  const size = sizeOf(model, prunable, options.pattern);
  if (options.compress) size.compressedFileBytes = await writeCompressed(model, prunable, out, options);
  return { method: m.name, pattern: patternLabel(options.pattern), sparsity: report.sparsity, perplexity: ppl, size, seconds, owlSparsity, report, output: out };
}

/** Tokenizer type re-exported for callers that evaluate separately. */
export type { BpeTokenizer };
