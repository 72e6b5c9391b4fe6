import { PruneError, openSafetensors } from '@prune/core';
import { type VitConfig, parseVitConfig } from './config.js';
import { type VitLoadOptions, VitModel } from './vit.js';

/** The shipped ViT with where it came from. */
export interface ZooVit {
  /** The model. */
  model: VitModel;
  /** Hyper-parameters. */
  config: VitConfig;
  /** Folder of `config.json` and `model.safetensors`. */
  folder: string;
}

/**
 * Loads a ViT from a folder holding `config.json` and `model.safetensors` (Node only).
 * @param folder - the folder
 * @param options - backend
 * @returns the model and its config
 */
export async function loadVitFolder(folder: string, options: VitLoadOptions = {}): Promise<ZooVit> {
  const [{ readFile }, { join }] = await Promise.all([import('node:fs/promises'), import('node:path')]);
  let text: string;
  try {
    text = await readFile(join(folder, 'config.json'), 'utf8');
  } catch (cause) {
    throw new PruneError('NOT_FOUND', `cannot read ${join(folder, 'config.json')}: ${(cause as Error).message}`, { cause });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new PruneError('CORRUPT_FILE', `${join(folder, 'config.json')} is not valid JSON`, { cause });
  }
  const config = parseVitConfig(json, join(folder, 'config.json'));
  const source = await openSafetensors(join(folder, 'model.safetensors'));
  try {
    return { model: await VitModel.fromSafetensors(config, source, options), config, folder };
  } finally {
    await source.close();
  }
}

/**
 * Loads the shipped Fashion-MNIST ViT (`weights/vit`, Node only).
 * @param options - backend
 * @returns the model, its config and folder
 */
export async function loadZooVit(options: VitLoadOptions = {}): Promise<ZooVit> {
  const { fileURLToPath } = await import('node:url');
  return loadVitFolder(fileURLToPath(new URL('../../weights/vit/', import.meta.url)), options);
}
