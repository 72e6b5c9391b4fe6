/**
 * `@prune/attention`: forgetting attention (the Forgetting Transformer, FoX) with Adaptive
 * Computation Pruning (ACP) — forget gates, the decay bias, a block-sparse kernel that never
 * computes provably negligible tiles, KV-cache decoding, the "Pro" block options and FLOP
 * accounting, on any `@prune/core` backend.
 *
 * @packageDocumentation
 */
export { checkAttentionInputs, cumulativeLogForget, decayBias, forgetGateLog, forgettingAttention } from './forgetting.js';
export type { ForgettingAttentionOptions, SeqStartOptions } from './forgetting.js';
export { acpBoundaries, acpThreshold, flopSaving, maxRowNorms, qkNormLogitBound, resolveAcpOptions, tileIsPrunable } from './acp.js';
export type { AcpBoundaries, AcpBoundaryOptions, AcpOptions, LogitBoundMode, QkNormBound, ResolvedAcpOptions } from './acp.js';
export { NORM_HEADROOM, forgettingAttentionAcp, logitBound } from './acp-attention.js';
export type { AcpAttentionResult, AcpKernel, ForgettingAttentionAcpOptions } from './acp-attention.js';
export { hostForgettingAttention } from './host-kernel.js';
export type { HostAttentionProblem, HostAttentionResult } from './host-kernel.js';
export { tilesForgettingAttention } from './tiles-kernel.js';
export type { TilesAttentionProblem } from './tiles-kernel.js';
export { ForgettingKVCache, decodeForgettingAttention } from './cache.js';
export type { DecodeOptions, DecodeResult } from './cache.js';
export { forgettingAttentionLayer, forgettingAttentionLayerStep, headRmsNorm, tokenShift } from './layer.js';
export type { ForgettingAttentionInputs, ForgettingLayerCache, ForgettingLayerOptions, ForgettingLayerResult, ForgettingLayerWeights, TokenShiftOptions } from './layer.js';
