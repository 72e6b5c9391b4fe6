import type { Backend } from './backend.js';
import { PruneError } from './errors.js';
import { referenceBackend } from './reference/index.js';

interface Entry {
  factory: () => Backend | Promise<Backend>;
  priority: number;
  instance?: Backend;
}

const entries = new Map<string, Entry>([
  ['reference', { factory: () => referenceBackend, priority: 0, instance: referenceBackend }],
]);
let current: Backend = referenceBackend;

/** Options of {@link registerBackend}. */
export interface RegisterBackendOptions {
  /**
   * Higher wins when {@link setBackend} is called with `'auto'`.
   * @defaultValue 1
   */
  priority?: number;
}

/**
 * Makes a backend available under `name`. The factory runs on first {@link setBackend} or
 * {@link findBackend}; registering a name twice replaces the earlier entry.
 */
export function registerBackend(
  name: string,
  factory: () => Backend | Promise<Backend>,
  options: RegisterBackendOptions = {},
): void {
  if (typeof name !== 'string' || name.length === 0) {
    throw new PruneError('INVALID_ARGUMENT', 'registerBackend needs a non-empty backend name');
  }
  entries.set(name, { factory, priority: options.priority ?? 1 });
}

/** Names of all registered backends, highest priority first. */
export function listBackends(): string[] {
  return [...entries.entries()].sort((a, b) => b[1].priority - a[1].priority).map(([n]) => n);
}

/** Creates (once) and initialises the backend registered as `name`, without selecting it. */
export async function findBackend(name: string): Promise<Backend> {
  const entry = entries.get(name);
  if (!entry) {
    throw new PruneError(
      'BACKEND_NOT_FOUND',
      `no backend named "${name}" is registered; registered: ${listBackends().join(', ')}. Import the package that provides it (e.g. @prune/tfjs) first`,
    );
  }
  if (!entry.instance) {
    let backend: Backend;
    try {
      backend = await entry.factory();
      await backend.ready?.();
    } catch (cause) {
      if (cause instanceof PruneError) throw cause;
      throw new PruneError('BACKEND_UNAVAILABLE', `backend "${name}" failed to start: ${String((cause as Error)?.message ?? cause)}`, { cause });
    }
    entry.instance = backend;
  }
  return entry.instance;
}

/**
 * Selects the backend new tensors are created on. `'auto'` picks the highest-priority
 * backend that starts. Returns the selected backend.
 */
export async function setBackend(name: string | 'auto'): Promise<Backend> {
  if (name !== 'auto') {
    current = await findBackend(name);
    return current;
  }
  let lastError: unknown;
  for (const candidate of listBackends()) {
    try {
      current = await findBackend(candidate);
      return current;
    } catch (e) {
      lastError = e;
    }
  }
  throw lastError;
}

/** The backend new tensors are created on (the reference backend until {@link setBackend}). */
export function getBackend(): Backend {
  return current;
}
