import {
  PruneError, Tensor, abs, backendCapabilities, cast, cholesky, exp, getBackend, listBackends, matmul, neg, referenceBackend,
  selectMask, setBackend, softmax, sub, sum, tensor, tidy, topk,
} from '@prune/core';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { TFJS_BACKEND_PRIORITIES, createTfjsBackend, isTfjsBackend, nativeKernelsFor, registerTfjsBackends } from './index.js';

async function rejection(p: Promise<unknown>): Promise<PruneError> {
  try {
    await p;
  } catch (e) {
    return e as PruneError;
  }
  throw new Error('expected a rejection');
}

describe('backend selection', () => {
  it('the tensorflow bindings are not installed here (precondition of the tests below)', async () => {
    await expect(import(/* @vite-ignore */ ['@tensorflow', 'tfjs-node'].join('/'))).rejects.toThrow();
  });

  it('a forced tensorflow backend that is not installed gives BACKEND_UNAVAILABLE naming the package', async () => {
    const e = await rejection(createTfjsBackend({ backend: 'tensorflow' }));
    expect(e).toBeInstanceOf(PruneError);
    expect(e.code).toBe('BACKEND_UNAVAILABLE');
    expect(e.message).toContain('@tensorflow/tfjs-node');
  });

  it('a forced webgl backend in Node gives BACKEND_UNAVAILABLE', async () => {
    const e = await rejection(createTfjsBackend({ backend: 'webgl' }));
    expect(e.code).toBe('BACKEND_UNAVAILABLE');
    expect(e.message).toContain('@tensorflow/tfjs-backend-webgl');
  });

  it('an unknown choice is an INVALID_ARGUMENT', async () => {
    const e = await rejection(createTfjsBackend({ backend: 'metal' as never }));
    expect(e.code).toBe('INVALID_ARGUMENT');
  });

  it('auto without tfjs-node picks wasm', async () => {
    const b = await createTfjsBackend();
    expect(b.tfjsBackend).toBe('wasm');
    expect(b.name).toBe('tfjs-wasm');
    expect(isTfjsBackend(b)).toBe(true);
    expect(isTfjsBackend(referenceBackend)).toBe(false);
    expect(tf.getBackend()).toBe('wasm');
  });

  it('registerTfjsBackends registers every name by priority, and core auto then picks tfjs-wasm', async () => {
    registerTfjsBackends();
    const names = listBackends();
    const order = ['tfjs-node-gpu', 'tfjs-node', 'tfjs-webgpu', 'tfjs-webgl', 'tfjs-wasm', 'tfjs-cpu'];
    expect(names).toEqual(expect.arrayContaining(order));
    expect(order.map((n) => names.indexOf(n))).toEqual([...order.map((n) => names.indexOf(n))].sort((a, b) => a - b));
    expect(names.indexOf('tfjs-cpu')).toBeLessThan(names.indexOf('reference'));
    expect(TFJS_BACKEND_PRIORITIES['tfjs-node-gpu']).toBeGreaterThan(TFJS_BACKEND_PRIORITIES['tfjs-cpu']);
    try {
      const chosen = await setBackend('auto');
      // Other packages may register higher-priority backends; among tfjs ones wasm must win here.
      if (chosen.name.startsWith('tfjs-')) expect(chosen.name).toBe('tfjs-wasm');
      const cpu = await setBackend('tfjs-cpu');
      expect(cpu.name).toBe('tfjs-cpu');
      expect(getBackend()).toBe(cpu);
      expect(Array.from(sum(tensor([1, 2, 3.5])).dataSync())).toEqual([6.5]);
    } finally {
      await setBackend('reference');
    }
  });
});

describe('capabilities', () => {
  it('cholesky and triangularInverse fall back to the reference; everything else is native on cpu/wasm', async () => {
    const b = await createTfjsBackend({ backend: 'cpu' });
    const caps = backendCapabilities(b);
    expect(caps.fallback).toEqual(['cholesky', 'triangularInverse']);
    expect(caps.native).toHaveLength(21);
    expect(nativeKernelsFor('webgl')).not.toContain('selectMask');
    expect(nativeKernelsFor('wasm')).toContain('selectMask');
  });

  it('the fallback cholesky runs on tfjs tensors: [[4,2],[2,3]] → [[2,0],[1,√2]]', async () => {
    const backend = await createTfjsBackend({ backend: 'wasm' });
    const l = cholesky(tensor([[4, 2], [2, 3]], undefined, 'float32', { backend }));
    expect(l.backend).toBe(backend);
    const v = l.dataSync();
    expect(Array.from(v.slice(0, 3))).toEqual([2, 0, 1]);
    expect(v[3]).toBeCloseTo(Math.SQRT2, 6);
  });
});

describe('one tfjs engine, several backends', () => {
  it('interleaved ops on tfjs-cpu and tfjs-wasm each run on their own tfjs backend', async () => {
    const cpu = await createTfjsBackend({ backend: 'cpu' });
    const wasm = await createTfjsBackend({ backend: 'wasm' });
    const a = tensor([[1, 2], [3, 4]], undefined, 'float32', { backend: cpu });
    const b = tensor([[1, 2], [3, 4]], undefined, 'float32', { backend: wasm });
    for (let i = 0; i < 3; i++) {
      const pa = matmul(a, a);
      expect(tf.getBackend()).toBe('cpu');
      const pb = matmul(b, b);
      expect(tf.getBackend()).toBe('wasm');
      expect(Array.from(pa.dataSync())).toEqual([7, 10, 15, 22]);
      expect(Array.from(pb.dataSync())).toEqual([7, 10, 15, 22]);
      pa.dispose();
      pb.dispose();
    }
    a.dispose();
    b.dispose();
  });
});

describe('memory', () => {
  it('a tidy of many ops leaves the number of tfjs tensors unchanged', async () => {
    for (const name of ['cpu', 'wasm'] as const) {
      const backend = await createTfjsBackend({ backend: name });
      const x = tensor(Float32Array.from({ length: 64 * 33 }, (_, i) => Math.sin(i)), [64, 33], 'float32', { backend });
      const before = tf.memory().numTensors;
      tidy(() => {
        for (let i = 0; i < 20; i++) {
          const y = softmax(sub(exp(x), 1), { axis: 1 });
          selectMask(y, { k: 16 });
          topk(y, { k: 5 });
          sum(matmul(y, y, { transposeB: true }), { axis: 0 });
        }
      });
      expect(tf.memory().numTensors).toBe(before);
      x.dispose();
    }
  });

  it('a kernel result survives an enclosing tf.tidy of the caller', async () => {
    const backend = await createTfjsBackend({ backend: 'wasm' });
    const x = tensor([1, -2, 3], [3], 'float32', { backend });
    let y: Tensor | undefined;
    tf.tidy(() => {
      y = abs(x);
    });
    expect(Array.from(y!.dataSync())).toEqual([1, 2, 3]);
    y!.dispose();
    x.dispose();
  });
});

describe('exact int32 where tfjs rounds through float32', () => {
  const big = [16777217, -16777219, 2147483647, -2147483647];
  for (const name of ['cpu', 'wasm'] as const) {
    it(`${name}: neg, abs and int32→float32 cast of values beyond 2^24`, async () => {
      const backend = await createTfjsBackend({ backend: name });
      const x = tensor(Int32Array.from(big), [4], 'int32', { backend });
      expect(Array.from(neg(x).dataSync())).toEqual([-16777217, 16777219, -2147483647, 2147483647]);
      expect(Array.from(abs(x).dataSync())).toEqual([16777217, 16777219, 2147483647, 2147483647]);
      // float32 rounds to nearest even: 16777217 → 16777216, −16777219 → −16777220.
      const f = cast(x, 'float32');
      expect(Array.from(f.dataSync())).toEqual([16777216, -16777220, 2147483648, -2147483648]);
      expect(Array.from(sub(f, tensor([16777216, 0, 0, 0], [4], 'float32', { backend })).dataSync())).toEqual([0, -16777220, 2147483648, -2147483648]);
    });

    it(`${name}: float32 → int32 cast truncates, maps NaN/±Inf to 0 and wraps beyond 2^31 like Int32Array`, async () => {
      const backend = await createTfjsBackend({ backend: name });
      const values = [2.9, -2.9, NaN, Infinity, -Infinity, 3e9, -3e9, 2147483648];
      const expected = Array.from(Int32Array.from(Float32Array.from(values)));
      const x = tensor(Float32Array.from(values), [values.length], 'float32', { backend });
      expect(Array.from(cast(x, 'int32').dataSync())).toEqual(expected);
      expect(expected.slice(0, 5)).toEqual([2, -2, 0, 0, 0]);
    });
  }
});
