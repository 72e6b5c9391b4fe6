import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { runInNewContext } from 'node:vm';
import { gunzipSync } from 'node:zlib';
import * as tf from '@tensorflow/tfjs-core';

// Test helpers that load tfjs model folders with stock tfjs only (no @prune code), the way a
// user without tfjs-node does: read model.json and the shards, hand them to tf.io.fromMemory.

/** A stock tfjs IOHandler over a model folder on disk. */
export function folderHandler(folder: string): tf.io.IOHandler {
  return {
    async load() {
      const json = JSON.parse(await readFile(join(folder, 'model.json'), 'utf8')) as {
        modelTopology: object;
        weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
        format?: string;
        generatedBy?: string;
        convertedBy?: string;
        signature?: object;
        userDefinedMetadata?: { [key: string]: {} };
      };
      const buffers: Buffer[] = [];
      const weightSpecs: tf.io.WeightsManifestEntry[] = [];
      for (const group of json.weightsManifest) {
        for (const p of group.paths) buffers.push(await readFile(join(folder, p)));
        weightSpecs.push(...group.weights);
      }
      const all = Buffer.concat(buffers);
      const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer;
      return {
        modelTopology: json.modelTopology,
        weightSpecs,
        weightData,
        format: json.format,
        generatedBy: json.generatedBy,
        convertedBy: json.convertedBy,
        signature: json.signature,
        userDefinedMetadata: json.userDefinedMetadata,
      };
    },
  };
}

/** Runs a UMD bundle file and returns what it exports. */
function runBundle(source: string): unknown {
  const module = { exports: {} as unknown };
  runInNewContext(source, { module, exports: module.exports });
  return module.exports;
}

/**
 * nsfwjs 4.3.0 ships each model as browserify bundles: `model.min.js` exports the model.json
 * object, each `group1-shardNofM.min.js` exports that shard's bytes as a base64 string.
 * Decodes MobileNetV2 (a Keras functional model, uint8-quantized) into model.json + shard
 * files under `folder`.
 */
export async function writeNsfwjsMobileNetV2(folder: string): Promise<{ shardBytes: number }> {
  const { mkdir, writeFile } = await import('node:fs/promises');
  const entry = createRequire(import.meta.url).resolve('nsfwjs');
  const modelDir = resolve(dirname(entry), '..', 'models', 'mobilenet_v2');
  const modelJson = runBundle(await readFile(join(modelDir, 'model.min.js'), 'utf8')) as { weightsManifest: { paths: string[] }[] };
  await mkdir(folder, { recursive: true });
  let shardBytes = 0;
  for (const group of modelJson.weightsManifest) {
    for (const p of group.paths) {
      const base64 = runBundle(await readFile(join(modelDir, `${p}.min.js`), 'utf8'));
      if (typeof base64 !== 'string') throw new Error(`nsfwjs shard ${p} is not a base64 string`);
      const bytes = Buffer.from(base64, 'base64');
      shardBytes += bytes.byteLength;
      await writeFile(join(folder, p), bytes);
    }
  }
  await writeFile(join(folder, 'model.json'), JSON.stringify(modelJson));
  return { shardBytes };
}

/** The three committed 112×112 photographs, as float32 `[3, 112, 112, 3]` in 0…255. */
export async function samplePhotos(): Promise<tf.Tensor4D> {
  const bytes = gunzipSync(await readFile(new URL('./fixtures/skimage-112x112.rgb.gz', import.meta.url)));
  return tf.tensor4d(Float32Array.from(bytes), [3, 112, 112, 3]);
}
