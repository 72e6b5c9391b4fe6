import type { Backend } from '../../backend.js';
import type { DType } from '../../dtype.js';
import type { BinaryOp, CompareOp, KernelName, UnaryOp } from '../../kernels.js';
import { tensor } from '../../ops/creation.js';
import * as ew from '../../ops/elementwise.js';
import { tidy } from '../../scope.js';
import type { Shape } from '../../shape.js';
import type { Tensor } from '../../tensor.js';
import { type ConformanceCase, EXACT, type Tolerance } from '../conformance.js';
import { type RandomInputOptions, randomInput } from '../inputs.js';

/** Float results of correctly rounded operations (+, −, ×, ÷, √): a few float32 ulps. */
export const FLOAT_TOLERANCE: Tolerance = { atol: 1e-6, rtol: 1e-5 };

/**
 * exp, log, tanh, erf, pow and everything built on them: backends evaluate these with
 * their own float32 approximations (wasm libm, GLSL built-ins, polynomial erf), which
 * differ from float64-then-round by up to ~1e-5 relative.
 */
export const TRANSCENDENTAL_TOLERANCE: Tolerance = { atol: 1e-5, rtol: 1e-4 };

/** NaN, ±Infinity and −0, the special values every float case family includes. */
export const SPECIALS: readonly number[] = [NaN, Infinity, -Infinity, -0];

// Each case owns fixed seeds, so its reference run and its backend run see the same data.
let nextSeed = 1000;
function seed(): number {
  return nextSeed++;
}

/** Declares a case whose inputs are built and released inside a tidy scope. */
function kase(kernel: KernelName, name: string, tolerance: Tolerance, build: (b: Backend) => Tensor | Tensor[]): ConformanceCase {
  return { kernel, name, tolerance, run: (b) => tidy(() => build(b)) };
}

/** A random input with a seed fixed now, at case-definition time. */
function input(shape: Shape, options: RandomInputOptions = {}): (b: Backend) => Tensor {
  const s = seed();
  return (b) => randomInput(b, shape, { seed: s, ...options });
}

function shapeText(shape: Shape): string {
  return `[${shape.join(',')}]`;
}

/** Scalars, empty, one element, odd sizes that match no block size, and a few ranks. */
const UNARY_SHAPES: readonly Shape[] = [[], [0], [1], [7], [1031], [4, 33], [2, 3, 0], [3, 5, 7]];

/** Pairs of shapes that broadcast: equal, scalar either side, inner/outer/both-sided, empty. */
const BROADCAST_PAIRS: readonly (readonly [Shape, Shape])[] = [
  [[7], [7]],
  [[1031], [1031]],
  [[33, 7], [33, 7]],
  [[3, 1], [1, 4]],
  [[2, 3, 4], [4]],
  [[2, 3, 4], [3, 1]],
  [[], [5, 6]],
  [[5, 6], []],
  [[1], [257]],
  [[0, 3], [1, 3]],
  [[4, 1, 5], [1, 3, 1]],
  [[2, 1, 3, 1], [1, 4, 1, 5]],
];

const UNARY_FNS: Readonly<Record<UnaryOp, (x: Tensor) => Tensor>> = {
  abs: ew.abs, neg: ew.neg, square: ew.square, sqrt: ew.sqrt, rsqrt: ew.rsqrt, exp: ew.exp,
  log: ew.log, sigmoid: ew.sigmoid, logSigmoid: ew.logSigmoid, tanh: ew.tanh, relu: ew.relu,
  gelu: ew.gelu, silu: ew.silu, sign: ew.sign, reciprocal: ew.reciprocal, floor: ew.floor,
  ceil: ew.ceil, round: ew.round, isNaN: ew.isNaN, isFinite: ew.isFinite, logicalNot: ew.logicalNot,
};

/** Per unary op: tolerance, input domain for the random cases, and int32 support. */
interface UnarySpec {
  tolerance: Tolerance;
  domain?: RandomInputOptions;
  int32?: boolean;
  /** A second, wide-range case that exercises overflow-safe formulations. */
  wide?: boolean;
}

const EXACT_SPEC: UnarySpec = { tolerance: EXACT };
const UNARY_SPECS: Readonly<Record<Exclude<UnaryOp, 'logicalNot'>, UnarySpec>> = {
  abs: { tolerance: EXACT, int32: true },
  neg: { tolerance: EXACT, int32: true },
  square: { tolerance: FLOAT_TOLERANCE, int32: true },
  sign: { tolerance: EXACT, int32: true },
  sqrt: { tolerance: FLOAT_TOLERANCE, domain: { positive: true } },
  rsqrt: { tolerance: FLOAT_TOLERANCE, domain: { positive: true } },
  reciprocal: { tolerance: FLOAT_TOLERANCE },
  exp: { tolerance: TRANSCENDENTAL_TOLERANCE },
  log: { tolerance: TRANSCENDENTAL_TOLERANCE, domain: { positive: true, max: 100 } },
  sigmoid: { tolerance: TRANSCENDENTAL_TOLERANCE, wide: true },
  logSigmoid: { tolerance: TRANSCENDENTAL_TOLERANCE, wide: true },
  tanh: { tolerance: TRANSCENDENTAL_TOLERANCE, wide: true },
  gelu: { tolerance: TRANSCENDENTAL_TOLERANCE, domain: { min: -6, max: 6 }, wide: true },
  silu: { tolerance: TRANSCENDENTAL_TOLERANCE, wide: true },
  relu: EXACT_SPEC,
  floor: { tolerance: EXACT, domain: { min: -10, max: 10 } },
  ceil: { tolerance: EXACT, domain: { min: -10, max: 10 } },
  round: { tolerance: EXACT, domain: { min: -10, max: 10 } },
  isNaN: { tolerance: EXACT, int32: true },
  isFinite: { tolerance: EXACT, int32: true },
};

// int32 cases stay well inside ±2²⁴ so backends that compute in float32 (gpu.js) are exact.
const INT_RANGE: RandomInputOptions = { dtype: 'int32', min: -1000, max: 1000 };

function unaryCases(): ConformanceCase[] {
  const cases: ConformanceCase[] = [];
  for (const [op, spec] of Object.entries(UNARY_SPECS) as [Exclude<UnaryOp, 'logicalNot'>, UnarySpec][]) {
    const fn = UNARY_FNS[op];
    for (const shape of UNARY_SHAPES) {
      const x = input(shape, spec.domain);
      cases.push(kase('unary', `${op} float32 ${shapeText(shape)}`, spec.tolerance, (b) => fn(x(b))));
    }
    const sx = input([33], { ...spec.domain, specials: SPECIALS });
    cases.push(kase('unary', `${op} float32 NaN/±Inf/-0`, spec.tolerance, (b) => fn(sx(b))));
    if (spec.wide) {
      const wx = input([257], { min: -60, max: 60 });
      cases.push(kase('unary', `${op} float32 wide range [-60, 60)`, spec.tolerance, (b) => fn(wx(b))));
    }
    if (spec.int32) {
      for (const shape of [[], [0], [257], [3, 5, 7]] as Shape[]) {
        const ix = input(shape, INT_RANGE);
        cases.push(kase('unary', `${op} int32 ${shapeText(shape)}`, EXACT, (b) => fn(ix(b))));
      }
    }
  }
  const halves = [-3.5, -2.5, -1.5, -0.5, -0, 0.5, 1.5, 2.5, 3.5, 4.5, -4.5, 1e6 + 0.5, 0.49999997];
  cases.push(kase('unary', 'round halves to even', EXACT, (b) => ew.round(tensor(halves, [halves.length], 'float32', { backend: b }))));
  for (const shape of [[], [0], [1031], [4, 33]] as Shape[]) {
    const bx = input(shape, { dtype: 'bool' });
    cases.push(kase('unary', `logicalNot bool ${shapeText(shape)}`, EXACT, (b) => ew.logicalNot(bx(b))));
  }
  return cases;
}

function castCases(): ConformanceCase[] {
  const cases: ConformanceCase[] = [];
  const sources: readonly [DType, RandomInputOptions][] = [
    ['float32', { min: -100, max: 100 }],
    ['int32', { dtype: 'int32', min: -3, max: 3 }],
    ['bool', { dtype: 'bool' }],
  ];
  for (const [from, domain] of sources) {
    for (const to of ['float32', 'int32', 'bool'] as DType[]) {
      for (const shape of [[], [0], [1031], [3, 5, 7]] as Shape[]) {
        const x = input(shape, domain);
        cases.push(kase('cast', `${from} → ${to} ${shapeText(shape)}`, EXACT, (b) => ew.cast(x(b), to)));
      }
    }
  }
  // Special values only where every backend agrees: to bool (NaN is true, −0 false) and to float32.
  const sx = input([33], { ties: true, specials: SPECIALS });
  cases.push(kase('cast', 'float32 → bool NaN/±Inf/-0', EXACT, (b) => ew.cast(sx(b), 'bool')));
  cases.push(kase('cast', 'float32 → float32 NaN/±Inf/-0', EXACT, (b) => ew.cast(sx(b), 'float32')));
  const wide = input([257], { dtype: 'int32', min: -16777216, max: 16777216 });
  cases.push(kase('cast', 'int32 → float32 up to ±2²⁴', EXACT, (b) => ew.cast(wide(b), 'float32')));
  return cases;
}

const BINARY_FNS: Readonly<Record<BinaryOp, (a: Tensor | number, b: Tensor | number) => Tensor>> = {
  add: ew.add, sub: ew.sub, mul: ew.mul, div: ew.div, maximum: ew.maximum, minimum: ew.minimum, pow: ew.pow,
};

function binaryCases(): ConformanceCase[] {
  const cases: ConformanceCase[] = [];
  for (const op of Object.keys(BINARY_FNS) as BinaryOp[]) {
    const fn = BINARY_FNS[op];
    const tol = op === 'pow' ? TRANSCENDENTAL_TOLERANCE : op === 'maximum' || op === 'minimum' ? EXACT : FLOAT_TOLERANCE;
    // pow: positive bases keep the random cases real-valued; negative bases are covered below.
    const left: RandomInputOptions = op === 'pow' ? { positive: true } : {};
    for (const [sa, sb] of BROADCAST_PAIRS) {
      const a = input(sa, left);
      const x = input(sb);
      cases.push(kase('binary', `${op} float32 ${shapeText(sa)} ⊙ ${shapeText(sb)}`, tol, (b) => fn(a(b), x(b))));
    }
    const ta = input([33], { ties: true, specials: SPECIALS });
    const tb = input([33], { ties: true, specials: [...SPECIALS, 0] });
    cases.push(kase('binary', `${op} float32 NaN/±Inf/±0 both sides`, tol, (b) => fn(ta(b), tb(b))));
    const n = input([4, 33], left);
    cases.push(kase('binary', `${op} float32 tensor ⊙ number`, tol, (b) => fn(n(b), op === 'pow' ? 3 : 1.5)));
    cases.push(kase('binary', `${op} float32 number ⊙ tensor`, tol, (b) => fn(op === 'pow' ? 2 : -0.75, n(b))));
    if (op === 'div') continue;
    // int32: pow with small non-negative exponents stays exact; the rest stay within ±2²⁴.
    const intA: RandomInputOptions = op === 'pow' ? { dtype: 'int32', min: -6, max: 7 } : INT_RANGE;
    const intB: RandomInputOptions = op === 'pow' ? { dtype: 'int32', min: 0, max: 6 } : INT_RANGE;
    for (const [sa, sb] of [[[257], [257]], [[3, 1], [1, 4]], [[], [2, 3, 4]], [[0, 3], [1, 3]]] as [Shape, Shape][]) {
      const a = input(sa, intA);
      const x = input(sb, intB);
      cases.push(kase('binary', `${op} int32 ${shapeText(sa)} ⊙ ${shapeText(sb)}`, EXACT, (b) => fn(a(b), x(b))));
    }
  }
  const negBase = input([33], { min: -3, max: 3 });
  const exps = input([33], { ties: true, min: -2, max: 3 });
  cases.push(kase('binary', 'pow float32 negative bases, integer and fractional exponents', TRANSCENDENTAL_TOLERANCE, (b) => ew.pow(negBase(b), exps(b))));
  return cases;
}

const COMPARE_FNS: Readonly<Record<CompareOp, (a: Tensor | number, b: Tensor | number) => Tensor>> = {
  equal: ew.equal, notEqual: ew.notEqual, less: ew.less, lessEqual: ew.lessEqual, greater: ew.greater,
  greaterEqual: ew.greaterEqual, logicalAnd: ew.logicalAnd, logicalOr: ew.logicalOr,
};

// Aligned pairs: −0 vs 0, NaN vs NaN and vs numbers, infinities against each other.
const SPECIAL_LEFT = [-0, 0, NaN, NaN, 1, Infinity, -Infinity, Infinity, -Infinity, 2];
const SPECIAL_RIGHT = [0, -0, NaN, 1, NaN, Infinity, -Infinity, -Infinity, 5, Infinity];

function compareCases(): ConformanceCase[] {
  const cases: ConformanceCase[] = [];
  for (const op of Object.keys(COMPARE_FNS) as CompareOp[]) {
    const fn = COMPARE_FNS[op];
    const logical = op === 'logicalAnd' || op === 'logicalOr';
    for (const [sa, sb] of BROADCAST_PAIRS) {
      const domain: RandomInputOptions = logical ? { dtype: 'bool' } : { ties: true };
      const a = input(sa, domain);
      const x = input(sb, domain);
      cases.push(kase('compare', `${op} ${logical ? 'bool' : 'float32'} ${shapeText(sa)} ⊙ ${shapeText(sb)}`, EXACT, (b) => fn(a(b), x(b))));
    }
    if (logical) continue;
    const ta = input([33], { ties: true, specials: SPECIALS });
    const tb = input([33], { ties: true, specials: [...SPECIALS, 0] });
    cases.push(kase('compare', `${op} float32 NaN/±Inf/±0`, EXACT, (b) => fn(ta(b), tb(b))));
    cases.push(kase('compare', `${op} float32 special pairs`, EXACT, (b) =>
      fn(tensor(SPECIAL_LEFT, [SPECIAL_LEFT.length], 'float32', { backend: b }), tensor(SPECIAL_RIGHT, [SPECIAL_RIGHT.length], 'float32', { backend: b })),
    ));
    const ia = input([257], { dtype: 'int32', min: -3, max: 3 });
    const ib = input([257], { dtype: 'int32', min: -3, max: 3 });
    cases.push(kase('compare', `${op} int32 with ties`, EXACT, (b) => fn(ia(b), ib(b))));
    const n = input([4, 33], { ties: true });
    cases.push(kase('compare', `${op} float32 tensor ⊙ number`, EXACT, (b) => fn(n(b), 0.4)));
    if (op === 'equal' || op === 'notEqual') {
      const ba = input([3, 1], { dtype: 'bool' });
      const bb = input([1, 5], { dtype: 'bool' });
      cases.push(kase('compare', `${op} bool [3,1] ⊙ [1,5]`, EXACT, (b) => fn(ba(b), bb(b))));
    }
  }
  return cases;
}

function whereCases(): ConformanceCase[] {
  const cases: ConformanceCase[] = [];
  const triples: readonly [Shape, Shape, Shape][] = [
    [[1031], [1031], [1031]],
    [[3, 1], [1, 4], [3, 4]],
    [[], [5], [5]],
    [[2, 3, 4], [4], []],
    [[2, 1, 4], [3, 1], [1, 1, 1]],
    [[0, 4], [4], [1, 4]],
  ];
  for (const dtype of ['float32', 'int32', 'bool'] as DType[]) {
    const domain: RandomInputOptions = dtype === 'int32' ? INT_RANGE : { dtype };
    for (const [sc, sa, sb] of triples) {
      const c = input(sc, { dtype: 'bool' });
      const a = input(sa, domain);
      const x = input(sb, domain);
      cases.push(kase('where', `${dtype} cond ${shapeText(sc)}, ${shapeText(sa)}, ${shapeText(sb)}`, EXACT, (b) => ew.where(c(b), a(b), x(b))));
    }
  }
  const c = input([33], { dtype: 'bool' });
  const s = input([33], { specials: SPECIALS });
  cases.push(kase('where', 'float32 passes NaN/±Inf/-0 through', EXACT, (b) => ew.where(c(b), s(b), 0)));
  cases.push(kase('where', 'float32 number ⊙ tensor', EXACT, (b) => ew.where(c(b), -1.5, s(b))));
  return cases;
}

function softmaxCases(): ConformanceCase[] {
  const cases: ConformanceCase[] = [];
  const configs: readonly [Shape, number, RandomInputOptions?][] = [
    [[1], -1],
    [[1031], -1],
    [[4, 33], -1],
    [[4, 33], 0],
    [[3, 7, 5], 1],
    [[2, 3, 4], 0],
    [[0, 5], -1],
    [[5, 0], -1],
    // Beyond float32 exp's overflow at ~88.7: only a max-subtracting softmax stays finite.
    [[6, 257], -1, { min: -100, max: 300 }],
    [[8, 7], -1, { ties: true }],
    [[33, 9], -1, { specials: [-Infinity, -Infinity, -Infinity] }],
  ];
  for (const log of [false, true]) {
    const fn = log ? ew.logSoftmax : ew.softmax;
    const name = log ? 'logSoftmax' : 'softmax';
    for (const [shape, axis, domain] of configs) {
      const x = input(shape, domain);
      const detail = domain?.specials ? ' with -Inf entries' : domain?.ties ? ' with ties' : domain ? ' large logits' : '';
      cases.push(kase('softmax', `${name} ${shapeText(shape)} axis ${axis}${detail}`, TRANSCENDENTAL_TOLERANCE, (b) => fn(x(b), { axis })));
    }
    // Lanes: all −Infinity (NaN), one finite among −Infinity, NaN, +Infinity, −0 and 0.
    const rows = [
      -Infinity, -Infinity, -Infinity,
      -Infinity, 3, -Infinity,
      NaN, 1, 2,
      Infinity, 1, 2,
      -0, 0, -0,
    ];
    cases.push(kase('softmax', `${name} lanes with -Inf only, NaN, +Inf`, TRANSCENDENTAL_TOLERANCE, (b) => fn(tensor(rows, [5, 3], 'float32', { backend: b }))));
  }
  return cases;
}

/** Conformance cases for the element-wise kernels: cast, unary, binary, compare, where, softmax. */
export const elementwiseCases: readonly ConformanceCase[] = [
  ...castCases(),
  ...unaryCases(),
  ...binaryCases(),
  ...compareCases(),
  ...whereCases(),
  ...softmaxCases(),
];
