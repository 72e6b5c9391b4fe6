import { type Backend, PruneError, openCheckpoint } from '@prune/core';
import { type LlamaConfig, parseLlamaConfig } from './lm/config.js';
import { LlamaModel } from './lm/llama.js';
import { readJsonFile } from './folder.js';
import { BpeTokenizer, type BpeTokenizerJson } from './tokenizer.js';

/** Names of the language models shipped in this package. */
export const ZOO_LANGUAGE_MODELS = ['lm'] as const;

/** A shipped language model name. */
export type ZooLanguageModelName = (typeof ZOO_LANGUAGE_MODELS)[number];

/** A loaded zoo language model with its tokenizer. */
export interface ZooLanguageModel {
  /** Zoo name. */
  name: ZooLanguageModelName;
  /** The model (also a `ModelAdapter` for pruners). */
  model: LlamaModel;
  /** Its tokenizer. */
  tokenizer: BpeTokenizer;
  /** Hyper-parameters. */
  config: LlamaConfig;
  /** Folder holding config.json, model.safetensors and tokenizer.json. */
  folder: string;
}

/** Options of {@link loadZooLanguageModel}. */
export interface LoadZooOptions {
  /**
   * Backend for the weights.
   * @defaultValue the current backend
   */
  backend?: Backend;
}

/** Folder of a shipped model's files (Node only). */
export async function zooModelFolder(name: ZooLanguageModelName): Promise<string> {
  if (!(ZOO_LANGUAGE_MODELS as readonly string[]).includes(name)) {
    throw new PruneError('NOT_FOUND', `no zoo model named "${name}"; available: ${ZOO_LANGUAGE_MODELS.join(', ')}`);
  }
  const { fileURLToPath } = await import('node:url');
  return fileURLToPath(new URL(`../weights/${name}/`, import.meta.url));
}

/** Reads a LLaMA-style `config.json` and `tokenizer.json` from `folder` and loads the model. */
export async function loadLanguageModelFolder(folder: string, options: LoadZooOptions = {}): Promise<{ model: LlamaModel; tokenizer: BpeTokenizer; config: LlamaConfig }> {
  const { json, path } = await readJsonFile(folder, 'config.json');
  const config = parseLlamaConfig(json, path);
  const tokenizer = new BpeTokenizer((await readJsonFile(folder, 'tokenizer.json')).json as BpeTokenizerJson);
  const source = await openCheckpoint(folder);
  try {
    const model = await LlamaModel.fromSafetensors(config, source, options);
    return { model, tokenizer, config };
  } finally {
    await source.close();
  }
}

/** Loads a shipped language model (Node only). */
export async function loadZooLanguageModel(name: ZooLanguageModelName, options: LoadZooOptions = {}): Promise<ZooLanguageModel> {
  const folder = await zooModelFolder(name);
  return { name, folder, ...(await loadLanguageModelFolder(folder, options)) };
}
