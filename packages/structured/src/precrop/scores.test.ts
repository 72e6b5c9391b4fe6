import { describe, it, expect, beforeAll } from 'vitest';
import { Random } from '@prune/core';
import { createTfjsBackend } from '@prune/tfjs';
import type { ConvNetSpec } from './architecture.js';
import { initWeights } from './model.js';
import type { ConvNetWeights } from './model.js';
import {
  classBalancedIndices,
  globalMask,
  graspScores,
  hessianGradientProduct,
  layerDensities,
  lossGradients,
  pruneAtInitialization,
  snipScores,
  synflowScores,
} from './scores.js';
import type { LabelledBatch, LayerScores } from './scores.js';

beforeAll(async () => {
  await createTfjsBackend({ backend: 'cpu' });
});

/** x ∈ R² (a 1×1 image with 2 channels) → 1×1 conv to 3 (relu) → dense to 2: a 2-layer net. */
const twoLayer: ConvNetSpec = { inputShape: [1, 1, 2], classes: 2, blocks: [{ kind: 'conv', filters: 3, kernelSize: 1 }] };
const W1 = [0.5, -1, 2, -0.25, 1.5, -0.75]; // [c_in=2][c_out=3]
const b1 = [0.1, -0.2, 0.3];
const W2 = [1, -2, 0.5, 0.25, -3, 1.25]; // [3][2]
const b2 = [-0.5, 0.4];
const twoLayerWeights: ConvNetWeights = new Map([
  ['b0', { kernel: Float32Array.from(W1), bias: Float32Array.from(b1) }],
  ['classifier', { kernel: Float32Array.from(W2), bias: Float32Array.from(b2) }],
]);

/** A tiny ResNet-style net for data-dependent checks (strided stem, identity block, projection block). */
const tiny: ConvNetSpec = {
  inputShape: [5, 5, 1],
  classes: 3,
  blocks: [
    { kind: 'conv', filters: 3, kernelSize: 3, strides: 2 },
    { kind: 'residual', shortcut: 'identity', body: [{ kind: 'conv', filters: 3, kernelSize: 3, activation: 'linear' }] },
    { kind: 'residual', shortcut: 'projection', body: [{ kind: 'depthwise', kernelSize: 3 }, { kind: 'conv', filters: 4, kernelSize: 1, strides: 2, activation: 'linear' }] },
  ],
};

function randomBatch(spec: ConvNetSpec, n: number, seed: number): LabelledBatch {
  const rng = new Random(seed);
  const per = spec.inputShape[0] * spec.inputShape[1] * spec.inputShape[2];
  return {
    images: Float32Array.from({ length: n * per }, () => rng.uniform()),
    labels: Array.from({ length: n }, () => rng.int(spec.classes)),
  };
}

/** Σ_b mean cross-entropy of the network on the batches, evaluated in float64 on the host (an independent forward). */
function hostLoss(spec: ConvNetSpec, weights: ConvNetWeights, batches: LabelledBatch[], temperature = 1): number {
  let total = 0;
  for (const b of batches) {
    const n = b.labels.length;
    const logits = forwardHost(spec, weights, b);
    for (let i = 0; i < n; i++) {
      const z = logits[i].map((v) => v / temperature);
      const m = Math.max(...z);
      const lse = m + Math.log(z.reduce((a, v) => a + Math.exp(v - m), 0));
      total += (lse - z[b.labels[i] as number]) / n;
    }
  }
  return total;
}

function forwardHost(spec: ConvNetSpec, weights: ConvNetWeights, b: LabelledBatch): number[][] {
  // A plain nested-loop float64 forward of the tiny spec family used here (same padding, relu/linear).
  const [h0, w0, c0] = spec.inputShape;
  const n = b.labels.length;
  type Img = { h: number; w: number; c: number; v: Float64Array };
  const conv = (x: Img, kernel: Float32Array, bias: Float32Array, k: number, s: number, cout: number, depthwise: boolean): Img => {
    const ho = Math.ceil(x.h / s);
    const wo = Math.ceil(x.w / s);
    const padH = Math.max((ho - 1) * s + k - x.h, 0);
    const padW = Math.max((wo - 1) * s + k - x.w, 0);
    const top = Math.floor(padH / 2);
    const left = Math.floor(padW / 2);
    const out = new Float64Array(ho * wo * cout);
    for (let i = 0; i < ho; i++)
      for (let j = 0; j < wo; j++)
        for (let o = 0; o < cout; o++) {
          let acc = bias[o];
          for (let di = 0; di < k; di++)
            for (let dj = 0; dj < k; dj++) {
              const yi = i * s + di - top;
              const xj = j * s + dj - left;
              if (yi < 0 || yi >= x.h || xj < 0 || xj >= x.w) continue;
              if (depthwise) acc += x.v[(yi * x.w + xj) * x.c + o] * kernel[(di * k + dj) * x.c + o];
              else for (let c = 0; c < x.c; c++) acc += x.v[(yi * x.w + xj) * x.c + c] * kernel[((di * k + dj) * x.c + c) * cout + o];
            }
          out[(i * wo + j) * cout + o] = acc;
        }
    return { h: ho, w: wo, c: cout, v: out };
  };
  const relu = (x: Img, act: string | undefined): Img => ((act ?? 'relu') === 'relu' ? { ...x, v: x.v.map((v) => Math.max(0, v)) } : x);
  const add = (a: Img, c: Img): Img => ({ ...a, v: a.v.map((v, i) => v + c.v[i]) });
  const result: number[][] = [];
  for (let img = 0; img < n; img++) {
    let x: Img = { h: h0, w: w0, c: c0, v: Float64Array.from(b.images.subarray(img * h0 * w0 * c0, (img + 1) * h0 * w0 * c0)) };
    const layer = (blk: { kind: string; filters?: number; kernelSize: number; strides?: number; activation?: string }, name: string, input: Img): Img => {
      const w = weights.get(name)!;
      const cout = blk.kind === 'conv' ? (blk.filters as number) : input.c;
      return relu(conv(input, w.kernel, w.bias, blk.kernelSize, blk.strides ?? 1, cout, blk.kind === 'depthwise'), blk.activation);
    };
    spec.blocks.forEach((blk, i) => {
      if (blk.kind === 'residual') {
        let y = x;
        blk.body.forEach((inner, j) => (y = layer(inner, `b${i}_${j}`, y)));
        const s = blk.body.reduce((a, inner) => a * (inner.strides ?? 1), 1);
        const short = blk.shortcut === 'identity' ? x : conv(x, weights.get(`b${i}_proj`)!.kernel, weights.get(`b${i}_proj`)!.bias, 1, s, y.c, false);
        x = relu(add(y, short), blk.activation);
      } else x = layer(blk, `b${i}`, x);
    });
    const pooled = Array.from({ length: x.c }, (_, c) => {
      let acc = 0;
      for (let p = 0; p < x.h * x.w; p++) acc += x.v[p * x.c + c];
      return acc / (x.h * x.w);
    });
    const head = weights.get('classifier')!;
    result.push(Array.from({ length: spec.classes }, (_, o) => pooled.reduce((acc, v, c) => acc + v * head.kernel[c * spec.classes + o], head.bias[o])));
  }
  return result;
}

function perturbed(weights: ConvNetWeights, name: string, j: number, delta: number): ConvNetWeights {
  const out: ConvNetWeights = new Map();
  for (const [k, w] of weights) {
    const kernel = Float32Array.from(w.kernel);
    if (k === name) kernel[j] += delta;
    out.set(k, { kernel, bias: w.bias });
  }
  return out;
}

describe('synflowScores', () => {
  it('equals the hand-derived |θ|·∂R/∂|θ| of a 2-layer net, and R itself', () => {
    const a1 = W1.map(Math.abs);
    const a2 = W2.map(Math.abs);
    // R = Σ_o Σ_h |W2[h,o]|·(Σ_i |W1[i,h]| + |b1_h|) + Σ_o |b2_o| (all-ones input, everything ≥ 0, relu inactive).
    const hidden = [0, 1, 2].map((h) => a1[h] + a1[3 + h] + Math.abs(b1[h]));
    const R = [0, 1, 2].reduce((acc, h) => acc + hidden[h] * (a2[2 * h] + a2[2 * h + 1]), 0) + Math.abs(b2[0]) + Math.abs(b2[1]);
    const { scores, flow } = synflowScores(twoLayer, twoLayerWeights);
    expect(flow).toBeCloseTo(R, 5);
    const s1 = scores.get('b0')!;
    for (let i = 0; i < 2; i++) for (let h = 0; h < 3; h++) expect(s1[i * 3 + h]).toBeCloseTo(a1[i * 3 + h] * (a2[2 * h] + a2[2 * h + 1]), 5);
    const s2 = scores.get('classifier')!;
    for (let h = 0; h < 3; h++) for (let o = 0; o < 2; o++) expect(s2[h * 2 + o]).toBeCloseTo(a2[h * 2 + o] * hidden[h], 5);
    // The caller's weights keep their signs.
    expect(Array.from(twoLayerWeights.get('b0')!.kernel)).toEqual(W1);
  });

  it('gives masked weights score 0 and removes their flow from the others', () => {
    const masks = new Map([['b0', Uint8Array.from([0, 1, 1, 0, 1, 1])]]); // hidden unit 0 loses both inputs
    const { scores } = synflowScores(twoLayer, twoLayerWeights, masks);
    expect(scores.get('b0')![0]).toBe(0);
    expect(scores.get('b0')![3]).toBe(0);
    // W2 row 0 now only sees |b1_0|.
    expect(scores.get('classifier')![0]).toBeCloseTo(Math.abs(W2[0]) * Math.abs(b1[0]), 6);
    expect(scores.get('classifier')![1]).toBeCloseTo(Math.abs(W2[1]) * Math.abs(b1[0]), 6);
  });

  it('prunes the 1×1 projection shortcut far harder than the body convs (the known SynFlow behaviour)', () => {
    // At init the two 3×3 body convs amplify the flow ~10·√c times more than the one 1×1
    // shortcut, so the shortcut's per-weight scores are a fraction of the body's.
    const resnet: ConvNetSpec = {
      inputShape: [4, 4, 3],
      classes: 10,
      blocks: [
        { kind: 'conv', filters: 32, kernelSize: 3 },
        { kind: 'residual', shortcut: 'projection', body: [{ kind: 'conv', filters: 32, kernelSize: 3, strides: 2 }, { kind: 'conv', filters: 32, kernelSize: 3, activation: 'linear' }] },
      ],
    };
    const weights = initWeights(resnet, 0);
    const oneShot = pruneAtInitialization('synflow', resnet, weights, { density: 0.1, iterations: 1 }).densities;
    expect(oneShot.get('b1_proj')).toBe(0);
    expect(oneShot.get('b1_1')).toBeGreaterThan(0.03);
    const twoRounds = pruneAtInitialization('synflow', resnet, weights, { density: 0.1, iterations: 2 }).densities;
    expect(twoRounds.get('b1_proj')).toBeLessThan(0.25 * twoRounds.get('b1_1')!);
  });
});

describe('snipScores', () => {
  it('equals |θ·Σ_b ∂L_b/∂θ| normalised, with the gradient checked by central finite differences in float64', () => {
    const weights = initWeights(tiny, 4);
    const batches = [randomBatch(tiny, 4, 1), randomBatch(tiny, 3, 2)];
    const scores = snipScores(tiny, weights, batches);
    const fd: LayerScores = new Map();
    let norm = 0;
    const eps = 1e-3;
    for (const [name, w] of weights) {
      const s = new Float64Array(w.kernel.length);
      for (let j = 0; j < w.kernel.length; j++) {
        const g = (hostLoss(tiny, perturbed(weights, name, j, eps), batches) - hostLoss(tiny, perturbed(weights, name, j, -eps), batches)) / (2 * eps);
        s[j] = Math.abs(g * w.kernel[j]);
        norm += s[j];
      }
      fd.set(name, s);
    }
    let total = 0;
    for (const [name, s] of scores) {
      const want = fd.get(name)!;
      for (let j = 0; j < s.length; j++) {
        total += s[j];
        expect(Math.abs(s[j] - want[j] / norm)).toBeLessThan(2e-4);
      }
    }
    expect(total).toBeCloseTo(1, 9);
  });

  it('sums the gradient over batches before taking |·| (not a sum of per-batch magnitudes)', () => {
    const weights = initWeights(tiny, 5);
    const batches = [randomBatch(tiny, 4, 3), randomBatch(tiny, 4, 4)];
    const g = lossGradients(tiny, weights, batches);
    const g0 = lossGradients(tiny, weights, [batches[0]]);
    const g1 = lossGradients(tiny, weights, [batches[1]]);
    for (const [name, v] of g) v.forEach((x, j) => expect(x).toBeCloseTo(g0.get(name)![j] + g1.get(name)![j], 6));
  });

  it('rejects labels outside the classes and mismatched image buffers', () => {
    const weights = initWeights(tiny, 0);
    expect(() => snipScores(tiny, weights, [{ images: new Float32Array(25), labels: [3] }])).toThrow(/label 3 is not a class index in \[0, 3\)/);
    expect(() => snipScores(tiny, weights, [{ images: new Float32Array(24), labels: [0] }])).toThrow(/need 25 pixel values/);
    expect(() => snipScores(tiny, weights, [])).toThrow(/at least one labelled batch/);
  });
});

describe('graspScores', () => {
  it('Hg matches a finite-difference Hessian–vector product of the gradient', () => {
    const weights = initWeights(tiny, 6);
    const batches = [randomBatch(tiny, 5, 7), randomBatch(tiny, 3, 8)];
    const g = lossGradients(tiny, weights, batches);
    const hg = hessianGradientProduct(tiny, weights, batches, g);
    // Direction v = g/|g|; Hg = |g|·(∇L(θ+εv) − ∇L(θ−εv)) / 2ε.
    let gnorm = 0;
    for (const v of g.values()) for (const x of v) gnorm += x * x;
    gnorm = Math.sqrt(gnorm);
    const eps = 1e-2;
    const shifted = (sign: number): ConvNetWeights =>
      new Map([...weights].map(([k, w]) => [k, { kernel: w.kernel.map((x, j) => x + (sign * eps * g.get(k)![j]) / gnorm), bias: w.bias }]));
    const plus = lossGradients(tiny, shifted(1), batches);
    const minus = lossGradients(tiny, shifted(-1), batches);
    let maxAbs = 0;
    let maxErr = 0;
    for (const [name, h] of hg) {
      h.forEach((x, j) => {
        const want = (gnorm * (plus.get(name)![j] - minus.get(name)![j])) / (2 * eps);
        maxAbs = Math.max(maxAbs, Math.abs(want));
        maxErr = Math.max(maxErr, Math.abs(x - want));
      });
    }
    expect(maxAbs).toBeGreaterThan(1e-3);
    expect(maxErr / maxAbs).toBeLessThan(2e-2);
  });

  it('scores θ ⊙ Hg at temperature 200, normalised by |Σ| + 1e−10', () => {
    const weights = initWeights(tiny, 9);
    const batches = [randomBatch(tiny, 6, 10)];
    const scores = graspScores(tiny, weights, batches);
    const g = lossGradients(tiny, weights, batches, { temperature: 200 });
    const hg = hessianGradientProduct(tiny, weights, batches, g, { temperature: 200 });
    let sum = 0;
    for (const [name, h] of hg) h.forEach((x, j) => (sum += x * weights.get(name)!.kernel[j]));
    for (const [name, s] of scores) s.forEach((x, j) => expect(x).toBeCloseTo((hg.get(name)![j] * weights.get(name)!.kernel[j]) / (Math.abs(sum) + 1e-10), 9));
    let signed = 0;
    for (const s of scores.values()) for (const x of s) signed += x;
    expect(Math.abs(signed)).toBeCloseTo(Math.abs(sum) / (Math.abs(sum) + 1e-10), 9);
  });
});

describe('globalMask', () => {
  it('keeps exactly round(d·N) entries and breaks ties by position', () => {
    const scores: LayerScores = new Map([
      ['a', Float64Array.from([1, 3, 2, 2])],
      ['b', Float64Array.from([2, 0, 5])],
    ]);
    const m = globalMask(scores, 3 / 7);
    // 5 and 3 are kept; the third place is a four-way tie at 2 → the first in order (a[2]).
    expect(Array.from(m.get('a')!)).toEqual([0, 1, 1, 0]);
    expect(Array.from(m.get('b')!)).toEqual([0, 0, 1]);
    const all = globalMask(new Map([['z', new Float64Array(10)]]), 0.3);
    expect(Array.from(all.get('z')!)).toEqual([1, 1, 1, 0, 0, 0, 0, 0, 0, 0]);
    expect(() => globalMask(scores, 1.2)).toThrow(/density must be in \[0, 1\]/);
  });

  it('never revives an entry its current mask removed', () => {
    const scores: LayerScores = new Map([['a', Float64Array.from([9, 8, 1, 2, 3])]]);
    const m = globalMask(scores, 0.4, { current: new Map([['a', Uint8Array.from([0, 1, 1, 1, 0])]]) });
    expect(Array.from(m.get('a')!)).toEqual([0, 1, 0, 1, 0]);
  });
});

describe('pruneAtInitialization', () => {
  it('SynFlow with the exponential schedule ends at the requested density with nested masks', () => {
    const weights = initWeights(tiny, 11);
    const seen: number[] = [];
    const few = pruneAtInitialization('synflow', tiny, weights, { density: 0.3, iterations: 3 });
    const more = pruneAtInitialization('synflow', tiny, weights, { density: 0.3, iterations: 10, onProgress: (e) => seen.push(e.done) });
    expect(seen).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    for (const r of [few, more]) {
      let kept = 0;
      let total = 0;
      for (const m of r.masks.values()) {
        total += m.length;
        for (const v of m) kept += v;
      }
      expect(kept).toBe(Math.round(0.3 * total));
    }
    // Deterministic: the same call gives the same masks.
    const again = pruneAtInitialization('synflow', tiny, weights, { density: 0.3, iterations: 3 });
    for (const [k, m] of few.masks) expect(again.masks.get(k)).toEqual(m);
    expect(layerDensities(few.masks)).toEqual(few.densities);
  });

  it('SNIP and GraSP need data; unknown methods and densities are rejected', () => {
    const weights = initWeights(tiny, 0);
    expect(() => pruneAtInitialization('snip', tiny, weights, { density: 0.5 })).toThrow(/at least one labelled batch/);
    expect(() => pruneAtInitialization('magnitude' as never, tiny, weights, { density: 0.5 })).toThrow(/use 'snip', 'grasp' or 'synflow'/);
    expect(() => pruneAtInitialization('synflow', tiny, weights, { density: 0 })).toThrow(/density must be in \(0, 1\]/);
    const r = pruneAtInitialization('grasp', tiny, weights, { density: 0.5, batches: [randomBatch(tiny, 6, 1)] });
    expect([...r.densities.values()].every((d) => d >= 0 && d <= 1)).toBe(true);
  });
});

describe('classBalancedIndices', () => {
  it('takes perClass images of every class, seeded', () => {
    const labels = Array.from({ length: 60 }, (_, i) => i % 3);
    const idx = classBalancedIndices(labels, 3, 4, 1);
    expect(idx).toHaveLength(12);
    expect([0, 1, 2].map((c) => idx.filter((i) => labels[i] === c).length)).toEqual([4, 4, 4]);
    expect(classBalancedIndices(labels, 3, 4, 1)).toEqual(idx);
    expect(() => classBalancedIndices(labels, 4, 1, 0)).toThrow(/class 3 has only 0 images/);
  });
});
