#!/usr/bin/env node
// Scale benchmark: prune a synthetic safetensors checkpoint of ≥ 4 GB layer by layer through
// @prune/core's checkpoint adapter (openCheckpointAdapter) and measure peak resident memory
// against the size of the checkpoint's largest tensor. The claim under test: streaming a
// checkpoint keeps peak RSS below 3× its largest tensor, whatever the checkpoint's size.
//
// The checkpoint has LLaMA-7B shapes in float32: per block q/k/v/o projections of
// 4096 × 4096 and gate/up 11008 × 4096, down 4096 × 11008, two RMSNorm vectors; plus a
// (shortened, 8192-token) embedding and LM head that the adapter copies unchanged. Values are
// uniform, deterministic (core's Random, seed 0). It is written tensor by tensor with the
// streaming writer in a child process.
//
// Each pruning method runs in a fresh child process (so its peak is its own), data-free:
// for each layer read → prune → write, one tensor at a time, each written as soon as it is
// done. The streaming methods prune the weights in place with @prune/weights'
// pruneMagnitudeInPlace — score, select and apply fused per row, the per-matrix threshold
// found by an exact radix select over the float bits of |W| (two histogram passes, no copy of
// the matrix) — so the only full-size buffer is the tensor just read:
//   magnitude-matrix     per-matrix 50% threshold (the reference magnitude baseline)
//   magnitude-row        per-row 50% (Wanda's comparison group)
//   nm-2:4               2:4 magnitude (prune 2 of every 4)
//   pipeline-magnitude   the same per-matrix magnitude through pruneModel(openCheckpointAdapter,
//                        magnitude()), which prunes in place through pruneLayerInPlace
// Peak RSS is measured two ways: process.memoryUsage().rss sampled on a 2 ms timer and at
// every step, and the kernel's high-water mark VmHWM from /proc/self/status at the end.
// After each run the output is spot-checked (sparsity of a pruned matrix, bit-identical
// embedding) and deleted; the input is deleted at the end (unless --keep).
//
// Run: pnpm run build (core and weights) && node bench/scale.mjs
// Options: --dir DIR (default /work/tmp if it exists, else the OS temp folder), --blocks N
// (default 5 → 4.3 GB), --methods a,b,c, --keep (keep the input checkpoint), --input FILE
// (reuse a checkpoint kept by an earlier --keep run of the same --blocks), --gc (run a full
// garbage collection at every step boundary: measures the live set, not V8's timing).
// Writes bench/results/scale.json.
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const SELF = fileURLToPath(import.meta.url);
const CORE = pathToFileURL(join(HERE, '../packages/core/dist/index.js')).href;
const WEIGHTS = join(HERE, '../packages/weights/dist/index.js');
const RATIO_LIMIT = 3;

const HIDDEN = 4096;
const INTERMEDIATE = 11008;
const VOCAB = 8192;

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

/** Tensor specs in writing order, LLaMA naming. */
function checkpointSpecs(blocks) {
  const specs = new Map();
  specs.set('model.embed_tokens.weight', { dtype: 'F32', shape: [VOCAB, HIDDEN] });
  for (let b = 0; b < blocks; b++) {
    const p = `model.layers.${b}`;
    for (const m of ['q_proj', 'k_proj', 'v_proj', 'o_proj']) specs.set(`${p}.self_attn.${m}.weight`, { dtype: 'F32', shape: [HIDDEN, HIDDEN] });
    specs.set(`${p}.mlp.gate_proj.weight`, { dtype: 'F32', shape: [INTERMEDIATE, HIDDEN] });
    specs.set(`${p}.mlp.up_proj.weight`, { dtype: 'F32', shape: [INTERMEDIATE, HIDDEN] });
    specs.set(`${p}.mlp.down_proj.weight`, { dtype: 'F32', shape: [HIDDEN, INTERMEDIATE] });
    specs.set(`${p}.input_layernorm.weight`, { dtype: 'F32', shape: [HIDDEN] });
    specs.set(`${p}.post_attention_layernorm.weight`, { dtype: 'F32', shape: [HIDDEN] });
  }
  specs.set('model.norm.weight', { dtype: 'F32', shape: [HIDDEN] });
  specs.set('lm_head.weight', { dtype: 'F32', shape: [VOCAB, HIDDEN] });
  return specs;
}

function vmHWM() {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** Peak-RSS sampler: a timer plus explicit samples at step boundaries. */
function rssSampler() {
  let peak = process.memoryUsage().rss;
  const sample = () => {
    const rss = process.memoryUsage().rss;
    if (rss > peak) peak = rss;
  };
  const timer = setInterval(sample, 2);
  return {
    sample,
    stop() {
      clearInterval(timer);
      sample();
      return peak;
    },
  };
}

// ---------------------------------------------------------------- child: generate
async function generate(path, blocks) {
  const core = await import(CORE);
  const specs = checkpointSpecs(blocks);
  const rng = new core.Random(0);
  const start = performance.now();
  const writer = await core.createSafetensorsWriter(path, specs, { metadata: { format: 'pt', note: 'synthetic LLaMA-7B-shaped checkpoint for the scale benchmark' } });
  try {
    for (const [name, spec] of specs) {
      const n = spec.shape.reduce((a, d) => a * d, 1);
      const data = new Float32Array(n);
      if (spec.shape.length === 1) data.fill(1);
      else for (let i = 0; i < n; i++) data[i] = (rng.nextUint32() / 4294967296 - 0.5) * 0.04;
      await writer.write(name, data);
    }
    await writer.finish();
  } catch (error) {
    await writer.abort();
    throw error;
  }
  return { seconds: (performance.now() - start) / 1000, bytes: statSync(path).size };
}

// ---------------------------------------------------------------- child: prune
const STREAMING = {
  'magnitude-matrix': { kind: 'unstructured', sparsity: 0.5, scope: 'matrix' },
  'magnitude-row': { kind: 'unstructured', sparsity: 0.5, scope: 'row' },
  'nm-2:4': { kind: 'nm', prune: 2, group: 4 },
};

async function prune(input, output, method, gcAtSteps) {
  const core = await import(CORE);
  const w = await import(pathToFileURL(WEIGHTS).href);
  // With --gc, a full collection runs at every step boundary, so the figure is the live set
  // rather than V8's timing: the reference backend frees a tensor's array only when the
  // garbage collector runs.
  const collect = gcAtSteps && typeof globalThis.gc === 'function' ? () => globalThis.gc() : () => undefined;
  const baseline = process.memoryUsage().rss;
  const sampler = rssSampler();
  const start = performance.now();
  const adapter = await core.openCheckpointAdapter(input, { output });
  let layers = 0;
  let largestLayerBytes = 0;
  const steps = { read: 0, prune: 0, write: 0 };
  try {
    if (method === 'pipeline-magnitude') {
      const t = performance.now();
      const report = await w.pruneModel(adapter, { method: w.magnitude(), target: w.unstructured(0.5) });
      steps.prune = performance.now() - t;
      layers = report.layers.length;
      largestLayerBytes = Math.max(...report.layers.map((l) => l.shape[0] * l.shape[1] * 4));
    } else {
      const spec = STREAMING[method];
      if (spec === undefined) throw new Error(`unknown method ${method}`);
      const target = spec.kind === 'nm' ? w.nm(spec.prune, spec.group) : w.unstructured(spec.sparsity);
      for (const block of adapter.blocks()) {
        for (const layer of block.layers) {
          let t = performance.now();
          const weight = await adapter.readWeight(layer.name);
          collect();
          sampler.sample();
          steps.read += performance.now() - t;
          t = performance.now();
          // The reference backend's storage is the array read from the file: prune it in place.
          w.pruneMagnitudeInPlace(weight.ref().handle, weight.shape, target, { scope: spec.scope, name: layer.name });
          sampler.sample();
          steps.prune += performance.now() - t;
          t = performance.now();
          await adapter.writeWeight(layer.name, weight);
          weight.dispose();
          collect();
          sampler.sample();
          steps.write += performance.now() - t;
          layers++;
          largestLayerBytes = Math.max(largestLayerBytes, layer.shape[0] * layer.shape[1] * 4);
        }
      }
    }
    const t = performance.now();
    const result = await adapter.finish();
    const finishMs = performance.now() - t;
    const seconds = (performance.now() - start) / 1000;
    const sampledPeak = sampler.stop();
    return {
      method,
      gcAtSteps: Boolean(gcAtSteps),
      maskSource: method === 'pipeline-magnitude' ? 'pruneModel + magnitude() (in place through pruneLayerInPlace)' : '@prune/weights pruneMagnitudeInPlace (streaming, in place)',
      layers,
      largestLayerBytes,
      baselineRss: baseline,
      sampledPeakRss: sampledPeak,
      vmHWM: vmHWM(),
      seconds,
      stepSeconds: Object.fromEntries(Object.entries({ ...steps, finish: finishMs }).map(([k, v]) => [k, v / 1000])),
      outputBytes: result.bytes,
      copiedTensors: result.copiedTensors,
    };
  } catch (error) {
    sampler.stop();
    await adapter.abort().catch(() => undefined);
    throw error;
  }
}

// ---------------------------------------------------------------- parent
function runChild(args, nodeFlags = []) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeFlags, SELF, '--child', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`child ${args.join(' ')} exited with ${code}`));
      else resolve(JSON.parse(out.trim().split('\n').at(-1)));
    });
  });
}

const mb = (b) => `${(b / 2 ** 20).toFixed(0)} MiB`;

async function spotCheck(core, input, output) {
  const a = await core.openSafetensors(input);
  const b = await core.openSafetensors(output);
  try {
    const name = 'model.layers.0.mlp.down_proj.weight';
    const w = await b.readTensor(name);
    let zeros = 0;
    for (let i = 0; i < w.length; i++) if (w[i] === 0) zeros++;
    const hash = async (f) => createHash('sha256').update(await f.readTensor('model.embed_tokens.weight', { as: 'raw' })).digest('hex');
    return { sparsityOfDownProj0: zeros / w.length, embeddingBitIdentical: (await hash(a)) === (await hash(b)) };
  } finally {
    await a.close();
    await b.close();
  }
}

async function main() {
  const dir = arg('dir', existsSync('/work/tmp') ? '/work/tmp' : os.tmpdir());
  const blocks = Number(arg('blocks', '5'));
  const methods = arg('methods', 'magnitude-matrix,magnitude-row,nm-2:4,pipeline-magnitude').split(',');
  const reuse = arg('input', undefined);
  const work = reuse === undefined ? join(dir, `prune-scale-${process.pid}`) : dirname(reuse);
  mkdirSync(work, { recursive: true });
  const input = reuse ?? join(work, 'model.safetensors');
  const output = join(work, 'pruned.safetensors');
  const specs = checkpointSpecs(blocks);
  const largestTensorBytes = Math.max(...[...specs.values()].map((s) => s.shape.reduce((a, d) => a * d, 4)));
  const planned = [...specs.values()].reduce((a, s) => a + s.shape.reduce((x, d) => x * d, 4), 0);
  const free = Number(execFileSync('df', ['-B1', '--output=avail', dir], { encoding: 'utf8' }).trim().split('\n').at(-1));
  if (free < planned * (reuse === undefined ? 2.2 : 1.1)) throw new Error(`${dir} has ${mb(free)} free; the benchmark needs about ${mb(planned * 2.2)} (input + one output)`);
  console.error(`generating ${mb(planned)} checkpoint (${blocks} blocks) in ${work} …`);
  const core = await import(CORE);
  const runs = [];
  try {
    const generated = reuse === undefined ? await runChild(['generate', input, String(blocks)]) : { seconds: NaN, bytes: statSync(input).size };
    console.error(`  written in ${generated.seconds.toFixed(1)} s`);
    const resultFile = join(HERE, 'results', process.argv.includes('--gc') ? 'scale-gc.json' : 'scale.json');
    const save = () => {
      const result = {
        benchmark: 'streaming pruning of a synthetic safetensors checkpoint',
        node: process.version,
        backend: 'reference',
        machine: { cpus: os.cpus().length, totalMemory: os.totalmem(), loadavg: os.loadavg() },
        checkpoint: { blocks, tensors: specs.size, bytes: generated.bytes, largestTensorBytes, largestTensor: `F32 [${INTERMEDIATE}, ${HIDDEN}]`, generateSeconds: generated.seconds },
        limit: `peak RSS < ${RATIO_LIMIT} × largest tensor = ${RATIO_LIMIT * largestTensorBytes} bytes`,
        runs,
      };
      mkdirSync(join(HERE, 'results'), { recursive: true });
      writeFileSync(resultFile, `${JSON.stringify(result, null, 2)}\n`);
    };
    for (const method of methods) {
      console.error(`pruning with ${method} …`);
      const gcAtSteps = process.argv.includes('--gc');
      const r = await runChild(['prune', input, output, method, gcAtSteps ? 'gc' : ''], gcAtSteps ? ['--expose-gc'] : []);
      const check = await spotCheck(core, input, output);
      rmSync(output, { force: true });
      const peak = Math.max(r.sampledPeakRss, r.vmHWM);
      runs.push({ ...r, ...check, peakRss: peak, ratio: peak / largestTensorBytes, pass: peak < RATIO_LIMIT * largestTensorBytes });
      // Saved after every run, so a run cut short keeps the finished methods.
      save();
      console.error(`  ${r.seconds.toFixed(1)} s, peak ${mb(peak)} (${(peak / largestTensorBytes).toFixed(2)}× largest tensor)`);
    }
    console.log(`\ninput ${mb(generated.bytes)} (${specs.size} tensors), largest tensor ${mb(largestTensorBytes)}; limit ${RATIO_LIMIT}× = ${mb(RATIO_LIMIT * largestTensorBytes)}\n`);
    const rows = [['method', 'mask from', 'time', 'baseline RSS', 'peak RSS (timer)', 'VmHWM', 'peak / largest', 'output', 'sparsity', 'embed identical', 'pass']];
    for (const r of runs) {
      rows.push([r.method, r.maskSource, `${r.seconds.toFixed(1)} s`, mb(r.baselineRss), mb(r.sampledPeakRss), mb(r.vmHWM), `${r.ratio.toFixed(2)}×`, mb(r.outputBytes), r.sparsityOfDownProj0.toFixed(4), String(r.embeddingBitIdentical), r.pass ? 'yes' : 'NO']);
    }
    const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
    for (const row of rows) console.log(row.map((cell, c) => cell.padEnd(widths[c])).join('  '));
    console.log(`\nwrote ${resultFile}`);
    if (runs.some((r) => !r.pass)) process.exitCode = 1;
  } finally {
    rmSync(output, { force: true });
    if (process.argv.includes('--keep') || reuse !== undefined) console.error(`kept ${input}`);
    else rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') {
  const [kind, ...rest] = process.argv.slice(3);
  const result = kind === 'generate' ? await generate(rest[0], Number(rest[1])) : await prune(rest[0], rest[1], rest[2], rest[3] === 'gc');
  process.stdout.write(`${JSON.stringify(result)}\n`);
} else {
  await main();
}
