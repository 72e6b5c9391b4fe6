// MoE-Pruner vs. Wanda vs. magnitude on the trained zoo MoE LM (8 experts, top-2) at 50%
// unstructured and 2:4, per-domain perplexity, each with and without expert-wise
// distillation from the dense model afterwards. Every linear (attention and experts) is
// pruned by every method; the router, embeddings and head stay dense.
//
// Usage: node bench/moe-quality.mjs [--backend tfjs-wasm] [--eval-windows 8] [--nsamples 32]
//          [--distill-steps 50] [--distill-lr 3e-4] [--distill-batch 2] [--output-weight 0]
//          [--configs 50%,2:4] [--methods magnitude,wanda,moe-pruner] [--part NAME]
//        node bench/moe-quality.mjs --merge A,B   (combine parts run in parallel processes)
// Writes bench/results/moe-quality.json (or bench/results/moe-quality.NAME.json with --part).
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { clone, setBackend, getBackend } from '../packages/core/dist/index.js';
import { registerTfjsBackends } from '../packages/tfjs/dist/index.js';
import { BpeTokenizer, MoeModel, TEXT_SOURCES, calibrationSamples, loadMoeModelFolder, loadText, perplexity } from '../packages/zoo/dist/index.js';
import { magnitude, pruneModel, wanda } from '../packages/weights/dist/index.js';
import { distillExperts, expertDistillationLoss, moePruner } from '../packages/moe/dist/index.js';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'tfjs-wasm' },
    'eval-windows': { type: 'string', default: '8' },
    nsamples: { type: 'string', default: '32' },
    'distill-steps': { type: 'string', default: '50' },
    'distill-lr': { type: 'string', default: '3e-4' },
    'distill-batch': { type: 'string', default: '2' },
    'distill-samples': { type: 'string', default: '128' },
    'output-weight': { type: 'string', default: '0' },
    'monitor-samples': { type: 'string', default: '8' },
    configs: { type: 'string', default: '50%,2:4' },
    methods: { type: 'string', default: 'magnitude,wanda,moe-pruner' },
    part: { type: 'string' },
    merge: { type: 'string' },
  },
});
const fmt = (x) => x.toFixed(2);
const markdown = (header, lines) => {
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  return [header, widths.map((w) => '-'.repeat(w)), ...lines].map((l) => `| ${l.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`).join('\n');
};
function printTables(result) {
  const sources = Object.keys(result.dense.bySource);
  const steps = result.distillation.steps;
  const lines = [['—', 'dense', '—', fmt(result.dense.overall), ...sources.map((s) => fmt(result.dense.bySource[s]))]];
  for (const r of result.rows) {
    lines.push([r.config, r.method, 'no', fmt(r.pruned.overall), ...sources.map((s) => fmt(r.pruned.bySource[s]))]);
    lines.push([r.config, r.method, `${steps} steps`, fmt(r.distilled.overall), ...sources.map((s) => fmt(r.distilled.bySource[s]))]);
  }
  console.log(markdown(['pattern', 'method', 'KD', 'ppl (all)', ...sources], lines));
  const kdLines = result.rows.map((r) => [
    r.config,
    r.method,
    `${r.distill.firstLoss.toFixed(3)} → ${r.distill.lastLoss.toFixed(3)}`,
    `${r.distill.monitorBefore.expertMse.toFixed(3)} → ${r.distill.monitorAfter.expertMse.toFixed(3)}`,
    `${r.distill.monitorBefore.ce.toFixed(3)} → ${r.distill.monitorAfter.ce.toFixed(3)}`,
    `${r.pruneSeconds.toFixed(0)} s`,
    `${r.distill.seconds.toFixed(0)} s`,
  ]);
  console.log(`\n${markdown(['pattern', 'method', 'KD loss, first → last step', 'held-out expert MSE before → after KD', 'held-out CE before → after KD', 'prune time', 'KD time'], kdLines)}`);
}
if (values.merge !== undefined) {
  const parts = await Promise.all(values.merge.split(',').map(async (p) => JSON.parse(await readFile(new URL(`./results/moe-quality.${p}.json`, import.meta.url), 'utf8'))));
  const merged = { ...parts[0], rows: parts.flatMap((p) => p.rows), totalSeconds: Math.max(...parts.map((p) => p.totalSeconds)), parts: values.merge.split(',') };
  await writeFile(new URL('./results/moe-quality.json', import.meta.url), `${JSON.stringify(merged, null, 2)}\n`);
  printTables(merged);
  process.exit(0);
}
if (values.backend !== 'reference') {
  registerTfjsBackends();
  await setBackend(values.backend);
}
const evalWindows = Number(values['eval-windows']);
const nsamples = Number(values.nsamples);
const steps = Number(values['distill-steps']);
const folder = fileURLToPath(new URL('../packages/zoo/weights/moe/', import.meta.url));
const tokenizer = new BpeTokenizer(JSON.parse(await readFile(`${folder}tokenizer.json`, 'utf8')));
const evalTokens = new Map();
for (const s of TEXT_SOURCES) evalTokens.set(s, tokenizer.encode(await loadText(s, 'test')));
const calibTokens = await Promise.all(TEXT_SOURCES.map(async (s) => tokenizer.encode(await loadText(s, 'calib'))));
const { model: dense, config } = await loadMoeModelFolder(folder);
const window = config.max_position_embeddings;

function evaluate(model) {
  const bySource = {};
  let nll = 0;
  let tokens = 0;
  for (const [source, ids] of evalTokens) {
    const r = perplexity(model, ids, { window, stride: window, maxWindows: evalWindows });
    bySource[source] = r.perplexity;
    nll += r.nll * r.tokens;
    tokens += r.tokens;
  }
  return { bySource, overall: Math.exp(nll / tokens) };
}

const copy = () => new MoeModel(config, new Map([...dense.weights()].map(([n, t]) => [n, clone(t)])), 'moe-student');
const calibration = () => calibrationSamples(calibTokens, { nsamples, seqlen: window, seed: 0 });
// Distillation sequences: other windows of the same calibration text (seed 1), never the test split.
const distillData = [...calibrationSamples(calibTokens, { nsamples: Number(values['distill-samples']), seqlen: window, seed: 1 })];
const monitor = [...calibrationSamples(calibTokens, { nsamples: Number(values['monitor-samples']), seqlen: window, seed: 2 })];
const kdMonitor = (student) => {
  let ce = 0;
  let mse = 0;
  for (const ids of monitor) {
    const r = expertDistillationLoss(dense, student, ids);
    ce += r.ce / monitor.length;
    mse += r.expertMse / monitor.length;
  }
  return { ce, expertMse: mse };
};

const targets = { '50%': { kind: 'unstructured', sparsity: 0.5 }, '2:4': { kind: 'nm', prune: 2, group: 4 } };
const prune = {
  magnitude: (m, target) => pruneModel(m, { method: magnitude({ scope: 'matrix' }), target }),
  wanda: (m, target) => pruneModel(m, { method: wanda(), target, calibration: calibration(), nsamples }),
  'moe-pruner': (m, target) => moePruner(m, { target, calibration: calibration(), nsamples, attention: 'wanda' }),
};

const started = Date.now();
const log = (msg) => console.error(`[${Math.round((Date.now() - started) / 1000)} s] ${msg}`);
const denseEval = evaluate(dense);
log(`dense ${denseEval.overall.toFixed(2)}`);
const rows = [];
const resultsUrl = new URL(`./results/moe-quality${values.part ? `.${values.part}` : ''}.json`, import.meta.url);
await mkdir(new URL('./results/', import.meta.url), { recursive: true });
const save = () =>
  writeFile(
    resultsUrl,
    `${JSON.stringify(
      {
        model: 'zoo MoE LM (weights/moe: 4 blocks, d=128, 8 experts top-2)',
        backend: getBackend().name,
        evaluation: { window, stride: window, windowsPerSource: evalWindows, split: 'test' },
        calibration: { nsamples, seqlen: window, seed: 0, data: 'zoo calibration text, all four sources' },
        monitor: { sequences: monitor.length, seed: 2, data: 'calibration text windows (not used for pruning or distillation)' },
        distillation: { steps, learningRate: Number(values['distill-lr']), batch: Number(values['distill-batch']), sequences: distillData.length, seed: 1, lambda: 1, outputWeight: Number(values['output-weight']) },
        dense: denseEval,
        rows,
        totalSeconds: (Date.now() - started) / 1000,
      },
      null,
      2,
    )}\n`,
  );
for (const label of values.configs.split(',')) {
  for (const method of values.methods.split(',')) {
    const student = copy();
    const t0 = performance.now();
    await prune[method](student, targets[label]);
    const pruneSeconds = (performance.now() - t0) / 1000;
    const pruned = evaluate(student);
    const before = kdMonitor(student);
    log(`${label} ${method}: ${pruned.overall.toFixed(2)} (prune ${pruneSeconds.toFixed(1)} s)`);
    const kd = await distillExperts(dense, student, {
      calibration: distillData,
      steps,
      batch: Number(values['distill-batch']),
      learningRate: Number(values['distill-lr']),
      outputWeight: Number(values['output-weight']),
    });
    const distilled = evaluate(student);
    const after = kdMonitor(student);
    log(`${label} ${method} + KD: ${distilled.overall.toFixed(2)} (${(kd.totalMs / 1000).toFixed(0)} s, loss ${kd.losses[0].toFixed(4)} → ${kd.losses.at(-1).toFixed(4)})`);
    rows.push({
      config: label,
      method,
      pruneSeconds,
      pruned,
      distilled,
      distill: { seconds: kd.totalMs / 1000, firstLoss: kd.losses[0], lastLoss: kd.losses.at(-1), losses: kd.losses, monitorBefore: before, monitorAfter: after },
    });
    student.dispose();
    await save();
  }
}

await save();
printTables(JSON.parse(await readFile(resultsUrl, 'utf8')));
