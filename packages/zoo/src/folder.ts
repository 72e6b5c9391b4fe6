import { PruneError } from '@prune/core';

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
