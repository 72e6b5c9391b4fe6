// Writes the kernel capability tables of the docs from the backends themselves: which
// kernels each backend runs natively and which it leaves to the reference backend, as
// `backendCapabilities()` reports them. The tables sit between
// `<!-- capabilities:start -->` and `<!-- capabilities:end -->` in CAPABILITY_DOCS.
//
//   node scripts/capabilities.mjs          rewrite the tables (after `pnpm run build`)
//   node scripts/capabilities.mjs --check  exit 1 when a table is out of date
//
// test/docs.test.ts runs the same generation against the sources, so a backend that
// changes its kernel set without regenerating the docs fails the tests.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from './workspace-packages.mjs';

/** Files holding a capability table, and whether each also lists the backends' notes. */
export const CAPABILITY_DOCS = [
  { path: 'docs/guide/choosing-a-backend.md', notes: true },
  { path: 'packages/core/README.md', notes: false },
];

/** tfjs backends that need a browser or an optional native package, by tfjs backend name. */
const TFJS_ELSEWHERE = [
  { names: ['tfjs-node', 'tfjs-node-gpu'], tfjsName: 'tensorflow' },
  { names: ['tfjs-webgl', 'tfjs-webgpu'], tfjsName: 'webgl' },
];

/**
 * @typedef {object} CapabilityColumn
 * @property {string[]} names - backends sharing this kernel set
 * @property {Set<string>} native - kernels run natively
 * @property {string[]} notes - the notes of the backends in the column that were created
 */

/**
 * Collects one column per distinct kernel set. Backends that start in Node are created and
 * asked with `backendCapabilities()`; the tfjs backends that need a browser or a native
 * package report the kernel set they would run through `nativeKernelsFor()`, and every
 * gpu.js mode shares one kernel set (the kernels do not depend on the mode).
 * @param {any} core - the `@prune/core` module
 * @param {any} tfjs - the `@prune/tfjs` module
 * @param {any} gpujs - the `@prune/gpujs` module
 * @returns {Promise<CapabilityColumn[]>}
 */
export async function capabilityColumns(core, tfjs, gpujs) {
  tfjs.registerTfjsBackends();
  gpujs.registerGpujsBackends();
  /** @type {{ name: string, native: string[], notes: string[] }[]} */
  const backends = [{ name: 'reference', native: [...core.backendCapabilities(core.referenceBackend).native], notes: [...(core.referenceBackend.notes ?? [])] }];
  /** @param {string} name */
  const create = async (name) => {
    const backend = await core.findBackend(name);
    backends.push({ name, native: [...core.backendCapabilities(backend).native], notes: [...(backend.notes ?? [])] });
  };
  await create('tfjs-cpu');
  await create('tfjs-wasm');
  for (const { names, tfjsName } of TFJS_ELSEWHERE) {
    for (const name of names) backends.push({ name, native: tfjs.nativeKernelsFor(tfjsName), notes: [] });
  }
  await create('gpujs-cpu');
  await create('gpujs-webasm');
  const gpujsNative = backends.find((b) => b.name === 'gpujs-cpu')?.native ?? [];
  for (const mode of ['headlessgl', 'webgl', 'webgl2', 'gpu']) backends.push({ name: `gpujs-${mode}`, native: gpujsNative, notes: [] });
  // Why gpu.js leaves kernels to the reference backend, as the package states it.
  const gpujsReasons = Object.entries(gpujs.GPUJS_FALLBACK_REASONS ?? {}).map(([kernel, why]) => `\`${kernel}\` uses the reference backend: ${why}.`);
  backends.find((b) => b.name === 'gpujs-cpu')?.notes.push(...gpujsReasons);

  // One column per package family and kernel set; notes gathered from every backend in it.
  /** @type {(CapabilityColumn & { key: string })[]} */
  const columns = [];
  for (const b of backends) {
    const key = `${b.name.split('-')[0]}:${[...b.native].sort().join(',')}`;
    const same = columns.find((c) => c.key === key);
    if (same) {
      same.names.push(b.name);
      for (const note of b.notes) if (!same.notes.includes(note)) same.notes.push(note);
    } else {
      columns.push({ key, names: [b.name], native: new Set(b.native), notes: [...b.notes] });
    }
  }
  return columns;
}

/**
 * The markdown of a capability table (and, with `withNotes`, each backend's notes).
 * @param {readonly string[]} kernelNames - `KERNEL_NAMES` from `@prune/core`
 * @param {CapabilityColumn[]} columns
 * @param {boolean} withNotes
 * @returns {string}
 */
export function capabilityMarkdown(kernelNames, columns, withNotes) {
  const header = ['kernel', ...columns.map((c) => c.names.join(', '))];
  const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`];
  for (const kernel of kernelNames) {
    lines.push(`| \`${kernel}\` | ${columns.map((c) => (c.native.has(kernel) ? '✓' : '·')).join(' | ')} |`);
  }
  const native = columns.map((c) => `${c.names.join(', ')}: ${c.native.size} of ${kernelNames.length} native`);
  lines.push('', `(${native.join('; ')}.)`);
  if (withNotes) {
    for (const c of columns.filter((col) => col.notes.length > 0)) {
      lines.push('', `**${c.names.join(', ')}**`, '', ...c.notes.map((n) => `- ${n}`));
    }
  }
  return lines.join('\n');
}

/**
 * Replaces what stands between `<!-- NAME:start -->` and `<!-- NAME:end -->`.
 * @param {string} text
 * @param {string} name
 * @param {string} content
 * @returns {string}
 */
export function replaceBetweenMarkers(text, name, content) {
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  if (i < 0 || j < i) throw new Error(`markers ${start} … ${end} not found`);
  return `${text.slice(0, i + start.length)}\n${content}\n${text.slice(j)}`;
}

/**
 * Every capability doc with its table regenerated: `[{ path, current, expected }]`.
 * @param {any} core
 * @param {any} tfjs
 * @param {any} gpujs
 */
export async function capabilityDocs(core, tfjs, gpujs) {
  const columns = await capabilityColumns(core, tfjs, gpujs);
  return CAPABILITY_DOCS.map(({ path, notes }) => {
    const current = readFileSync(join(ROOT, path), 'utf8');
    const expected = replaceBetweenMarkers(current, 'capabilities', capabilityMarkdown(core.KERNEL_NAMES, columns, notes));
    return { path, current, expected };
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const check = process.argv.includes('--check');
  /** @param {string} name */
  const dist = (name) => pathToFileURL(join(ROOT, 'packages', name, 'dist', 'index.js')).href;
  const [core, tfjs, gpujs] = await Promise.all([import(dist('core')), import(dist('tfjs')), import(dist('gpujs'))]);
  let stale = 0;
  for (const doc of await capabilityDocs(core, tfjs, gpujs)) {
    if (doc.current === doc.expected) continue;
    stale++;
    if (check) console.error(`${doc.path}: capability table is out of date; run node scripts/capabilities.mjs`);
    else {
      writeFileSync(join(ROOT, doc.path), doc.expected);
      console.log(`updated ${doc.path}`);
    }
  }
  if (check && stale > 0) process.exit(1);
  if (stale === 0) console.log('capability tables are up to date');
  process.exit(0);
}
