#!/usr/bin/env node
// ACP benchmark: FLOP saving and wall-clock of the block-sparse forgetting-attention kernel
// against the same backend's full forgetting attention, at context 256, 1k and 4k, in one
// process. Inputs are random but shaped like a trained FoX layer: forget-gate logits biased
// per head (b_h = 0, 1, 2, 4: mean log f ≈ −0.7, −0.3, −0.13, −0.02 per token, fast- to slow-forgetting heads) so Λ decays, and q, k
// with moderate norms (std 0.5, head size 64). The same measurements on the trained FoX LM of
// @prune/zoo are in bench/attention-fox.mjs.
//
// Per backend the ACP kernel is timed against (a) the same kernel with pruning off (every
// causal tile: full forgetting attention in the same code) and, up to 1k, (b) the dense
// core-op forgetting attention. Each cell is the median of BENCH_ROUNDS timed runs after a
// warm-up, up to the output being read back to the host.
//
// Uses the built packages: `pnpm run build`, then `node bench/attention-acp.mjs`. Options
// (environment): BENCH_ROUNDS (default 3), BENCH_CONTEXTS (default 256,1024,4096),
// BENCH_BACKENDS (default reference,tfjs-wasm), BENCH_WARMUP=0 to skip the warm-up run (for
// the slow 4k reference cells on a loaded machine). Rows are merged into the JSON by
// (backend, context), so contexts may be measured in separate invocations; every ratio
// compares two timings from the same invocation.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as core from '../packages/core/dist/index.js';
import { forgettingAttention, forgettingAttentionAcp } from '../packages/attention/dist/index.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3));
const CONTEXTS = (process.env.BENCH_CONTEXTS ?? '256,1024,4096').split(',').map(Number);
const BACKENDS = (process.env.BENCH_BACKENDS ?? 'reference,tfjs-wasm').split(',').map((s) => s.trim());
const HEADS = 4;
const D = 64;
const GATE_BIAS = [0, 1, 2, 4];
const ACP = { logTolerance: -10, blockM: 64, blockN: 64 };

async function backendNamed(name) {
  if (name === 'reference') return core.referenceBackend;
  if (name.startsWith('tfjs-')) {
    const { createTfjsBackend } = await import('../packages/tfjs/dist/index.js');
    return createTfjsBackend({ backend: name.slice(5) });
  }
  if (name.startsWith('gpujs-')) {
    const { createGpujsBackend } = await import('../packages/gpujs/dist/index.js');
    return createGpujsBackend({ mode: name.slice(6) });
  }
  throw new Error(`unknown backend ${name}`);
}

function inputs(n, backend) {
  const rng = new core.Random(n);
  const normal = (len, s) => Float32Array.from({ length: len }, () => s * rng.normal());
  const logF = new Float32Array(HEADS * n);
  for (let h = 0; h < HEADS; h++) for (let t = 0; t < n; t++) logF[h * n + t] = -Math.log1p(Math.exp(-(GATE_BIAS[h] + 0.5 * rng.normal())));
  const opt = { backend };
  return {
    q: core.fromArray(normal(HEADS * n * D, 0.5), [1, HEADS, n, D], 'float32', opt),
    k: core.fromArray(normal(HEADS * n * D, 0.5), [1, HEADS, n, D], 'float32', opt),
    v: core.fromArray(normal(HEADS * n * D, 1), [1, HEADS, n, D], 'float32', opt),
    logF: core.fromArray(logF, [1, HEADS, n], 'float32', opt),
  };
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function time(fn) {
  const out = [];
  if (process.env.BENCH_WARMUP !== '0') core.dispose(fn()); // warm-up
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now();
    const result = fn();
    result.dataSync();
    out.push(performance.now() - t0);
    core.dispose(result);
  }
  return median(out);
}

const rows = [];
for (const name of BACKENDS) {
  let backend;
  try {
    backend = await backendNamed(name);
  } catch (e) {
    console.log(`${name}: not available (${e.message})`);
    continue;
  }
  for (const n of CONTEXTS) {
    const x = inputs(n, backend);
    const probe = forgettingAttentionAcp(x.q, x.k, x.v, x.logF, ACP);
    const maxDiffVsFull = (() => {
      const full = forgettingAttentionAcp(x.q, x.k, x.v, x.logF, { ...ACP, prune: false });
      const a = probe.output.dataSync();
      const b = full.output.dataSync();
      let worst = 0;
      for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
      core.dispose([full.output]);
      return worst;
    })();
    core.dispose(probe.output);
    const acpMs = time(() => forgettingAttentionAcp(x.q, x.k, x.v, x.logF, ACP).output);
    const fullMs = time(() => forgettingAttentionAcp(x.q, x.k, x.v, x.logF, { ...ACP, prune: false }).output);
    const denseMs = n <= 1024 ? time(() => forgettingAttention(x.q, x.k, x.v, x.logF)) : null;
    const row = {
      backend: name,
      kernel: backend === core.referenceBackend ? 'host' : 'tiles',
      context: n,
      flopSaving: probe.totalFlopSaving,
      headFlopSaving: Array.from(probe.headFlopSaving),
      acpMs,
      fullSameKernelMs: fullMs,
      speedupVsFullSameKernel: fullMs / acpMs,
      denseCoreOpsMs: denseMs,
      speedupVsDense: denseMs === null ? null : denseMs / acpMs,
      maxAbsDiffVsFull: maxDiffVsFull,
    };
    row.rounds = ROUNDS;
    row.loadAverage = os.loadavg()[0];
    rows.push(row);
    save();
    core.dispose(Object.values(x));
    console.log(
      `${name.padEnd(10)} n=${String(n).padStart(5)}  saving ${(100 * row.flopSaving).toFixed(1)}% (heads ${row.headFlopSaving.map((s) => (100 * s).toFixed(0)).join('/')})  ` +
        `acp ${acpMs.toFixed(1)} ms  full ${fullMs.toFixed(1)} ms  ×${row.speedupVsFullSameKernel.toFixed(2)}` +
        (denseMs === null ? '' : `  dense ${denseMs.toFixed(1)} ms ×${row.speedupVsDense.toFixed(2)}`) +
        `  max|ΔO| ${maxDiffVsFull.toExponential(1)}`,
    );
  }
}

function save() {
  mkdirSync(join(HERE, 'results'), { recursive: true });
  const file = join(HERE, 'results', 'attention-acp.json');
  const old = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')).rows ?? [] : [];
  const key = (r) => `${r.backend}@${r.context}`;
  const merged = [...old.filter((r) => !rows.some((n) => key(n) === key(r))), ...rows].sort((a, b) => a.backend.localeCompare(b.backend) || a.context - b.context);
  writeFileSync(
    file,
    `${JSON.stringify({ bench: 'attention-acp', date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, heads: HEADS, headDim: D, gateBias: GATE_BIAS, acp: ACP, inputs: 'random, forget-gate logits b_h + 0.5·N(0,1), q/k std 0.5, v std 1', rows: merged }, null, 2)}\n`,
  );
}
save();
console.log('wrote bench/results/attention-acp.json');
