import { PruneError, add, referenceBackend, tensor } from '@prune/core';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { createTfjsBackend, fromTfjs, toTfjs } from './index.js';

describe('toTfjs / fromTfjs', () => {
  it('toTfjs of a tfjs-backed tensor shares storage and is disposed independently', async () => {
    const backend = await createTfjsBackend({ backend: 'wasm' });
    const t = tensor([[1, 2, 3], [4, 5, 6]], undefined, 'float32', { backend });
    const buffers = tf.memory().numDataBuffers;
    const x = toTfjs(t);
    expect(tf.memory().numDataBuffers).toBe(buffers);
    expect(x.shape).toEqual([2, 3]);
    expect(x.dtype).toBe('float32');
    x.dispose();
    expect(Array.from(t.dataSync())).toEqual([1, 2, 3, 4, 5, 6]);
    const y = toTfjs(t);
    t.dispose();
    expect(Array.from(y.dataSync())).toEqual([1, 2, 3, 4, 5, 6]);
    y.dispose();
  });

  it('fromTfjs onto a tfjs backend is copy-free and outlives the source tensor', async () => {
    const backend = await createTfjsBackend({ backend: 'cpu' });
    const x = tf.tensor2d([[1, -1], [0.5, 2]]);
    const buffers = tf.memory().numDataBuffers;
    const t = fromTfjs(x, { backend });
    expect(tf.memory().numDataBuffers).toBe(buffers);
    x.dispose();
    expect(t.shape).toEqual([2, 2]);
    expect(Array.from(add(t, 1).dataSync())).toEqual([2, 0, 1.5, 3]);
    t.dispose();
  });

  it('round-trips int32 and bool, and copies to and from non-tfjs backends', async () => {
    await createTfjsBackend({ backend: 'wasm' });
    const i = tf.tensor1d([7, -3, 2147483647], 'int32');
    const onRef = fromTfjs(i, { backend: referenceBackend });
    expect(onRef.backend).toBe(referenceBackend);
    expect(onRef.dtype).toBe('int32');
    expect(Array.from(onRef.dataSync())).toEqual([7, -3, 2147483647]);
    const back = toTfjs(onRef);
    expect(back.dtype).toBe('int32');
    expect(Array.from(back.dataSync())).toEqual([7, -3, 2147483647]);
    const b = tf.tensor1d([true, false, true], 'bool');
    const bt = fromTfjs(b, { backend: referenceBackend });
    expect(bt.dtype).toBe('bool');
    expect(Array.from(bt.dataSync())).toEqual([1, 0, 1]);
    tf.dispose([i, back, b]);
  });

  it('rejects complex64, disposed tensors and non-tensors with a PruneError', async () => {
    const backend = await createTfjsBackend({ backend: 'wasm' });
    // tfjs-wasm has no complex kernels: build the complex tensor on tfjs-cpu.
    (await createTfjsBackend({ backend: 'cpu' })).activate();
    const c = tf.complex([1], [2]);
    expect(() => fromTfjs(c, { backend })).toThrow(expect.objectContaining({ code: 'DTYPE_MISMATCH' }));
    c.dispose();
    const d = tf.scalar(1);
    d.dispose();
    expect(() => fromTfjs(d, { backend })).toThrow(expect.objectContaining({ code: 'DISPOSED' }));
    expect(() => fromTfjs([1, 2] as never, { backend })).toThrow(PruneError);
  });
});
