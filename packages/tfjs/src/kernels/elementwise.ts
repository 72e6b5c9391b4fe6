import { type BinaryOp, type CompareOp, type DType, type Kernels, type Shape, type UnaryOp, referenceBackend } from '@prune/core';
import * as tf from '@tensorflow/tfjs-core';
import { type Ref, constant, fromHost, select, share, toHost } from './util.js';

const ref = referenceBackend.kernels;
const TWO_POW_31 = 2147483648;
const TWO_POW_32 = 4294967296;
const TWO_POW_23 = 8388608;

/**
 * float32 → int32 the way `Int32Array` stores a number: truncation toward zero, NaN and
 * ±Infinity to 0, values beyond ±2³¹ wrapped modulo 2³². tfjs-wasm's cast is a C cast,
 * undefined outside int32 range, so the wrap is done in float32 first (exact there: such
 * values are multiples of 256).
 */
function floatToInt32(x: tf.Tensor): tf.Tensor {
  const finite = tf.where(tf.isFinite(x), x, tf.zerosLike(x));
  const shifted = tf.add(finite, constant(TWO_POW_31));
  const wrapped = tf.sub(finite, tf.mul(tf.floor(tf.div(shifted, constant(TWO_POW_32))), constant(TWO_POW_32)));
  const inRange = tf.less(tf.abs(finite), constant(TWO_POW_31));
  return tf.cast(tf.where(inRange, finite, wrapped), 'int32');
}

function cast(x: Ref, attrs: { dtype: DType }): tf.Tensor {
  const to = attrs.dtype;
  if (x.dtype === to) return share(x.handle);
  // `!= 0` keeps NaN true and −0 false, as the reference does.
  if (to === 'bool') return tf.notEqual(x.handle, tf.zerosLike(x.handle));
  if (to === 'int32' && x.dtype === 'float32') return floatToInt32(x.handle);
  const y = tf.cast(x.handle, to);
  // tfjs-cpu relabels int32 storage as float32 without rounding; adding 0 stores it in a
  // Float32Array, as the reference does.
  return to === 'float32' ? tf.add(y, constant(0)) : y;
}

/**
 * erfc(z) for z ≥ 0 with fractional error below 1.2e-7 everywhere (Numerical Recipes'
 * `erfcc` Chebyshev fit), so the far tail keeps its relative accuracy, unlike 1 − erf.
 */
function erfcNonNegative(z: tf.Tensor): tf.Tensor {
  const t = tf.div(constant(1), tf.add(constant(1), tf.mul(constant(0.5), z)));
  const coefficients = [1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807, -1.13520398, 1.48851587, -0.82215223, 0.17087277];
  let poly = constant(coefficients[coefficients.length - 1]);
  for (let i = coefficients.length - 2; i >= 0; i--) poly = tf.add(constant(coefficients[i]), tf.mul(t, poly));
  const exponent = tf.add(tf.sub(tf.neg(tf.square(z)), constant(1.26551223)), tf.mul(t, poly));
  return tf.mul(t, tf.exp(exponent));
}

/** Exact GELU x·Φ(x) = ½·x·erfc(−x/√2), with limit 0 at −∞. */
function gelu(x: tf.Tensor): tf.Tensor {
  const z = tf.mul(x, constant(-Math.SQRT1_2));
  const tail = erfcNonNegative(tf.abs(z));
  const erfcZ = tf.where(tf.less(z, constant(0)), tf.sub(constant(2), tail), tail);
  const y = tf.mul(tf.mul(constant(0.5), x), erfcZ);
  return tf.where(tf.equal(x, constant(-Infinity)), tf.zerosLike(x), y);
}

/** Round half to even, built from floor so no backend's rounding mode matters. */
function roundHalfEven(x: tf.Tensor): tf.Tensor {
  const f = tf.floor(x);
  const d = tf.sub(x, f);
  const odd = tf.notEqual(tf.sub(f, tf.mul(constant(2), tf.floor(tf.div(f, constant(2))))), constant(0));
  const up = tf.add(f, constant(1));
  const half = tf.where(odd, up, f);
  const r = tf.where(tf.greater(d, constant(0.5)), up, tf.where(tf.less(d, constant(0.5)), f, half));
  // From 2²³ on every float32 is an integer already.
  return tf.where(tf.greaterEqual(tf.abs(x), constant(TWO_POW_23)), x, r);
}

function unary(x: Ref, attrs: { op: UnaryOp }): tf.Tensor {
  const h = x.handle;
  const { op } = attrs;
  if (x.dtype === 'bool' && op !== 'logicalNot' && op !== 'isNaN' && op !== 'isFinite') {
    return fromHost(ref.unary(toHost(x), attrs), x.shape, x.dtype);
  }
  switch (op) {
    // tfjs-cpu's int32 abs and tfjs-wasm's int32 neg go through float32; subtraction is exact.
    case 'abs': return x.dtype === 'int32' ? tf.where(tf.less(h, constant(0, 'int32')), tf.sub(constant(0, 'int32'), h), h) : tf.abs(h);
    case 'neg': return x.dtype === 'int32' ? tf.sub(constant(0, 'int32'), h) : tf.neg(h);
    case 'square':
      // int32 squares wrap like Math.imul; tfjs-cpu rounds products beyond 2^53 first.
      if (x.dtype === 'int32') return fromHost(ref.unary(toHost(x), attrs), x.shape, 'int32');
      return tf.square(h);
    case 'sqrt': return tf.sqrt(h);
    case 'rsqrt': return tf.div(constant(1), tf.sqrt(h));
    case 'exp': return tf.exp(h);
    case 'log': return tf.log(h);
    case 'sigmoid': return tf.sigmoid(h);
    case 'logSigmoid': return tf.neg(tf.softplus(tf.neg(h)));
    case 'tanh': return tf.tanh(h);
    case 'relu': return tf.where(tf.less(h, constant(0)), tf.zerosLike(h), h);
    case 'gelu': return gelu(h);
    case 'silu': {
      const y = tf.mul(h, tf.sigmoid(h));
      return tf.where(tf.equal(h, constant(-Infinity)), tf.zerosLike(h), y);
    }
    case 'sign':
      if (x.dtype === 'int32') return tf.sign(h);
      return tf.where(tf.isNaN(h), h, tf.sign(h));
    case 'reciprocal': return tf.div(constant(1), h);
    case 'floor': return tf.floor(h);
    case 'ceil': return tf.ceil(h);
    case 'round': return roundHalfEven(h);
    case 'isNaN': return x.dtype === 'float32' ? tf.isNaN(h) : tf.zeros([...x.shape], 'bool');
    case 'isFinite': return x.dtype === 'float32' ? tf.isFinite(h) : tf.ones([...x.shape], 'bool');
    case 'logicalNot': return tf.logicalNot(h);
  }
}

function broadcast(h: tf.Tensor, shape: Shape): tf.Tensor {
  return h.shape.join() === shape.join() ? h : tf.broadcastTo(h, [...shape]);
}

/** `Math.pow` semantics: x^NaN is NaN, and (±1)^±∞ is NaN (C's pow gives 1 for both). */
function powJs(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  const y = tf.pow(a, b);
  const unitInf = tf.logicalAnd(tf.equal(tf.abs(a), constant(1)), tf.logicalNot(tf.isFinite(b)));
  const nan = tf.logicalOr(tf.isNaN(b), tf.logicalAnd(unitInf, tf.logicalNot(tf.isNaN(b))));
  return tf.where(broadcast(nan, y.shape), constant(NaN), y);
}

function binary(a: Ref, b: Ref, attrs: { op: BinaryOp; outShape: Shape }): tf.Tensor {
  const { op, outShape } = attrs;
  const int = a.dtype === 'int32';
  // int32 mul/div/pow wrap or truncate exactly as Int32Array stores a float64 result; tfjs
  // floors int32 division and rounds large products, so these run on the host. bool
  // arithmetic stores raw bytes in the reference; it runs there too.
  if (a.dtype === 'bool' || (int && (op === 'mul' || op === 'div' || op === 'pow'))) {
    return fromHost(ref.binary(toHost(a), toHost(b), attrs), outShape, a.dtype);
  }
  const x = a.handle;
  const y = b.handle;
  let out: tf.Tensor;
  switch (op) {
    case 'add': out = tf.add(x, y); break;
    case 'sub': out = tf.sub(x, y); break;
    case 'mul': out = tf.mul(x, y); break;
    case 'div': out = tf.div(x, y); break;
    case 'maximum':
    case 'minimum': {
      const m = op === 'maximum' ? tf.maximum(x, y) : tf.minimum(x, y);
      // Math.max/min propagate NaN; some backends' max/min do not.
      out = int ? m : tf.where(tf.logicalOr(tf.isNaN(broadcast(x, outShape)), tf.isNaN(broadcast(y, outShape))), constant(NaN), m);
      break;
    }
    case 'pow': out = powJs(x, y); break;
  }
  return broadcast(out, outShape);
}

function compare(a: Ref, b: Ref, attrs: { op: CompareOp; outShape: Shape }): tf.Tensor {
  const { op, outShape } = attrs;
  let x = a.handle;
  let y = b.handle;
  if (op === 'logicalAnd' || op === 'logicalOr') {
    if (a.dtype !== 'bool') x = tf.notEqual(x, tf.zerosLike(x));
    if (b.dtype !== 'bool') y = tf.notEqual(y, tf.zerosLike(y));
    return broadcast(op === 'logicalAnd' ? tf.logicalAnd(x, y) : tf.logicalOr(x, y), outShape);
  }
  if (a.dtype === 'bool') x = tf.cast(x, 'int32');
  if (b.dtype === 'bool') y = tf.cast(y, 'int32');
  let out: tf.Tensor;
  switch (op) {
    case 'equal': out = tf.equal(x, y); break;
    case 'notEqual': out = tf.notEqual(x, y); break;
    case 'less': out = tf.less(x, y); break;
    case 'lessEqual': out = tf.lessEqual(x, y); break;
    case 'greater': out = tf.greater(x, y); break;
    case 'greaterEqual': out = tf.greaterEqual(x, y); break;
  }
  return broadcast(out, outShape);
}

function where(cond: Ref, a: Ref, b: Ref, attrs: { outShape: Shape }): tf.Tensor {
  const { outShape } = attrs;
  const c = cond.dtype === 'bool' ? cond.handle : tf.notEqual(cond.handle, tf.zerosLike(cond.handle));
  return select(broadcast(c, outShape), broadcast(a.handle, outShape), broadcast(b.handle, outShape));
}

/**
 * Softmax along `axis` with the max subtracted. As in the reference, NaN anywhere in the
 * lane, a +∞, or a lane of only −∞ makes the whole lane NaN.
 */
function softmax(x: Ref, attrs: { axis: number; log: boolean }): tf.Tensor {
  const h = x.dtype === 'float32' ? x.handle : tf.cast(x.handle, 'float32');
  if (h.size === 0) return share(h);
  const { axis } = attrs;
  const anyNaN = tf.any(tf.isNaN(h), axis, true);
  const max = tf.where(anyNaN, constant(NaN), tf.max(h, axis, true));
  const shifted = tf.sub(h, max);
  const sum = tf.sum(tf.exp(shifted), axis, true);
  return attrs.log ? tf.sub(shifted, tf.log(sum)) : tf.div(tf.exp(shifted), sum);
}

/** Element-wise kernels, softmax and casts over tfjs ops. */
export const elementwiseKernels: Pick<Kernels<tf.Tensor>, 'cast' | 'unary' | 'binary' | 'compare' | 'where' | 'softmax'> = {
  cast,
  unary,
  binary,
  compare,
  where,
  softmax,
};
