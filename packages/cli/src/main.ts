import { stat, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { PruneError } from '@prune/core';
import { setPruneThreads } from '@prune/weights';
import { ZOO_LANGUAGE_MODELS, type ZooLanguageModelName, zooModelFolder } from '@prune/zoo';
import { HELP, type WeightOptions, parseWeightArgs } from './args.js';
import { selectBackend } from './backend.js';
import { runDataCommand } from './data-job.js';
import { type ChannelJobResult, runChannelJob } from './channel-job.js';
import { type CheckpointJobResult, runCheckpointJob } from './checkpoint-job.js';
import { type LmJobResult, runLmJob } from './lm-job.js';
import { type MoeJobResult, resolveMoeFolder, runMoeJob } from './moe-job.js';
import { type TfjsJobResult, runTfjsJob } from './tfjs-job.js';
import { checkOutputAgainstInput, withStagedOutput } from './output.js';
import { createProgressDisplay } from './progress.js';
import { formatBytes, formatSeconds, formatTable } from './table.js';

/** Where the command writes; injectable for tests. */
export interface CommandIo {
  /** Standard output (tables, JSON). */
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  /** Standard error (progress, errors). */
  stderr: NodeJS.WriteStream;
}

/** What kind of model `--model` names. */
type ModelSource =
  | { kind: 'lm'; folder: string; description: string; input?: string }
  | { kind: 'checkpoint'; path: string }
  | { kind: 'tfjs'; path: string };

async function resolveModel(model: string): Promise<ModelSource> {
  if ((ZOO_LANGUAGE_MODELS as readonly string[]).includes(model)) {
    return { kind: 'lm', folder: await zooModelFolder(model as ZooLanguageModelName), description: `zoo:${model}` };
  }
  const info = await stat(model).catch(() => undefined);
  if (!info) {
    throw new PruneError('NOT_FOUND', `--model ${model} is neither a zoo model (${ZOO_LANGUAGE_MODELS.join(', ')}) nor an existing file or folder`);
  }
  if (info.isFile() && model.endsWith('model.json')) return { kind: 'tfjs', path: join(model, '..') };
  if (info.isDirectory()) {
    const has = async (f: string): Promise<boolean> => stat(join(model, f)).then((s) => s.isFile(), () => false);
    if ((await has('config.json')) && (await has('tokenizer.json'))) return { kind: 'lm', folder: model, description: model, input: model };
    if (await has('model.json')) return { kind: 'tfjs', path: model };
  }
  return { kind: 'checkpoint', path: model };
}

function lmTable(r: LmJobResult): string {
  const rows = [
    ['dense', '—', '0.0%', r.dense.overall.toFixed(2), r.dense.overall.toFixed(2), formatBytes(r.results[0]?.size.denseBytes ?? 0), '—'],
    ...r.results.map((m) => [
      m.method,
      m.pattern,
      `${(m.sparsity * 100).toFixed(1)}%`,
      r.dense.overall.toFixed(2),
      m.perplexity.overall.toFixed(2),
      `${formatBytes(m.size.sparseBytes)}${m.size.compressedFileBytes ? ` (file ${formatBytes(m.size.compressedFileBytes)})` : ''}`,
      formatSeconds(m.seconds),
    ]),
  ];
  const main = formatTable(
    [
      { header: 'method' },
      { header: 'pattern' },
      { header: 'sparsity', align: 'right' },
      { header: 'ppl before', align: 'right' },
      { header: 'ppl after', align: 'right' },
      { header: 'size (sparse)', align: 'right' },
      { header: 'time', align: 'right' },
    ],
    rows,
  );
  const sources = Object.keys(r.dense.bySource);
  const perSource = formatTable(
    [{ header: 'perplexity' }, ...sources.map((s) => ({ header: s, align: 'right' as const }))],
    [['dense', ...sources.map((s) => r.dense.bySource[s].toFixed(2))], ...r.results.map((m) => [m.method, ...sources.map((s) => m.perplexity.bySource[s].toFixed(2))])],
  );
  const e = r.evaluation;
  return `${main}\n\n${perSource}\n\nmodel ${r.model} · backend ${r.backend} · evaluation: ${e.windowsPerSource} windows of ${e.window} tokens per source (stride ${e.stride}) on the held-out split`;
}

function checkpointTable(results: CheckpointJobResult[]): string {
  return formatTable(
    [{ header: 'method' }, { header: 'pattern' }, { header: 'sparsity', align: 'right' }, { header: 'input', align: 'right' }, { header: 'output', align: 'right' }, { header: 'time', align: 'right' }],
    results.map((r) => [r.method, r.pattern, `${(r.sparsity * 100).toFixed(1)}%`, formatBytes(r.inputBytes), formatBytes(r.outputBytes), formatSeconds(r.seconds)]),
  );
}

function tfjsTable(results: TfjsJobResult[]): string {
  const table = formatTable(
    [
      { header: 'method' },
      { header: 'pattern' },
      { header: 'sparsity', align: 'right' },
      { header: 'top-1 agreement', align: 'right' },
      { header: 'KL', align: 'right' },
      { header: 'input', align: 'right' },
      { header: 'output', align: 'right' },
      { header: 'time', align: 'right' },
    ],
    results.map((r) => [
      r.method,
      r.pattern,
      `${(r.sparsity * 100).toFixed(1)}%`,
      `${(r.agreement.top1Agreement * 100).toFixed(0)}%`,
      r.agreement.meanKl.toFixed(4),
      formatBytes(r.inputBytes),
      formatBytes(r.outputBytes),
      formatSeconds(r.seconds),
    ]),
  );
  const first = results[0];
  return `${table}\n\n${first.format} ${first.model} · ${first.skipped.length} layers left dense (see report.json) · agreement and KL of dense vs pruned outputs, both reloaded with stock tfjs, on ${first.agreement.inputs} seeded random inputs`;
}

function moeTable(r: MoeJobResult): string {
  const sources = Object.keys(r.dense.bySource);
  const rows = [['dense', ...sources.map((s) => r.dense.bySource[s].toFixed(2)), r.dense.overall.toFixed(2), String(r.size.input.parameters), formatBytes(r.size.input.fileBytes)]];
  const label = r.easyEp ? `easy-ep (${r.easyEp.keepExperts} of ${r.easyEp.experts} experts)` : `moe-pruner ${r.moePruner!.pattern}`;
  if (r.beforeDistillation) rows.push([label, ...sources.map((s) => r.beforeDistillation!.bySource[s].toFixed(2)), r.beforeDistillation.overall.toFixed(2), '', '']);
  rows.push([
    r.distillation ? `${label} + ${r.distillation.steps} distillation steps` : label,
    ...sources.map((s) => r.pruned.bySource[s].toFixed(2)),
    r.pruned.overall.toFixed(2),
    String(r.size.output.parameters),
    formatBytes(r.size.output.fileBytes),
  ]);
  const table = formatTable(
    [{ header: 'model' }, ...sources.map((s) => ({ header: s, align: 'right' as const })), { header: 'all', align: 'right' }, { header: 'parameters', align: 'right' }, { header: 'file', align: 'right' }],
    rows,
  );
  const e = r.evaluation;
  const detail = r.easyEp
    ? `kept experts per layer: ${r.easyEp.kept.map((k) => `[${k.join(' ')}]`).join(' ')} (from ${r.easyEp.demonstrations} demonstrations, ${r.easyEp.tokens} tokens)`
    : `sparsity of the pruned linears ${(r.moePruner!.sparsity * 100).toFixed(1)}%${r.distillation ? `; distillation loss ${r.distillation.firstLoss.toFixed(4)} → ${r.distillation.lastLoss.toFixed(4)}` : ''}`;
  return `${table}\n\n${detail}\nmodel ${r.model} · backend ${r.backend} · ${formatSeconds(r.seconds)} · perplexity: ${e.windowsPerSource} windows of ${e.window} tokens per source (stride ${e.stride}) on the held-out split`;
}

async function runMoe(options: WeightOptions, io: CommandIo): Promise<void> {
  const source = await resolveMoeFolder(options.model);
  const out = resolve(options.out);
  await checkOutputAgainstInput(out, source.input);
  const backend = await selectBackend(options.backend);
  const progress = createProgressDisplay(io.stderr, !options.json);
  let report: unknown;
  let table = '';
  try {
    await withStagedOutput(out, async (staging) => {
      const r = await runMoeJob(source.folder, source.description, options, staging, backend, progress.onProgress);
      r.output = relative(process.cwd(), out) || '.';
      report = { command: 'prune', options, ...r };
      table = moeTable(r);
      await writeFile(join(staging, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
    });
  } finally {
    progress.stop();
  }
  if (options.json) io.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else io.stdout.write(`\n${table}\n\nwrote ${relative(process.cwd(), out) || '.'}/ (model, tokenizer and report.json)\n`);
}

function channelTable(r: ChannelJobResult): string {
  const row = (name: string, m: ChannelJobResult['before']) => [name, String(m.parameters), `${(m.macs / 1e6).toFixed(1)} M`, formatBytes(m.fileBytes), `${m.latencyMs.toFixed(1)} ms`];
  const table = formatTable(
    [{ header: 'model' }, { header: 'parameters', align: 'right' }, { header: 'MACs', align: 'right' }, { header: 'file', align: 'right' }, { header: 'latency (median)', align: 'right' }],
    [row('dense', r.before), row(`channel ${r.criterion} ${(r.ratio * 100).toFixed(0)}%${r.global ? ' global' : ''}`, r.after)],
  );
  return `${table}\n\nremoved ${r.removedChannels} of ${r.prunableChannels} removable channels in ${r.groups} dependency groups (${r.layers.length} layers narrower, ${r.blocked.length} kept intact) · top-1 agreement ${(r.agreement.top1Agreement * 100).toFixed(0)}%, KL ${r.agreement.meanKl.toFixed(4)} on ${r.agreement.inputs} seeded random inputs · tfjs ${r.tfjsBackend} · ${formatSeconds(r.seconds)}`;
}

async function runChannel(options: WeightOptions, io: CommandIo): Promise<void> {
  const source = await resolveModel(options.model);
  if (source.kind !== 'tfjs') throw new PruneError('INVALID_ARGUMENT', `--method channel prunes a tfjs LayersModel folder (model.json + weight shards); --model ${options.model} is not one`);
  const out = resolve(options.out);
  await checkOutputAgainstInput(out, source.path);
  let report: unknown;
  let table = '';
  await withStagedOutput(out, async (staging) => {
    const r = await runChannelJob(source.path, options, staging);
    report = { command: 'prune', options, ...r };
    table = channelTable(r);
    await writeFile(join(staging, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
  });
  if (options.json) io.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else io.stdout.write(`\n${table}\n\nwrote ${relative(process.cwd(), out) || '.'}/ (smaller tfjs model and report.json)\n`);
}

async function runWeights(options: WeightOptions, io: CommandIo): Promise<void> {
  if (options.threads !== undefined) setPruneThreads(options.threads);
  if (options.moe !== undefined) return runMoe(options, io);
  if (options.channel !== undefined) return runChannel(options, io);
  const source = await resolveModel(options.model);
  const out = resolve(options.out);
  await checkOutputAgainstInput(out, source.kind === 'lm' ? source.input : source.path);
  const backend = await selectBackend(options.backend);
  const progress = createProgressDisplay(io.stderr, !options.json);
  let report: unknown;
  let table: string;
  try {
    await withStagedOutput(out, async (staging) => {
      if (source.kind === 'lm') {
        const r = await runLmJob(source.folder, source.description, options, staging, backend, progress.onProgress);
        for (const m of r.results) m.output = relative(process.cwd(), join(out, relative(staging, m.output))) || '.';
        report = { command: 'prune', options, ...r };
        table = lmTable(r);
      } else if (source.kind === 'tfjs') {
        const r = await runTfjsJob(source.path, options, staging, progress.onProgress);
        report = { command: 'prune', options, backend: backend.name, results: r };
        table = tfjsTable(r);
      } else {
        const r = await runCheckpointJob(source.path, options, staging, progress.onProgress);
        report = { command: 'prune', options, backend: backend.name, results: r };
        table = checkpointTable(r);
      }
      await writeFile(join(staging, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
    });
  } finally {
    progress.stop();
  }
  if (options.json) io.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else io.stdout.write(`\n${table!}\n\nwrote ${relative(process.cwd(), out) || '.'}/ (pruned checkpoint and report.json)\n`);
}

/**
 * Runs the `prune` command with `argv` (arguments after the command name). Returns the exit
 * code: 0 on success, 2 for invalid arguments, 1 for other errors (the message says what to
 * change); the input is never modified and no partial output is left.
 */
export async function main(argv: readonly string[], io: CommandIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  try {
    if (argv[0] === 'data') {
      await runDataCommand(argv.slice(1), io.stdout);
      return 0;
    }
    const parsed = parseWeightArgs(argv);
    if (parsed.help) {
      io.stdout.write(HELP);
      return 0;
    }
    await runWeights(parsed.options, io);
    return 0;
  } catch (e) {
    if (e instanceof PruneError) {
      io.stderr.write(`prune: error [${e.code}]: ${e.message}\n`);
      return e.code === 'INVALID_ARGUMENT' || e.code === 'OUT_OF_RANGE' ? 2 : 1;
    }
    io.stderr.write(`prune: unexpected failure: ${(e as Error)?.stack ?? String(e)}\n`);
    return 1;
  }
}
