import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAtomicFile, writeFileAtomic } from './atomic.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'prune-atomic-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('writeFileAtomic', () => {
  it('replaces the destination only when the content is complete', async () => {
    const path = join(dir, 'out.txt');
    await writeFile(path, 'old');
    let seenDuringWrite = '';
    await writeFileAtomic(path, async (f) => {
      expect(dirname(f.tempPath)).toBe(dir);
      await f.write(text('new '), 0);
      seenDuringWrite = await readFile(path, 'utf8');
      await f.write(text('content'), 4);
    });
    expect(seenDuringWrite).toBe('old');
    expect(await readFile(path, 'utf8')).toBe('new content');
    expect(await readdir(dir)).toEqual(['out.txt']);
  });

  it('on failure deletes the temporary file, keeps the old content and rethrows', async () => {
    const path = join(dir, 'out.txt');
    await writeFile(path, 'old');
    await expect(
      writeFileAtomic(path, async (f) => {
        await f.write(text('partial'), 0);
        throw new Error('stopped');
      }),
    ).rejects.toThrow('stopped');
    expect(await readFile(path, 'utf8')).toBe('old');
    expect(await readdir(dir)).toEqual(['out.txt']);
  });
});

describe('createAtomicFile', () => {
  it('never clobbers: two files for the same path get distinct temporary names', async () => {
    const path = join(dir, 'x.bin');
    const a = await createAtomicFile(path);
    const b = await createAtomicFile(path);
    expect(a.tempPath).not.toBe(b.tempPath);
    await a.write(text('a'), 0);
    await b.write(text('b'), 0);
    await a.commit();
    await b.abort();
    await b.abort();
    expect(await readFile(path, 'utf8')).toBe('a');
    expect(await readdir(dir)).toEqual(['x.bin']);
    await expect(a.write(text('late'), 0)).rejects.toThrow(/already finished/);
    await expect(a.commit()).rejects.toThrow(/already committed/);
  });

  it('seal flushes and closes without moving the file into place', async () => {
    const path = join(dir, 'y.bin');
    const f = await createAtomicFile(path);
    await f.write(text('data'), 0);
    await f.seal();
    await f.seal();
    expect(await readdir(dir)).toEqual([f.tempPath.slice(dir.length + 1)]);
    await f.commit();
    expect(await readFile(path, 'utf8')).toBe('data');
  });
});
