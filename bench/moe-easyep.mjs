// EASY-EP on the trained zoo MoE LM (8 experts, top-2): keep 4 of 8 experts per layer, chosen
// from 5, 10 or 25 demonstrations of one domain (a demonstration = a 64-token window of that
// domain's calibration text, drawn at a seeded random position), against the three baselines
// (random subset averaged over seeds, routing frequency, gate-score sum). Reports in-domain
// perplexity for every selector, out-of-domain perplexity for EASY-EP (what is given up), the
// Jaccard overlap of the selected sets across independent demonstration draws of one domain,
// and mixed-domain selection (each domain's scores normalised per layer, then summed).
// Routing is masked (maskExperts), which gives the same outputs as the physically smaller
// model (see expert-removal.test.ts).
//
// Usage: node bench/moe-easyep.mjs [--backend tfjs-wasm] [--eval-windows 8] [--draws 3]
//          [--eval-draws 1] [--random-seeds 3] [--keep 4] [--counts 5,10,25] [--demo-tokens 64]
// In parallel processes: --part base (dense and random only), --domains kjv --part kjv (one
// domain's rows), …, then --merge base,kjv,austen,moby-dick,sotu (mixed-domain selection and
// the tables).
// Writes bench/results/moe-easyep.json (parts: bench/results/moe-easyep.PART.json).
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { getBackend, setBackend } from '../packages/core/dist/index.js';
import { registerTfjsBackends } from '../packages/tfjs/dist/index.js';
import { BpeTokenizer, TEXT_SOURCES, calibrationSamples, loadMoeModelFolder, loadText, perplexity } from '../packages/zoo/dist/index.js';
import { expertStatistics, maskExperts, mixDomainScores, randomExpertSubset, selectTopExperts, selectionOverlap } from '../packages/moe/dist/index.js';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'tfjs-wasm' },
    'eval-windows': { type: 'string', default: '8' },
    draws: { type: 'string', default: '3' },
    'eval-draws': { type: 'string', default: '1' },
    'random-seeds': { type: 'string', default: '3' },
    keep: { type: 'string', default: '4' },
    counts: { type: 'string', default: '5,10,25' },
    'demo-tokens': { type: 'string', default: '64' },
    domains: { type: 'string' },
    part: { type: 'string' },
    merge: { type: 'string' },
  },
});
if (values.backend !== 'reference') {
  registerTfjsBackends();
  await setBackend(values.backend);
}
const evalWindows = Number(values['eval-windows']);
const draws = Number(values.draws);
const evalDraws = Math.min(draws, Number(values['eval-draws']));
const K = Number(values.keep);
const counts = values.counts.split(',').map(Number);
const folder = fileURLToPath(new URL('../packages/zoo/weights/moe/', import.meta.url));
const tokenizer = new BpeTokenizer(JSON.parse(await readFile(`${folder}tokenizer.json`, 'utf8')));
const evalTokens = new Map();
const calibTokens = new Map();
for (const s of TEXT_SOURCES) {
  evalTokens.set(s, tokenizer.encode(await loadText(s, 'test')));
  calibTokens.set(s, tokenizer.encode(await loadText(s, 'calib')));
}
const { model, config } = await loadMoeModelFolder(folder);
const L = config.num_hidden_layers;
const E = config.num_local_experts;
const window = config.max_position_embeddings;
const started = Date.now();
const log = (msg) => console.error(`[${Math.round((Date.now() - started) / 1000)} s] ${msg}`);

function ppl(source) {
  return perplexity(model, evalTokens.get(source), { window, stride: window, maxWindows: evalWindows }).perplexity;
}
function withSelection(selection, fn) {
  maskExperts(model, selection);
  try {
    return fn();
  } finally {
    maskExperts(model, null);
  }
}
const demoTokens = Number(values['demo-tokens']);
const demonstrations = (source, n, draw) => [...calibrationSamples([calibTokens.get(source)], { nsamples: n, seqlen: demoTokens, seed: 1000 * draw + n })];
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const pairwiseOverlap = (sels) => {
  const o = [];
  for (let i = 0; i < sels.length; i++) for (let j = i + 1; j < sels.length; j++) o.push(selectionOverlap(sels[i], sels[j]));
  return mean(o);
};

const partOnly = values.part !== undefined;
const domainList = values.domains !== undefined ? values.domains.split(',') : values.part === 'base' ? [] : [...TEXT_SOURCES];
const runBase = values.merge === undefined && (!partOnly || values.part === 'base');
let dense = {};
let random = { selections: [], bySeed: [], mean: {}, overlap: 0 };
let randomSelections = [];
if (runBase) {
  dense = Object.fromEntries(TEXT_SOURCES.map((s) => [s, ppl(s)]));
  log(`dense ${JSON.stringify(dense)}`);
  // Random subsets: independent of the domain; every source evaluated per seed.
  randomSelections = Array.from({ length: Number(values['random-seeds']) }, (_, seed) => randomExpertSubset(L, E, K, seed));
  const randomPpl = randomSelections.map((sel) => withSelection(sel, () => Object.fromEntries(TEXT_SOURCES.map((s) => [s, ppl(s)]))));
  random = { selections: randomSelections, bySeed: randomPpl, mean: Object.fromEntries(TEXT_SOURCES.map((s) => [s, mean(randomPpl.map((r) => r[s]))])), overlap: pairwiseOverlap(randomSelections) };
  log(`random ${JSON.stringify(random.mean)}`);
}

const METHODS = ['easyEp', 'frequency', 'gateSum'];
let domains = [];
const scores25 = {};
const mixed = {};
for (const domain of values.merge === undefined ? domainList : []) {
  const rows = [];
  for (const n of counts) {
    const selections = { easyEp: [], frequency: [], gateSum: [] };
    const inDomain = { easyEp: [], frequency: [], gateSum: [] };
    const outOfDomain = [];
    for (let draw = 0; draw < draws; draw++) {
      const demos = demonstrations(domain, n, draw);
      const stats = expertStatistics(model, demos);
      demos.forEach((d) => d.dispose());
      if (n === counts[counts.length - 1] && draw === 0) scores25[domain] = { easyEp: stats.easyEp, frequency: stats.frequency, gateSum: stats.gateSum };
      for (const m of METHODS) selections[m].push(selectTopExperts(stats[m], K, { minimum: config.num_experts_per_tok }));
      if (draw >= evalDraws) continue;
      for (const m of METHODS) {
        withSelection(selections[m][draw], () => {
          inDomain[m].push(ppl(domain));
          if (m === 'easyEp') outOfDomain.push(Object.fromEntries(TEXT_SOURCES.filter((s) => s !== domain).map((s) => [s, ppl(s)])));
        });
      }
    }
    const row = {
      demonstrations: n,
      inDomain: Object.fromEntries(METHODS.map((m) => [m, mean(inDomain[m])])),
      inDomainByDraw: inDomain,
      easyEpOutOfDomain: Object.fromEntries(TEXT_SOURCES.filter((s) => s !== domain).map((s) => [s, mean(outOfDomain.map((o) => o[s]))])),
      overlap: Object.fromEntries(METHODS.map((m) => [m, pairwiseOverlap(selections[m])])),
      selections,
    };
    rows.push(row);
    log(`${domain} n=${n}: in-domain ${JSON.stringify(row.inDomain)} overlap ${row.overlap.easyEp.toFixed(2)}`);
  }
  domains.push({ domain, rows });
  await save();
}

if (values.merge !== undefined) {
  const parts = await Promise.all(values.merge.split(',').map(async (p) => JSON.parse(await readFile(new URL(`./results/moe-easyep.${p}.json`, import.meta.url), 'utf8'))));
  const base = parts.find((p) => Object.keys(p.dense).length > 0);
  dense = base.dense;
  random = base.random;
  randomSelections = random.selections;
  domains = TEXT_SOURCES.map((d) => parts.flatMap((p) => p.domains).find((x) => x.domain === d)).filter((x) => x !== undefined);
  for (const p of parts) Object.assign(scores25, p.scores25 ?? {});
}
if (!partOnly && domains.length === TEXT_SOURCES.length) {
  // Mixed-domain selection from the 25-demonstration scores of every domain.
  for (const m of METHODS) {
    const selection = selectTopExperts(mixDomainScores(TEXT_SOURCES.map((d) => scores25[d][m])), K, { minimum: config.num_experts_per_tok });
    mixed[m] = { selection, ppl: withSelection(selection, () => Object.fromEntries(TEXT_SOURCES.map((s) => [s, ppl(s)]))) };
    log(`mixed ${m}: ${JSON.stringify(mixed[m].ppl)}`);
  }
}
await save();
if (partOnly) process.exit(0);

async function save() {
  await mkdir(new URL('./results/', import.meta.url), { recursive: true });
  await writeFile(
    new URL(`./results/moe-easyep${partOnly ? `.${values.part}` : ''}.json`, import.meta.url),
    `${JSON.stringify(
      {
        model: 'zoo MoE LM (weights/moe: 4 blocks, d=128, 8 experts top-2)',
        backend: getBackend().name,
        keep: K,
        experts: E,
        evaluation: { window, stride: window, windowsPerSource: evalWindows, split: 'test' },
        demonstrations: { unit: `${demoTokens}-token window of the domain's calibration text`, counts, draws, evalDraws, seeds: 'draw d of n demonstrations uses seed 1000·d + n' },
        dense,
        random,
        domains,
        mixed,
        scores25,
        ...(values.merge !== undefined ? { parts: values.merge.split(',') } : {}),
        totalSeconds: (Date.now() - started) / 1000,
      },
      null,
      2,
    )}\n`,
  );
}

const fmt = (x) => x.toFixed(2);
const markdown = (header, lines) => {
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => String(l[i]).length)));
  return [header, widths.map((w) => '-'.repeat(w)), ...lines].map((l) => `| ${l.map((c, i) => String(c).padEnd(widths[i])).join(' | ')} |`).join('\n');
};
const lines = [];
for (const { domain, rows } of domains) {
  for (const r of rows) {
    const ood = Object.values(r.easyEpOutOfDomain);
    const denseOod = TEXT_SOURCES.filter((s) => s !== domain).map((s) => dense[s]);
    const randomOod = TEXT_SOURCES.filter((s) => s !== domain).map((s) => random.mean[s]);
    lines.push([domain, r.demonstrations, fmt(dense[domain]), fmt(r.inDomain.easyEp), fmt(r.inDomain.frequency), fmt(r.inDomain.gateSum), fmt(random.mean[domain]), `${fmt(mean(ood))} (dense ${fmt(mean(denseOod))}, random ${fmt(mean(randomOod))})`]);
  }
}
console.log(markdown(['domain', 'demos', 'dense', 'EASY-EP', 'frequency', 'gate sum', `random (${randomSelections.length} seeds)`, 'EASY-EP out-of-domain, mean of 3 others'], lines));
const olines = [];
for (const { domain, rows } of domains) for (const r of rows) olines.push([domain, r.demonstrations, r.overlap.easyEp.toFixed(2), r.overlap.frequency.toFixed(2), r.overlap.gateSum.toFixed(2)]);
console.log(`\n${markdown(['domain', 'demos', `EASY-EP Jaccard (${draws} draws)`, 'frequency', 'gate sum'], olines)}\nrandom subsets, pairwise Jaccard: ${random.overlap.toFixed(2)}`);
const mlines = METHODS.map((m) => [m, ...TEXT_SOURCES.map((s) => fmt(mixed[m].ppl[s]))]);
mlines.unshift(['dense', ...TEXT_SOURCES.map((s) => fmt(dense[s]))], ['random (mean)', ...TEXT_SOURCES.map((s) => fmt(random.mean[s]))]);
console.log(`\n${markdown(['mixed-domain selection (25 demos per domain)', ...TEXT_SOURCES], mlines)}`);
