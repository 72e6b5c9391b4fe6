// FastVAR cached token pruning on the zoo's next-scale-prediction model (Fashion-MNIST,
// scales 1, 2, 3, 4, 5, 7; 3 blocks): class-conditional generations with and without
// pruning from the same seeds, compared with random token pruning at the same ratios
// (same cache and area-interpolated restore, random instead of pivotal tokens).
//
// Per generation and method: wall and CPU time of generate(), the mean absolute difference
// of the generated 7×7 map from the unpruned map of the same class and seed, the share of
// tokens sampled differently, and the zoo ViT's prediction on the 28×28 image (agreement with
// its prediction on the unpruned image, and with the class the generation was asked for).
// Methods run interleaved per generation; medians over generations; one run.
//
// Method 'x% / y%': x% of the 5×5 tokens and y% of the 7×7 tokens skip the branches of
// blocks 1–2 (block 0 runs in full), restored from the 4×4 scale's cached branch outputs.
// A reference row, 'unpruned, other seed', compares unpruned generations of the same class
// from a different seed: the spread of the sampling itself.
//
// Usage: node bench/tokens-fastvar.mjs [--per-class 30] [--temperature 1,0.5] [--weights DIR] [--out FILE]
// Needs built packages (core, zoo, tokens). Writes bench/results/tokens-fastvar.json (or --out).
import { mkdir, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { Random, dispose, fromArray } from '../packages/core/dist/index.js';
import { FastVarCache, areaResize, gatherTokens, scatterTokens } from '../packages/tokens/dist/index.js';
import { argmaxOf, loadVarFolder, loadZooVar, loadZooVit } from '../packages/zoo/dist/index.js';

const { values } = parseArgs({
  options: {
    'per-class': { type: 'string', default: '30' },
    temperature: { type: 'string', default: '1,0.5' },
    weights: { type: 'string' },
    out: { type: 'string', default: new URL('./results/tokens-fastvar.json', import.meta.url).pathname },
  },
});
const perClass = Number(values['per-class']);
const temperatures = values.temperature.split(',').map(Number);

const { model: gen, config } = values.weights ? await loadVarFolder(values.weights) : await loadZooVar();
const { model: vit } = await loadZooVit();
const side = config.side;

const schedule = (r5, r7) => ({
  cacheScale: { height: 4, width: 4 },
  prunedScales: [
    ...(r5 > 0 ? [{ height: 5, width: 5, ratio: r5 }] : []),
    { height: 7, width: 7, ratio: r7 },
  ],
  skippedScales: [],
  layers: { from: 1, to: config.num_layers },
});

/** Same cache and restore as FastVarCache, but the kept tokens are drawn at random. */
class RandomTokenCache {
  constructor(sched, seed) {
    this.plan = new FastVarCache(sched);
    this.rng = new Random(seed);
    this.cache = new Map();
    this.counts = { branches: 0, forwardedTokens: 0, totalTokens: 0 };
  }
  reset() {
    dispose([...this.cache.values()]);
    this.cache.clear();
    this.counts = { branches: 0, forwardedTokens: 0, totalTokens: 0 };
  }
  stats() {
    return { ...this.counts };
  }
  branch(layer, name, x, size, run) {
    const n = x.shape[0];
    const key = `${layer}/${name}`;
    const ratio = this.plan.ratioAt(layer, size);
    this.counts.branches++;
    this.counts.totalTokens += n;
    const c = this.plan.schedule.cacheScale;
    if (ratio === 0) {
      const y = run(x, undefined);
      this.counts.forwardedTokens += n;
      if (size.height === c.height && size.width === c.width) {
        this.cache.get(key)?.dispose();
        this.cache.set(key, fromArray(Float32Array.from(y.dataSync()), y.shape, 'float32'));
      }
      return y;
    }
    const keep = n - Math.floor(ratio * n);
    const order = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = this.rng.int(i + 1);
      [order[i], order[j]] = [order[j], order[i]];
    }
    const positions = Int32Array.from(order.slice(0, keep)).sort();
    const kept = gatherTokens(x, positions);
    const computed = run(kept, positions);
    const base = areaResize(this.cache.get(key), c, size);
    const y = scatterTokens(base, positions, computed);
    this.counts.forwardedTokens += keep;
    dispose([kept, computed, base]);
    return y;
  }
}

const methods = [
  { name: 'unpruned', hook: () => undefined },
  { name: 'unpruned, other seed', hook: () => undefined, otherSeed: true },
  { name: 'FastVAR 0% / 50%', hook: () => new FastVarCache(schedule(0, 0.5)) },
  { name: 'random 0% / 50%', hook: () => new RandomTokenCache(schedule(0, 0.5), 3) },
  { name: 'FastVAR 40% / 50%', hook: () => new FastVarCache(schedule(0.4, 0.5)) },
  { name: 'random 40% / 50%', hook: () => new RandomTokenCache(schedule(0.4, 0.5), 1) },
  { name: 'FastVAR 60% / 75%', hook: () => new FastVarCache(schedule(0.6, 0.75)) },
  { name: 'random 60% / 75%', hook: () => new RandomTokenCache(schedule(0.6, 0.75), 2) },
];
const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const runs = [];
for (const temperature of temperatures) {
  const hooks = methods.map((m) => m.hook());
  const rows = methods.map(() => ({ wall: [], cpu: [], pixel: [], tokenChange: [], agree: 0, correct: 0, forwarded: 0, total: 0, n: 0 }));

  // Warm-up (JIT) on a generation outside the measured set.
  for (const h of hooks) {
    h?.reset();
    gen.generate(0, { seed: 1e6, temperature, hook: h });
  }

  for (let label = 0; label < config.num_classes; label++) {
    for (let s = 0; s < perClass; s++) {
      const seed = label * 1000 + s;
      let ref;
      let refPred;
      methods.forEach((m, i) => {
        const h = hooks[i];
        h?.reset();
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        const out = gen.generate(label, { seed: m.otherSeed ? seed + 500 : seed, temperature, hook: h });
        const wall = performance.now() - t0;
        const c1 = process.cpuUsage(c0);
        const pred = argmaxOf(vit.forward(out.image, 0).logits);
        const r = rows[i];
        r.wall.push(wall);
        r.cpu.push((c1.user + c1.system) / 1000);
        if (i === 0) {
          ref = out;
          refPred = pred;
        }
        let diff = 0;
        for (let t = 0; t < side * side; t++) diff += Math.abs(out.map[t] - ref.map[t]);
        r.pixel.push(diff / (side * side));
        let changed = 0;
        let count = 0;
        out.tokens.forEach((tk, k) => {
          for (let t = 0; t < tk.length; t++) changed += tk[t] !== ref.tokens[k][t] ? 1 : 0;
          count += tk.length;
        });
        r.tokenChange.push(changed / count);
        r.agree += pred === refPred ? 1 : 0;
        r.correct += pred === label ? 1 : 0;
        if (h) {
          const st = h.stats();
          r.forwarded += st.forwardedTokens;
          r.total += st.totalTokens;
        } else {
          r.forwarded += 1;
          r.total += 1;
        }
        r.n++;
      });
    }
  }

  const table = methods.map((m, i) => {
    const r = rows[i];
    return {
      method: m.name,
      branchTokens: r.forwarded / r.total,
      wallMsMedian: median(r.wall),
      cpuMsMedian: median(r.cpu),
      pixelErrorMedian: median(r.pixel),
      pixelErrorMean: r.pixel.reduce((a, b) => a + b, 0) / r.n,
      tokenChangeMedian: median(r.tokenChange),
      vitAgreement: r.agree / r.n,
      vitMatchesClass: r.correct / r.n,
      generations: r.n,
    };
  });

  const pct = (v) => `${(100 * v).toFixed(1)}%`;
  console.log(`next-scale generation, ${perClass} per class × ${config.num_classes} classes, temperature ${temperature}`);
  console.log('| method | branch tokens computed | time / image (CPU, median) | time / image (wall, median) | pixel error vs unpruned (median / mean) | tokens changed (median) | ViT agrees with unpruned | ViT = requested class |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const t of table) {
    console.log(
      `| ${t.method} | ${pct(t.branchTokens)} | ${t.cpuMsMedian.toFixed(1)} ms | ${t.wallMsMedian.toFixed(1)} ms | ${t.pixelErrorMedian.toFixed(4)} / ${t.pixelErrorMean.toFixed(4)} | ${pct(t.tokenChangeMedian)} | ${pct(t.vitAgreement)} | ${pct(t.vitMatchesClass)} |`,
    );
  }
  runs.push({ temperature, table });
}
await mkdir(new URL('./results/', import.meta.url), { recursive: true });
await writeFile(values.out, JSON.stringify({ perClass, scales: config.scales, schedules: { cache: '4×4', layers: `1–${config.num_layers - 1}` }, runs }, null, 2));
gen.dispose();
vit.dispose();
