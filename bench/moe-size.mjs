// Size and forward-pass time of the expert-pruned zoo MoE LM vs. the dense one, in the same
// run: EASY-EP keeps 4 of 8 experts per layer (25 demonstrations of one domain), removeExperts
// makes the model physically smaller; parameters, safetensors file bytes, and forward time of
// a [batch, 128] batch for the dense model, the routing-masked model and the smaller model,
// interleaved round by round (medians and ratios). Also checks that the smaller model's
// logits equal the masked model's.
//
// Usage: node bench/moe-size.mjs [--backend tfjs-wasm] [--rounds 7] [--batch 4] [--domain kjv]
// Writes bench/results/moe-size.json.
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { fromArray, getBackend, setBackend, tidy } from '../packages/core/dist/index.js';
import { registerTfjsBackends } from '../packages/tfjs/dist/index.js';
import { BpeTokenizer, MoeModel, calibrationSamples, loadMoeModelFolder, loadText } from '../packages/zoo/dist/index.js';
import { expertStatistics, maskExperts, removeExperts, saveMoeCheckpoint, selectTopExperts } from '../packages/moe/dist/index.js';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'tfjs-wasm' },
    rounds: { type: 'string', default: '7' },
    batch: { type: 'string', default: '4' },
    domain: { type: 'string', default: 'kjv' },
    keep: { type: 'string', default: '4' },
  },
});
if (values.backend !== 'reference') {
  registerTfjsBackends();
  await setBackend(values.backend);
}
const folder = fileURLToPath(new URL('../packages/zoo/weights/moe/', import.meta.url));
const tokenizer = new BpeTokenizer(JSON.parse(await readFile(`${folder}tokenizer.json`, 'utf8')));
const { model: dense, config } = await loadMoeModelFolder(folder);
const window = config.max_position_embeddings;
const K = Number(values.keep);

const demos = [...calibrationSamples([tokenizer.encode(await loadText(values.domain, 'calib'))], { nsamples: 25, seqlen: window, seed: 25 })];
const stats = expertStatistics(dense, demos);
const kept = selectTopExperts(stats.easyEp, K, { minimum: config.num_experts_per_tok });
const smaller = removeExperts(dense, kept);
const small = new MoeModel(smaller.config, smaller.tensors, 'easy-ep-smaller');

const work = await mkdtemp(join(tmpdir(), 'moe-size-'));
let smallFileBytes;
try {
  await saveMoeCheckpoint(work, { config: smaller.config, tensors: new Map(small.weights()) });
  smallFileBytes = (await stat(join(work, 'model.safetensors'))).size;
} finally {
  await rm(work, { recursive: true, force: true });
}
const denseFileBytes = (await stat(join(folder, 'model.safetensors'))).size;
const params = (m) => [...m.weights().values()].reduce((n, t) => n + t.size, 0);
const expertParams = (m) => [...m.weights()].filter(([n]) => /\.experts\.\d+\./.test(n)).reduce((n, [, t]) => n + t.size, 0);

// The same test-split tokens for every model: `batch` windows of the domain's held-out text.
const testTokens = tokenizer.encode(await loadText(values.domain, 'test'));
const batch = Number(values.batch);
const ids = fromArray(Int32Array.from(testTokens.slice(0, batch * window)), [batch, window], 'int32');
const timeForward = (m) => {
  const t0 = performance.now();
  tidy(() => {
    m.forward(ids).dataSync();
  });
  return performance.now() - t0;
};
const logits = (m) => tidy(() => m.forward(ids)).dataSync();

// Warm-up (kernel compilation, allocation), then interleaved rounds.
timeForward(dense);
timeForward(small);
const times = { dense: [], masked: [], smaller: [] };
const cpu = { dense: [], masked: [], smaller: [] };
for (let r = 0; r < Number(values.rounds); r++) {
  for (const which of ['dense', 'masked', 'smaller']) {
    if (which === 'masked') maskExperts(dense, kept);
    const c0 = process.cpuUsage();
    times[which].push(timeForward(which === 'smaller' ? small : dense));
    const c = process.cpuUsage(c0);
    cpu[which].push((c.user + c.system) / 1000);
    if (which === 'masked') maskExperts(dense, null);
  }
}
maskExperts(dense, kept);
const a = logits(dense);
maskExperts(dense, null);
const b = logits(small);
let maxDiff = 0;
for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));

const median = (xs) => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const result = {
  model: 'zoo MoE LM (weights/moe: 4 blocks, d=128, 8 experts top-2)',
  backend: getBackend().name,
  selection: { method: 'EASY-EP', domain: values.domain, demonstrations: 25, keep: K, kept },
  parameters: { dense: params(dense), smaller: params(small), denseExperts: expertParams(dense), smallerExperts: expertParams(small) },
  fileBytes: { dense: denseFileBytes, smaller: smallFileBytes },
  forward: {
    batch: [batch, window],
    rounds: Number(values.rounds),
    wallMs: times,
    cpuMs: cpu,
    medianWallMs: Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)])),
    medianCpuMs: Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, median(v)])),
  },
  maxAbsLogitDifferenceSmallerVsMasked: maxDiff,
  loadAverage: (await import('node:os')).loadavg(),
};
await mkdir(new URL('./results/', import.meta.url), { recursive: true });
await writeFile(new URL('./results/moe-size.json', import.meta.url), `${JSON.stringify(result, null, 2)}\n`);

const m = result.forward;
const rows = [
  ['dense (8 experts)', result.parameters.dense, result.fileBytes.dense, m.medianWallMs.dense, m.medianCpuMs.dense],
  [`routing mask (${K} of 8)`, result.parameters.dense, result.fileBytes.dense, m.medianWallMs.masked, m.medianCpuMs.masked],
  [`smaller model (${K} of 8)`, result.parameters.smaller, result.fileBytes.smaller, m.medianWallMs.smaller, m.medianCpuMs.smaller],
];
const fmtMB = (x) => `${(x / 2 ** 20).toFixed(2)} MiB`;
const lines = rows.map(([name, p, f, w, c]) => [name, String(p), fmtMB(f), `${w.toFixed(0)} ms`, `${c.toFixed(0)} ms`, `${(m.medianWallMs.dense / w).toFixed(2)}×`, `${(m.medianCpuMs.dense / c).toFixed(2)}×`]);
const header = ['model', 'parameters', 'file', `forward [${batch}, ${window}] median wall`, 'median CPU', 'speed-up (wall)', 'speed-up (CPU)'];
const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
console.log([header, widths.map((w) => '-'.repeat(w)), ...lines].map((l) => `| ${l.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`).join('\n'));
console.log(`\nparameters ${(result.parameters.smaller / result.parameters.dense).toFixed(3)}× (experts ${result.parameters.smallerExperts} vs ${result.parameters.denseExperts}); file ${(result.fileBytes.smaller / result.fileBytes.dense).toFixed(3)}×; max |logit difference| smaller vs masked ${maxDiff}; backend ${result.backend}; ${m.rounds} interleaved rounds; load average ${result.loadAverage.map((x) => x.toFixed(1)).join(' ')}`);
