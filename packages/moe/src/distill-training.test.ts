import { describe, expect, it } from 'vitest';
import { PruneError, type Tensor, clone, fromArray, tensor, tidy } from '@prune/core';
import { MoeModel, createRandomMoeModel, parseMoeConfig } from '@prune/zoo';
import { expertDistillationLoss } from './distill.js';
import { distillExperts, expertDistillationGradients, swiGluGradients } from './distill-training.js';
import { removeExperts } from './expert-removal.js';
import type { MoeModelAdapter } from './model.js';
import { moePruner } from './moe-pruner.js';

const config = parseMoeConfig({ vocab_size: 24, hidden_size: 8, intermediate_size: 6, num_hidden_layers: 2, num_attention_heads: 2, max_position_embeddings: 12, rms_norm_eps: 1e-5, rope_theta: 10000, num_local_experts: 4, num_experts_per_tok: 2 });
const seqs = [
  [1, 5, 9, 2, 17, 3, 3, 0, 11, 4],
  [7, 7, 8, 20, 1, 0, 6, 13, 2, 9],
  [23, 4, 4, 15, 6, 10, 12, 19, 5, 1],
  [2, 3, 5, 7, 11, 13, 17, 19, 23, 0],
  [14, 9, 21, 8, 16, 18, 3, 22, 6, 12],
  [0, 10, 20, 1, 11, 21, 2, 12, 22, 3],
].map((s) => tensor(s, [s.length], 'int32'));
const heldOut = tensor([6, 18, 2, 9, 14, 1, 20, 7, 3, 16], [10], 'int32');

function copyOf(model: MoeModel): MoeModel {
  return new MoeModel(model.config, new Map([...model.weights()].map(([n, t]) => [n, clone(t)])));
}

// Independent float64 forward of one SwiGLU expert, y = W2·(silu(W1·x) ⊙ W3·x), for finite differences.
function swiGlu64(x: number[][], w1: number[][], w3: number[][], w2: number[][]): number[][] {
  return x.map((row) => {
    const h = w1.map((r1, i) => {
      const a = r1.reduce((acc, w, j) => acc + w * row[j], 0);
      const b = w3[i].reduce((acc, w, j) => acc + w * row[j], 0);
      return (a / (1 + Math.exp(-a))) * b;
    });
    return w2.map((r2) => r2.reduce((acc, w, i) => acc + w * h[i], 0));
  });
}

function matrix(rows: number, cols: number, seed: number): number[][] {
  let s = seed;
  const next = () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648 - 0.5;
  };
  return Array.from({ length: rows }, () => Array.from({ length: cols }, () => Math.fround(next())));
}

describe('swiGluGradients', () => {
  it('matches central finite differences of ⟨G, y⟩ for every weight', () => {
    const [n, d, f] = [3, 4, 5];
    const x = matrix(n, d, 1);
    const w = { w1: matrix(f, d, 2), w3: matrix(f, d, 3), w2: matrix(d, f, 4) };
    const G = matrix(n, d, 5);
    const t = (m: number[][]) => fromArray(Float32Array.from(m.flat()), [m.length, m[0].length], 'float32');
    const inputs = [t(x), t(w.w1), t(w.w3), t(w.w2), t(G)];
    const grads = swiGluGradients(inputs[0], inputs[1], inputs[2], inputs[3], inputs[4]);
    inputs.forEach((i) => i.dispose());
    const objective = (ws: typeof w) => swiGlu64(x, ws.w1, ws.w3, ws.w2).reduce((acc, row, i) => acc + row.reduce((a, v, j) => a + v * G[i][j], 0), 0);
    const h = 1e-6;
    for (const name of ['w1', 'w3', 'w2'] as const) {
      const cols = w[name][0].length;
      for (let r = 0; r < w[name].length; r++) {
        for (let c = 0; c < cols; c++) {
          const plus = { ...w, [name]: w[name].map((row, i) => row.map((v, j) => (i === r && j === c ? v + h : v))) };
          const minus = { ...w, [name]: w[name].map((row, i) => row.map((v, j) => (i === r && j === c ? v - h : v))) };
          const fd = (objective(plus) - objective(minus)) / (2 * h);
          expect(grads[name][r * cols + c], `${name}[${r}][${c}]`).toBeCloseTo(fd, 5);
        }
      }
    }
    expect(() => swiGluGradients(t(x), t(w.w2), t(w.w3), t(w.w2), t(G))).toThrow(PruneError);
  });
});

describe('expertDistillationGradients', () => {
  it('reports the expert-wise term of expertDistillationLoss and the routed-output term from both models’ hooks', async () => {
    const teacher = createRandomMoeModel(config, { seed: 31 });
    const student = copyOf(teacher);
    // Change only the last layer's experts: both models then route that layer identically.
    for (let e = 0; e < 4; e++) {
      const name = `model.layers.1.block_sparse_moe.experts.${e}.w2`;
      const w = await student.readWeight(name);
      const v = Float32Array.from(w.dataSync(), (x, i) => (i % 3 === 0 ? 0 : x * 0.8));
      await student.writeWeight(name, fromArray(v, w.shape, 'float32'));
    }
    const ids = seqs[0];
    const r = expertDistillationGradients(teacher as MoeModelAdapter, student as MoeModelAdapter, ids, { lambda: 2, outputWeight: 3 });
    const reference = expertDistillationLoss(teacher as MoeModelAdapter, student as MoeModelAdapter, ids);
    expect(r.expertTerm).toBeCloseTo(reference.expertMse, 5);
    expect(r.expertTerm).toBeGreaterThan(0);
    const routed = (m: MoeModel) => {
      let out: Float32Array = new Float32Array(0);
      tidy(() => {
        m.forward(ids, { output: (o) => (o.layer === 1 ? (out = Float32Array.from(o.routedOutput.dataSync())) : undefined) });
      });
      return out;
    };
    const rs = routed(student);
    const rt = routed(teacher);
    const outputTerm = rs.reduce((acc, v, i) => acc + (v - rt[i]) ** 2, 0) / rs.length;
    expect(r.outputTerm).toBeCloseTo(outputTerm, 6);
    expect(r.loss).toBeCloseTo(2 * r.expertTerm + 3 * outputTerm, 5);
    // Layer 0 is unchanged, so its gradients are 0.
    expect(Math.max(...r.gradients.get('model.layers.0.block_sparse_moe.experts.0.w1.weight')!.map(Math.abs))).toBe(0);
    teacher.dispose();
    student.dispose();
  });

  it('gives the gradient of its own objective: finite differences on last-layer expert weights', async () => {
    const teacher = createRandomMoeModel(config, { seed: 32 });
    const student = createRandomMoeModel(config, { seed: 33 });
    const ids = seqs[1];
    const options = { lambda: 1, outputWeight: 2 };
    const base = expertDistillationGradients(teacher as MoeModelAdapter, student as MoeModelAdapter, ids, options);
    const name = [...base.gradients.keys()].find((n) => n.startsWith('model.layers.1.') && n.endsWith('w2.weight'))!;
    const g = base.gradients.get(name)!;
    // The five largest entries: far above float32 noise in the central difference.
    const picks = Array.from(g.keys()).sort((a, b) => Math.abs(g[b]) - Math.abs(g[a])).slice(0, 5);
    const layer = name.slice(0, -'.weight'.length);
    const original = Float32Array.from((await student.readWeight(layer)).dataSync());
    const h = 1e-2;
    for (const i of picks) {
      const at = async (delta: number) => {
        const w = Float32Array.from(original);
        w[i] += delta;
        await student.writeWeight(layer, fromArray(w, [config.hidden_size, config.intermediate_size], 'float32'));
        return expertDistillationGradients(teacher as MoeModelAdapter, student as MoeModelAdapter, ids, options).loss;
      };
      const fd = ((await at(h)) - (await at(-h))) / (2 * h);
      expect(Math.abs(fd - g[i]) / Math.abs(g[i]), `${name}[${i}]`).toBeLessThan(2e-2);
    }
    teacher.dispose();
    student.dispose();
  });
});

describe('distillExperts', () => {
  it('lowers the distillation loss of a pruned student while its masks stay exactly zero', async () => {
    const teacher = createRandomMoeModel(config, { seed: 41 });
    const student = copyOf(teacher);
    await moePruner(student as MoeModelAdapter, { target: { kind: 'unstructured', sparsity: 0.5 }, calibration: seqs });
    const before = new Map([...student.weights()].map(([n, t]) => [n, Float32Array.from(t.dataSync())]));
    const heldBefore = expertDistillationLoss(teacher as MoeModelAdapter, student as MoeModelAdapter, heldOut).expertMse;
    const progress: number[] = [];
    const report = await distillExperts(teacher as MoeModelAdapter, student as MoeModelAdapter, {
      calibration: seqs,
      steps: 60,
      batch: seqs.length, // full batch: every step sees the same data, so the trace is comparable
      learningRate: 1e-2,
      outputWeight: 1,
      onProgress: (e) => progress.push(e.done),
    });
    expect(report.steps).toBe(60);
    expect(progress.at(-1)).toBe(60);
    const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(report.losses.slice(-5))).toBeLessThan(0.5 * report.losses[0]);
    const heldAfter = expertDistillationLoss(teacher as MoeModelAdapter, student as MoeModelAdapter, heldOut).expertMse;
    expect(heldAfter).toBeLessThan(heldBefore);
    let zeros = 0;
    let moved = 0;
    for (const [name, old] of before) {
      const now = student.weights().get(name)!.dataSync();
      const expert = /\.experts\.\d+\./.test(name);
      old.forEach((v, i) => {
        if (expert && v === 0) {
          zeros++;
          expect(now[i]).toBe(0);
        } else if (now[i] !== v) moved++;
        if (!expert) expect(now[i]).toBe(v); // attention, router, norms: not trained
      });
    }
    expect(report.maskedWeights).toBe(zeros);
    expect(zeros).toBe(2 * 4 * 3 * 48 / 2);
    expect(moved).toBeGreaterThan(0.9 * zeros);
    teacher.dispose();
    student.dispose();
  });

  it('rejects bad options, mismatched models and models without MoE layers', async () => {
    const teacher = createRandomMoeModel(config, { seed: 42 });
    const student = copyOf(teacher);
    const t = teacher as MoeModelAdapter;
    const s = student as MoeModelAdapter;
    await expect(distillExperts(t, s, { calibration: [] })).rejects.toThrow(/non-empty/);
    await expect(distillExperts(t, s, { calibration: seqs, steps: 0 })).rejects.toThrow(/steps/);
    await expect(distillExperts(t, s, { calibration: seqs, learningRate: -1 })).rejects.toThrow(/learningRate/);
    await expect(distillExperts(t, s, { calibration: seqs, lambda: 0, outputWeight: 0 })).rejects.toThrow(/nothing to train/);
    await expect(distillExperts(t, s, { calibration: [seqs[0], tensor([1, 2, 3], [3], 'int32')] })).rejects.toThrow(/one length/);
    const smaller = removeExperts(teacher, [[0, 1], [2, 3]]);
    const small = new MoeModel(smaller.config, smaller.tensors);
    await expect(distillExperts(t, small as MoeModelAdapter, { calibration: seqs })).rejects.toThrow(/same layers and experts/);
    const dense = { description: 'dense-lm', blocks: () => [] } as unknown as MoeModelAdapter;
    await expect(distillExperts(t, dense, { calibration: seqs as Tensor[] })).rejects.toThrow(/no mixture-of-experts layers/);
    small.dispose();
    teacher.dispose();
    student.dispose();
  });
});
