// Checks every publishable package the way a downstream consumer sees it: packs it with
// `pnpm pack` (workspace ranges rewritten, `files` applied), then runs publint --strict and
// @arethetypeswrong/cli on the tarball. Packages must be built first (`pnpm run build`).
//
// attw runs with `--profile esm-only`: the packages are ESM-only by design (`"type": "module"`,
// no `require` condition), so the two CommonJS-era resolutions are not checked — node10
// (which ignores `exports`, so subpaths such as `@prune/core/testing` cannot resolve) and
// node16 from CommonJS (which can only reach ESM through `import()`). Everything else must
// be green: types resolve for ESM under node16/nodenext and under bundler resolution.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, packPackage, publishablePackages } from './workspace-packages.mjs';

/** @param {string} name */
const bin = (name) => join(ROOT, 'node_modules', '.bin', name);
const packages = publishablePackages();
if (packages.length === 0) {
  console.error('no publishable packages found under packages/');
  process.exit(1);
}

const destination = mkdtempSync(join(tmpdir(), 'prune-lint-'));
const failed = [];
try {
  for (const pkg of packages) {
    console.log(`--- ${pkg.name}@${pkg.version}`);
    /** @type {[string, string[]][]} */
    const checks = [
      ['publint', ['--strict']],
      ['attw', ['--profile', 'esm-only', '--format', 'table-flipped']],
    ];
    let tarball;
    try {
      tarball = packPackage(pkg, destination);
    } catch (error) {
      const { stderr, message } = /** @type {{ stderr?: string, message: string }} */ (error);
      console.error(`pnpm pack failed: ${stderr || message}`);
      failed.push(`${pkg.name} (pack)`);
      continue;
    }
    for (const [tool, args] of checks) {
      try {
        execFileSync(bin(tool), [tarball, ...args], { stdio: 'inherit' });
      } catch {
        failed.push(`${pkg.name} (${tool})`);
      }
    }
  }
} finally {
  rmSync(destination, { recursive: true, force: true });
}

if (failed.length > 0) {
  console.error(`package checks failed: ${failed.join(', ')}`);
  process.exit(1);
}
console.log(`publint and attw passed for ${packages.map((p) => p.name).join(', ')}`);
