import type { DType } from '../dtype.js';
import { PruneError } from '../errors.js';
import type { BinaryOp, CompareOp, UnaryOp } from '../kernels.js';
import { type Shape, broadcastShapes, normalizeAxis } from '../shape.js';
import { Tensor } from '../tensor.js';
import { scalar } from './creation.js';
import { run } from './dispatch.js';

const DTYPES: readonly DType[] = ['float32', 'int32', 'bool'];

/** A tensor, or a plain number that becomes a scalar of the other operand's dtype. */
export type TensorOrNumber<D extends DType = DType> = Tensor<D> | number;

function shapeText(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

function checkTensor(op: string, value: unknown, what: string): asserts value is Tensor {
  if (!(value instanceof Tensor)) {
    throw new PruneError('INVALID_ARGUMENT', `${op}: ${what} must be a Tensor, got ${value === null ? 'null' : typeof value}`);
  }
}

function checkDType(op: string, x: Tensor, allowed: readonly DType[], hint: string): void {
  if (!allowed.includes(x.dtype)) {
    throw new PruneError('DTYPE_MISMATCH', `${op}: takes ${allowed.join(' or ')} tensors, got ${x.dtype}; ${hint}`);
  }
}

/** Broadcast shape of the operands, with the op's name in the error. */
function broadcastAll(op: string, shapes: readonly Shape[]): Shape {
  try {
    return shapes.reduce<Shape>((acc, s) => broadcastShapes(acc, s), []);
  } catch (e) {
    if (e instanceof PruneError) {
      throw new PruneError(e.code, `${op}: operand shapes ${shapes.map(shapeText).join(', ')} do not broadcast (numpy rules: trailing axes must be equal or 1); reshape one of them`);
    }
    throw e;
  }
}

/**
 * Turns a plain number into a rank-0 tensor of `like`'s dtype on `like`'s backend. The
 * number must be representable exactly: an integer in int32 range for int32, 0 or 1 for bool.
 */
function scalarLike(op: string, value: number, like: Tensor): Tensor {
  if (typeof value !== 'number') {
    throw new PruneError('INVALID_ARGUMENT', `${op}: operands must be tensors or numbers, got ${typeof value}`);
  }
  const ok =
    like.dtype === 'float32' ||
    (like.dtype === 'int32' && Number.isInteger(value) && value >= -2147483648 && value <= 2147483647) ||
    (like.dtype === 'bool' && (value === 0 || value === 1));
  if (!ok) {
    throw new PruneError(
      'DTYPE_MISMATCH',
      `${op}: the number ${value} is not a ${like.dtype} value, but the tensor operand is ${like.dtype}; cast the tensor with cast(x, 'float32') first`,
    );
  }
  return scalar(value, like.dtype, { backend: like.backend });
}

/**
 * Resolves tensor-or-number operands into tensors, running `body` with them and disposing
 * any scalar made for a number afterwards.
 */
function withOperands<T>(op: string, values: readonly TensorOrNumber[], body: (ts: Tensor[]) => T): T {
  const like = values.find((v): v is Tensor => v instanceof Tensor);
  if (!like) {
    throw new PruneError('INVALID_ARGUMENT', `${op}: at least one operand must be a Tensor (numbers alone have no dtype or backend); make one with tensor() or scalar()`);
  }
  const made: Tensor[] = [];
  try {
    const ts = values.map((v) => {
      if (v instanceof Tensor) return v;
      const s = scalarLike(op, v, like);
      made.push(s);
      return s;
    });
    return body(ts);
  } finally {
    for (const s of made) s.dispose();
  }
}

function checkSameDType(op: string, a: Tensor, b: Tensor): void {
  if (a.dtype !== b.dtype) {
    throw new PruneError(
      'DTYPE_MISMATCH',
      `${op}: operands have dtypes ${a.dtype} and ${b.dtype}; cast one to match, e.g. cast(x, '${a.dtype === 'float32' || b.dtype === 'float32' ? 'float32' : a.dtype}')`,
    );
  }
}

// ---------------------------------------------------------------------------------------
// cast

/**
 * Converts `x` to `dtype`. float32 → int32 truncates toward zero (NaN and ±Infinity give
 * 0 on the reference backend; values beyond the int32 range are backend-defined); any →
 * bool is `x != 0` (so NaN is true and −0 false); bool → number gives 0 or 1. Casting to
 * the same dtype returns a copy.
 * @param x - input tensor
 * @param dtype - target element type
 * @returns a new tensor of `dtype` and `x`'s shape
 */
export function cast<D extends DType>(x: Tensor, dtype: D): Tensor<D> {
  checkTensor('cast', x, 'x');
  if (!DTYPES.includes(dtype)) {
    throw new PruneError('INVALID_ARGUMENT', `cast: unknown dtype ${String(dtype)}; use one of ${DTYPES.join(', ')}`);
  }
  return run('cast', 'cast', [x], (k, r) => k(r[0], { dtype }), { shape: x.shape, dtype }) as Tensor<D>;
}

// ---------------------------------------------------------------------------------------
// unary

interface UnaryRule {
  /** Input dtypes accepted. */
  readonly accepts: readonly DType[];
  /** Output dtype: the input's, or bool. */
  readonly output: 'same' | 'bool';
}

const FLOAT_ONLY: UnaryRule = { accepts: ['float32'], output: 'same' };
const NUMERIC: UnaryRule = { accepts: ['float32', 'int32'], output: 'same' };
const PREDICATE: UnaryRule = { accepts: ['float32', 'int32'], output: 'bool' };

const UNARY_RULES: Readonly<Record<UnaryOp, UnaryRule>> = {
  abs: NUMERIC,
  neg: NUMERIC,
  square: NUMERIC,
  sign: NUMERIC,
  sqrt: FLOAT_ONLY,
  rsqrt: FLOAT_ONLY,
  exp: FLOAT_ONLY,
  log: FLOAT_ONLY,
  sigmoid: FLOAT_ONLY,
  logSigmoid: FLOAT_ONLY,
  tanh: FLOAT_ONLY,
  relu: FLOAT_ONLY,
  gelu: FLOAT_ONLY,
  silu: FLOAT_ONLY,
  reciprocal: FLOAT_ONLY,
  floor: FLOAT_ONLY,
  ceil: FLOAT_ONLY,
  round: FLOAT_ONLY,
  isNaN: PREDICATE,
  isFinite: PREDICATE,
  logicalNot: { accepts: ['bool'], output: 'bool' },
};

/** Validates and dispatches one unary op according to {@link UNARY_RULES}. */
function unary(op: UnaryOp, x: Tensor): Tensor {
  checkTensor(op, x, 'x');
  const rule = UNARY_RULES[op];
  checkDType(op, x, rule.accepts, rule.accepts.includes('bool') ? 'compare numbers with notEqual(x, 0) to get a bool mask' : "cast with cast(x, 'float32') first");
  const dtype = rule.output === 'bool' ? 'bool' : x.dtype;
  return run('unary', op, [x], (k, r) => k(r[0], { op }), { shape: x.shape, dtype });
}

/** |x| element-wise; float32 or int32 (int32 −2³¹ stays −2³¹, as two's complement wraps). */
export function abs<D extends DType>(x: Tensor<D>): Tensor<D> {
  return unary('abs', x) as Tensor<D>;
}

/** −x element-wise; float32 or int32 (int32 wraps). */
export function neg<D extends DType>(x: Tensor<D>): Tensor<D> {
  return unary('neg', x) as Tensor<D>;
}

/** x² element-wise; float32 or int32 (int32 wraps). */
export function square<D extends DType>(x: Tensor<D>): Tensor<D> {
  return unary('square', x) as Tensor<D>;
}

/** √x element-wise (float32); NaN for x < 0. */
export function sqrt(x: Tensor): Tensor<'float32'> {
  return unary('sqrt', x) as Tensor<'float32'>;
}

/** 1/√x element-wise (float32); +Infinity at 0, NaN for x < 0. */
export function rsqrt(x: Tensor): Tensor<'float32'> {
  return unary('rsqrt', x) as Tensor<'float32'>;
}

/** eˣ element-wise (float32). */
export function exp(x: Tensor): Tensor<'float32'> {
  return unary('exp', x) as Tensor<'float32'>;
}

/** Natural logarithm element-wise (float32); −Infinity at 0, NaN for x < 0. */
export function log(x: Tensor): Tensor<'float32'> {
  return unary('log', x) as Tensor<'float32'>;
}

/** Logistic sigmoid σ(x) = 1/(1 + e⁻ˣ) element-wise (float32), without overflow for large |x|. */
export function sigmoid(x: Tensor): Tensor<'float32'> {
  return unary('sigmoid', x) as Tensor<'float32'>;
}

/** log σ(x) = −softplus(−x) element-wise (float32), stable for large |x|. */
export function logSigmoid(x: Tensor): Tensor<'float32'> {
  return unary('logSigmoid', x) as Tensor<'float32'>;
}

/** Hyperbolic tangent element-wise (float32). */
export function tanh(x: Tensor): Tensor<'float32'> {
  return unary('tanh', x) as Tensor<'float32'>;
}

/** max(x, 0) element-wise (float32); NaN stays NaN. */
export function relu(x: Tensor): Tensor<'float32'> {
  return unary('relu', x) as Tensor<'float32'>;
}

/**
 * GELU in its exact form x·Φ(x) = ½·x·(1 + erf(x/√2)) element-wise (float32), not the
 * tanh approximation. gelu(−∞) = 0.
 */
export function gelu(x: Tensor): Tensor<'float32'> {
  return unary('gelu', x) as Tensor<'float32'>;
}

/** SiLU (swish) x·σ(x) element-wise (float32). silu(−∞) = 0. */
export function silu(x: Tensor): Tensor<'float32'> {
  return unary('silu', x) as Tensor<'float32'>;
}

/** −1, 0 or 1 by the sign of x element-wise; float32 or int32 (NaN stays NaN). */
export function sign<D extends DType>(x: Tensor<D>): Tensor<D> {
  return unary('sign', x) as Tensor<D>;
}

/** 1/x element-wise (float32); ±Infinity at ±0. */
export function reciprocal(x: Tensor): Tensor<'float32'> {
  return unary('reciprocal', x) as Tensor<'float32'>;
}

/** Largest integer ≤ x, element-wise (float32 result). */
export function floor(x: Tensor): Tensor<'float32'> {
  return unary('floor', x) as Tensor<'float32'>;
}

/** Smallest integer ≥ x, element-wise (float32 result). */
export function ceil(x: Tensor): Tensor<'float32'> {
  return unary('ceil', x) as Tensor<'float32'>;
}

/** Nearest integer element-wise, halves to even (2.5 → 2, 3.5 → 4), as numpy and PyTorch do. */
export function round(x: Tensor): Tensor<'float32'> {
  return unary('round', x) as Tensor<'float32'>;
}

/** bool mask of NaN elements; float32 or int32 (int32 is never NaN). */
export function isNaN(x: Tensor): Tensor<'bool'> {
  return unary('isNaN', x) as Tensor<'bool'>;
}

/** bool mask of finite elements (not NaN, not ±Infinity); float32 or int32. */
export function isFinite(x: Tensor): Tensor<'bool'> {
  return unary('isFinite', x) as Tensor<'bool'>;
}

/** Logical NOT of a bool tensor. */
export function logicalNot(x: Tensor): Tensor<'bool'> {
  return unary('logicalNot', x) as Tensor<'bool'>;
}

// ---------------------------------------------------------------------------------------
// binary

/** Validates and dispatches one broadcasting arithmetic op. */
function binary(op: BinaryOp, a: TensorOrNumber, b: TensorOrNumber): Tensor {
  return withOperands(op, [a, b], ([ta, tb]) => {
    checkSameDType(op, ta, tb);
    if (op === 'div') checkDType(op, ta, ['float32'], "integer division is not supported; cast both operands with cast(x, 'float32')");
    else checkDType(op, ta, ['float32', 'int32'], "cast bool operands with cast(x, 'float32') first");
    const outShape = broadcastAll(op, [ta.shape, tb.shape]);
    return run('binary', op, [ta, tb], (k, r) => k(r[0], r[1], { op, outShape }), { shape: outShape, dtype: ta.dtype });
  });
}

/** a + b element-wise with broadcasting; float32 or int32 (int32 wraps). Either side may be a number. */
export function add<D extends DType>(a: TensorOrNumber<D>, b: TensorOrNumber<D>): Tensor<D> {
  return binary('add', a, b) as Tensor<D>;
}

/** a − b element-wise with broadcasting; float32 or int32 (int32 wraps). Either side may be a number. */
export function sub<D extends DType>(a: TensorOrNumber<D>, b: TensorOrNumber<D>): Tensor<D> {
  return binary('sub', a, b) as Tensor<D>;
}

/** a · b element-wise with broadcasting; float32 or int32 (int32 wraps). Either side may be a number. */
export function mul<D extends DType>(a: TensorOrNumber<D>, b: TensorOrNumber<D>): Tensor<D> {
  return binary('mul', a, b) as Tensor<D>;
}

/**
 * a / b element-wise with broadcasting, float32 only (IEEE: x/0 is ±Infinity, 0/0 NaN).
 * Either side may be a number. Integer division is a `DTYPE_MISMATCH`: cast to float32.
 */
export function div(a: TensorOrNumber, b: TensorOrNumber): Tensor<'float32'> {
  return binary('div', a, b) as Tensor<'float32'>;
}

/** Element-wise maximum with broadcasting; NaN wins. Either side may be a number. */
export function maximum<D extends DType>(a: TensorOrNumber<D>, b: TensorOrNumber<D>): Tensor<D> {
  return binary('maximum', a, b) as Tensor<D>;
}

/** Element-wise minimum with broadcasting; NaN wins. Either side may be a number. */
export function minimum<D extends DType>(a: TensorOrNumber<D>, b: TensorOrNumber<D>): Tensor<D> {
  return binary('minimum', a, b) as Tensor<D>;
}

/**
 * aᵇ element-wise with broadcasting, following `Math.pow` (e.g. pow(x, 0) is 1 even for
 * NaN; a negative base with a non-integer exponent is NaN). For int32 the result is
 * truncated toward zero and is exact only while it fits in int32.
 */
export function pow<D extends DType>(a: TensorOrNumber<D>, b: TensorOrNumber<D>): Tensor<D> {
  return binary('pow', a, b) as Tensor<D>;
}

// ---------------------------------------------------------------------------------------
// comparisons

/** Validates and dispatches one broadcasting comparison or logical connective. */
function compare(op: CompareOp, a: TensorOrNumber, b: TensorOrNumber): Tensor<'bool'> {
  return withOperands(op, [a, b], ([ta, tb]) => {
    checkSameDType(op, ta, tb);
    if (op === 'logicalAnd' || op === 'logicalOr') checkDType(op, ta, ['bool'], 'compare numbers first, e.g. notEqual(x, 0)');
    const outShape = broadcastAll(op, [ta.shape, tb.shape]);
    return run('compare', op, [ta, tb], (k, r) => k(r[0], r[1], { op, outShape }), { shape: outShape, dtype: 'bool' });
  }) as Tensor<'bool'>;
}

/** a == b element-wise with broadcasting (bool); NaN equals nothing, −0 equals 0. */
export function equal(a: TensorOrNumber, b: TensorOrNumber): Tensor<'bool'> {
  return compare('equal', a, b);
}

/** a != b element-wise with broadcasting (bool); true wherever either side is NaN. */
export function notEqual(a: TensorOrNumber, b: TensorOrNumber): Tensor<'bool'> {
  return compare('notEqual', a, b);
}

/** a < b element-wise with broadcasting (bool); false wherever either side is NaN. */
export function less(a: TensorOrNumber, b: TensorOrNumber): Tensor<'bool'> {
  return compare('less', a, b);
}

/** a ≤ b element-wise with broadcasting (bool); false wherever either side is NaN. */
export function lessEqual(a: TensorOrNumber, b: TensorOrNumber): Tensor<'bool'> {
  return compare('lessEqual', a, b);
}

/** a > b element-wise with broadcasting (bool); false wherever either side is NaN. */
export function greater(a: TensorOrNumber, b: TensorOrNumber): Tensor<'bool'> {
  return compare('greater', a, b);
}

/** a ≥ b element-wise with broadcasting (bool); false wherever either side is NaN. */
export function greaterEqual(a: TensorOrNumber, b: TensorOrNumber): Tensor<'bool'> {
  return compare('greaterEqual', a, b);
}

/** Logical AND of bool tensors with broadcasting. */
export function logicalAnd(a: TensorOrNumber, b: TensorOrNumber): Tensor<'bool'> {
  return compare('logicalAnd', a, b);
}

/** Logical OR of bool tensors with broadcasting. */
export function logicalOr(a: TensorOrNumber, b: TensorOrNumber): Tensor<'bool'> {
  return compare('logicalOr', a, b);
}

// ---------------------------------------------------------------------------------------
// where

/**
 * `cond ? a : b` element-wise, broadcasting all three. `cond` is bool; `a` and `b` share
 * a dtype, and one of them may be a number (e.g. `where(mask, w, 0)`).
 * @param cond - bool selector
 * @param a - values where `cond` is true
 * @param b - values where `cond` is false
 */
export function where<D extends DType>(cond: Tensor, a: TensorOrNumber<D>, b: TensorOrNumber<D>): Tensor<D> {
  checkTensor('where', cond, 'cond');
  checkDType('where', cond, ['bool'], 'make a mask with a comparison such as greater(x, 0)');
  return withOperands('where', [a, b], ([ta, tb]) => {
    checkSameDType('where', ta, tb);
    const outShape = broadcastAll('where', [cond.shape, ta.shape, tb.shape]);
    return run('where', 'where', [cond, ta, tb], (k, r) => k(r[0], r[1], r[2], { outShape }), { shape: outShape, dtype: ta.dtype });
  }) as Tensor<D>;
}

// ---------------------------------------------------------------------------------------
// softmax

/** Options of {@link softmax} and {@link logSoftmax}. */
export interface SoftmaxOptions {
  /**
   * Axis to normalise over; negative counts from the end.
   * @defaultValue -1
   */
  axis?: number;
}

function softmaxOp(op: string, x: Tensor, options: SoftmaxOptions, log: boolean): Tensor<'float32'> {
  checkTensor(op, x, 'x');
  checkDType(op, x, ['float32'], "cast with cast(x, 'float32') first");
  if (x.rank === 0) {
    throw new PruneError('OUT_OF_RANGE', `${op}: x is a scalar and has no axis to normalise over; reshape it to [1] first`);
  }
  const requested = options.axis ?? -1;
  if (!Number.isInteger(requested)) {
    throw new PruneError('INVALID_ARGUMENT', `${op}: axis must be an integer, got ${String(requested)}`);
  }
  const axis = normalizeAxis(requested, x.rank);
  return run('softmax', op, [x], (k, r) => k(r[0], { axis, log }), { shape: x.shape, dtype: 'float32' }) as Tensor<'float32'>;
}

/**
 * Softmax e^(xᵢ − max) / Σⱼ e^(xⱼ − max) along `axis` (float32). The max is subtracted
 * first, so large logits do not overflow. −Infinity entries get probability 0; a lane that
 * is all −Infinity, or holds NaN or +Infinity, comes out all NaN.
 */
export function softmax(x: Tensor, options: SoftmaxOptions = {}): Tensor<'float32'> {
  return softmaxOp('softmax', x, options, false);
}

/**
 * log-softmax xᵢ − max − log Σⱼ e^(xⱼ − max) along `axis` (float32), computed directly
 * rather than as log(softmax(x)) so tiny probabilities keep their precision. Same NaN
 * rules as {@link softmax}.
 */
export function logSoftmax(x: Tensor, options: SoftmaxOptions = {}): Tensor<'float32'> {
  return softmaxOp('logSoftmax', x, options, true);
}
