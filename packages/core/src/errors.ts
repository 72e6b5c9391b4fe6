/**
 * Stable error codes carried by every {@link PruneError}. Codes never change meaning
 * between releases, so callers may branch on them.
 */
export type PruneErrorCode =
  | 'INVALID_ARGUMENT'
  | 'SHAPE_MISMATCH'
  | 'DTYPE_MISMATCH'
  | 'OUT_OF_RANGE'
  | 'NON_FINITE'
  | 'NOT_POSITIVE_DEFINITE'
  | 'BACKEND_NOT_FOUND'
  | 'BACKEND_MISMATCH'
  | 'BACKEND_UNAVAILABLE'
  | 'KERNEL_UNAVAILABLE'
  | 'DISPOSED'
  | 'CORRUPT_FILE'
  | 'UNSAFE_PATH'
  | 'IO_ERROR'
  | 'UNSUPPORTED'
  | 'NOT_FOUND';

/**
 * The one error type the toolkit throws for bad input or unusable state. The message says
 * what is wrong and what to change; {@link PruneError.code} is stable for programmatic checks.
 *
 * @example
 * ```ts
 * try { rowMask(scores, { sparsity: 1.5 }) } catch (e) {
 *   if (e instanceof PruneError && e.code === 'OUT_OF_RANGE') { ... }
 * }
 * ```
 */
export class PruneError extends Error {
  /** Stable machine-readable code. */
  readonly code: PruneErrorCode;

  /**
   * @param code - stable code for the failure
   * @param message - what is wrong and what to do about it
   * @param options - optional underlying cause
   */
  constructor(code: PruneErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PruneError';
    this.code = code;
  }
}

/**
 * Throws a {@link PruneError} with `code` and `message` unless `condition` holds.
 * @param condition - the invariant to check
 * @param code - error code when it fails
 * @param message - message, or a function building it lazily
 */
export function assert(
  condition: unknown,
  code: PruneErrorCode,
  message: string | (() => string),
): asserts condition {
  if (!condition) throw new PruneError(code, typeof message === 'string' ? message : message());
}
