import {
  type BinaryOp,
  type CompareOp,
  type Kernels,
  type ReduceOp,
  type Shape,
  type TensorRef,
  type TypedArray,
  type UnaryOp,
  broadcastStrides,
  referenceBackend,
  sizeOf,
  stridedPlan,
  stridesOf,
} from '@prune/core';
import { exactDivision, lit, offsetsCode } from './codegen.js';
import { scanValues, type ValueScan } from './scan.js';

/**
 * Storage of a tensor on a gpu.js backend: the elements on the host, row-major, in the
 * typed array of the tensor's dtype, with the shape. Kernels upload them to gpu.js and
 * read their results back; intermediate results inside one kernel (softmax statistics,
 * norms) stay in gpu.js as pipeline textures.
 */
export interface GpujsStorage {
  /** Elements, row-major. */
  readonly values: TypedArray;
  /** Shape of the tensor. */
  readonly shape: Shape;
}

/** A kernel argument or result in gpu.js: a host array, or a texture in the GL modes. */
export type KernelValue = Float32Array | { delete(): void };

/** Runs generated gpu.js kernels; implemented by the backend over its kernel cache. */
export interface KernelRunner {
  /**
   * Runs the kernel cached under `key` (compiled from `source()` on a miss) with a 1-D
   * output of `size` elements. With `pipeline`, a GL mode returns a texture to feed into
   * another kernel, which the caller deletes.
   */
  run(key: string, source: () => string, size: number, args: readonly KernelValue[], pipeline?: boolean): KernelValue;
}

type Ref = TensorRef<GpujsStorage>;
type HostRef = TensorRef<TypedArray>;

const reference = referenceBackend.kernels;

// Element magnitudes inside [2^-60, 2^60] keep every single product, quotient and square
// normal and finite in float32, so results are not flushed to zero (GLSL flushes
// subnormals) and no intermediate overflows where the float64 reference does not.
const WINDOW_MAX = 2 ** 60;
const WINDOW_MIN = 2 ** -60;
// exp(±80) and its derived functions stay normal in float32.
const EXP_SAFE = 80;

function host(r: Ref): HostRef {
  return { handle: r.handle.values, shape: r.shape, dtype: r.dtype };
}

function wrap(values: TypedArray, shape: Shape): GpujsStorage {
  return { values, shape };
}

function scanOf(r: Ref): ValueScan {
  return scanValues(r.handle.values);
}

/** Finite, no subnormals, magnitudes inside the float32-safe window. */
function inWindow(s: ValueScan): boolean {
  return s.finite && s.maxAbs <= WINDOW_MAX && (s.minNonZeroAbs === Infinity || s.minNonZeroAbs >= WINDOW_MIN);
}

function allFinite(values: Float32Array): boolean {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v - v !== 0) return false;
  }
  return true;
}

function asFloat32(v: KernelValue): Float32Array {
  return v as Float32Array;
}

function toFloat32(values: TypedArray): Float32Array {
  return values instanceof Float32Array ? values : Float32Array.from(values);
}

function deleteTexture(v: KernelValue): void {
  if (!(v instanceof Float32Array) && typeof v.delete === 'function') v.delete();
}

const shapeKey = (s: Shape): string => `[${s.join(',')}]`;

/** Kernel bodies of the natively computed unary ops; `v` is the input element. */
const UNARY_BODIES: Partial<Record<UnaryOp, string>> = {
  abs: 'return Math.abs(v);',
  neg: 'return -v;',
  square: 'return v * v;',
  sqrt: 'return Math.sqrt(v);',
  rsqrt: 'return 1.0 / Math.sqrt(v);',
  exp: 'return Math.exp(v);',
  log: 'return Math.log(v);',
  sigmoid: 'if (v >= 0.0) { return 1.0 / (1.0 + Math.exp(-v)); }\nlet e = Math.exp(v);\nreturn e / (1.0 + e);',
  // log σ(v) = min(v, 0) − log1p(e^−|v|); log1p by its series below 0.1, where log(1 + u)
  // would lose the low digits of u.
  logSigmoid: [
    'let u = Math.exp(-Math.abs(v));',
    'let l = 0.0;',
    `if (u < 0.1) { l = u * (1.0 - u * (0.5 - u * (${lit(1 / 3)} - u * (0.25 - u * (0.2 - u * (${lit(1 / 6)} - u * (${lit(1 / 7)} - u * (0.125 - u * ${lit(1 / 9)})))))))); }`,
    'else { l = Math.log(1.0 + u); }',
    'if (v < 0.0) { return v - l; }',
    'return -l;',
  ].join('\n'),
  // Odd series near 0 (where (1 − t)/(1 + t) cancels), else through e^(−2|v|), which
  // cannot overflow.
  tanh: [
    'let w = Math.abs(v);',
    'let r = 0.0;',
    `if (w < 0.1) { let w2 = w * w; r = w * (1.0 - w2 * (${lit(1 / 3)} - w2 * (${lit(2 / 15)} - w2 * (${lit(17 / 315)} - w2 * ${lit(62 / 2835)})))); }`,
    'else { let t = Math.exp(-2.0 * w); r = (1.0 - t) / (1.0 + t); }',
    'if (v < 0.0) { r = -r; }',
    'return r;',
  ].join('\n'),
  relu: 'if (v < 0.0) { return 0.0; }\nreturn v;',
  // x·Φ(x) = ½·x·erfc(−x/√2), erfc by the Chebyshev fit of Numerical Recipes (relative
  // error below 1.2e-7 everywhere).
  gelu: [
    `let z = -v * ${lit(Math.SQRT1_2)};`,
    'let za = Math.abs(z);',
    'let t = 1.0 / (1.0 + 0.5 * za);',
    'let c = t * Math.exp(-za * za - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));',
    'if (z < 0.0) { c = 2.0 - c; }',
    'return 0.5 * v * c;',
  ].join('\n'),
  silu: 'if (v >= 0.0) { return v / (1.0 + Math.exp(-v)); }\nlet e = Math.exp(v);\nreturn v * e / (1.0 + e);',
  sign: 'if (v > 0.0) { return 1.0; }\nif (v < 0.0) { return -1.0; }\nreturn 0.0;',
  reciprocal: 'return 1.0 / v;',
  floor: 'return Math.floor(v);',
  ceil: 'return Math.ceil(v);',
  // Half to even, as the reference rounds.
  round: [
    'let f = Math.floor(v);',
    'let d = v - f;',
    'if (d > 0.5) { return f + 1.0; }',
    'if (d < 0.5) { return f; }',
    'let h = f * 0.5;',
    'if (Math.floor(h) === h) { return f; }',
    'return f + 1.0;',
  ].join('\n'),
};

/** Unary ops whose formulas call exp and need |v| ≤ 80 to stay normal in float32. */
const EXP_OPS = new Set<UnaryOp>(['exp', 'sigmoid', 'logSigmoid', 'tanh', 'gelu', 'silu']);

const BINARY_EXPRESSIONS: Record<BinaryOp, string> = {
  add: 'x + y',
  sub: 'x - y',
  mul: 'x * y',
  div: 'x / y',
  maximum: 'Math.max(x, y)',
  minimum: 'Math.min(x, y)',
  pow: 'Math.pow(x, y)',
};

const COMPARE_CONDITIONS: Record<CompareOp, string> = {
  equal: 'x === y',
  notEqual: 'x !== y',
  less: 'x < y',
  lessEqual: 'x <= y',
  greater: 'x > y',
  greaterEqual: 'x >= y',
  logicalAnd: 'x !== 0.0 && y !== 0.0',
  logicalOr: 'x !== 0.0 || y !== 0.0',
};

/** Reduce ops computed natively (float32 input, non-empty reduction). */
const NATIVE_REDUCE = new Set<ReduceOp>(['sum', 'mean', 'max', 'min', 'norm1', 'norm2']);

/**
 * Source of an element-wise kernel over `outShape` whose operands (flat arrays named by
 * `names`, of `shapes`) broadcast to it; `body` reads `x`, `y`, `c` loaded from them.
 */
function elementwiseSource(outShape: Shape, shapes: readonly Shape[], names: readonly string[], loads: readonly string[], body: string): string {
  const plan = stridedPlan(outShape, [stridesOf(outShape), ...shapes.map((s) => broadcastStrides(s, outShape))]);
  const { code, offsets } = offsetsCode('this.thread.x', plan.dims, plan.strides.slice(1));
  const loadLines = loads.map((v, k) => `let ${v} = ${names[k]}[${offsets[k]}];`);
  return `function (${names.join(', ')}) {\n${code}\n${loadLines.join('\n')}\n${body}\n}`;
}

/** Splits `shape` around `axis` into [outer, n, inner]. */
function splitAt(shape: Shape, axis: number): [number, number, number] {
  return [sizeOf(shape.slice(0, axis)), shape[axis], sizeOf(shape.slice(axis + 1))];
}

/** Compensated (Kahan) accumulation of `term` into `acc`/`comp` inside a kernel loop. */
function kahan(term: string): string {
  return `let y = ${term} - comp;\nlet t = acc + y;\ncomp = (t - acc) - y;\nacc = t;`;
}

/**
 * The gpu.js kernels of the backend. Kernels are generated per (op, shapes), cached by the
 * runner, and return host arrays. Inputs a kernel cannot treat exactly (int32 and bool
 * data, NaN or ±Infinity, subnormal or extreme magnitudes, empty extents) are computed by
 * the reference kernel on the host arrays directly, so every result stays within the
 * conformance tolerances.
 */
export function createGpujsKernels(runner: KernelRunner): Partial<Kernels<GpujsStorage>> {
  function unary(x: Ref, attrs: { op: UnaryOp }): GpujsStorage {
    const { op } = attrs;
    const body = UNARY_BODIES[op];
    const n = x.handle.values.length;
    if (body === undefined || x.dtype !== 'float32' || n === 0) return wrap(reference.unary(host(x), attrs), x.shape);
    const s = scanOf(x);
    const outOfDomain =
      !inWindow(s) ||
      (EXP_OPS.has(op) && s.maxAbs > EXP_SAFE) ||
      ((op === 'sqrt' || op === 'rsqrt' || op === 'log') && s.min <= 0) ||
      (op === 'reciprocal' && s.hasZero);
    if (outOfDomain) return wrap(reference.unary(host(x), attrs), x.shape);
    const out = asFloat32(
      runner.run(`unary:${op}:${n}`, () => `function (src) {\nlet v = src[this.thread.x];\n${body}\n}`, n, [x.handle.values as Float32Array]),
    );
    return wrap(out, x.shape);
  }

  function binary(a: Ref, b: Ref, attrs: { op: BinaryOp; outShape: Shape }): GpujsStorage {
    const { op, outShape } = attrs;
    const n = sizeOf(outShape);
    const fallback = (): GpujsStorage => wrap(reference.binary(host(a), host(b), attrs), outShape);
    if (a.dtype !== 'float32' || n === 0) return fallback();
    const sa = scanOf(a);
    const sb = scanOf(b);
    if (!inWindow(sa) || !inWindow(sb) || (op === 'div' && sb.hasZero) || (op === 'pow' && sa.min <= 0)) return fallback();
    const out = asFloat32(
      runner.run(
        `binary:${op}:${shapeKey(a.shape)}:${shapeKey(b.shape)}:${shapeKey(outShape)}`,
        () => elementwiseSource(outShape, [a.shape, b.shape], ['a', 'b'], ['x', 'y'], `return ${BINARY_EXPRESSIONS[op]};`),
        n,
        [a.handle.values as Float32Array, b.handle.values as Float32Array],
      ),
    );
    // Overflow past float32's range: let the reference give the exact ±Infinity/NaN.
    return allFinite(out) ? wrap(out, outShape) : fallback();
  }

  function compare(a: Ref, b: Ref, attrs: { op: CompareOp; outShape: Shape }): GpujsStorage {
    const { op, outShape } = attrs;
    const n = sizeOf(outShape);
    const fallback = (): GpujsStorage => wrap(reference.compare(host(a), host(b), attrs), outShape);
    if (a.dtype !== 'float32' || b.dtype !== 'float32' || n === 0) return fallback();
    if (!inWindow(scanOf(a)) || !inWindow(scanOf(b))) return fallback();
    const out = asFloat32(
      runner.run(
        `compare:${op}:${shapeKey(a.shape)}:${shapeKey(b.shape)}:${shapeKey(outShape)}`,
        () => elementwiseSource(outShape, [a.shape, b.shape], ['a', 'b'], ['x', 'y'], `if (${COMPARE_CONDITIONS[op]}) { return 1.0; }\nreturn 0.0;`),
        n,
        [a.handle.values as Float32Array, b.handle.values as Float32Array],
      ),
    );
    const mask = new Uint8Array(n);
    for (let i = 0; i < n; i++) mask[i] = out[i] !== 0 ? 1 : 0;
    return wrap(mask, outShape);
  }

  function where(cond: Ref, a: Ref, b: Ref, attrs: { outShape: Shape }): GpujsStorage {
    const { outShape } = attrs;
    const n = sizeOf(outShape);
    const fallback = (): GpujsStorage => wrap(reference.where(host(cond), host(a), host(b), attrs), outShape);
    if (a.dtype !== 'float32' || n === 0) return fallback();
    // Values pass through unchanged: only NaN/Infinity and subnormals (flushed by GLSL) matter.
    const sa = scanOf(a);
    const sb = scanOf(b);
    if (!sa.finite || !sb.finite || sa.minNonZeroAbs < 2 ** -126 || sb.minNonZeroAbs < 2 ** -126) return fallback();
    const out = asFloat32(
      runner.run(
        `where:${shapeKey(cond.shape)}:${shapeKey(a.shape)}:${shapeKey(b.shape)}:${shapeKey(outShape)}`,
        () => elementwiseSource(outShape, [cond.shape, a.shape, b.shape], ['c', 'a', 'b'], ['k', 'x', 'y'], 'if (k !== 0.0) { return x; }\nreturn y;'),
        n,
        [toFloat32(cond.handle.values), a.handle.values as Float32Array, b.handle.values as Float32Array],
      ),
    );
    return wrap(out, outShape);
  }

  function reduce(x: Ref, attrs: { op: ReduceOp; axes: readonly number[]; outShape: Shape }): GpujsStorage {
    const { op, axes, outShape } = attrs;
    const n = sizeOf(outShape);
    const count = sizeOf(axes.map((a) => x.shape[a]));
    const fallback = (): GpujsStorage => wrap(reference.reduce(host(x), attrs), outShape);
    if (!NATIVE_REDUCE.has(op) || x.dtype !== 'float32' || n === 0 || count === 0) return fallback();
    if (!inWindow(scanOf(x))) return fallback();
    const out = asFloat32(
      runner.run(`reduce:${op}:${shapeKey(x.shape)}:${axes.join(',')}`, () => reduceSource(x.shape, axes, op), n, [x.handle.values as Float32Array]),
    );
    return allFinite(out) ? wrap(out, outShape) : fallback();
  }

  function argReduce(x: Ref, attrs: { op: 'argmax' | 'argmin'; axis: number }): GpujsStorage {
    const { op, axis } = attrs;
    const [outer, len, inner] = splitAt(x.shape, axis);
    const outShape = x.shape.filter((_, i) => i !== axis);
    const n = outer * inner;
    const fallback = (): GpujsStorage => wrap(reference.argReduce(host(x), attrs), outShape);
    // Float indices are exact below 2^24; NaN ordering needs the reference.
    if (x.dtype !== 'float32' || n === 0 || len === 0 || len >= 2 ** 24) return fallback();
    const s = scanOf(x);
    if (!s.finite || s.minNonZeroAbs < 2 ** -126) return fallback();
    const better = op === 'argmax' ? '>' : '<';
    const out = asFloat32(
      runner.run(
        `argReduce:${op}:${outer},${len},${inner}`,
        () => {
          const { code, offsets } = offsetsCode('this.thread.x', [outer, inner], [[len * inner, 1]]);
          // Strict comparison keeps the lowest index among ties.
          return `function (a) {\n${code}\nlet best = a[${offsets[0]}];\nlet at = 0.0;\nfor (let j = 1; j < ${len}; j++) {\nlet v = a[${offsets[0]} + j * ${lit(inner)}];\nif (v ${better} best) { best = v; at = j; }\n}\nreturn at;\n}`;
        },
        n,
        [x.handle.values as Float32Array],
      ),
    );
    return wrap(Int32Array.from(out), outShape);
  }

  function matmul(a: Ref, b: Ref, attrs: { transposeA: boolean; transposeB: boolean; outShape: Shape }): GpujsStorage {
    const { transposeA, transposeB, outShape } = attrs;
    const n = sizeOf(outShape);
    const ra = a.shape.length;
    const rb = b.shape.length;
    const m = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
    const k = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
    const p = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
    const fallback = (): GpujsStorage => wrap(reference.matmul(host(a), host(b), attrs), outShape);
    if (n === 0 || k === 0) return fallback();
    if (!inWindow(scanOf(a)) || !inWindow(scanOf(b))) return fallback();
    const key = `matmul:${shapeKey(a.shape)}:${shapeKey(b.shape)}:${transposeA ? 'T' : 'N'}${transposeB ? 'T' : 'N'}`;
    const out = asFloat32(
      runner.run(
        key,
        () => {
          const batch = outShape.slice(0, -2);
          const aBatch = broadcastStrides(a.shape.slice(0, -2), batch).map((s) => s * m * k);
          const bBatch = broadcastStrides(b.shape.slice(0, -2), batch).map((s) => s * k * p);
          const aRow = transposeA ? 1 : k;
          const aStep = transposeA ? m : 1;
          const bCol = transposeB ? k : 1;
          const bStep = transposeB ? 1 : p;
          const dims = [...batch, m, p];
          const plan = stridedPlan(dims, [stridesOf(dims), [...aBatch, aRow, 0], [...bBatch, 0, bCol]]);
          const { code, offsets } = offsetsCode('this.thread.x', plan.dims, plan.strides.slice(1));
          return [
            'function (a, b) {',
            code,
            'let acc = 0.0;',
            `for (let i = 0; i < ${k}; i++) {`,
            `acc += a[${offsets[0]} + i * ${lit(aStep)}] * b[${offsets[1]} + i * ${lit(bStep)}];`,
            '}',
            'return acc;',
            '}',
          ].join('\n');
        },
        n,
        [a.handle.values as Float32Array, b.handle.values as Float32Array],
      ),
    );
    return allFinite(out) ? wrap(out, outShape) : fallback();
  }

  function softmax(x: Ref, attrs: { axis: number; log: boolean }): GpujsStorage {
    const { axis, log } = attrs;
    const [outer, len, inner] = splitAt(x.shape, axis);
    const n = outer * len * inner;
    const fallback = (): GpujsStorage => wrap(reference.softmax(host(x), attrs), x.shape);
    if (x.dtype !== 'float32' || n === 0) return fallback();
    if (!inWindow(scanOf(x))) return fallback();
    const lanes = outer * inner;
    const dims = `${outer},${len},${inner}`;
    const lane = offsetsCode('this.thread.x', [outer, inner], [[len * inner, 1]]);
    const values = x.handle.values as Float32Array;
    // Lane statistics stay in gpu.js (textures in the GL modes) until the last kernel.
    const max = runner.run(
      `softmax-max:${dims}`,
      () => `function (a) {\n${lane.code}\nlet m = a[${lane.offsets[0]}];\nfor (let j = 1; j < ${len}; j++) {\nm = Math.max(m, a[${lane.offsets[0]} + j * ${lit(inner)}]);\n}\nreturn m;\n}`,
      lanes,
      [values],
      true,
    );
    let sum: KernelValue | undefined;
    try {
      sum = runner.run(
        `softmax-sum:${dims}`,
        () =>
          `function (a, m) {\n${lane.code}\nlet top = m[this.thread.x];\nlet acc = 0.0;\nlet comp = 0.0;\nfor (let j = 0; j < ${len}; j++) {\n${kahan(`Math.exp(a[${lane.offsets[0]} + j * ${lit(inner)}] - top)`)}\n}\nreturn acc;\n}`,
        lanes,
        [values, max],
        true,
      );
      const out = asFloat32(
        runner.run(
          `softmax-${log ? 'log' : 'exp'}:${dims}`,
          () => {
            const { code, offsets } = offsetsCode('this.thread.x', [outer, len, inner], [[inner, 0, 1]]);
            const result = log ? 'return (v - top) - Math.log(s[l]);' : 'return Math.exp(v - top) / s[l];';
            return `function (a, m, s) {\n${code}\nlet l = ${offsets[0]};\nlet v = a[this.thread.x];\nlet top = m[l];\n${result}\n}`;
          },
          n,
          [values, max, sum],
        ),
      );
      return wrap(out, x.shape);
    } finally {
      deleteTexture(max);
      if (sum !== undefined) deleteTexture(sum);
    }
  }

  function cosineSimilarity(a: Ref, b: Ref, attrs: { outShape: Shape }): GpujsStorage {
    const { outShape } = attrs;
    const [rows, d] = a.shape;
    const cols = b.shape[0];
    const fallback = (): GpujsStorage => wrap(reference.cosineSimilarity(host(a), host(b), attrs), outShape);
    if (rows === 0 || cols === 0 || d === 0) return fallback();
    if (!inWindow(scanOf(a)) || !inWindow(scanOf(b))) return fallback();
    const norms = (r: Ref, count: number): KernelValue =>
      runner.run(
        `row-norm2:${count},${d}`,
        () => `function (a) {\nlet base = this.thread.x * ${lit(d)};\nlet acc = 0.0;\nlet comp = 0.0;\nfor (let j = 0; j < ${d}; j++) {\nlet w = a[base + j];\n${kahan('w * w')}\n}\nreturn Math.sqrt(acc);\n}`,
        count,
        [r.handle.values as Float32Array],
        true,
      );
    const na = norms(a, rows);
    let nb: KernelValue | undefined;
    try {
      nb = norms(b, cols);
      const out = asFloat32(
        runner.run(
          `cosine:${rows},${cols},${d}`,
          () => {
            const lines = exactDivision('i', 'this.thread.x', cols);
            return [
              'function (a, b, na, nb) {',
              ...lines,
              `let j = this.thread.x - i * ${lit(cols)};`,
              'let den = na[i] * nb[j];',
              'if (den === 0.0) { return 0.0; }',
              'let acc = 0.0;',
              `for (let t = 0; t < ${d}; t++) {`,
              `acc += a[i * ${lit(d)} + t] * b[j * ${lit(d)} + t];`,
              '}',
              'return acc / den;',
              '}',
            ].join('\n');
          },
          rows * cols,
          [a.handle.values as Float32Array, b.handle.values as Float32Array, na, nb],
        ),
      );
      return wrap(out, outShape);
    } finally {
      deleteTexture(na);
      if (nb !== undefined) deleteTexture(nb);
    }
  }

  function reshape(x: Ref, attrs: { shape: Shape }): GpujsStorage {
    // Row-major layout is unchanged: share the elements (kernels never mutate storage).
    return wrap(x.handle.values, attrs.shape);
  }

  return { unary, binary, compare, where, reduce, argReduce, matmul, softmax, cosineSimilarity, reshape };
}

/** Source of a reduction of `shape` over `axes` with `op`, one output per kept position. */
function reduceSource(shape: Shape, axes: readonly number[], op: ReduceOp): string {
  const strides = stridesOf(shape);
  const reduced = new Set(axes);
  const keptDims: number[] = [];
  const keptStrides: number[] = [];
  const redDims: number[] = [];
  const redStrides: number[] = [];
  shape.forEach((d, i) => {
    if (reduced.has(i)) {
      redDims.push(d);
      redStrides.push(strides[i]);
    } else {
      keptDims.push(d);
      keptStrides.push(strides[i]);
    }
  });
  const kept = keptDims.length > 0 ? stridedPlan(keptDims, [keptStrides]) : { dims: [1], strides: [[0]] };
  const red = stridedPlan(redDims, [redStrides]);
  const count = sizeOf(redDims);
  const base = offsetsCode('this.thread.x', kept.dims, kept.strides);
  const inner = red.dims.length === 1 ? { code: '', offsets: [`r * ${lit(red.strides[0][0])}`] } : offsetsCode('r', red.dims, red.strides);
  const load = `let v = a[${base.offsets[0]} + ${inner.offsets[0]}];`;
  let init = 'let acc = 0.0;\nlet comp = 0.0;';
  let step: string;
  let result = 'return acc;';
  switch (op) {
    case 'max':
      init = `let acc = a[${base.offsets[0]}];`;
      step = 'acc = Math.max(acc, v);';
      break;
    case 'min':
      init = `let acc = a[${base.offsets[0]}];`;
      step = 'acc = Math.min(acc, v);';
      break;
    case 'norm1':
      step = kahan('Math.abs(v)');
      break;
    case 'norm2':
      step = kahan('v * v');
      result = 'return Math.sqrt(acc);';
      break;
    case 'mean':
      step = kahan('v');
      result = `return acc / ${lit(count)};`;
      break;
    default:
      step = kahan('v');
  }
  return [
    'function (a) {',
    base.code,
    init,
    `for (let r = 0; r < ${count}; r++) {`,
    inner.code,
    load,
    step,
    '}',
    result,
    '}',
  ].join('\n');
}
