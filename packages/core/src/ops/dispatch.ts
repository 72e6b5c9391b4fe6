import type { Backend } from '../backend.js';
import type { DType } from '../dtype.js';
import { PruneError } from '../errors.js';
import type { KernelName, Kernels, TensorRef } from '../kernels.js';
import { referenceBackend } from '../reference/index.js';
import type { Shape } from '../shape.js';
import { Tensor } from '../tensor.js';

/** Shape and dtype of a kernel output, computed by the op before the call. */
export interface OutputInfo {
  /** Output shape. */
  shape: Shape;
  /** Output dtype. */
  dtype: DType;
}

/** The backend shared by `inputs`; throws `BACKEND_MISMATCH` if they differ. */
export function commonBackend(inputs: readonly Tensor[], op: string): Backend {
  const b = inputs[0].backend;
  for (const t of inputs) {
    if (t.backend !== b) {
      throw new PruneError(
        'BACKEND_MISMATCH',
        `${op}: inputs live on different backends (${b.name} and ${t.backend.name}); move them to one backend with moveTo() first`,
      );
    }
  }
  return b;
}

type AnyKernel = (...args: unknown[]) => unknown;

/**
 * Runs kernel `name` on the inputs' backend, or on the reference backend with copies when
 * that backend does not implement it. `call` receives the kernel function and the input
 * refs and returns the kernel's raw result (one handle, or an array of handles).
 */
function runKernel(
  name: KernelName,
  op: string,
  inputs: readonly Tensor[],
  call: (kernel: AnyKernel, refs: TensorRef<unknown>[]) => unknown,
  outputs: readonly OutputInfo[],
): Tensor[] {
  const backend = commonBackend(inputs, op);
  const refs = inputs.map((t) => t.ref());
  const native = backend.kernels[name] as AnyKernel | undefined;
  if (native) {
    const result = call(native.bind(backend.kernels), refs);
    const handles = outputs.length === 1 ? [result] : (result as unknown[]);
    return handles.map((h, i) => new Tensor(backend, h, outputs[i].shape, outputs[i].dtype));
  }
  // Fallback: compute on the host with the reference kernels, then upload the results.
  const ref = referenceBackend as unknown as Backend<unknown>;
  const hostRefs = refs.map((r) => ({
    handle: ref.upload(backend.downloadSync(r.handle, r.shape, r.dtype), r.shape, r.dtype),
    shape: r.shape,
    dtype: r.dtype,
  }));
  const kernel = (referenceBackend.kernels as Kernels<unknown>)[name] as AnyKernel;
  const result = call(kernel.bind(referenceBackend.kernels), hostRefs);
  const handles = outputs.length === 1 ? [result] : (result as unknown[]);
  return handles.map((h, i) => {
    const { shape, dtype } = outputs[i];
    return new Tensor(backend, backend.upload(ref.downloadSync(h, shape, dtype), shape, dtype), shape, dtype);
  });
}

/** Runs a single-output kernel; see {@link runKernel}. */
export function run(
  name: KernelName,
  op: string,
  inputs: readonly Tensor[],
  call: (kernel: AnyKernel, refs: TensorRef<unknown>[]) => unknown,
  output: OutputInfo,
): Tensor {
  return runKernel(name, op, inputs, call, [output])[0];
}

/** Runs a multi-output kernel; see {@link runKernel}. */
export function runMulti(
  name: KernelName,
  op: string,
  inputs: readonly Tensor[],
  call: (kernel: AnyKernel, refs: TensorRef<unknown>[]) => unknown,
  outputs: readonly OutputInfo[],
): Tensor[] {
  return runKernel(name, op, inputs, call, outputs);
}
