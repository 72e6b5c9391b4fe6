export { foxExpectedShapes, parseFoxConfig } from './config.js';
export type { FoxConfig } from './config.js';
export { FoxModel } from './model.js';
export type { FoxDecodingState, FoxForwardOptions, FoxLoadOptions } from './model.js';
export { foxModelFolder, loadFoxModelFolder, loadZooFoxModel } from './load.js';
export type { LoadFoxOptions, LoadedFoxModel } from './load.js';
