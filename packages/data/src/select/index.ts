// Selection: from scores to a kept index set under a budget.
export { hardestFirst, selectByScore } from './policy.js';
export type { HarderIs, ScoreSelectionOptions, SelectionPolicy } from './policy.js';
export { ccsSelect, strataBudgets } from './ccs.js';
export type { CcsOptions } from './ccs.js';
