import { PruneError, type Tensor, clone, dispose, gather, keep, logSoftmax, matmul, mean, mul, reshape, silu, square, sub, tidy } from '@prune/core';
import { type MoeModelAdapter, asMoeModel, moePrefix } from './model.js';

/** Options of {@link expertDistillationLoss}. */
export interface ExpertDistillationOptions {
  /**
   * λ, the weight of the expert-wise term.
   * @defaultValue 1
   */
  lambda?: number;
}

/** The value of the expert-wise distillation objective on one sequence. */
export interface ExpertDistillationLoss {
  /** CE + λ·Σ MSE. */
  readonly loss: number;
  /** Next-token cross-entropy of the student (mean over the seq − 1 predicted tokens). */
  readonly ce: number;
  /** Σ over layers and routed experts of the mean squared error between teacher and student expert outputs. */
  readonly expertMse: number;
  /** Expert terms summed (experts that received tokens). */
  readonly terms: number;
}

type F32 = Tensor<'float32'>;

function expertOutput(weights: ReadonlyMap<string, Tensor>, prefix: string, x: F32): F32 {
  const w = (n: string): F32 => {
    const t = weights.get(`${prefix}.${n}.weight`);
    if (t === undefined) throw new PruneError('NOT_FOUND', `expertDistillationLoss: the teacher has no tensor "${prefix}.${n}.weight"; teacher and student must have the same experts`);
    return t as F32;
  };
  return matmul(mul(silu(matmul(x, w('w1'), { transposeB: true })), matmul(x, w('w3'), { transposeB: true })), w('w2'), { transposeB: true });
}

/**
 * Expert-wise knowledge distillation objective of MoE-Pruner: `CE + λ·Σ_layers Σ_experts
 * MSE(E_teacher(x), E_student(x))`, where for every MoE layer the student's normalised
 * input rows x_t routed (by the student) to expert e are passed through the dense teacher's
 * expert e and the pruned student's expert e. Forward only: it evaluates the objective (for
 * monitoring a distillation run or choosing λ); the masks are the student's zeros.
 *
 * @param teacher - the dense model
 * @param student - the pruned model (same architecture)
 * @param ids - int32 token ids `[seq]`, seq ≥ 2
 * @param options - λ
 * @returns the loss and its parts
 */
export function expertDistillationLoss(teacher: MoeModelAdapter, student: MoeModelAdapter, ids: Tensor, options: ExpertDistillationOptions = {}): ExpertDistillationLoss {
  const op = 'expertDistillationLoss';
  const t = asMoeModel(teacher, op);
  const s = asMoeModel(student, op);
  const lambda = options.lambda ?? 1;
  if (typeof lambda !== 'number' || !Number.isFinite(lambda) || lambda < 0) throw new PruneError('INVALID_ARGUMENT', `${op}: lambda must be a finite number ≥ 0, got ${String(lambda)}`);
  if (t.config.num_local_experts !== s.config.num_local_experts || t.config.num_hidden_layers !== s.config.num_hidden_layers) {
    throw new PruneError('SHAPE_MISMATCH', `${op}: teacher and student must have the same layers and experts`);
  }
  if (ids.dtype !== 'int32' || ids.rank !== 1 || ids.shape[0] < 2) throw new PruneError('SHAPE_MISMATCH', `${op}: ids must be int32 [seq] with seq ≥ 2`);
  const seq = ids.shape[0];
  const teacherWeights = t.weights();
  const studentWeights = s.weights();
  let expertMse = 0;
  let terms = 0;
  let input: F32 | null = null;
  const logits = tidy(() =>
    s.forward(ids, {
      routing: (r) => {
        if (input !== null) input.dispose();
        input = keep(clone(r.input as F32));
      },
      expert: (o) => {
        const x = input!;
        expertMse += tidy(() => {
          const rows = gather(x, Array.from(o.routed.tokens), 0);
          const prefix = `${moePrefix(o.layer)}.experts.${o.expert}`;
          const diff = sub(expertOutput(teacherWeights, prefix, rows), expertOutput(studentWeights, prefix, rows));
          return mean(square(diff)).dataSync()[0];
        });
        terms++;
      },
    }),
  );
  if (input !== null) dispose(input);
  const ce = tidy(() => {
    const lp = logSoftmax(reshape(logits as F32, [seq, logits.shape[2]]), { axis: -1 }).dataSync();
    const v = logits.shape[2];
    const next = ids.dataSync();
    let total = 0;
    for (let i = 0; i < seq - 1; i++) total -= lp[i * v + next[i + 1]];
    return total / (seq - 1);
  });
  logits.dispose();
  return { loss: ce + lambda * expertMse, ce, expertMse, terms };
}
