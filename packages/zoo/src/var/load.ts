import { loadModelFolder } from '../folder.js';
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
  return loadModelFolder(folder, parseVarConfig, (config, source) => VarModel.fromSafetensors(config, source, options));
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
