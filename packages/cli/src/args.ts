import { parseArgs } from 'node:util';
import { PruneError } from '@prune/core';

/** Weight-pruning methods the command runs, as `--method` / `--compare` names. */
export const WEIGHT_METHODS = [
  'magnitude',
  'magnitude-row',
  'magnitude-global',
  'wanda',
  'wanda-variant',
  'sparsegpt',
  'owl-wanda',
  'owl-sparsegpt',
] as const;

/** One of {@link WEIGHT_METHODS}. */
export type WeightMethodName = (typeof WEIGHT_METHODS)[number];

/** A parsed sparsity pattern. */
export type Pattern = { kind: 'unstructured' } | { kind: 'nm'; n: number; m: number };

/** Parsed and validated options of the weight-pruning command. */
export interface WeightOptions {
  /** Zoo model name, safetensors file/folder, or tfjs model folder. */
  model: string;
  /** Methods to run (one, or several with `--compare`). */
  methods: WeightMethodName[];
  /** Fraction of weights to prune (unstructured). */
  sparsity: number;
  /** Unstructured or N:M (N pruned of every M). */
  pattern: Pattern;
  /** Calibration text file; default: the zoo model's shipped calibration text. */
  calib?: string;
  /** Calibration samples. */
  nsamples: number;
  /** Tokens per calibration sample; default: the model's context. */
  seqlen?: number;
  /** Seed of the calibration windows. */
  seed: number;
  /** Backend name. */
  backend: string;
  /** Compressed export. */
  compress?: 'csr' | 'nm' | 'bitmask';
  /** Output folder. */
  out: string;
  /** Print the report as JSON on stdout instead of a table. */
  json: boolean;
  /** Sequential propagation of pruned outputs. */
  propagate: boolean;
  /** Evaluation windows per source. */
  evalWindows: number;
}

/** Help text of the command. */
export const HELP = `prune — prune neural networks and what flows through them

Usage
  prune [options]                 prune the weights of a model (default: the zoo LM, Wanda, 50%)
  prune --help                    this text

Options
  --model NAME|PATH      zoo model name (lm), a .safetensors file, a checkpoint folder or
                         sharded index, or a tfjs model folder            [default: lm]
  --method NAME          ${WEIGHT_METHODS.join(', ')}
                                                                          [default: wanda]
  --sparsity S           fraction of weights to prune, 0 ≤ S < 1          [default: 0.5]
  --pattern P            unstructured, or N:M = prune N of every M consecutive weights
                         of a row (2:4 keeps 2 of 4, as NVIDIA sparse tensor cores need)
                                                                          [default: unstructured]
  --calib FILE           calibration text (UTF-8)          [default: the model's shipped text]
  --nsamples N           calibration samples                              [default: 128]
  --seqlen N             tokens per calibration sample          [default: the model's context]
  --seed N               seed of the calibration windows                  [default: 0]
  --backend NAME         auto, reference, tfjs-cpu, tfjs-wasm, tfjs-node, tfjs-node-gpu,
                         gpujs-cpu, gpujs-webasm, gpujs-headlessgl        [default: auto]
  --compress FMT         also write a compressed copy: csr, nm or bitmask
  --out DIR              output folder (must not be the input)            [default: ./out]
  --json                 print the JSON report on stdout instead of the table
  --compare M1,M2,...    run several methods in one run and print one table
  --no-propagate         collect every block's statistics from dense-model inputs
  --eval-windows N       evaluation windows of the model's context per source [default: 16]

Examples
  pnpm run prune
  pnpm run prune -- --method sparsegpt --pattern 2:4
  pnpm run prune -- --compare magnitude,wanda,sparsegpt --sparsity 0.5
  pnpm run prune -- --model ./llama/model.safetensors --method magnitude --sparsity 0.5 --out ./pruned
`;

function num(name: string, value: string | undefined, fallback: number, integer: boolean): number {
  if (value === undefined) return fallback;
  const v = Number(value);
  if (!Number.isFinite(v) || (integer && !Number.isInteger(v))) {
    throw new PruneError('INVALID_ARGUMENT', `--${name} must be ${integer ? 'an integer' : 'a number'}, got "${value}"`);
  }
  return v;
}

/** Parses `--pattern`: `unstructured` or `N:M` with 0 < N < M. */
export function parsePattern(text: string): Pattern {
  if (text === 'unstructured') return { kind: 'unstructured' };
  const m = /^(\d+):(\d+)$/.exec(text);
  if (!m) throw new PruneError('INVALID_ARGUMENT', `--pattern must be "unstructured" or N:M such as 2:4, got "${text}"`);
  const n = Number(m[1]);
  const group = Number(m[2]);
  if (n <= 0 || n >= group) throw new PruneError('OUT_OF_RANGE', `--pattern ${text}: N:M needs 0 < N < M (N pruned of every M)`);
  return { kind: 'nm', n, m: group };
}

function method(name: string): WeightMethodName {
  if (!(WEIGHT_METHODS as readonly string[]).includes(name)) {
    throw new PruneError('INVALID_ARGUMENT', `unknown method "${name}"; choose from ${WEIGHT_METHODS.join(', ')}`);
  }
  return name as WeightMethodName;
}

/** Parses argv (without node and script); `help: true` when --help was given. */
export function parseWeightArgs(argv: readonly string[]): { help: true } | { help: false; options: WeightOptions } {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowNegative: true,
      options: {
        help: { type: 'boolean', short: 'h' },
        model: { type: 'string' },
        method: { type: 'string' },
        sparsity: { type: 'string' },
        pattern: { type: 'string' },
        calib: { type: 'string' },
        nsamples: { type: 'string' },
        seqlen: { type: 'string' },
        seed: { type: 'string' },
        backend: { type: 'string' },
        compress: { type: 'string' },
        out: { type: 'string' },
        json: { type: 'boolean' },
        compare: { type: 'string' },
        propagate: { type: 'boolean' },
        'eval-windows': { type: 'string' },
      },
    });
  } catch (cause) {
    throw new PruneError('INVALID_ARGUMENT', `${(cause as Error).message}; see prune --help`, { cause });
  }
  const v = parsed.values;
  if (v.help) return { help: true };
  if (v.method !== undefined && v.compare !== undefined) throw new PruneError('INVALID_ARGUMENT', 'give either --method or --compare, not both');
  const methods = v.compare !== undefined ? v.compare.split(',').map((s) => method(s.trim())) : [method(v.method ?? 'wanda')];
  const sparsity = num('sparsity', v.sparsity, 0.5, false);
  if (sparsity < 0 || sparsity >= 1) throw new PruneError('OUT_OF_RANGE', `--sparsity must be in [0, 1) (the fraction of weights to prune), got ${sparsity}`);
  const nsamples = num('nsamples', v.nsamples, 128, true);
  if (nsamples < 1) throw new PruneError('OUT_OF_RANGE', `--nsamples must be at least 1, got ${nsamples}`);
  const seqlen = v.seqlen === undefined ? undefined : num('seqlen', v.seqlen, 0, true);
  if (seqlen !== undefined && seqlen < 2) throw new PruneError('OUT_OF_RANGE', `--seqlen must be at least 2, got ${seqlen}`);
  const evalWindows = num('eval-windows', v['eval-windows'], 16, true);
  if (evalWindows < 1) throw new PruneError('OUT_OF_RANGE', `--eval-windows must be at least 1`);
  if (v.compress !== undefined && !['csr', 'nm', 'bitmask'].includes(v.compress)) {
    throw new PruneError('INVALID_ARGUMENT', `--compress must be csr, nm or bitmask, got "${v.compress}"`);
  }
  return {
    help: false,
    options: {
      model: v.model ?? 'lm',
      methods,
      sparsity,
      pattern: parsePattern(v.pattern ?? 'unstructured'),
      calib: v.calib,
      nsamples,
      seqlen,
      seed: num('seed', v.seed, 0, true),
      backend: v.backend ?? 'auto',
      compress: v.compress as WeightOptions['compress'],
      out: v.out ?? 'out',
      json: v.json ?? false,
      propagate: v.propagate ?? true,
      evalWindows,
    },
  };
}
