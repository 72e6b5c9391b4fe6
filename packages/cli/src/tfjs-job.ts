import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type ProgressCallback, PruneError, Random } from '@prune/core';
import { openTfjsModelAdapter } from '@prune/tfjs';
import { type PruneReport, pruneModel } from '@prune/weights';
import * as tf from '@tensorflow/tfjs-core';
import type { WeightOptions } from './args.js';
import { patternLabel } from './lm-job.js';
import { resolveMethod } from './methods.js';

/** How the pruned tfjs model's outputs compare with the dense model's. */
export interface OutputAgreement {
  /** Inputs compared (seeded uniform random values in [0, 1) of the model's input shape). */
  inputs: number;
  /** Fraction of inputs whose arg-max output is the same. */
  top1Agreement: number;
  /** Mean KL(dense ‖ pruned) of the output distributions (softmax of outputs that are not already probabilities). */
  meanKl: number;
}

/** Result of pruning a tfjs model folder. */
export interface TfjsJobResult {
  /** Input folder. */
  model: string;
  /** `layers-model` or `graph-model`. */
  format: string;
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
  /** Wall time of pruning and writing, seconds. */
  seconds: number;
  /** Dense vs pruned outputs, both loaded from their folders with stock tfjs. */
  agreement: OutputAgreement;
  /** Layers left dense, with the reason. */
  skipped: { name: string; reason: string }[];
  /** Pipeline report. */
  report: PruneReport;
}

/** Loads a tfjs model folder with stock tfjs (tf.io.fromMemory), as a user without tfjs-node does. */
async function loadStock(folder: string): Promise<{ predict: (x: tf.Tensor) => tf.Tensor; inputShape: number[]; dispose: () => void }> {
  let json: { modelTopology: Record<string, unknown>; weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[]; format?: string };
  try {
    json = JSON.parse(await readFile(join(folder, 'model.json'), 'utf8'));
  } catch (cause) {
    throw new PruneError('CORRUPT_FILE', `${join(folder, 'model.json')} cannot be read as JSON`, { cause });
  }
  const buffers: Buffer[] = [];
  const weightSpecs: tf.io.WeightsManifestEntry[] = [];
  for (const group of json.weightsManifest) {
    for (const p of group.paths) buffers.push(await readFile(join(folder, p)));
    weightSpecs.push(...group.weights);
  }
  const all = Buffer.concat(buffers);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer;
  const artifacts = { modelTopology: json.modelTopology, weightSpecs, weightData, format: json.format };
  if (json.format === 'graph-model') {
    const converter = await import('@tensorflow/tfjs-converter');
    const model = await converter.loadGraphModel(tf.io.fromMemory(artifacts));
    const shape = model.inputs[0].shape ?? [];
    return { predict: (x) => model.predict(x) as tf.Tensor, inputShape: shape.map((d) => (d === -1 || d === null ? 1 : d)), dispose: () => model.dispose() };
  }
  const layers = await import('@tensorflow/tfjs-layers');
  const model = await layers.loadLayersModel(tf.io.fromMemory(artifacts));
  const shape = model.inputs[0].shape;
  return { predict: (x) => model.predict(x) as tf.Tensor, inputShape: shape.map((d) => (d === null ? 1 : d)), dispose: () => model.dispose() };
}

function distributions(values: Float32Array, classes: number): Float64Array[] {
  const rows: Float64Array[] = [];
  for (let r = 0; r < values.length / classes; r++) {
    const row = Float64Array.from(values.subarray(r * classes, (r + 1) * classes));
    const isProb = row.every((v) => v >= 0) && Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-3;
    if (!isProb) {
      const max = Math.max(...row);
      let sum = 0;
      for (let i = 0; i < classes; i++) sum += row[i] = Math.exp(row[i] - max);
      for (let i = 0; i < classes; i++) row[i] /= sum;
    }
    rows.push(row);
  }
  return rows;
}

/** Top-1 agreement and mean KL of the two folders' outputs on `count` seeded random inputs. */
export async function compareOutputs(denseFolder: string, prunedFolder: string, count: number, seed: number): Promise<OutputAgreement> {
  const dense = await loadStock(denseFolder);
  const pruned = await loadStock(prunedFolder);
  try {
    const shape = [count, ...dense.inputShape.slice(1)];
    const rng = new Random(seed);
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1)).map(() => rng.uniform());
    const [a, b] = tf.tidy(() => {
      const x = tf.tensor(data, shape);
      return [dense.predict(x), pruned.predict(x)];
    });
    const classes = a.shape[a.shape.length - 1] ?? 1;
    const p = distributions(a.dataSync() as Float32Array, classes);
    const q = distributions(b.dataSync() as Float32Array, classes);
    tf.dispose([a, b]);
    let agree = 0;
    let kl = 0;
    const argmax = (r: Float64Array): number => r.indexOf(Math.max(...r));
    for (let i = 0; i < p.length; i++) {
      if (argmax(p[i]) === argmax(q[i])) agree++;
      for (let c = 0; c < classes; c++) if (p[i][c] > 0) kl += p[i][c] * Math.log(p[i][c] / Math.max(q[i][c], 1e-30));
    }
    return { inputs: p.length, top1Agreement: agree / p.length, meanKl: kl / p.length };
  } finally {
    dense.dispose();
    pruned.dispose();
  }
}

/**
 * Prunes a tfjs model folder someone else made, data-free (magnitude methods), writes the
 * pruned model in tfjs format into `staging`, reloads both with stock tfjs and compares their
 * outputs.
 */
export async function runTfjsJob(input: string, options: WeightOptions, staging: string, onProgress: ProgressCallback): Promise<TfjsJobResult[]> {
  const results: TfjsJobResult[] = [];
  for (const name of options.methods) {
    const m = resolveMethod(name);
    if (m.calibrated) {
      throw new PruneError(
        'UNSUPPORTED',
        `--method ${name} needs calibration data, and the command has none for a tfjs model folder; use --method magnitude (or magnitude-row, magnitude-global), or call pruneModel with your own samples`,
      );
    }
    if (options.compress) throw new PruneError('UNSUPPORTED', '--compress applies to safetensors output; a tfjs model folder is written in tfjs format');
    const out = options.methods.length > 1 ? join(staging, name) : staging;
    const adapter = await openTfjsModelAdapter(input, { output: out });
    const started = performance.now();
    let report: PruneReport;
    let written;
    try {
      const target = options.pattern.kind === 'nm' ? ({ kind: 'nm', prune: options.pattern.n, group: options.pattern.m } as const) : ({ kind: 'unstructured', sparsity: options.sparsity } as const);
      report = await pruneModel(adapter, { method: m.method, target, onProgress });
      written = await adapter.finish();
    } catch (e) {
      await adapter.abort();
      throw e;
    }
    const seconds = (performance.now() - started) / 1000;
    results.push({
      model: input,
      format: adapter.format,
      method: name,
      pattern: patternLabel(options.pattern),
      sparsity: report.sparsity,
      inputBytes: written.inputBytes ?? 0,
      outputBytes: written.bytes,
      seconds,
      agreement: await compareOutputs(input, out, 16, options.seed),
      skipped: adapter.skipped.map((s) => ({ name: s.name, reason: s.reason })),
      report,
    });
  }
  return results;
}
