import { Random } from '@prune/core';
import { describe, expect, it } from 'vitest';
import { embeddingMatrix } from './embeddings.js';
import { hierarchicalKmeans } from './hierarchical.js';
import { assignToNearest, kmeans, kmeansPlusPlus, miniBatchKmeans } from './kmeans.js';

function randomPoints(n: number, dim: number, seed: number, clusters = 0): Float32Array {
  const rng = new Random(seed);
  const centers = Array.from({ length: Math.max(1, clusters) * dim }, () => rng.normal() * 5);
  const out = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const c = clusters ? rng.int(clusters) : 0;
    for (let t = 0; t < dim; t++) out[i * dim + t] = (clusters ? centers[c * dim + t] : 0) + rng.normal();
  }
  return out;
}

/** Minimum inertia over every partition of n points into k non-empty groups (brute force). */
function bruteForceOptimum(data: Float32Array, n: number, dim: number, k: number): number {
  let best = Infinity;
  const labels = new Int32Array(n);
  const total = k ** n;
  for (let code = 0; code < total; code++) {
    let c = code;
    for (let i = 0; i < n; i++) {
      labels[i] = c % k;
      c = Math.floor(c / k);
    }
    const sums = new Float64Array(k * dim);
    const counts = new Float64Array(k);
    for (let i = 0; i < n; i++) {
      counts[labels[i]]++;
      for (let t = 0; t < dim; t++) sums[labels[i] * dim + t] += data[i * dim + t];
    }
    if (counts.some((v) => v === 0)) continue;
    let inertia = 0;
    for (let i = 0; i < n; i++) {
      for (let t = 0; t < dim; t++) {
        const d = data[i * dim + t] - sums[labels[i] * dim + t] / counts[labels[i]];
        inertia += d * d;
      }
    }
    best = Math.min(best, inertia);
  }
  return best;
}

/** Plain Lloyd iterations: a second implementation to compare the bounded one against. */
function plainLloyd(data: Float32Array, n: number, dim: number, start: Float64Array, iterations: number): Int32Array {
  const k = start.length / dim;
  const c = Float64Array.from(start);
  const labels = new Int32Array(n);
  for (let it = 0; it <= iterations; it++) {
    for (let i = 0; i < n; i++) {
      let best = Infinity;
      for (let j = 0; j < k; j++) {
        let d = 0;
        for (let t = 0; t < dim; t++) d += (data[i * dim + t] - c[j * dim + t]) ** 2;
        if (d < best) {
          best = d;
          labels[i] = j;
        }
      }
    }
    if (it === iterations) break;
    const sums = new Float64Array(k * dim);
    const counts = new Float64Array(k);
    for (let i = 0; i < n; i++) {
      counts[labels[i]]++;
      for (let t = 0; t < dim; t++) sums[labels[i] * dim + t] += data[i * dim + t];
    }
    for (let j = 0; j < k; j++) if (counts[j] > 0) for (let t = 0; t < dim; t++) c[j * dim + t] = sums[j * dim + t] / counts[j];
  }
  return labels;
}

describe('kmeans', () => {
  it('reaches the brute-force optimum on small cases (best of a few seeds)', () => {
    for (let trial = 0; trial < 6; trial++) {
      const n = 7;
      const dim = 2;
      const k = trial % 2 === 0 ? 2 : 3;
      const data = randomPoints(n, dim, 100 + trial);
      const e = embeddingMatrix(data, dim);
      const best = Math.min(...[0, 1, 2, 3, 4, 5, 6, 7].map((seed) => kmeans(e, { k, seed }).inertia));
      expect(best).toBeCloseTo(bruteForceOptimum(data, n, dim, k), 4);
    }
  });

  it('ends at a Lloyd fixed point: every row at its nearest centroid, every centroid the mean of its rows', () => {
    const dim = 5;
    const data = randomPoints(400, dim, 3, 6);
    const e = embeddingMatrix(data, dim);
    const r = kmeans(e, { k: 6, seed: 2, maxIterations: 100 });
    expect(r.converged).toBe(true);
    const nearest = assignToNearest(e, r.centroids).assignments;
    expect(Array.from(nearest)).toEqual(Array.from(r.assignments));
    for (let j = 0; j < r.k; j++) {
      const rows = Array.from(r.assignments.keys()).filter((i) => r.assignments[i] === j);
      expect(rows.length).toBe(r.counts[j]);
      for (let t = 0; t < dim; t++) {
        const mean = rows.reduce((s, i) => s + data[i * dim + t], 0) / rows.length;
        expect(r.centroids[j * dim + t]).toBeCloseTo(mean, 4);
      }
    }
    let inertia = 0;
    for (let i = 0; i < 400; i++) for (let t = 0; t < dim; t++) inertia += (data[i * dim + t] - r.centroids[r.assignments[i] * dim + t]) ** 2;
    expect(r.inertia).toBeCloseTo(inertia, 2);
  });

  it('gives the same assignments as plain Lloyd iterations from the same start (Hamerly bounds are exact)', () => {
    const dim = 8;
    const n = 600;
    const data = randomPoints(n, dim, 11, 10);
    const e = embeddingMatrix(data, dim);
    const start = kmeansPlusPlus(e, 10, new Random(4));
    for (const iterations of [1, 3, 12]) {
      const r = kmeans(e, { k: 10, initialCentroids: start, maxIterations: iterations });
      const plain = plainLloyd(data, n, dim, start, r.iterations);
      expect(Array.from(r.assignments)).toEqual(Array.from(plain));
    }
  });

  it('is deterministic under a seed', () => {
    const e = embeddingMatrix(randomPoints(300, 4, 5, 5), 4);
    const a = kmeans(e, { k: 5, seed: 9 });
    const b = kmeans(e, { k: 5, seed: 9 });
    expect(Array.from(a.centroids)).toEqual(Array.from(b.centroids));
    expect(Array.from(a.assignments)).toEqual(Array.from(b.assignments));
  });

  it('handles duplicate rows (k-means++ with zero mass left) and k = n', () => {
    const e = embeddingMatrix(Float32Array.from([1, 1, 1, 1, 1, 1, 5, 5]), 2);
    const r = kmeans(e, { k: 2, seed: 0 });
    expect(r.inertia).toBeCloseTo(0, 10);
    const all = kmeans(embeddingMatrix(Float32Array.from([0, 1, 2, 3]), 1), { k: 4, seed: 0 });
    expect(all.inertia).toBeCloseTo(0, 10);
  });

  it('rejects k above the row count and NaN embeddings', () => {
    const e = embeddingMatrix(new Float32Array(6), 2);
    expect(() => kmeans(e, { k: 4 })).toThrow(/at least 4 rows/);
    expect(() => kmeans({ data: Float32Array.from([0, Number.NaN]), count: 1, dim: 2 }, { k: 1 })).toThrow(/NaN/);
  });
});

describe('miniBatchKmeans', () => {
  it('finds well-separated clusters and stays close to Lloyd inertia', () => {
    const dim = 6;
    const e = embeddingMatrix(randomPoints(2000, dim, 21, 4), dim);
    const lloyd = kmeans(e, { k: 4, seed: 1 });
    const mb = miniBatchKmeans(e, { k: 4, seed: 1, batchSize: 128, steps: 60 });
    expect(mb.inertia).toBeLessThan(lloyd.inertia * 1.05);
    expect(mb.counts.reduce((a, b) => a + b, 0)).toBe(2000);
  });
});

describe('kmeansPlusPlus', () => {
  it('picks data rows, one per well-separated cluster, on all rows and on a sample', () => {
    const dim = 6;
    const n = 3000;
    const rng = new Random(8);
    const centres = Array.from({ length: 5 }, (_, c) => Array.from({ length: dim }, (_, t) => (t === c ? 100 : 0)));
    const data = new Float32Array(n * dim);
    const label = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      label[i] = i % 5;
      for (let t = 0; t < dim; t++) data[i * dim + t] = centres[label[i]][t] + rng.normal();
    }
    const e = embeddingMatrix(data, dim);
    for (const sample of [n, 200]) {
      const c = kmeansPlusPlus(e, 5, new Random(3), sample);
      const clusters = new Set<number>();
      for (let j = 0; j < 5; j++) {
        // k-means++ seeds are rows of the data: find the one centroid j copies.
        const row = Array.from({ length: n }, (_, i) => i).findIndex((i) => Array.from({ length: dim }, (_, t) => data[i * dim + t] === c[j * dim + t]).every(Boolean));
        expect(row).toBeGreaterThanOrEqual(0);
        clusters.add(label[row]);
      }
      expect(clusters.size).toBe(5);
    }
  });

  it('is deterministic under a seed on a subsample, and the sample depends on the seed', () => {
    const e = embeddingMatrix(randomPoints(5000, 8, 12, 20), 8);
    const a = kmeansPlusPlus(e, 10, new Random(5), 300);
    const b = kmeansPlusPlus(e, 10, new Random(5), 300);
    const c = kmeansPlusPlus(e, 10, new Random(6), 300);
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(a)).not.toEqual(Array.from(c));
    const m1 = miniBatchKmeans(e, { k: 10, seed: 4, batchSize: 100, steps: 5 });
    const m2 = miniBatchKmeans(e, { k: 10, seed: 4, batchSize: 100, steps: 5 });
    expect(Array.from(m1.centroids)).toEqual(Array.from(m2.centroids));
  });

  it('names the row of the whole matrix when a sampled row is not finite', () => {
    const data = new Float32Array(400 * 4).fill(1);
    for (let i = 0; i < 400; i++) data[i * 4] = i;
    for (let i = 0; i < 400; i += 2) data[i * 4 + 3] = Number.NaN; // every other row
    const e = { data, count: 400, dim: 4 };
    let message = '';
    try {
      kmeansPlusPlus(e, 3, new Random(1), 50);
    } catch (error) {
      message = String(error);
    }
    const element = Number(/NaN at element (\d+)/.exec(message)?.[1]);
    // an even row (one that holds NaN) of the 400, not an index into the 50-row sample
    expect(Math.floor(element / 4) % 2).toBe(0);
    expect(element % 4).toBe(3);
  });
});

describe('finiteness checked inside the passes', () => {
  const dim = 4;
  const n = 600;
  const withNaN = (row: number): Float32Array => {
    const data = randomPoints(n, dim, 30, 3);
    data[row * dim + 2] = Number.NaN;
    return data;
  };

  it('Lloyd, mini-batch (even a row no batch or seeding sample draws), assignment and hierarchical k-means reject a NaN row', () => {
    for (const row of [0, 299, n - 1]) {
      const e = { data: withNaN(row), count: n, dim };
      const at = new RegExp(`NaN at element ${row * dim + 2}\\b`);
      expect(() => kmeans(e, { k: 3 })).toThrow(at);
      expect(() => miniBatchKmeans(e, { k: 3, steps: 0, initSampleSize: 3, batchSize: 1 })).toThrow(at);
      expect(() => miniBatchKmeans(e, { k: 3, steps: 20, batchSize: 64 })).toThrow(at);
      expect(() => assignToNearest(e, new Float32Array(3 * dim))).toThrow(at);
      expect(() => hierarchicalKmeans(e, { levels: [3] })).toThrow(at);
      expect(() => hierarchicalKmeans(e, { levels: [3], miniBatch: { batchSize: 32, steps: 3 } })).toThrow(at);
    }
    const inf = randomPoints(n, dim, 31, 3);
    inf[7] = -Infinity;
    expect(() => miniBatchKmeans({ data: inf, count: n, dim }, { k: 3, steps: 1, batchSize: 8 })).toThrow(/-Infinity at element 7\b/);
  });

  it('clusters rows too large for float32 products through the float64 path (ends at a Lloyd fixed point)', () => {
    const n = 300;
    const big = Float32Array.from(randomPoints(n, dim, 33, 3), (v) => v * 1e19); // squared norms ~1e40: beyond float32
    const r = kmeans(embeddingMatrix(big, dim), { k: 3, seed: 1, maxIterations: 100 });
    expect(r.converged).toBe(true);
    let inertia = 0;
    for (let i = 0; i < n; i++) {
      const d = [0, 1, 2].map((j) => Array.from({ length: dim }, (_, t) => (big[i * dim + t] - r.centroids[j * dim + t]) ** 2).reduce((a, b) => a + b, 0));
      expect(d[r.assignments[i]]).toBe(Math.min(...d));
      inertia += d[r.assignments[i]];
    }
    expect(r.inertia / inertia).toBeCloseTo(1, 6);
    for (let j = 0; j < 3; j++) {
      const rows = Array.from(r.assignments.keys()).filter((i) => r.assignments[i] === j);
      const mean = rows.reduce((s, i) => s + big[i * dim], 0) / rows.length;
      expect(Math.abs(r.centroids[j * dim] - mean)).toBeLessThan(1e-4 * 1e19);
    }
    const m = miniBatchKmeans(embeddingMatrix(big, dim), { k: 3, seed: 1, batchSize: 32, steps: 10 });
    expect(m.counts.reduce((x, y) => x + y, 0)).toBe(n);
    expect(Number.isFinite(m.inertia)).toBe(true);
  });

  it('reports the exact inertia of the final assignment (mini-batch)', () => {
    const data = randomPoints(n, dim, 32, 4);
    const e = embeddingMatrix(data, dim);
    const r = miniBatchKmeans(e, { k: 4, seed: 2, batchSize: 50, steps: 10 });
    let inertia = 0;
    for (let i = 0; i < n; i++) {
      let best = Infinity;
      let arg = -1;
      for (let j = 0; j < 4; j++) {
        let d = 0;
        for (let t = 0; t < dim; t++) d += (data[i * dim + t] - r.centroids[j * dim + t]) ** 2;
        if (d < best) {
          best = d;
          arg = j;
        }
      }
      expect(r.assignments[i]).toBe(arg);
      inertia += best;
    }
    expect(Math.abs(r.inertia - inertia)).toBeLessThan(1e-6 * inertia);
  });
});
