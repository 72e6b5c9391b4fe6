// Quality table of @prune/weights on the zoo LM: dense, magnitude, Wanda and SparseGPT at 50%
// unstructured, 2:4, 4:8, and 70% with and without OWL — one fixed calibration and
// evaluation protocol for every method. Runs the `prune` command's own code path.
//
// Usage: node bench/weights-quality.mjs [--backend tfjs-wasm] [--eval-windows 32] [--nsamples 128]
// Writes bench/results/weights-quality.json.
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { main } from '../packages/cli/dist/index.js';

const { values } = parseArgs({ options: { backend: { type: 'string', default: 'tfjs-wasm' }, 'eval-windows': { type: 'string', default: '32' }, nsamples: { type: 'string', default: '128' } } });
const configs = [
  { label: '50% unstructured', args: ['--sparsity', '0.5'], methods: 'magnitude,wanda,sparsegpt' },
  { label: '2:4', args: ['--pattern', '2:4'], methods: 'magnitude,wanda,sparsegpt' },
  { label: '4:8', args: ['--pattern', '4:8'], methods: 'magnitude,wanda,sparsegpt' },
  { label: '70% unstructured', args: ['--sparsity', '0.7'], methods: 'magnitude,wanda,sparsegpt,owl-wanda,owl-sparsegpt' },
];

function capture() {
  let text = '';
  return { stream: new Writable({ write(c, _e, done) { text += String(c); done(); } }), text: () => text };
}

const work = await mkdtemp(join(tmpdir(), 'prune-quality-'));
const rows = [];
let dense;
const started = Date.now();
try {
  for (const c of configs) {
    const out = capture();
    const err = capture();
    const code = await main(
      ['--compare', c.methods, ...c.args, '--backend', values.backend, '--eval-windows', values['eval-windows'], '--nsamples', values.nsamples, '--json', '--out', join(work, c.label.replace(/\W+/g, '-'))],
      { stdout: out.stream, stderr: err.stream },
    );
    if (code !== 0) throw new Error(`prune failed for ${c.label}: ${err.text()}`);
    const report = JSON.parse(out.text());
    dense = report.dense;
    for (const r of report.results) {
      rows.push({ config: c.label, method: r.method, sparsity: r.sparsity, perplexity: r.perplexity, seconds: r.seconds, sparseBytes: r.size.sparseBytes, denseBytes: r.size.denseBytes });
    }
    console.error(`${c.label}: done (${Math.round((Date.now() - started) / 1000)} s)`);
  }
} finally {
  await rm(work, { recursive: true, force: true });
}

const sources = Object.keys(dense.bySource);
const fmt = (x) => x.toFixed(2);
const header = ['config', 'method', 'sparsity', 'ppl (all)', ...sources, 'prune time'];
const lines = [['—', 'dense', '0%', fmt(dense.overall), ...sources.map((s) => fmt(dense.bySource[s])), '—']];
for (const r of rows) lines.push([r.config, r.method, `${(r.sparsity * 100).toFixed(1)}%`, fmt(r.perplexity.overall), ...sources.map((s) => fmt(r.perplexity.bySource[s])), `${r.seconds.toFixed(1)} s`]);
const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
const md = [header, widths.map((w) => '-'.repeat(w)), ...lines].map((l) => `| ${l.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`).join('\n');
console.log(md);
await mkdir(new URL('./results/', import.meta.url), { recursive: true });
await writeFile(
  new URL('./results/weights-quality.json', import.meta.url),
  `${JSON.stringify({ backend: values.backend, nsamples: Number(values.nsamples), evalWindowsPerSource: Number(values['eval-windows']), dense, rows, totalSeconds: (Date.now() - started) / 1000 }, null, 2)}\n`,
);
