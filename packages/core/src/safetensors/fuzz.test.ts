import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { PruneError } from '../errors.js';
import { SAFETENSORS_DTYPES, type SafetensorsDType, safetensorsItemSize } from './dtypes.js';
import { planLayout } from './header.js';
import { openSafetensors } from './reader.js';
import { openShardedSafetensors, writeShardedSafetensors } from './sharded.js';

// Property-based tests of hostile input: every outcome must be a correct read or a
// PruneError — never another exception, a hang (per-run timeout), or a buffer larger than
// the file justifies — and nothing is ever written outside the output folder.

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'prune-st-fuzz-'));
});
afterAll(async () => {
  vi.restoreAllMocks();
  await rm(root, { recursive: true, force: true });
});

const RUNS = { numRuns: 300, seed: 20240611, timeout: 5_000 } as const;

/** Records every buffer the reader allocates (all go through Buffer.allocUnsafeSlow). */
function trackAllocations(): { sizes: number[]; reset(): void } {
  const sizes: number[] = [];
  const original = Buffer.allocUnsafeSlow.bind(Buffer);
  vi.spyOn(Buffer, 'allocUnsafeSlow').mockImplementation((n: number) => {
    sizes.push(n);
    return original(n);
  });
  return { sizes, reset: () => (sizes.length = 0) };
}

function expectOnlyPruneErrors(error: unknown): void {
  if (!(error instanceof PruneError)) throw new Error(`expected a PruneError, got ${String(error)}`, { cause: error });
}

interface Spec {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
}

const specArb: fc.Arbitrary<Spec[]> = fc.uniqueArray(
  fc.record({
    name: fc.string({ maxLength: 6 }).filter((n) => n !== '__metadata__'),
    dtype: fc.constantFrom(...SAFETENSORS_DTYPES),
    shape: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }),
  }),
  { selector: (s) => s.name, maxLength: 4 },
);

/** A valid file's header object, data buffer and the expected bytes of each tensor. */
function buildValid(specs: Spec[], seed: number): { header: Record<string, unknown>; data: Uint8Array; expected: Map<string, Uint8Array> } {
  const layout = planLayout(specs, { format: 'pt' });
  const headerLength = layout.header.length;
  const data = new Uint8Array(layout.fileSize - headerLength);
  for (let i = 0; i < data.length; i++) data[i] = (i * 131 + seed) & 0xff;
  const expected = new Map(layout.entries.map((e) => [e.name, data.slice(e.byteOffset - headerLength, e.byteOffset - headerLength + e.byteLength)]));
  const header = JSON.parse(new TextDecoder().decode(layout.header.subarray(8))) as Record<string, unknown>;
  return { header, data, expected };
}

const oddNumber = fc.oneof(
  fc.integer({ min: -5, max: 64 }),
  fc.constantFrom(2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 + 2, 2 ** 62, 1e300, -0, 0.5),
  fc.double(),
);
const hostileValue = fc.oneof(oddNumber, fc.string({ maxLength: 4 }), fc.constant(null), fc.boolean(), fc.array(oddNumber, { maxLength: 4 }));

/** Edits of the header object. */
type HeaderEdit = (h: Record<string, unknown>) => unknown;
const headerEditArb: fc.Arbitrary<HeaderEdit> = fc.oneof(
  fc.tuple(fc.nat(), fc.oneof(fc.constantFrom('F128', 'f32', 'F4', '', 'I4'), hostileValue)).map(([k, v]) => (h: Record<string, unknown>) => editTensor(h, k, (t) => (t.dtype = v))),
  fc.tuple(fc.nat(), fc.oneof(fc.array(oddNumber, { maxLength: 5 }), hostileValue)).map(([k, v]) => (h: Record<string, unknown>) => editTensor(h, k, (t) => (t.shape = v))),
  fc.tuple(fc.nat(), fc.constantFrom(2 ** 30, 2 ** 21, 65536)).map(([k, d]) => (h: Record<string, unknown>) => editTensor(h, k, (t) => (t.shape = [d, d, d, d]))),
  fc.tuple(fc.nat(), fc.oneof(fc.array(oddNumber, { maxLength: 3 }), hostileValue)).map(([k, v]) => (h: Record<string, unknown>) => editTensor(h, k, (t) => (t.data_offsets = v))),
  fc.tuple(fc.nat(), fc.integer({ min: -8, max: 8 }), fc.integer({ min: -8, max: 8 })).map(([k, a, b]) => (h: Record<string, unknown>) =>
    editTensor(h, k, (t) => {
      const offsets = t.data_offsets;
      if (Array.isArray(offsets) && offsets.length === 2) t.data_offsets = [Number(offsets[0]) + a, Number(offsets[1]) + b];
    }),
  ),
  fc.tuple(fc.nat(), fc.constantFrom('dtype', 'shape', 'data_offsets')).map(([k, f]) => (h: Record<string, unknown>) => editTensor(h, k, (t) => delete t[f])),
  fc.jsonValue({ maxDepth: 3 }).map((v) => (h: Record<string, unknown>) => {
    if (h !== null && typeof h === 'object' && !Array.isArray(h)) h.__metadata__ = v;
  }),
  fc.jsonValue({ maxDepth: 3 }).map((v) => () => v),
  fc.tuple(fc.nat(), fc.string({ maxLength: 4 })).map(([k, name]) => (h: Record<string, unknown>) => {
    if (h === null || typeof h !== 'object' || Array.isArray(h)) return;
    const keys = Object.keys(h).filter((x) => x !== '__metadata__');
    if (keys.length > 0) h[name] = h[keys[k % keys.length]];
  }),
);

function editTensor(h: Record<string, unknown>, k: number, edit: (t: Record<string, unknown>) => void): void {
  if (h === null || typeof h !== 'object' || Array.isArray(h)) return;
  const keys = Object.keys(h).filter((x) => x !== '__metadata__');
  if (keys.length === 0) return;
  const key = keys[k % keys.length];
  if (h[key] === null || typeof h[key] !== 'object') return;
  const copy = { ...(h[key] as Record<string, unknown>) };
  edit(copy);
  h[key] = copy;
}

/** Edits of the header text. */
type TextEdit = (text: string) => string;
const textEditArb: fc.Arbitrary<TextEdit> = fc.oneof(
  fc.nat().map((n) => (t: string) => t.slice(0, n % (t.length + 1))),
  fc.tuple(fc.nat(), fc.string({ maxLength: 3 })).map(([n, s]) => (t: string) => t.slice(0, n % (t.length + 1)) + s + t.slice(n % (t.length + 1))),
  // Repeat the first entry, making a duplicate key.
  fc.constant((t: string) => {
    const m = /^\{("(?:[^"\\]|\\.)*":\{[^}]*\}),?/.exec(t);
    return m ? `{${m[1]},${t.slice(1)}` : t;
  }),
  fc.integer({ min: 50, max: 20_000 }).map((d) => () => `${'['.repeat(d)}${']'.repeat(d)}`),
  fc.integer({ min: 50, max: 20_000 }).map((d) => () => `${'{"a":'.repeat(d)}0${'}'.repeat(d)}`),
  fc.constant(() => 'not json at all'),
);

/** Edits of the final bytes. */
type FileEdit = (bytes: Uint8Array) => Uint8Array;
const fileEditArb: fc.Arbitrary<FileEdit> = fc.oneof(
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map((n) => (b: Uint8Array) => setLength(b, n)),
  fc.integer({ min: -16, max: 16 }).map((d) => (b: Uint8Array) => setLength(b, BigInt(Math.max(0, Number(new DataView(b.buffer, b.byteOffset).getBigUint64(0, true)) + d)))),
  fc.constantFrom(100_000_000n, 100_000_001n, 2n ** 53n, 2n ** 63n).map((n) => (b: Uint8Array) => setLength(b, n)),
  fc.nat().map((n) => (b: Uint8Array) => b.slice(0, n % (b.length + 1))),
  fc.uint8Array({ minLength: 1, maxLength: 9 }).map((extra) => (b: Uint8Array) => {
    const out = new Uint8Array(b.length + extra.length);
    out.set(b);
    out.set(extra, b.length);
    return out;
  }),
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })).map(([at, x]) => (b: Uint8Array) => {
    const out = b.slice();
    if (out.length > 0) out[at % out.length] ^= x;
    return out;
  }),
);

function setLength(bytes: Uint8Array, n: bigint): Uint8Array {
  const out = bytes.slice();
  if (out.length >= 8) new DataView(out.buffer).setBigUint64(0, n, true);
  return out;
}

function assemble(headerText: string, data: Uint8Array): Uint8Array {
  const text = new TextEncoder().encode(headerText);
  const bytes = new Uint8Array(8 + text.length + data.length);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(text.length), true);
  bytes.set(text, 8);
  bytes.set(data, 8 + text.length);
  return bytes;
}

describe('fuzzing the single-file reader', () => {
  it('gives a correct read or a PruneError for mutated headers and layouts, allocating no more than the file justifies', async () => {
    const folder = join(root, 'single');
    await mkdir(folder);
    const path = join(folder, 'f.safetensors');
    const allocations = trackAllocations();
    let valid = 0;
    let rejected = 0;
    await fc.assert(
      fc.asyncProperty(
        specArb,
        fc.nat(255),
        fc.array(headerEditArb, { maxLength: 2 }),
        fc.option(textEditArb, { freq: 4 }),
        fc.array(fileEditArb, { maxLength: 2 }),
        fc.nat(4),
        async (specs, seed, someHeaderEdits, someTextEdit, someFileEdits, clean) => {
          // One run in five is left intact, so correct reads are checked as often as rejections.
          const headerEdits = clean === 0 ? [] : someHeaderEdits;
          const textEdit = clean === 0 ? null : someTextEdit;
          const fileEdits = clean === 0 ? [] : someFileEdits;
          const { header, data, expected } = buildValid(specs, seed);
          let value: unknown = header;
          for (const edit of headerEdits) value = edit(value as Record<string, unknown>) ?? value;
          let text = JSON.stringify(value) ?? 'null';
          if (textEdit !== null) text = textEdit(text);
          let bytes = assemble(text, data);
          for (const edit of fileEdits) bytes = edit(bytes);
          const untouched = headerEdits.length === 0 && textEdit === null && fileEdits.length === 0;
          await writeFile(path, bytes);

          allocations.reset();
          let file;
          try {
            file = await openSafetensors(path);
          } catch (error) {
            expectOnlyPruneErrors(error);
            expect(untouched).toBe(false);
            expect(Math.max(0, ...allocations.sizes)).toBeLessThanOrEqual(bytes.length);
            rejected++;
            return;
          }
          try {
            expect(Math.max(0, ...allocations.sizes)).toBeLessThanOrEqual(bytes.length);
            const infos = await file.list();
            expect(infos.reduce((a, t) => a + t.byteLength, file.header.dataStart)).toBe(bytes.length);
            for (const info of infos) {
              allocations.reset();
              const raw = await file.readTensor(info.name, { as: 'raw' });
              expect(raw.byteLength).toBe(info.byteLength);
              expect(Math.max(0, ...allocations.sizes)).toBeLessThanOrEqual(info.byteLength);
              if (untouched) expect(raw).toEqual(expected.get(info.name));
              allocations.reset();
              const values = await file.readTensor(info.name, { as: 'float32' });
              expect(values.length).toBe(info.size);
              // Conversion needs 4 bytes per element, and every element occupies at least one byte of the file.
              expect(Math.max(0, ...allocations.sizes)).toBeLessThanOrEqual(4 * bytes.length);
              await file.readTensor(info.name, { as: 'int32' }).catch(expectOnlyPruneErrors);
            }
            if (untouched) {
              expect(new Set(file.names())).toEqual(new Set(specs.map((s) => s.name)));
              valid++;
            }
          } finally {
            await file.close();
          }
        },
      ),
      RUNS,
    );
    // The generators must exercise both outcomes, or the property proves little.
    expect(valid).toBeGreaterThan(30);
    expect(rejected).toBeGreaterThan(100);
    expect(await readdir(folder)).toEqual(['f.safetensors']);
  });
});

const hostileName = fc.oneof(
  fc.constantFrom(
    '../evil.safetensors',
    '../../etc/passwd',
    '/etc/passwd',
    '/tmp/x.safetensors',
    'sub/x.safetensors',
    'sub\\x.safetensors',
    '..',
    '.',
    '',
    'C:evil.safetensors',
    'nul\0.safetensors',
    'a.safetensors',
    'b.safetensors',
    'link.safetensors',
  ),
  fc.string({ maxLength: 8 }),
  fc.string({ maxLength: 8, unit: 'binary' }),
);

describe('fuzzing index files and the sharded writer', () => {
  it('confines every shard an index names to the checkpoint folder', async () => {
    const folder = join(root, 'index');
    await mkdir(folder);
    const { writeSafetensors } = await import('./writer.js');
    await writeSafetensors(join(folder, 'a.safetensors'), { w: { dtype: 'F32', shape: [1], data: new Float32Array([1]) } });
    await writeSafetensors(join(root, 'evil.safetensors'), { w: { dtype: 'F32', shape: [1], data: new Float32Array([666]) } });
    const { symlink } = await import('node:fs/promises');
    await symlink(join(root, 'evil.safetensors'), join(folder, 'link.safetensors'));
    const indexPath = join(folder, 'model.safetensors.index.json');
    await fc.assert(
      fc.asyncProperty(fc.dictionary(fc.string({ maxLength: 4 }), hostileName, { maxKeys: 4 }), fc.boolean(), async (weightMap, garble) => {
        let text = JSON.stringify({ metadata: { total_size: 4 }, weight_map: weightMap });
        if (garble) text = text.slice(0, text.length - 2);
        await writeFile(indexPath, text);
        let ckpt;
        try {
          ckpt = await openShardedSafetensors(indexPath);
        } catch (error) {
          expectOnlyPruneErrors(error);
          return;
        }
        try {
          for (const name of ckpt.names()) {
            const shard = ckpt.weightMap.get(name)!;
            expect(shard).not.toMatch(/[/\\\0]|^\.\.?$/);
            try {
              const values = await ckpt.readTensor(name);
              // Only the genuine shard inside the folder can be read; the link out must not be.
              expect(shard).toBe('a.safetensors');
              expect([...values]).toEqual([1]);
            } catch (error) {
              expectOnlyPruneErrors(error);
              if (shard === 'link.safetensors') expect((error as PruneError).code).toBe('UNSAFE_PATH');
            }
          }
        } finally {
          await ckpt.close();
        }
      }),
      RUNS,
    );
  });

  it('never writes outside the output folder, whatever the prefix and tensor names', async () => {
    const base = join(root, 'writer');
    const out = join(base, 'out');
    await mkdir(out, { recursive: true });
    const before = await listTree(root);
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(hostileName, fc.constant('model')),
        fc.uniqueArray(hostileName, { maxLength: 4 }),
        fc.integer({ min: 1, max: 16 }),
        async (prefix, names, maxShardBytes) => {
          const specs = new Map(names.map((n) => [n, { dtype: 'U8' as const, shape: [3] }]));
          try {
            await writeShardedSafetensors(out, specs, () => new Uint8Array(3), { prefix, maxShardBytes });
          } catch (error) {
            expectOnlyPruneErrors(error);
          }
          const after = await listTree(root);
          const outside = after.filter((p) => !p.startsWith(`${relative(root, out)}/`) && !before.includes(p));
          expect(outside).toEqual([]);
          for (const f of await readdir(out)) expect(f.endsWith('.tmp')).toBe(false);
          await rm(out, { recursive: true, force: true });
          await mkdir(out);
        },
      ),
      { ...RUNS, numRuns: 150 },
    );
  });
});

async function listTree(folder: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(folder, { withFileTypes: true })) {
    const rel = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    out.push(rel);
    if (entry.isDirectory()) out.push(...(await listTree(join(folder, entry.name), rel)));
  }
  return out;
}

// Keep the item-size table in view: the allocation bound above relies on every dtype using at least one byte.
it('every dtype occupies at least one byte per element', () => {
  expect(Math.min(...SAFETENSORS_DTYPES.map(safetensorsItemSize))).toBeGreaterThanOrEqual(1);
});
