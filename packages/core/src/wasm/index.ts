/**
 * WebAssembly SIMD building blocks of the toolkit: float32 matrix products on the host
 * ({@link simdMatmul}, {@link simdGram}; large ones shared with worker threads, see
 * `setPruneThreads` in `@prune/core`), the dot-product kernel they share
 * ({@link dotsBody}) and the byte encoders the kernels are assembled with (modules are built
 * at run time from their bytes, nothing is fetched).
 * @packageDocumentation
 */
export * from './assemble.js';
export { ROW_TILE, dotsBody } from './dots.js';
export { simdAvailable, simdGram, simdMatmul, simdThreadActivity } from './gemm.js';
export type { MatmulOptions, MatmulStructure } from './gemm.js';
