import { workerData } from 'node:worker_threads';
import { serveTasks } from '../threads.js';
import { READY, type SliceKernel, compileSliceKernel, readJob, runChunks } from './gemm-kernel.js';

// A worker thread of the host matrix products (gemm.ts): waits for a slice, adds its share of
// C's row chunks in the shared kernel memory, reports DONE (FAILED on a trap).

const { control: controlBuffer, memory } = workerData as { control: SharedArrayBuffer; memory: WebAssembly.Memory };
const control = new Int32Array(controlBuffer);
const kernels = new Map<number, SliceKernel | null>();
Atomics.store(control, READY, 1);

serveTasks(control, () => {
  const { job, first, step } = readJob(control);
  let kernel = kernels.get(job.len);
  if (kernel === undefined) kernels.set(job.len, (kernel = compileSliceKernel(memory, job.len, true)));
  if (kernel === null) throw new Error('no kernel');
  runChunks(kernel, job, first, step);
});
