import { describe, expect, it } from 'vitest';
import { PruneError } from '@prune/core';
import { KernelCache } from './cache.js';

function fakeKernel(log: string[], name: string) {
  return { name, destroy: () => log.push(name) };
}

describe('KernelCache', () => {
  it('builds a kernel once per key and reuses it', () => {
    const log: string[] = [];
    const cache = new KernelCache<ReturnType<typeof fakeKernel>>(4);
    let builds = 0;
    const build = () => (builds++, fakeKernel(log, 'k'));
    const first = cache.get('matmul:[2,3]', build);
    expect(cache.get('matmul:[2,3]', build)).toBe(first);
    expect(builds).toBe(1);
    expect(cache.size).toBe(1);
  });

  it('destroys the least recently used kernel beyond its capacity', () => {
    const log: string[] = [];
    const cache = new KernelCache<ReturnType<typeof fakeKernel>>(2);
    cache.get('a', () => fakeKernel(log, 'a'));
    cache.get('b', () => fakeKernel(log, 'b'));
    cache.get('a', () => fakeKernel(log, 'a2')); // touch a: b is now the oldest
    cache.get('c', () => fakeKernel(log, 'c'));
    expect(log).toEqual(['b']);
    expect(cache.keys()).toEqual(['a', 'c']);
  });

  it('destroy() destroys every kernel once and refuses further use', () => {
    const log: string[] = [];
    const cache = new KernelCache<ReturnType<typeof fakeKernel>>(8);
    cache.get('a', () => fakeKernel(log, 'a'));
    cache.get('b', () => fakeKernel(log, 'b'));
    cache.destroy();
    expect(log.sort()).toEqual(['a', 'b']);
    expect(cache.size).toBe(0);
    expect(cache.destroyed).toBe(true);
    expect(() => cache.get('a', () => fakeKernel(log, 'a'))).toThrow(PruneError);
  });

  it('rejects a capacity that is not a positive integer', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      expect(() => new KernelCache(bad)).toThrow(/maxCachedKernels must be a positive integer/);
    }
  });
});
