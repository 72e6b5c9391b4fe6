import type { ProgressCallback } from '@prune/core';
import cliProgress from 'cli-progress';

/** A progress display fed by {@link ProgressCallback} events; one bar per stage. */
export interface ProgressDisplay {
  /** Pass this to the library as `onProgress`. */
  readonly onProgress: ProgressCallback;
  /** Removes the bars (call before printing results). */
  stop(): void;
}

/**
 * Bars on stderr when it is a terminal; otherwise (CI logs, pipes, `--json`) one line per
 * finished stage, so logs stay readable.
 */
export function createProgressDisplay(stream: NodeJS.WriteStream = process.stderr, enabled = true): ProgressDisplay {
  if (!enabled) return { onProgress: () => undefined, stop: () => undefined };
  if (!stream.isTTY) {
    return {
      onProgress: (e) => {
        if (e.total > 0 && e.done === e.total) stream.write(`${e.stage}: ${e.done}/${e.total}${e.unit ? ` ${e.unit}` : ''} done\n`);
      },
      stop: () => undefined,
    };
  }
  const multi = new cliProgress.MultiBar(
    { stream, format: ' {stage} |{bar}| {value}/{total} {unit} {message}', hideCursor: true, clearOnComplete: false, barsize: 30 },
    cliProgress.Presets.shades_classic,
  );
  const bars = new Map<string, cliProgress.SingleBar>();
  return {
    onProgress: (e) => {
      const payload = { stage: e.stage.padEnd(10), unit: e.unit ?? '', message: e.message ?? '' };
      let bar = bars.get(e.stage);
      if (!bar) {
        bar = multi.create(Math.max(e.total, 1), e.done, payload);
        bars.set(e.stage, bar);
      }
      bar.setTotal(Math.max(e.total, 1));
      bar.update(e.done, payload);
    },
    stop: () => multi.stop(),
  };
}
