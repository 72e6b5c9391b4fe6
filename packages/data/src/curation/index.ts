// Curation: k-means (Lloyd with Hamerly bounds, mini-batch), hierarchical k-means with
// resampling, balanced sampling, dynamic re-curation.
export { checkEmbeddings, embeddingMatrix } from './embeddings.js';
export type { Embeddings } from './embeddings.js';
export { assignToNearest, kmeans, kmeansPlusPlus, miniBatchKmeans } from './kmeans.js';
export type { KMeansOptions, KMeansResult, LloydOptions, MiniBatchOptions } from './kmeans.js';
export { balancedCuration, balancedSample, capAllocation, hierarchicalKmeans } from './hierarchical.js';
export type {
  BalancedCurationOptions,
  BalancedSampleOptions,
  CapAllocation,
  ClusterLevel,
  HierarchicalClustering,
  HierarchicalKMeansOptions,
} from './hierarchical.js';
export { DynamicCurator } from './dynamic.js';
export type { DynamicCurationOptions, EmbedFunction } from './dynamic.js';
