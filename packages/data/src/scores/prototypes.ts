import { type Embeddings, checkEmbeddings } from '../curation/embeddings.js';
import { kmeans } from '../curation/kmeans.js';

/** Options of {@link prototypeScores}. */
export interface PrototypeOptions {
  /** Number of k-means clusters (prototypes). */
  k: number;
  /**
   * L2-normalise the embeddings first, so the distance orders examples by cosine distance
   * to their prototype, as in Sorscher et al.
   * @defaultValue `true`
   */
  normalize?: boolean;
  /**
   * Lloyd iterations.
   * @defaultValue `50`
   */
  iterations?: number;
  /**
   * Seed of k-means++.
   * @defaultValue `0`
   */
  seed?: number;
}

/**
 * Self-supervised prototype scores (Sorscher et al. 2022, "Beyond neural scaling laws"):
 * k-means on the embeddings, score = Euclidean distance to the nearest centroid. High =
 * atypical = hard; keep hard examples when data is abundant, easy ones when it is scarce.
 * Needs no labels.
 *
 * @param e - embeddings of the examples
 * @param options - k, normalisation, iterations, seed
 * @returns one score per example
 */
export function prototypeScores(e: Embeddings, options: PrototypeOptions): Float32Array {
  checkEmbeddings(e, 'prototypeScores');
  let points = e;
  if (options.normalize ?? true) {
    const data = new Float32Array(e.data.length);
    for (let i = 0; i < e.count; i++) {
      let s = 0;
      for (let t = 0; t < e.dim; t++) s += e.data[i * e.dim + t] ** 2;
      const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
      for (let t = 0; t < e.dim; t++) data[i * e.dim + t] = e.data[i * e.dim + t] * inv;
    }
    points = { data, count: e.count, dim: e.dim };
  }
  const result = kmeans(points, { k: options.k, seed: options.seed ?? 0, maxIterations: options.iterations ?? 50 });
  const centroids = Float64Array.from(result.centroids);
  const out = new Float32Array(e.count);
  for (let i = 0; i < e.count; i++) {
    const a = result.assignments[i];
    let s = 0;
    for (let t = 0; t < e.dim; t++) {
      const v = points.data[i * e.dim + t] - centroids[a * e.dim + t];
      s += v * v;
    }
    out[i] = Math.sqrt(s);
  }
  return out;
}
