import { type Backend, PruneError, type SafetensorsSource, type Tensor, add, dispose, fromArray, keep, matmul, mean, mul, readAsTensor, rsqrt, square, sub } from '@prune/core';

/**
 * Reads the named tensors of a model from a safetensors source as float32 on `backend`,
 * rejects missing or non-finite ones, and builds the model from them; every tensor is
 * released again if reading or building fails.
 * @internal
 */
export async function readModelWeights<M>(
  source: SafetensorsSource,
  expected: Iterable<readonly [string, unknown]>,
  backend: Backend,
  build: (weights: Map<string, Tensor>) => M,
): Promise<M> {
  const weights = new Map<string, Tensor>();
  try {
    for (const [name] of expected) {
      if (!source.has(name)) throw new PruneError('NOT_FOUND', `${source.path}: tensor "${name}" is missing`);
      const w = await readAsTensor(source, name, { dtype: 'float32', backend });
      weights.set(name, w);
      if (w.dataSync().some((v) => !Number.isFinite(v))) {
        throw new PruneError('NON_FINITE', `${source.path}: "${name}" holds NaN or Infinity; the checkpoint is damaged`);
      }
    }
    return build(weights);
  } catch (e) {
    dispose([...weights.values()]);
    throw e;
  }
}

/**
 * The float32 tensors a zoo model owns: checked against the config's expected names and
 * shapes when adopted, kept out of `tidy` scopes, replaced one by one when a pruner writes a
 * weight back, released by {@link ModelWeights.dispose}; with the LayerNorm and biased linear
 * layers of the PyTorch modules that own them.
 * @internal
 */
export class ModelWeights {
  readonly #label: string;
  readonly #w = new Map<string, Tensor<'float32'>>();

  /**
   * @param label - model name for messages
   * @param expected - every tensor name with its shape
   * @param weights - the tensors; each expected one is taken over
   */
  constructor(label: string, expected: Iterable<readonly [string, readonly number[]]>, weights: ReadonlyMap<string, Tensor>) {
    this.#label = label;
    for (const [name, shape] of expected) {
      const t = weights.get(name);
      if (!t) throw new PruneError('NOT_FOUND', `${label}: tensor "${name}" is missing from the checkpoint`);
      if (t.shape.join() !== shape.join()) {
        throw new PruneError('SHAPE_MISMATCH', `${label}: "${name}" has shape [${t.shape}] but the config implies [${shape}]`);
      }
      this.#w.set(name, keep(t as Tensor<'float32'>));
    }
  }

  /** The named tensor; `DISPOSED` once the model was disposed. */
  get(name: string): Tensor<'float32'> {
    const t = this.#w.get(name);
    if (!t) throw new PruneError('DISPOSED', `${this.#label} weight "${name}" is gone; the model was disposed`);
    return t;
  }

  /** Every tensor by name (a read-only view; the model owns them). */
  all(): ReadonlyMap<string, Tensor<'float32'>> {
    return this.#w;
  }

  /**
   * Replaces the named tensor with a copy of `value` on `backend` (same shape), releasing the
   * old one.
   * @param name - tensor name
   * @param value - the new values
   * @param backend - where the model's tensors live
   * @param op - the caller, for messages
   */
  replace(name: string, value: Tensor, backend: Backend, op: string): void {
    const old = this.get(name);
    if (value.shape.join() !== old.shape.join()) {
      throw new PruneError('SHAPE_MISMATCH', `${op}: expected shape [${old.shape}], got [${value.shape}]`);
    }
    const copy = keep(fromArray(value.dataSync() as Float32Array, value.shape, 'float32', { backend }));
    old.dispose();
    this.#w.set(name, copy);
  }

  /** LayerNorm over the last axis with `${prefix}.weight` and `${prefix}.bias`. */
  layerNorm(x: Tensor<'float32'>, prefix: string, eps: number): Tensor<'float32'> {
    const mu = mean(x, { axis: -1, keepDims: true });
    const xc = sub(x, mu);
    const v = mean(square(xc), { axis: -1, keepDims: true });
    return add(mul(mul(xc, rsqrt(add(v, eps))), this.get(`${prefix}.weight`)), this.get(`${prefix}.bias`));
  }

  /** x·Wᵀ + b with the `[out, in]` weight `${prefix}.weight` and `${prefix}.bias`. */
  linear(x: Tensor, prefix: string): Tensor<'float32'> {
    return add(matmul(x as Tensor<'float32'>, this.get(`${prefix}.weight`), { transposeB: true }), this.get(`${prefix}.bias`));
  }

  /** Releases every tensor. */
  dispose(): void {
    dispose([...this.#w.values()]);
    this.#w.clear();
  }
}

/**
 * Adds the tensors of a pre-norm transformer block (LayerNorm → fused qkv attention →
 * LayerNorm → two-layer MLP, PyTorch names and `[out, in]` layouts) to `shapes`.
 * @internal
 */
export function addPreNormBlockShapes(shapes: Map<string, number[]>, prefix: string, hidden: number, mlp: number): void {
  const [d, f] = [hidden, mlp];
  shapes.set(`${prefix}.norm1.weight`, [d]);
  shapes.set(`${prefix}.norm1.bias`, [d]);
  shapes.set(`${prefix}.qkv.weight`, [3 * d, d]);
  shapes.set(`${prefix}.qkv.bias`, [3 * d]);
  shapes.set(`${prefix}.proj.weight`, [d, d]);
  shapes.set(`${prefix}.proj.bias`, [d]);
  shapes.set(`${prefix}.norm2.weight`, [d]);
  shapes.set(`${prefix}.norm2.bias`, [d]);
  shapes.set(`${prefix}.fc1.weight`, [f, d]);
  shapes.set(`${prefix}.fc1.bias`, [f]);
  shapes.set(`${prefix}.fc2.weight`, [d, f]);
  shapes.set(`${prefix}.fc2.bias`, [d]);
}
