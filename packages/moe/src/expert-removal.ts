import { PruneError, type SafetensorsTensorEntry, type Tensor, clone, gather, tensorEntry, writeFileAtomic, writeSafetensors } from '@prune/core';
import { type MoeModelAdapter, type MoeRoutingConfig, asMoeModel, moePrefix } from './model.js';

/** A checkpoint as tensors by name plus its config, e.g. the result of {@link removeExperts}. */
export interface MoeCheckpoint<C extends MoeRoutingConfig = MoeRoutingConfig> {
  /** Hyper-parameters (`config.json`), with `num_local_experts` updated. */
  readonly config: C;
  /** Every tensor by name (the caller owns them). */
  readonly tensors: Map<string, Tensor>;
}

/**
 * Checks a per-layer expert selection against a model's routing config.
 *
 * @param config - routing config
 * @param keep - kept expert indices per MoE layer
 * @param op - how errors name the caller
 * @returns the selection with each layer sorted ascending
 * @throws `INVALID_ARGUMENT` / `OUT_OF_RANGE` when a layer is missing, repeats or
 *   out-of-range indices, keeps a different count than the others, or fewer than top-k
 */
export function checkExpertSelection(config: MoeRoutingConfig, keep: readonly (readonly number[])[], op: string): number[][] {
  const L = config.num_hidden_layers;
  const E = config.num_local_experts;
  if (!Array.isArray(keep) || keep.length !== L) throw new PruneError('INVALID_ARGUMENT', `${op}: keep must list the kept experts of each of the ${L} MoE layers`);
  const sorted = keep.map((row, l) => {
    if (!Array.isArray(row)) throw new PruneError('INVALID_ARGUMENT', `${op}: keep[${l}] must be an array of expert indices`);
    const s = [...row].sort((a, b) => a - b);
    s.forEach((e, i) => {
      if (!Number.isInteger(e) || e < 0 || e >= E) throw new PruneError('OUT_OF_RANGE', `${op}: layer ${l} keeps expert ${String(e)}, outside 0..${E - 1}`);
      if (i > 0 && s[i - 1] === e) throw new PruneError('INVALID_ARGUMENT', `${op}: layer ${l} lists expert ${e} twice`);
    });
    if (s.length < config.num_experts_per_tok) {
      throw new PruneError('OUT_OF_RANGE', `${op}: layer ${l} keeps ${s.length} experts but every token is routed to ${config.num_experts_per_tok}; keep at least that many`);
    }
    return s;
  });
  if (sorted.some((s) => s.length !== sorted[0].length)) {
    throw new PruneError('INVALID_ARGUMENT', `${op}: every layer must keep the same number of experts (one num_local_experts in the config), got ${sorted.map((s) => s.length).join(', ')}`);
  }
  return sorted;
}

/**
 * Expert removal that makes the model physically smaller: drops the pruned experts'
 * weights, renumbers the survivors 0..K−1 in their original order, and slices the router's
 * rows (and its selection bias) to the kept experts. The result routes only to kept experts
 * and gives the same outputs as {@link maskExperts} with the same selection.
 *
 * @param model - the MoE model (left unchanged)
 * @param keep - kept expert indices per MoE layer (e.g. from `selectTopExperts`)
 * @returns the smaller checkpoint: new tensors and the config with `num_local_experts = K`
 */
export function removeExperts<C extends MoeRoutingConfig>(model: MoeModelAdapter & { readonly config: C }, keep: readonly (readonly number[])[]): MoeCheckpoint<C> {
  const m = asMoeModel(model, 'removeExperts');
  const selection = checkExpertSelection(m.config, keep, 'removeExperts');
  const renamed = new Map<string, string>();
  const routers = new Map<string, number[]>();
  selection.forEach((kept, l) => {
    const p = moePrefix(l);
    kept.forEach((old, i) => {
      for (const w of ['w1', 'w3', 'w2']) renamed.set(`${p}.experts.${old}.${w}.weight`, `${p}.experts.${i}.${w}.weight`);
    });
    routers.set(`${p}.gate.weight`, kept);
    routers.set(`${p}.gate.e_score_correction_bias`, kept);
  });
  const tensors = new Map<string, Tensor>();
  const expertTensor = /\.block_sparse_moe\.experts\.\d+\./;
  for (const [name, t] of m.weights()) {
    const rows = routers.get(name);
    if (rows !== undefined) tensors.set(name, gather(t, rows, 0));
    else if (renamed.has(name)) tensors.set(renamed.get(name)!, clone(t));
    else if (!expertTensor.test(name)) tensors.set(name, clone(t));
  }
  return { config: { ...m.config, num_local_experts: selection[0].length } as C, tensors };
}

/**
 * The lighter deployment mode: keeps every weight but blocks routing to pruned experts
 * (their router logits are excluded before the top-k), through the model's routing mask.
 *
 * @param model - the MoE model (its routing mask is replaced)
 * @param keep - kept expert indices per MoE layer, or null to lift every mask
 */
export function maskExperts(model: MoeModelAdapter, keep: readonly (readonly number[])[] | null): void {
  const m = asMoeModel(model, 'maskExperts');
  if (keep === null) {
    for (let l = 0; l < m.config.num_hidden_layers; l++) m.setExpertMask(l, null);
    return;
  }
  const selection = checkExpertSelection(m.config, keep, 'maskExperts');
  selection.forEach((kept, l) => {
    const set = new Set(kept);
    m.setExpertMask(l, Array.from({ length: m.config.num_local_experts }, (_, e) => set.has(e)));
  });
}

/**
 * Writes a checkpoint as `model.safetensors` (float32) and `config.json` in `folder`
 * (Node only). Each file is written to a temporary name and renamed, so a failure never
 * leaves a half-written file.
 *
 * @param folder - an existing folder
 * @param checkpoint - tensors and config
 * @returns the two file paths
 */
export async function saveMoeCheckpoint(folder: string, checkpoint: MoeCheckpoint): Promise<{ model: string; config: string }> {
  const { join } = await import('node:path');
  const entries = new Map<string, SafetensorsTensorEntry>();
  for (const [name, t] of checkpoint.tensors) entries.set(name, await tensorEntry(t));
  const model = join(folder, 'model.safetensors');
  const config = join(folder, 'config.json');
  await writeSafetensors(model, entries, { metadata: { format: 'pt' } });
  const bytes = new TextEncoder().encode(`${JSON.stringify(checkpoint.config, null, 2)}\n`);
  await writeFileAtomic(config, (f) => f.write(bytes, 0));
  return { model, config };
}
