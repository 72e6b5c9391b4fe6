export { areaResize, gatherTokens, scatterTokens } from './token-map.js';
export type { HostTokens } from './token-map.js';
export { pivotalKeepCount, pivotalScores, pivotalTokens } from './pivotal.js';
export { FASTVAR_INFINITY_2B_SCHEDULE, FastVarCache } from './cache.js';
export type { FastVarBranch, FastVarSchedule, FastVarStats, PrunedScale } from './cache.js';
