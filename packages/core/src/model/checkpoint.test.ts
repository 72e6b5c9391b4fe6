import { createHash } from 'node:crypto';
import { link, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PruneError } from '../errors.js';
import { decodeSparse } from '../formats/sparse.js';
import { type RawTensorInput, sparseFromRawTensors, sparseTensorNames } from '../formats/raw.js';
import { abs } from '../ops/elementwise.js';
import { fromArray } from '../ops/creation.js';
import { Random } from '../random.js';
import { bfloat16BitsToFloat32, encodeFloat32, float16BitsToFloat32, type SafetensorsDType } from '../safetensors/dtypes.js';
import { openSafetensors } from '../safetensors/reader.js';
import { openShardedSafetensors, writeShardedSafetensors } from '../safetensors/sharded.js';
import { type SafetensorsData, type SafetensorsTensorEntry, writeSafetensors } from '../safetensors/writer.js';
import { tidy } from '../scope.js';
import { applyMask } from '../select/apply-mask.js';
import { nmMask } from '../select/nm-mask.js';
import { rowMask } from '../select/row-mask.js';
import type { Tensor } from '../tensor.js';
import { type CheckpointAdapter, checkpointBlockOf, classifyCheckpointTensors, openCheckpointAdapter } from './checkpoint.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'prune-ckpt-adapter-'));
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

/** A stored tensor: dtype, shape, float values (exactly representable in the dtype). */
interface Fixture {
  dtype: SafetensorsDType;
  shape: number[];
  values: Float32Array;
}

/** Values exactly representable in `dtype` (rounded through its encoding). */
function representable(values: Float32Array, dtype: SafetensorsDType): Float32Array {
  if (dtype !== 'F16' && dtype !== 'BF16') return values;
  const bits = encodeFloat32(values, dtype);
  return Float32Array.from(bits, (b) => (dtype === 'F16' ? float16BitsToFloat32(b) : bfloat16BitsToFloat32(b)));
}

function fixtures(seed: number): Map<string, Fixture> {
  const rng = new Random(seed);
  const make = (dtype: SafetensorsDType, shape: number[]): Fixture => {
    const n = shape.reduce((a, d) => a * d, 1);
    return { dtype, shape, values: representable(Float32Array.from({ length: n }, () => rng.normal()), dtype) };
  };
  return new Map([
    ['model.embed_tokens.weight', make('F32', [16, 8])],
    ['model.layers.0.self_attn.q_proj.weight', make('F32', [8, 8])],
    ['model.layers.0.self_attn.q_proj.bias', make('F32', [8])],
    ['model.layers.0.mlp.up_proj.weight', make('F16', [12, 8])],
    ['model.layers.0.input_layernorm.weight', make('F32', [8])],
    ['model.layers.1.self_attn.q_proj.weight', make('BF16', [8, 8])],
    ['model.layers.10.mlp.down_proj.weight', make('F64', [8, 12])],
    ['conv1.weight', make('F32', [4, 2, 3, 3])],
    ['lm_head.weight', make('BF16', [16, 8])],
  ]);
}

function dataOf(f: Fixture): SafetensorsData {
  if (f.dtype === 'F16' || f.dtype === 'BF16') return encodeFloat32(f.values, f.dtype);
  if (f.dtype === 'F64') return Float64Array.from(f.values);
  return f.values;
}

function entries(fx: Map<string, Fixture>): Map<string, SafetensorsTensorEntry> {
  const extra: [string, SafetensorsTensorEntry][] = [['position_ids', { dtype: 'I32', shape: [1, 8], data: Int32Array.from({ length: 8 }, (_, i) => i) }]];
  return new Map([...[...fx].map(([name, f]): [string, SafetensorsTensorEntry] => [name, { dtype: f.dtype, shape: f.shape, data: dataOf(f) }]), ...extra]);
}

async function sha256(file: string): Promise<string> {
  return createHash('sha256').update(await readFile(file)).digest('hex');
}

/** Hashes of every file in a folder. */
async function folderHashes(folder: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const f of (await readdir(folder)).sort()) out[f] = await sha256(join(folder, f));
  return out;
}

/** Independent oracle: in each row zero the floor(d/2) entries of smallest |w| (no ties in random data). */
function expectedRowPruned(values: Float32Array, rows: number, columns: number): Float32Array {
  const out = values.slice();
  for (let r = 0; r < rows; r++) {
    const order = Array.from({ length: columns }, (_, j) => j).sort((a, b) => Math.abs(values[r * columns + a]) - Math.abs(values[r * columns + b]));
    for (const j of order.slice(0, Math.floor(columns / 2))) out[r * columns + j] = 0;
  }
  return out;
}

/** Prunes every layer of the adapter with a 50% per-row magnitude mask. */
async function pruneAll(adapter: CheckpointAdapter, mask: (w: Tensor) => Tensor<'bool'> = (w) => rowMask(abs(w), { sparsity: 0.5 })): Promise<string[]> {
  const done: string[] = [];
  for (const block of adapter.blocks()) {
    for (const layer of block.layers) {
      const w = await adapter.readWeight(layer.name);
      const pruned = tidy(() => applyMask(w, mask(w)));
      w.dispose();
      await adapter.writeWeight(layer.name, pruned);
      pruned.dispose();
      done.push(layer.tensor);
    }
  }
  return done;
}

const PRUNABLE = ['conv1.weight', 'model.layers.0.mlp.up_proj.weight', 'model.layers.0.self_attn.q_proj.weight', 'model.layers.1.self_attn.q_proj.weight', 'model.layers.10.mlp.down_proj.weight'];

describe('classifyCheckpointTensors and blocks', () => {
  it('picks float *.weight matrices and conv kernels, skips embeddings, heads, vectors and integers', async () => {
    const input = join(root, 'model.safetensors');
    await writeSafetensors(input, entries(fixtures(1)));
    const adapter = await openCheckpointAdapter(input, { output: join(root, 'out.safetensors') });
    try {
      expect(adapter.layers.map((l) => l.tensor).sort()).toEqual(PRUNABLE);
      const conv = adapter.layer('conv1');
      expect(conv.kind).toBe('conv2d');
      expect(conv.shape).toEqual([4, 18]);
      expect(conv.storedShape).toEqual([4, 2, 3, 3]);
      const reasons = Object.fromEntries(adapter.skipped.map((s) => [s.name, s.reason]));
      expect(reasons['model.embed_tokens.weight']).toMatch(/excluded by .*default rule/);
      expect(reasons['lm_head.weight']).toMatch(/excluded/);
      expect(reasons['model.layers.0.input_layernorm.weight']).toMatch(/rank 1/);
      expect(reasons['position_ids']).toMatch(/not named \*\.weight/);
      expect(reasons['model.layers.0.self_attn.q_proj.bias']).toMatch(/not named/);
      // Natural order: layers.10 after layers.1; a layer outside any group is its own block.
      expect(adapter.blocks().map((b) => b.name)).toEqual(['conv1', 'model.layers.0', 'model.layers.1', 'model.layers.10']);
      expect(adapter.blocks()[1].layers.map((l) => l.name)).toEqual(['model.layers.0.mlp.up_proj', 'model.layers.0.self_attn.q_proj']);
    } finally {
      await adapter.abort();
    }
  });

  it('finds block prefixes of the common naming schemes', () => {
    expect(checkpointBlockOf('transformer.h.11.attn.c_attn')).toBe('transformer.h.11');
    expect(checkpointBlockOf('encoder.layer.3.attention.self.query')).toBe('encoder.layer.3');
    expect(checkpointBlockOf('vision.blocks.0.mlp.fc1')).toBe('vision.blocks.0');
    expect(checkpointBlockOf('layers.2.ffn')).toBe('layers.2');
    expect(checkpointBlockOf('model.layers.0.experts.3.w1')).toBe('model.layers.0');
    expect(checkpointBlockOf('mesh.0.proj')).toBeUndefined();
    expect(checkpointBlockOf('fc.weight')).toBeUndefined();
  });

  it('lets include and exclude replace the default rule', () => {
    const infos = [...entries(fixtures(2))].map(([name, e]) => ({ name, dtype: e.dtype, shape: e.shape, size: 0, byteOffset: 0, byteLength: 0 }));
    expect(classifyCheckpointTensors(infos, { include: /lm_head/ }).layers.map((l) => l.tensor)).toEqual(['lm_head.weight']);
    const withExclude = classifyCheckpointTensors(infos, { exclude: /mlp|conv/g }).layers.map((l) => l.tensor);
    expect(withExclude).toContain('model.embed_tokens.weight');
    expect(withExclude).not.toContain('model.layers.0.mlp.up_proj.weight');
    expect(withExclude).not.toContain('conv1.weight');
    expect(classifyCheckpointTensors(infos, { include: /q_proj/, exclude: /layers\.1\./ }).layers.map((l) => l.tensor)).toEqual(['model.layers.0.self_attn.q_proj.weight']);
    expect(() => classifyCheckpointTensors(infos, { include: 'q_proj' as unknown as RegExp })).toThrow(/regular expression/);
  });
});

describe('openCheckpointAdapter on a single file', () => {
  it('writes the pruned weights in their dtypes and copies everything else bit for bit', async () => {
    const fx = fixtures(3);
    const input = join(root, 'model.safetensors');
    await writeSafetensors(input, entries(fx), { metadata: { format: 'pt', note: 'kept' } });
    const before = await sha256(input);
    const output = join(root, 'pruned.safetensors');
    const events: number[] = [];
    // A tiny chunk forces several row chunks per weight.
    const adapter = await openCheckpointAdapter(input, { output, chunkElements: 16, onProgress: (e) => events.push(e.done) });
    const pruned = await pruneAll(adapter);
    expect(pruned.sort()).toEqual(PRUNABLE);
    await expect(readdir(root)).resolves.not.toContain('pruned.safetensors');
    const result = await adapter.finish();
    expect(result.files).toEqual([output]);
    expect(result.bytes).toBe((await stat(output)).size);
    expect(result.inputBytes).toBe((await stat(input)).size);
    expect(result.writtenTensors).toBe(5);
    expect(result.copiedTensors).toBe(5);
    expect(events.at(-1)).toBe(result.bytes);
    expect(await sha256(input)).toBe(before);

    const inFile = await openSafetensors(input);
    const outFile = await openSafetensors(output);
    try {
      expect(outFile.metadata).toEqual({ format: 'pt', note: 'kept' });
      expect(outFile.names().slice().sort()).toEqual(inFile.names().slice().sort());
      for (const info of inFile.tensors) {
        const out = outFile.tensorInfo(info.name);
        expect([out.dtype, out.shape]).toEqual([info.dtype, info.shape]);
        if (PRUNABLE.includes(info.name)) {
          const f = fx.get(info.name)!;
          const rows = f.shape[0];
          const got = await outFile.readTensor(info.name);
          expect(got).toEqual(expectedRowPruned(f.values, rows, f.values.length / rows));
          expect(got.filter((v) => v === 0).length).toBe(rows * Math.floor(f.values.length / rows / 2));
        } else {
          expect(await outFile.readTensor(info.name, { as: 'raw' })).toEqual(await inFile.readTensor(info.name, { as: 'raw' }));
        }
      }
    } finally {
      await inFile.close();
      await outFile.close();
    }
  });

  it('reads weights as float32 matrices and refuses bad writes without breaking the output', async () => {
    const fx = fixtures(4);
    const input = join(root, 'model.safetensors');
    await writeSafetensors(input, entries(fx));
    const adapter = await openCheckpointAdapter(input, { output: join(root, 'out.safetensors') });
    try {
      const conv = await adapter.readWeight('conv1');
      expect(conv.shape).toEqual([4, 18]);
      expect(await conv.data()).toEqual(fx.get('conv1.weight')!.values);
      const bf16 = await adapter.readWeight('model.layers.1.self_attn.q_proj');
      expect(await bf16.data()).toEqual(fx.get('model.layers.1.self_attn.q_proj.weight')!.values);
      await expectPruneError(adapter.readWeight('model.embed_tokens'), 'NOT_FOUND', /not prunable/);
      await expectPruneError(adapter.readWeight('conv1.weight'), 'NOT_FOUND', /without the \.weight suffix/);
      await expectPruneError(adapter.writeWeight('conv1', fromArray(new Float32Array(72), [4, 2, 3, 3], 'float32')), 'SHAPE_MISMATCH', /\[4, 18\]/);
      await expectPruneError(adapter.writeWeight('conv1', fromArray(new Int32Array(72), [4, 18], 'int32')), 'DTYPE_MISMATCH');
      const bad = new Float32Array(72);
      bad[20] = Number.NaN;
      await expectPruneError(adapter.writeWeight('conv1', fromArray(bad, [4, 18], 'float32')), 'NON_FINITE', /row 1, column 2/);
      await adapter.writeWeight('conv1', conv);
      await expectPruneError(adapter.writeWeight('conv1', conv), 'INVALID_ARGUMENT', /already written/);
      const result = await adapter.finish();
      expect(result.writtenTensors).toBe(1);
      await expectPruneError(adapter.readWeight('conv1'), 'DISPOSED');
    } finally {
      await adapter.abort();
    }
  });

  it('reports NaN or Infinity in an input weight as NON_FINITE naming the tensor', async () => {
    const fx = fixtures(5);
    fx.get('model.layers.0.mlp.up_proj.weight')!.values[9] = Number.POSITIVE_INFINITY;
    const input = join(root, 'model.safetensors');
    await writeSafetensors(input, entries(fx));
    const adapter = await openCheckpointAdapter(input, { output: join(root, 'out.safetensors') });
    try {
      await expectPruneError(adapter.readWeight('model.layers.0.mlp.up_proj'), 'NON_FINITE', /"model\.layers\.0\.mlp\.up_proj\.weight" holds Infinity at row 1, column 1/);
    } finally {
      await adapter.abort();
    }
  });

  it('abort leaves nothing behind and the input unchanged', async () => {
    const input = join(root, 'in', 'model.safetensors');
    await mkdir(join(root, 'in'));
    await mkdir(join(root, 'out'));
    await writeSafetensors(input, entries(fixtures(6)));
    const before = await sha256(input);
    const adapter = await openCheckpointAdapter(input, { output: join(root, 'out', 'pruned.safetensors') });
    const w = await adapter.readWeight('model.layers.0.self_attn.q_proj');
    await adapter.writeWeight('model.layers.0.self_attn.q_proj', w);
    expect((await readdir(join(root, 'out'))).length).toBe(1); // the temporary file
    await adapter.abort();
    await adapter.abort();
    expect(await readdir(join(root, 'out'))).toEqual([]);
    expect(await readdir(join(root, 'in'))).toEqual(['model.safetensors']);
    expect(await sha256(input)).toBe(before);
    await expectPruneError(adapter.finish(), 'DISPOSED');
  });

  it('refuses an output that is the input, by path, through a folder or as a hard link', async () => {
    const input = join(root, 'model.safetensors');
    await writeSafetensors(input, entries(fixtures(7)));
    const before = await sha256(input);
    await expectPruneError(openCheckpointAdapter(input, { output: input }), 'INVALID_ARGUMENT', /would overwrite the input/);
    await expectPruneError(openCheckpointAdapter(input, { output: join(root, '.', 'x', '..', 'model.safetensors') }), 'INVALID_ARGUMENT');
    await expectPruneError(openCheckpointAdapter(input, { output: root }), 'INVALID_ARGUMENT'); // a folder: same file name inside
    await link(input, join(root, 'alias.safetensors'));
    await expectPruneError(openCheckpointAdapter(input, { output: join(root, 'alias.safetensors') }), 'INVALID_ARGUMENT');
    await expectPruneError(openCheckpointAdapter(input, { output: join(root, 'missing', 'out.safetensors') }), 'NOT_FOUND', /does not exist/);
    expect(await sha256(input)).toBe(before);
  });

  it('fails on a corrupt input with CORRUPT_FILE before any output exists', async () => {
    const input = join(root, 'model.safetensors');
    await writeSafetensors(input, entries(fixtures(8)));
    const bytes = await readFile(input);
    bytes.write('{{', 8); // breaks the header JSON
    await writeFile(input, bytes);
    await expectPruneError(openCheckpointAdapter(input, { output: join(root, 'out.safetensors') }), 'CORRUPT_FILE');
    const truncated = join(root, 'short.safetensors');
    await writeSafetensors(truncated, entries(fixtures(8)));
    const full = await readFile(truncated);
    await writeFile(truncated, full.subarray(0, full.length - 5));
    await expectPruneError(openCheckpointAdapter(truncated, { output: join(root, 'out.safetensors') }), 'CORRUPT_FILE');
    expect((await readdir(root)).sort()).toEqual(['model.safetensors', 'short.safetensors']);
  });

  it('names what it found when nothing is prunable', async () => {
    const input = join(root, 'model.safetensors');
    await writeSafetensors(input, {
      'wte.weight': { dtype: 'F32', shape: [4, 2], data: new Float32Array(8) },
      'ln.weight': { dtype: 'F32', shape: [2], data: new Float32Array(2) },
      'ids.weight': { dtype: 'I32', shape: [2, 2], data: new Int32Array(4) },
    });
    await expectPruneError(
      openCheckpointAdapter(input, { output: join(root, 'out.safetensors') }),
      'NOT_FOUND',
      /no prunable layer: found 3 tensor\(s\):/,
    );
    const message = await openCheckpointAdapter(input, { output: join(root, 'out.safetensors') }).then(String, (e: Error) => e.message);
    for (const found of [/wte\.weight \(excluded/, /ln\.weight \(rank 1/, /ids\.weight \(dtype I32/]) expect(message).toMatch(found);
    expect(await readdir(root)).toEqual(['model.safetensors']);
  });

  it('validates its options', async () => {
    const input = join(root, 'model.safetensors');
    await writeSafetensors(input, entries(fixtures(9)));
    await expectPruneError(openCheckpointAdapter(input, { output: '' }), 'INVALID_ARGUMENT', /options\.output/);
    await expectPruneError(openCheckpointAdapter(input, { output: join(root, 'o'), compress: 'zip' as 'csr' }), 'INVALID_ARGUMENT', /compress/);
    await expectPruneError(openCheckpointAdapter(input, { output: join(root, 'o'), nmPattern: { n: 5, m: 4 } }), 'INVALID_ARGUMENT', /nmPattern/);
    await expectPruneError(openCheckpointAdapter(input, { output: join(root, 'o'), chunkElements: 0 }), 'INVALID_ARGUMENT', /chunkElements/);
    await expectPruneError(openCheckpointAdapter(join(root, 'nothing.safetensors'), { output: join(root, 'o') }), 'NOT_FOUND');
  });
});

describe('openCheckpointAdapter on a sharded checkpoint', () => {
  async function writeSharded(folder: string, fx: Map<string, Fixture>): Promise<void> {
    const all = entries(fx);
    await writeShardedSafetensors(folder, new Map([...all].map(([n, e]) => [n, { dtype: e.dtype, shape: e.shape }])), (name) => all.get(name)!.data, { maxShardBytes: 600, metadata: { format: 'pt' } });
  }

  it('keeps the shard layout, the index and the metadata; the input is unchanged', async () => {
    const fx = fixtures(10);
    const input = join(root, 'ckpt');
    await writeSharded(input, fx);
    const hashes = await folderHashes(input);
    expect(Object.keys(hashes).length).toBeGreaterThan(3);
    const output = join(root, 'nested', 'pruned');
    const adapter = await openCheckpointAdapter(input, { output });
    await pruneAll(adapter);
    const result = await adapter.finish();
    expect(await folderHashes(input)).toEqual(hashes);
    expect((await readdir(output)).sort()).toEqual(Object.keys(hashes));
    expect(result.files.length).toBe(Object.keys(hashes).length);
    expect(result.bytes).toBe((await Promise.all(result.files.map((f) => stat(f)))).reduce((a, s) => a + s.size, 0));

    const inIndex = JSON.parse(await readFile(join(input, 'model.safetensors.index.json'), 'utf8'));
    const outIndex = JSON.parse(await readFile(join(output, 'model.safetensors.index.json'), 'utf8'));
    expect(outIndex).toEqual(inIndex);
    const inCk = await openShardedSafetensors(join(input, 'model.safetensors.index.json'));
    const outCk = await openShardedSafetensors(join(output, 'model.safetensors.index.json'));
    try {
      for (const name of inCk.names()) {
        const [a, b] = [await inCk.info(name), await outCk.info(name)];
        expect([b.dtype, b.shape]).toEqual([a.dtype, a.shape]);
        if (PRUNABLE.includes(name)) {
          const f = fx.get(name)!;
          expect(await outCk.readTensor(name)).toEqual(expectedRowPruned(f.values, f.shape[0], f.values.length / f.shape[0]));
        } else {
          expect(await outCk.readTensor(name, { as: 'raw' })).toEqual(await inCk.readTensor(name, { as: 'raw' }));
        }
      }
      for (const file of inCk.shardFiles()) expect((await outCk.shard(file)).metadata).toEqual({ format: 'pt' });
    } finally {
      await inCk.close();
      await outCk.close();
    }
  });

  it('abort removes the output folder it created; output equal to the input folder is refused', async () => {
    const input = join(root, 'ckpt');
    await writeSharded(input, fixtures(11));
    const hashes = await folderHashes(input);
    await expectPruneError(openCheckpointAdapter(input, { output: input }), 'INVALID_ARGUMENT', /would overwrite the input/);
    await expectPruneError(openCheckpointAdapter(join(input, 'model.safetensors.index.json'), { output: join(root, '.', 'ckpt') }), 'INVALID_ARGUMENT');
    const adapter = await openCheckpointAdapter(join(input, 'model.safetensors.index.json'), { output: join(root, 'a', 'b') });
    await pruneAll(adapter);
    expect((await readdir(join(root, 'a', 'b'))).length).toBeGreaterThan(0);
    await adapter.abort();
    expect((await readdir(root)).sort()).toEqual(['ckpt']);
    expect(await folderHashes(input)).toEqual(hashes);
  });

  it('fails on a corrupt shard with CORRUPT_FILE before any output exists', async () => {
    const input = join(root, 'ckpt');
    await writeSharded(input, fixtures(12));
    const shards = (await readdir(input)).filter((f) => f.endsWith('.safetensors')).sort();
    const last = join(input, shards.at(-1)!);
    const bytes = await readFile(last);
    bytes.writeUInt32LE(0xffffff, 0); // header length past the end of the file
    await writeFile(last, bytes);
    await expectPruneError(openCheckpointAdapter(input, { output: join(root, 'out') }), 'CORRUPT_FILE');
    expect((await readdir(root)).sort()).toEqual(['ckpt']);
  });
});

describe('compressed output', () => {
  /** Reads a compressed weight back through the formats module. */
  async function readSparse(file: string, name: string): Promise<{ values: Float32Array; metadata: Readonly<Record<string, string>> }> {
    const st = await openSafetensors(file);
    try {
      const raw: Record<string, RawTensorInput> = {};
      for (const t of sparseTensorNames(name, st.metadata)) {
        const info = st.tensorInfo(t);
        raw[t] = { dtype: info.dtype, shape: info.shape, data: await st.readTensor(t, { as: 'raw' }) };
      }
      return { values: decodeSparse(sparseFromRawTensors(name, raw, st.metadata)), metadata: st.metadata };
    } finally {
      await st.close();
    }
  }

  for (const compress of ['nm', 'csr', 'bitmask'] as const) {
    it(`stores 2:4-pruned weights as ${compress} that decode to the pruned values`, async () => {
      const fx = fixtures(20);
      const input = join(root, 'model.safetensors');
      await writeSafetensors(input, entries(fx), { metadata: { format: 'pt' } });
      const before = await sha256(input);
      const output = join(root, 'sparse.safetensors');
      // conv1 (d_in 18) has no whole 2:4 groups: it is left out and stays dense.
      const adapter = await openCheckpointAdapter(input, { output, compress, exclude: /conv|embed|lm_head/ });
      await pruneAll(adapter, (w) => nmMask(abs(w), { n: 2, m: 4, mode: 'keep' }));
      const result = await adapter.finish();
      expect(result.compress).toBe(compress);
      expect(result.bytes).toBe((await stat(output)).size);
      expect(await sha256(input)).toBe(before);
      expect(await readdir(root)).toEqual(['model.safetensors', 'sparse.safetensors']);
      const st = await openSafetensors(output);
      try {
        expect(st.has('conv1.weight')).toBe(true);
        expect(st.has('model.layers.0.self_attn.q_proj.weight')).toBe(false);
        expect(await st.readTensor('conv1.weight', { as: 'raw' })).toEqual(new Uint8Array(new Float32Array(fx.get('conv1.weight')!.values).buffer));
      } finally {
        await st.close();
      }
      for (const name of PRUNABLE.filter((n) => n !== 'conv1.weight')) {
        const f = fx.get(name)!;
        const { values, metadata } = await readSparse(output, name);
        // Independent 2:4 oracle: in each group of 4 keep the two largest |w|.
        const expected = f.values.slice();
        for (let g = 0; g < expected.length; g += 4) {
          const order = [0, 1, 2, 3].sort((a, b) => Math.abs(f.values[g + a]) - Math.abs(f.values[g + b]));
          expected[g + order[0]] = 0;
          expected[g + order[1]] = 0;
        }
        expect(values).toEqual(expected);
        expect(metadata[`${name}.sparse_format`]).toBe(compress);
        expect(metadata[`${name}.dense_dtype`]).toBe(f.dtype);
        expect(metadata.format).toBe('pt');
      }
    });
  }

  it('refuses a weight that does not fit the N:M pattern without leaving output', async () => {
    const input = join(root, 'model.safetensors');
    await writeSafetensors(input, entries(fixtures(21)));
    const adapter = await openCheckpointAdapter(input, { output: join(root, 'o.safetensors'), compress: 'nm' });
    const w = await adapter.readWeight('model.layers.0.self_attn.q_proj');
    await expectPruneError(adapter.writeWeight('model.layers.0.self_attn.q_proj', w), 'INVALID_ARGUMENT', /nonzeros/);
    await adapter.abort();
    expect(await readdir(root)).toEqual(['model.safetensors']);
  });
});
