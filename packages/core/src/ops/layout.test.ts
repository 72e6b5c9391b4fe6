import { describe, expect, it } from 'vitest';
import type { Backend } from '../backend.js';
import { allocArray, type TypedArray } from '../dtype.js';
import { PruneError } from '../errors.js';
import type { Kernels } from '../kernels.js';
import { Random } from '../random.js';
import { referenceBackend } from '../reference/index.js';
import { type Shape, sizeOf, stridesOf } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { checkCase } from '../testing/conformance.js';
import { layoutCases } from '../testing/cases/layout.js';
import { tensor } from './creation.js';
import { clone, concat, expandDims, gather, reshape, scatter, slice, squeeze, stack, transpose } from './layout.js';

function expectCode(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(PruneError);
    expect((e as PruneError).code).toBe(code);
    return;
  }
  throw new Error(`expected a PruneError with code ${code}, but nothing was thrown`);
}

function values(t: Tensor): number[] {
  return Array.from(t.dataSync());
}

// A second, deliberately naive implementation of the layout kernels: every output element
// is located through explicit multi-indices, with no run copying or axis merging.
function unravel(flat: number, shape: Shape): number[] {
  const strides = stridesOf(shape);
  return shape.map((_, a) => Math.floor(flat / strides[a]) % shape[a]);
}
function ravel(idx: readonly number[], shape: Shape): number {
  const strides = stridesOf(shape);
  return idx.reduce((s, v, a) => s + v * strides[a], 0);
}
const naiveLayout: Partial<Kernels<TypedArray>> = {
  transpose(x, { perm, outShape }) {
    const out = allocArray(x.dtype, sizeOf(outShape));
    for (let o = 0; o < out.length; o++) {
      const idx = unravel(o, outShape);
      const src = new Array<number>(perm.length);
      perm.forEach((p, i) => (src[p] = idx[i]));
      out[o] = x.handle[ravel(src, x.shape)];
    }
    return out;
  },
  reshape: (x) => x.handle.slice(),
  slice(x, { begin, size }) {
    const out = allocArray(x.dtype, sizeOf(size));
    for (let o = 0; o < out.length; o++) out[o] = x.handle[ravel(unravel(o, size).map((v, a) => v + begin[a]), x.shape)];
    return out;
  },
  concat(xs, { axis, outShape }) {
    const out = allocArray(xs[0].dtype, sizeOf(outShape));
    for (let o = 0; o < out.length; o++) {
      const idx = unravel(o, outShape);
      let t = 0;
      while (idx[axis] >= xs[t].shape[axis]) idx[axis] -= xs[t++].shape[axis];
      out[o] = xs[t].handle[ravel(idx, xs[t].shape)];
    }
    return out;
  },
  gather(x, indices, { axis, outShape }) {
    const out = allocArray(x.dtype, sizeOf(outShape));
    for (let o = 0; o < out.length; o++) {
      const idx = unravel(o, outShape);
      idx[axis] = indices.handle[idx[axis]];
      out[o] = x.handle[ravel(idx, x.shape)];
    }
    return out;
  },
  scatter(x, indices, updates, { axis }) {
    const out = x.handle.slice();
    for (let u = 0; u < updates.handle.length; u++) {
      const idx = unravel(u, updates.shape);
      idx[axis] = indices.handle[idx[axis]];
      out[ravel(idx, x.shape)] = updates.handle[u];
    }
    return out;
  },
};
const naiveBackend: Backend<TypedArray> = { ...referenceBackend, name: 'naive-layout', kernels: naiveLayout };

describe('layout conformance cases', () => {
  it('has cases for every layout kernel', () => {
    const kernels = new Set(layoutCases.map((c) => c.kernel));
    expect([...kernels].sort()).toEqual(['concat', 'gather', 'reshape', 'scatter', 'slice', 'transpose']);
  });

  it('the reference kernels agree exactly with a naive multi-index implementation on every case', () => {
    const failures = layoutCases.map((c) => checkCase(c, naiveBackend)).filter((r) => !r.passed);
    expect(failures).toEqual([]);
  });
});

describe('reshape', () => {
  it('keeps the elements in row-major order', () => {
    const x = tensor([[1, 2, 3], [4, 5, 6]]);
    const y = reshape(x, [3, 2]);
    expect(y.shape).toEqual([3, 2]);
    expect(values(y)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('infers one -1 axis', () => {
    expect(reshape(tensor(new Float32Array(24), [2, 3, 4]), [4, -1]).shape).toEqual([4, 6]);
    expect(reshape(tensor(new Float32Array(0), [3, 0]), [-1, 3]).shape).toEqual([0, 3]);
  });

  it('rejects a size mismatch, two -1 and a -1 next to a zero axis', () => {
    const x = tensor(new Float32Array(6), [2, 3]);
    expectCode(() => reshape(x, [4, 2]), 'SHAPE_MISMATCH');
    expectCode(() => reshape(x, [4, -1]), 'SHAPE_MISMATCH');
    expectCode(() => reshape(x, [-1, -1]), 'INVALID_ARGUMENT');
    expectCode(() => reshape(x, [2.5, 2]), 'INVALID_ARGUMENT');
    expectCode(() => reshape(tensor(new Float32Array(0), [0, 3]), [0, -1]), 'SHAPE_MISMATCH');
  });
});

describe('transpose', () => {
  it('transposes a matrix by hand', () => {
    const y = transpose(tensor([[1, 2, 3], [4, 5, 6]]));
    expect(y.shape).toEqual([3, 2]);
    expect(values(y)).toEqual([1, 4, 2, 5, 3, 6]);
  });

  it('reverses the axes by default and keeps the dtype', () => {
    const x = tensor([[[1, 2], [3, 4], [5, 6]]], undefined, 'int32'); // [1, 3, 2]
    const y = transpose(x);
    expect(y.dtype).toBe('int32');
    expect(y.shape).toEqual([2, 3, 1]);
    expect(values(y)).toEqual([1, 3, 5, 2, 4, 6]);
    const b = transpose(tensor([[1, 0], [0, 0]], undefined, 'bool'));
    expect(b.dtype).toBe('bool');
    expect(values(b)).toEqual([1, 0, 0, 0]);
  });

  it('matches the multi-index definition on random shapes and permutations', () => {
    const rng = new Random(11);
    for (let trial = 0; trial < 40; trial++) {
      const rank = 1 + rng.int(5);
      const shape = Array.from({ length: rank }, () => rng.int(5));
      const perm = Array.from(rng.permutation(rank));
      const data = Float32Array.from({ length: sizeOf(shape) }, (_, i) => i);
      const y = values(transpose(tensor(data, shape), perm));
      const outShape = perm.map((a) => shape[a]);
      const expected = Array.from({ length: data.length }, (_, o) => {
        const idx = unravel(o, outShape);
        const src = new Array<number>(rank);
        perm.forEach((p, i) => (src[p] = idx[i]));
        return ravel(src, shape);
      });
      expect(y).toEqual(expected);
    }
  });

  it('rejects a perm that is not a permutation', () => {
    const x = tensor(new Float32Array(6), [2, 3]);
    expectCode(() => transpose(x, [0, 0]), 'INVALID_ARGUMENT');
    expectCode(() => transpose(x, [0]), 'INVALID_ARGUMENT');
    expectCode(() => transpose(x, [0, 2]), 'OUT_OF_RANGE');
  });
});

describe('slice', () => {
  const x = tensor([[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]]);

  it('takes a block by hand, with -1 meaning to the end', () => {
    expect(values(slice(x, [1, 1], [2, 2]))).toEqual([6, 7, 10, 11]);
    expect(values(slice(x, [1, 2], [-1, -1]))).toEqual([7, 8, 11, 12]);
    expect(values(slice(x, [2]))).toEqual([9, 10, 11, 12]);
    expect(slice(x, [3, 0]).shape).toEqual([0, 4]);
  });

  it('rejects blocks that leave the tensor', () => {
    expectCode(() => slice(x, [0, 5]), 'OUT_OF_RANGE');
    expectCode(() => slice(x, [1, 0], [3, 1]), 'OUT_OF_RANGE');
    expectCode(() => slice(x, [-1, 0]), 'OUT_OF_RANGE');
    expectCode(() => slice(x, [0, 0, 0]), 'INVALID_ARGUMENT');
  });

  it('clone copies every element', () => {
    const c = clone(x);
    expect(c.shape).toEqual([3, 4]);
    expect(values(c)).toEqual(values(x));
  });
});

describe('concat and stack', () => {
  it('joins along an axis by hand', () => {
    const a = tensor([[1, 2], [3, 4]]);
    const b = tensor([[5], [6]]);
    const y = concat([a, b], 1);
    expect(y.shape).toEqual([2, 3]);
    expect(values(y)).toEqual([1, 2, 5, 3, 4, 6]);
    expect(values(concat([a, tensor(new Float32Array(0), [0, 2]), a]))).toEqual([1, 2, 3, 4, 1, 2, 3, 4]);
  });

  it('stacks along a new axis', () => {
    const a = tensor([1, 2]);
    const b = tensor([3, 4]);
    expect(values(stack([a, b]))).toEqual([1, 2, 3, 4]);
    const y = stack([a, b], 1);
    expect(y.shape).toEqual([2, 2]);
    expect(values(y)).toEqual([1, 3, 2, 4]);
    const scalars = stack([tensor(5), tensor(6)]);
    expect(scalars.shape).toEqual([2]);
    expect(values(scalars)).toEqual([5, 6]);
  });

  it('rejects rank, dtype and shape mismatches and an empty list', () => {
    const a = tensor([[1, 2]]);
    expectCode(() => concat([a, tensor([1, 2])]), 'SHAPE_MISMATCH');
    expectCode(() => concat([a, tensor([[1, 2]], undefined, 'int32')]), 'DTYPE_MISMATCH');
    expectCode(() => concat([a, tensor([[1, 2, 3]])]), 'SHAPE_MISMATCH');
    expectCode(() => concat([]), 'INVALID_ARGUMENT');
    expectCode(() => concat([a], 2), 'OUT_OF_RANGE');
    expectCode(() => stack([a, tensor([[1], [2]])]), 'SHAPE_MISMATCH');
  });
});

describe('expandDims and squeeze', () => {
  const x = tensor(new Float32Array(6), [2, 3]);
  it('inserts and removes length-1 axes', () => {
    expect(expandDims(x, 0).shape).toEqual([1, 2, 3]);
    expect(expandDims(x, -1).shape).toEqual([2, 3, 1]);
    expect(squeeze(tensor(new Float32Array(3), [1, 3, 1])).shape).toEqual([3]);
    expect(squeeze(tensor(new Float32Array(3), [1, 3, 1]), -1).shape).toEqual([1, 3]);
  });
  it('rejects bad axes', () => {
    expectCode(() => expandDims(x, 3), 'OUT_OF_RANGE');
    expectCode(() => squeeze(x, 0), 'INVALID_ARGUMENT');
  });
});

describe('gather', () => {
  const x = tensor([[1, 2, 3], [4, 5, 6], [7, 8, 9]]);

  it('takes rows and columns by hand, repeats allowed', () => {
    expect(values(gather(x, [2, 0, 2]))).toEqual([7, 8, 9, 1, 2, 3, 7, 8, 9]);
    const cols = gather(x, tensor([1], undefined, 'int32') as Tensor<'int32'>, 1);
    expect(cols.shape).toEqual([3, 1]);
    expect(values(cols)).toEqual([2, 5, 8]);
    expect(gather(x, [], 1).shape).toEqual([3, 0]);
  });

  it('rejects indices out of range, of the wrong dtype or rank', () => {
    expectCode(() => gather(x, [0, 3]), 'OUT_OF_RANGE');
    expectCode(() => gather(x, [-1]), 'OUT_OF_RANGE');
    expectCode(() => gather(x, tensor([5], undefined, 'int32') as Tensor<'int32'>, 1), 'OUT_OF_RANGE');
    expectCode(() => gather(x, tensor([1]) as unknown as Tensor<'int32'>), 'DTYPE_MISMATCH');
    expectCode(() => gather(x, tensor([[1]], undefined, 'int32') as Tensor<'int32'>), 'INVALID_ARGUMENT');
    expectCode(() => gather(x, [0], 2), 'OUT_OF_RANGE');
  });
});

describe('scatter', () => {
  const x = tensor([[1, 2, 3], [4, 5, 6], [7, 8, 9]]);

  it('replaces slices by hand and leaves x unchanged', () => {
    expect(values(scatter(x, [2, 0], tensor([[10, 11, 12], [13, 14, 15]])))).toEqual([13, 14, 15, 4, 5, 6, 10, 11, 12]);
    expect(values(scatter(x, [1], tensor([[0], [0], [0]]), 1))).toEqual([1, 0, 3, 4, 0, 6, 7, 0, 9]);
    expect(values(x)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('rejects duplicate and out-of-range indices and mismatched updates', () => {
    expectCode(() => scatter(x, [1, 1], tensor(new Float32Array(6), [2, 3])), 'INVALID_ARGUMENT');
    expectCode(() => scatter(x, [3], tensor(new Float32Array(3), [1, 3])), 'OUT_OF_RANGE');
    expectCode(() => scatter(x, [0], tensor(new Float32Array(3), [3, 1])), 'SHAPE_MISMATCH');
    expectCode(() => scatter(x, [0], tensor(new Int32Array(3), [1, 3])), 'DTYPE_MISMATCH');
  });
});
