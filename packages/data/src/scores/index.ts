// Scores: one number per training example; for every score but AUM, higher = harder.
export { randomScores } from './random.js';
export { el2nFromTraces, el2nScores } from './el2n.js';
export type { El2nInput } from './el2n.js';
export { grandLastLayerScores } from './grand.js';
export type { GrandLastLayerInput } from './grand.js';
export { forgettingScores } from './forgetting.js';
export { aumScores } from './aum.js';
export type { AumOptions } from './aum.js';
export { prototypeScores } from './prototypes.js';
export type { PrototypeOptions } from './prototypes.js';
export { TrainingDynamicsRecorder } from './recorder.js';
export type { EpochRecord, LogitsSource, LogitsTensor, RecorderOptions, TrainingTrace } from './recorder.js';
