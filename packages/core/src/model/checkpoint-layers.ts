import { PruneError } from '../errors.js';
import type { SafetensorsDType } from '../safetensors/dtypes.js';
import type { SafetensorsTensorInfo } from '../safetensors/header.js';
import type { ModelBlock, PrunableKind, PrunableLayer } from './adapter.js';

/**
 * Names the checkpoint adapter leaves dense unless told otherwise: token and position
 * embeddings and output heads (`embed`, `lm_head`, `wte`, `wpe`, `word_embeddings`,
 * `classifier`, and any name ending in `head.weight`). Pruning these hurts quality far more
 * than pruning the blocks' linears, and the papers' reference code skips them too.
 */
export const DEFAULT_CHECKPOINT_EXCLUDE = /embed|lm_head|wte|wpe|word_embeddings|classifier|head\.weight$/;

/** Floating-point storage types the adapter can read as float32 and write back exactly. */
export const PRUNABLE_CHECKPOINT_DTYPES: readonly SafetensorsDType[] = Object.freeze(['F32', 'F16', 'BF16', 'F64']);

/** Which weights of a checkpoint are pruned; see {@link classifyCheckpointTensors}. */
export interface CheckpointLayerFilter {
  /**
   * Only weights whose tensor name matches are pruned. When given, the default exclusion
   * rule ({@link DEFAULT_CHECKPOINT_EXCLUDE}) no longer applies — an `include` of `/lm_head/`
   * prunes the output head.
   * @defaultValue every `*.weight` tensor of rank 2 or 4 and a float dtype
   */
  include?: RegExp;
  /**
   * Weights whose tensor name matches stay dense (wins over `include`).
   * @defaultValue {@link DEFAULT_CHECKPOINT_EXCLUDE} when `include` is not given, nothing otherwise
   */
  exclude?: RegExp;
}

/** A prunable weight of a checkpoint: the layer as pruners see it, and where it is stored. */
export interface CheckpointLayer extends PrunableLayer {
  /** The tensor's name in the checkpoint (`<layer name>.weight`). */
  readonly tensor: string;
  /** Storage type; pruned weights are written back in it. */
  readonly dtype: SafetensorsDType;
  /** The tensor's shape in the file (rank 2, or rank 4 for a convolution). */
  readonly storedShape: readonly number[];
}

/** A tensor the adapter does not prune, and why. */
export interface SkippedTensor {
  /** Tensor name. */
  readonly name: string;
  /** Why it stays as it is, e.g. `'excluded by /embed|…/'` or `'rank 1'`. */
  readonly reason: string;
}

/** The outcome of {@link classifyCheckpointTensors}. */
export interface CheckpointClassification {
  /** Prunable weights, in checkpoint order. */
  readonly layers: readonly CheckpointLayer[];
  /** Every other tensor, with the reason it is left as it is. */
  readonly skipped: readonly SkippedTensor[];
}

function matches(pattern: RegExp, text: string): boolean {
  pattern.lastIndex = 0; // a /g or /y pattern keeps state between calls
  return pattern.test(text);
}

function checkPattern(value: unknown, what: string): RegExp | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof RegExp)) throw new PruneError('INVALID_ARGUMENT', `${what} must be a regular expression (e.g. /mlp/), got ${typeof value}`);
  return value;
}

/**
 * Decides which tensors of a checkpoint are prunable weight matrices. A tensor is prunable
 * when all of these hold:
 * - its name ends in `.weight`;
 * - it has rank 2 (a linear layer, `[d_out, d_in]`) or rank 4 (a PyTorch convolution
 *   `[out, in, kh, kw]`, viewed as `[out, in·kh·kw]`);
 * - its dtype is F32, F16, BF16 or F64;
 * - it passes the {@link CheckpointLayerFilter} (by default: its name does not match
 *   {@link DEFAULT_CHECKPOINT_EXCLUDE}).
 *
 * @param tensors - the checkpoint's tensors, in its order
 * @param filter - include / exclude patterns
 * @returns the prunable layers (named without `.weight`) and the skipped tensors
 */
export function classifyCheckpointTensors(tensors: readonly SafetensorsTensorInfo[], filter: CheckpointLayerFilter = {}): CheckpointClassification {
  const include = checkPattern(filter.include, 'include');
  const explicitExclude = checkPattern(filter.exclude, 'exclude');
  const exclude = explicitExclude ?? (include === undefined ? DEFAULT_CHECKPOINT_EXCLUDE : undefined);
  const layers: CheckpointLayer[] = [];
  const skipped: SkippedTensor[] = [];
  for (const info of tensors) {
    const { name, shape, dtype } = info;
    let reason: string | undefined;
    if (!name.endsWith('.weight') || name === '.weight') reason = 'not named *.weight';
    else if (shape.length !== 2 && shape.length !== 4) reason = `rank ${shape.length} (a weight matrix has rank 2, a convolution kernel rank 4)`;
    else if (!PRUNABLE_CHECKPOINT_DTYPES.includes(dtype)) reason = `dtype ${dtype} (prunable: ${PRUNABLE_CHECKPOINT_DTYPES.join(', ')})`;
    else if (include !== undefined && !matches(include, name)) reason = `not matched by include ${String(include)}`;
    else if (exclude !== undefined && matches(exclude, name)) reason = `excluded by ${String(exclude)}${explicitExclude === undefined ? ' (the default rule; pass include or exclude to change it)' : ''}`;
    if (reason !== undefined) {
      skipped.push(Object.freeze({ name, reason }));
      continue;
    }
    const kind: PrunableKind = shape.length === 4 ? 'conv2d' : 'linear';
    const dIn = shape.length === 4 ? shape[1] * shape[2] * shape[3] : shape[1];
    layers.push(
      Object.freeze({
        name: name.slice(0, -'.weight'.length),
        shape: Object.freeze([shape[0], dIn]) as readonly [number, number],
        kind,
        tensor: name,
        dtype,
        storedShape: Object.freeze([...shape]),
      }),
    );
  }
  return Object.freeze({ layers: Object.freeze(layers), skipped: Object.freeze(skipped) });
}

/** Finds the repeated-block prefix of a layer name: `…layers.N`, `…h.N`, `…blocks.N` or `…layer.N`. */
const BLOCK_PREFIX = /^((?:.*?\.)?(?:layers|h|blocks|layer)\.(\d+))\./;

/**
 * The block a layer belongs to: the leftmost `…layers.N` / `…h.N` / `…blocks.N` /
 * `…layer.N` prefix of its name, or `undefined` for a layer outside any such group.
 *
 * @param layer - layer name, e.g. `model.layers.3.mlp.up_proj`
 * @returns e.g. `model.layers.3`
 */
export function checkpointBlockOf(layer: string): string | undefined {
  return BLOCK_PREFIX.exec(layer)?.[1];
}

/** Compares names piece by piece, numeric pieces as numbers (`layers.2` before `layers.10`). */
export function compareNatural(a: string, b: string): number {
  const pa = a.split(/(\d+)/);
  const pb = b.split(/(\d+)/);
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    if (pa[i] === pb[i]) continue;
    // Odd pieces are the digit runs split() captured.
    if (i % 2 === 1) {
      const diff = Number(pa[i]) - Number(pb[i]);
      if (diff !== 0) return diff;
    }
    return pa[i] < pb[i] ? -1 : 1;
  }
  return pa.length - pb.length;
}

/**
 * Groups layers into blocks by {@link checkpointBlockOf}. Blocks come in natural name order
 * (numbered blocks numerically); a layer outside any group is a block of its own. A
 * checkpoint does not record execution order, so the layers of a block are in natural name
 * order too — which does not matter to data-free methods.
 *
 * @param layers - prunable layers
 * @returns the blocks
 */
export function checkpointBlocks<L extends PrunableLayer>(layers: readonly L[]): (ModelBlock & { readonly layers: readonly L[] })[] {
  const groups = new Map<string, L[]>();
  for (const layer of layers) {
    const block = checkpointBlockOf(layer.name) ?? layer.name;
    let group = groups.get(block);
    if (group === undefined) groups.set(block, (group = []));
    group.push(layer);
  }
  return [...groups]
    .sort(([a], [b]) => compareNatural(a, b))
    .map(([name, members]) => Object.freeze({ name, layers: Object.freeze([...members].sort((x, y) => compareNatural(x.name, y.name))) }));
}
