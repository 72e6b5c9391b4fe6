import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Backend, type ProgressCallback, PruneError, type Tensor, dispose, fromArray } from '@prune/core';
import {
  type MoePrunerReport,
  type MoeModelAdapter,
  chooseDemonstrations,
  distillExperts,
  expertStatistics,
  moePruner,
  removeExperts,
  saveMoeCheckpoint,
  selectTopExperts,
} from '@prune/moe';
import { BpeTokenizer, type BpeTokenizerJson, MoeModel, type MoeConfig, TEXT_SOURCES, calibrationSamples, loadMoeModelFolder, loadText, perplexity, zooModelFolder } from '@prune/zoo';
import type { WeightOptions } from './args.js';
import type { PerplexityTable } from './lm-job.js';

/** Zoo name of the shipped mixture-of-experts LM. */
export const ZOO_MOE_MODEL = 'moe';

/** Demonstrations EASY-EP reads at most (the reference's count). */
export const MAX_DEMONSTRATIONS = 25;

/** Sequences per distillation step. */
const DISTILL_BATCH = 2;

/** Parameter count and file size of a model. */
export interface ModelSize {
  /** Parameters (all tensors). */
  parameters: number;
  /** Bytes of its `model.safetensors` (float32). */
  fileBytes: number;
}

/** Result of a mixture-of-experts job. */
export interface MoeJobResult {
  /** `moe-pruner` or `easy-ep`. */
  method: string;
  /** Model description. */
  model: string;
  /** Backend used. */
  backend: string;
  /** Perplexity of the input model. */
  dense: PerplexityTable;
  /** Perplexity after pruning (and distillation, when run). */
  pruned: PerplexityTable;
  /** Perplexity after pruning, before distillation (only when distillation ran). */
  beforeDistillation?: PerplexityTable;
  /** Evaluation protocol. */
  evaluation: { window: number; stride: number; windowsPerSource: number; sources: string[] };
  /** Sizes of the input and the output. */
  size: { input: ModelSize; output: ModelSize };
  /** MoE-Pruner: pattern, achieved sparsity, per-linear report. */
  moePruner?: MoePrunerReport;
  /** MoE-Pruner: the distillation run. */
  distillation?: { steps: number; learningRate: number; batch: number; sequences: number; firstLoss: number; lastLoss: number; seconds: number };
  /** EASY-EP: demonstrations read, tokens, kept experts per layer and the scores they came from. */
  easyEp?: { demonstrations: number; tokens: number; keepExperts: number; experts: number; kept: number[][]; scores: number[][] };
  /** Wall time of pruning (and distillation), seconds. */
  seconds: number;
  /** Output folder. */
  output: string;
}

/**
 * Splits a demonstrations file: passages separated by blank lines when the file has any
 * blank line between text, otherwise one demonstration per line. Whitespace-only entries
 * are dropped.
 *
 * @param text - file contents
 * @returns the demonstrations, trimmed, in file order
 */
export function splitDemonstrations(text: string): string[] {
  const normalised = text.replace(/\r\n?/g, '\n').trim();
  const parts = /\n[ \t]*\n/.test(normalised) ? normalised.split(/\n[ \t]*\n+/) : normalised.split('\n');
  return parts.map((p) => p.trim()).filter((p) => p.length > 0);
}

/**
 * The folder of a MoE model named on the command line: the zoo name `moe`, or a folder with
 * `config.json`, `tokenizer.json` and safetensors weights.
 */
export async function resolveMoeFolder(model: string): Promise<{ folder: string; description: string; input?: string }> {
  if (model === ZOO_MOE_MODEL) {
    // The zoo ships its models side by side under weights/.
    return { folder: join(await zooModelFolder('lm'), '..', ZOO_MOE_MODEL), description: `zoo:${ZOO_MOE_MODEL}` };
  }
  if (model === 'lm') return { folder: await zooModelFolder('lm'), description: 'zoo:lm' };
  const info = await stat(model).catch(() => undefined);
  if (!info?.isDirectory()) {
    throw new PruneError('NOT_FOUND', `--model ${model}: the mixture-of-experts methods need the zoo model "${ZOO_MOE_MODEL}" or a folder with config.json, tokenizer.json and safetensors weights`);
  }
  return { folder: model, description: model, input: model };
}

async function readJson(file: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new PruneError('NOT_FOUND', `cannot read ${file}: ${(cause as Error).message}`, { cause });
  }
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch (cause) {
    throw new PruneError('CORRUPT_FILE', `${file} is not valid JSON`, { cause });
  }
}

function parameters(model: MoeModel): number {
  let n = 0;
  for (const t of model.weights().values()) n += t.size;
  return n;
}

async function fileBytes(folder: string): Promise<number> {
  return (await stat(join(folder, 'model.safetensors')).catch(() => undefined))?.size ?? 0;
}

function evaluate(model: MoeModel, evalTokens: Map<string, number[]>, windows: number): PerplexityTable {
  const bySource: Record<string, number> = {};
  let nll = 0;
  let tokens = 0;
  for (const [source, ids] of evalTokens) {
    const w = model.config.max_position_embeddings;
    const r = perplexity(model, ids, { window: w, stride: w, maxWindows: windows });
    bySource[source] = r.perplexity;
    nll += r.nll * r.tokens;
    tokens += r.tokens;
  }
  return { bySource, overall: Math.exp(nll / tokens) };
}

/**
 * Runs `--method moe-pruner` or `--method easy-ep` on a MoE model folder: prunes (MoE-Pruner
 * with optional expert-wise distillation, or EASY-EP expert selection and physical removal),
 * evaluates perplexity before and after on the zoo's held-out texts, and writes the model
 * (config.json, model.safetensors, tokenizer.json) into `staging`.
 *
 * @param folder - model folder
 * @param description - how reports name the model
 * @param options - parsed command options (with `moe` set)
 * @param staging - output folder being built
 * @param backend - compute backend
 * @param onProgress - progress events
 * @returns what was done and measured
 */
export async function runMoeJob(folder: string, description: string, options: WeightOptions, staging: string, backend: Backend, onProgress: ProgressCallback): Promise<MoeJobResult> {
  const moe = options.moe;
  if (moe === undefined) throw new PruneError('INVALID_ARGUMENT', 'runMoeJob needs --method moe-pruner or --method easy-ep');
  const raw = await readJson(join(folder, 'config.json'));
  if (typeof raw.num_local_experts !== 'number') {
    throw new PruneError(
      'UNSUPPORTED',
      `--method ${moe.method} needs a mixture-of-experts model, but ${description} has no num_local_experts in its config.json (a dense model); use --model ${ZOO_MOE_MODEL} or a Mixtral-style checkpoint, or prune this model with --method wanda`,
    );
  }
  const experts = raw.num_local_experts;
  const topK = typeof raw.num_experts_per_tok === 'number' ? raw.num_experts_per_tok : 2;
  const keepExperts = moe.keepExperts ?? Math.max(topK, Math.floor(experts / 2));
  if (moe.method === 'easy-ep' && (keepExperts > experts || keepExperts < topK)) {
    throw new PruneError('OUT_OF_RANGE', `--keep-experts ${keepExperts}: ${description} has ${experts} experts per layer and routes every token to ${topK}; choose K in ${topK}..${experts}`);
  }
  const tokenizer = new BpeTokenizer((await readJson(join(folder, 'tokenizer.json'))) as unknown as BpeTokenizerJson);
  // Read the demonstrations before the model, so a bad file fails fast.
  let demoTexts: string[] = [];
  if (moe.method === 'easy-ep') {
    let text: string;
    try {
      text = await readFile(moe.demos!, 'utf8');
    } catch (cause) {
      throw new PruneError('NOT_FOUND', `cannot read the demonstrations file ${moe.demos}: ${(cause as Error).message}`, { cause });
    }
    demoTexts = splitDemonstrations(text);
    if (demoTexts.length === 0) {
      throw new PruneError('INVALID_ARGUMENT', `the demonstrations file ${moe.demos} holds no demonstration (it is empty or only whitespace); write in-domain examples, one per line or separated by blank lines`);
    }
  }
  const { model: dense, config } = await loadMoeModelFolder(folder, { backend });
  const window = config.max_position_embeddings;
  const evalTokens = new Map<string, number[]>();
  for (const s of TEXT_SOURCES) evalTokens.set(s, tokenizer.encode(await loadText(s, 'test')));
  const evaluation = { window, stride: window, windowsPerSource: options.evalWindows, sources: [...TEXT_SOURCES] };
  const inputSize: ModelSize = { parameters: parameters(dense), fileBytes: await fileBytes(folder) };
  const denseTable = evaluate(dense, evalTokens, options.evalWindows);
  const started = performance.now();
  try {
    if (moe.method === 'easy-ep') {
      const tokenized = demoTexts.map((t) => tokenizer.encode(t).slice(0, window)).filter((ids) => ids.length > 0);
      const chosen = tokenized.length > MAX_DEMONSTRATIONS ? chooseDemonstrations(tokenized, MAX_DEMONSTRATIONS, options.seed) : tokenized;
      const demos = chosen.map((ids) => fromArray(Int32Array.from(ids), [ids.length], 'int32', { backend }));
      let stats;
      try {
        stats = expertStatistics(dense as MoeModelAdapter, demos);
      } finally {
        dispose(demos);
      }
      const kept = selectTopExperts(stats.easyEp, keepExperts, { minimum: topK });
      const smaller = removeExperts(dense as MoeModelAdapter & { readonly config: MoeConfig }, kept);
      const small = new MoeModel(smaller.config, smaller.tensors, `${description} (EASY-EP, ${keepExperts} of ${experts} experts)`, backend);
      try {
        const seconds = (performance.now() - started) / 1000;
        const pruned = evaluate(small, evalTokens, options.evalWindows);
        await saveMoeCheckpoint(staging, { config: { ...raw, num_local_experts: keepExperts } as unknown as MoeConfig, tensors: new Map(small.weights()) });
        await writeFile(join(staging, 'tokenizer.json'), await readFile(join(folder, 'tokenizer.json')));
        return {
          method: moe.method,
          model: description,
          backend: backend.name,
          dense: denseTable,
          pruned,
          evaluation,
          size: { input: inputSize, output: { parameters: parameters(small), fileBytes: await fileBytes(staging) } },
          easyEp: { demonstrations: stats.demonstrations, tokens: stats.tokens, keepExperts, experts, kept, scores: stats.easyEp },
          seconds,
          output: staging,
        };
      } finally {
        small.dispose();
      }
    }
    const target = options.pattern.kind === 'nm' ? ({ kind: 'nm', prune: options.pattern.n, group: options.pattern.m } as const) : ({ kind: 'unstructured', sparsity: options.sparsity } as const);
    const seqlen = options.seqlen ?? window;
    let calibTexts: string[];
    if (options.calib !== undefined) {
      try {
        calibTexts = [await readFile(options.calib, 'utf8')];
      } catch (cause) {
        throw new PruneError('NOT_FOUND', `cannot read the calibration text ${options.calib}: ${(cause as Error).message}`, { cause });
      }
    } else {
      calibTexts = await Promise.all(TEXT_SOURCES.map((s) => loadText(s, 'calib')));
    }
    const calibTokens = calibTexts.map((t) => tokenizer.encode(t));
    const student = new MoeModel(config, new Map([...dense.weights()].map(([n, t]) => [n, fromArray(t.dataSync() as Float32Array, t.shape, 'float32', { backend })])), `${description} (MoE-Pruner)`, backend);
    try {
      const report = await moePruner(student as MoeModelAdapter, {
        target,
        calibration: calibrationSamples(calibTokens, { nsamples: options.nsamples, seqlen, seed: options.seed }),
        nsamples: options.nsamples,
        propagate: options.propagate,
        onProgress,
      });
      let distillation: MoeJobResult['distillation'];
      let beforeDistillation: PerplexityTable | undefined;
      if (moe.distillSteps > 0) {
        beforeDistillation = evaluate(student, evalTokens, options.evalWindows);
        // Distillation windows: other windows of the calibration text (the next seed).
        const sequences: Tensor[] = [...calibrationSamples(calibTokens, { nsamples: options.nsamples, seqlen, seed: options.seed + 1 })];
        try {
          const kd = await distillExperts(dense as MoeModelAdapter, student as MoeModelAdapter, { calibration: sequences, steps: moe.distillSteps, batch: DISTILL_BATCH, learningRate: moe.distillLr, seed: options.seed, onProgress });
          distillation = { steps: kd.steps, learningRate: moe.distillLr, batch: DISTILL_BATCH, sequences: sequences.length, firstLoss: kd.losses[0], lastLoss: kd.losses[kd.losses.length - 1], seconds: kd.totalMs / 1000 };
        } finally {
          dispose(sequences);
        }
      }
      const seconds = (performance.now() - started) / 1000;
      const pruned = evaluate(student, evalTokens, options.evalWindows);
      await saveMoeCheckpoint(staging, { config: raw as unknown as MoeConfig, tensors: new Map(student.weights()) });
      await writeFile(join(staging, 'tokenizer.json'), await readFile(join(folder, 'tokenizer.json')));
      return {
        method: moe.method,
        model: description,
        backend: backend.name,
        dense: denseTable,
        pruned,
        ...(beforeDistillation !== undefined ? { beforeDistillation } : {}),
        evaluation,
        size: { input: inputSize, output: { parameters: parameters(student), fileBytes: await fileBytes(staging) } },
        moePruner: report,
        ...(distillation !== undefined ? { distillation } : {}),
        seconds,
        output: staging,
      };
    } finally {
      student.dispose();
    }
  } finally {
    dense.dispose();
  }
}
