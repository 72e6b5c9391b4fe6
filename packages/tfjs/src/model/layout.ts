import { PruneError } from '@prune/core';

/**
 * How a tfjs kernel is viewed as the `[d_out, d_in]` matrix a weight pruner works on.
 *
 * - `'inOut'`: the kernel is `[...spatial, in, out]` — a Dense kernel `[in, out]`, a Conv1D
 *   kernel `[k, in, out]`, a Conv2D kernel `[kh, kw, in, out]` (also a graph's MatMul weight
 *   and Conv2D filter). The matrix is `[out, prod(spatial)·in]`: row `o` holds every weight
 *   feeding output `o`, column `(dy·kw + dx)·in + c` matches the im2col patch layout.
 * - `'outIn'`: the kernel is already `[out, in]` (a graph MatMul with `transpose_b`).
 * - `'depthwise'`: a depthwise kernel `[kh, kw, in, multiplier]`. Output channel
 *   `c·multiplier + m` sees only input channel `c`, so the matrix is
 *   `[in·multiplier, kh·kw]`: one row per output channel, one column per spatial tap.
 */
export type KernelView = 'inOut' | 'outIn' | 'depthwise';

/** Number of trailing kernel axes that form the matrix rows under `view`. */
function rowAxes(view: KernelView): number {
  return view === 'depthwise' ? 2 : 1;
}

/**
 * The `[d_out, d_in]` shape of a kernel of shape `kernelShape` under `view`.
 *
 * @param kernelShape - the kernel's tfjs shape
 * @param view - how it is viewed
 * @returns `[d_out, d_in]`
 * @throws PruneError `SHAPE_MISMATCH` when the kernel's rank does not fit the view
 */
export function matrixShapeOf(kernelShape: readonly number[], view: KernelView): [number, number] {
  if (view === 'outIn') {
    if (kernelShape.length !== 2) throw new PruneError('SHAPE_MISMATCH', `an [out, in] weight must have rank 2, got [${kernelShape.join(', ')}]`);
    return [kernelShape[0], kernelShape[1]];
  }
  const trailing = rowAxes(view);
  const minRank = view === 'depthwise' ? 3 : 2;
  if (kernelShape.length < minRank) {
    throw new PruneError('SHAPE_MISMATCH', `a ${view === 'depthwise' ? 'depthwise kernel [kh, kw, in, multiplier]' : 'kernel [..., in, out]'} needs rank ≥ ${minRank}, got [${kernelShape.join(', ')}]`);
  }
  const split = kernelShape.length - trailing;
  const rows = kernelShape.slice(split).reduce((a, b) => a * b, 1);
  // inOut: rows = out, columns = prod(spatial)·in; depthwise: rows = in·multiplier, columns = kh·kw.
  const columns = kernelShape.slice(0, split).reduce((a, b) => a * b, 1);
  return [rows, columns];
}

/** Transposes a row-major `[rows, columns]` block into a new array `[columns, rows]`. */
function transpose(values: Float32Array, rows: number, columns: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let r = 0; r < rows; r++) {
    const base = r * columns;
    for (let c = 0; c < columns; c++) out[c * rows + r] = values[base + c];
  }
  return out;
}

function checkLength(values: Float32Array, kernelShape: readonly number[], what: string): void {
  const size = kernelShape.reduce((a, b) => a * b, 1);
  if (values.length !== size) {
    throw new PruneError('SHAPE_MISMATCH', `${what}: ${values.length} values do not fill a kernel of shape [${kernelShape.join(', ')}] (${size} elements)`);
  }
}

/**
 * The `[d_out, d_in]` matrix of a kernel, row-major, in a new array. Every element is copied
 * unchanged, so {@link kernelFromMatrix} restores the kernel bit for bit.
 *
 * @param kernel - the kernel's elements in tfjs (row-major) order
 * @param kernelShape - the kernel's shape
 * @param view - how it is viewed
 * @returns the matrix' elements, `d_out · d_in` of them
 */
export function matrixFromKernel(kernel: Float32Array, kernelShape: readonly number[], view: KernelView): Float32Array {
  checkLength(kernel, kernelShape, 'matrixFromKernel');
  const [rows, columns] = matrixShapeOf(kernelShape, view);
  if (view === 'outIn') return kernel.slice();
  // The kernel read row-major is [columns, rows] of the matrix: transpose it.
  return transpose(kernel, columns, rows);
}

/**
 * The kernel (tfjs layout) of a `[d_out, d_in]` matrix: the inverse of
 * {@link matrixFromKernel}.
 *
 * @param matrix - the matrix' elements, row-major
 * @param kernelShape - the kernel's shape
 * @param view - how it is viewed
 * @returns the kernel's elements in tfjs order, in a new array
 */
export function kernelFromMatrix(matrix: Float32Array, kernelShape: readonly number[], view: KernelView): Float32Array {
  checkLength(matrix, kernelShape, 'kernelFromMatrix');
  const [rows, columns] = matrixShapeOf(kernelShape, view);
  if (view === 'outIn') return matrix.slice();
  return transpose(matrix, rows, columns);
}
