// Renders the benchmark results in bench/results/*.json into the @prune/core README, between
// `<!-- selection-benchmark:start/end -->` and `<!-- kernel-benchmark:start/end -->`.
// Run after `node bench/selection.mjs` or `node bench/kernels.mjs`:
//   node scripts/bench-tables.mjs
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { replaceBetweenMarkers } from './capabilities.mjs';
import { ROOT } from './workspace-packages.mjs';

const README = join(ROOT, 'packages', 'core', 'README.md');

/** @param {number} ms */
const fmt = (ms) => (ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2));

/**
 * @param {string} name
 * @returns {any}
 */
function load(name) {
  const file = join(ROOT, 'bench', 'results', name);
  return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : undefined;
}

/** @param {any} r - bench/results/selection.json */
function selectionTable(r) {
  const lines = [
    `${r.shape.join('×')} float32, sparsity ${r.sparsity} (${r.prunedPerRow} pruned per row), median of ${r.rounds} runs; ` +
      `masks identical to the reference: ${r.masksIdentical ? 'yes' : 'NO'}.`,
    '',
    '| method | median wall ms | median CPU ms | speed-up (wall) | speed-up (CPU) |',
    '|---|---|---|---|---|',
  ];
  for (const m of r.methods) {
    lines.push(`| ${m.method} | ${fmt(m.medianMs)} | ${fmt(m.medianCpuMs)} | ${m.speedupVsTorchSort.toFixed(2)}× | ${m.cpuSpeedupVsTorchSort.toFixed(2)}× |`);
  }
  lines.push(
    '',
    `Goal: ${r.goal} — ${r.goalMet ? 'met' : 'not met'}. Measured ${r.date.slice(0, 10)} on ${r.machine.cpus} shared cores (${r.machine.cpuModel}, load average ${r.machine.loadAverage[0]}), Node ${r.machine.node}, PyTorch ${r.python.torch} with ${r.python.threads} threads.`,
  );
  return lines.join('\n');
}

/** @param {any} r - bench/results/kernels.json */
function kernelTable(r) {
  const names = Object.entries(r.backends)
    .filter(([, s]) => /** @type {any} */ (s).available)
    .map(([n]) => n);
  const others = names.filter((n) => n !== 'reference');
  const lines = [
    `Median of ${r.rounds} runs after a warm-up, each through the public op with every output read back to the host. ` +
      'Reference column: milliseconds; other columns: speed-up over the reference (higher is faster); † = the backend leaves this kernel to the reference implementation.',
    '',
    `| kernel | size | reference ms | ${others.join(' | ')} |`,
    `|---|---|---|${others.map(() => '---').join('|')}|`,
  ];
  for (const row of r.results) {
    const ref = row.backends.reference;
    const cells = others.map((n) => {
      const c = row.backends[n];
      if (!c || c.error) return `error: ${c?.error ?? 'not run'}`;
      return `${c.speedupVsReference.toFixed(2)}×${c.native ? '' : ' †'}`;
    });
    lines.push(`| ${row.kernel} | ${row.size} | ${ref.error ? 'error' : fmt(ref.medianMs)} | ${cells.join(' | ')} |`);
  }
  if (r.complete === false) lines.push('', `Partial run: it was stopped after the ${r.results.length} cases above (machine shared, load average ${r.machine.loadAverage?.[0] ?? 'unknown'}).`);
  const missing = Object.entries(r.backends).filter(([, s]) => !(/** @type {any} */ (s).available));
  lines.push(
    '',
    `Measured ${r.date.slice(0, 10)} on ${r.machine.cores} shared cores (${r.machine.cpu}), Node ${r.machine.node}. ` +
      'Cells marked † run the reference code itself, so their spread around 1× shows the measurement noise of that run.',
  );
  for (const [n, s] of missing) lines.push(`${n} was not available in that run: ${/** @type {any} */ (s).reason}`);
  return lines.join('\n');
}

let readme = readFileSync(README, 'utf8');
const selection = load('selection.json');
const kernels = load('kernels.json');
if (selection) readme = replaceBetweenMarkers(readme, 'selection-benchmark', selectionTable(selection));
if (kernels) readme = replaceBetweenMarkers(readme, 'kernel-benchmark', kernelTable(kernels));
writeFileSync(README, readme);
console.log(`updated ${README}: selection ${selection ? 'filled' : 'no results'}, kernels ${kernels ? 'filled' : 'no results'}`);
