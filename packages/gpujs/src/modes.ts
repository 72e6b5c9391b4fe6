import { createRequire } from 'node:module';
import { PruneError } from '@prune/core';
import { GPU } from 'gpu.js';

/**
 * How gpu.js runs kernels.
 * - `gpu`: the best GPU-style mode present, in gpu.js's own order: headlessgl, webgl2,
 *   webgl, then webasm.
 * - `webgl` / `webgl2`: WebGL shaders in a browser.
 * - `headlessgl`: WebGL shaders in Node through the optional native `gl` module (needs a
 *   display; use `xvfb-run -a` on a server).
 * - `webasm`: kernels compiled to WebAssembly with f32x4 SIMD, on the CPU.
 * - `cpu`: kernels transpiled to plain JavaScript.
 */
export type GpujsMode = 'gpu' | 'webgl' | 'webgl2' | 'headlessgl' | 'webasm' | 'cpu';

/** Every {@link GpujsMode}, in the order the registry names list them. */
export const GPUJS_MODES: readonly GpujsMode[] = ['cpu', 'webasm', 'headlessgl', 'webgl', 'webgl2', 'gpu'];

/** A concrete mode gpu.js runs in (what `gpu` resolves to). */
export type GpujsConcreteMode = Exclude<GpujsMode, 'gpu'>;

/** Whether a mode can run here, and why not when it cannot. */
export interface GpujsModeAvailability {
  /** The mode asked about. */
  readonly mode: GpujsMode;
  /** True when kernels can run in this mode. */
  readonly available: boolean;
  /** The concrete mode kernels run in (differs from `mode` only for `gpu`). */
  readonly resolved?: GpujsConcreteMode;
  /** Why the mode is unavailable, with what to do about it. */
  readonly reason?: string;
}

/** Throws `INVALID_ARGUMENT` unless `mode` is a {@link GpujsMode}. */
export function checkMode(mode: unknown): asserts mode is GpujsMode {
  if (typeof mode !== 'string' || !(GPUJS_MODES as readonly string[]).includes(mode)) {
    throw new PruneError(
      'INVALID_ARGUMENT',
      `unknown gpu.js mode ${JSON.stringify(mode)}; use one of ${GPUJS_MODES.map((m) => `'${m}'`).join(', ')}`,
    );
  }
}

/** Why `require('gl')` fails as gpu.js sees it, or undefined when it loads. */
function glLoadError(): string | undefined {
  try {
    const requireFromGpujs = createRequire(createRequire(import.meta.url).resolve('gpu.js'));
    requireFromGpujs('gl');
    return undefined;
  } catch (e) {
    const message = String((e as Error)?.message ?? e).split('\n')[0];
    return `the optional native module "gl" does not load (${message})`;
  }
}

const HEADLESSGL_HELP =
  'Build it with `bash .ci/setup-headlessgl.sh` in the @prune workspace (or install the X11/GL development packages and rebuild `gl` with node-gyp), ' +
  "then run under a display, e.g. `xvfb-run -a node app.mjs`; or use mode 'webasm' or 'cpu'";

function concreteAvailability(mode: GpujsConcreteMode): GpujsModeAvailability {
  switch (mode) {
    case 'cpu':
      return { mode, available: true, resolved: mode };
    case 'webasm':
      return GPU.isWebAssemblySupported
        ? { mode, available: true, resolved: mode }
        : { mode, available: false, reason: "WebAssembly is not available in this runtime; use mode 'cpu'" };
    case 'headlessgl': {
      if (GPU.isHeadlessGLSupported) return { mode, available: true, resolved: mode };
      const loadError = glLoadError();
      const why = loadError ?? 'the "gl" module loads but cannot create a WebGL context (no X display?)';
      return { mode, available: false, reason: `headlessgl is unavailable: ${why}. ${HEADLESSGL_HELP}` };
    }
    case 'webgl':
      return GPU.isWebGLSupported
        ? { mode, available: true, resolved: mode }
        : { mode, available: false, reason: "WebGL is not available here (it exists in browsers); use 'headlessgl' in Node, or 'webasm'/'cpu'" };
    case 'webgl2':
      return GPU.isWebGL2Supported
        ? { mode, available: true, resolved: mode }
        : { mode, available: false, reason: "WebGL2 is not available here (it exists in browsers); use 'headlessgl' in Node, or 'webasm'/'cpu'" };
  }
}

/**
 * Tells whether kernels can run in `mode` here, and why not. `gpu` resolves to the first
 * available of headlessgl, webgl2, webgl and webasm.
 * @param mode - the mode to probe
 * @returns availability, the resolved concrete mode, or the reason it is unavailable
 */
export function gpujsModeAvailability(mode: GpujsMode): GpujsModeAvailability {
  checkMode(mode);
  if (mode !== 'gpu') return concreteAvailability(mode);
  const reasons: string[] = [];
  for (const candidate of ['headlessgl', 'webgl2', 'webgl', 'webasm'] as const) {
    const a = concreteAvailability(candidate);
    if (a.available) return { mode, available: true, resolved: candidate };
    reasons.push(`${candidate}: ${a.reason}`);
  }
  return { mode, available: false, reason: `no GPU-style gpu.js mode is available (${reasons.join('; ')}); use mode 'cpu'` };
}
