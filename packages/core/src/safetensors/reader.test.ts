import { mkdtemp, open, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PruneError } from '../errors.js';
import { openSafetensors, readAsTensor } from './reader.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'prune-st-read-'));
});
afterEach(async () => {
  vi.restoreAllMocks();
  await rm(dir, { recursive: true, force: true });
});

/**
 * Builds a file by hand from the format description: an 8-byte little-endian header length,
 * the JSON header (padded with spaces), then the data buffer. Tensors are listed in the JSON
 * in a different order from the data, as the format allows.
 */
function handBuiltFile(): { bytes: Uint8Array; dataStart: number } {
  const data = new Uint8Array(64);
  const v = new DataView(data.buffer);
  // [0, 8): "i64" I64 [2] = [-3, 2^40]
  v.setBigInt64(0, -3n, true);
  // [8, 16) continued below
  const json =
    '{"f16":{"dtype":"F16","shape":[2,2],"data_offsets":[24,32]},' +
    '"__metadata__":{"format":"pt","note":"hand made"},' +
    '"i64":{"dtype":"I64","shape":[2],"data_offsets":[0,16]},' +
    '"f32":{"dtype":"F32","shape":[2],"data_offsets":[16,24]},' +
    '"bf16":{"dtype":"BF16","shape":[3],"data_offsets":[32,38]},' +
    '"flags":{"dtype":"BOOL","shape":[3],"data_offsets":[38,41]},' +
    '"bytes":{"dtype":"U8","shape":[1,3],"data_offsets":[41,44]},' +
    '"none":{"dtype":"F32","shape":[0],"data_offsets":[44,44]},' +
    '"i32":{"dtype":"I32","shape":[],"data_offsets":[44,48]},' +
    '"f64":{"dtype":"F64","shape":[2],"data_offsets":[48,64]}}';
  v.setBigInt64(8, 2n ** 40n, true);
  v.setFloat32(16, 1.5, true);
  v.setFloat32(20, -0.25, true);
  [0x3c00, 0xc000, 0x0001, 0x7c00].forEach((h, i) => v.setUint16(24 + 2 * i, h, true)); // 1, -2, 2^-24, Inf
  [0x3f80, 0xc049, 0x8000].forEach((h, i) => v.setUint16(32 + 2 * i, h, true)); // 1, -3.140625, -0
  data.set([1, 0, 1], 38);
  data.set([0, 127, 255], 41);
  v.setInt32(44, -123456, true);
  v.setFloat64(48, 0.1, true);
  v.setFloat64(56, -1e300, true);
  const text = new TextEncoder().encode(json);
  const padded = Math.ceil(text.length / 8) * 8;
  const bytes = new Uint8Array(8 + padded + data.length).fill(0x20, 8, 8 + padded);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(padded), true);
  bytes.set(text, 8);
  bytes.set(data, 8 + padded);
  return { bytes, dataStart: 8 + padded };
}

async function expectPruneError(promise: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(PruneError);
  expect((error as PruneError).code).toBe(code);
  if (message) expect((error as PruneError).message).toMatch(message);
}

describe('openSafetensors on a file built by hand', () => {
  it('lists tensors in data order with dtype, shape and byte size, and the metadata', async () => {
    const { bytes, dataStart } = handBuiltFile();
    const path = join(dir, 'hand.safetensors');
    await writeFile(path, bytes);
    const file = await openSafetensors(path);
    try {
      expect(file.metadata).toEqual({ format: 'pt', note: 'hand made' });
      expect(file.names()).toEqual(['i64', 'f32', 'f16', 'bf16', 'flags', 'bytes', 'none', 'i32', 'f64']);
      expect(file.tensorInfo('f16')).toEqual({ name: 'f16', dtype: 'F16', shape: [2, 2], size: 4, byteOffset: dataStart + 24, byteLength: 8 });
      expect((await file.list()).map((t) => t.byteLength)).toEqual([16, 8, 8, 6, 3, 3, 0, 4, 16]);
      expect(file.has('f64')).toBe(true);
      expect(file.has('nope')).toBe(false);
    } finally {
      await file.close();
    }
  });

  it('converts every dtype to float32 with the hand-computed values', async () => {
    const path = join(dir, 'hand.safetensors');
    await writeFile(path, handBuiltFile().bytes);
    const file = await openSafetensors(path);
    try {
      expect([...(await file.readTensor('i64'))]).toEqual([-3, 2 ** 40]);
      expect([...(await file.readTensor('f32'))]).toEqual([1.5, -0.25]);
      expect([...(await file.readTensor('f16'))]).toEqual([1, -2, 2 ** -24, Infinity]);
      const bf16 = await file.readTensor('bf16', { as: 'float32' });
      expect([...bf16]).toEqual([1, -3.140625, -0]);
      expect(Object.is(bf16[2], -0)).toBe(true);
      expect([...(await file.readTensor('flags'))]).toEqual([1, 0, 1]);
      expect([...(await file.readTensor('bytes'))]).toEqual([0, 127, 255]);
      expect(await file.readTensor('none')).toHaveLength(0);
      expect([...(await file.readTensor('i32'))]).toEqual([-123456]);
      expect([...(await file.readTensor('f64'))]).toEqual([Math.fround(0.1), -Infinity]);
    } finally {
      await file.close();
    }
  });

  it('reads raw bytes bit-exactly and integers as int32 with a range check', async () => {
    const { bytes, dataStart } = handBuiltFile();
    const path = join(dir, 'hand.safetensors');
    await writeFile(path, bytes);
    const file = await openSafetensors(path);
    try {
      for (const info of await file.list()) {
        const raw = await file.readTensor(info.name, { as: 'raw' });
        expect(raw).toBeInstanceOf(Uint8Array);
        expect([...raw]).toEqual([...bytes.subarray(info.byteOffset, info.byteOffset + info.byteLength)]);
      }
      expect([...(await file.readTensor('i32', { as: 'int32' }))]).toEqual([-123456]);
      expect([...(await file.readTensor('bytes', { as: 'int32' }))]).toEqual([0, 127, 255]);
      expect(dataStart % 8).toBe(0);
      await expectPruneError(file.readTensor('i64', { as: 'int32' }), 'OUT_OF_RANGE', /hand\.safetensors.*"i64".*1099511627776 at element 1/);
      await expectPruneError(file.readTensor('f16', { as: 'int32' }), 'DTYPE_MISMATCH', /"f16" is F16/);
      await expectPruneError(file.readTensor('missing'), 'NOT_FOUND', /"missing"/);
      await expectPruneError(file.readTensor('f32', { as: 'f8' as 'raw' }), 'INVALID_ARGUMENT');
    } finally {
      await file.close();
    }
    await expectPruneError(file.readTensor('f32'), 'DISPOSED');
    await file.close(); // twice is fine
  });

  it('makes core tensors with the natural dtype or the one asked for', async () => {
    const path = join(dir, 'hand.safetensors');
    await writeFile(path, handBuiltFile().bytes);
    const file = await openSafetensors(path);
    try {
      const f16 = await readAsTensor(file, 'f16');
      expect([f16.dtype, [...f16.shape], [...f16.dataSync()]]).toEqual(['float32', [2, 2], [1, -2, 2 ** -24, Infinity]]);
      const flags = await readAsTensor(file, 'flags');
      expect([flags.dtype, [...flags.dataSync()]]).toEqual(['bool', [1, 0, 1]]);
      const i32 = await readAsTensor(file, 'i32');
      expect([i32.dtype, [...i32.shape], [...i32.dataSync()]]).toEqual(['int32', [], [-123456]]);
      const asBool = await readAsTensor(file, 'f32', { dtype: 'bool' });
      expect([...asBool.dataSync()]).toEqual([1, 1]);
      const asFloat = await readAsTensor(file, 'bytes', { dtype: 'float32' });
      expect([...asFloat.dataSync()]).toEqual([0, 127, 255]);
      await expectPruneError(readAsTensor(file, 'i64'), 'OUT_OF_RANGE');
      for (const t of [f16, flags, i32, asBool, asFloat]) t.dispose();
    } finally {
      await file.close();
    }
  });
});

describe('streaming', () => {
  it('reads one tensor without touching the bytes of the others', async () => {
    const { bytes } = handBuiltFile();
    const path = join(dir, 'hand.safetensors');
    await writeFile(path, bytes);
    const probe = await open(path, 'r');
    const proto = Object.getPrototypeOf(probe) as { read: (...args: unknown[]) => unknown };
    await probe.close();
    const reads: [number, number][] = [];
    const original = proto.read;
    vi.spyOn(proto, 'read').mockImplementation(function (this: unknown, ...args: unknown[]) {
      reads.push([args[3] as number, (args[3] as number) + (args[2] as number)]);
      return original.apply(this, args);
    });
    const file = await openSafetensors(path);
    try {
      const headerEnd = 8 + Number(new DataView(bytes.buffer).getBigUint64(0, true));
      expect(reads.every(([, end]) => end <= headerEnd)).toBe(true);
      reads.length = 0;
      const target = file.tensorInfo('bf16');
      await file.readTensor('bf16');
      expect(reads.length).toBeGreaterThan(0);
      for (const [start, end] of reads) {
        expect(start).toBeGreaterThanOrEqual(target.byteOffset);
        expect(end).toBeLessThanOrEqual(target.byteOffset + target.byteLength);
      }
    } finally {
      await file.close();
    }
  });

  it('opens a file with a 2 GiB tensor and reads a small one quickly', async () => {
    // The big tensor's bytes are a hole in a sparse file: only its header entry exists on disk.
    const big = 2 ** 31;
    const json = `{"small":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"huge":{"dtype":"U8","shape":[${big}],"data_offsets":[8,${8 + big}]}}`;
    const text = new TextEncoder().encode(json);
    const padded = Math.ceil(text.length / 8) * 8;
    const head = new Uint8Array(8 + padded + 8).fill(0x20, 8, 8 + padded);
    new DataView(head.buffer).setBigUint64(0, BigInt(padded), true);
    head.set(text, 8);
    new DataView(head.buffer).setFloat32(8 + padded, 7, true);
    new DataView(head.buffer).setFloat32(8 + padded + 4, -7, true);
    const path = join(dir, 'sparse.safetensors');
    const handle = await open(path, 'w');
    await handle.write(head, 0, head.length, 0);
    await handle.truncate(8 + padded + 8 + big);
    await handle.close();

    const before = process.memoryUsage().arrayBuffers;
    const file = await openSafetensors(path);
    try {
      expect(file.tensorInfo('huge').byteLength).toBe(big);
      expect([...(await file.readTensor('small'))]).toEqual([7, -7]);
      expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 2 ** 20);
    } finally {
      await file.close();
    }
  });
});

describe('errors', () => {
  async function openFds(): Promise<number> {
    return (await readdir('/proc/self/fd')).length;
  }

  it('reports missing files, folders and corrupt files as PruneErrors and closes every handle', async () => {
    await expectPruneError(openSafetensors(join(dir, 'absent.safetensors')), 'NOT_FOUND', /absent\.safetensors/);
    await expectPruneError(openSafetensors(dir), 'IO_ERROR', /not a regular file/);
    const cases: Uint8Array[] = [new Uint8Array(0), new Uint8Array(7), new Uint8Array([4, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0x7d])];
    const truncated = handBuiltFile().bytes;
    cases.push(truncated.subarray(0, truncated.length - 1), truncated.subarray(0, 40));
    const fdsBefore = await openFds();
    for (const [i, bytes] of cases.entries()) {
      const path = join(dir, `bad${i}.safetensors`);
      await writeFile(path, bytes);
      await expectPruneError(openSafetensors(path), 'CORRUPT_FILE', new RegExp(`bad${i}\\.safetensors`));
    }
    expect(await openFds()).toBe(fdsBefore);
  });

  it('notices a file truncated after it was opened', async () => {
    const { bytes } = handBuiltFile();
    const path = join(dir, 'shrinks.safetensors');
    await writeFile(path, bytes);
    const file = await openSafetensors(path);
    try {
      const h = await open(path, 'r+');
      await h.truncate(bytes.length - 20);
      await h.close();
      await expectPruneError(file.readTensor('f64'), 'CORRUPT_FILE', /truncated or changed/);
    } finally {
      await file.close();
    }
  });
});
