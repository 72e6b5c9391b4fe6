import { PruneError, openSafetensors } from '@prune/core';
import { type VarConfig, parseVarConfig } from './config.js';
import { type VarLoadOptions, VarModel } from './var.js';

/** The shipped VAR model with where it came from. */
export interface ZooVar {
  /** The model. */
  model: VarModel;
  /** Hyper-parameters. */
  config: VarConfig;
  /** Folder of `config.json` and `model.safetensors`. */
  folder: string;
}

/**
 * Loads a VAR model from a folder holding `config.json` and `model.safetensors` (Node only).
 * @param folder - the folder
 * @param options - backend
 * @returns the model and its config
 */
export async function loadVarFolder(folder: string, options: VarLoadOptions = {}): Promise<ZooVar> {
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
  const config = parseVarConfig(json, join(folder, 'config.json'));
  const source = await openSafetensors(join(folder, 'model.safetensors'));
  try {
    return { model: await VarModel.fromSafetensors(config, source, options), config, folder };
  } finally {
    await source.close();
  }
}

/**
 * Loads the shipped Fashion-MNIST next-scale-prediction model (`weights/var`, Node only).
 * @param options - backend
 * @returns the model, its config and folder
 */
export async function loadZooVar(options: VarLoadOptions = {}): Promise<ZooVar> {
  const { fileURLToPath } = await import('node:url');
  return loadVarFolder(fileURLToPath(new URL('../../weights/var/', import.meta.url)), options);
}
