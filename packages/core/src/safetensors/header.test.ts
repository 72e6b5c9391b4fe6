import { describe, expect, it } from 'vitest';
import { PruneError } from '../errors.js';
import { MAX_HEADER_BYTES, parseHeader, planLayout, readHeaderLength } from './header.js';

/** A whole file: length field, `json` as the header (unpadded), then `dataBytes` zero bytes. */
function fileOf(json: string, dataBytes: number): Uint8Array {
  const header = new TextEncoder().encode(json);
  const bytes = new Uint8Array(8 + header.length + dataBytes);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(header.length), true);
  bytes.set(header, 8);
  return bytes;
}

function parse(bytes: Uint8Array): ReturnType<typeof parseHeader> {
  const n = readHeaderLength(bytes, bytes.length, 'f.safetensors');
  return parseHeader(bytes.subarray(8, 8 + n), bytes.length, 'f.safetensors');
}

function corruptMessage(bytes: Uint8Array): string {
  try {
    parse(bytes);
  } catch (e) {
    expect(e).toBeInstanceOf(PruneError);
    expect((e as PruneError).code).toBe('CORRUPT_FILE');
    expect((e as PruneError).message).toContain('f.safetensors');
    return (e as PruneError).message;
  }
  throw new Error('expected the header to be rejected');
}

const t = (name: string, dtype: string, shape: number[], begin: number, end: number): string =>
  `${JSON.stringify(name)}:{"dtype":"${dtype}","shape":${JSON.stringify(shape)},"data_offsets":[${begin},${end}]}`;

describe('planLayout matches the reference writer byte for byte', () => {
  // Expected bytes from the reference implementation's own serialisation tests.
  it('one F32 tensor, header already a multiple of 8', () => {
    const layout = planLayout([{ name: 'attn.0', dtype: 'F32', shape: [1, 2, 3] }]);
    const expected = [
      64, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 46, 48, 34, 58, 123, 34, 100, 116, 121, 112, 101, 34, 58, 34, 70, 51, 50, 34, 44, 34, 115, 104, 97,
      112, 101, 34, 58, 91, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102, 115, 101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125,
    ];
    expect([...layout.header]).toEqual(expected);
    expect(layout.fileSize).toBe(96);
    expect(layout.entries).toEqual([{ name: 'attn.0', dtype: 'F32', shape: [1, 2, 3], byteOffset: 72, byteLength: 24 }]);
  });

  it('pads the header with spaces to 8-byte alignment', () => {
    const layout = planLayout([{ name: 'attn0', dtype: 'F32', shape: [1, 1, 2, 3] }]);
    expect(layout.header.length).toBe(8 + 72);
    expect(new DataView(layout.header.buffer).getBigUint64(0, true)).toBe(72n);
    expect([...layout.header.subarray(73)]).toEqual([32, 32, 32, 32, 32, 32, 32]);
  });

  it('no tensors, with and without metadata', () => {
    expect([...planLayout([]).header]).toEqual([8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]);
    expect(new TextDecoder().decode(planLayout([], { framework: 'pt' }).header.subarray(8))).toBe('{"__metadata__":{"framework":"pt"}}     ');
  });

  it('orders by descending dtype alignment, then name; metadata keys sorted', () => {
    const layout = planLayout(
      [
        { name: 'b', dtype: 'U8', shape: [3] },
        { name: 'a', dtype: 'U8', shape: [1] },
        { name: 'z', dtype: 'I64', shape: [1] },
        { name: 'h', dtype: 'BF16', shape: [2] },
        { name: 'g', dtype: 'F16', shape: [2] },
      ],
      { z: '1', a: '2' },
    );
    expect(layout.entries.map((e) => e.name)).toEqual(['z', 'h', 'g', 'a', 'b']);
    const json = new TextDecoder().decode(layout.header.subarray(8)).trimEnd();
    expect(json.startsWith('{"__metadata__":{"a":"2","z":"1"},"z":')).toBe(true);
    expect(layout.entries.map((e) => e.byteOffset - layout.header.length)).toEqual([0, 8, 12, 16, 17]);
  });

  it('rejects bad names, dtypes, shapes and metadata', () => {
    const bad = (specs: Parameters<typeof planLayout>[0], meta?: Record<string, string>): void => {
      expect(() => planLayout(specs, meta)).toThrow(PruneError);
    };
    bad([{ name: '__metadata__', dtype: 'F32', shape: [] }]);
    bad([{ name: 'a', dtype: 'F32', shape: [] }, { name: 'a', dtype: 'F32', shape: [] }]);
    bad([{ name: 'a', dtype: 'F128' as 'F32', shape: [] }]);
    bad([{ name: 'a', dtype: 'F32', shape: [-1] }]);
    bad([{ name: 'a', dtype: 'F32', shape: [1.5] }]);
    bad([{ name: 'a', dtype: 'F32', shape: [2 ** 40, 2 ** 40] }]);
    bad([{ name: '\ud800', dtype: 'F32', shape: [] }]);
    bad([], { k: 1 as unknown as string });
  });
});

describe('parseHeader', () => {
  it('reads a valid header in offset order with metadata and absolute offsets', () => {
    const json = `{${t('second', 'F16', [2], 8, 12)},"__metadata__":{"format":"pt"},${t('first', 'I64', [1], 0, 8)},${t('empty', 'F32', [0, 5], 12, 12)},${t('scalar', 'U8', [], 12, 13)}}`;
    const bytes = fileOf(json, 13);
    const header = parse(bytes);
    const start = 8 + new TextEncoder().encode(json).length;
    expect(header.dataStart).toBe(start);
    expect(header.metadata).toEqual({ format: 'pt' });
    expect(header.tensors.map((x) => [x.name, x.byteOffset - start, x.byteLength, x.size])).toEqual([
      ['first', 0, 8, 1],
      ['second', 8, 4, 2],
      ['empty', 12, 0, 0],
      ['scalar', 12, 1, 1],
    ]);
  });

  it('accepts whitespace padding after the JSON', () => {
    expect(parse(fileOf(`{${t('a', 'U8', [1], 0, 1)}}   \n`, 1)).tensors).toHaveLength(1);
  });

  it('rejects impossible header lengths before allocating', () => {
    const big = new Uint8Array(16);
    new DataView(big.buffer).setBigUint64(0, BigInt(MAX_HEADER_BYTES + 1), true);
    expect(() => readHeaderLength(big, 1e12, 'f.safetensors')).toThrow(/limit/);
    new DataView(big.buffer).setBigUint64(0, 2n ** 64n - 1n, true);
    expect(() => readHeaderLength(big, 1e12, 'f.safetensors')).toThrow(/18446744073709551615/);
    new DataView(big.buffer).setBigUint64(0, 9n, true);
    expect(() => readHeaderLength(big, 16, 'f.safetensors')).toThrow(/truncated/);
    expect(() => readHeaderLength(new Uint8Array(5), 5, 'f.safetensors')).toThrow(/fewer than the 8-byte/);
  });

  it.each([
    ['not an object', '[1,2]', 0, /not a JSON object/],
    ['not JSON', '{"a":', 0, /not valid JSON/],
    ['unknown dtype', `{${t('w', 'F128', [1], 0, 16)}}`, 16, /"w" has unknown dtype "F128"/],
    ['negative dimension', `{${t('w', 'U8', [-1], 0, 0)}}`, 0, /"w" has a shape dimension -1/],
    ['fractional dimension', `{${t('w', 'U8', [1.5], 0, 0)}}`, 0, /"w" has a shape dimension 1.5/],
    ['dimension above 2^53', `{${t('w', 'U8', [2 ** 53], 0, 0)}}`, 0, /"w" has a shape dimension/],
    ['string dimension', `{"w":{"dtype":"U8","shape":["1"],"data_offsets":[0,1]}}`, 1, /"w" has a shape dimension "1"/],
    ['overflowing shape', `{${t('w', 'U8', [2 ** 30, 2 ** 30, 2 ** 30], 0, 0)}}`, 0, /overflows/],
    ['shape/bytes mismatch', `{${t('w', 'F32', [3], 0, 8)}}`, 8, /"w" is F32\[3\] \(12 bytes\) but data_offsets \[0, 8\] span 8/],
    ['offsets out of range', `{${t('w', 'U8', [4], 0, 4)}}`, 3, /"w" has data_offsets \[0, 4\] outside the 3-byte data buffer/],
    ['reversed offsets', `{${t('w', 'U8', [0], 4, 2)}}`, 4, /outside/],
    ['overlap', `{${t('a', 'U8', [4], 0, 4)},${t('b', 'U8', [4], 2, 6)}}`, 6, /"b" .* overlaps/],
    ['gap', `{${t('a', 'U8', [2], 0, 2)},${t('b', 'U8', [2], 3, 5)}}`, 5, /"b" .* gap of 1 bytes/],
    ['trailing bytes', `{${t('a', 'U8', [2], 0, 2)}}`, 3, /cover 2 bytes but the data buffer has 3/],
    ['duplicate tensor', `{${t('a', 'U8', [1], 0, 1)},${t('a', 'U8', [1], 1, 2)}}`, 2, /duplicate key "a"/],
    ['metadata not strings', '{"__metadata__":{"n":1}}', 0, /"n" is not a string/],
    ['tensor not an object', '{"w":[1]}', 0, /"w" is not described by an object/],
    ['missing offsets', '{"w":{"dtype":"U8","shape":[1]}}', 1, /"w" has no data_offsets/],
    ['missing shape', '{"w":{"dtype":"U8","data_offsets":[0,1]}}', 1, /"w" has no shape/],
  ])('rejects %s', (_label, json, dataBytes, message) => {
    expect(corruptMessage(fileOf(json, dataBytes))).toMatch(message);
  });

  it('rejects a header that is not UTF-8', () => {
    const bytes = fileOf('{"a":1}', 0);
    bytes[10] = 0xff;
    expect(corruptMessage(bytes)).toMatch(/UTF-8/);
  });
});
