import type { Backend } from './backend.js';
import type { DType, DTypeArrayMap } from './dtype.js';
import { PruneError } from './errors.js';
import type { TensorRef } from './kernels.js';
import { setTensorCheck, trackTensor } from './scope.js';
import { type Shape, sizeOf } from './shape.js';

/**
 * An n-dimensional array whose storage belongs to a {@link Backend}. Tensors are immutable:
 * every op returns a new tensor. Release storage with {@link Tensor.dispose} or a
 * {@link tidy} scope.
 *
 * @typeParam D - element type
 */
export class Tensor<D extends DType = DType> {
  /** Shape, row-major. */
  readonly shape: Shape;
  /** Element type. */
  readonly dtype: D;
  /** Number of elements. */
  readonly size: number;
  /** Backend that owns the storage. */
  readonly backend: Backend;
  #handle: unknown;
  #disposed = false;

  /**
   * Wraps backend storage. Most code creates tensors with {@link tensor} or an op instead.
   * @param backend - owner of `handle`
   * @param handle - backend storage
   * @param shape - shape of the data
   * @param dtype - element type
   */
  constructor(backend: Backend, handle: unknown, shape: Shape, dtype: D) {
    this.backend = backend;
    this.#handle = handle;
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.size = sizeOf(shape);
    trackTensor(this);
  }

  /** Number of axes. */
  get rank(): number {
    return this.shape.length;
  }

  /** Whether {@link Tensor.dispose} was called. */
  get isDisposed(): boolean {
    return this.#disposed;
  }

  /** The backend view passed to kernels. Throws `DISPOSED` after {@link Tensor.dispose}. */
  ref<H = unknown>(): TensorRef<H> {
    if (this.#disposed) {
      throw new PruneError('DISPOSED', `a tensor of shape [${this.shape.join(', ')}] was used after dispose(); keep it alive (keep()) or recompute it`);
    }
    return { handle: this.#handle as H, shape: this.shape, dtype: this.dtype };
  }

  /** Reads the elements (row-major). The returned array is a copy the caller owns. */
  async data(): Promise<DTypeArrayMap[D]> {
    const r = this.ref();
    return (await this.backend.download(r.handle, r.shape, r.dtype)) as DTypeArrayMap[D];
  }

  /** Reads the elements synchronously (row-major). May block on GPU backends. */
  dataSync(): DTypeArrayMap[D] {
    const r = this.ref();
    return this.backend.downloadSync(r.handle, r.shape, r.dtype) as DTypeArrayMap[D];
  }

  /** Releases the storage. Safe to call twice. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.backend.dispose(this.#handle);
    this.#handle = undefined;
  }

  /** A short description, e.g. `Tensor<float32>[2, 3] on reference`. */
  toString(): string {
    return `Tensor<${this.dtype}>[${this.shape.join(', ')}] on ${this.backend.name}`;
  }
}

setTensorCheck((v): v is Tensor => v instanceof Tensor);

/** A float32 tensor. */
export type Float32Tensor = Tensor<'float32'>;
/** An int32 tensor. */
export type Int32Tensor = Tensor<'int32'>;
/** A bool tensor. */
export type BoolTensor = Tensor<'bool'>;
