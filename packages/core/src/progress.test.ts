import { describe, expect, it } from 'vitest';
import { type ProgressEvent, progressStage, reportProgress } from './progress.js';

describe('reportProgress', () => {
  it('delivers a frozen copy of the event', () => {
    const seen: ProgressEvent[] = [];
    const event = { stage: 'write', done: 3, total: 10, unit: 'bytes' };
    reportProgress((e) => seen.push(e), event);
    expect(seen).toEqual([event]);
    expect(seen[0]).not.toBe(event);
    expect(Object.isFrozen(seen[0])).toBe(true);
  });

  it('swallows a throwing callback and a rejecting async callback', async () => {
    let calls = 0;
    expect(() =>
      reportProgress(() => {
        calls++;
        throw new Error('display broke');
      }, { stage: 's', done: 0, total: 1 }),
    ).not.toThrow();
    reportProgress((async () => {
      calls++;
      throw new Error('async display broke');
    }) as unknown as () => void, { stage: 's', done: 0, total: 1 });
    // Let the rejection settle: an unhandled rejection would fail the test run.
    await new Promise((r) => setTimeout(r, 10));
    expect(calls).toBe(2);
  });

  it('does nothing without a callback', () => {
    expect(() => reportProgress(undefined, { stage: 's', done: 0, total: 0 })).not.toThrow();
  });
});

describe('progressStage', () => {
  it('reports 0 at start, then each advance, clamped to the total', () => {
    const seen: ProgressEvent[] = [];
    const stage = progressStage((e) => seen.push(e), 'prune', 5, 'layers');
    stage.advance(2, 'layer 1');
    stage.advance(2);
    stage.advance(4, 'last');
    expect(seen.map((e) => e.done)).toEqual([0, 2, 4, 5]);
    expect(seen.every((e) => e.total === 5 && e.stage === 'prune' && e.unit === 'layers')).toBe(true);
    expect(seen[1].message).toBe('layer 1');
    expect('message' in seen[2]).toBe(false);
    expect(stage.done).toBe(5);
  });

  it('uses total 0 for an unknown total and ignores negative or non-finite steps', () => {
    const seen: ProgressEvent[] = [];
    const stage = progressStage((e) => seen.push(e), 'scan', Number.NaN);
    stage.advance(-3);
    stage.advance(Number.POSITIVE_INFINITY);
    stage.advance(7);
    expect(seen.map((e) => [e.done, e.total])).toEqual([[0, 0], [0, 0], [0, 0], [7, 0]]);
  });

  it('keeps counting when the callback throws', () => {
    let last = -1;
    const stage = progressStage((e) => {
      last = e.done;
      throw new Error('boom');
    }, 'write', 10);
    stage.advance(3);
    stage.advance(3);
    expect(last).toBe(6);
    expect(stage.done).toBe(6);
  });
});
