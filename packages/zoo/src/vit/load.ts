import { loadModelFolder } from '../folder.js';
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
  return loadModelFolder(folder, parseVitConfig, (config, source) => VitModel.fromSafetensors(config, source, options));
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
