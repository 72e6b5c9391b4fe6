import { registerBackend } from '@prune/core';
import { createTfjsBackend } from './backend.js';

/**
 * Registry names and `auto` priorities of the tfjs backends registered by
 * {@link registerTfjsBackends}: node-gpu > node > webgpu > webgl > wasm > cpu (the
 * reference backend has priority 0).
 */
export const TFJS_BACKEND_PRIORITIES: Readonly<Record<string, number>> = {
  'tfjs-node-gpu': 60,
  'tfjs-node': 50,
  'tfjs-webgpu': 40,
  'tfjs-webgl': 30,
  'tfjs-wasm': 20,
  'tfjs-cpu': 10,
};

/**
 * Registers the tfjs backends with core's registry under `tfjs-node-gpu`, `tfjs-node`,
 * `tfjs-webgpu`, `tfjs-webgl`, `tfjs-wasm` and `tfjs-cpu`. Each is created on first use,
 * so `setBackend('auto')` from `@prune/core` then picks the best one that starts here.
 *
 * @example
 * ```ts
 * import { setBackend } from '@prune/core';
 * import { registerTfjsBackends } from '@prune/tfjs';
 * registerTfjsBackends();
 * const backend = await setBackend('auto'); // tfjs-node if installed, else tfjs-wasm in Node
 * ```
 */
export function registerTfjsBackends(): void {
  const p = TFJS_BACKEND_PRIORITIES;
  registerBackend('tfjs-node-gpu', () => createTfjsBackend({ backend: 'tensorflow', nodePackage: '@tensorflow/tfjs-node-gpu' }), { priority: p['tfjs-node-gpu'] });
  registerBackend('tfjs-node', () => createTfjsBackend({ backend: 'tensorflow', nodePackage: '@tensorflow/tfjs-node' }), { priority: p['tfjs-node'] });
  registerBackend('tfjs-webgpu', () => createTfjsBackend({ backend: 'webgpu' }), { priority: p['tfjs-webgpu'] });
  registerBackend('tfjs-webgl', () => createTfjsBackend({ backend: 'webgl' }), { priority: p['tfjs-webgl'] });
  registerBackend('tfjs-wasm', () => createTfjsBackend({ backend: 'wasm' }), { priority: p['tfjs-wasm'] });
  registerBackend('tfjs-cpu', () => createTfjsBackend({ backend: 'cpu' }), { priority: p['tfjs-cpu'] });
}
