import { type Backend, PruneError, type SafetensorsSource, type Tensor, dispose, keep, readAsTensor } from '@prune/core';

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
 * Checks that `weights` holds every expected tensor with its expected shape and keeps each
 * one out of `tidy` scopes (the model owns them from here).
 * @internal
 */
export function adoptModelWeights(label: string, expected: Iterable<readonly [string, readonly number[]]>, weights: Map<string, Tensor>): Map<string, Tensor<'float32'>> {
  const owned = new Map<string, Tensor<'float32'>>();
  for (const [name, shape] of expected) {
    const t = weights.get(name);
    if (!t) throw new PruneError('NOT_FOUND', `${label} checkpoint: tensor "${name}" is missing`);
    if (t.shape.join() !== shape.join()) {
      throw new PruneError('SHAPE_MISMATCH', `${label} checkpoint: "${name}" has shape [${t.shape}] but the config implies [${shape}]`);
    }
    owned.set(name, keep(t as Tensor<'float32'>));
  }
  return owned;
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
