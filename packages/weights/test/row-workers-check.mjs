// Runs the fused kernels on the BUILT package with 1 and 3 threads and prints what the
// row-workers test asserts. Worker threads load the built worker module, which the test
// runner's TypeScript transform cannot give them, hence a plain Node.js process.
import { HessianAccumulator, PruneError, Random, fromArray } from '@prune/core';
import { pruneMagnitude, pruneMagnitudeInPlace, pruneWanda, setPruneThreads, sparsegptPrune } from '@prune/weights';
import { poolActivity, startPruneWorkers } from '../dist/row-workers.js';

// ≥ 2 tiles of 2^20 weights, with a row length that does not divide a tile (short last tile).
const ROWS = 1100;
const COLS = 2000;
const rng = new Random(5);
// Values from a small set: every row has heavy ties at its pivot.
const tied = (n) => Float32Array.from({ length: n }, () => (rng.int(17) - 8) / 16);
const w = fromArray(tied(ROWS * COLS), [ROWS, COLS], 'float32');
const norms = fromArray(Float32Array.from({ length: COLS }, (_, j) => (j % 9) * 0.5 + (j % 4 === 0 ? 30 : 0)), [COLS], 'float32');

const sameBits = (a, b) => a.length === b.length && new Int32Array(a.buffer, a.byteOffset, a.length).every((v, i) => v === new Int32Array(b.buffer, b.byteOffset, b.length)[i]);
const sameBytes = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);

function withThreads(n, fn) {
  setPruneThreads(n);
  const before = poolActivity().tilesByWorkers;
  const result = fn();
  return { result, workerTiles: poolActivity().tilesByWorkers - before };
}

function errorOf(fn) {
  try {
    fn();
  } catch (e) {
    return { prune: e instanceof PruneError, code: e.code, message: e.message };
  }
  return undefined;
}

startPruneWorkers(3);
while (poolActivity().ready < 2) await new Promise((r) => setTimeout(r, 20));

const report = { cases: [], inPlace: undefined, nan: [] };
const cases = {
  'Wanda 50%': () => pruneWanda(w, norms, { kind: 'unstructured', sparsity: 0.5 }),
  'Wanda 2:4': () => pruneWanda(w, norms, { kind: 'nm', prune: 2, group: 4 }),
  'Wanda 3:8': () => pruneWanda(w, norms, { kind: 'nm', prune: 3, group: 8 }),
  'magnitude per row 70%': () => pruneMagnitude(w, { kind: 'unstructured', sparsity: 0.7 }, { scope: 'row' }),
};
// SparseGPT's column loop runs a block's rows across threads: 1024 rows × 384 columns.
const sg = fromArray(Float32Array.from({ length: 1024 * 384 }, () => rng.normal()), [1024, 384], 'float32');
const acc = new HessianAccumulator(384);
acc.update(fromArray(Float32Array.from({ length: 512 * 384 }, () => rng.normal()), [512, 384], 'float32'));
const h = acc.value();
cases['SparseGPT 50%'] = () => sparsegptPrune(sg, h, { kind: 'unstructured', sparsity: 0.5 });
cases['SparseGPT 2:4'] = () => sparsegptPrune(sg, h, { kind: 'nm', prune: 2, group: 4 });
for (const [name, run] of Object.entries(cases)) {
  const one = withThreads(1, run);
  const many = withThreads(3, run);
  report.cases.push({
    name,
    workerTiles: many.workerTiles,
    singleWorkerTiles: one.workerTiles,
    sameWeights: sameBits(many.result.weight.dataSync(), one.result.weight.dataSync()),
    sameMask: sameBytes(many.result.mask.dataSync(), one.result.mask.dataSync()),
    pruned: Array.from(one.result.mask.dataSync()).filter((v) => v === 0).length,
  });
}

const data = tied(ROWS * COLS);
const a = data.slice();
const b = data.slice();
withThreads(1, () => pruneMagnitudeInPlace(a, [ROWS, COLS], { kind: 'unstructured', sparsity: 0.5 }, { scope: 'row' }));
const inPlace = withThreads(2, () => pruneMagnitudeInPlace(b, [ROWS, COLS], { kind: 'unstructured', sparsity: 0.5 }, { scope: 'row' }));
report.inPlace = { workerTiles: inPlace.workerTiles, same: sameBits(a, b), changed: !sameBits(a, data) };

// Row 100 lies in the first tile, which goes to a worker; row 1090 in the caller's last one.
for (const row of [100, 1090]) {
  const bad = tied(ROWS * COLS);
  bad[row * COLS + 17] = Number.NaN;
  const t = fromArray(bad, [ROWS, COLS], 'float32');
  const call = () => pruneWanda(t, norms, { kind: 'unstructured', sparsity: 0.5 }, { name: 'L' });
  setPruneThreads(2);
  const parallel = errorOf(call);
  setPruneThreads(1);
  const single = errorOf(call);
  report.nan.push({ row, parallel, single });
}
console.log(JSON.stringify(report));
