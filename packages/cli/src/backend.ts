import { type Backend, PruneError, findBackend, getBackend, setBackend } from '@prune/core';
import { registerGpujsBackends } from '@prune/gpujs';
import { registerTfjsBackends } from '@prune/tfjs';

/** Backend names the command accepts for `--backend`. */
export const BACKEND_CHOICES = [
  'auto',
  'reference',
  'tfjs-cpu',
  'tfjs-wasm',
  'tfjs-node',
  'tfjs-node-gpu',
  'gpujs-cpu',
  'gpujs-webasm',
  'gpujs-headlessgl',
] as const;

let registered = false;

/**
 * Registers the tfjs and gpu.js backends and selects `name` (`auto`: the fastest that starts —
 * tfjs-node-gpu, tfjs-node, tfjs-wasm, …).
 */
export async function selectBackend(name: string): Promise<Backend> {
  if (!(BACKEND_CHOICES as readonly string[]).includes(name)) {
    throw new PruneError('INVALID_ARGUMENT', `unknown backend "${name}"; choose one of ${BACKEND_CHOICES.join(', ')}`);
  }
  if (!registered) {
    registerTfjsBackends();
    registerGpujsBackends();
    registered = true;
  }
  if (name === 'auto') return setBackend('auto');
  await findBackend(name);
  await setBackend(name);
  return getBackend();
}
