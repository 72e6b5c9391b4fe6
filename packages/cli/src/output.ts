import { chmod, mkdtemp, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { PruneError } from '@prune/core';

/** True when `inner` is `outer` or lies inside it. */
export function isInside(inner: string, outer: string): boolean {
  const rel = relative(resolve(outer), resolve(inner));
  return rel === '' || (!rel.startsWith('..') && !rel.startsWith('/'));
}

/**
 * Refuses an output folder that would overwrite or contain the input (or sit inside an
 * input folder), before any work starts.
 */
export async function checkOutputAgainstInput(out: string, input: string | undefined): Promise<void> {
  if (input === undefined) return;
  const inputIsDir = await stat(input).then((s) => s.isDirectory(), () => false);
  const inputRoot = inputIsDir ? input : dirname(input);
  if (isInside(out, inputIsDir ? inputRoot : input) || isInside(input, out)) {
    throw new PruneError('UNSAFE_PATH', `the output folder ${out} overlaps the input ${input}; choose another --out so the input is never modified`);
  }
}

/**
 * Builds the output in a staging folder next to `out` and swaps it in only when complete:
 * a failed run leaves no partial output and keeps an earlier `out` as it was.
 */
export async function withStagedOutput<T>(out: string, build: (staging: string) => Promise<T>): Promise<T> {
  const parent = dirname(resolve(out));
  const staging = await mkdtemp(join(parent, `.${basename(out)}.partial-`));
  // mkdtemp makes the folder private; the output is an ordinary folder.
  await chmod(staging, 0o755);
  try {
    const result = await build(staging);
    const previous = await stat(out).then(() => true, () => false);
    const backup = `${staging}.previous`;
    if (previous) await rename(out, backup);
    try {
      await rename(staging, out);
    } catch (e) {
      if (previous) await rename(backup, out);
      throw e;
    }
    if (previous) await rm(backup, { recursive: true, force: true });
    return result;
  } catch (e) {
    await rm(staging, { recursive: true, force: true });
    throw e;
  }
}
