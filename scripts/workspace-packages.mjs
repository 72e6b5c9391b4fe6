// Helpers shared by the package checks (scripts/lint-packages.mjs) and the consumer test
// (test/consumers.test.ts): which workspace packages are published, how to pack them the
// way a release does, and how to read a packed manifest and a README's example.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Absolute path of the repository root. */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * @typedef {object} WorkspacePackage
 * @property {string} name - npm name, e.g. `@prune/core`
 * @property {string} version - version in package.json
 * @property {string} dir - absolute path of the package folder
 * @property {Record<string, any>} manifest - parsed package.json
 */

/**
 * The workspace packages that are published (every `packages/*` folder with a
 * package.json that is not `private`), sorted by name.
 * @returns {WorkspacePackage[]}
 */
export function publishablePackages() {
  const packagesDir = join(ROOT, 'packages');
  return readdirSync(packagesDir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(packagesDir, entry.name, 'package.json')))
    .map((entry) => {
      const dir = join(packagesDir, entry.name);
      const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
      return { name: manifest.name, version: manifest.version, dir, manifest };
    })
    .filter((pkg) => pkg.manifest.private !== true)
    .sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * Packs `pkg` with `pnpm pack` into `destination` — the same tarball a release publishes,
 * with `workspace:` ranges rewritten to real versions. The package must be built first.
 * @param {WorkspacePackage} pkg
 * @param {string} destination - folder for the tarball
 * @returns {string} absolute path of the tarball
 */
export function packPackage(pkg, destination) {
  const out = execFileSync('pnpm', ['pack', '--pack-destination', destination, '--json'], {
    cwd: pkg.dir,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // pnpm may print lifecycle output before the JSON document.
  const info = JSON.parse(out.slice(out.indexOf('{')));
  return info.filename;
}

/**
 * Reads `package/package.json` out of a tarball made by {@link packPackage}.
 * @param {string} tarball
 * @returns {Record<string, any>}
 */
export function packedManifest(tarball) {
  return JSON.parse(execFileSync('tar', ['-xzOf', tarball, 'package/package.json'], { encoding: 'utf8' }));
}

/**
 * The first ```js (or ```javascript / ```mjs) code block under the `## Example` heading of
 * a README, or `undefined` when there is none.
 * @param {string} markdown
 * @returns {string | undefined}
 */
export function readmeExample(markdown) {
  const lines = markdown.split(/\r?\n/);
  const heading = lines.findIndex((line) => /^##\s+Example\s*$/.test(line));
  if (heading < 0) return undefined;
  let start = -1;
  for (let i = heading + 1; i < lines.length; i++) {
    if (/^##?\s/.test(lines[i])) return undefined; // next section: no example block
    if (/^```(js|javascript|mjs)\s*$/.test(lines[i])) {
      start = i + 1;
      break;
    }
  }
  if (start < 0) return undefined;
  const end = lines.findIndex((line, i) => i >= start && /^```\s*$/.test(line));
  return end < 0 ? undefined : lines.slice(start, end).join('\n') + '\n';
}
