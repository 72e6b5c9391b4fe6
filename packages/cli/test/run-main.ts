import { Writable } from 'node:stream';
import { main } from '../src/main.js';

/** A writable stream that keeps what is written, for reading back in tests. */
function sink(): { stream: Writable & { isTTY?: boolean }; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk, _enc, done) {
      text += String(chunk);
      done();
    },
  }) as Writable & { isTTY?: boolean };
  return { stream, text: () => text };
}

/** Runs the `prune` command in-process with `args`; returns its exit code and what it printed. */
export async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = sink();
  const err = sink();
  const code = await main(args, { stdout: out.stream as unknown as NodeJS.WriteStream, stderr: err.stream as unknown as NodeJS.WriteStream });
  return { code, stdout: out.text(), stderr: err.text() };
}
