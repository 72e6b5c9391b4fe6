import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  PruneError,
  backendCapabilities,
  findBackend,
  listBackends,
  setBackend,
  tensor,
  matmul,
  softmax,
  log,
  div,
  exp,
  add,
} from '@prune/core';
import { GPUJS_FALLBACK_REASONS, GPUJS_KERNEL_NOTES, createGpujsBackend, registerGpujsBackends } from './backend.js';
import { GPUJS_MODES, gpujsModeAvailability } from './modes.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return e instanceof PruneError ? e.code : `not a PruneError: ${String(e)}`;
  }
  return undefined;
}

describe('mode selection', () => {
  it('rejects an unknown mode with INVALID_ARGUMENT naming the valid modes', () => {
    expect(codeOf(() => createGpujsBackend({ mode: 'cuda' as never }))).toBe('INVALID_ARGUMENT');
    expect(() => createGpujsBackend({ mode: 'cuda' as never })).toThrow(/'cpu', 'webasm', 'headlessgl', 'webgl', 'webgl2', 'gpu'/);
    expect(codeOf(() => createGpujsBackend(null as never))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => gpujsModeAvailability('dev' as never))).toBe('INVALID_ARGUMENT');
  });

  it('rejects browser-only modes in Node with BACKEND_UNAVAILABLE and a reason', () => {
    for (const mode of ['webgl', 'webgl2'] as const) {
      expect(gpujsModeAvailability(mode).available).toBe(false);
      expect(codeOf(() => createGpujsBackend({ mode }))).toBe('BACKEND_UNAVAILABLE');
      expect(() => createGpujsBackend({ mode })).toThrow(/in browsers/);
    }
  });

  it('headlessgl either starts or explains how to make it available', () => {
    const a = gpujsModeAvailability('headlessgl');
    if (a.available) {
      const b = createGpujsBackend({ mode: 'headlessgl' });
      expect(b.resolvedMode).toBe('headlessgl');
      b.destroy();
    } else {
      expect(a.reason).toMatch(/setup-headlessgl\.sh/);
      expect(codeOf(() => createGpujsBackend({ mode: 'headlessgl' }))).toBe('BACKEND_UNAVAILABLE');
    }
  });

  it("resolves 'gpu' to headlessgl when it works, else webasm", () => {
    const b = createGpujsBackend({ mode: 'gpu' });
    expect(b.name).toBe('gpujs-gpu');
    expect(b.resolvedMode).toBe(gpujsModeAvailability('headlessgl').available ? 'headlessgl' : 'webasm');
    b.destroy();
  });

  it('registers one backend per mode; unavailable ones fail only when selected', async () => {
    const names = registerGpujsBackends();
    expect(names).toEqual(GPUJS_MODES.map((m) => `gpujs-${m}`));
    expect(listBackends()).toEqual(expect.arrayContaining(names));
    const cpu = await findBackend('gpujs-cpu');
    expect(cpu.name).toBe('gpujs-cpu');
    await expect(findBackend('gpujs-webgl2')).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
    (cpu as { destroy?: () => void }).destroy?.();
  });
});

describe('capabilities', () => {
  it('every kernel is either native with a note or a fallback with a reason', () => {
    const b = createGpujsBackend({ mode: 'cpu' });
    const caps = backendCapabilities(b);
    // A note or reason is a sentence a user can act on, never an empty or placeholder string.
    for (const k of caps.fallback) expect(GPUJS_FALLBACK_REASONS[k], k).toMatch(/^[A-Za-z`].{15,}/);
    for (const k of caps.native) expect(GPUJS_KERNEL_NOTES[k], k).toMatch(/^[A-Za-z`].{15,}/);
    expect(new Set([...caps.fallback, ...caps.native]).size).toBe(caps.fallback.length + caps.native.length);
    expect(caps.native).toEqual(expect.arrayContaining(['matmul', 'softmax', 'reduce', 'binary', 'cosineSimilarity']));
    b.destroy();
  });
});

// headlessgl joins when `gl` loads and a display exists (see conformance.test.ts).
const modes = gpujsModeAvailability('headlessgl').available ? (['cpu', 'webasm', 'headlessgl'] as const) : (['cpu', 'webasm'] as const);

describe.each(modes)('%s mode', (mode) => {
  afterEach(() => vi.restoreAllMocks());

  it('caches one compiled kernel per (op, shapes) and destroys them all', () => {
    const b = createGpujsBackend({ mode });
    const x = tensor([[1, 2, 3], [4, 5, 6]], undefined, 'float32', { backend: b });
    const w = tensor([[1, 0], [0, 1], [1, 1]], undefined, 'float32', { backend: b });
    expect(b.cachedKernels).toBe(0);
    // [[1,2,3],[4,5,6]] · [[1,0],[0,1],[1,1]] = [[4,5],[10,11]]
    expect(Array.from(matmul(x, w).dataSync())).toEqual([4, 5, 10, 11]);
    expect(b.cachedKernels).toBe(1);
    matmul(x, w);
    expect(b.cachedKernels).toBe(1);
    matmul(w, x);
    expect(b.cachedKernels).toBe(2);
    b.destroy();
    expect(b.cachedKernels).toBe(0);
    expect(() => matmul(x, w)).toThrow(/destroyed/);
  });

  it('evicts beyond maxCachedKernels', () => {
    const b = createGpujsBackend({ mode, maxCachedKernels: 2 });
    for (let n = 1; n <= 4; n++) add(tensor(new Float32Array(n).fill(1), [n], 'float32', { backend: b }), 1);
    expect(b.cachedKernels).toBe(2);
    b.destroy();
  });

  it('runs its kernels in the requested mode (no silent gpu.js CPU fallback)', () => {
    const warn = vi.spyOn(console, 'warn');
    const b = createGpujsBackend({ mode });
    const x = tensor([[0.5, -1, 2], [3, 0.25, -2]], undefined, 'float32', { backend: b });
    const s = softmax(x, { axis: 1 }).dataSync();
    // Row [0.5, -1, 2]: e^(v − 2) / Σ.
    const row = [0.5, -1, 2].map((v) => Math.exp(v - 2));
    const z = row.reduce((p, q) => p + q, 0);
    for (let i = 0; i < 3; i++) expect(s[i]).toBeCloseTo(row[i] / z, 6);
    expect(warn).not.toHaveBeenCalled();
    b.destroy();
  });

  it('gives the reference results for special values (log 0, 1/0, exp overflow)', () => {
    const b = createGpujsBackend({ mode });
    const x = tensor([1, 0, -1], undefined, 'float32', { backend: b });
    expect(Array.from(log(x).dataSync())).toEqual([0, -Infinity, Number.NaN]);
    expect(Array.from(div(tensor([1, -1, 0], undefined, 'float32', { backend: b }), 0).dataSync())).toEqual([Infinity, -Infinity, Number.NaN]);
    expect(Array.from(exp(tensor([100, 0], undefined, 'float32', { backend: b })).dataSync())).toEqual([Infinity, 1]);
    expect(Array.from(add(tensor([3e38], undefined, 'float32', { backend: b }), tensor([3e38], undefined, 'float32', { backend: b })).dataSync())).toEqual([Infinity]);
    b.destroy();
  });
});

describe('registry priority', () => {
  it("ranks every gpujs backend below the reference, so 'auto' keeps the reference", async () => {
    registerGpujsBackends();
    const names = listBackends();
    expect(names.indexOf('reference')).toBeLessThan(Math.min(...GPUJS_MODES.map((m) => names.indexOf(`gpujs-${m}`))));
    expect(names.filter((n) => n.startsWith('gpujs-'))).toEqual(['gpujs-gpu', 'gpujs-headlessgl', 'gpujs-webgl', 'gpujs-webgl2', 'gpujs-webasm', 'gpujs-cpu']);
    expect((await setBackend('auto')).name).not.toMatch(/^gpujs-/);
  });
});
