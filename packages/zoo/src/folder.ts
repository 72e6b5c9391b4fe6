import { PruneError, type SafetensorsSource, openSafetensors } from '@prune/core';

/**
 * Reads and parses a JSON file of a model folder (Node only): a missing file is a
 * `NOT_FOUND` error, unparsable text a `CORRUPT_FILE` error, both naming the path.
 * @internal
 */
export async function readJsonFile(folder: string, file: string): Promise<{ json: unknown; path: string }> {
  const [{ readFile }, { join }] = await Promise.all([import('node:fs/promises'), import('node:path')]);
  const path = join(folder, file);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new PruneError('NOT_FOUND', `cannot read ${path}: ${(cause as Error).message}`, { cause });
  }
  try {
    return { json: JSON.parse(text), path };
  } catch (cause) {
    throw new PruneError('CORRUPT_FILE', `${path} is not valid JSON`, { cause });
  }
}

/**
 * Loads a model folder holding `config.json` and `model.safetensors` (Node only): parses the
 * config, opens the weights, builds the model from them and closes the file.
 * @internal
 */
export async function loadModelFolder<C, M>(
  folder: string,
  parse: (json: unknown, path: string) => C,
  build: (config: C, source: SafetensorsSource) => Promise<M>,
): Promise<{ model: M; config: C; folder: string }> {
  const { json, path } = await readJsonFile(folder, 'config.json');
  const config = parse(json, path);
  const { join } = await import('node:path');
  const source = await openSafetensors(join(folder, 'model.safetensors'));
  try {
    return { model: await build(config, source), config, folder };
  } finally {
    await source.close();
  }
}
