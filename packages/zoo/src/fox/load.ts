import { type Backend, openCheckpoint } from '@prune/core';
import { readJsonFile } from '../folder.js';
import { BpeTokenizer, type BpeTokenizerJson } from '../tokenizer.js';
import { type FoxConfig, parseFoxConfig } from './config.js';
import { FoxModel } from './model.js';

/** Options of {@link loadFoxModelFolder} and {@link loadZooFoxModel}. */
export interface LoadFoxOptions {
  /**
   * Backend for the weights.
   * @defaultValue the current backend
   */
  backend?: Backend;
}

/** A loaded FoX LM with its tokenizer and hyper-parameters. */
export interface LoadedFoxModel {
  /** The model. */
  model: FoxModel;
  /** Its tokenizer. */
  tokenizer: BpeTokenizer;
  /** Hyper-parameters. */
  config: FoxConfig;
}

/**
 * Reads a FoX `config.json`, `tokenizer.json` and the safetensors checkpoint from `folder`
 * (Node only).
 * @param folder - folder holding the three files
 * @param options - backend
 */
export async function loadFoxModelFolder(folder: string, options: LoadFoxOptions = {}): Promise<LoadedFoxModel> {
  const { json, path } = await readJsonFile(folder, 'config.json');
  const config = parseFoxConfig(json, path);
  const tokenizer = new BpeTokenizer((await readJsonFile(folder, 'tokenizer.json')).json as BpeTokenizerJson);
  const source = await openCheckpoint(folder);
  try {
    return { model: await FoxModel.fromSafetensors(config, source, options), tokenizer, config };
  } finally {
    await source.close();
  }
}

/** Folder of the shipped FoX LM (`weights/fox`; Node only). */
export async function foxModelFolder(): Promise<string> {
  const { fileURLToPath } = await import('node:url');
  return fileURLToPath(new URL('../../weights/fox/', import.meta.url));
}

/**
 * Loads the shipped FoX LM — trained here on the zoo corpus — with its tokenizer (Node only).
 * @example
 * ```ts
 * const { model, tokenizer } = await loadZooFoxModel();
 * ```
 */
export async function loadZooFoxModel(options: LoadFoxOptions = {}): Promise<LoadedFoxModel> {
  return loadFoxModelFolder(await foxModelFolder(), options);
}
