import { type Backend, PruneError, type SafetensorsSource, type Tensor, dispose, readAsTensor } from '@prune/core';

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
