import { PruneError } from '@prune/core';
import * as tf from '@tensorflow/tfjs-core';

/** A tfjs backend @prune/tfjs can run on. */
export type TfjsBackendName = 'cpu' | 'wasm' | 'tensorflow' | 'webgl' | 'webgpu';

/** A Node binding that provides tfjs' `tensorflow` backend. */
export type NodePackage = '@tensorflow/tfjs-node-gpu' | '@tensorflow/tfjs-node';

/** The Node bindings, in the order `auto` tries them. */
const NODE_PACKAGES: readonly NodePackage[] = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'];

/** What {@link loadTfjsBackend} started. */
export interface LoadedTfjsBackend {
  /** The tfjs backend, now initialised and current. */
  name: TfjsBackendName;
  /** For `tensorflow`: the Node binding that provides it. */
  nodePackage?: NodePackage;
}

const isNode = typeof process !== 'undefined' && typeof process.versions?.node === 'string';

// A non-literal specifier: optional peers must not be resolved by TypeScript or bundlers.
const importOptional = (specifier: string): Promise<unknown> => import(/* @vite-ignore */ specifier);

async function canImport(specifier: string): Promise<boolean> {
  try {
    await importOptional(specifier);
    return true;
  } catch {
    return false;
  }
}

/** Points tfjs-backend-wasm at the `.wasm` files of the installed package (Node only). */
async function useInstalledWasmFiles(setWasmPaths: (prefix: string) => void): Promise<void> {
  if (!isNode || tf.findBackend('wasm') !== null) return;
  const { createRequire } = await import('node:module');
  const { dirname, sep } = await import('node:path');
  const main = createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm');
  try {
    setWasmPaths(dirname(main) + sep);
  } catch {
    // Initialisation already started elsewhere with the user's own paths; keep them.
  }
}

async function start(name: TfjsBackendName): Promise<boolean> {
  try {
    return await tf.setBackend(name);
  } catch {
    return false;
  }
}

function unavailable(name: TfjsBackendName, hint: string, cause?: unknown): PruneError {
  return new PruneError('BACKEND_UNAVAILABLE', `the tfjs "${name}" backend is not available: ${hint}`, { cause });
}

async function loadCpu(): Promise<void> {
  await import('@tensorflow/tfjs-backend-cpu');
  if (!(await start('cpu'))) throw unavailable('cpu', 'tfjs-backend-cpu failed to initialise; check that @tensorflow/tfjs-core and @tensorflow/tfjs-backend-cpu are both 4.22.x');
}

async function loadWasm(): Promise<void> {
  let mod: { setWasmPaths?: (prefix: string) => void; default?: { setWasmPaths?: (prefix: string) => void } };
  try {
    mod = await import('@tensorflow/tfjs-backend-wasm');
  } catch (cause) {
    throw unavailable('wasm', 'install @tensorflow/tfjs-backend-wasm 4.22.x', cause);
  }
  const setWasmPaths = mod.setWasmPaths ?? mod.default?.setWasmPaths;
  if (setWasmPaths) await useInstalledWasmFiles(setWasmPaths);
  if (!(await start('wasm'))) {
    throw unavailable('wasm', 'WebAssembly failed to initialise; in a browser, serve the .wasm files of @tensorflow/tfjs-backend-wasm and call its setWasmPaths() first');
  }
}

async function loadTensorflow(only?: NodePackage): Promise<NodePackage> {
  const candidates = only ? [only] : NODE_PACKAGES;
  for (const pkg of candidates) {
    if (!(await canImport(pkg))) continue;
    if (await start('tensorflow')) return pkg;
  }
  throw unavailable('tensorflow', `install ${candidates.join(' (CUDA) or ')} next to @prune/tfjs (same 4.22.x version as @tensorflow/tfjs-core)`);
}

const GPU_PACKAGES = { webgl: '@tensorflow/tfjs-backend-webgl', webgpu: '@tensorflow/tfjs-backend-webgpu' } as const;

async function loadGpu(name: 'webgl' | 'webgpu'): Promise<void> {
  const pkg = GPU_PACKAGES[name];
  if (tf.findBackendFactory(name) === null && !(await canImport(pkg))) {
    throw unavailable(name, `install and import ${pkg} (4.22.x) in a browser with ${name === 'webgl' ? 'WebGL 2' : 'WebGPU'}`);
  }
  if (!(await start(name))) throw unavailable(name, `this environment has no usable ${name === 'webgl' ? 'WebGL' : 'WebGPU'} context`);
}

/**
 * Imports and initialises the tfjs backend for `choice` and makes it current in tfjs.
 * `'auto'` tries tensorflow (Node bindings, gpu first), then webgpu and webgl when the
 * user has imported their tfjs backend package, then wasm, then cpu.
 * @throws PruneError `BACKEND_UNAVAILABLE` when a forced choice cannot start
 */
export async function loadTfjsBackend(choice: 'auto' | TfjsBackendName, nodePackage?: NodePackage): Promise<LoadedTfjsBackend> {
  switch (choice) {
    case 'cpu':
      await loadCpu();
      return { name: 'cpu' };
    case 'wasm':
      await loadWasm();
      return { name: 'wasm' };
    case 'tensorflow':
      return { name: 'tensorflow', nodePackage: await loadTensorflow(nodePackage) };
    case 'webgl':
    case 'webgpu':
      await loadGpu(choice);
      return { name: choice };
    case 'auto':
      break;
    default:
      throw new PruneError('INVALID_ARGUMENT', `unknown tfjs backend "${String(choice)}"; use 'auto', 'tensorflow', 'wasm', 'cpu', 'webgl' or 'webgpu'`);
  }
  if (isNode) {
    try {
      return { name: 'tensorflow', nodePackage: await loadTensorflow(nodePackage) };
    } catch {
      // Not installed: fall through to the portable backends.
    }
  }
  for (const gpu of ['webgpu', 'webgl'] as const) {
    if (tf.findBackendFactory(gpu) !== null && (await start(gpu))) return { name: gpu };
  }
  try {
    await loadWasm();
    return { name: 'wasm' };
  } catch {
    await loadCpu();
    return { name: 'cpu' };
  }
}
