import { PruneError } from '../errors.js';
import { type BitmaskEncoding, bitmaskByteSize, decodeBitmask, encodeBitmask } from './bitmask.js';
import { type CsrEncoding, csrByteSize, decodeCsr, encodeCsr } from './csr.js';
import type { WeightInput } from './dense.js';
import { type NmEncoding, type NmPattern, decodeNm, encodeNm, nmByteSize } from './nm.js';

/** Any compressed weight encoding, told apart by its `format` tag. */
export type SparseEncoding = CsrEncoding | NmEncoding | BitmaskEncoding;

/** Name of a compressed format, as in {@link SparseEncoding}'s `format` tag. */
export type SparseFormat = SparseEncoding['format'];

function unknownFormat(enc: { format?: unknown }): never {
  throw new PruneError('INVALID_ARGUMENT', `unknown sparse format ${String(enc.format)}; expected 'csr', 'nm' or 'bitmask' (a dense weight needs no encoding)`);
}

/**
 * Decodes any {@link SparseEncoding} to a dense row-major array of `enc.shape`.
 * @param enc - CSR, N:M or bitmask encoding
 * @returns a fresh dense array
 */
export function decodeSparse(enc: SparseEncoding): Float32Array {
  switch (enc.format) {
    case 'csr':
      return decodeCsr(enc);
    case 'nm':
      return decodeNm(enc);
    case 'bitmask':
      return decodeBitmask(enc);
    default:
      return unknownFormat(enc);
  }
}

/**
 * Payload bytes of any {@link SparseEncoding} (its arrays; not the shape or tags).
 * @param enc - CSR, N:M or bitmask encoding
 */
export function sparseByteSize(enc: SparseEncoding): number {
  switch (enc.format) {
    case 'csr':
      return csrByteSize(enc);
    case 'nm':
      return nmByteSize(enc);
    case 'bitmask':
      return bitmaskByteSize(enc);
    default:
      return unknownFormat(enc);
  }
}

/** Which compressed format {@link encodeSparse} produces (an N:M choice carries its pattern). */
export type SparseFormatRequest =
  | {
      /** CSR. */
      format: 'csr';
    }
  | {
      /** Bitmask plus values. */
      format: 'bitmask';
    }
  | {
      /** N:M. */
      format: 'nm';
      /** The N:M pattern the weight satisfies. */
      pattern: NmPattern;
    };

/**
 * Encodes a weight in the requested format — e.g. the `best` choice of a
 * {@link sparseByteReport} when it is not `'dense'`.
 * @param weight - float32 tensor or host array; rank ≥ 1, last axis = d_in
 * @param request - format, plus the pattern for N:M
 */
export function encodeSparse(weight: WeightInput, request: SparseFormatRequest): SparseEncoding {
  switch (request?.format) {
    case 'csr':
      return encodeCsr(weight);
    case 'bitmask':
      return encodeBitmask(weight);
    case 'nm':
      return encodeNm(weight, request.pattern);
    default:
      return unknownFormat(request ?? {});
  }
}
