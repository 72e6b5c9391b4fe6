import { HessianAccumulator, PruneError, Tensor, dispose, fromArray, matmul, referenceBackend } from '@prune/core';
import { simdAvailable, simdMatmul } from '@prune/core/wasm';
import type { AccumulatorOptions, Backend, PrunableLayer } from '@prune/core';
import type { PrunedLayer, PruningMethod, SparsityTarget } from './method.js';
import {
  type Gemm,
  type LazyUpdateProduct,
  type SparseGPTPattern,
  sparsegptBlocks,
  upperCholeskyOfInverse,
  upperCholeskyOfInverseBlocked,
} from './sparsegpt-kernels.js';

// Order of Hessian above which the factor is computed by recursive halving (matrix products)
// instead of the host's float64 loops, where a fast matrix product is at hand.
const BLOCKED_FACTOR_MIN = 512;

/**
 * The matrix product SparseGPT's factor and lazy updates run on: WebAssembly SIMD on the host
 * for backends that compute there (no copies through the backend), else the backend's own
 * matmul; undefined on the reference backend without WebAssembly SIMD, whose matmul is no
 * faster than the host loops here.
 */
function gemmFor(backend: Backend): Gemm | undefined {
  const native: Gemm = (a, b, m, k, n) => {
    const ta = fromArray(a, [m, k], 'float32', { backend });
    const tb = fromArray(b, [k, n], 'float32', { backend });
    const c = matmul(ta, tb);
    try {
      return c.dataSync() as Float32Array;
    } finally {
      dispose([ta, tb, c]);
    }
  };
  if (backend.onHost === true && simdAvailable()) return (a, b, m, k, n, structure) => simdMatmul(a, b, m, k, n, structure) ?? native(a, b, m, k, n);
  return backend === referenceBackend ? undefined : native;
}

/** Options of {@link sparsegptPrune} and {@link sparsegpt}. */
export interface SparseGPTOptions {
  /**
   * B, the number of columns pruned and updated together before the lazy update of the
   * columns to their right (the reference's `blocksize`). The unstructured mask is chosen
   * per block; with N:M it must be a multiple of M.
   * @defaultValue 128
   */
  blockSize?: number;
  /**
   * Dampening as a fraction of the mean Hessian diagonal: H += percdamp·mean(diag H)·I
   * before inversion (the reference's `percdamp`). Raise it when the Hessian is not positive
   * definite (too few calibration tokens for d_in, or collinear inputs).
   * @defaultValue 0.01
   */
  percdamp?: number;
  /**
   * How error messages name the layer, e.g. its checkpoint key.
   * @defaultValue `'weight'`
   */
  name?: string;
}

/** What {@link sparsegptInverseHessian} returns, on the Hessian's backend. */
export interface SparseGPTInverseHessian {
  /**
   * U, the upper Cholesky factor of the damped H⁻¹ (H⁻¹ = Uᵀ·U), float32 `[d_in, d_in]` —
   * the reference's `Hinv`. Row i holds the update direction of column i, U[i,i] its scale.
   */
  readonly factor: Tensor<'float32'>;
  /** bool `[d_in]`: true where H_jj = 0 (an input that never fired; its weights are zeroed). */
  readonly dead: Tensor<'bool'>;
}

interface Prepared {
  factor: Float32Array;
  dead: Uint8Array;
}

function checkMatrix(op: string, value: unknown, what: string): asserts value is Tensor<'float32'> {
  if (!(value instanceof Tensor)) throw new PruneError('INVALID_ARGUMENT', `${op}: ${what} must be a Tensor, got ${value === null ? 'null' : typeof value}`);
  if (value.dtype !== 'float32') throw new PruneError('DTYPE_MISMATCH', `${op}: ${what} must be float32, got ${value.dtype}; cast it with cast(${what}, 'float32')`);
  if (value.rank !== 2) throw new PruneError('SHAPE_MISMATCH', `${op}: ${what} must be a matrix, got shape [${value.shape.join(', ')}]`);
}

function checkPercdamp(op: string, percdamp: unknown): number {
  if (typeof percdamp !== 'number' || !Number.isFinite(percdamp) || percdamp < 0) {
    throw new PruneError('OUT_OF_RANGE', `${op}: percdamp must be a finite number ≥ 0 (0.01 in the reference), got ${String(percdamp)}`);
  }
  return percdamp;
}

function checkName(op: string, name: unknown): string {
  if (name === undefined) return 'weight';
  if (typeof name !== 'string') throw new PruneError('INVALID_ARGUMENT', `${op}: name must be a string, got ${typeof name}`);
  return name;
}

/**
 * Validates a sparsity target for a layer with `columns` inputs and a block of `blockSize`;
 * returns it in the kernels' form.
 */
function checkTarget(op: string, target: unknown, columns: number, blockSize: number): SparseGPTPattern {
  const t = target as SparsityTarget | undefined;
  if (t === null || typeof t !== 'object') {
    throw new PruneError('INVALID_ARGUMENT', `${op}: target must be { kind: 'unstructured', sparsity } or { kind: 'nm', prune, group }, got ${String(target)}`);
  }
  if (t.kind === 'unstructured') {
    const s = t.sparsity;
    if (typeof s !== 'number' || !Number.isFinite(s) || s < 0 || s >= 1) {
      throw new PruneError('OUT_OF_RANGE', `${op}: sparsity must be a finite number in [0, 1) (the fraction of weights to prune), got ${String(s)}`);
    }
    return { kind: 'unstructured', sparsity: s };
  }
  if (t.kind === 'nm') {
    const { prune, group } = t;
    if (!Number.isInteger(group) || group < 1 || !Number.isInteger(prune) || prune < 0 || prune >= group) {
      throw new PruneError('OUT_OF_RANGE', `${op}: N:M needs integers 0 ≤ prune < group (e.g. prune 2 of every group of 4), got prune ${String(prune)}, group ${String(group)}`);
    }
    if (columns % group !== 0) {
      throw new PruneError('SHAPE_MISMATCH', `${op}: N:M groups of ${group} must tile the ${columns} input columns; use a group size that divides d_in`);
    }
    if (blockSize % group !== 0) {
      throw new PruneError('INVALID_ARGUMENT', `${op}: blockSize ${blockSize} must be a multiple of the N:M group size ${group}, so no group straddles two blocks`);
    }
    return { kind: 'nm', prune, group };
  }
  throw new PruneError('INVALID_ARGUMENT', `${op}: unknown target kind ${String((t as { kind?: unknown }).kind)}; use 'unstructured' or 'nm'`);
}

/**
 * Dead inputs, damping and the inverse-Hessian factor on the host, as the reference does
 * before its block loop. Throws `NOT_POSITIVE_DEFINITE` with what to change.
 */
function prepare(op: string, hessian: Tensor<'float32'>, percdamp: number, name: string, blockedMin = BLOCKED_FACTOR_MIN): Prepared {
  const n = hessian.shape[0];
  const h = hessian.dataSync() as Float32Array;
  let trace = 0;
  const dead = new Uint8Array(n);
  for (let j = 0; j < n; j++) {
    const d = h[j * n + j];
    if (!Number.isFinite(d)) break;
    if (d === 0) dead[j] = 1;
    trace += d === 0 ? 1 : d;
  }
  for (let i = 0; i < h.length; i++) {
    if (!Number.isFinite(h[i])) {
      throw new PruneError('NON_FINITE', `${op}: the Hessian of ${name} holds NaN or Infinity; check the layer inputs it was accumulated from`);
    }
  }
  // The reference sets H_jj = 1 for dead inputs, then adds damp = percdamp·mean(diag H) in float32.
  const damp = Math.fround(percdamp * Math.fround(trace / n));
  const work = Float32Array.from(h);
  for (let j = 0; j < n; j++) {
    if (dead[j]) {
      work[j * n + j] = 1;
      // H[dead, dead] = 1 in the reference is diagonal-only; off-diagonal entries of a dead
      // input are 0 already, since its column of X is all zeros.
    }
    work[j * n + j] = Math.fround(work[j * n + j] + damp);
  }
  const gemm = gemmFor(hessian.backend);
  const result = gemm !== undefined && n >= blockedMin ? upperCholeskyOfInverseBlocked(work, n, gemm) : upperCholeskyOfInverse(work, n);
  if ('pivot' in result) {
    throw new PruneError(
      'NOT_POSITIVE_DEFINITE',
      `${op}: the damped Hessian of ${name} (${n}×${n}) is not positive definite (failed at input column ${result.pivot}); raise percdamp (now ${percdamp}, try 0.1) or add calibration data — at least d_in = ${n} tokens of varied input`,
    );
  }
  return { factor: result.factor, dead };
}

/**
 * The inverse-Hessian factor SparseGPT prunes with: dead inputs (H_jj = 0) get H_jj = 1,
 * H += percdamp·mean(diag H)·I, then U with H⁻¹ = Uᵀ·U (upper triangular) — the reference's
 * `Hinv`. Computed on the host in float64 from one Cholesky factorisation and one triangular
 * inverse (see {@link sparsegptPrune}).
 *
 * @param hessian - float32 `[d_in, d_in]` H = (2/N)·XᵀX, e.g. from {@link HessianAccumulator}
 * @param options - percdamp and the name used in messages
 * @returns U and the dead-input mask, on the Hessian's backend; the caller disposes them
 * @throws `NOT_POSITIVE_DEFINITE` when H stays indefinite after damping; `NON_FINITE` for
 *   NaN/Infinity in H; `SHAPE_MISMATCH` when H is not square
 */
export function sparsegptInverseHessian(hessian: Tensor<'float32'>, options: Omit<SparseGPTOptions, 'blockSize'> = {}): SparseGPTInverseHessian {
  const op = 'sparsegptInverseHessian';
  checkMatrix(op, hessian, 'hessian');
  if (hessian.shape[0] !== hessian.shape[1]) {
    throw new PruneError('SHAPE_MISMATCH', `${op}: the Hessian must be square [d_in, d_in], got [${hessian.shape.join(', ')}]`);
  }
  const n = hessian.shape[0];
  const prepared = prepare(op, hessian, checkPercdamp(op, options.percdamp ?? 0.01), checkName(op, options.name));
  return {
    factor: fromArray(prepared.factor, [n, n], 'float32', { backend: hessian.backend }),
    dead: fromArray(prepared.dead, [n], 'bool', { backend: hessian.backend }),
  };
}

/**
 * SparseGPT (Frantar & Alistarh, 2023, "SparseGPT: Massive Language Models Can Be
 * Accurately Pruned in One-Shot"; IST-DASLab/sparsegpt `fasterprune`): prunes `weight` to
 * `target` and updates the surviving weights of each row to compensate, using the layer's
 * Hessian H = (2/N)·XᵀX.
 *
 * Steps, as the reference: dead inputs (H_jj = 0 → H_jj = 1, W[:, j] = 0); damping
 * H += percdamp·mean(diag H)·I; U = upper Cholesky factor of H⁻¹; then blocks of B columns
 * [i1, i2): the block's unstructured mask prunes W1²/diag(U1)² ≤ its value at
 * floor(numel·s) over the whole block (all rows together) — N:M instead prunes, at every
 * in-block column i with i % M = 0, the N smallest of that score over the next M columns
 * of each row; column by column, err = (w − q)/U[i,i] with q = w with pruned entries
 * zeroed, and the rest of the block absorbs −err·U[i, i:]; after the block the columns to
 * its right absorb −Err1·U[i1:i2, i2:].
 *
 * Precision and speed: the weights stay float32 as in the reference; U is computed in
 * float64 from one Cholesky factorisation of the reversed H and one triangular inverse
 * (half the multiply-adds of the reference's cholesky → cholesky_inverse → cholesky chain,
 * identical in exact arithmetic). The work runs on the host in typed-array loops over
 * contiguous rows; the result is uploaded to `weight`'s backend.
 *
 * Departure from the reference: at sparsity 0 nothing is pruned (the reference's
 * `tmp <= sorted[0]` would still prune each block's minimum).
 *
 * @param weight - float32 `[d_out, d_in]`; not modified
 * @param hessian - float32 `[d_in, d_in]`, e.g. {@link HessianAccumulator.value}
 * @param target - unstructured sparsity or N:M (prune `prune` of every `group`)
 * @param options - block size, damping, name for messages
 * @returns the pruned, updated weight and the keep mask, on `weight`'s backend
 * @throws `NOT_POSITIVE_DEFINITE` when H is not positive definite even after damping (raise
 *   percdamp or add calibration data); `SHAPE_MISMATCH` when H is not `[d_in, d_in]` or N:M
 *   groups do not tile d_in; `OUT_OF_RANGE` for a bad sparsity, N:M or percdamp;
 *   `NON_FINITE` for NaN/Infinity in the weight or H
 *
 * @example
 * ```ts
 * const H = new HessianAccumulator(768);
 * for (const x of inputs) H.update(x);
 * const { weight, mask } = sparsegptPrune(w, H.value(), { kind: 'unstructured', sparsity: 0.5 });
 * ```
 */
export function sparsegptPrune(weight: Tensor<'float32'>, hessian: Tensor<'float32'>, target: SparsityTarget, options: SparseGPTOptions = {}): PrunedLayer {
  const op = 'sparsegptPrune';
  checkMatrix(op, weight, 'weight');
  checkMatrix(op, hessian, 'hessian');
  if (options === null || typeof options !== 'object') throw new PruneError('INVALID_ARGUMENT', `${op}: options must be an object such as { blockSize: 128, percdamp: 0.01 }`);
  const name = checkName(op, options.name);
  const [rows, cols] = weight.shape;
  if (hessian.shape[0] !== cols || hessian.shape[1] !== cols) {
    throw new PruneError(
      'SHAPE_MISMATCH',
      `${op}: ${name} is [${rows}, ${cols}] so its Hessian must be [${cols}, ${cols}], got [${hessian.shape.join(', ')}]; accumulate it from this layer's inputs`,
    );
  }
  const blockSize = options.blockSize ?? 128;
  if (!Number.isInteger(blockSize) || blockSize < 1) {
    throw new PruneError('OUT_OF_RANGE', `${op}: blockSize must be a positive integer (128 in the reference), got ${String(blockSize)}`);
  }
  const pattern = checkTarget(op, target, cols, blockSize);
  const percdamp = checkPercdamp(op, options.percdamp ?? 0.01);
  const w = weight.dataSync() as Float32Array;
  for (let i = 0; i < w.length; i++) {
    if (!Number.isFinite(w[i])) {
      throw new PruneError('NON_FINITE', `${op}: ${name} holds NaN or Infinity at row ${Math.floor(i / cols)}, column ${i % cols}; fix the checkpoint before pruning`);
    }
  }
  const { factor, dead } = prepare(op, hessian, percdamp, name);
  for (let j = 0; j < cols; j++) {
    if (!dead[j]) continue;
    for (let r = 0; r < rows; r++) w[r * cols + j] = 0;
  }
  const block = Math.min(blockSize, Math.max(cols, 1));
  // The lazy batch update is a [rows, B]·[B, tail] product per block — most of the work. A
  // fast matrix product (WebAssembly SIMD, a backend's native matmul) does it far faster than
  // the host loop, which otherwise runs over the non-zero errors.
  const gemm = gemmFor(weight.backend);
  const product: LazyUpdateProduct | undefined =
    gemm === undefined || cols <= block
      ? undefined
      : (err, i1, i2) => {
          const count = i2 - i1;
          const tail = cols - i2;
          const part = new Float32Array(count * tail);
          for (let c = 0; c < count; c++) part.set(factor.subarray((i1 + c) * cols + i2, (i1 + c + 1) * cols), c * tail);
          return gemm(err, part, rows, count, tail);
        };
  const keep = sparsegptBlocks(w, rows, cols, factor, pattern, block, product);
  return {
    weight: fromArray(w, [rows, cols], 'float32', { backend: weight.backend }),
    mask: fromArray(keep, [rows, cols], 'bool', { backend: weight.backend }),
  };
}

/** Options of the {@link sparsegpt} method: the pruning options plus the Hessian's accumulation. */
export interface SparseGPTMethodOptions extends SparseGPTOptions {
  /**
   * How each layer's {@link HessianAccumulator} weighs and accumulates batches.
   * @defaultValue `{}` (per-sequence weighting in float32, as the reference)
   */
  accumulator?: AccumulatorOptions;
}

/**
 * SparseGPT as a {@link PruningMethod}: each layer's statistic is a
 * {@link HessianAccumulator} over its inputs, and {@link sparsegptPrune} prunes it.
 * @param options - block size, damping and accumulation
 * @returns the method, named `sparsegpt`
 * @example
 * ```ts
 * const method = sparsegpt({ blockSize: 128, percdamp: 0.01 });
 * ```
 */
export function sparsegpt(options: SparseGPTMethodOptions = {}): PruningMethod<HessianAccumulator> {
  const op = 'sparsegpt';
  checkPercdamp(op, options.percdamp ?? 0.01);
  const blockSize = options.blockSize ?? 128;
  if (!Number.isInteger(blockSize) || blockSize < 1) {
    throw new PruneError('OUT_OF_RANGE', `${op}: blockSize must be a positive integer (128 in the reference), got ${String(blockSize)}`);
  }
  const accumulator = options.accumulator ?? {};
  // Fail here rather than at the first layer when the accumulator options are bad.
  new HessianAccumulator(1, accumulator).dispose();
  return {
    name: 'sparsegpt',
    options: { blockSize, percdamp: options.percdamp ?? 0.01, ...accumulator },
    createStatistic(layer: PrunableLayer): HessianAccumulator {
      return new HessianAccumulator(layer.shape[1], accumulator);
    },
    pruneLayer(layer: PrunableLayer, weight: Tensor, target: SparsityTarget, statistic: HessianAccumulator | undefined): PrunedLayer {
      if (statistic === undefined || statistic.count === 0) {
        throw new PruneError(
          'INVALID_ARGUMENT',
          `sparsegpt: layer ${layer.name} has no calibration statistic; SparseGPT needs the layer's inputs (run it through the calibrated pipeline with calibration samples)`,
        );
      }
      const hessian = statistic.value();
      try {
        return sparsegptPrune(weight as Tensor<'float32'>, hessian, target, { ...options, name: layer.name });
      } catch (e) {
        if (e instanceof PruneError && e.code === 'NOT_POSITIVE_DEFINITE') {
          throw new PruneError('NOT_POSITIVE_DEFINITE', `${e.message} (${statistic.tokens} calibration tokens seen)`, { cause: e });
        }
        throw e;
      } finally {
        hessian.dispose();
      }
    },
  };
}
