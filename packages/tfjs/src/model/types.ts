import type { PrunableLayer } from '@prune/core';
import type { KernelView } from './layout.js';

/** A prunable layer of a tfjs model, with where its weight lives and how it is viewed. */
export interface TfjsPrunableLayer extends PrunableLayer {
  /**
   * The tfjs-layers class (`Dense`, `Conv1D`, `Conv2D`, `DepthwiseConv2D`) or, in a
   * GraphModel, the op that consumes the weight (`MatMul`, `_FusedConv2D`, …).
   */
  readonly className: string;
  /** The weight's name in the model's weightsManifest. */
  readonly weight: string;
  /** The kernel's tfjs shape, e.g. `[kh, kw, in, out]`. */
  readonly kernelShape: readonly number[];
  /** How the kernel maps to the `[d_out, d_in]` matrix. */
  readonly view: KernelView;
  /** Whether the layer feeds a model output through non-prunable layers only. */
  readonly head: boolean;
}

/** A weighted layer (or weight) the adapter leaves alone, with the reason. */
export interface SkippedTfjsLayer {
  /** Layer (or weight) name. */
  readonly name: string;
  /** Its class or op. */
  readonly className: string;
  /** Why it is not pruned. */
  readonly reason: string;
}
