import { describe, expect, it } from 'vitest';
import { TrainingDynamicsRecorder } from './recorder.js';

describe('TrainingDynamicsRecorder', () => {
  it('records correctness, margins and error norms of a hand-checkable batch', () => {
    const rec = new TrainingDynamicsRecorder({ count: 3, numClasses: 2 });
    // logits [0, ln 3] → p = [1/4, 3/4]; logits [2, 2] → p = [1/2, 1/2], a tie that argmax resolves to class 0.
    rec.record([2, 0], [1, 0], Float32Array.from([0, Math.log(3), 2, 2]));
    rec.endEpoch();
    const [e] = rec.trace().epochs;
    expect(Array.from(e.presented)).toEqual([1, 0, 1]);
    expect(Array.from(e.correct)).toEqual([1, 0, 1]);
    expect(e.probabilityMargin[2]).toBeCloseTo(0.75 - 0.25, 6);
    expect(e.logitMargin[2]).toBeCloseTo(Math.log(3), 6);
    // ‖(1/4, 3/4) − (0, 1)‖ = √(1/16 + 1/16)
    expect(e.errorNorm[2]).toBeCloseTo(Math.sqrt(2) / 4, 6);
    expect(e.probabilityMargin[0]).toBeCloseTo(0, 6);
    expect(e.errorNorm[0]).toBeCloseTo(Math.sqrt(0.5), 6);
  });

  it('accepts anything with dataSync() and leaves unseen examples unpresented', () => {
    const rec = new TrainingDynamicsRecorder({ count: 2, numClasses: 3 });
    rec.record([1], [2], { dataSync: () => [0, 1, 5] });
    rec.endEpoch();
    rec.endEpoch();
    const t = rec.trace();
    expect(t.epochs).toHaveLength(2);
    expect(Array.from(t.epochs[0].correct)).toEqual([0, 1]);
    expect(Array.from(t.epochs[1].presented)).toEqual([0, 0]);
  });

  it('rejects missing labels, bad shapes and non-finite logits', () => {
    const rec = new TrainingDynamicsRecorder({ count: 2, numClasses: 2 });
    expect(() => rec.record([0], undefined as unknown as number[], [0, 1])).toThrow(/label/);
    expect(() => rec.record([0], [0], [0, 1, 2])).toThrow(/logits/);
    expect(() => rec.record([5], [0], [0, 1])).toThrow(/outside/);
    expect(() => rec.record([0], [0], [Number.NaN, 1])).toThrow(/diverged/);
    expect(() => new TrainingDynamicsRecorder({ count: 0, numClasses: 2 })).toThrow(/count/);
  });
});
