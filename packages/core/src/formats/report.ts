import { packedBytes } from './bits.js';
import { csrColumnIndexBytes } from './csr.js';
import { type WeightInput, readWeight } from './dense.js';
import { type NmPattern, checkNmPattern, maxGroupCount, nmByteSizeFor } from './nm.js';

/** Options of {@link sparseByteReport}. */
export interface SparseByteReportOptions {
  /**
   * N:M patterns to try; each is reported with its size when the weight satisfies it.
   * @defaultValue `[{ n: 2, m: 4 }]`
   */
  nm?: readonly NmPattern[];
}

/** Size of one N:M pattern in a {@link SparseByteReport}. */
export interface NmByteEntry extends NmPattern {
  /** Payload bytes, or `undefined` when the weight does not satisfy the pattern. */
  bytes: number | undefined;
  /** Why the pattern does not apply (absent when it does). */
  reason?: string;
}

/** The smallest format of a {@link SparseByteReport}. */
export interface SparseFormatChoice {
  /** `'dense'` (plain float32), `'csr'`, `'bitmask'` or `'nm'`. */
  format: 'dense' | 'csr' | 'bitmask' | 'nm';
  /** Payload bytes. */
  bytes: number;
  /** The N:M pattern, when `format` is `'nm'`. */
  pattern?: NmPattern;
}

/**
 * Exact payload sizes of a weight in each storage format. Sizes count the arrays only
 * (values, indices, pointers, masks), not the shape or names stored beside them.
 */
export interface SparseByteReport {
  /** Shape of the weight. */
  shape: number[];
  /** Number of elements. */
  numel: number;
  /** Elements with `w !== 0` (`-0` counts as zero). */
  nonzeros: number;
  /** `nonzeros / numel` (0 for an empty weight). */
  density: number;
  /** Dense float32: `4·numel`. */
  dense: number;
  /** CSR: `4·nnz + (2 or 4)·nnz + 4·(rows + 1)` — 2-byte column indices when d_in ≤ 65 536. */
  csr: number;
  /** Bitmask: `4·nnz + ceil(numel/8)`. */
  bitmask: number;
  /** One entry per requested N:M pattern: `4·slots + ceil(slots·ceil(log2 m)/8)`, slots = rows·d_in/m·n. */
  nm: NmByteEntry[];
  /** The smallest applicable format; ties go to the simpler format (dense, bitmask, CSR, then N:M). */
  best: SparseFormatChoice;
}

/**
 * Counts the bytes a weight takes densely, in CSR, as a bitmask and in each applicable N:M
 * pattern, and picks the smallest — the size gain a pruned model can actually ship.
 * One O(numel) pass per distinct group width; nothing is encoded.
 * @param weight - float32 tensor or host array; rank ≥ 1, last axis = d_in
 * @param options - N:M patterns to consider
 * @returns sizes in bytes and the smallest format
 *
 * @example
 * ```ts
 * const report = sparseByteReport(prunedWeight, { nm: [{ n: 2, m: 4 }] });
 * console.log(report.best.format, report.best.bytes / report.dense);
 * ```
 */
export function sparseByteReport(weight: WeightInput, options: SparseByteReportOptions = {}): SparseByteReport {
  const patterns = options.nm ?? [{ n: 2, m: 4 }];
  for (const p of patterns) checkNmPattern(p, 'sparseByteReport');
  const { values, shape, rows, columns } = readWeight(weight, 'sparseByteReport');
  const numel = values.length;
  let nonzeros = 0;
  for (let i = 0; i < numel; i++) if (values[i] !== 0) nonzeros++;
  const dense = numel * 4;
  const csr = nonzeros * (4 + csrColumnIndexBytes(columns)) + (rows + 1) * 4;
  const bitmask = nonzeros * 4 + packedBytes(numel, 1);
  const maxPerGroup = new Map<number, number>();
  const nm = patterns.map(({ n, m }): NmByteEntry => {
    if (columns % m !== 0) return { n, m, bytes: undefined, reason: `d_in = ${columns} is not a multiple of m = ${m}` };
    let max = maxPerGroup.get(m);
    if (max === undefined) {
      max = maxGroupCount(values, numel, m);
      maxPerGroup.set(m, max);
    }
    if (max > n) return { n, m, bytes: undefined, reason: `a group of ${m} columns holds ${max} nonzeros, more than ${n}` };
    return { n, m, bytes: nmByteSizeFor(shape, { n, m }) };
  });
  let best: SparseFormatChoice = { format: 'dense', bytes: dense };
  if (bitmask < best.bytes) best = { format: 'bitmask', bytes: bitmask };
  if (csr < best.bytes) best = { format: 'csr', bytes: csr };
  for (const e of nm) {
    if (e.bytes !== undefined && e.bytes < best.bytes) best = { format: 'nm', bytes: e.bytes, pattern: { n: e.n, m: e.m } };
  }
  return { shape: [...shape], numel, nonzeros, density: numel === 0 ? 0 : nonzeros / numel, dense, csr, bitmask, nm, best };
}
