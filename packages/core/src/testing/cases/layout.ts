import type { Backend } from '../../backend.js';
import type { DType } from '../../dtype.js';
import { fromArray } from '../../ops/creation.js';
import { concat, gather, reshape, scatter, slice, stack, transpose } from '../../ops/layout.js';
import { Random } from '../../random.js';
import { tidy } from '../../scope.js';
import type { Shape } from '../../shape.js';
import type { Tensor } from '../../tensor.js';
import { type ConformanceCase, EXACT } from '../conformance.js';
import { randomInput } from '../inputs.js';

// Layout kernels only move elements, so every backend must agree exactly (EXACT) for every
// dtype; float inputs carry NaN, Infinity and -0, which must land where the reference puts them.

const DTYPES: readonly DType[] = ['float32', 'int32', 'bool'];

function input(backend: Backend, shape: Shape, seed: number, dtype: DType = 'float32'): Tensor {
  return randomInput(backend, shape, { dtype, seed, specials: dtype === 'float32' ? [NaN, -0, Infinity] : undefined });
}

/** `k` distinct indices in [0, n) in random order, as an int32 tensor on `backend`. */
function distinctIndices(backend: Backend, n: number, k: number, seed: number): Tensor<'int32'> {
  return fromArray(new Random(seed).sample(n, k), [k], 'int32', { backend });
}

function shapeName(shape: Shape): string {
  return `[${shape.join(',')}]`;
}

const transposeCases: ConformanceCase[] = [
  ...(
    [
      [[33, 65], [1, 0]],
      [[129, 257], [1, 0]],
      [[1, 1], [1, 0]],
      [[0, 5], [1, 0]],
      [[7], [0]],
      [[], []],
      [[4, 7, 33], [0, 2, 1]],
      [[4, 7, 33], [2, 0, 1]],
      [[4, 7, 33], [1, 0, 2]],
      [[4, 7, 33], [1, 2, 0]],
      [[2, 3, 5, 7], [3, 1, 0, 2]],
      [[2, 3, 5, 7], [0, 2, 3, 1]],
      [[2, 1, 5, 1, 3], [4, 2, 0, 3, 1]],
      [[3, 0, 4], [2, 0, 1]],
    ] as [number[], number[]][]
  ).map(
    ([shape, perm], i): ConformanceCase => ({
      kernel: 'transpose',
      name: `${shapeName(shape)} perm ${shapeName(perm)}`,
      tolerance: EXACT,
      run: (b) => tidy(() => transpose(input(b, shape, 100 + i), perm)),
    }),
  ),
  ...DTYPES.map(
    (dtype, i): ConformanceCase => ({
      kernel: 'transpose',
      name: `${dtype} [5,65,3] default perm (axes reversed)`,
      tolerance: EXACT,
      run: (b) => tidy(() => transpose(input(b, [5, 65, 3], 120 + i, dtype))),
    }),
  ),
];

const reshapeCases: ConformanceCase[] = [
  ...(
    [
      [[6, 7], [7, 6]],
      [[2, 3, 4], [-1]],
      [[3, 0, 2], [0, 6]],
      [[1], []],
      [[257], [1, 257, 1]],
    ] as [number[], number[]][]
  ).map(
    ([shape, to], i): ConformanceCase => ({
      kernel: 'reshape',
      name: `${shapeName(shape)} → ${shapeName(to)}`,
      tolerance: EXACT,
      run: (b) => tidy(() => reshape(input(b, shape, 200 + i), to)),
    }),
  ),
  ...DTYPES.map(
    (dtype, i): ConformanceCase => ({
      kernel: 'reshape',
      name: `${dtype} [4,33] → [33,4]`,
      tolerance: EXACT,
      run: (b) => tidy(() => reshape(input(b, [4, 33], 210 + i, dtype), [33, 4])),
    }),
  ),
];

const sliceCases: ConformanceCase[] = [
  ...(
    [
      [[7, 33, 5], [2, 3, 1], [4, 29, 3]],
      [[7, 33, 5], [0, 0, 0], [-1, -1, -1]],
      [[7, 33, 5], [1, 0, 0], [5, -1, -1]],
      [[7, 33, 5], [0, 5, 0], [-1, 1, -1]],
      [[129, 257], [64, 1], [65, 255]],
      [[65], [64], [1]],
      [[7, 9], [3, 4], [0, 2]],
      [[0, 4], [0, 1], [0, 2]],
      [[], [], []],
    ] as [number[], number[], number[]][]
  ).map(
    ([shape, begin, size], i): ConformanceCase => ({
      kernel: 'slice',
      name: `${shapeName(shape)} begin ${shapeName(begin)} size ${shapeName(size)}`,
      tolerance: EXACT,
      run: (b) => tidy(() => slice(input(b, shape, 300 + i), begin, size)),
    }),
  ),
  ...DTYPES.map(
    (dtype, i): ConformanceCase => ({
      kernel: 'slice',
      name: `${dtype} [9,7,3] begin [1,2,0] size [7,-1,2]`,
      tolerance: EXACT,
      run: (b) => tidy(() => slice(input(b, [9, 7, 3], 320 + i, dtype), [1, 2, 0], [7, -1, 2])),
    }),
  ),
];

const concatCases: ConformanceCase[] = [
  ...(
    [
      [[[3, 5], [4, 5], [1, 5]], 0],
      [[[3, 5], [3, 7], [3, 0], [3, 1]], 1],
      [[[2, 3, 4], [2, 1, 4]], 1],
      [[[2, 3, 4], [2, 3, 65]], 2],
      [[[2, 3, 4], [5, 3, 4]], -3],
      [[[7]], 0],
      [[[0, 3], [0, 3]], 0],
      [[[129, 33], [129, 257]], 1],
    ] as [number[][], number][]
  ).map(
    ([shapes, axis], i): ConformanceCase => ({
      kernel: 'concat',
      name: `${shapes.map(shapeName).join(' + ')} axis ${axis}`,
      tolerance: EXACT,
      run: (b) => tidy(() => concat(shapes.map((s, j) => input(b, s, 400 + 10 * i + j)), axis)),
    }),
  ),
  ...DTYPES.map(
    (dtype, i): ConformanceCase => ({
      kernel: 'concat',
      name: `${dtype} [4,3] + [4,5] axis 1`,
      tolerance: EXACT,
      run: (b) => tidy(() => concat([input(b, [4, 3], 490 + i, dtype), input(b, [4, 5], 495 + i, dtype)], 1)),
    }),
  ),
  {
    kernel: 'concat',
    name: 'stack of three [5,7] on axis 1',
    tolerance: EXACT,
    run: (b) => tidy(() => stack([input(b, [5, 7], 498), input(b, [5, 7], 499), input(b, [5, 7], 500)], 1)),
  },
];

const gatherCases: ConformanceCase[] = [
  ...(
    [
      [[33, 5], 0, 40],
      [[7, 65], 1, 65],
      [[3, 4, 129], 2, 7],
      [[3, 4, 129], 1, 9],
      [[257], 0, 1],
      [[5, 6], 1, 0],
      [[0, 6], 1, 3],
    ] as [number[], number, number][]
  ).map(
    ([shape, axis, k], i): ConformanceCase => ({
      kernel: 'gather',
      name: `${shapeName(shape)} axis ${axis}, ${k} indices (repeats allowed)`,
      tolerance: EXACT,
      run: (b) =>
        tidy(() => {
          const idx = randomInput(b, [k], { dtype: 'int32', seed: 600 + i, min: 0, max: shape[axis] }) as Tensor<'int32'>;
          return gather(input(b, shape, 610 + i), idx, axis);
        }),
    }),
  ),
  ...DTYPES.map(
    (dtype, i): ConformanceCase => ({
      kernel: 'gather',
      name: `${dtype} [9,4] axis 0, indices [8,0,8,3]`,
      tolerance: EXACT,
      run: (b) => tidy(() => gather(input(b, [9, 4], 650 + i, dtype), [8, 0, 8, 3], 0)),
    }),
  ),
];

const scatterCases: ConformanceCase[] = [
  ...(
    [
      [[33, 5], 0, 12],
      [[7, 65], 1, 65],
      [[3, 4, 129], 2, 7],
      [[3, 4, 129], 1, 1],
      [[5, 6], 1, 0],
      [[1], 0, 1],
    ] as [number[], number, number][]
  ).map(
    ([shape, axis, k], i): ConformanceCase => ({
      kernel: 'scatter',
      name: `${shapeName(shape)} axis ${axis}, ${k} distinct indices`,
      tolerance: EXACT,
      run: (b) =>
        tidy(() => {
          const updShape = [...shape];
          updShape[axis] = k;
          return scatter(input(b, shape, 700 + i), distinctIndices(b, shape[axis], k, 710 + i), input(b, updShape, 720 + i), axis);
        }),
    }),
  ),
  ...DTYPES.map(
    (dtype, i): ConformanceCase => ({
      kernel: 'scatter',
      name: `${dtype} [6,3] axis 0, indices [5,1]`,
      tolerance: EXACT,
      run: (b) => tidy(() => scatter(input(b, [6, 3], 750 + i, dtype), [5, 1], input(b, [2, 3], 760 + i, dtype), 0)),
    }),
  ),
];

/**
 * Conformance cases for the layout kernels (transpose, reshape, slice, concat, gather,
 * scatter): ranks 0–5, empty axes, one element, sizes off any block size, every dtype.
 * All exact.
 */
export const layoutCases: readonly ConformanceCase[] = [
  ...transposeCases,
  ...reshapeCases,
  ...sliceCases,
  ...concatCases,
  ...gatherCases,
  ...scatterCases,
];
