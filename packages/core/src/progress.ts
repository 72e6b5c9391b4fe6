/**
 * One report from long-running work. A command-line front end draws one bar per
 * {@link ProgressEvent.stage}; `done / total` is the bar's fill.
 *
 * @example
 * ```ts
 * await writeSafetensors('out.safetensors', tensors, {
 *   onProgress: (e) => console.log(`${e.stage}: ${e.done}/${e.total} ${e.unit ?? ''}`),
 * });
 * ```
 */
export interface ProgressEvent {
  /** The stage this report belongs to, e.g. `'write'` or `'calibrate'`. Equal stages share one bar. */
  readonly stage: string;
  /** Units finished so far, `0 ≤ done ≤ total` when the total is known. */
  readonly done: number;
  /** Units the stage will do in all; `0` when the total is not known in advance. */
  readonly total: number;
  /** What a unit is (`'bytes'`, `'tensors'`, `'layers'`, …), so a front end can format it. */
  readonly unit?: string;
  /** A short human-readable note on the current step, e.g. the tensor being written. */
  readonly message?: string;
}

/**
 * Receives {@link ProgressEvent}s. It is called synchronously from the work it observes, so it
 * should return quickly; whatever it throws (or a promise it returns rejects with) is
 * ignored, so a faulty callback never breaks the work it reports on.
 */
export type ProgressCallback = (event: ProgressEvent) => void;

/** Options shared by every function that reports progress. */
export interface ProgressOptions {
  /**
   * Called as the work advances.
   * @defaultValue no reporting
   */
  onProgress?: ProgressCallback;
}

/**
 * Delivers `event` to `onProgress`, if there is one, shielding the caller from the callback:
 * a throw is swallowed, a returned promise's rejection is absorbed, and the callback gets a
 * frozen copy it cannot use to alter the caller's state.
 *
 * @param onProgress - the user's callback, or `undefined`
 * @param event - the report
 */
export function reportProgress(onProgress: ProgressCallback | undefined, event: ProgressEvent): void {
  if (onProgress === undefined) return;
  try {
    const result: unknown = onProgress(Object.freeze({ ...event }));
    // An async callback's rejection would otherwise surface as an unhandled rejection.
    if (result !== null && typeof result === 'object' && typeof (result as { then?: unknown }).then === 'function') {
      (result as Promise<unknown>).then(undefined, () => undefined);
    }
  } catch {
    // A progress display failing must not abort or corrupt the work it displays.
  }
}

/** A running count for one stage, made by {@link progressStage}. */
export interface ProgressStage {
  /** Units done so far. */
  readonly done: number;
  /**
   * Adds `units` to the count and reports it.
   * @param units - units just finished
   * @param message - optional note on what was finished
   */
  advance(units: number, message?: string): void;
}

/**
 * Starts a stage: reports `done = 0` at once, then every {@link ProgressStage.advance}. The count
 * is clamped to `[0, total]` (when the total is known) so bars never overshoot.
 *
 * @param onProgress - the user's callback, or `undefined`
 * @param stage - stage name, shown as the bar's label
 * @param total - units in all; `0` when not known
 * @param unit - what a unit is, e.g. `'bytes'`
 * @returns the running count
 */
export function progressStage(onProgress: ProgressCallback | undefined, stage: string, total: number, unit?: string): ProgressStage {
  const known = Number.isFinite(total) && total > 0;
  const fullTotal = known ? total : 0;
  let done = 0;
  const emit = (message?: string): void => {
    const event: { -readonly [K in keyof ProgressEvent]: ProgressEvent[K] } = { stage, done, total: fullTotal };
    if (unit !== undefined) event.unit = unit;
    if (message !== undefined) event.message = message;
    reportProgress(onProgress, event);
  };
  emit();
  return {
    get done() {
      return done;
    },
    advance(units: number, message?: string) {
      if (Number.isFinite(units) && units > 0) done += units;
      if (known && done > fullTotal) done = fullTotal;
      emit(message);
    },
  };
}
