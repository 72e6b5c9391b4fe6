// What a user who runs `npm install @prune/<name>` gets must work: every publishable
// package is built, packed with `pnpm pack` (as a release does), installed from the tarballs
// into a fresh npm project outside the workspace (its registry dependencies, such as
// @tensorflow/tfjs-core or gpu.js, come from the npm registry), and the ```js block under
// `## Example` in each package's README runs there with plain node.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ROOT,
  packPackage,
  packedManifest,
  publishablePackages,
  readmeExample,
} from '../scripts/workspace-packages.mjs';

const packages = publishablePackages();
const packageNames = new Set(packages.map((p) => p.name));
const DEPENDENCY_FIELDS = ['dependencies', 'peerDependencies', 'optionalDependencies'] as const;

/**
 * The environment of a user's shell: no vitest, pnpm or npm-lifecycle variables leak into
 * the consumer project.
 */
function userEnv(): NodeJS.ProcessEnv {
  const keep = /^(PATH|HOME|TMPDIR|TMP|TEMP|LANG|LC_ALL|http_proxy|https_proxy|HTTP_PROXY|HTTPS_PROXY|no_proxy|NO_PROXY|npm_config_registry|npm_config_cache)$/;
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => keep.test(key)));
}

let project = '';
const tarballs = new Map<string, string>();

beforeAll(() => {
  // Fresh dist/ for every package (cache hits when `pnpm test` or CI has just built).
  execFileSync(join(ROOT, 'node_modules', '.bin', 'turbo'), ['run', 'build', '--output-logs=errors-only'], {
    cwd: ROOT,
    env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });

  project = mkdtempSync(join(tmpdir(), 'prune-consumer-'));
  const packed = join(project, 'tarballs');
  mkdirSync(packed);
  for (const pkg of packages) tarballs.set(pkg.name, packPackage(pkg, packed));

  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify({ name: 'prune-consumer', version: '1.0.0', private: true }, null, 2),
  );
  // One install for all tarballs, so each workspace dependency is satisfied by the tarball
  // packed beside it. Install scripts are skipped as in a locked-down install: the packages
  // must work without them (gpu.js's optional native `gl` stays unbuilt).
  const install = spawnSync(
    'npm',
    ['install', '--no-audit', '--no-fund', '--ignore-scripts', '--prefer-offline', '--loglevel=error', ...tarballs.values()],
    { cwd: project, env: userEnv(), encoding: 'utf8' },
  );
  if (install.status !== 0) {
    throw new Error(`npm install of the packed tarballs failed (exit ${install.status}):\n${install.stdout}\n${install.stderr}`);
  }
}, 900_000);

afterAll(() => {
  if (project) rmSync(project, { recursive: true, force: true });
});

describe('packed packages in a fresh npm project', () => {
  it('finds publishable packages', () => {
    expect(packages.length).toBeGreaterThan(0);
    expect(packageNames.has('@prune/core')).toBe(true);
  });

  it('rewrites workspace ranges to real versions that the packed siblings satisfy', () => {
    for (const pkg of packages) {
      const manifest = packedManifest(tarballs.get(pkg.name)!);
      expect(manifest.version).toBe(pkg.version);
      for (const field of DEPENDENCY_FIELDS) {
        for (const [dep, range] of Object.entries<string>(manifest[field] ?? {})) {
          expect(range, `${pkg.name} ${field}.${dep}`).not.toMatch(/^workspace:/);
          if (!packageNames.has(dep)) continue;
          // npm resolved it to the sibling tarball, not to a nested copy from elsewhere.
          const installed = JSON.parse(readFileSync(join(project, 'node_modules', dep, 'package.json'), 'utf8'));
          expect(installed.version, `${dep} installed for ${pkg.name}`).toBe(packages.find((p) => p.name === dep)!.version);
          expect(existsSync(join(project, 'node_modules', pkg.name, 'node_modules', dep)), `${pkg.name} got its own copy of ${dep}`).toBe(false);
        }
      }
    }
  });

  it.each(packages.map((p) => [p.name, p] as const))('%s: the README example runs', (_name, pkg) => {
    const readme = join(pkg.dir, 'README.md');
    expect(existsSync(readme), `${pkg.name} has no README.md`).toBe(true);
    const example = readmeExample(readFileSync(readme, 'utf8'));
    expect(example, `${pkg.name}'s README has no \`\`\`js block under "## Example"`).toBeTypeOf('string');

    const file = join(project, `example-${pkg.name.replace(/[@/]/g, '_')}.mjs`);
    writeFileSync(file, example!);
    const run = spawnSync(process.execPath, [file], { cwd: project, env: userEnv(), encoding: 'utf8', timeout: 240_000 });
    expect(run.error, String(run.error)).toBeUndefined();
    expect(run.status, `example of ${pkg.name} exited with ${run.status}:\n${run.stderr}`).toBe(0);
    expect(run.stdout.trim().length, `example of ${pkg.name} printed nothing`).toBeGreaterThan(0);
  }, 300_000);
});
