import { PruneError, Random } from '@prune/core';
import { checkInteger, checkKeepFraction, checkUnitRange, keptCount } from '../internal/validate.js';
import { embeddingMatrix } from './embeddings.js';
import { type HierarchicalKMeansOptions, balancedSample, hierarchicalKmeans } from './hierarchical.js';

/** Options of {@link DynamicCurator}. */
export interface DynamicCurationOptions {
  /** Number of examples in the archive (the full training set). */
  count: number;
  /** ρ: fraction of the embedded pool kept at every re-curation, in (0, 1]. */
  keepFraction: number;
  /**
   * T_w: epochs trained on all data before the first re-curation.
   * @defaultValue `1`
   */
  warmupEpochs?: number;
  /**
   * T_s: epochs between re-curations.
   * @defaultValue `1`
   */
  period?: number;
  /**
   * η, the diversity parameter: in every cluster that keeps n examples, ceil(η·n) are the
   * closest to its centroid and the rest are random. 0 favours spread-out examples, 1 the
   * most central ones.
   * @defaultValue `0.5`
   */
  closestFraction?: number;
  /**
   * Examples embedded at each re-curation, drawn at random from the archive (the kept subset
   * is ρ of these).
   * @defaultValue the whole archive
   */
  poolSize?: number;
  /**
   * Clusters per level of the hierarchical k-means, finest first.
   * @defaultValue one level of `round(sqrt(kept examples))` clusters
   */
  levels?: readonly number[];
  /**
   * Further options of the clustering (iterations, resampling).
   * @defaultValue 20 Lloyd iterations, 2 resampling steps
   */
  clustering?: Omit<HierarchicalKMeansOptions, 'levels' | 'seed' | 'onProgress'>;
  /**
   * Seed of every random choice.
   * @defaultValue `0`
   */
  seed?: number;
}

/** Maps example indices to embeddings computed with the model being trained: `rows.length·dim` values. */
export type EmbedFunction = (rows: Int32Array) => Float32Array | Promise<Float32Array>;

/**
 * Dynamic dataset curation (arXiv 2504.06962): the model being trained supplies the
 * embeddings. The first `warmupEpochs` epochs use all data; then every `period` epochs a
 * random pool of the archive is embedded with the current model, clustered with
 * hierarchical k-means, and a fraction ρ of it is drawn balanced across clusters
 * ({@link balancedSample}); training uses that subset until the next re-curation. The
 * curator holds the current subset — the state that makes it a class.
 *
 * @example
 * ```ts
 * const curator = new DynamicCurator({ count: 60000, keepFraction: 0.3, warmupEpochs: 2, period: 2 });
 * for (let epoch = 0; epoch < 10; epoch++) {
 *   const rows = await curator.subsetFor(epoch, (idx) => embedWithModel(idx));
 *   trainOneEpoch(rows);
 * }
 * ```
 */
export class DynamicCurator {
  /** The options, with defaults filled in. */
  readonly options: Readonly<Required<Omit<DynamicCurationOptions, 'levels' | 'clustering'>>> & Pick<DynamicCurationOptions, 'levels' | 'clustering'>;
  #current: Int32Array;
  #rng: Random;
  #recurations = 0;

  /** @param options - archive size, ρ, T_w, T_s, η, pool size */
  constructor(options: DynamicCurationOptions) {
    const count = options.count;
    checkInteger('count', count, 1);
    checkKeepFraction('keepFraction', options.keepFraction);
    const warmupEpochs = options.warmupEpochs ?? 1;
    const period = options.period ?? 1;
    checkInteger('warmupEpochs', warmupEpochs, 0);
    checkInteger('period', period, 1);
    const closestFraction = options.closestFraction ?? 0.5;
    checkUnitRange('closestFraction', closestFraction);
    const poolSize = options.poolSize ?? count;
    checkInteger('poolSize', poolSize, 1);
    if (poolSize > count) throw new PruneError('OUT_OF_RANGE', `poolSize = ${poolSize} exceeds the archive of ${count} examples`);
    this.options = { count, keepFraction: options.keepFraction, warmupEpochs, period, closestFraction, poolSize, seed: options.seed ?? 0, levels: options.levels, clustering: options.clustering };
    this.#rng = new Random(this.options.seed);
    this.#current = Int32Array.from({ length: count }, (_, i) => i);
  }

  /** The examples trained on now (all of them until the first re-curation), ascending. */
  get current(): Int32Array {
    return this.#current;
  }

  /** Re-curations done so far. */
  get recurations(): number {
    return this.#recurations;
  }

  /**
   * True when epoch `epoch` (0-based) starts with a re-curation: epoch ≥ T_w and
   * (epoch − T_w) is a multiple of T_s.
   * @param epoch - 0-based epoch
   */
  recuratesAt(epoch: number): boolean {
    const { warmupEpochs, period } = this.options;
    return epoch >= warmupEpochs && (epoch - warmupEpochs) % period === 0;
  }

  /**
   * The examples to train on in epoch `epoch`; re-curates first when {@link DynamicCurator.recuratesAt}
   * says so, calling `embed` with the pool's indices.
   *
   * @param epoch - 0-based epoch
   * @param embed - embeds examples with the current model
   * @returns example indices, ascending
   */
  async subsetFor(epoch: number, embed: EmbedFunction): Promise<Int32Array> {
    checkInteger('epoch', epoch, 0);
    if (!this.recuratesAt(epoch)) return this.#current;
    const { count, poolSize, keepFraction, closestFraction } = this.options;
    const pool = poolSize === count ? Int32Array.from({ length: count }, (_, i) => i) : this.#rng.sample(count, poolSize).sort();
    const values = await embed(pool);
    if (!(values instanceof Float32Array) || values.length === 0 || values.length % pool.length !== 0) {
      throw new PruneError('SHAPE_MISMATCH', `embed() must return a Float32Array of rows.length·dim values; got ${values?.length} values for ${pool.length} rows`);
    }
    const e = embeddingMatrix(values, values.length / pool.length);
    const kept = keptCount(keepFraction, pool.length);
    const levels = this.options.levels ?? [Math.max(1, Math.min(pool.length, Math.round(Math.sqrt(kept))))];
    const clustering = hierarchicalKmeans(e, { iterations: 20, resamplingSteps: 2, ...this.options.clustering, levels, seed: this.#rng.nextUint32() });
    const local = balancedSample(clustering, e, { size: kept, closestFraction, seed: this.#rng.nextUint32() });
    this.#current = local.map((r) => pool[r]);
    this.#recurations++;
    return this.#current;
  }
}
