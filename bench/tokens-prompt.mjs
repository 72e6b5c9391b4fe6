// Prompt pruning on the zoo LM: answer quality vs. prompt length budget for no pruning,
// random, self-information (LLMLingua-style) and CoT-Max (trained here by REINFORCE), on the
// passage-continuation task built from the four corpora — one run.
//
// Task: continue a 16-token passage (12-token answer) given five 20-token demonstrations: two
// passages of the same source retrieved by bigram/trigram overlap with the passage (none
// within 256 tokens of it), then the three passages that precede it — 128 tokens in all, the
// LM's context. Training instances come from the sources' calibration text, evaluation
// instances from their held-out test split. Budgets count demonstration tokens; the question
// is kept whole.
//
// Usage: nice -n 10 node bench/tokens-prompt.mjs [--train-minutes 28] [--train-per-source 100]
//        [--eval-per-source 10] [--save-pruner out.json] [--pruner out.json (skip training)]
// Writes bench/results/tokens-prompt.json.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { Random } from '../packages/core/dist/index.js';
import {
  answerLosses,
  applyPromptSelection,
  buildContinuationTask,
  continuationPrompt,
  cotMaxActionSelection,
  cotMaxActionTokens,
  cotMaxPrunerFromJson,
  cotMaxPrunerToJson,
  cotMaxReward,
  createCotMaxPruner,
  encodeShots,
  languageModelTokenLosses,
  selectCotMax,
  selectRandomTokens,
  selectSelfInformation,
  trainCotMax,
} from '../packages/tokens/dist/index.js';
import { TEXT_SOURCES, loadText, loadZooLanguageModel } from '../packages/zoo/dist/index.js';

const { values: args } = parseArgs({
  options: {
    'train-minutes': { type: 'string', default: '28' },
    'train-per-source': { type: 'string', default: '100' },
    'eval-per-source': { type: 'string', default: '10' },
    'learning-rate': { type: 'string', default: '0.003' },
    samples: { type: 'string', default: '4' },
    pruner: { type: 'string' },
    'save-pruner': { type: 'string' },
  },
});
const BUDGETS = [0.5, 0.33, 0.2];
const TASK = { questionTokens: 16, answerTokens: 12, passageTokens: 20, retrievedPassages: 2, contextPassages: 3, exclusionRadius: 256 };
const started = Date.now();
const log = (m) => console.error(`[${((Date.now() - started) / 1000).toFixed(0)} s] ${m}`);

const { model, tokenizer, config } = await loadZooLanguageModel('lm');
const context = config.max_position_embeddings;
// No separator: the context passages and the question stay contiguous text.
const separator = [];

async function instances(split, perSource, seed) {
  const out = [];
  for (const [s, source] of TEXT_SOURCES.entries()) {
    const tokens = tokenizer.encode(await loadText(source, split));
    for (const inst of buildContinuationTask(tokens, { ...TASK, instances: perSource, seed: seed + s })) out.push({ ...inst, source });
  }
  return out;
}
// Frozen encoder: the LM's last hidden states of each shot, computed after the question.
const encode = (inst) => encodeShots(model, inst.demonstrations, { prefix: [...inst.question, ...separator] });
const score = (pairs) => answerLosses(model, pairs, { context, batch: 8 });

// ---- CoT-Max training ----
let pruner;
let training = null;
const init = createCotMaxPruner({ dim: config.hidden_size, seed: 0 });
if (args.pruner) {
  const saved = JSON.parse(await readFile(args.pruner, 'utf8'));
  pruner = cotMaxPrunerFromJson(saved);
  training = saved.training ?? null;
  log(`loaded pruner from ${args.pruner}`);
} else {
  pruner = createCotMaxPruner({ dim: config.hidden_size, seed: 0 });
  const train = await instances('calib', Number(args['train-per-source']), 100);
  // Encoded on first use: a time-limited run may not reach every instance.
  const encoded = new Map();
  const inputs = new Proxy(train, {
    get(target, key, receiver) {
      if (typeof key === 'string' && /^\d+$/.test(key)) {
        if (!encoded.has(key)) encoded.set(key, encode(target[Number(key)]));
        return encoded.get(key);
      }
      return Reflect.get(target, key, receiver);
    },
  });
  log(`built ${train.length} training instances`);
  const rng = new Random(7);
  const samples = Number(args.samples);
  const result = trainCotMax(pruner, {
    inputs,
    steps: 1_000_000,
    samples,
    learningRate: Number(args['learning-rate']),
    seed: 1,
    timeLimitMs: Number(args['train-minutes']) * 60_000,
    reward: (index, actions) => {
      const inst = train[index];
      const prompt = continuationPrompt(inst, separator);
      const total = inst.demonstrations.reduce((n, d) => n + d.length, 0);
      const target = Math.round(BUDGETS[rng.int(BUDGETS.length)] * total);
      const scores = score(actions.map((a) => ({ prompt: applyPromptSelection(prompt, cotMaxActionSelection(a)).ids, answer: inst.answer })));
      return actions.map((a, s) => cotMaxReward(scores[s], cotMaxActionTokens(a), target));
    },
    onProgress: (e) => {
      if (e.done % 50 === 0) log(`train step ${e.done}: ${e.message}`);
    },
  });
  const window = 50;
  const curve = [];
  for (let i = 0; i < result.steps; i += window) {
    const r = result.meanReward.slice(i, i + window);
    const t = result.meanTokens.slice(i, i + window);
    curve.push({ fromStep: i, meanReward: r.reduce((a, b) => a + b, 0) / r.length, meanTokens: t.reduce((a, b) => a + b, 0) / t.length });
  }
  training = { instances: train.length, instancesSeen: encoded.size, steps: result.steps, samples, learningRate: Number(args['learning-rate']), minutes: (Date.now() - started) / 60_000, curve };
  log(`trained ${result.steps} steps; reward ${curve[0]?.meanReward.toFixed(4)} → ${curve.at(-1)?.meanReward.toFixed(4)}`);
  if (args['save-pruner']) await writeFile(args['save-pruner'], JSON.stringify({ ...cotMaxPrunerToJson(pruner), training }));
}

// ---- Evaluation on held-out instances ----
const test = await instances('test', Number(args['eval-per-source']), 200);
const methods = ['random', 'self-information', 'CoT-Max (untrained)', 'CoT-Max'];
const acc = new Map();
const add = (key, s, kept, len) => {
  const a = acc.get(key) ?? { loss: 0, accuracy: 0, kept: 0, length: 0, n: 0 };
  a.loss += s.loss;
  a.accuracy += s.accuracy;
  a.kept += kept;
  a.length += len;
  a.n++;
  acc.set(key, a);
};
const evalStarted = Date.now();
let budgetMisses = 0;
for (const [n, inst] of test.entries()) {
  const prompt = continuationPrompt(inst, separator);
  const cache = new Map();
  const rawLosses = languageModelTokenLosses(model, { context });
  const losses = (ids) => {
    const key = ids.join(',');
    if (!cache.has(key)) cache.set(key, rawLosses(ids));
    return cache.get(key);
  };
  const shots = encode(inst);
  const total = inst.demonstrations.reduce((m, d) => m + d.length, 0);
  const jobs = [
    { key: 'none|1', sel: undefined },
    { key: 'no demonstrations|0', sel: { demonstrations: inst.demonstrations.map(() => new Int32Array(0)) } },
    { key: 'context passages only|0.6', sel: { demonstrations: inst.demonstrations.map((d, i) => (i < inst.retrieved ? new Int32Array(0) : Int32Array.from(d.keys()))) } },
  ];
  for (const b of BUDGETS) {
    jobs.push({ key: `random|${b}`, sel: selectRandomTokens(prompt, { ratio: b, seed: n }) });
    jobs.push({ key: `self-information|${b}`, sel: selectSelfInformation(prompt, losses, { ratio: b, segmentSize: 32 }) });
    jobs.push({ key: `CoT-Max (untrained)|${b}`, sel: selectCotMax(init, shots, { ratio: b }) });
    jobs.push({ key: `CoT-Max|${b}`, sel: selectCotMax(pruner, shots, { ratio: b }) });
  }
  const compressed = jobs.map((j) => applyPromptSelection(prompt, j.sel ?? { demonstrations: inst.demonstrations.map((d) => Int32Array.from(d.keys())) }));
  jobs.forEach((j, i) => {
    const b = Number(j.key.split('|')[1]);
    if (BUDGETS.includes(b) && compressed[i].keptTokens !== Math.round(b * total)) budgetMisses++;
  });
  const scores = score(compressed.map((c) => ({ prompt: c.ids, answer: inst.answer })));
  jobs.forEach((j, i) => add(j.key, scores[i], compressed[i].keptTokens, compressed[i].ids.length));
  if ((n + 1) % 10 === 0) log(`evaluated ${n + 1}/${test.length}`);
}

const rows = [];
const row = (method, budget, key) => {
  const a = acc.get(key);
  rows.push({ method, budget, answerNll: a.loss / a.n, tokenAccuracy: a.accuracy / a.n, keptDemoTokens: a.kept / a.n, promptTokens: a.length / a.n, instances: a.n });
};
row('no pruning', 1, 'none|1');
for (const b of BUDGETS) for (const m of methods) row(m, b, `${m}|${b}`);
row('context passages only (reference)', 0.6, 'context passages only|0.6');
row('no demonstrations', 0, 'no demonstrations|0');

const fmt = (x, d = 3) => x.toFixed(d);
const header = ['method', 'budget (demo tokens)', 'kept demo tokens', 'prompt tokens', 'answer NLL', 'answer token acc.'];
const lines = rows.map((r) => [r.method, `${Math.round(r.budget * 100)}%`, fmt(r.keptDemoTokens, 1), fmt(r.promptTokens, 1), fmt(r.answerNll), `${(100 * r.tokenAccuracy).toFixed(1)}%`]);
const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
const md = [header, widths.map((w) => '-'.repeat(w)), ...lines].map((l) => `| ${l.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`).join('\n');
console.log(md);
console.log(`${test.length} held-out instances (${Number(args['eval-per-source'])} per source); budget misses: ${budgetMisses}`);
await mkdir(new URL('./results/', import.meta.url), { recursive: true });
await writeFile(
  new URL('./results/tokens-prompt.json', import.meta.url),
  JSON.stringify(
    {
      task: { ...TASK, separator: 'none', trainSplit: 'calib', evalSplit: 'test', sources: TEXT_SOURCES, evalInstances: test.length },
      encoder: 'zoo lm last hidden states (after 4 blocks, before the final norm) of each shot, computed after the question',
      selfInformation: { segmentSize: 32, demonstrationFilter: true, demonstrationSlack: 1.5, conditionOnQuestion: false },
      training,
      evalSeconds: (Date.now() - evalStarted) / 1000,
      budgetMisses,
      rows,
      markdown: md,
    },
    null,
    2,
  ),
);
model.dispose();
