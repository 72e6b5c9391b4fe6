export { parseVarConfig, varExpectedShapes, varSequenceLength } from './config.js';
export type { VarConfig } from './config.js';
export { VarModel } from './var.js';
export type { VarBranchHook, VarBranchRun, VarGenerateOptions, VarGeneration, VarLoadOptions, VarMapSize, VarTokens } from './var.js';
export { loadVarFolder, loadZooVar } from './load.js';
export type { ZooVar } from './load.js';
