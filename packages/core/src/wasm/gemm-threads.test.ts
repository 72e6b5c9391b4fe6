import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { pruneThreads, setPruneThreads } from '../threads.js';

// The products' worker threads run the built worker module, so this checks the build: a plain
// Node.js process runs test/gemm-threads-check.mjs (1 vs 3 threads) and reports; the
// assertions are here.
const script = fileURLToPath(new URL('../../test/gemm-threads-check.mjs', import.meta.url));
const built = fileURLToPath(new URL('../../dist/wasm/gemm-worker.js', import.meta.url));

interface Report {
  activity: { workers: number; ready: number; slicesByWorkers: number };
  cases: { name: string; same: boolean; singleSlices: number; workerSlices: number; size: number }[];
}

describe('WebAssembly matrix products across worker threads (built package)', () => {
  const report = (() => {
    if (!existsSync(built)) throw new Error('@prune/core is not built: run `pnpm run build` first (the worker threads run the built worker module)');
    const env = { ...process.env };
    delete env.NODE_OPTIONS;
    return JSON.parse(execFileSync(process.execPath, [script], { env, encoding: 'utf8', timeout: 120_000 })) as Report;
  })();

  it('starts the workers it is asked for', () => {
    expect(report.activity.workers).toBe(2);
    expect(report.activity.ready).toBe(2);
  });

  it.each(report.cases.map((c) => [c.name, c] as const))('%s: 3 threads give the single thread\'s result bit for bit', (_, c) => {
    expect(c.size).toBeGreaterThan(0);
    expect(c.singleSlices).toBe(0);
    expect(c.workerSlices).toBeGreaterThan(0);
    expect(c.same).toBe(true);
  });
});

describe('setPruneThreads', () => {
  it('takes an integer ≥ 1 and reports it back', () => {
    const threads = pruneThreads();
    try {
      setPruneThreads(2);
      expect(pruneThreads()).toBe(2);
      for (const bad of [0, -1, 1.5, Number.NaN]) expect(() => setPruneThreads(bad)).toThrow(expect.objectContaining({ code: 'OUT_OF_RANGE' }));
      expect(pruneThreads()).toBe(2);
    } finally {
      setPruneThreads(threads);
    }
  });
});
