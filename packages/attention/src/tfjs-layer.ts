/**
 * Forgetting attention with Adaptive Computation Pruning as a TensorFlow.js layer
 * (`@prune/attention/tfjs`; needs `@tensorflow/tfjs-core` and `@tensorflow/tfjs-layers`).
 *
 * @packageDocumentation
 */
import { PruneError } from '@prune/core';
import * as tf from '@tensorflow/tfjs-core';
import { type LayerVariable, type Shape, initializers, layers } from '@tensorflow/tfjs-layers';
import { type AcpBoundaries, acpBoundaries, acpThreshold, maxRowNorms, qkNormLogitBound, resolveAcpOptions } from './acp.js';
import { NORM_HEADROOM, savings } from './acp-attention.js';

/** ACP options of the tfjs layer (the bound is chosen from the layer: QK-norm gains or data norms). */
export interface TfjsAcpOptions {
  /**
   * ln ε: the attention mass pruned from any query row stays below ε.
   * @defaultValue -10
   */
  logTolerance?: number;
  /**
   * Query block size BM.
   * @defaultValue 64
   */
  blockM?: number;
  /**
   * Key block size BN.
   * @defaultValue 64
   */
  blockN?: number;
}

type LayerArgs = NonNullable<ConstructorParameters<typeof layers.Layer>[0]>;

/** Arguments of {@link TfjsForgettingAttention}. */
export interface TfjsForgettingAttentionArgs extends LayerArgs {
  /** Number of heads (the input width must split evenly). */
  heads: number;
  /**
   * Per-head RMSNorm of q and k with learnt gains (Pro); ACP then uses the QK-norm bound.
   * @defaultValue false
   */
  qkNorm?: boolean;
  /**
   * Output gate o ⊙ σ(x W_g) before the output projection (Pro).
   * @defaultValue false
   */
  outputGate?: boolean;
  /**
   * Data-dependent key token shift (Pro).
   * @defaultValue false
   */
  keyShift?: boolean;
  /**
   * Data-dependent value token shift (Pro).
   * @defaultValue false
   */
  valueShift?: boolean;
  /**
   * RMSNorm epsilon of QK-norm.
   * @defaultValue 1e-6
   */
  normEps?: number;
  /**
   * Adaptive Computation Pruning, in inference and training forward passes alike; `false`
   * computes full forgetting attention.
   * @defaultValue `{}` (on: ln ε = −10, 64 × 64 tiles)
   */
  acp?: TfjsAcpOptions | false;
  /**
   * Initial forget-gate bias b_f (σ(b_f) is the initial forget gate; larger forgets slower).
   * @defaultValue 0
   */
  forgetBiasInit?: number;
  /**
   * Standard deviation of the normal initialisation of every projection.
   * @defaultValue 0.02
   */
  initStd?: number;
}

/**
 * A forgetting-attention layer for TensorFlow.js models: input and output `[batch, seq,
 * dModel]`, causal, no RoPE. Projections q, k, v, output (kernels `[dModel, dModel]`, tfjs's
 * `[in, out]` layout), forget gate log f = logsigmoid(x W_f + b_f) per head (`[dModel,
 * heads]`, `[heads]`), and the optional Pro parts. With ACP on, every forward pass — in
 * `predict` and inside `fit`/gradient tapes — computes only the kept tiles of each
 * (batch, head): per query block it slices the kept keys and runs matMul → decay bias →
 * softmax → matMul on them, so gradients flow through the kept tiles only (the pruned ones
 * carry < ε of each row's mass). The boundaries come from the current values (no gradient),
 * as in the reference implementation. {@link TfjsForgettingAttention.lastFlopSaving} holds
 * the FLOP saving of the latest call.
 * @example
 * ```ts
 * const model = tf.sequential({ layers: [
 *   tf.layers.embedding({ inputDim: 256, outputDim: 64, inputLength: 512 }),
 *   new TfjsForgettingAttention({ heads: 4, qkNorm: true, acp: { logTolerance: -10 } }),
 *   tf.layers.dense({ units: 256 }),
 * ] });
 * ```
 */
export class TfjsForgettingAttention extends layers.Layer {
  /** Class name for tfjs serialization. */
  static className = 'ForgettingAttention';
  /** Heads. */
  readonly heads: number;
  /** QK-norm on. */
  readonly qkNorm: boolean;
  /** Output gate on. */
  readonly outputGate: boolean;
  /** Key token shift on. */
  readonly keyShift: boolean;
  /** Value token shift on. */
  readonly valueShift: boolean;
  /** QK-norm epsilon. */
  readonly normEps: number;
  /** ACP options, or false. */
  readonly acp: TfjsAcpOptions | false;
  /** Initial forget-gate bias. */
  readonly forgetBiasInit: number;
  /** Initialisation standard deviation of the projections. */
  readonly initStd: number;
  /**
   * FLOP saving of softmax attention in the latest call: per head (averaged over the batch)
   * and over every (batch, head). Zeros when ACP is off.
   */
  lastFlopSaving: { perHead: Float64Array; total: number } = { perHead: new Float64Array(0), total: 0 };
  #w: Record<string, LayerVariable> = {};

  /** @param args - heads, Pro parts, ACP and initialisation */
  constructor(args: TfjsForgettingAttentionArgs) {
    super(args);
    if (!Number.isInteger(args.heads) || args.heads < 1) throw new PruneError('INVALID_ARGUMENT', `TfjsForgettingAttention: heads must be a positive integer, got ${String(args.heads)}`);
    this.heads = args.heads;
    this.qkNorm = args.qkNorm ?? false;
    this.outputGate = args.outputGate ?? false;
    this.keyShift = args.keyShift ?? false;
    this.valueShift = args.valueShift ?? false;
    this.normEps = args.normEps ?? 1e-6;
    this.acp = args.acp === false ? false : { ...(args.acp ?? {}) };
    if (this.acp) resolveAcpOptions('TfjsForgettingAttention', this.acp); // validate early
    this.forgetBiasInit = args.forgetBiasInit ?? 0;
    this.initStd = args.initStd ?? 0.02;
  }

  /** Creates the weights for input `[batch, seq, dModel]`. */
  override build(inputShape: Shape | Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as (number | null)[];
    const dm = shape[shape.length - 1];
    if (shape.length !== 3 || dm === null || dm % this.heads !== 0) {
      throw new PruneError('SHAPE_MISMATCH', `TfjsForgettingAttention: input must be [batch, seq, dModel] with dModel divisible by heads = ${this.heads}, got [${shape.join(', ')}]`);
    }
    const h = this.heads;
    const normal = () => initializers.randomNormal({ mean: 0, stddev: this.initStd });
    const add = (name: string, s: number[], init: ReturnType<typeof initializers.zeros>) => {
      this.#w[name] = this.addWeight(name, s, 'float32', init);
    };
    for (const n of ['q', 'k', 'v', 'o']) add(`${n}_kernel`, [dm, dm], normal());
    add('fgate_kernel', [dm, h], normal());
    add('fgate_bias', [h], initializers.constant({ value: this.forgetBiasInit }));
    if (this.outputGate) add('ogate_kernel', [dm, dm], normal());
    if (this.qkNorm) {
      add('q_norm', [dm], initializers.ones());
      add('k_norm', [dm], initializers.ones());
    }
    if (this.keyShift) add('k_shift_kernel', [dm, h], normal());
    if (this.valueShift) add('v_shift_kernel', [dm, h], normal());
    this.built = true;
  }

  /** Output shape equals the input shape. */
  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
  }

  /** The forward pass on `[batch, seq, dModel]`. */
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor3D;
    return tf.tidy(() => {
      const [b, t, dm] = x.shape;
      const h = this.heads;
      const d = dm / h;
      const x2 = tf.reshape(x, [b * t, dm]);
      const lin = (name: string) => tf.matMul(x2, this.#w[name].read());
      const split = (y: tf.Tensor) => tf.reshape(y, [b, t, h, d]);
      const shift = (y: tf.Tensor, name: string) => {
        const alpha = tf.reshape(tf.sigmoid(lin(name)), [b, t, h, 1]);
        const prev = tf.slice(tf.pad(y, [[0, 0], [1, 0], [0, 0], [0, 0]]), [0, 0, 0, 0], [b, t, h, d]);
        return tf.add(tf.mul(alpha, prev), tf.mul(tf.sub(1, alpha), y));
      };
      const norm = (y: tf.Tensor, name: string) =>
        tf.mul(tf.mul(y, tf.rsqrt(tf.add(tf.mean(tf.square(y), -1, true), this.normEps))), tf.reshape(this.#w[name].read(), [h, d]));
      let q = split(lin('q_kernel'));
      let k = split(lin('k_kernel'));
      let v = split(lin('v_kernel'));
      if (this.keyShift) k = shift(k, 'k_shift_kernel');
      if (this.valueShift) v = shift(v, 'v_shift_kernel');
      if (this.qkNorm) {
        q = norm(q, 'q_norm');
        k = norm(k, 'k_norm');
      }
      const heads = (y: tf.Tensor) => tf.transpose(y, [0, 2, 1, 3]) as tf.Tensor4D;
      // log σ(z) = −softplus(−z): tf.logSigmoid's custom gradient reads its input after a tidy
      // has released it, so it cannot be used inside a layer's gradient tape.
      const z = tf.add(lin('fgate_kernel'), this.#w.fgate_bias.read());
      const logF = tf.transpose(tf.reshape(tf.neg(tf.softplus(tf.neg(z))), [b, t, h]), [0, 2, 1]);
      const lambda = tf.cumsum(logF, 2) as tf.Tensor3D;
      const o = this.acp ? this.#acpAttention(heads(q), heads(k), heads(v), lambda, this.acp) : this.#denseAttention(heads(q), heads(k), heads(v), lambda);
      let y = tf.reshape(tf.transpose(o, [0, 2, 1, 3]), [b * t, dm]);
      if (this.outputGate) y = tf.mul(y, tf.sigmoid(lin('ogate_kernel')));
      return tf.reshape(tf.matMul(y, this.#w.o_kernel.read()), [b, t, dm]);
    });
  }

  /** Serializable configuration. */
  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      heads: this.heads,
      qkNorm: this.qkNorm,
      outputGate: this.outputGate,
      keyShift: this.keyShift,
      valueShift: this.valueShift,
      normEps: this.normEps,
      acp: this.acp === false ? false : ({ ...this.acp } as tf.serialization.ConfigDict),
      forgetBiasInit: this.forgetBiasInit,
      initStd: this.initStd,
    };
  }

  #denseAttention(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, lambda: tf.Tensor3D): tf.Tensor4D {
    const [, h, t, d] = q.shape;
    const mask = new Float32Array(t * t);
    for (let i = 0; i < t; i++) for (let j = i + 1; j < t; j++) mask[i * t + j] = -Infinity;
    const bias = tf.sub(tf.expandDims(lambda, 3), tf.expandDims(lambda, 2));
    const scores = tf.add(tf.add(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(d)), bias), tf.tensor2d(mask, [t, t]));
    this.lastFlopSaving = { perHead: new Float64Array(h), total: 0 };
    return tf.matMul(tf.softmax(scores), v);
  }

  #acpAttention(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, lambda: tf.Tensor3D, options: TfjsAcpOptions): tf.Tensor4D {
    const [b, h, t, d] = q.shape;
    const scale = 1 / Math.sqrt(d);
    const acp = resolveAcpOptions('TfjsForgettingAttention', options);
    // The bound and the boundaries are read from the current values: they choose which
    // tiles run, and carry no gradient (as in the reference implementation).
    let bound: Float64Array;
    if (this.qkNorm) {
      const perHead = qkNormLogitBound({ kind: 'qkNorm', gammaQ: this.#w.q_norm.read().dataSync(), gammaK: this.#w.k_norm.read().dataSync() }, h, d, scale);
      bound = Float64Array.from({ length: b * h }, (_, g) => perHead[g % h]);
    } else {
      const qn = maxRowNorms(q.dataSync(), b * h, t, d);
      const kn = maxRowNorms(k.dataSync(), b * h, t, d);
      bound = Float64Array.from(qn, (x, g) => x * NORM_HEADROOM * kn[g] * NORM_HEADROOM * scale);
    }
    const threshold = acpThreshold(bound, t, acp.logTolerance);
    const lam = lambda.dataSync();
    const boundaries: AcpBoundaries[] = [];
    for (let g = 0; g < b * h; g++) boundaries.push(acpBoundaries(lam.subarray(g * t, (g + 1) * t), { threshold: threshold[g], blockM: acp.blockM, blockN: acp.blockN }));
    const s = savings(boundaries, b, h);
    this.lastFlopSaving = { perHead: s.headFlopSaving, total: s.totalFlopSaving };
    const groups: tf.Tensor[] = [];
    for (let bb = 0; bb < b; bb++) {
      for (let hh = 0; hh < h; hh++) {
        const bounds = boundaries[bb * h + hh];
        const blocks: tf.Tensor[] = [];
        for (let mb = 0; mb < bounds.start.length; mb++) {
          const m0 = mb * acp.blockM;
          const rows = Math.min(t, m0 + acp.blockM) - m0;
          const first = bounds.start[mb];
          const len = bounds.end[mb] - first;
          const causal = new Float32Array(rows * len);
          for (let r = 0; r < rows; r++) for (let c = 0; c < len; c++) if (first + c > m0 + r) causal[r * len + c] = -Infinity;
          const qb = tf.reshape(tf.slice(q, [bb, hh, m0, 0], [1, 1, rows, d]), [rows, d]);
          const kr = tf.reshape(tf.slice(k, [bb, hh, first, 0], [1, 1, len, d]), [len, d]);
          const vr = tf.reshape(tf.slice(v, [bb, hh, first, 0], [1, 1, len, d]), [len, d]);
          // Decay bias of the kept range from the Λ tensor, so the forget gates get gradients.
          const bias = tf.sub(tf.reshape(tf.slice(lambda, [bb, hh, m0], [1, 1, rows]), [rows, 1]), tf.reshape(tf.slice(lambda, [bb, hh, first], [1, 1, len]), [1, len]));
          const scores = tf.add(tf.add(tf.mul(tf.matMul(qb, kr, false, true), scale), bias), tf.tensor2d(causal, [rows, len]));
          blocks.push(tf.matMul(tf.softmax(scores), vr));
        }
        groups.push(blocks.length === 1 ? blocks[0] : tf.concat(blocks, 0));
      }
    }
    return tf.reshape(tf.stack(groups), [b, h, t, d]);
  }
}

tf.serialization.registerClass(TfjsForgettingAttention);
