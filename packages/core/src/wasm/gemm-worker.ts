import { workerData } from 'node:worker_threads';
import { BUSY, DONE, FAILED, READY, STATE, type SliceKernel, compileSliceKernel, readJob, runChunks } from './gemm-kernel.js';

// A worker thread of the host matrix products (gemm.ts): waits for a slice, adds its share of
// C's row chunks in the shared kernel memory, reports DONE (FAILED on a trap).

const { control: controlBuffer, memory } = workerData as { control: SharedArrayBuffer; memory: WebAssembly.Memory };
const control = new Int32Array(controlBuffer);
const kernels = new Map<number, SliceKernel | null>();
Atomics.store(control, READY, 1);

for (;;) {
  let state = Atomics.load(control, STATE);
  while (state !== BUSY) {
    Atomics.wait(control, STATE, state);
    state = Atomics.load(control, STATE);
  }
  let result = DONE;
  try {
    const { job, first, step } = readJob(control);
    let kernel = kernels.get(job.len);
    if (kernel === undefined) kernels.set(job.len, (kernel = compileSliceKernel(memory, job.len, true)));
    if (kernel === null) throw new Error('no kernel');
    runChunks(kernel, job, first, step);
  } catch {
    result = FAILED;
  }
  Atomics.store(control, STATE, result);
  Atomics.notify(control, STATE);
}
