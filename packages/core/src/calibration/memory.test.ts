import { describe, expect, it } from 'vitest';
import { fromArray } from '../ops/creation.js';
import { tidy } from '../scope.js';
import { countingBackend } from '../testing/counting-backend.js';
import { ColumnNormAccumulator } from './column-norm.js';
import { HessianAccumulator } from './hessian.js';

const accumulators = [
  ['ColumnNormAccumulator', (d: number, accumulation: 'float32' | 'float64') => new ColumnNormAccumulator(d, { accumulation })],
  ['HessianAccumulator', (d: number, accumulation: 'float32' | 'float64') => new HessianAccumulator(d, { accumulation })],
] as const;

describe('calibration accumulators and memory', () => {
  for (const [name, make] of accumulators) {
    for (const [accumulation, onHost] of [['float32', false], ['float64', false], ['float32', true]] as const) {
      it(`${name} (${accumulation}${onHost ? ', host kernels' : ''}) survives callers' tidy scopes, disposes every intermediate, and refuses use after dispose`, () => {
        const { backend, live } = countingBackend({ onHost });
        const x = fromArray(Float32Array.of(1, 2, 3, 4, 5, 6), [1, 3, 2], 'float32', { backend });
        const gates = fromArray(Float32Array.of(1, 0.5, 0.25), [1, 3], 'float32', { backend });
        const bad = fromArray(Float32Array.of(1, Number.NaN), [2], 'float32', { backend });
        const acc = make(2, accumulation);
        tidy(() => {
          acc.update(x, { weights: gates });
          acc.update(x);
        });
        // The float64 state, and a state last updated by host kernels, live on the host.
        const state = accumulation === 'float32' && !onHost ? 1 : 0;
        expect(live()).toBe(3 + state);
        expect(() => acc.update(bad)).toThrow(expect.objectContaining({ code: 'NON_FINITE' }));
        expect(live()).toBe(3 + state);
        const value = acc.value();
        expect(value.backend).toBe(backend);
        expect(live()).toBe(4 + state);
        value.dispose();
        acc.dispose();
        acc.dispose();
        expect(live()).toBe(3);
        expect(() => acc.update(x)).toThrow(expect.objectContaining({ code: 'DISPOSED' }));
        expect(() => acc.value()).toThrow(expect.objectContaining({ code: 'DISPOSED' }));
        expect(() => acc.reset()).toThrow(expect.objectContaining({ code: 'DISPOSED' }));
      });
    }
  }

  it('rejects a batch on another backend than the earlier ones', () => {
    const { backend } = countingBackend();
    const acc = new ColumnNormAccumulator(2);
    acc.update(fromArray(Float32Array.of(1, 2), [2], 'float32'));
    expect(() => acc.update(fromArray(Float32Array.of(1, 2), [2], 'float32', { backend }))).toThrow(
      expect.objectContaining({ code: 'BACKEND_MISMATCH' }),
    );
    acc.reset();
    acc.update(fromArray(Float32Array.of(1, 2), [2], 'float32', { backend }));
    expect(acc.value().backend).toBe(backend);
  });
});
