/**
 * `@prune/zoo`: small reference models with trained weights shipped in the package, the
 * data they were trained and evaluated on, and evaluation with a fixed protocol.
 *
 * @packageDocumentation
 */
export { BpeTokenizer } from './tokenizer.js';
export type { BpeTokenizerJson } from './tokenizer.js';
export { LlamaModel } from './lm/llama.js';
export type { LlamaLoadOptions } from './lm/llama.js';
export { llamaBlockLinears, parseLlamaConfig } from './lm/config.js';
export type { LlamaConfig } from './lm/config.js';
export { TEXT_SOURCES, calibrationSamples, checkTextSource, loadText, tokenizeAll } from './data.js';
export type { CalibrationProtocol, TextSource, TextSplit } from './data.js';
export { perplexity } from './perplexity.js';
export type { LanguageModel, PerplexityProtocol, PerplexityResult } from './perplexity.js';
export { ZOO_LANGUAGE_MODELS, loadLanguageModelFolder, loadZooLanguageModel, zooModelFolder } from './models.js';
export type { LoadZooOptions, ZooLanguageModel, ZooLanguageModelName } from './models.js';
export { MoeModel, createRandomMoeModel, loadMoeModelFolder, moeExpectedShapes } from './lm/moe.js';
export type { ExpertTokens, MoeExpertOutput, MoeLayerOutput, MoeLoadOptions, MoeObserver, MoeRouting, RandomMoeOptions } from './lm/moe.js';
export { moeBlockLinears, moeBlockPrefix, parseMoeConfig } from './lm/moe-config.js';
export type { MoeConfig, MoeScoringFunc } from './lm/moe-config.js';
export * from './fox/index.js';
export * from './vit/index.js';
export * from './var/index.js';
export { FASHION_MNIST_CLASSES, FASHION_MNIST_DIR, loadFashionMnist } from './images/fashion-mnist.js';
export type { FashionMnist, FashionMnistOptions } from './images/fashion-mnist.js';
