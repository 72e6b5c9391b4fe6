import { describe, expect, it } from 'vitest';
import { dispose, keep, tidy } from './scope.js';
import { tensor } from './ops/creation.js';
import { PruneError } from './errors.js';

describe('tidy', () => {
  it('disposes intermediates and keeps returned tensors', () => {
    let inner: ReturnType<typeof tensor> | undefined;
    const out = tidy(() => {
      inner = tensor([1, 2, 3]);
      return { a: tensor([4]), list: [tensor([5])] };
    });
    expect(inner!.isDisposed).toBe(true);
    expect(out.a.isDisposed).toBe(false);
    expect(out.list[0].dataSync()[0]).toBe(5);
    dispose(out);
    expect(out.a.isDisposed).toBe(true);
  });

  it('keep() survives nested scopes; returned tensors join the outer scope', () => {
    let kept: ReturnType<typeof tensor> | undefined;
    let returned: ReturnType<typeof tensor> | undefined;
    tidy(() => {
      returned = tidy(() => {
        kept = keep(tensor([1]));
        return tensor([2]);
      });
      expect(returned.isDisposed).toBe(false);
    });
    expect(returned!.isDisposed).toBe(true);
    expect(kept!.isDisposed).toBe(false);
  });

  it('using a disposed tensor is a DISPOSED PruneError', () => {
    const t = tensor([1]);
    t.dispose();
    expect(() => t.dataSync()).toThrow(PruneError);
    try { t.dataSync(); } catch (e) { expect((e as PruneError).code).toBe('DISPOSED'); }
  });
});
