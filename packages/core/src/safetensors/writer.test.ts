import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PruneError } from '../errors.js';
import { tensor } from '../ops/creation.js';
import type { ProgressEvent } from '../progress.js';
import { Random } from '../random.js';
import { SAFETENSORS_DTYPES, type SafetensorsDType, safetensorsItemSize } from './dtypes.js';
import { openSafetensors } from './reader.js';
import { type SafetensorsData, type SafetensorsTensorEntry, createSafetensorsWriter, tensorEntry, writeSafetensors, writeSafetensorsStreaming } from './writer.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'prune-st-write-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function randomBytes(rng: Random, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.int(256);
  return out;
}

/** The typed array a caller would naturally hold for `dtype`, viewing `bytes`. */
function typedView(dtype: SafetensorsDType, bytes: Uint8Array): SafetensorsData {
  const b = bytes.slice().buffer;
  switch (dtype) {
    case 'F32': return new Float32Array(b);
    case 'F64': return new Float64Array(b);
    case 'I32': return new Int32Array(b);
    case 'U32': return new Uint32Array(b);
    case 'I16': return new Int16Array(b);
    case 'U16': case 'F16': case 'BF16': return new Uint16Array(b);
    case 'I8': return new Int8Array(b);
    case 'I64': return new BigInt64Array(b);
    case 'U64': return new BigUint64Array(b);
    default: return new Uint8Array(b);
  }
}

async function expectPruneError(promise: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(PruneError);
  expect((error as PruneError).code).toBe(code);
  if (message) expect((error as PruneError).message).toMatch(message);
}

/** Files in `dir` other than `keep`: temporary leftovers. */
async function strayFiles(keep: string[]): Promise<string[]> {
  return (await readdir(dir)).filter((f) => !keep.includes(f));
}

describe('writeSafetensors', () => {
  it('round-trips every dtype bit-exactly, from typed arrays and from raw bytes', async () => {
    const rng = new Random(7);
    const tensors = new Map<string, SafetensorsTensorEntry>();
    const expected = new Map<string, Uint8Array>();
    for (const dtype of SAFETENSORS_DTYPES) {
      const shape = [3, 5];
      const bytes = randomBytes(rng, 15 * safetensorsItemSize(dtype));
      tensors.set(`${dtype}.typed`, { dtype, shape, data: typedView(dtype, bytes) });
      tensors.set(`${dtype}.raw`, { dtype, shape, data: bytes });
      expected.set(`${dtype}.typed`, bytes);
      expected.set(`${dtype}.raw`, bytes);
    }
    tensors.set('scalar', { dtype: 'F64', shape: [], data: new Float64Array([Math.PI]) });
    expected.set('scalar', new Uint8Array(new Float64Array([Math.PI]).buffer));
    tensors.set('empty', { dtype: 'BF16', shape: [4, 0], data: new Uint16Array(0) });
    expected.set('empty', new Uint8Array(0));
    const path = join(dir, 'all.safetensors');
    await writeSafetensors(path, tensors, { metadata: { format: 'pt' } });
    const file = await openSafetensors(path);
    try {
      expect(file.metadata).toEqual({ format: 'pt' });
      expect(new Set(file.names())).toEqual(new Set(tensors.keys()));
      for (const [name, bytes] of expected) {
        expect((await file.readTensor(name, { as: 'raw' })).every((b, i) => b === bytes[i])).toBe(true);
        expect(file.tensorInfo(name).dtype).toBe(tensors.get(name)!.dtype);
        expect(file.tensorInfo(name).shape).toEqual(tensors.get(name)!.shape);
      }
      // float32 read of F32 keeps NaN payloads: compare bit patterns.
      const f32 = await file.readTensor('F32.typed');
      expect([...new Uint32Array(f32.buffer, f32.byteOffset, f32.length)]).toEqual([...new Uint32Array(expected.get('F32.typed')!.slice().buffer)]);
      for (const info of file.tensors) expect((info.byteOffset - file.header.dataStart) % safetensorsItemSize(info.dtype)).toBe(0);
    } finally {
      await file.close();
    }
  });

  it('is deterministic: the same tensors in any insertion order give identical bytes', async () => {
    const a = { w: { dtype: 'F32' as const, shape: [2], data: new Float32Array([1, 2]) }, b: { dtype: 'U8' as const, shape: [3], data: new Uint8Array([1, 2, 3]) } };
    const b = { b: a.b, w: a.w };
    await writeSafetensors(join(dir, 'a.safetensors'), a, { metadata: { y: '1', x: '2' } });
    await writeSafetensors(join(dir, 'b.safetensors'), b, { metadata: { x: '2', y: '1' } });
    expect(Buffer.compare(await readFile(join(dir, 'a.safetensors')), await readFile(join(dir, 'b.safetensors')))).toBe(0);
  });

  it('writes the reference implementation’s bytes for its own example', async () => {
    const path = join(dir, 'ref.safetensors');
    await writeSafetensors(path, { 'attn.0': { dtype: 'F32', shape: [1, 2, 3], data: new Float32Array([0, 1, 2, 3, 4, 5]) } });
    const bytes = await readFile(path);
    expect(bytes.length).toBe(96);
    expect(bytes.readBigUInt64LE(0)).toBe(64n);
    expect(bytes.subarray(8, 72).toString('utf8')).toBe('{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}');
    expect([...bytes.subarray(72)]).toEqual([0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64]);
  });

  it('accepts a Map with any name, including __proto__', async () => {
    const path = join(dir, 'proto.safetensors');
    await writeSafetensors(path, new Map([['__proto__', { dtype: 'U8' as const, shape: [1], data: new Uint8Array([9]) }]]));
    const file = await openSafetensors(path);
    expect([...(await file.readTensor('__proto__', { as: 'raw' }))]).toEqual([9]);
    await file.close();
  });

  it('writes core tensors through tensorEntry', async () => {
    const path = join(dir, 'core.safetensors');
    const t = tensor([[1, 2], [3, 4]]);
    const m = tensor([1, 0, 1], [3], 'bool');
    await writeSafetensors(path, { t: await tensorEntry(t), m: await tensorEntry(m) });
    const file = await openSafetensors(path);
    expect([file.tensorInfo('t').dtype, file.tensorInfo('m').dtype]).toEqual(['F32', 'BOOL']);
    expect([...(await file.readTensor('t'))]).toEqual([1, 2, 3, 4]);
    await file.close();
    t.dispose();
    m.dispose();
  });

  it('reports progress in bytes up to the file size, even past a throwing callback', async () => {
    const events: ProgressEvent[] = [];
    const path = join(dir, 'p.safetensors');
    await writeSafetensors(path, { a: { dtype: 'F32', shape: [4], data: new Float32Array(4) }, b: { dtype: 'U8', shape: [3], data: new Uint8Array(3) } }, {
      onProgress: (e) => {
        events.push(e);
        throw new Error('display failed');
      },
    });
    const size = (await readFile(path)).length;
    expect(events.map((e) => e.done)).toEqual([0, size - 19, size - 3, size]);
    expect(events.every((e) => e.stage === 'write' && e.total === size && e.unit === 'bytes')).toBe(true);
    expect(events.slice(2).map((e) => e.message)).toEqual(['a', 'b']);
  });
});

describe('failures leave no temporary file and keep the old destination', () => {
  const OLD = new Uint8Array([1, 2, 3]);

  it('data that does not fit its spec', async () => {
    const path = join(dir, 'out.safetensors');
    await writeFile(path, OLD);
    await expectPruneError(writeSafetensors(path, { w: { dtype: 'F32', shape: [3], data: new Float32Array(2) } }), 'SHAPE_MISMATCH', /"w" is F32\[3\] \(12 bytes\) but its data has 8/);
    await expectPruneError(writeSafetensors(path, { w: { dtype: 'F16', shape: [2], data: new Float32Array(1) } }), 'DTYPE_MISMATCH', /Float32Array/);
    expect([...(await readFile(path))]).toEqual([...OLD]);
    expect(await strayFiles(['out.safetensors'])).toEqual([]);
  });

  it('a producer that throws halfway', async () => {
    const path = join(dir, 'out.safetensors');
    await writeFile(path, OLD);
    let produced = 0;
    const specs = { a: { dtype: 'F32' as const, shape: [2] }, b: { dtype: 'F32' as const, shape: [2] } };
    await expect(
      writeSafetensorsStreaming(path, specs, (name) => {
        if (name === 'b') throw new Error('layer b failed');
        produced++;
        return new Float32Array(2);
      }),
    ).rejects.toThrow('layer b failed');
    expect(produced).toBe(1);
    expect([...(await readFile(path))]).toEqual([...OLD]);
    expect(await strayFiles(['out.safetensors'])).toEqual([]);
  });

  it('finishing with a tensor never written', async () => {
    const path = join(dir, 'out.safetensors');
    await writeFile(path, OLD);
    const writer = await createSafetensorsWriter(path, { a: { dtype: 'U8', shape: [1] }, b: { dtype: 'U8', shape: [1] } });
    await writer.write('a', new Uint8Array([5]));
    expect(writer.missing()).toEqual(['b']);
    await expectPruneError(writer.finish(), 'INVALID_ARGUMENT', /1 declared tensor\(s\) never received data \("b"\)/);
    await expectPruneError(writer.write('b', new Uint8Array([5])), 'INVALID_ARGUMENT');
    expect([...(await readFile(path))]).toEqual([...OLD]);
    expect(await strayFiles(['out.safetensors'])).toEqual([]);
  });

  it('a destination that cannot be replaced (a folder)', async () => {
    const path = join(dir, 'taken');
    await mkdir(path);
    await writeFile(join(path, 'inside'), OLD);
    await expectPruneError(writeSafetensors(path, { a: { dtype: 'U8', shape: [1], data: new Uint8Array(1) } }), 'IO_ERROR', /replace/);
    expect(await strayFiles(['taken'])).toEqual([]);
    expect([...(await readFile(join(path, 'inside')))]).toEqual([...OLD]);
  });

  it('a missing output folder', async () => {
    await expectPruneError(writeSafetensors(join(dir, 'no', 'such', 'x.safetensors'), {}), 'NOT_FOUND');
    expect(await strayFiles([])).toEqual([]);
  });

  it('unknown, repeated and late writes are refused without spoiling the file', async () => {
    const path = join(dir, 'w.safetensors');
    const writer = await createSafetensorsWriter(path, { a: { dtype: 'U8', shape: [2] }, b: { dtype: 'I16', shape: [1] } });
    expect(writer.layout.map((e) => e.name)).toEqual(['b', 'a']);
    await expectPruneError(writer.write('zzz', new Uint8Array(1)), 'NOT_FOUND');
    await writer.write('a', new Uint8Array([1, 2]));
    await expectPruneError(writer.write('a', new Uint8Array([3, 4])), 'INVALID_ARGUMENT', /already written/);
    await writer.write('b', new Int16Array([-2]));
    await writer.finish();
    await expectPruneError(writer.write('a', new Uint8Array([1, 2])), 'INVALID_ARGUMENT');
    const file = await openSafetensors(path);
    expect([...(await file.readTensor('a', { as: 'raw' }))]).toEqual([1, 2]);
    expect([...(await file.readTensor('b', { as: 'int32' }))]).toEqual([-2]);
    await file.close();
    expect(await strayFiles(['w.safetensors'])).toEqual([]);
  });
});
