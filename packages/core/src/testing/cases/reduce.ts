import type { Backend } from '../../backend.js';
import type { KernelName } from '../../kernels.js';
import { tensor } from '../../ops/creation.js';
import { notEqual } from '../../ops/elementwise.js';
import * as rd from '../../ops/reduce.js';
import { tidy } from '../../scope.js';
import { type Shape, sizeOf } from '../../shape.js';
import type { Tensor } from '../../tensor.js';
import { type ConformanceCase, EXACT, type Tolerance } from '../conformance.js';
import { type RandomInputOptions, randomInput } from '../inputs.js';
import { SPECIALS } from './elementwise.js';

/**
 * Tolerance for a float32 sum of `count` terms of magnitude below 2. The reference sums
 * in float64; a backend summing in float32 rounds once per addition, so its error grows
 * with the number of terms: up to ~1e-6·count absolute, ~1e-7·count relative (norms,
 * whose terms all add up with one sign).
 */
export function accumulationTolerance(count: number): Tolerance {
  return { atol: 1e-6 * Math.max(1, count), rtol: 1e-5 + 1e-7 * count };
}

let nextSeed = 5000;

function kase(kernel: KernelName, name: string, tolerance: Tolerance, build: (b: Backend) => Tensor | Tensor[]): ConformanceCase {
  return { kernel, name, tolerance, run: (b) => tidy(() => build(b)) };
}

function input(shape: Shape, options: RandomInputOptions = {}): (b: Backend) => Tensor {
  const s = nextSeed++;
  return (b) => randomInput(b, shape, { seed: s, ...options });
}

function shapeText(shape: Shape): string {
  return `[${shape.join(',')}]`;
}

/** Reduced shapes and axes: all, leading, trailing, middle, non-adjacent, empty, scalar. */
const REDUCE_CONFIGS: readonly { shape: Shape; axis?: number | number[]; keepDims?: boolean }[] = [
  { shape: [1031] },
  { shape: [] },
  { shape: [1], axis: 0 },
  { shape: [33, 7], axis: 0 },
  { shape: [33, 7], axis: 1 },
  { shape: [33, 7], axis: [0, 1] },
  { shape: [257, 4], axis: 0 },
  { shape: [2, 3, 5], axis: 1, keepDims: true },
  { shape: [2, 3, 5], axis: [0, 2] },
  { shape: [2, 3, 5], axis: -1, keepDims: true },
  { shape: [3, 4, 5, 6], axis: [1, 3] },
  { shape: [4, 0, 3], axis: 1 },
  { shape: [4, 0, 3], axis: 0 },
  { shape: [0] },
];

function reducedCount(shape: Shape, axis: number | number[] | undefined): number {
  if (axis === undefined) return sizeOf(shape);
  const axes = typeof axis === 'number' ? [axis] : axis;
  return sizeOf(axes.map((a) => shape[a < 0 ? a + shape.length : a]));
}

function describeConfig(c: (typeof REDUCE_CONFIGS)[number]): string {
  const axis = c.axis === undefined ? 'all axes' : `axis ${JSON.stringify(c.axis)}`;
  return `${shapeText(c.shape)} ${axis}${c.keepDims ? ' keepDims' : ''}`;
}

type ReduceFn = (x: Tensor, o: rd.ReduceOptions) => Tensor;

function reduceKernelCases(): ConformanceCase[] {
  const cases: ConformanceCase[] = [];
  const floatOps: readonly [string, ReduceFn, (count: number) => Tolerance, RandomInputOptions?][] = [
    ['sum', rd.sum, accumulationTolerance],
    ['mean', rd.mean, (n) => ({ atol: 1e-6, rtol: 1e-5 + 1e-7 * n })],
    ['norm1', (x, o) => rd.norm(x, { ...o, ord: 1 }), accumulationTolerance],
    ['norm2', (x, o) => rd.norm(x, { ...o, ord: 2 }), accumulationTolerance],
    // Factors near 1 keep long products inside float32's range.
    ['prod', rd.prod, accumulationTolerance, { min: 0.5, max: 1.5 }],
    ['max', rd.max, () => EXACT, { ties: true }],
    ['min', rd.min, () => EXACT, { ties: true }],
  ];
  for (const [name, fn, tol, domain] of floatOps) {
    for (const c of REDUCE_CONFIGS) {
      const x = input(c.shape, domain);
      const options = { axis: c.axis, keepDims: c.keepDims };
      cases.push(kase('reduce', `${name} float32 ${describeConfig(c)}`, tol(reducedCount(c.shape, c.axis)), (b) => fn(x(b), options)));
    }
    const s = input([7, 33], { ...domain, specials: SPECIALS });
    cases.push(kase('reduce', `${name} float32 NaN/±Inf/-0 along axis 1`, tol(33), (b) => fn(s(b), { axis: 1 })));
  }
  // int32 stays well inside ±2²⁴ (gpu.js computes in float32); prod uses {−1, 0, 1}.
  const intOps: readonly [string, ReduceFn, RandomInputOptions][] = [
    ['sum', rd.sum, { dtype: 'int32', min: -1000, max: 1000 }],
    ['prod', rd.prod, { dtype: 'int32', min: -1, max: 2 }],
    ['max', rd.max, { dtype: 'int32', min: -1000, max: 1000 }],
    ['min', rd.min, { dtype: 'int32', min: -1000, max: 1000 }],
  ];
  for (const [name, fn, domain] of intOps) {
    for (const c of REDUCE_CONFIGS) {
      const x = input(c.shape, domain);
      const options = { axis: c.axis, keepDims: c.keepDims };
      cases.push(kase('reduce', `${name} int32 ${describeConfig(c)}`, EXACT, (b) => fn(x(b), options)));
    }
  }
  const boolOps: readonly [string, ReduceFn][] = [['any', rd.any], ['all', rd.all], ['sum (count)', rd.sum]];
  for (const [name, fn] of boolOps) {
    for (const c of REDUCE_CONFIGS) {
      const x = input(c.shape, { dtype: 'bool' });
      const options = { axis: c.axis, keepDims: c.keepDims };
      cases.push(kase('reduce', `${name} bool ${describeConfig(c)}`, EXACT, (b) => fn(x(b), options)));
    }
    // Mostly-true masks, so `all` is true on some lanes.
    const dense = input([33, 7], { dtype: 'int32', min: 0, max: 25 });
    cases.push(kase('reduce', `${name} bool mostly true along axis 1`, EXACT, (b) => fn(notEqual(dense(b), 0), { axis: 1 })));
  }
  return cases;
}

function argReduceCases(): ConformanceCase[] {
  const cases: ConformanceCase[] = [];
  const configs: readonly [Shape, number, RandomInputOptions, boolean?][] = [
    [[1], -1, {}],
    [[1031], -1, {}],
    [[33, 7], -1, { ties: true }],
    [[33, 7], 0, { ties: true }],
    [[2, 3, 5], 1, {}, true],
    [[4, 257], -1, { ties: true, specials: [NaN, NaN, Infinity, -Infinity] }],
    [[257, 4], 0, { specials: SPECIALS }],
    [[0, 5], -1, {}],
    [[3, 7], -1, { dtype: 'int32', min: -3, max: 3 }],
    [[3, 7], -1, { dtype: 'bool' }],
  ];
  for (const op of ['argmax', 'argmin'] as const) {
    const fn = op === 'argmax' ? rd.argmax : rd.argmin;
    for (const [shape, axis, domain, keepDims] of configs) {
      const x = input(shape, domain);
      const detail = `${domain.dtype ?? 'float32'}${domain.ties ? ' ties' : ''}${domain.specials ? ' specials' : ''}${keepDims ? ' keepDims' : ''}`;
      cases.push(kase('argReduce', `${op} ${shapeText(shape)} axis ${axis} ${detail}`, EXACT, (b) => fn(x(b), { axis, keepDims })));
    }
    // Lanes: all NaN, NaN after the max, a tie between infinities, −0 vs 0.
    const lanes = [
      NaN, NaN, NaN, NaN,
      1, 5, NaN, 5,
      -Infinity, Infinity, Infinity, -Infinity,
      0, -0, -0, 0,
    ];
    cases.push(kase('argReduce', `${op} NaN lanes, ties of infinities and zeros`, EXACT, (b) => fn(tensor(lanes, [4, 4], 'float32', { backend: b }))));
  }
  return cases;
}

function cumsumCases(): ConformanceCase[] {
  const cases: ConformanceCase[] = [];
  const configs: readonly [Shape, number][] = [
    [[1031], -1],
    [[33, 7], 0],
    [[33, 7], 1],
    [[2, 3, 5], 1],
    [[1], 0],
    [[0, 4], 0],
    [[4, 0], -1],
  ];
  for (const [shape, axis] of configs) {
    for (const exclusive of [false, true]) {
      for (const reverse of [false, true]) {
        const opts = { axis, exclusive, reverse };
        const flags = `${exclusive ? ' exclusive' : ''}${reverse ? ' reverse' : ''}`;
        const x = input(shape);
        cases.push(kase('cumsum', `float32 ${shapeText(shape)} axis ${axis}${flags}`, accumulationTolerance(shape[axis < 0 ? axis + shape.length : axis]), (b) => rd.cumsum(x(b), opts)));
        const ix = input(shape, { dtype: 'int32', min: -1000, max: 1000 });
        cases.push(kase('cumsum', `int32 ${shapeText(shape)} axis ${axis}${flags}`, EXACT, (b) => rd.cumsum(ix(b), opts)));
      }
    }
  }
  const s = input([5, 33], { specials: SPECIALS });
  cases.push(kase('cumsum', 'float32 NaN/±Inf/-0 along axis 1', accumulationTolerance(33), (b) => rd.cumsum(s(b), { axis: 1 })));
  const m = input([4, 33], { dtype: 'bool' });
  cases.push(kase('cumsum', 'bool running counts', EXACT, (b) => rd.cumsum(m(b), { axis: 1, reverse: true })));
  return cases;
}

/** Conformance cases for the reduction kernels: reduce, argReduce, cumsum. */
export const reduceCases: readonly ConformanceCase[] = [...reduceKernelCases(), ...argReduceCases(), ...cumsumCases()];
