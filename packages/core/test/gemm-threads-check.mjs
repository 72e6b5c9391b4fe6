// Runs the built WebAssembly matrix products with 1 and 3 threads in a plain Node.js process
// (worker threads load the built worker module) and prints a JSON report; the assertions are
// in src/wasm/gemm-threads.test.ts.
import { HessianAccumulator, Random, fromArray, setPruneThreads } from '../dist/index.js';
import { simdGram, simdMatmul, simdThreadActivity } from '../dist/wasm/index.js';

function normals(seed, n) {
  const rng = new Random(seed);
  return Float32Array.from({ length: n }, () => rng.normal());
}

const same = (a, b) => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));

/** Runs `fn` with 1 thread, then with 3, and compares the results bit for bit. */
function compare(name, fn) {
  setPruneThreads(1);
  const before = simdThreadActivity().slicesByWorkers;
  const single = fn();
  const singleSlices = simdThreadActivity().slicesByWorkers - before;
  setPruneThreads(3);
  const mid = simdThreadActivity().slicesByWorkers;
  const parallel = fn();
  return { name, same: same(single, parallel), singleSlices, workerSlices: simdThreadActivity().slicesByWorkers - mid, size: single.length };
}

// Start the workers and wait until they run.
setPruneThreads(3);
simdMatmul(normals(1, 256 * 256), normals(2, 256 * 256), 256, 256, 256);
const deadline = Date.now() + 20_000;
while (simdThreadActivity().ready < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));

const a = normals(3, 301 * 700);
const b = normals(4, 700 * 262);
const x = normals(5, 500 * 389);
const batches = [normals(6, 200 * 389), normals(7, 129 * 389), normals(8, 57 * 389)];
const cases = [
  compare('matmul 301×700 · 700×262', () => simdMatmul(a, b, 301, 700, 262)),
  compare('Gram of 500 tokens × 389', () => simdGram(x, 500, 389, 0.5)),
  compare('HessianAccumulator, 3 batches × 389', () => {
    const acc = new HessianAccumulator(389);
    for (const data of batches) acc.update(fromArray(data, [data.length / 389, 389], 'float32'));
    const h = acc.value().dataSync();
    acc.dispose();
    return h;
  }),
];
process.stdout.write(JSON.stringify({ activity: simdThreadActivity(), cases }));
