// Visual token pruning on the zoo ViT (Fashion-MNIST, 7×7 patch grid + CLS, 6 blocks):
// accuracy on the test set at keep ratios 50%, 33% and 11% of the 49 patch tokens for
// HiPrune, G-Prune, ToMe, FastV, random (mean over seeds) and a uniform grid, with the
// matrix-product FLOPs and the measured latency of the pruned forward pass, in one run.
//
// Protocol: every method except ToMe prunes once, in block K (--prune-layer, after its
// attention and before its MLP); blocks before K run in full. HiPrune's object layer is
// --object-layer and its deep layer is K. FastV ranks by the CLS row (the ViT's readout).
// G-Prune builds its graph on the hidden states of block K. ToMe merges from block 0 with a
// schedule that reaches the same token count by block K (tomeScheduleToKeep). The accuracy
// pass shares the unpruned prefix between methods; the latency pass runs each method's full
// forward (embedding → classifier, selection included) image by image, methods interleaved,
// and reports the median per image.
//
// Usage: node bench/tokens-visual.mjs [--images 10000] [--seeds 3] [--prune-layer 2]
//        [--object-layer 1] [--latency-images 40] [--latency-rounds 5] [--weights DIR] [--out FILE]
// Needs built packages (core, zoo, tokens). Writes bench/results/tokens-visual.json (or --out).
import { mkdir, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { clone } from '../packages/core/dist/index.js';
import {
  fastvHook, fixedKeepHook, gpruneHook, hipruneHook, keepCount, randomHook, tomeHook, tomeScheduleToKeep, uniformGridHook,
} from '../packages/tokens/dist/index.js';
import { argmaxOf, loadFashionMnist, loadVitFolder, loadZooVit, vitFlops } from '../packages/zoo/dist/index.js';

const { values } = parseArgs({
  options: {
    images: { type: 'string', default: '10000' },
    seeds: { type: 'string', default: '3' },
    'prune-layer': { type: 'string', default: '2' },
    'object-layer': { type: 'string', default: '1' },
    'latency-images': { type: 'string', default: '40' },
    'latency-rounds': { type: 'string', default: '5' },
    weights: { type: 'string' },
    out: { type: 'string', default: new URL('./results/tokens-visual.json', import.meta.url).pathname },
  },
});
const nImages = Number(values.images);
const nSeeds = Number(values.seeds);
const K = Number(values['prune-layer']);
const objectLayer = Number(values['object-layer']);
const { model, config } = values.weights ? await loadVitFolder(values.weights) : await loadZooVit();
const L = config.num_layers;
const N = model.gridSize ** 2;
const data = await loadFashionMnist('test', { limit: nImages });
const RATIOS = [0.5, 0.33, 0.11];

/** Method factories: (keep) → hook. Random gets one entry per seed and is averaged. */
function methods(keep) {
  const list = [
    { name: 'HiPrune (α = 0.1, reference)', make: () => hipruneHook({ keep, objectLayer, deepLayer: K }) },
    { name: 'HiPrune (α = 1)', make: () => hipruneHook({ keep, objectLayer, deepLayer: K, alpha: 1 }) },
    { name: 'G-Prune', make: () => gpruneHook({ keep, layer: K }) },
    { name: 'FastV (CLS row)', make: () => fastvHook({ keep, layer: K, queryRow: 0 }) },
    { name: 'ToMe', tome: true, make: () => tomeHook({ schedule: tomeScheduleToKeep({ count: N, keep, layers: L, byLayer: K }) }) },
    { name: 'uniform grid', make: () => uniformGridHook({ keep, layer: K }) },
  ];
  for (let s = 0; s < nSeeds; s++) list.push({ name: 'random', seed: s, make: () => randomHook({ keep, layer: K, seed: 1000 + s }) });
  return list;
}

// ---- accuracy (shared prefix) ----
const configs = [{ ratio: 1, keep: N, method: { name: 'unpruned' } }];
for (const ratio of RATIOS) for (const m of methods(keepCount(N, ratio))) configs.push({ ratio, keep: keepCount(N, ratio), method: m });
// Diagnostic: how much does the CLS token already know at block K? (every patch dropped)
configs.push({ ratio: 0, keep: 0, method: { name: 'CLS only (diagnostic)', make: () => fixedKeepHook([0], K) } });
for (const c of configs) {
  c.hook = c.method.make?.();
  c.correct = 0;
  c.flops = 0;
  c.tokensAfter = 0;
  c.blankKept = 0;
  c.keptTotal = 0;
  c.spreadSum = 0;
  c.spreadImages = 0;
  c.redundancySum = 0;
}

// Diagnostic: mean pairwise cosine similarity of the kept tokens' hidden states at block K
// (how much the kept tokens repeat each other).
function meanPairwiseCosine(x, d, rows) {
  const norms = rows.map((r) => Math.hypot(...x.subarray(r * d, (r + 1) * d)));
  let sum = 0;
  let pairs = 0;
  for (let a = 0; a < rows.length; a++) {
    for (let b = a + 1; b < rows.length; b++) {
      let dot = 0;
      for (let k = 0; k < d; k++) dot += x[rows[a] * d + k] * x[rows[b] * d + k];
      sum += dot / (norms[a] * norms[b]);
      pairs++;
    }
  }
  return pairs ? sum / pairs : null;
}

// Diagnostic: mean pairwise Euclidean distance (in patches) between the kept patches.
function spread(positions) {
  let sum = 0;
  let pairs = 0;
  for (let a = 0; a < positions.length; a++) {
    for (let b = a + 1; b < positions.length; b++) {
      const dy = Math.floor(positions[a] / model.gridSize) - Math.floor(positions[b] / model.gridSize);
      const dx = (positions[a] % model.gridSize) - (positions[b] % model.gridSize);
      sum += Math.hypot(dx, dy);
      pairs++;
    }
  }
  return pairs ? sum / pairs : 0;
}

// Diagnostic: a patch is blank when none of its pixels exceeds 0.05 (background).
const P = config.patch_size;
const S = config.image_size;
function blankPatches(i) {
  const blank = new Uint8Array(N);
  for (let p = 0; p < N; p++) {
    const r0 = Math.floor(p / model.gridSize) * P;
    const c0 = (p % model.gridSize) * P;
    let max = 0;
    for (let y = 0; y < P; y++) for (let x = 0; x < P; x++) max = Math.max(max, data.images[i * S * S + (r0 + y) * S + c0 + x]);
    blank[p] = max <= 0.05 ? 1 : 0;
  }
  return blank;
}
/**
 * Runs image i through every config, sharing blocks 0..K−1 and block K's attention between
 * the methods that act at block K. Returns one { logits, blocks } per config.
 */
function runShared(i, cs) {
  const prefixBlocks = [];
  const pre = model.runBlocks(model.embed(data.images, i), 0, K, {
    onLayer: (view) => { for (const c of cs) if (c.hook && !c.method.tome) c.hook.afterAttention(view); },
  }, prefixBlocks);
  const att = model.attentionBranch(K, pre);
  const view = { layer: K, tokens: att.tokens, attention: att.attention, keys: att.keys, sizes: undefined, positions: pre.positions, gridHeight: model.gridSize, gridWidth: model.gridSize };
  const feats = att.tokens.dataSync();
  const d = att.tokens.shape[1];
  const results = cs.map((c) => {
    if (c.method.tome) return model.forward(data.images, i, { hook: c.hook });
    const action = c.hook?.afterAttention(view);
    const keptTokens = action && 'keep' in action ? Array.from(action.keep).slice(1) : Array.from({ length: N }, (_, p) => p + 1);
    const mid = model.applyAction(clone(att.tokens), pre, action);
    const blocks = [...prefixBlocks, { attention: att.tokens.shape[0], mlp: mid.tokens.shape[0] }];
    const afterK = model.mlpBranch(K, mid.tokens);
    mid.tokens.dispose();
    const end = model.runBlocks({ ...mid, tokens: afterK }, K + 1, L, { hook: c.hook }, blocks);
    const logits = model.classify(end.tokens);
    end.tokens.dispose();
    return { logits, blocks, keptPositions: mid.positions.subarray(1), redundancy: meanPairwiseCosine(feats, d, keptTokens) };
  });
  pre.tokens.dispose();
  att.tokens.dispose();
  att.attention.dispose();
  att.keys.dispose();
  return results;
}

// The shared-prefix shortcut must give what a plain forward pass with the hook gives.
{
  const fresh = configs.map((c) => ({ ...c, hook: c.method.make?.() }));
  const shared = runShared(0, fresh);
  configs.forEach((c, k) => {
    const plain = model.forward(data.images, 0, { hook: c.method.make?.() });
    const diff = Math.max(...plain.logits.map((v, j) => Math.abs(v - shared[k].logits[j])));
    if (diff > 1e-5 || vitFlops(config, shared[k].blocks) !== plain.flops) throw new Error(`shared-prefix run differs from the plain forward for ${c.method.name} (max |Δlogit| ${diff})`);
  });
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

// ---- latency (full pruned forward per image, methods interleaved) ----
const latImages = Math.min(Number(values['latency-images']), data.count);
const rounds = Number(values['latency-rounds']);
const latencyConfigs = configs.filter((c) => !(c.method.name === 'random' && c.method.seed > 0));
// Wall time on a shared machine mostly measures the other jobs; the process's own CPU time
// (user + system) per image is the steadier latency figure, and both are reported.
const times = new Map(latencyConfigs.map((c) => [c, { cpu: [], wall: [] }]));
for (let r = -1; r < rounds; r++) {
  // Round −1 warms the JIT up and is not recorded.
  for (const c of latencyConfigs) {
    const hook = c.method.make?.();
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < latImages; i++) model.forward(data.images, i, { hook });
    const wall = Number(process.hrtime.bigint() - t0) / 1e6 / latImages;
    const cpu = process.cpuUsage(cpu0);
    if (r < 0) continue;
    times.get(c).cpu.push((cpu.user + cpu.system) / 1e3 / latImages);
    times.get(c).wall.push(wall);
  }
}
const started = Date.now();
let done = 0;
for (let i = 0; i < data.count; i++) {
  const results = runShared(i, configs);
  const blank = blankPatches(i);
  configs.forEach((c, k) => {
    if (results[k].keptPositions) {
      for (const p of results[k].keptPositions) c.blankKept += blank[p];
      c.keptTotal += results[k].keptPositions.length;
      if (results[k].keptPositions.length > 1) {
        c.spreadSum += spread(results[k].keptPositions);
        c.redundancySum += results[k].redundancy;
        c.spreadImages++;
      }
    }
    if (argmaxOf(results[k].logits) === data.labels[i]) c.correct++;
    c.flops += vitFlops(config, results[k].blocks);
    c.tokensAfter += results[k].blocks[L - 1].mlp - 1;
  });
  done = i + 1;
  if (done % 250 === 0) console.error(`${done}/${data.count} images (${Math.round((Date.now() - started) / 1000)} s)`);
  // A long run on a busy machine keeps its finished images: the JSON is rewritten as it goes.
  if (done % 1000 === 0 && done < data.count) await report(false);
}
await report(true);


// ---- table ----
async function report(final) {
  const dense = configs[0];
  const denseLatency = median(times.get(dense).cpu);
  const rows = [];
  const groups = new Map();
  for (const c of configs) {
    const key = `${c.ratio}|${c.method.name}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(c);
  }
  for (const [, cs] of groups) {
    const c0 = cs[0];
    const accs = cs.map((c) => c.correct / done);
    const acc = accs.reduce((a, b) => a + b, 0) / accs.length;
    const t = times.get(latencyConfigs.find((c) => c.ratio === c0.ratio && c.method.name === c0.method.name));
    const lat = median(t.cpu);
    rows.push({
      keepRatio: c0.ratio,
      keptPatches: c0.keep,
      method: c0.method.name,
      seeds: cs.length,
      accuracy: acc,
      accuracyPerSeed: cs.length > 1 ? accs : undefined,
      relativeAccuracy: acc / (dense.correct / done),
      patchesInLastBlock: c0.tokensAfter / done,
      // Share of kept patches that are blank background (ToMe merges, so it has none).
      blankShareOfKept: c0.method.tome ? null : cs.reduce((a, c) => a + c.blankKept, 0) / Math.max(1, cs.reduce((a, c) => a + c.keptTotal, 0)),
      // Mean pairwise distance of the kept patches on the grid (patch units).
      keptSpread: c0.method.tome || c0.keep < 2 ? null : cs.reduce((a, c) => a + c.spreadSum, 0) / Math.max(1, cs.reduce((a, c) => a + c.spreadImages, 0)),
      // Mean pairwise cosine similarity of the kept tokens' block-K hidden states.
      keptRedundancy: c0.method.tome || c0.keep < 2 ? null : cs.reduce((a, c) => a + c.redundancySum, 0) / Math.max(1, cs.reduce((a, c) => a + c.spreadImages, 0)),
      mflops: c0.flops / done / 1e6,
      flopsRatio: c0.flops / dense.flops,
      latencyCpuMs: lat,
      latencyWallMs: median(t.wall),
      speedup: denseLatency / lat,
    });
  }
  const pct = (x) => `${(100 * x).toFixed(2)}%`;
  const header = ['keep', 'method', 'accuracy', 'of unpruned', 'MFLOPs', 'FLOPs', 'CPU ms/image', 'wall ms/image', 'speed-up (CPU)', 'blank kept', 'spread', 'redundancy'];
  const lines = rows.map((r) => [
    `${Math.round(r.keepRatio * 100)}% (${r.keptPatches})`,
    r.method + (r.seeds > 1 ? ` (mean of ${r.seeds} seeds)` : ''),
    pct(r.accuracy),
    pct(r.relativeAccuracy),
    r.mflops.toFixed(2),
    pct(r.flopsRatio),
    r.latencyCpuMs.toFixed(2),
    r.latencyWallMs.toFixed(2),
    `${r.speedup.toFixed(2)}×`,
    r.blankShareOfKept === null || r.keptPatches === 0 ? '—' : pct(r.blankShareOfKept),
    r.keptSpread === null ? '—' : r.keptSpread.toFixed(2),
    r.keptRedundancy === null ? '—' : r.keptRedundancy.toFixed(3),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const md = [header, widths.map((w) => '-'.repeat(w)), ...lines].map((l) => `| ${l.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`).join('\n');
  const seconds = Math.round((Date.now() - started) / 1000);
  if (!final) {
    await writeFile(values.out, `${JSON.stringify({ partial: true, images: done, pruneLayer: K, objectLayer, seeds: nSeeds, seconds, rows }, null, 2)}\n`);
    return;
  }
  console.log(md);
  console.log(`\n${done} test images (the first ${done} of the split), prune block K = ${K}, HiPrune object block ${objectLayer}, random over ${nSeeds} seeds; blank kept = share of kept patches with no pixel above 0.05; spread = mean pairwise distance of kept patches in patch units; redundancy = mean pairwise cosine similarity of the kept tokens' hidden states at block K; latency: median over ${rounds} interleaved rounds of ${latImages} images each, one thread; ${seconds} s`);
  await mkdir(new URL('./results/', import.meta.url), { recursive: true });
  await writeFile(
    values.out,
    `${JSON.stringify({ images: done, pruneLayer: K, objectLayer, seeds: nSeeds, latencyImages: latImages, latencyRounds: rounds, seconds, node: process.version, rows }, null, 2)}\n`,
  );
}
