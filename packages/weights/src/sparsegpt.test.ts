import { readFileSync } from 'node:fs';
import { type Backend, HessianAccumulator, PruneError, Random, fromArray, matmul, referenceBackend, tensor } from '@prune/core';
import { describe, expect, it } from 'vitest';
import type { SparsityTarget } from './method.js';
import { sparsegpt, sparsegptInverseHessian, sparsegptPrune } from './sparsegpt.js';
import { upperCholeskyOfInverse, upperCholeskyOfInverseBlocked } from './sparsegpt-kernels.js';

interface FixtureRun {
  blockSize: number;
  percdamp: number;
  target: SparsityTarget;
  expectedWeight: string;
  expectedKeep: string;
}
interface FixtureInput {
  name: string;
  rows: number;
  cols: number;
  deadColumns: number[];
  weight: string;
  hessian: string;
  runs: FixtureRun[];
}

const fixture = JSON.parse(readFileSync(new URL('../test/fixtures/sparsegpt.json', import.meta.url), 'utf8')) as { inputs: FixtureInput[] };

function f32(b64: string): Float32Array {
  const bytes = Buffer.from(b64, 'base64');
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

function targetText(t: SparsityTarget): string {
  return t.kind === 'nm' ? `${t.prune}:${t.group}` : `unstructured ${t.sparsity}`;
}

// A backend other than the reference backend (its kernels, another identity): sparsegptPrune
// then computes the lazy batch update's product with the backend's matmul, as it does on
// tfjs-wasm, instead of the host loop.
const nativeMatmul: Backend = { ...referenceBackend, name: 'reference-as-native' };

describe('sparsegptPrune against the PyTorch reference (test/reference/sparsegpt_ref.py)', () => {
  for (const input of fixture.inputs) {
    for (const run of input.runs) {
      for (const backend of [referenceBackend, nativeMatmul]) {
      it(`${input.name}, ${targetText(run.target)}, blocks of ${run.blockSize}, ${backend.name}: identical mask, weights within float32 tolerance`, () => {
        const w = fromArray(f32(input.weight), [input.rows, input.cols], 'float32', { backend });
        const h = fromArray(f32(input.hessian), [input.cols, input.cols], 'float32', { backend });
        const out = sparsegptPrune(w, h, run.target, { blockSize: run.blockSize, percdamp: run.percdamp });
        const keep = Array.from(out.mask.dataSync(), (v) => (v ? '1' : '0')).join('');
        expect(keep).toBe(run.expectedKeep);
        const got = out.weight.dataSync();
        const want = f32(run.expectedWeight);
        // Both sides round to float32 at every update, but U comes from different routes
        // (float64 reversed Cholesky here, float32 LAPACK chain there), so entries differ
        // by float32 rounding amplified through up to d_in sequential updates: we allow
        // 1e-5 relative to the row's largest reference weight (measured: ≤ 7e-7).
        for (let r = 0; r < input.rows; r++) {
          let scale = 0;
          for (let c = 0; c < input.cols; c++) scale = Math.max(scale, Math.abs(want[r * input.cols + c]));
          for (let c = 0; c < input.cols; c++) {
            const i = r * input.cols + c;
            expect(Math.abs(got[i] - want[i])).toBeLessThanOrEqual(1e-5 * scale);
            if (want[i] === 0) expect(got[i]).toBe(0);
          }
        }
        for (const j of input.deadColumns) for (let r = 0; r < input.rows; r++) expect(got[r * input.cols + j]).toBe(0);
        for (const t of [w, h, out.weight, out.mask]) t.dispose();
      });
      }
    }
  }
});

/** Row-major float64 product of `[n, k]` and `[k, m]`. */
function matmulHost(a: ArrayLike<number>, b: ArrayLike<number>, n: number, k: number, m: number): Float64Array {
  const c = new Float64Array(n * m);
  for (let i = 0; i < n; i++) for (let p = 0; p < k; p++) for (let j = 0; j < m; j++) c[i * m + j] += a[i * k + p] * b[p * m + j];
  return c;
}

function randomSpd(n: number, seed: number): Float64Array {
  const rng = new Random(seed);
  const x = Float64Array.from({ length: 3 * n * n }, () => rng.normal());
  const h = new Float64Array(n * n);
  for (let t = 0; t < 3 * n; t++) for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) h[i * n + j] += (x[t * n + i] * x[t * n + j]) / n;
  return h;
}

describe('upperCholeskyOfInverse', () => {
  for (const n of [1, 3, 4, 7, 13]) {
    it(`gives an upper U with Uᵀ·U·H = I for n = ${n} (orders not a multiple of 4 included)`, () => {
      const h = randomSpd(n, n);
      const result = upperCholeskyOfInverse(h, n);
      if (!('factor' in result)) throw new Error('expected a factor');
      const u = result.factor;
      for (let i = 0; i < n; i++) {
        expect(u[i * n + i]).toBeGreaterThan(0);
        for (let j = 0; j < i; j++) expect(u[i * n + j]).toBe(0);
      }
      const ut = new Float64Array(n * n);
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) ut[i * n + j] = u[j * n + i];
      const prod = matmulHost(matmulHost(ut, u, n, n, n), h, n, n, n);
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) expect(prod[i * n + j]).toBeCloseTo(i === j ? 1 : 0, 4);
    });
  }

  it('reports the failing input column of an indefinite matrix', () => {
    // diag(1, 1, -1) reversed: the last column fails first.
    const result = upperCholeskyOfInverse([1, 0, 0, 0, 1, 0, 0, 0, -1], 3);
    expect(result).toEqual({ pivot: 2 });
  });
});

describe('sparsegptPrune', () => {
  const rng = new Random(7);
  const cols = 16;
  const rows = 6;
  const x = tensor(Array.from({ length: 40 }, () => Array.from({ length: cols }, () => rng.normal())));
  const h = matmul(x, x, { transposeA: true });
  const w = tensor(Array.from({ length: rows }, () => Array.from({ length: cols }, () => rng.normal())));

  it('prunes floor(numel·s) per block (ties aside) and nothing at sparsity 0', () => {
    const half = sparsegptPrune(w, h, { kind: 'unstructured', sparsity: 0.5 }, { blockSize: 8 });
    const keep = half.mask.dataSync();
    for (const start of [0, 8]) {
      let kept = 0;
      for (let r = 0; r < rows; r++) for (let c = start; c < start + 8; c++) kept += keep[r * cols + c];
      // threshold index floor(48·0.5) = 24 and ≤ prunes indices 0..24: 25 of 48.
      expect(kept).toBe(23);
    }
    const none = sparsegptPrune(w, h, { kind: 'unstructured', sparsity: 0 });
    expect(Array.from(none.mask.dataSync()).every((v) => v === 1)).toBe(true);
    expect(Array.from(none.weight.dataSync())).toEqual(Array.from(w.dataSync()));
  });

  it('N:M keeps exactly M − N per group and leaves the input untouched', () => {
    const before = Array.from(w.dataSync());
    const out = sparsegptPrune(w, h, { kind: 'nm', prune: 3, group: 4 }, { blockSize: 8 });
    const keep = out.mask.dataSync();
    const weight = out.weight.dataSync();
    for (let r = 0; r < rows; r++) {
      for (let g = 0; g < cols; g += 4) {
        let kept = 0;
        for (let c = g; c < g + 4; c++) {
          kept += keep[r * cols + c];
          if (!keep[r * cols + c]) expect(weight[r * cols + c]).toBe(0);
        }
        expect(kept).toBe(1);
      }
    }
    expect(Array.from(w.dataSync())).toEqual(before);
  });

  it('reduces the layer reconstruction error ‖(W − Ŵ)X‖ below magnitude-style zeroing at the same mask', () => {
    // Strongly correlated inputs (a shared factor plus neighbours), where compensation pays.
    const z = Array.from({ length: 64 }, () => Array.from({ length: cols + 1 }, () => rng.normal()));
    const xc = tensor(z.map((row) => Array.from({ length: cols }, (_, j) => row[j] + row[j + 1] + row[cols])));
    const hc = matmul(xc, xc, { transposeA: true });
    const out = sparsegptPrune(w, hc, { kind: 'unstructured', sparsity: 0.5 }, { blockSize: 4 });
    const keep = out.mask.dataSync();
    const wv = w.dataSync();
    const masked = Float32Array.from(wv, (v, i) => (keep[i] ? v : 0));
    const hv = hc.dataSync();
    const err = (wh: ArrayLike<number>): number => {
      // trace(D·H·Dᵀ) with D = W − Ŵ
      const d = Float64Array.from(wv, (v, i) => v - wh[i]);
      let total = 0;
      for (let r = 0; r < rows; r++) for (let i = 0; i < cols; i++) for (let j = 0; j < cols; j++) total += d[r * cols + i] * hv[i * cols + j] * d[r * cols + j];
      return total;
    };
    expect(err(out.weight.dataSync())).toBeLessThan(0.75 * err(masked));
  });

  it('rejects bad input with codes and advice', () => {
    const expectCode = (f: () => unknown, code: string, text: RegExp): void => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(PruneError);
        expect((e as PruneError).code).toBe(code);
        expect((e as PruneError).message).toMatch(text);
        return;
      }
      throw new Error('expected a PruneError');
    };
    const indefinite = tensor([[1, 2], [2, 1]]);
    const w2 = tensor([[1, 2]]);
    expectCode(() => sparsegptPrune(w2, indefinite, { kind: 'unstructured', sparsity: 0.5 }, { percdamp: 0 }), 'NOT_POSITIVE_DEFINITE', /raise percdamp .*add calibration data/);
    expectCode(() => sparsegptPrune(w, tensor([[1, 0], [0, 1]]), { kind: 'unstructured', sparsity: 0.5 }), 'SHAPE_MISMATCH', /must be \[16, 16\]/);
    expectCode(() => sparsegptPrune(w, h, { kind: 'unstructured', sparsity: 1 }), 'OUT_OF_RANGE', /\[0, 1\)/);
    expectCode(() => sparsegptPrune(w, h, { kind: 'nm', prune: 4, group: 4 }), 'OUT_OF_RANGE', /prune < group/);
    expectCode(() => sparsegptPrune(w, h, { kind: 'nm', prune: 2, group: 4 }, { blockSize: 6 }), 'INVALID_ARGUMENT', /multiple of the N:M group/);
    expectCode(() => sparsegptPrune(w, h, { kind: 'nm', prune: 2, group: 5 }), 'SHAPE_MISMATCH', /tile the 16 input columns/);
    expectCode(() => sparsegptPrune(w, h, { kind: 'unstructured', sparsity: 0.5 }, { percdamp: -1 }), 'OUT_OF_RANGE', /percdamp/);
    expectCode(() => sparsegptPrune(tensor([[Number.NaN, 1]]), tensor([[1, 0], [0, 1]]), { kind: 'unstructured', sparsity: 0.5 }), 'NON_FINITE', /row 0, column 0/);
    expectCode(() => sparsegptInverseHessian(tensor([[1, 2, 3]])), 'SHAPE_MISMATCH', /square/);
  });
});

describe('sparsegpt method', () => {
  it('accumulates the Hessian of the layer inputs and prunes with it, like the plain function', () => {
    const rng = new Random(3);
    const layer = { name: 'model.layers.0.mlp.up_proj', shape: [4, 8] as const, kind: 'linear' as const };
    const method = sparsegpt({ blockSize: 4 });
    expect(method.options).toEqual({ blockSize: 4, percdamp: 0.01 });
    expect(() => sparsegpt({ accumulator: { weighting: 'rows' as never } })).toThrow(/weighting must be/);
    const stat = method.createStatistic!(layer);
    const batches = [0, 1].map(() => tensor(Array.from({ length: 12 }, () => Array.from({ length: 8 }, () => rng.normal()))));
    for (const b of batches) stat.update(b);
    const w = tensor(Array.from({ length: 4 }, () => Array.from({ length: 8 }, () => rng.normal())));
    const target = { kind: 'unstructured', sparsity: 0.5 } as const;
    const viaMethod = method.pruneLayer(layer, w, target, stat);
    const reference = new HessianAccumulator(8);
    for (const b of batches) reference.update(b);
    const direct = sparsegptPrune(w, reference.value(), target, { blockSize: 4 });
    expect(Array.from(viaMethod.weight.dataSync())).toEqual(Array.from(direct.weight.dataSync()));
    expect(Array.from(viaMethod.mask.dataSync())).toEqual(Array.from(direct.mask.dataSync()));
    expect(() => method.pruneLayer(layer, w, target, undefined)).toThrow(/no calibration statistic/);
    const starved = method.createStatistic!(layer);
    starved.update(tensor([[1, 0, 0, 0, 0, 0, 0, 0]]));
    // One token: H has rank 1 and dead inputs; damping makes it definite, so this prunes.
    expect(method.pruneLayer(layer, w, target, starved).mask.shape).toEqual([4, 8]);
    stat.dispose();
    starved.dispose();
    reference.dispose();
  });
});

describe('upperCholeskyOfInverseBlocked (recursive halving on a matrix product)', () => {
  /** Row-major float32 product, float64 sums: the stand-in for a backend's matmul. */
  const gemm = (a: Float32Array, b: Float32Array, m: number, k: number, n: number): Float32Array => Float32Array.from(matmulHost(a, b, m, k, n));

  for (const n of [9, 50, 67]) {
    it(`equals the float64 host factor within float32 tolerance (n = ${n}, host blocks of 8)`, () => {
      const rng = new Random(n);
      const x = Float64Array.from({ length: 3 * n * n }, () => rng.normal());
      // H = XᵀX/3n + 0.1·I: symmetric positive definite, moderately conditioned.
      const h = new Float32Array(n * n);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let t = 0; t < 3 * n; t++) s += x[t * n + i] * x[t * n + j];
          h[i * n + j] = s / (3 * n) + (i === j ? 0.1 : 0);
        }
      }
      const want = upperCholeskyOfInverse(h, n);
      const got = upperCholeskyOfInverseBlocked(h, n, gemm, 8);
      if (!('factor' in want) || !('factor' in got)) throw new Error('expected a factor');
      let scale = 0;
      for (const v of want.factor) scale = Math.max(scale, Math.abs(v));
      for (let i = 0; i < n * n; i++) expect(Math.abs(got.factor[i] - want.factor[i])).toBeLessThanOrEqual(1e-4 * scale);
      for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) expect(got.factor[i * n + j]).toBe(0);
    });
  }

  it('reports the failing column of an indefinite matrix like the host factor', () => {
    const n = 20;
    const h = new Float32Array(n * n);
    for (let i = 0; i < n; i++) h[i * n + i] = i === 6 ? -1 : 2;
    expect(upperCholeskyOfInverseBlocked(h, n, gemm, 4)).toEqual(upperCholeskyOfInverse(h, n));
    expect(upperCholeskyOfInverse(h, n)).toEqual({ pivot: 6 });
  });
});
