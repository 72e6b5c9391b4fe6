import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openSafetensors, writeSafetensors } from '../safetensors/index.js';
import { encodeBitmask } from './bitmask.js';
import { encodeCsr } from './csr.js';
import { encodeNm } from './nm.js';
import { type RawTensor, type RawTensorInput, sparseFormatOf, sparseFromRawTensors, sparseTensorNames, sparseToRawTensors } from './raw.js';
import { decodeSparse } from './sparse.js';

const values = Float32Array.of(0, 1.5, 0, -2, 3, 0, 0, 0, /* row 1 */ 0, 0, 0, 0, 0, 0, 5, 6);
const shape = [2, 8];

describe('sparseToRawTensors / sparseFromRawTensors', () => {
  it('names CSR tensors with dtypes and shapes, and records format and shape in metadata', () => {
    const set = sparseToRawTensors('h.0.mlp.weight', encodeCsr({ values, shape }));
    expect(set.metadata).toEqual({ 'h.0.mlp.weight.sparse_format': 'csr', 'h.0.mlp.weight.sparse_shape': '[2,8]' });
    const t = set.tensors;
    expect(Object.keys(t)).toEqual(['h.0.mlp.weight.csr_values', 'h.0.mlp.weight.csr_col', 'h.0.mlp.weight.csr_rowptr']);
    expect(t['h.0.mlp.weight.csr_values']).toEqual({ dtype: 'F32', shape: [5], data: Float32Array.of(1.5, -2, 3, 5, 6) });
    expect(t['h.0.mlp.weight.csr_col']).toEqual({ dtype: 'U16', shape: [5], data: Uint16Array.of(1, 3, 4, 6, 7) });
    expect(t['h.0.mlp.weight.csr_rowptr']).toEqual({ dtype: 'U32', shape: [3], data: Uint32Array.of(0, 3, 5) });
  });

  it('names N:M and bitmask tensors', () => {
    const nm = sparseToRawTensors('w', encodeNm({ values, shape }, { n: 2, m: 4 }));
    expect(nm.metadata).toEqual({ 'w.sparse_format': 'nm', 'w.sparse_shape': '[2,8]', 'w.sparse_nm': '2:4' });
    expect(nm.tensors['w.nm_values']).toEqual({ dtype: 'F32', shape: [2, 4], data: Float32Array.of(1.5, -2, 3, 0, 0, 0, 5, 6) });
    expect(nm.tensors['w.nm_indices']).toEqual({ dtype: 'U8', shape: [2], data: Uint8Array.of(0x4d, 0xe4) });
    const bm = sparseToRawTensors('w', encodeBitmask({ values, shape }));
    expect(bm.tensors['w.bitmask_mask']).toEqual({ dtype: 'U8', shape: [2], data: Uint8Array.of(0b0001_1010, 0b1100_0000) });
    expect(bm.tensors['w.bitmask_values'].shape).toEqual([5]);
  });

  it('round-trips every format through a record and through a lookup callback', () => {
    for (const enc of [encodeCsr({ values, shape }), encodeNm({ values, shape }, { n: 2, m: 4 }), encodeBitmask({ values, shape })]) {
      const { tensors, metadata } = sparseToRawTensors('layer.weight', enc);
      expect(sparseFormatOf('layer.weight', metadata)).toBe(enc.format);
      expect(sparseTensorNames('layer.weight', metadata)).toEqual(Object.keys(tensors));
      const back = sparseFromRawTensors('layer.weight', tensors, metadata);
      expect(back).toEqual(enc);
      const requested: string[] = [];
      const viaCallback = sparseFromRawTensors('layer.weight', (n) => (requested.push(n), tensors[n]), metadata);
      expect([...decodeSparse(viaCallback)]).toEqual([...values]);
      expect(requested).toEqual(sparseTensorNames('layer.weight', metadata));
    }
    expect(sparseFormatOf('dense.weight', {})).toBeUndefined();
    expect(sparseTensorNames('dense.weight', {})).toEqual([]);
  });

  it('turns every inconsistency into CORRUPT_FILE', () => {
    const { tensors, metadata } = sparseToRawTensors('w', encodeCsr({ values, shape }));
    const nm = sparseToRawTensors('w', encodeNm({ values, shape }, { n: 2, m: 4 }));
    const withTensor = (name: string, t: RawTensor | undefined) => ({ ...tensors, [name]: t }) as Record<string, RawTensor>;
    const cases: [Record<string, RawTensor>, Record<string, string>][] = [
      [tensors, { ...metadata, 'w.sparse_format': 'coo' }],
      [tensors, { 'w.sparse_format': 'csr' }],
      [tensors, { ...metadata, 'w.sparse_shape': '[2,' }],
      [tensors, { ...metadata, 'w.sparse_shape': '[2,-8]' }],
      [tensors, { ...metadata, 'w.sparse_shape': '[]' }],
      [tensors, { ...metadata, 'w.sparse_shape': '[3,8]' }],
      [withTensor('w.csr_col', undefined), metadata],
      [withTensor('w.csr_col', { dtype: 'F32', shape: [5], data: new Float32Array(5) }), metadata],
      [withTensor('w.csr_col', { dtype: 'U16', shape: [5], data: new Uint32Array(5) } as unknown as RawTensor), metadata],
      [withTensor('w.csr_col', { dtype: 'U16', shape: [6], data: new Uint16Array(5) }), metadata],
      [withTensor('w.csr_col', { dtype: 'U16', shape: [5], data: Uint16Array.of(1, 3, 4, 6, 8) }), metadata],
      [withTensor('w.csr_rowptr', { dtype: 'U32', shape: [3], data: Uint32Array.of(0, 4, 3) }), metadata],
      [nm.tensors, { ...nm.metadata, 'w.sparse_nm': '2-4' }],
      [nm.tensors, { ...nm.metadata, 'w.sparse_nm': '5:4' }],
      [nm.tensors, { ...nm.metadata, 'w.sparse_nm': '1:4' }],
      [{ ...nm.tensors, 'w.nm_indices': { dtype: 'U8', shape: [2], data: Uint8Array.of(0x4d, 0xe7) } }, nm.metadata],
    ];
    for (const [t, m] of cases) {
      expect(() => sparseFromRawTensors('w', t, m)).toThrow(expect.objectContaining({ code: 'CORRUPT_FILE' }));
    }
  });

  it('accepts raw little-endian bytes in place of typed arrays', () => {
    for (const enc of [encodeCsr({ values, shape }), encodeNm({ values, shape }, { n: 2, m: 4 }), encodeBitmask({ values, shape })]) {
      const { tensors, metadata } = sparseToRawTensors('w', enc);
      const asBytes: Record<string, RawTensorInput> = {};
      for (const [k, t] of Object.entries(tensors)) {
        asBytes[k] = { dtype: t.dtype, shape: t.shape, data: new Uint8Array(t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength)) };
      }
      expect(sparseFromRawTensors('w', asBytes, metadata)).toEqual(enc);
    }
    const { tensors, metadata } = sparseToRawTensors('w', encodeCsr({ values, shape }));
    const short = { ...tensors, 'w.csr_rowptr': { dtype: 'U32', shape: [3], data: new Uint8Array(11) } };
    expect(() => sparseFromRawTensors('w', short, metadata)).toThrow(expect.objectContaining({ code: 'CORRUPT_FILE', message: expect.stringMatching(/12 bytes\) but 11 bytes/) }));
  });

  it('round-trips through a safetensors file written and read by the safetensors module', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'prune-sparse-'));
    try {
      const encodings = { 'a.weight': encodeCsr({ values, shape }), 'b.weight': encodeNm({ values, shape }, { n: 2, m: 4 }), 'c.weight': encodeBitmask({ values, shape }) };
      const tensors: Record<string, RawTensor> = {};
      const metadata: Record<string, string> = {};
      for (const [name, enc] of Object.entries(encodings)) {
        const set = sparseToRawTensors(name, enc);
        Object.assign(tensors, set.tensors);
        Object.assign(metadata, set.metadata);
      }
      const path = join(dir, 'sparse.safetensors');
      await writeSafetensors(path, tensors, { metadata });
      const file = await openSafetensors(path);
      try {
        for (const [name, enc] of Object.entries(encodings)) {
          const read: Record<string, RawTensorInput> = {};
          for (const t of sparseTensorNames(name, file.metadata)) {
            const info = await file.info(t);
            read[t] = { dtype: info.dtype, shape: info.shape, data: await file.readTensor(t, { as: 'raw' }) };
          }
          const back = sparseFromRawTensors(name, read, file.metadata);
          expect(back).toEqual(enc);
          expect([...decodeSparse(back)]).toEqual([...values]);
        }
      } finally {
        await file.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
