/** Element types a {@link Tensor} can hold. `bool` is stored as one byte per element (0 or 1). */
export type DType = 'float32' | 'int32' | 'bool';

/** The typed array that stores each {@link DType}. */
export interface DTypeArrayMap {
  /** IEEE-754 single precision. */
  float32: Float32Array;
  /** Signed 32-bit integers. */
  int32: Int32Array;
  /** 0 = false, 1 = true. */
  bool: Uint8Array;
}

/** Any typed array a tensor may be backed by. */
export type TypedArray = Float32Array | Int32Array | Uint8Array;

/** Allocates a zero-filled typed array of `dtype` with `size` elements. */
export function allocArray<D extends DType>(dtype: D, size: number): DTypeArrayMap[D] {
  switch (dtype) {
    case 'float32':
      return new Float32Array(size) as DTypeArrayMap[D];
    case 'int32':
      return new Int32Array(size) as DTypeArrayMap[D];
    default:
      return new Uint8Array(size) as DTypeArrayMap[D];
  }
}

/** Bytes per element of `dtype`. */
export function bytesPerElement(dtype: DType): number {
  return dtype === 'bool' ? 1 : 4;
}

/** The dtype whose storage class `values` is, or `undefined` for other arrays. */
export function dtypeOfArray(values: unknown): DType | undefined {
  if (values instanceof Float32Array) return 'float32';
  if (values instanceof Int32Array) return 'int32';
  if (values instanceof Uint8Array) return 'bool';
  return undefined;
}
