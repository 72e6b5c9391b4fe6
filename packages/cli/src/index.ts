/**
 * `@prune/cli`: the `prune` command. Also usable programmatically through {@link main}.
 *
 * @packageDocumentation
 */
export { main } from './main.js';
export type { CommandIo } from './main.js';
export { CHANNEL_CRITERIA, HELP, MOE_METHODS, WEIGHT_METHODS, parsePattern, parseWeightArgs } from './args.js';
export type { ChannelCriterionName, ChannelOptions, MoeMethodName, MoeOptions, Pattern, WeightMethodName, WeightOptions } from './args.js';
export { BACKEND_CHOICES, selectBackend } from './backend.js';
