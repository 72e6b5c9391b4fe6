import { stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { type ProgressCallback, PruneError, openCheckpointAdapter, referenceBackend } from '@prune/core';
import { type PruneReport, pruneModel } from '@prune/weights';
import type { WeightOptions } from './args.js';
import { patternLabel } from './lm-job.js';
import { resolveMethod } from './methods.js';

/** Result of pruning a safetensors checkpoint without calibration. */
export interface CheckpointJobResult {
  /** Input path. */
  model: string;
  /** Method name. */
  method: string;
  /** Pattern label. */
  pattern: string;
  /** Achieved sparsity over pruned layers. */
  sparsity: number;
  /** Input bytes on disk. */
  inputBytes: number;
  /** Output bytes on disk. */
  outputBytes: number;
  /** Wall time, seconds. */
  seconds: number;
  /** Pipeline report. */
  report: PruneReport;
}

/**
 * Prunes a safetensors checkpoint someone else made, data-free (magnitude methods), streaming
 * one tensor at a time into `staging`.
 */
export async function runCheckpointJob(input: string, options: WeightOptions, staging: string, onProgress: ProgressCallback): Promise<CheckpointJobResult[]> {
  const results: CheckpointJobResult[] = [];
  for (const name of options.methods) {
    const m = resolveMethod(name);
    if (m.calibrated) {
      throw new PruneError(
        'UNSUPPORTED',
        `--method ${name} needs calibration data, which a bare safetensors checkpoint cannot produce (no forward pass); use --method magnitude (or magnitude-row, magnitude-global), or a zoo-format folder with config.json and tokenizer.json`,
      );
    }
    const isDir = (await stat(input)).isDirectory();
    const out = options.methods.length > 1 ? join(staging, name) : staging;
    if (out !== staging) await (await import('node:fs/promises')).mkdir(out);
    const output = isDir || input.endsWith('.index.json') ? out : join(out, basename(input));
    const adapter = await openCheckpointAdapter(input, {
      // Data-free pruners run on the host; host weights let the pipeline prune each one in
      // place, so a checkpoint near the memory limit holds one copy of a layer at a time.
      backend: referenceBackend,
      output,
      compress: options.compress,
      nmPattern: options.pattern.kind === 'nm' ? { n: options.pattern.m - options.pattern.n, m: options.pattern.m } : undefined,
      onProgress,
    });
    const started = performance.now();
    try {
      const target = options.pattern.kind === 'nm' ? ({ kind: 'nm', prune: options.pattern.n, group: options.pattern.m } as const) : ({ kind: 'unstructured', sparsity: options.sparsity } as const);
      const report = await pruneModel(adapter, { method: m.method, target, onProgress });
      const written = await adapter.finish();
      results.push({
        model: input,
        method: name,
        pattern: patternLabel(options.pattern),
        sparsity: report.sparsity,
        inputBytes: written.inputBytes,
        outputBytes: written.bytes,
        seconds: (performance.now() - started) / 1000,
        report,
      });
    } catch (e) {
      await adapter.abort();
      throw e;
    }
  }
  return results;
}
