import { describe, expect, it } from 'vitest';
import type { Backend } from '../backend.js';
import type { TypedArray } from '../dtype.js';
import type { KernelName, Kernels, TensorRef } from '../kernels.js';
import { type Shape, sizeOf, stridesOf } from '../shape.js';
import { checkCase, conformanceCases, defineConformanceSuite } from '../testing/index.js';
import { splitAtAxis } from './broadcast.js';
import { referenceBackend } from './index.js';

// The reference backend against itself: proves every case builds its inputs, runs, and
// produces outputs of consistent shape and dtype on both of checkCase's runs.
defineConformanceSuite('reference', () => referenceBackend, { describe, it });

const ref = referenceBackend.kernels;

/** The reference backend with some kernels replaced. */
function variant(name: string, overrides: Partial<Kernels<TypedArray>>): Backend<TypedArray> {
  return { ...referenceBackend, name, kernels: { ...ref, ...overrides } };
}

/** Results of every case of `kernels` on `backend`. */
function results(backend: Backend, kernels: readonly KernelName[]) {
  return conformanceCases()
    .filter((c) => kernels.includes(c.kernel))
    .map((c) => checkCase(c, backend));
}

/** Output slot of each input element when reducing `axes` of `shape`. */
function outputSlots(shape: Shape, axes: readonly number[]): Int32Array {
  const strides = stridesOf(shape);
  const outStrides = stridesOf(shape.filter((_, i) => !axes.includes(i)));
  const slots = new Int32Array(sizeOf(shape));
  for (let flat = 0; flat < slots.length; flat++) {
    let o = 0;
    for (let i = 0, k = 0; i < shape.length; i++) {
      if (!axes.includes(i)) o += (Math.floor(flat / strides[i]) % shape[i]) * outStrides[k++];
    }
    slots[flat] = o;
  }
  return slots;
}

/**
 * A backend that, like gpu.js or XNNPACK, accumulates sums in float32 one addition at a
 * time and evaluates softmax in float32: the stated tolerances must accept it.
 */
const float32Accumulating = variant('float32-accumulating', {
  reduce(x, attrs) {
    const { op, axes, outShape } = attrs;
    if (x.dtype !== 'float32' || !['sum', 'mean', 'norm1', 'norm2', 'prod'].includes(op)) return ref.reduce(x, attrs);
    const acc = new Float32Array(sizeOf(outShape)).fill(op === 'prod' ? 1 : 0);
    const slots = outputSlots(x.shape, axes);
    x.handle.forEach((v, i) => {
      const term = op === 'norm1' ? Math.abs(v) : op === 'norm2' ? Math.fround(v * v) : v;
      acc[slots[i]] = op === 'prod' ? acc[slots[i]] * term : acc[slots[i]] + term;
    });
    const count = sizeOf(axes.map((a) => x.shape[a]));
    if (op === 'mean') return acc.map((s) => s / count);
    if (op === 'norm2') return acc.map(Math.sqrt);
    return acc;
  },
  cumsum(x, attrs) {
    if (x.dtype !== 'float32') return ref.cumsum(x, attrs);
    const out = new Float32Array(x.handle.length);
    const [outer, n, inner] = splitAtAxis(x.shape, attrs.axis);
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < inner; j++) {
        let run = 0;
        for (let t = 0; t < n; t++) {
          const k = attrs.reverse ? n - 1 - t : t;
          const at = (o * n + k) * inner + j;
          const before = run;
          run = Math.fround(run + x.handle[at]);
          out[at] = attrs.exclusive ? before : run;
        }
      }
    }
    return out;
  },
  softmax(x: TensorRef<TypedArray>, attrs) {
    // float64 result perturbed by a few float32 ulps, as a float32 exp/sum would be.
    const exact = ref.softmax(x, attrs) as Float32Array;
    return exact.map((v, i) => v * (1 + ((i % 7) - 3) * 2e-7));
  },
});

/** Ways a backend can be wrong; each must make at least one case of `kernel` fail. */
const MUTANTS: readonly [string, KernelName, Partial<Kernels<TypedArray>>][] = [
  ['round half away from zero', 'unary', { unary: (x, a) => (a.op === 'round' ? Float32Array.from(x.handle, Math.round) : ref.unary(x, a)) }],
  ['relu turning NaN into 0', 'unary', { unary: (x, a) => (a.op === 'relu' ? Float32Array.from(x.handle, (v) => (v > 0 ? v : 0)) : ref.unary(x, a)) }],
  ['tanh-approximated gelu', 'unary', {
    unary: (x, a) => a.op === 'gelu'
      ? Float32Array.from(x.handle, (v) => 0.5 * v * (1 + Math.tanh(0.7978845608 * (v + 0.044715 * v ** 3))))
      : ref.unary(x, a),
  }],
  ['cast to bool with NaN as false', 'cast', { cast: (x, a) => (a.dtype === 'bool' ? Uint8Array.from(x.handle, (v) => (v ? 1 : 0)) : ref.cast(x, a)) }],
  ['modulo indexing instead of broadcasting', 'binary', {
    binary: (a, b, at) => {
      if (at.op !== 'add') return ref.binary(a, b, at);
      const out = new Float32Array(sizeOf(at.outShape));
      return out.map((_, i) => a.handle[i % a.handle.length] + b.handle[i % b.handle.length]);
    },
  }],
  ['equal with Object.is', 'compare', {
    compare: (a, b, at) => {
      const out = ref.compare(a, b, at);
      if (at.op !== 'equal' || a.shape.join() !== b.shape.join()) return out;
      return out.map((_, i) => (Object.is(a.handle[i], b.handle[i]) ? 1 : 0));
    },
  }],
  ['where with its branches swapped', 'where', { where: (c, a, b, at) => ref.where(c, b, a, at) }],
  ['max skipping NaN', 'reduce', {
    reduce: (x, at) => {
      if (at.op !== 'max') return ref.reduce(x, at);
      const clean = x.handle.map((v) => (Number.isNaN(v) ? -Infinity : v));
      return ref.reduce({ ...x, handle: clean }, at);
    },
  }],
  ['argmax ignoring NaN', 'argReduce', {
    argReduce: (x, at) => ref.argReduce({ ...x, handle: x.handle.map((v) => (Number.isNaN(v) ? -Infinity : v)) }, at),
  }],
  ['cumsum always inclusive', 'cumsum', { cumsum: (x, at) => ref.cumsum(x, { ...at, exclusive: false }) }],
  ['softmax without subtracting the max', 'softmax', {
    softmax: (x, at) => {
      const [outer, n, inner] = splitAtAxis(x.shape, at.axis);
      const out = new Float32Array(x.handle.length);
      for (let o = 0; o < outer; o++) {
        for (let j = 0; j < inner; j++) {
          const at0 = o * n * inner + j;
          let sum = 0;
          for (let k = 0; k < n; k++) sum = Math.fround(sum + Math.fround(Math.exp(x.handle[at0 + k * inner])));
          for (let k = 0; k < n; k++) {
            const e = Math.fround(Math.exp(x.handle[at0 + k * inner]));
            out[at0 + k * inner] = at.log ? Math.log(e / sum) : e / sum;
          }
        }
      }
      return out;
    },
  }],
];

describe('conformance cases discriminate', () => {
  it('a backend accumulating in float32 passes every reduce, cumsum and softmax case', () => {
    const failed = results(float32Accumulating, ['reduce', 'cumsum', 'softmax']).filter((r) => !r.passed);
    expect(failed.map((r) => `${r.kernel}: ${r.name}: ${r.message}`)).toEqual([]);
  });

  for (const [name, kernel, overrides] of MUTANTS) {
    it(`a backend with ${name} fails a ${kernel} case`, () => {
      const failed = results(variant(name, overrides), [kernel]).filter((r) => !r.passed);
      expect(failed.length).toBeGreaterThan(0);
    });
  }
});
