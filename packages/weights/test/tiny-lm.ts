// Loads the tiny LLaMA-style fixture of @prune/zoo (2 blocks, d = 16, MLP 24, vocab 50,
// context 8) and makes seeded calibration samples for pipeline tests.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Random, type Tensor, openSafetensors, tensor } from '@prune/core';
import { LlamaModel, parseLlamaConfig } from '@prune/zoo';

const zooRoot = dirname(createRequire(import.meta.url).resolve('@prune/zoo/package.json'));
const fixture = join(zooRoot, 'test', 'fixtures', 'tiny-lm');

/** A fresh copy of the tiny LM (the caller disposes it). */
export async function loadTinyLm(): Promise<LlamaModel> {
  const config = parseLlamaConfig(JSON.parse(readFileSync(join(fixture, 'config.json'), 'utf8')));
  const file = await openSafetensors(join(fixture, 'model.safetensors'));
  try {
    return await LlamaModel.fromSafetensors(config, file);
  } finally {
    await file.close();
  }
}

/** `count` seeded int32 token-id samples of length 8 (vocabulary 50). */
export function tinySamples(count: number, seed = 0): Tensor[] {
  const rng = new Random(seed);
  return Array.from({ length: count }, () => tensor(Array.from({ length: 8 }, () => rng.int(50)), [8], 'int32'));
}

/** Every prunable weight of the model as plain arrays, by layer name. */
export async function snapshot(model: LlamaModel): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const block of model.blocks()) {
    for (const layer of block.layers) {
      const w = await model.readWeight(layer.name);
      out.set(layer.name, w.dataSync() as Float32Array);
      w.dispose();
    }
  }
  return out;
}
