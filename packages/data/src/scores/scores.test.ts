import { PruneError } from '@prune/core';
import { describe, expect, it } from 'vitest';
import { embeddingMatrix } from '../curation/embeddings.js';
import { aumScores } from './aum.js';
import { el2nFromTraces, el2nScores } from './el2n.js';
import { forgettingScores } from './forgetting.js';
import { grandLastLayerScores } from './grand.js';
import { prototypeScores } from './prototypes.js';
import { randomScores } from './random.js';
import type { EpochRecord, TrainingTrace } from './recorder.js';

/** A trace from per-epoch correctness / margins written by hand (presented everywhere unless `presented` says). */
function trace(correct: number[][], margins?: number[][], presented?: number[][]): TrainingTrace {
  const n = correct[0].length;
  const epochs: EpochRecord[] = correct.map((c, e) => ({
    presented: Uint8Array.from(presented?.[e] ?? c.map(() => 1)),
    correct: Uint8Array.from(c),
    probabilityMargin: Float32Array.from(margins?.[e] ?? c.map(() => 0)),
    logitMargin: Float32Array.from((margins?.[e] ?? c.map(() => 0)).map((m) => 10 * m)),
    errorNorm: Float32Array.from(c.map((x) => (x ? 0.1 : 0.9))),
  }));
  return { count: n, numClasses: 2, epochs };
}

describe('forgettingScores', () => {
  it('counts correct→incorrect transitions and gives never-learned examples the epoch count', () => {
    // example 0: 1 0 1 0 → 2 events; 1: 0 1 1 1 → 0; 2: never correct → 4 (maximal); 3: 1 1 1 0 → 1
    const t = trace([
      [1, 0, 0, 1],
      [0, 1, 0, 1],
      [1, 1, 0, 1],
      [0, 1, 0, 0],
    ]);
    expect(Array.from(forgettingScores(t))).toEqual([2, 0, 4, 1]);
  });

  it('skips epochs in which an example was not presented', () => {
    // example 0 presentations: 1, (absent), 0 → one event across the gap
    const t = trace([[1], [1], [0]], undefined, [[1], [0], [1]]);
    expect(Array.from(forgettingScores(t))).toEqual([1]);
  });

  it('needs a trace with epochs', () => {
    expect(() => forgettingScores({ count: 1, numClasses: 2, epochs: [] })).toThrow(/endEpoch/);
  });
});

describe('aumScores', () => {
  it('averages the margin over presentations', () => {
    const t = trace(
      [
        [1, 0],
        [1, 0],
        [1, 0],
      ],
      [
        [0.5, -0.2],
        [0.7, -0.4],
        [0.9, 0.3],
      ],
    );
    const p = aumScores(t);
    expect(p[0]).toBeCloseTo(0.7, 6);
    expect(p[1]).toBeCloseTo(-0.1, 6);
    expect(aumScores(t, { margin: 'logit' })[0]).toBeCloseTo(7, 5);
  });
});

describe('el2nScores', () => {
  it('is the error L2 norm averaged over runs', () => {
    const labels = [0, 1];
    const run1 = Float32Array.from([1, 0, 0.6, 0.4]); // ‖0‖ = 0 ; ‖(0.6, −0.6)‖ = 0.6√2
    const run2 = Float32Array.from([0.5, 0.5, 0, 1]); // ‖(−0.5, 0.5)‖ = 0.5√2 ; 0
    const s = el2nScores({ probabilities: [run1, run2], labels, numClasses: 2 });
    expect(s[0]).toBeCloseTo((0.5 * Math.SQRT2) / 2, 6);
    expect(s[1]).toBeCloseTo((0.6 * Math.SQRT2) / 2, 6);
  });

  it('reads recorded error norms from traces', () => {
    const t1 = trace([[1, 0]]);
    const t2 = trace([[0, 0]]);
    expect(Array.from(el2nFromTraces([t1, t2], 0)).map((v) => +v.toFixed(6))).toEqual([0.5, 0.9]);
    expect(() => el2nFromTraces([t1], 3)).toThrow(/epoch 3/);
  });

  it('asks for labels when they are missing', () => {
    const err = (() => {
      try {
        el2nScores({ probabilities: new Float32Array(4), labels: undefined as unknown as number[], numClasses: 2 });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(PruneError);
    expect((err as PruneError).message).toMatch(/label/);
  });
});

describe('grandLastLayerScores', () => {
  it('is ‖p − y‖·√(‖h‖² + 1) for a dense softmax layer with bias', () => {
    const s = grandLastLayerScores({
      probabilities: Float32Array.from([0.8, 0.2]),
      features: Float32Array.from([1, 2, 2]),
      labels: [0],
      numClasses: 2,
    });
    // ‖(−0.2, 0.2)‖ = 0.2√2; ‖h‖² + 1 = 10
    expect(s[0]).toBeCloseTo(0.2 * Math.SQRT2 * Math.sqrt(10), 5);
    const noBias = grandLastLayerScores({ probabilities: Float32Array.from([0.8, 0.2]), features: Float32Array.from([1, 2, 2]), labels: [0], numClasses: 2, bias: false });
    expect(noBias[0]).toBeCloseTo(0.2 * Math.SQRT2 * 3, 5);
  });
});

describe('randomScores', () => {
  it('is deterministic under a seed and differs across seeds', () => {
    expect(Array.from(randomScores(5, 3))).toEqual(Array.from(randomScores(5, 3)));
    expect(Array.from(randomScores(5, 3))).not.toEqual(Array.from(randomScores(5, 4)));
  });
});

describe('prototypeScores', () => {
  it('is the distance to the nearest centroid', () => {
    // two tight groups on the unit circle directions; the outlier of group A scores highest
    const e = embeddingMatrix(Float32Array.from([1, 0, 1, 0.1, 1, -0.1, 1, 0.6, 0, 1, 0.1, 1, -0.1, 1]), 2);
    const s = prototypeScores(e, { k: 2, seed: 1 });
    const maxAt = s.indexOf(Math.max(...s));
    expect(maxAt).toBe(3);
    // without normalisation, brute force: group {0..3} centroid = mean
    const raw = prototypeScores(embeddingMatrix(Float32Array.from([0, 0, 2, 0, 10, 10]), 2), { k: 2, normalize: false, seed: 0 });
    expect(Array.from(raw).map((v) => +v.toFixed(5))).toEqual([1, 1, 0]);
  });

  it('rejects embeddings with NaN', () => {
    expect(() => embeddingMatrix(Float32Array.from([0, Number.NaN]), 2)).toThrow(/NaN/);
  });
});
