import type { Backend } from '../backend.js';
import { allocArray, type DType } from '../dtype.js';
import { fromArray } from '../ops/creation.js';
import { Random } from '../random.js';
import { type Shape, sizeOf } from '../shape.js';
import type { Tensor } from '../tensor.js';

/** How {@link randomInput} fills a tensor. */
export interface RandomInputOptions {
  /** Element type. @defaultValue `'float32'` */
  dtype?: DType;
  /** Seed. @defaultValue 0 */
  seed?: number;
  /** Value range [min, max) for float32 and int32. @defaultValue [-2, 2) */
  min?: number;
  /** @see RandomInputOptions.min */
  max?: number;
  /** Draw floats from a small set of values so ties occur. @defaultValue false */
  ties?: boolean;
  /** Place these special values (NaN, ±Infinity, -0) at random positions. */
  specials?: readonly number[];
  /** Only positive values (for log, sqrt, pow bases). @defaultValue false */
  positive?: boolean;
}

/** A deterministic random tensor on `backend`, with optional ties and special values. */
export function randomInput(backend: Backend, shape: Shape, options: RandomInputOptions = {}): Tensor {
  const dtype = options.dtype ?? 'float32';
  const rng = new Random(options.seed ?? 0);
  const n = sizeOf(shape);
  const data = allocArray(dtype, n);
  let lo = options.min ?? -2;
  const hi = options.max ?? 2;
  if (options.positive) lo = Math.max(lo, 0.05);
  for (let i = 0; i < n; i++) {
    if (dtype === 'bool') data[i] = rng.uniform() < 0.5 ? 1 : 0;
    else if (dtype === 'int32') data[i] = Math.floor(lo + (hi - lo) * rng.uniform());
    else if (options.ties) data[i] = lo + ((hi - lo) * rng.int(5)) / 5;
    else data[i] = lo + (hi - lo) * rng.uniform();
  }
  if (options.specials && dtype === 'float32' && n > 0) {
    for (const v of options.specials) data[rng.int(n)] = v;
  }
  return fromArray(data, shape, dtype, { backend });
}
