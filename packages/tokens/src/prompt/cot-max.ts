import { PruneError, Random, type ProgressOptions, reportProgress } from '@prune/core';
import {
  type AdamState,
  type MlpHead,
  type MlpHeadTrace,
  adamStep,
  createAdamState,
  createMlpHead,
  keepProbability,
  mlpHeadBackward,
  mlpHeadForward,
  mlpHeadFromParams,
} from './mlp-head.js';
import { type PromptBudget, type PromptSelection, budgetFromTotal } from './prompt.js';

/**
 * Frozen-encoder embeddings of one shot (demonstration): `tokens × dim` values, row-major,
 * one row per token of the shot.
 */
export interface ShotEncoding {
  /** Row-major `[tokens, dim]` embeddings. */
  readonly values: ArrayLike<number>;
  /** Number of tokens (rows). */
  readonly tokens: number;
  /** Embedding width. */
  readonly dim: number;
}

/**
 * The CoT-Max coarse-to-fine prompt pruner: a shot pruner scoring each demonstration from
 * the mean of its token embeddings and a token pruner scoring each token embedding, both
 * {@link MlpHead}s over a frozen encoder.
 */
export interface CotMaxPruner {
  /** Head over a shot's mean embedding. */
  readonly shotPruner: MlpHead;
  /** Head over each token embedding. */
  readonly tokenPruner: MlpHead;
  /** The first `keepFirst` tokens of every kept shot are always kept (they frame the shot). */
  readonly keepFirst: number;
}

/** Options of {@link createCotMaxPruner}. */
export interface CotMaxPrunerOptions {
  /** Width of the frozen encoder's embeddings. */
  dim: number;
  /**
   * Hidden width of both heads.
   * @defaultValue `round(dim / 2)`
   */
  hidden?: number;
  /**
   * Seed of the initialisation.
   * @defaultValue 0
   */
  seed?: number;
  /**
   * Initial output-bias lean towards "keep".
   * @defaultValue 1
   */
  keepBias?: number;
  /**
   * Leading tokens of each kept shot that are always kept.
   * @defaultValue 3
   */
  keepFirst?: number;
}

/**
 * A freshly initialised CoT-Max pruner (the two heads get different seeds).
 * @throws `OUT_OF_RANGE` for a bad width or `keepFirst`
 */
export function createCotMaxPruner(options: CotMaxPrunerOptions): CotMaxPruner {
  const keepFirst = options.keepFirst ?? 3;
  if (!Number.isInteger(keepFirst) || keepFirst < 0) throw new PruneError('OUT_OF_RANGE', `keepFirst must be an integer ≥ 0, got ${keepFirst}`);
  const seed = options.seed ?? 0;
  const common = { hidden: options.hidden, keepBias: options.keepBias };
  return {
    shotPruner: createMlpHead(options.dim, { ...common, seed }),
    tokenPruner: createMlpHead(options.dim, { ...common, seed: seed + 1 }),
    keepFirst,
  };
}

/** The JSON form of a {@link CotMaxPruner} (for saving a trained pruner). */
export interface CotMaxPrunerJson {
  /** Embedding width. */
  dim: number;
  /** Hidden width. */
  hidden: number;
  /** Always-kept leading tokens. */
  keepFirst: number;
  /** Shot-pruner parameters. */
  shotPruner: number[];
  /** Token-pruner parameters. */
  tokenPruner: number[];
}

/** Serialises a pruner to plain JSON. */
export function cotMaxPrunerToJson(pruner: CotMaxPruner): CotMaxPrunerJson {
  const { dim, hidden } = pruner.shotPruner;
  return { dim, hidden, keepFirst: pruner.keepFirst, shotPruner: Array.from(pruner.shotPruner.params), tokenPruner: Array.from(pruner.tokenPruner.params) };
}

/**
 * Restores a pruner saved by {@link cotMaxPrunerToJson}.
 * @throws `CORRUPT_FILE` when the JSON does not describe a pruner
 */
export function cotMaxPrunerFromJson(json: CotMaxPrunerJson): CotMaxPruner {
  if (!json || !Array.isArray(json.shotPruner) || !Array.isArray(json.tokenPruner) || !Number.isInteger(json.keepFirst)) {
    throw new PruneError('CORRUPT_FILE', 'not a CoT-Max pruner (expected {dim, hidden, keepFirst, shotPruner, tokenPruner})');
  }
  try {
    return {
      shotPruner: mlpHeadFromParams(json.dim, json.hidden, Float64Array.from(json.shotPruner)),
      tokenPruner: mlpHeadFromParams(json.dim, json.hidden, Float64Array.from(json.tokenPruner)),
      keepFirst: json.keepFirst,
    };
  } catch (cause) {
    throw new PruneError('CORRUPT_FILE', `CoT-Max pruner parameters do not match dim ${json.dim} and hidden ${json.hidden}`, { cause });
  }
}

function checkShots(pruner: CotMaxPruner, shots: readonly ShotEncoding[]): void {
  const dim = pruner.shotPruner.dim;
  shots.forEach((s, i) => {
    if (s.dim !== dim) throw new PruneError('SHAPE_MISMATCH', `shot ${i} has embeddings of width ${s.dim}, but the pruner was built for ${dim}`);
    if (!Number.isInteger(s.tokens) || s.tokens < 1 || s.values.length !== s.tokens * s.dim) {
      throw new PruneError('SHAPE_MISMATCH', `shot ${i} must hold tokens × dim values with at least one token, got ${s.values.length} values for ${s.tokens} × ${s.dim}`);
    }
  });
}

/** Mean of a shot's token embeddings e_m `[dim]`. */
export function shotMeanEmbedding(shot: ShotEncoding): Float64Array {
  const mean = new Float64Array(shot.dim);
  for (let t = 0; t < shot.tokens; t++) for (let i = 0; i < shot.dim; i++) mean[i] += shot.values[t * shot.dim + i];
  for (let i = 0; i < shot.dim; i++) mean[i] /= shot.tokens;
  return mean;
}

/** Both heads' forward passes on every shot and token (the **score** step). */
export interface CotMaxScores {
  /** Keep probability of each shot. */
  readonly shotKeep: Float64Array;
  /** Keep probability of each token of each shot. */
  readonly tokenKeep: readonly Float64Array[];
  /** Shot-head traces (for gradients). */
  readonly shotTraces: readonly MlpHeadTrace[];
  /** Token-head traces per shot (for gradients). */
  readonly tokenTraces: readonly (readonly MlpHeadTrace[])[];
}

/**
 * Scores shots and tokens: p_keep of every shot (from its mean embedding) and of every token.
 * @throws `SHAPE_MISMATCH` when an encoding does not match the pruner's width
 */
export function scoreCotMax(pruner: CotMaxPruner, shots: readonly ShotEncoding[]): CotMaxScores {
  checkShots(pruner, shots);
  const shotTraces = shots.map((s) => mlpHeadForward(pruner.shotPruner, shotMeanEmbedding(s)));
  const tokenTraces = shots.map((s) => Array.from({ length: s.tokens }, (_, t) => mlpHeadForward(pruner.tokenPruner, s.values, t * s.dim)));
  return {
    shotKeep: Float64Array.from(shotTraces, (tr) => keepProbability(tr.logits)),
    tokenKeep: tokenTraces.map((trs) => Float64Array.from(trs, (tr) => keepProbability(tr.logits))),
    shotTraces,
    tokenTraces,
  };
}

/** Options of {@link selectCotMax}. */
export interface CotMaxSelectOptions extends PromptBudget {
  /**
   * Shots to keep (the reference's `target_shot`).
   * @defaultValue the fewest top-scoring shots that hold `shotSlack ×` the token budget
   */
  targetShots?: number;
  /**
   * With no `targetShots`, shots are added in score order until they hold this multiple of
   * the token budget, leaving the token pruner room to choose.
   * @defaultValue 1.5
   */
  shotSlack?: number;
}

/**
 * Deterministic budgeted CoT-Max inference (the **select** step): keep the top shots by
 * p_keep, then, inside them, the first `keepFirst` tokens of each shot and the globally
 * top-scoring remaining tokens until exactly the token budget is kept (or every token of the
 * kept shots, if they hold fewer). Ties go to the earlier shot and token.
 * @param pruner - the (trained) pruner
 * @param shots - frozen-encoder embeddings of each shot
 * @param options - token budget (ratio of all shot tokens or a count) and shot count
 * @throws `OUT_OF_RANGE` for a bad budget, `targetShots` or `shotSlack`
 */
export function selectCotMax(pruner: CotMaxPruner, shots: readonly ShotEncoding[], options: CotMaxSelectOptions): PromptSelection {
  const scores = scoreCotMax(pruner, shots);
  const total = shots.reduce((n, s) => n + s.tokens, 0);
  const target = budgetFromTotal(total, options);
  const slack = options.shotSlack ?? 1.5;
  if (!(slack >= 1)) throw new PruneError('OUT_OF_RANGE', `shotSlack must be ≥ 1, got ${slack}`);
  if (options.targetShots !== undefined && !(Number.isInteger(options.targetShots) && options.targetShots >= 0 && options.targetShots <= shots.length)) {
    throw new PruneError('OUT_OF_RANGE', `targetShots must be an integer in 0..${shots.length}, got ${options.targetShots}`);
  }
  const byScore = shots.map((_, i) => i).sort((a, b) => scores.shotKeep[b] - scores.shotKeep[a] || a - b);
  let kept: number[];
  if (options.targetShots !== undefined) {
    kept = byScore.slice(0, options.targetShots);
  } else {
    kept = [];
    let tokens = 0;
    for (const i of byScore) {
      if (tokens >= Math.ceil(slack * target)) break;
      kept.push(i);
      tokens += shots[i].tokens;
    }
  }
  // Rank candidates: forced leading tokens first (in shot-score order), then p_keep.
  const candidates: { shot: number; token: number; key: number; rank: number }[] = [];
  kept.forEach((i, rank) => {
    for (let t = 0; t < shots[i].tokens; t++) candidates.push({ shot: i, token: t, key: t < pruner.keepFirst ? Infinity : scores.tokenKeep[i][t], rank });
  });
  candidates.sort((a, b) => b.key - a.key || a.rank - b.rank || a.token - b.token);
  const masks = shots.map((s) => new Uint8Array(s.tokens));
  for (const c of candidates.slice(0, target)) masks[c.shot][c.token] = 1;
  return {
    demonstrations: masks.map((m) => {
      const idx: number[] = [];
      m.forEach((v, t) => v && idx.push(t));
      return Int32Array.from(idx);
    }),
  };
}

/**
 * One sampled pruning action: a keep/drop bit per shot, and per kept shot a keep bit per
 * token (the first `keepFirst` forced to 1; dropped shots have all-zero token bits).
 */
export interface CotMaxAction {
  /** 1 = shot kept. */
  readonly shots: Uint8Array;
  /** Token keep bits per shot. */
  readonly tokens: readonly Uint8Array[];
}

/**
 * Samples an action from the pruner's policy: each shot kept with its p_keep, then each
 * non-leading token of a kept shot kept with its p_keep. Unlike the reference, which
 * resamples until a shot is kept, an empty shot set is a valid action, so the policy is
 * exactly a product of Bernoullis and the REINFORCE estimator stays unbiased.
 * @param pruner - the pruner
 * @param scores - its scores for this input ({@link scoreCotMax})
 * @param rng - random source
 */
export function sampleCotMaxAction(pruner: CotMaxPruner, scores: CotMaxScores, rng: Random): CotMaxAction {
  const shots = Uint8Array.from(scores.shotKeep, (p) => (rng.uniform() < p ? 1 : 0));
  const tokens = scores.tokenKeep.map((probs, i) =>
    Uint8Array.from(probs, (p, t) => {
      if (!shots[i]) return 0;
      if (t < pruner.keepFirst) return 1;
      return rng.uniform() < p ? 1 : 0;
    }),
  );
  return { shots, tokens };
}

/** Number of shot tokens an action keeps (t in the length reward). */
export function cotMaxActionTokens(action: CotMaxAction): number {
  let n = 0;
  for (const m of action.tokens) for (const v of m) n += v;
  return n;
}

/** The selection an action makes (kept token indices per shot). */
export function cotMaxActionSelection(action: CotMaxAction): PromptSelection {
  return {
    demonstrations: action.tokens.map((m) => {
      const idx: number[] = [];
      m.forEach((v, t) => v && idx.push(t));
      return Int32Array.from(idx);
    }),
  };
}

const log = Math.log;

/**
 * log π(action): Σ over shots of log Bernoulli(shot bit) + Σ over the free tokens of kept
 * shots of log Bernoulli(token bit).
 */
export function cotMaxLogProbability(pruner: CotMaxPruner, scores: CotMaxScores, action: CotMaxAction): number {
  let lp = 0;
  scores.shotKeep.forEach((p, i) => {
    lp += log(action.shots[i] ? p : 1 - p);
    if (!action.shots[i]) return;
    scores.tokenKeep[i].forEach((q, t) => {
      if (t >= pruner.keepFirst) lp += log(action.tokens[i][t] ? q : 1 - q);
    });
  });
  return lp;
}

/** Gradients of both heads, laid out like their `params`. */
export interface CotMaxGradient {
  /** Shot-pruner gradient. */
  readonly shot: Float64Array;
  /** Token-pruner gradient. */
  readonly token: Float64Array;
}

/** A zero gradient for `pruner`. */
export function zeroCotMaxGradient(pruner: CotMaxPruner): CotMaxGradient {
  return { shot: new Float64Array(pruner.shotPruner.params.length), token: new Float64Array(pruner.tokenPruner.params.length) };
}

/**
 * Adds `scale · ∇θ log π(action)` to `grad`. For a two-logit softmax head the gradient of
 * log π(a) with respect to the logits is onehot(a) − softmax(z); the heads' backward passes
 * carry it to the parameters.
 */
export function accumulateLogProbabilityGradient(pruner: CotMaxPruner, scores: CotMaxScores, action: CotMaxAction, scale: number, grad: CotMaxGradient): void {
  const dLogits = new Float64Array(2);
  const bernoulli = (p: number, bit: number): Float64Array => {
    // d log π / dz = onehot(bit) − (1 − p, p).
    dLogits[0] = scale * ((bit ? 0 : 1) - (1 - p));
    dLogits[1] = scale * ((bit ? 1 : 0) - p);
    return dLogits;
  };
  scores.shotKeep.forEach((p, i) => {
    mlpHeadBackward(pruner.shotPruner, scores.shotTraces[i], bernoulli(p, action.shots[i]), grad.shot);
    if (!action.shots[i]) return;
    scores.tokenKeep[i].forEach((q, t) => {
      if (t >= pruner.keepFirst) mlpHeadBackward(pruner.tokenPruner, scores.tokenTraces[i][t], bernoulli(q, action.tokens[i][t]), grad.token);
    });
  });
}

/**
 * CoT-Max's length term (t/T)^w with w = +1 when t ≤ T and −1 otherwise: 1 exactly at the
 * budget, falling off on both sides.
 * @param kept - tokens kept, t
 * @param target - the budget, T > 0
 */
export function cotMaxLengthTerm(kept: number, target: number): number {
  if (!(target > 0)) throw new PruneError('OUT_OF_RANGE', `the token budget T must be positive, got ${target}`);
  return kept <= target ? kept / target : target / kept;
}

/** Options of {@link cotMaxReward}. */
export interface CotMaxRewardOptions {
  /**
   * Weight of the correctness bonus (added to the quality term, times the answer's greedy
   * token accuracy).
   * @defaultValue 0
   */
  accuracyBonus?: number;
}

/**
 * The CoT-Max reward: quality × length, with quality = 1 / (1 + loss of the frozen LM on the
 * answer given the pruned prompt) + bonus × accuracy, and length = {@link cotMaxLengthTerm}.
 * @param score - the LM's answer loss and accuracy under the pruned prompt
 * @param kept - shot tokens kept
 * @param target - token budget
 * @param options - bonus weight
 */
export function cotMaxReward(score: { loss: number; accuracy?: number }, kept: number, target: number, options: CotMaxRewardOptions = {}): number {
  const quality = 1 / (1 + score.loss) + (options.accuracyBonus ?? 0) * (score.accuracy ?? 0);
  return quality * cotMaxLengthTerm(kept, target);
}

/**
 * The REINFORCE estimate for one input: ∇J ≈ (1/S) Σₛ (Rₛ − bₛ) ∇ log π(aₛ) with the
 * baseline bₛ = mean reward of the other S − 1 samples (variance reduction). Leaving the
 * sample's own reward out keeps the estimate unbiased (with the plain mean of all S it would
 * be (1 − 1/S) ∇J).
 * @param pruner - the pruner
 * @param scores - its scores for this input
 * @param actions - S ≥ 2 sampled actions
 * @param rewards - their rewards
 * @param grad - accumulator (added to)
 * @param weight - multiplies this input's contribution (e.g. 1 / inputs per step)
 * @returns the mean reward of the S samples
 */
export function accumulateReinforceGradient(
  pruner: CotMaxPruner,
  scores: CotMaxScores,
  actions: readonly CotMaxAction[],
  rewards: ArrayLike<number>,
  grad: CotMaxGradient,
  weight = 1,
): number {
  const n = actions.length;
  if (n !== rewards.length || n < 2) {
    throw new PruneError('SHAPE_MISMATCH', `need one reward per action and at least two actions (the baseline is the others' mean), got ${n} actions and ${rewards.length} rewards`);
  }
  let sum = 0;
  for (let s = 0; s < n; s++) sum += rewards[s];
  actions.forEach((a, s) => {
    const baseline = (sum - rewards[s]) / (n - 1);
    accumulateLogProbabilityGradient(pruner, scores, a, (weight * (rewards[s] - baseline)) / n, grad);
  });
  return sum / n;
}

/** Options of {@link trainCotMax}. */
export interface CotMaxTrainOptions extends ProgressOptions {
  /** Frozen-encoder embeddings of each training input's shots. */
  inputs: readonly (readonly ShotEncoding[])[];
  /**
   * Rewards of sampled actions on input `index` (e.g. {@link cotMaxReward} from the frozen
   * LM's answer loss under each pruned prompt); one per action.
   */
  reward: (index: number, actions: readonly CotMaxAction[]) => ArrayLike<number>;
  /** Optimiser steps. */
  steps: number;
  /**
   * Actions sampled per input (S ≥ 2, so the mean-reward baseline is informative).
   * @defaultValue 4
   */
  samples?: number;
  /**
   * Inputs per step (drawn in a seeded shuffled order).
   * @defaultValue 1
   */
  batch?: number;
  /**
   * Adam learning rate.
   * @defaultValue 1e-3
   */
  learningRate?: number;
  /**
   * Seed of the input order and the action samples.
   * @defaultValue 0
   */
  seed?: number;
  /**
   * Stop early after this many milliseconds of wall time.
   * @defaultValue no limit
   */
  timeLimitMs?: number;
}

/** Training record of {@link trainCotMax}. */
export interface CotMaxTrainResult {
  /** Mean sampled reward per step. */
  readonly meanReward: number[];
  /** Mean kept shot tokens per step. */
  readonly meanTokens: number[];
  /** Steps taken. */
  readonly steps: number;
}

/**
 * Trains the pruner's two heads with REINFORCE (policy gradient with a leave-one-out
 * mean-reward baseline, {@link accumulateReinforceGradient}, and Adam) — only the pruner trains; the encoder and the reward's LM stay frozen. Updates
 * `pruner` in place.
 * @throws `OUT_OF_RANGE` for bad step, sample or batch counts
 */
export function trainCotMax(pruner: CotMaxPruner, options: CotMaxTrainOptions): CotMaxTrainResult {
  const samples = options.samples ?? 4;
  const batch = options.batch ?? 1;
  const { steps, inputs } = options;
  if (!Number.isInteger(steps) || steps < 0) throw new PruneError('OUT_OF_RANGE', `steps must be an integer ≥ 0, got ${steps}`);
  if (!Number.isInteger(samples) || samples < 2) throw new PruneError('OUT_OF_RANGE', `samples must be an integer ≥ 2 (the baseline is their mean), got ${samples}`);
  if (!Number.isInteger(batch) || batch < 1) throw new PruneError('OUT_OF_RANGE', `batch must be a positive integer, got ${batch}`);
  if (inputs.length === 0) throw new PruneError('INVALID_ARGUMENT', 'training needs at least one input');
  const rng = new Random(options.seed ?? 0);
  const adamShot: AdamState = createAdamState(pruner.shotPruner.params.length);
  const adamToken: AdamState = createAdamState(pruner.tokenPruner.params.length);
  const learningRate = options.learningRate ?? 1e-3;
  const meanReward: number[] = [];
  const meanTokens: number[] = [];
  let order = rng.permutation(inputs.length);
  let cursor = 0;
  const started = Date.now();
  let step = 0;
  for (; step < steps; step++) {
    if (options.timeLimitMs !== undefined && Date.now() - started > options.timeLimitMs) break;
    const grad = zeroCotMaxGradient(pruner);
    let rewardSum = 0;
    let tokenSum = 0;
    for (let b = 0; b < batch; b++) {
      if (cursor === order.length) {
        order = rng.permutation(inputs.length);
        cursor = 0;
      }
      const index = order[cursor++];
      const scores = scoreCotMax(pruner, inputs[index]);
      const actions = Array.from({ length: samples }, () => sampleCotMaxAction(pruner, scores, rng));
      const rewards = options.reward(index, actions);
      for (let s = 0; s < samples; s++) {
        rewardSum += rewards[s];
        tokenSum += cotMaxActionTokens(actions[s]);
      }
      accumulateReinforceGradient(pruner, scores, actions, rewards, grad, 1 / batch);
    }
    adamStep(pruner.shotPruner.params, grad.shot, adamShot, { learningRate });
    adamStep(pruner.tokenPruner.params, grad.token, adamToken, { learningRate });
    meanReward.push(rewardSum / (batch * samples));
    meanTokens.push(tokenSum / (batch * samples));
    reportProgress(options.onProgress, { stage: 'train', done: step + 1, total: steps, unit: 'steps', message: `mean reward ${meanReward[step].toFixed(4)}` });
  }
  return { meanReward, meanTokens, steps: step };
}
