import { mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PruneError } from '../errors.js';
import type { SafetensorsTensorSpec } from './writer.js';
import { writeSafetensors } from './writer.js';
import { openCheckpoint, openShardedSafetensors, planShards, writeShardedSafetensors } from './sharded.js';

let root: string;
let dir: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'prune-st-shard-'));
  dir = join(root, 'ckpt');
  await mkdir(dir);
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function expectPruneError(promise: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(PruneError);
  expect((error as PruneError).code).toBe(code);
  if (message) expect((error as PruneError).message).toMatch(message);
}

/** Four 16-byte F32 layers and a 4-byte bias: with 20-byte shards they split 2 + 2 + 1. */
const specs = new Map<string, SafetensorsTensorSpec>([
  ['layers.0.w', { dtype: 'F32', shape: [2, 2] }],
  ['layers.0.b', { dtype: 'F32', shape: [1] }],
  ['layers.1.w', { dtype: 'F32', shape: [2, 2] }],
  ['layers.1.b', { dtype: 'F32', shape: [1] }],
  ['head', { dtype: 'F32', shape: [2, 2] }],
]);
const valuesOf = (name: string): Float32Array => {
  const n = specs.get(name)!.shape.reduce((a, d) => a * d, 1);
  return Float32Array.from({ length: n }, (_, i) => name.length * 10 + i);
};

describe('planShards', () => {
  it('fills shards greedily in the given order; an oversized tensor gets its own', () => {
    const spec = (n: number): SafetensorsTensorSpec => ({ dtype: 'U8', shape: [n] });
    const plan = planShards([['a', spec(6)], ['b', spec(4)], ['c', spec(1)], ['big', spec(50)], ['d', spec(3)]], 10, 'model');
    expect(plan.map((s) => [s.file, [...s.tensors], s.dataBytes])).toEqual([
      ['model-00001-of-00004.safetensors', ['a', 'b'], 10],
      ['model-00002-of-00004.safetensors', ['c'], 1],
      ['model-00003-of-00004.safetensors', ['big'], 50],
      ['model-00004-of-00004.safetensors', ['d'], 3],
    ]);
    expect(planShards([['a', spec(6)]], 10, 'pruned').map((s) => s.file)).toEqual(['pruned.safetensors']);
    expect(() => planShards([], 0, 'model')).toThrow(PruneError);
    expect(() => planShards([], 10, '../model')).toThrow(/plain file name/);
  });
});

describe('sharded write and read', () => {
  it('writes shards and an index, and reads every tensor back through the same API', async () => {
    const produced: string[] = [];
    const result = await writeShardedSafetensors(dir, specs, (name) => {
      produced.push(name);
      return valuesOf(name);
    }, { maxShardBytes: 20, metadata: { format: 'pt' } });
    expect(produced).toEqual([...specs.keys()]);
    expect(result).toEqual({
      shards: ['model-00001-of-00003.safetensors', 'model-00002-of-00003.safetensors', 'model-00003-of-00003.safetensors'],
      index: 'model.safetensors.index.json',
    });
    expect((await readdir(dir)).sort()).toEqual([...result.shards, result.index].sort());
    const index = JSON.parse(await readFile(join(dir, result.index!), 'utf8'));
    expect(index).toEqual({
      metadata: { total_size: 56 },
      weight_map: {
        head: 'model-00003-of-00003.safetensors',
        'layers.0.b': 'model-00001-of-00003.safetensors',
        'layers.0.w': 'model-00001-of-00003.safetensors',
        'layers.1.b': 'model-00002-of-00003.safetensors',
        'layers.1.w': 'model-00002-of-00003.safetensors',
      },
    });
    expect(Object.keys(index.weight_map)).toEqual(['head', 'layers.0.b', 'layers.0.w', 'layers.1.b', 'layers.1.w']);

    const ckpt = await openCheckpoint(dir);
    try {
      expect([...ckpt.names()].sort()).toEqual([...specs.keys()].sort());
      for (const name of specs.keys()) {
        expect([...(await ckpt.readTensor(name))]).toEqual([...valuesOf(name)]);
        expect((await ckpt.info(name)).shape).toEqual(specs.get(name)!.shape);
      }
      expect((await ckpt.list()).map((t) => t.byteLength).reduce((a, b) => a + b)).toBe(56);
      await expectPruneError(ckpt.readTensor('nope'), 'NOT_FOUND');
    } finally {
      await ckpt.close();
    }
    await expectPruneError(ckpt.readTensor('head'), 'DISPOSED');
  });

  it('writes a single file without an index when everything fits', async () => {
    const result = await writeShardedSafetensors(dir, specs, valuesOf, { prefix: 'pruned' });
    expect(result).toEqual({ shards: ['pruned.safetensors'], index: undefined });
    expect(await readdir(dir)).toEqual(['pruned.safetensors']);
    const file = await openCheckpoint(join(dir, 'pruned.safetensors'));
    expect([...(await file.readTensor('head'))]).toEqual([...valuesOf('head')]);
    await file.close();
  });

  it('on failure removes every temporary file and leaves an existing checkpoint untouched', async () => {
    await writeShardedSafetensors(dir, specs, valuesOf, { maxShardBytes: 20 });
    const before = new Map<string, Buffer>();
    for (const f of await readdir(dir)) before.set(f, await readFile(join(dir, f)));
    await expect(
      writeShardedSafetensors(dir, specs, (name) => {
        if (name === 'head') throw new Error('head failed');
        return new Float32Array(valuesOf(name).length).fill(-1);
      }, { maxShardBytes: 20 }),
    ).rejects.toThrow('head failed');
    expect((await readdir(dir)).sort()).toEqual([...before.keys()].sort());
    for (const [f, bytes] of before) expect(Buffer.compare(await readFile(join(dir, f)), bytes)).toBe(0);
  });

  it('refuses an unsafe prefix before writing anything', async () => {
    for (const prefix of ['../evil', '/tmp/evil', 'a/b', 'a\\b', '..', '']) {
      await expectPruneError(writeShardedSafetensors(dir, specs, valuesOf, { prefix }), 'UNSAFE_PATH');
    }
    expect(await readdir(dir)).toEqual([]);
    expect((await readdir(root)).sort()).toEqual(['ckpt']);
  });
});

describe('index files from elsewhere', () => {
  async function writeIndex(weightMap: Record<string, string>, name = 'model.safetensors.index.json'): Promise<string> {
    const path = join(dir, name);
    await writeFile(path, JSON.stringify({ metadata: { total_size: 4 }, weight_map: weightMap }));
    return path;
  }

  it.each(['../outside.safetensors', '/etc/passwd', 'sub/model.safetensors', 'sub\\model.safetensors', '..', '.', 'C:model.safetensors', 'a\0b', ''])(
    'refuses the shard name %j',
    async (name) => {
      await expectPruneError(openShardedSafetensors(await writeIndex({ w: name })), 'UNSAFE_PATH');
    },
  );

  it('refuses a symbolic link that leads out of the folder, and follows one that stays inside', async () => {
    await writeSafetensors(join(root, 'outside.safetensors'), { w: { dtype: 'F32', shape: [1], data: new Float32Array([1]) } });
    await symlink(join(root, 'outside.safetensors'), join(dir, 'escape.safetensors'));
    await writeSafetensors(join(dir, 'real.safetensors'), { v: { dtype: 'F32', shape: [1], data: new Float32Array([2]) } });
    await symlink('real.safetensors', join(dir, 'alias.safetensors'));
    const ckpt = await openShardedSafetensors(await writeIndex({ w: 'escape.safetensors', v: 'alias.safetensors' }));
    try {
      await expectPruneError(ckpt.readTensor('w'), 'UNSAFE_PATH', /outside the checkpoint folder/);
      expect([...(await ckpt.readTensor('v'))]).toEqual([2]);
    } finally {
      await ckpt.close();
    }
  });

  it('opens shards lazily and reports missing shards and tensors on use', async () => {
    await writeSafetensors(join(dir, 'a.safetensors'), { x: { dtype: 'U8', shape: [1], data: new Uint8Array([3]) } });
    const ckpt = await openShardedSafetensors(await writeIndex({ x: 'a.safetensors', y: 'a.safetensors', z: 'gone.safetensors' }));
    try {
      expect(ckpt.shardFiles()).toEqual(['a.safetensors', 'gone.safetensors']);
      expect([...(await ckpt.readTensor('x', { as: 'raw' }))]).toEqual([3]);
      await expectPruneError(ckpt.readTensor('y'), 'CORRUPT_FILE', /"y" is in a\.safetensors, but that file has no such tensor/);
      await expectPruneError(ckpt.readTensor('z'), 'NOT_FOUND', /gone\.safetensors/);
      expect(ckpt.indexMetadata).toEqual({ total_size: 4 });
    } finally {
      await ckpt.close();
    }
  });

  it.each([
    ['not JSON', '{"weight_map": '],
    ['no weight_map', '{"metadata": {}}'],
    ['a non-string file name', '{"weight_map": {"w": 3}}'],
    ['a duplicate tensor', '{"weight_map": {"w": "a.safetensors", "w": "b.safetensors"}}'],
    ['metadata not an object', '{"metadata": 1, "weight_map": {}}'],
    ['an array', '[]'],
  ])('rejects an index with %s', async (_label, text) => {
    const path = join(dir, 'model.safetensors.index.json');
    await writeFile(path, text);
    await expectPruneError(openShardedSafetensors(path), 'CORRUPT_FILE');
  });

  it('openCheckpoint reports a folder without a checkpoint', async () => {
    await expectPruneError(openCheckpoint(dir), 'NOT_FOUND', /neither/);
    await expectPruneError(openCheckpoint(join(dir, 'missing.safetensors')), 'NOT_FOUND');
  });
});
