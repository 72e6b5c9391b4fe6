import type { Shape } from '../shape.js';
import { sizeOf, stridesOf } from '../shape.js';

/**
 * How to walk an iteration space of several operands at once: the space's axes merged
 * wherever every operand is contiguous across them (size-1 axes dropped), each operand's
 * element stride per merged axis (0 where the operand is broadcast along it). The last
 * merged axis is the inner run that kernels loop over tightly.
 */
export interface StridedPlan {
  /** Extents of the merged axes; at least one entry. */
  readonly dims: readonly number[];
  /** `strides[k][i]`: stride of operand `k` along merged axis `i`. */
  readonly strides: readonly (readonly number[])[];
  /** Number of points in the iteration space. */
  readonly size: number;
}

/**
 * Strides of an operand of `shape` read as if broadcast to `outShape` (numpy rules, already
 * checked by the op): 0 along axes where the operand has extent 1 or is missing.
 */
export function broadcastStrides(shape: Shape, outShape: Shape): number[] {
  const rank = outShape.length;
  const own = stridesOf(shape);
  const strides = new Array<number>(rank).fill(0);
  for (let i = 0; i < shape.length; i++) {
    if (shape[i] !== 1) strides[rank - shape.length + i] = own[i];
  }
  return strides;
}

/**
 * Plans a walk over `shape` for operands with the given per-axis strides (one array of
 * `shape.length` strides per operand). Adjacent axes merge when every operand steps
 * through them as through one axis, so equal shapes become a single run and a scalar
 * operand a single run with stride 0.
 */
export function stridedPlan(shape: Shape, operandStrides: readonly (readonly number[])[]): StridedPlan {
  const dims: number[] = [];
  const strides: number[][] = operandStrides.map(() => []);
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i];
    if (d === 1) continue;
    const last = dims.length - 1;
    if (last >= 0 && operandStrides.every((st, k) => strides[k][last] === st[i] * d)) {
      dims[last] *= d;
      for (let k = 0; k < strides.length; k++) strides[k][last] = operandStrides[k][i];
    } else {
      dims.push(d);
      for (let k = 0; k < strides.length; k++) strides[k].push(operandStrides[k][i]);
    }
  }
  if (dims.length === 0) {
    dims.push(1);
    for (const st of strides) st.push(0);
  }
  return { dims, strides, size: sizeOf(shape) };
}

/**
 * Plans an element-wise walk over `outShape`: operand 0 is the (contiguous) output, then
 * one operand per entry of `inShapes`, broadcast to `outShape`.
 */
export function broadcastPlan(outShape: Shape, inShapes: readonly Shape[]): StridedPlan {
  return stridedPlan(outShape, [stridesOf(outShape), ...inShapes.map((s) => broadcastStrides(s, outShape))]);
}

/**
 * Calls `visit(offsets, n)` once per inner run of `plan`, in row-major order of the
 * iteration space: `offsets[k]` is operand `k`'s element offset at the start of the run
 * and `n` the run length (the operand then advances by its inner stride per element).
 * The `offsets` array is reused between calls; read it, do not keep it.
 */
export function forEachRun(plan: StridedPlan, visit: (offsets: readonly number[], n: number) => void): void {
  if (plan.size === 0) return;
  const { dims, strides } = plan;
  const outerRank = dims.length - 1;
  const n = dims[outerRank];
  const operands = strides.length;
  const offsets = new Array<number>(operands).fill(0);
  const counter = new Array<number>(outerRank).fill(0);
  const runs = plan.size / n;
  for (let run = 0; run < runs; run++) {
    visit(offsets, n);
    // Odometer over the outer merged axes, updating offsets incrementally.
    for (let axis = outerRank - 1; axis >= 0; axis--) {
      counter[axis]++;
      for (let k = 0; k < operands; k++) offsets[k] += strides[k][axis];
      if (counter[axis] < dims[axis]) break;
      for (let k = 0; k < operands; k++) offsets[k] -= strides[k][axis] * dims[axis];
      counter[axis] = 0;
    }
  }
}

/** The inner-run stride of operand `k` in `plan`. */
export function innerStride(plan: StridedPlan, k: number): number {
  return plan.strides[k][plan.dims.length - 1];
}

/**
 * Splits `shape` around `axis` into `[outer, n, inner]`: the product of the axes before
 * it, its extent, and the product of the axes after it (the stride of `axis`).
 */
export function splitAtAxis(shape: Shape, axis: number): [number, number, number] {
  return [sizeOf(shape.slice(0, axis)), shape[axis], sizeOf(shape.slice(axis + 1))];
}
