import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The pool runs worker threads from the built package, so this checks the build: a plain
// Node.js process runs test/row-workers-check.mjs (1 vs 3 threads on a 1100 × 2000 matrix
// with heavy ties, and SparseGPT on 1024 × 384) and reports; the assertions are here.
const script = fileURLToPath(new URL('../test/row-workers-check.mjs', import.meta.url));
const built = fileURLToPath(new URL('../dist/row-prune-worker.js', import.meta.url));

interface Report {
  cases: { name: string; workerTiles: number; singleWorkerTiles: number; sameWeights: boolean; sameMask: boolean; pruned: number }[];
  inPlace: { workerTiles: number; same: boolean; changed: boolean };
  nan: { row: number; parallel?: { prune: boolean; code: string; message: string }; single?: { prune: boolean; code: string; message: string } }[];
}

describe('row kernels across worker threads (built package)', () => {
  const report = (() => {
    if (!existsSync(built)) throw new Error('@prune/weights is not built: run `pnpm run build` first (the worker pool runs the built worker module)');
    const env = { ...process.env };
    delete env.NODE_OPTIONS;
    return JSON.parse(execFileSync(process.execPath, [script], { env, encoding: 'utf8', timeout: 120_000 })) as Report;
  })();

  it.each(report.cases.map((c) => [c.name, c] as const))('%s: 3 threads give the single thread\'s weights and mask bit for bit', (_, c) => {
    expect(c.workerTiles).toBeGreaterThan(0);
    expect(c.singleWorkerTiles).toBe(0);
    expect(c.sameWeights).toBe(true);
    expect(c.sameMask).toBe(true);
    expect(c.pruned).toBeGreaterThan(0);
  });

  it('covers every kernel the pool runs', () => {
    expect(report.cases.map((c) => c.name)).toEqual(['Wanda 50%', 'Wanda 2:4', 'Wanda 3:8', 'magnitude per row 70%', 'SparseGPT 50%', 'SparseGPT 2:4']);
  });

  it('prunes in place across threads like the single thread', () => {
    expect(report.inPlace).toEqual({ workerTiles: expect.any(Number), same: true, changed: true });
    expect(report.inPlace.workerTiles).toBeGreaterThan(0);
  });

  it.each(report.nan.map((n) => [n.row, n] as const))('a NaN score in row %i is the single thread\'s error, naming the absolute row', (row, n) => {
    expect(n.single?.code).toBe('NON_FINITE');
    expect(n.parallel).toEqual(n.single);
    expect(n.parallel?.prune).toBe(true);
    expect(n.parallel?.code).toBe('NON_FINITE');
    expect(n.parallel?.message).toContain(`row ${row}, column 17`);
  });
});
