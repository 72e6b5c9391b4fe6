import {
  PruneError,
  type ProgressCallback,
  Random,
  type Tensor,
  add,
  fromArray,
  gather,
  keep,
  matmul,
  mul,
  progressStage,
  sigmoid,
  silu,
  stack,
  sub,
  tidy,
} from '@prune/core';
import { type MoeHooks, type MoeModelAdapter, type RoutedTokens, asMoeModel, moePrefix } from './model.js';

type F32 = Tensor<'float32'>;

/** Gradients of one SwiGLU expert's weights, shaped like the weights (`[f, d]`, `[f, d]`, `[d, f]`). */
export interface SwiGluGradients {
  /** ∂L/∂W1 (gate projection). */
  readonly w1: Float32Array;
  /** ∂L/∂W3 (up projection). */
  readonly w3: Float32Array;
  /** ∂L/∂W2 (down projection). */
  readonly w2: Float32Array;
}

/**
 * Backward pass of one SwiGLU expert `y = W2·(silu(W1·x) ⊙ W3·x)` for a batch of rows,
 * derived by hand: with a = x·W1ᵀ, b = x·W3ᵀ, s = silu(a), h = s ⊙ b and G = ∂L/∂y,
 * `∂W2 = Gᵀ·h`, `∂h = G·W2`, `∂W3 = (∂h ⊙ s)ᵀ·x`, `∂W1 = (∂h ⊙ b ⊙ silu′(a))ᵀ·x` with
 * `silu′(a) = σ(a)·(1 + a·(1 − σ(a)))`. The input x is treated as a constant.
 *
 * @param x - expert input rows `[n, d]`
 * @param w1 - gate projection `[f, d]`
 * @param w3 - up projection `[f, d]`
 * @param w2 - down projection `[d, f]`
 * @param dy - ∂L/∂y `[n, d]`
 * @returns the three weight gradients
 */
export function swiGluGradients(x: Tensor, w1: Tensor, w3: Tensor, w2: Tensor, dy: Tensor): SwiGluGradients {
  const [n, d] = x.shape;
  const f = w1.shape[0];
  if (x.rank !== 2 || dy.shape.join() !== `${n},${d}` || w1.shape.join() !== `${f},${d}` || w3.shape.join() !== `${f},${d}` || w2.shape.join() !== `${d},${f}`) {
    throw new PruneError('SHAPE_MISMATCH', `swiGluGradients: expected x [n, d], w1 and w3 [f, d], w2 [d, f], dy [n, d]; got x [${x.shape}], w1 [${w1.shape}], w3 [${w3.shape}], w2 [${w2.shape}], dy [${dy.shape}]`);
  }
  return onHost(() => {
    const xf = x as F32;
    const a = matmul(xf, w1 as F32, { transposeB: true });
    const b = matmul(xf, w3 as F32, { transposeB: true });
    const sg = sigmoid(a);
    const s = mul(a, sg);
    const h = mul(s, b);
    const g = dy as F32;
    const dW2 = matmul(g, h, { transposeA: true });
    const dh = matmul(g, w2 as F32);
    const dW3 = matmul(mul(dh, s), xf, { transposeA: true });
    const dsilu = mul(sg, add(1, mul(a, sub(1, sg))));
    const dW1 = matmul(mul(mul(dh, b), dsilu), xf, { transposeA: true });
    return { w1: Float32Array.from(dW1.dataSync()), w3: Float32Array.from(dW3.dataSync()), w2: Float32Array.from(dW2.dataSync()) };
  });
}

/** Options of {@link expertDistillationGradients}. */
export interface ExpertDistillationGradientOptions {
  /**
   * λ, weight of the expert-wise term.
   * @defaultValue 1
   */
  lambda?: number;
  /**
   * μ, weight of the routed-output term.
   * @defaultValue 0
   */
  outputWeight?: number;
}

/** The distillation objective on one batch and its gradient for every routed expert that received tokens. */
export interface ExpertDistillationGradients {
  /** λ·expertTerm + μ·outputTerm. */
  readonly loss: number;
  /** Σ_layers Σ_experts mean((E_student(x) − E_teacher(x))²) over the expert's routed rows. */
  readonly expertTerm: number;
  /** Σ_layers mean((r_student − r_teacher)²) over all tokens, r = Σ_k g_tk·E_k(x_t) with the student's gates. */
  readonly outputTerm: number;
  /** ∂loss/∂W by weight name (`…experts.E.w1.weight`), each layer's input held constant. */
  readonly gradients: Map<string, Float32Array>;
}

/**
 * One forward pass of the student with the distillation objective of {@link distillExperts}
 * and its exact gradient with respect to every routed expert's w1/w3/w2, each MoE layer's
 * input x held constant (so a layer's gradient does not include its effect on later layers).
 *
 * @param teacher - the dense model
 * @param student - the pruned model
 * @param ids - int32 token ids `[seq]` or `[batch, seq]`
 * @param options - the loss weights
 * @returns the objective, its two terms and the gradients
 */
export function expertDistillationGradients(teacher: MoeModelAdapter, student: MoeModelAdapter, ids: Tensor, options: ExpertDistillationGradientOptions = {}): ExpertDistillationGradients {
  const op = 'expertDistillationGradients';
  const t = asMoeModel(teacher, op);
  const s = asMoeModel(student, op);
  const lambda = nonNegative(op, 'lambda', options.lambda ?? 1);
  const mu = nonNegative(op, 'outputWeight', options.outputWeight ?? 0);
  if (t.config.num_local_experts !== s.config.num_local_experts || t.config.num_hidden_layers !== s.config.num_hidden_layers) {
    throw new PruneError('SHAPE_MISMATCH', `${op}: teacher and student must have the same layers and experts`);
  }
  const teacherWeights = t.weights();
  const gradients = new Map<string, Float32Array>();
  let expertTerm = 0;
  let outputTerm = 0;
  let input: F32 | null = null;
  let experts: readonly RoutedTokens[] = [];
  const studentOut = new Map<number, F32>();
  const weightOf = (weights: ReadonlyMap<string, Tensor>, name: string, who: string): F32 => {
    const w = weights.get(name);
    if (w === undefined) throw new PruneError('NOT_FOUND', `${op}: the ${who} has no tensor "${name}"; teacher and student must have the same experts`);
    return w as F32;
  };
  const hooks: MoeHooks = {
    routing: (r) => {
      input = r.input as F32;
      experts = r.experts;
    },
    expert: (o) => {
      studentOut.set(o.expert, keep(o.output as F32));
    },
    output: (o) => {
      const x = input!;
      const [T, d] = x.shape;
      const routedDiff = new Float32Array(T * d);
      const diffs = new Map<number, Float32Array>();
      for (const [e, ys] of studentOut) {
        const routed = experts[e];
        const prefix = `${moePrefix(o.layer)}.experts.${e}`;
        const diff = onHost(() => {
          const rows = gather(x, Array.from(routed.tokens), 0);
          const tw = (n: string): F32 => weightOf(teacherWeights, `${prefix}.${n}.weight`, 'teacher');
          const yt = matmul(mul(siluLinear(rows, tw('w1')), matmul(rows, tw('w3'), { transposeB: true })), tw('w2'), { transposeB: true });
          return Float32Array.from(sub(ys, yt).dataSync());
        });
        diffs.set(e, diff);
        let sq = 0;
        for (let i = 0; i < diff.length; i++) sq += diff[i] * diff[i];
        expertTerm += sq / diff.length;
        routed.tokens.forEach((tok, i) => {
          const g = routed.gates[i];
          for (let j = 0; j < d; j++) routedDiff[tok * d + j] += g * diff[i * d + j];
        });
      }
      let rsq = 0;
      for (let i = 0; i < routedDiff.length; i++) rsq += routedDiff[i] * routedDiff[i];
      outputTerm += rsq / routedDiff.length;
      for (const [e, diff] of diffs) {
        const routed = experts[e];
        const dy = new Float32Array(diff.length);
        const ce = (2 * lambda) / diff.length;
        const co = (2 * mu) / (T * d);
        routed.tokens.forEach((tok, i) => {
          const g = routed.gates[i];
          for (let j = 0; j < d; j++) dy[i * d + j] = ce * diff[i * d + j] + co * g * routedDiff[tok * d + j];
        });
        const prefix = `${moePrefix(o.layer)}.experts.${e}`;
        const sw = (n: string): F32 => weightOf(s.weights(), `${prefix}.${n}.weight`, 'student');
        const grads = onHost(() => {
          const rows = gather(x, Array.from(routed.tokens), 0);
          return swiGluGradients(rows, sw('w1'), sw('w3'), sw('w2'), fromArray(dy, [routed.tokens.length, d], 'float32', { backend: x.backend }));
        });
        for (const n of ['w1', 'w3', 'w2'] as const) gradients.set(`${prefix}.${n}.weight`, grads[n]);
      }
      for (const y of studentOut.values()) y.dispose();
      studentOut.clear();
    },
  };
  try {
    tidy(() => {
      // Blocks only: the LM head's logits are not part of this objective.
      let hidden = s.embed(ids);
      for (let b = 0; b < s.config.num_hidden_layers; b++) hidden = s.block(b, hidden, undefined, hooks);
    });
  } finally {
    for (const y of studentOut.values()) y.dispose();
  }
  return { loss: lambda * expertTerm + mu * outputTerm, expertTerm, outputTerm, gradients };
}

/** Options of {@link distillExperts}. */
export interface ExpertDistillationTrainingOptions {
  /** Training sequences: int32 token ids `[seq]`, all the same length (cycled in a seeded order). */
  calibration: readonly Tensor[];
  /**
   * Optimizer steps.
   * @defaultValue 200
   */
  steps?: number;
  /**
   * Sequences per step (one batched forward pass).
   * @defaultValue 4
   */
  batch?: number;
  /**
   * Adam learning rate.
   * @defaultValue 1e-4
   */
  learningRate?: number;
  /**
   * λ, weight of the expert-wise term Σ_layers Σ_experts MSE(E_teacher(x), E_student(x)).
   * @defaultValue 1
   */
  lambda?: number;
  /**
   * μ, weight of the routed-output term Σ_layers MSE(r_teacher, r_student), where
   * r = Σ_k g_tk·E_k(x_t) with the student's gates — it weighs each expert's error by how
   * much the router trusts it. 0 trains on the expert-wise term alone.
   * @defaultValue 0
   */
  outputWeight?: number;
  /**
   * Seed of the order in which sequences are visited.
   * @defaultValue 0
   */
  seed?: number;
  /**
   * Progress: stage `'distill'` (steps).
   * @defaultValue no reporting
   */
  onProgress?: ProgressCallback;
}

/** What {@link distillExperts} did (plain JSON values). */
export interface ExpertDistillationReport {
  /** Steps run. */
  readonly steps: number;
  /** Objective λ·expert + μ·output before each step's update (on that step's batch). */
  readonly losses: readonly number[];
  /** Expert-wise term Σ MSE before each step's update. */
  readonly expertTerms: readonly number[];
  /** Routed-output term before each step's update. */
  readonly outputTerms: readonly number[];
  /** Expert linears trained (routed experts that received tokens at least once). */
  readonly trainedLinears: number;
  /** Weights held at zero by the masks. */
  readonly maskedWeights: number;
  /** Wall time in milliseconds. */
  readonly totalMs: number;
}

interface AdamSlot {
  readonly mask: Uint8Array;
  readonly m: Float32Array;
  readonly v: Float32Array;
  grad: Float32Array;
  touched: boolean;
}

function positive(op: string, name: string, v: unknown, integer: boolean): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) {
    throw new PruneError('INVALID_ARGUMENT', `${op}: ${name} must be a positive ${integer ? 'integer' : 'number'}, got ${String(v)}`);
  }
  return v;
}

function nonNegative(op: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new PruneError('INVALID_ARGUMENT', `${op}: ${name} must be a finite number ≥ 0, got ${String(v)}`);
  return v;
}

/**
 * Expert-wise knowledge distillation after pruning (MoE-Pruner's recovery step): trains the
 * pruned student's routed experts to reproduce the dense teacher's experts, with the masks
 * fixed. Each step runs the student on a batch; in every MoE layer the student's normalised
 * input rows routed (by the student) to expert e go through the teacher's and the student's
 * expert e, and the student's w1/w3/w2 take an Adam step on
 * `λ·Σ_layers Σ_experts MSE(E_teacher(x), E_student(x)) + μ·Σ_layers MSE(r_teacher, r_student)`.
 *
 * Gradients are exact for this objective with each layer's input held constant (derived by
 * hand, {@link swiGluGradients}); no gradient crosses layers, and the next-token
 * cross-entropy of the paper's full objective is not trained (`@prune/core` has no
 * autograd) — {@link expertDistillationLoss} still reports it for monitoring. Attention,
 * router and norms are not trained.
 *
 * The masks are the student's zeros at the start: their gradients and Adam moments are held
 * at zero and the weights are re-masked after every update, so pruned weights stay exactly 0.
 *
 * @param teacher - the dense model (read only)
 * @param student - the pruned model (its expert weights are updated)
 * @param options - data, steps, optimizer and the loss weights
 * @returns the loss trace and counts
 * @throws `UNSUPPORTED` for a model without MoE layers; `SHAPE_MISMATCH` when teacher and
 *   student differ in layers or experts, or the sequences differ in length;
 *   `INVALID_ARGUMENT` for bad options or no sequences
 */
export async function distillExperts(teacher: MoeModelAdapter, student: MoeModelAdapter, options: ExpertDistillationTrainingOptions): Promise<ExpertDistillationReport> {
  const op = 'distillExperts';
  const t = asMoeModel(teacher, op);
  const s = asMoeModel(student, op);
  if (options === null || typeof options !== 'object') throw new PruneError('INVALID_ARGUMENT', `${op}: needs an options object with calibration sequences`);
  if (t.config.num_local_experts !== s.config.num_local_experts || t.config.num_hidden_layers !== s.config.num_hidden_layers) {
    throw new PruneError('SHAPE_MISMATCH', `${op}: teacher and student must have the same layers and experts (${t.config.num_hidden_layers}×${t.config.num_local_experts} vs ${s.config.num_hidden_layers}×${s.config.num_local_experts}); distil before removing experts`);
  }
  const steps = positive(op, 'steps', options.steps ?? 200, true);
  const batch = positive(op, 'batch', options.batch ?? 4, true);
  const lr = positive(op, 'learningRate', options.learningRate ?? 1e-4, false);
  const lambda = nonNegative(op, 'lambda', options.lambda ?? 1);
  const mu = nonNegative(op, 'outputWeight', options.outputWeight ?? 0);
  if (lambda === 0 && mu === 0) throw new PruneError('INVALID_ARGUMENT', `${op}: lambda and outputWeight are both 0, so there is nothing to train; set at least one above 0`);
  const data = options.calibration;
  if (!Array.isArray(data) || data.length === 0) throw new PruneError('INVALID_ARGUMENT', `${op}: calibration must be a non-empty array of int32 token-id tensors [seq]`);
  const seq = data[0].shape[data[0].rank - 1];
  for (const ids of data) {
    if (ids.dtype !== 'int32' || ids.rank !== 1 || ids.shape[0] !== seq || seq < 1) {
      throw new PruneError('SHAPE_MISMATCH', `${op}: every calibration sequence must be int32 [seq] of one length (${seq}); got ${ids.dtype} [${ids.shape}]`);
    }
  }
  const start = performance.now();
  const teacherWeights = t.weights();
  const slots = new Map<string, AdamSlot>();
  let maskedWeights = 0;
  for (let l = 0; l < s.config.num_hidden_layers; l++) {
    for (let e = 0; e < s.config.num_local_experts; e++) {
      for (const w of ['w1', 'w3', 'w2']) {
        const name = `${moePrefix(l)}.experts.${e}.${w}.weight`;
        const sw = s.weights().get(name);
        const tw = teacherWeights.get(name);
        if (sw === undefined || tw === undefined) throw new PruneError('NOT_FOUND', `${op}: "${name}" is missing from the ${sw === undefined ? 'student' : 'teacher'}`);
        if (sw.shape.join() !== tw.shape.join()) throw new PruneError('SHAPE_MISMATCH', `${op}: "${name}" is [${sw.shape}] in the student but [${tw.shape}] in the teacher`);
        const values = sw.dataSync();
        const mask = new Uint8Array(values.length);
        for (let i = 0; i < values.length; i++) mask[i] = values[i] === 0 ? 0 : 1;
        maskedWeights += values.length - mask.reduce((a, b) => a + b, 0);
        slots.set(name, { mask, m: new Float32Array(values.length), v: new Float32Array(values.length), grad: new Float32Array(0), touched: false });
      }
    }
  }
  const order = new Random(options.seed ?? 0);
  let queue: number[] = [];
  const nextBatch = (): Tensor => {
    const picked: Tensor[] = [];
    while (picked.length < batch) {
      if (queue.length === 0) queue = Array.from(order.permutation(data.length));
      picked.push(data[queue.shift()!]);
    }
    return stack(picked as Tensor<'int32'>[], 0);
  };
  const losses: number[] = [];
  const expertTerms: number[] = [];
  const outputTerms: number[] = [];
  const b1 = 0.9;
  const b2 = 0.999;
  const eps = 1e-8;
  const progress = progressStage(options.onProgress, 'distill', steps, 'steps');
  for (let step = 1; step <= steps; step++) {
    const ids = nextBatch();
    let result: ExpertDistillationGradients;
    try {
      result = expertDistillationGradients(t, s, ids, { lambda, outputWeight: mu });
    } finally {
      ids.dispose();
    }
    const { expertTerm, outputTerm } = result;
    for (const [name, g] of result.gradients) {
      const slot = slots.get(name)!;
      slot.grad = g;
      slot.touched = true;
    }
    expertTerms.push(expertTerm);
    outputTerms.push(outputTerm);
    losses.push(lambda * expertTerm + mu * outputTerm);
    // Adam with bias correction; masked entries keep zero gradient, zero moments and zero weight.
    const c1 = 1 - b1 ** step;
    const c2 = 1 - b2 ** step;
    for (const [name, slot] of slots) {
      // Experts that received no token this step keep their weights and moments (lazy Adam).
      if (slot.grad.length === 0) continue;
      const w = Float32Array.from(s.weights().get(name)!.dataSync());
      const { grad, m, v, mask } = slot;
      for (let i = 0; i < w.length; i++) {
        if (mask[i] === 0) {
          w[i] = 0;
          continue;
        }
        const g = grad[i];
        m[i] = b1 * m[i] + (1 - b1) * g;
        v[i] = b2 * v[i] + (1 - b2) * g * g;
        w[i] -= (lr * (m[i] / c1)) / (Math.sqrt(v[i] / c2) + eps);
      }
      slot.grad = new Float32Array(0);
      const layer = name.slice(0, -'.weight'.length);
      const old = s.weights().get(name)!;
      const updated = fromArray(w, old.shape, 'float32', { backend: old.backend });
      try {
        await s.writeWeight(layer, updated);
      } finally {
        updated.dispose();
      }
    }
    progress.advance(1, `loss ${losses[losses.length - 1].toPrecision(4)}`);
  }
  let trainedLinears = 0;
  for (const slot of slots.values()) if (slot.touched) trainedLinears++;
  return { steps, losses, expertTerms, outputTerms, trainedLinears, maskedWeights, totalMs: performance.now() - start };
}

function siluLinear(rows: F32, w: F32): F32 {
  return silu(matmul(rows, w, { transposeB: true }));
}

// Runs fn in a tidy scope for results that live on the host (typed arrays).
function onHost<T>(fn: () => T): T {
  let out!: T;
  tidy(() => {
    out = fn();
  });
  return out;
}
