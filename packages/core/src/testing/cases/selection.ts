import type { Backend } from '../../backend.js';
import { fromArray } from '../../ops/creation.js';
import { argsort, kthValue, selectMask, topk } from '../../ops/selection.js';
import type { Tensor } from '../../tensor.js';
import { type ConformanceCase, EXACT } from '../conformance.js';
import { type RandomInputOptions, randomInput } from '../inputs.js';

// Selection results are indices and masks, so every case is exact: a backend must follow
// the ordering rule to the letter (NaN above +Infinity, -0 equal to +0, ties to the lower
// index as in a stable ascending sort; for `largest`/`descending` larger values first,
// ties still by index).

const SPECIALS = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0, Number.NaN, 0];

/** One input family: a shape and how its values are drawn. */
interface InputSpec {
  label: string;
  shape: readonly number[];
  options: RandomInputOptions;
  make?: (backend: Backend) => Tensor;
}

function build(spec: InputSpec, backend: Backend): Tensor {
  return spec.make ? spec.make(backend) : randomInput(backend, spec.shape, spec.options);
}

const INPUTS: readonly InputSpec[] = [
  { label: '[1]', shape: [1], options: { seed: 1 } },
  { label: '[3, 7]', shape: [3, 7], options: { seed: 2 } },
  { label: '[2, 33] ties', shape: [2, 33], options: { seed: 3, ties: true } },
  { label: '[2, 3, 33]', shape: [2, 3, 33], options: { seed: 4 } },
  { label: '[4, 1000] ties', shape: [4, 1000], options: { seed: 5, ties: true } },
  { label: '[2, 4099]', shape: [2, 4099], options: { seed: 6 } },
  { label: '[3, 4099] ties', shape: [3, 4099], options: { seed: 7, ties: true } },
  { label: '[4, 33] NaN/±Inf/±0', shape: [4, 33], options: { seed: 8, specials: SPECIALS } },
  { label: '[2, 1000] ties + NaN/±Inf/±0', shape: [2, 1000], options: { seed: 9, ties: true, specials: [...SPECIALS, ...SPECIALS] } },
  { label: '[5, 7] int32', shape: [5, 7], options: { seed: 10, dtype: 'int32', min: -3, max: 3 } },
  { label: '[2, 4099] int32', shape: [2, 4099], options: { seed: 11, dtype: 'int32', min: -50, max: 50 } },
  {
    label: '[3, 33] all equal',
    shape: [3, 33],
    options: {},
    make: (backend) => fromArray(new Float32Array(99).fill(0.25), [3, 33], 'float32', { backend }),
  },
  {
    label: '[2, 1000] all NaN or all -0',
    shape: [2, 1000],
    options: {},
    make: (backend) => {
      const data = new Float32Array(2000);
      data.fill(Number.NaN, 0, 1000);
      data.fill(-0, 1000);
      return fromArray(data, [2, 1000], 'float32', { backend });
    },
  },
  {
    label: '[1, 4099] int32 extremes',
    shape: [1, 4099],
    options: {},
    make: (backend) => {
      const data = new Int32Array(4099);
      for (let i = 0; i < data.length; i++) data[i] = i % 3 === 0 ? 2147483647 : i % 3 === 1 ? -2147483648 : (i * 7919) % 101;
      return fromArray(data, [1, 4099], 'int32', { backend });
    },
  },
];

/** The k values worth checking for rows of length n (deduplicated, within [min, n]). */
function kValues(n: number, min: number): number[] {
  return [...new Set([0, 1, Math.floor(n / 2), n - 1, n])].filter((k) => k >= min && k <= n);
}

function casesFor(spec: InputSpec): ConformanceCase[] {
  const n = spec.shape[spec.shape.length - 1];
  const cases: ConformanceCase[] = [];
  for (const largest of [false, true]) {
    const end = largest ? 'largest' : 'smallest';
    for (const k of kValues(n, 0)) {
      cases.push({
        kernel: 'selectMask',
        name: `${spec.label}, k=${k}, ${end}`,
        tolerance: EXACT,
        run: (backend) => {
          const x = build(spec, backend);
          try {
            return selectMask(x, { k, largest });
          } finally {
            x.dispose();
          }
        },
      });
      cases.push({
        kernel: 'topk',
        name: `${spec.label}, k=${k}, ${end}`,
        tolerance: EXACT,
        run: (backend) => {
          const x = build(spec, backend);
          try {
            const { values, indices } = topk(x, { k, largest });
            return [values, indices];
          } finally {
            x.dispose();
          }
        },
      });
    }
    for (const k of kValues(n, 1)) {
      cases.push({
        kernel: 'kthValue',
        name: `${spec.label}, k=${k}, ${end}`,
        tolerance: EXACT,
        run: (backend) => {
          const x = build(spec, backend);
          try {
            const { values, indices } = kthValue(x, { k, largest });
            return [values, indices];
          } finally {
            x.dispose();
          }
        },
      });
    }
    cases.push({
      kernel: 'argsort',
      name: `${spec.label}, ${largest ? 'descending' : 'ascending'}`,
      tolerance: EXACT,
      run: (backend) => {
        const x = build(spec, backend);
        try {
          return argsort(x, { descending: largest });
        } finally {
          x.dispose();
        }
      },
    });
  }
  return cases;
}

const EMPTY_CASES: readonly ConformanceCase[] = [
  {
    kernel: 'selectMask',
    name: '[0, 5] (no rows), k=2',
    tolerance: EXACT,
    run: (backend) => {
      const x = fromArray(new Float32Array(0), [0, 5], 'float32', { backend });
      try {
        return selectMask(x, { k: 2 });
      } finally {
        x.dispose();
      }
    },
  },
  {
    kernel: 'topk',
    name: '[3, 0] (empty rows), k=0',
    tolerance: EXACT,
    run: (backend) => {
      const x = fromArray(new Float32Array(0), [3, 0], 'float32', { backend });
      try {
        const { values, indices } = topk(x, { k: 0 });
        return [values, indices];
      } finally {
        x.dispose();
      }
    },
  },
  {
    kernel: 'argsort',
    name: '[2, 0] (empty rows)',
    tolerance: EXACT,
    run: (backend) => {
      const x = fromArray(new Int32Array(0), [2, 0], 'int32', { backend });
      try {
        return argsort(x);
      } finally {
        x.dispose();
      }
    },
  },
];

/**
 * Conformance cases for the selection kernels (`topk`, `kthValue`, `argsort`,
 * `selectMask`): rows of length 1, 7, 33, 1000 and 4099; heavy ties; NaN, ±Infinity and ±0;
 * all-equal rows; int32 inputs including the int32 extremes; k = 0, 1, n/2, n−1 and n;
 * both ends. All exact.
 */
export const selectionCases: readonly ConformanceCase[] = [...INPUTS.flatMap(casesFor), ...EMPTY_CASES];
