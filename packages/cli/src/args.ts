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

/** Mixture-of-experts methods (`--method` only; they run on MoE models, one per run). */
export const MOE_METHODS = ['moe-pruner', 'easy-ep'] as const;

/** One of {@link MOE_METHODS}. */
export type MoeMethodName = (typeof MOE_METHODS)[number];

/** Options of the mixture-of-experts methods. */
export interface MoeOptions {
  /** The method. */
  method: MoeMethodName;
  /** EASY-EP: demonstrations file (one per line, or blank-line-separated passages). */
  demos?: string;
  /** EASY-EP: experts kept per layer; default half of them. */
  keepExperts?: number;
  /** MoE-Pruner: expert-wise distillation steps after pruning (0 = none). */
  distillSteps: number;
  /** MoE-Pruner: Adam learning rate of the distillation. */
  distillLr: number;
}

/** Channel-importance criteria of `--method channel` (data-free ones: the command has no labelled data for a tfjs folder). */
export const CHANNEL_CRITERIA = ['l1', 'l2', 'bn-scale'] as const;

/** One of {@link CHANNEL_CRITERIA}. */
export type ChannelCriterionName = (typeof CHANNEL_CRITERIA)[number];

/** Options of `--method channel` (dependency-aware channel pruning of a tfjs LayersModel folder). */
export interface ChannelOptions {
  /** Channel importance. */
  criterion: ChannelCriterionName;
  /** Fraction of channels removed: of every dependency group, or of all with `global`. */
  ratio: number;
  /** Rank all groups' channels together. */
  global: boolean;
  /** Round layer widths to a multiple of this. */
  roundTo: number;
  /** Keep the channels of layers channel pruning cannot handle instead of stopping. */
  keepUnsupported: boolean;
}

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
  /** Threads of the fused pruning kernels; default: the library's (available parallelism). */
  threads?: number;
  /** Set when `--method` names a mixture-of-experts method (then `methods` is empty). */
  moe?: MoeOptions;
  /** Set for `--method channel` (then `methods` is empty). */
  channel?: ChannelOptions;
}

/** Help text of the command. */
export const HELP = `prune — prune neural networks and what flows through them

Usage
  prune [options]                 prune the weights of a model (default: the zoo LM, Wanda, 50%)
  prune --help                    this text
  prune data [options]            keep a subset of a dataset by scores or balanced k-means
                                  curation (see prune data --help)

Options
  --model NAME|PATH      zoo model name (lm, or moe for the MoE methods), a .safetensors file,
                         a checkpoint folder or sharded index, or a tfjs model folder
                                                       [default: lm; moe for MoE methods]
  --method NAME          ${WEIGHT_METHODS.join(', ')};
                         on a mixture-of-experts model: ${MOE_METHODS.join(', ')}
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
  --threads N            threads for pruning large matrices (1 = no worker threads)
                                                  [default: available cores, at most 8]

Mixture-of-experts models (--model moe, the zoo MoE LM, or a folder with a Mixtral-style
config.json, tokenizer.json and safetensors)
  --method moe-pruner    router-weighted Wanda on every expert (and Wanda on attention), with
                         --sparsity / --pattern as above
  --distill-steps N      moe-pruner: expert-wise distillation steps from the dense model
                         after pruning (masks stay fixed)                 [default: 0]
  --distill-lr LR        moe-pruner: Adam learning rate of the distillation [default: 0.0002]
  --method easy-ep       keep the K experts per layer that matter most on the demonstrations;
                         writes a physically smaller model
  --demos FILE           easy-ep: demonstrations, UTF-8 — one per line, or passages separated
                         by blank lines when the file has any; at most 25 are used (the
                         longest after a shuffle seeded by --seed), each cut to the context
  --keep-experts K       easy-ep: experts kept per layer, top-k ≤ K ≤ experts [default: half]

Channel pruning of a tfjs LayersModel folder (writes a physically smaller model)
  --method channel       remove whole channels, with every coupled tensor (BN, depthwise,
                         consumers, residual partners, concat offsets, flatten positions)
  --criterion C          channel importance: ${CHANNEL_CRITERIA.join(', ')}                  [default: l1]
  --ratio R              fraction of channels removed from each group, 0 ≤ R < 1 [default: 0.3]
  --global               rank channels of all groups together instead
  --round-to N           round every pruned layer's width to a multiple of N [default: 1]
  --keep-unsupported     keep the channels of layers it cannot prune through (else: error)

Examples
  pnpm run prune
  pnpm run prune -- --method sparsegpt --pattern 2:4
  pnpm run prune -- --compare magnitude,wanda,sparsegpt --sparsity 0.5
  pnpm run prune -- --model ./llama/model.safetensors --method magnitude --sparsity 0.5 --out ./pruned
  pnpm run prune -- --model moe --method moe-pruner --pattern 2:4 --distill-steps 100
  pnpm run prune -- --model moe --method easy-ep --demos ./austen-demos.txt --keep-experts 4
  pnpm run prune -- --method channel --criterion l1 --ratio 0.3 --model ./mobilenet --out ./small
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
  if (name === 'channel') throw new PruneError('INVALID_ARGUMENT', 'channel cannot be compared with other methods in one run; give it alone as --method channel');
  if ((MOE_METHODS as readonly string[]).includes(name)) {
    throw new PruneError('INVALID_ARGUMENT', `${name} cannot be compared with other methods in one run; give it alone as --method ${name}`);
  }
  if (!(WEIGHT_METHODS as readonly string[]).includes(name)) {
    throw new PruneError('INVALID_ARGUMENT', `unknown method "${name}"; choose from ${[...WEIGHT_METHODS, ...MOE_METHODS, 'channel'].join(', ')}`);
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
        threads: { type: 'string' },
        demos: { type: 'string' },
        'keep-experts': { type: 'string' },
        'distill-steps': { type: 'string' },
        'distill-lr': { type: 'string' },
        criterion: { type: 'string' },
        ratio: { type: 'string' },
        global: { type: 'boolean' },
        'round-to': { type: 'string' },
        'keep-unsupported': { type: 'boolean' },
      },
    });
  } catch (cause) {
    throw new PruneError('INVALID_ARGUMENT', `${(cause as Error).message}; see prune --help`, { cause });
  }
  const v = parsed.values;
  if (v.help) return { help: true };
  if (v.method !== undefined && v.compare !== undefined) throw new PruneError('INVALID_ARGUMENT', 'give either --method or --compare, not both');
  const moe = parseMoeOptions(v);
  const channel = parseChannelOptions(v);
  const methods = moe !== undefined || channel !== undefined ? [] : v.compare !== undefined ? v.compare.split(',').map((s) => method(s.trim())) : [method(v.method ?? 'wanda')];
  const sparsity = num('sparsity', v.sparsity, 0.5, false);
  if (sparsity < 0 || sparsity >= 1) throw new PruneError('OUT_OF_RANGE', `--sparsity must be in [0, 1) (the fraction of weights to prune), got ${sparsity}`);
  const nsamples = num('nsamples', v.nsamples, 128, true);
  if (nsamples < 1) throw new PruneError('OUT_OF_RANGE', `--nsamples must be at least 1, got ${nsamples}`);
  const seqlen = v.seqlen === undefined ? undefined : num('seqlen', v.seqlen, 0, true);
  if (seqlen !== undefined && seqlen < 2) throw new PruneError('OUT_OF_RANGE', `--seqlen must be at least 2, got ${seqlen}`);
  const evalWindows = num('eval-windows', v['eval-windows'], 16, true);
  if (evalWindows < 1) throw new PruneError('OUT_OF_RANGE', `--eval-windows must be at least 1`);
  const threads = v.threads === undefined ? undefined : num('threads', v.threads, 0, true);
  if (threads !== undefined && threads < 1) throw new PruneError('OUT_OF_RANGE', `--threads must be at least 1, got ${threads}`);
  if (v.compress !== undefined && !['csr', 'nm', 'bitmask'].includes(v.compress)) {
    throw new PruneError('INVALID_ARGUMENT', `--compress must be csr, nm or bitmask, got "${v.compress}"`);
  }
  return {
    help: false,
    options: {
      model: v.model ?? (moe !== undefined ? 'moe' : 'lm'),
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
      ...(threads !== undefined ? { threads } : {}),
      ...(moe !== undefined ? { moe } : {}),
      ...(channel !== undefined ? { channel } : {}),
    },
  };
}

function parseMoeOptions(v: { method?: string; demos?: string; 'keep-experts'?: string; 'distill-steps'?: string; 'distill-lr'?: string }): MoeOptions | undefined {
  const name = v.method;
  const isMoe = name !== undefined && (MOE_METHODS as readonly string[]).includes(name);
  const given = (['demos', 'keep-experts', 'distill-steps', 'distill-lr'] as const).filter((k) => v[k] !== undefined);
  if (!isMoe) {
    if (given.length > 0) throw new PruneError('INVALID_ARGUMENT', `--${given[0]} belongs to the mixture-of-experts methods; use it with --method ${given[0] === 'demos' || given[0] === 'keep-experts' ? 'easy-ep' : 'moe-pruner'}`);
    return undefined;
  }
  const method = name as MoeMethodName;
  const wrong = given.filter((k) => (method === 'easy-ep') !== (k === 'demos' || k === 'keep-experts'));
  if (wrong.length > 0) throw new PruneError('INVALID_ARGUMENT', `--${wrong[0]} does not apply to --method ${method}`);
  if (method === 'easy-ep' && v.demos === undefined) {
    throw new PruneError('INVALID_ARGUMENT', '--method easy-ep needs --demos FILE: in-domain demonstrations, one per line or separated by blank lines');
  }
  const keepExperts = v['keep-experts'] === undefined ? undefined : num('keep-experts', v['keep-experts'], 0, true);
  if (keepExperts !== undefined && keepExperts < 1) throw new PruneError('OUT_OF_RANGE', `--keep-experts must be at least 1, got ${keepExperts}`);
  const distillSteps = num('distill-steps', v['distill-steps'], 0, true);
  if (distillSteps < 0) throw new PruneError('OUT_OF_RANGE', `--distill-steps must be 0 or more, got ${distillSteps}`);
  const distillLr = num('distill-lr', v['distill-lr'], 2e-4, false);
  if (!(distillLr > 0)) throw new PruneError('OUT_OF_RANGE', `--distill-lr must be above 0, got ${distillLr}`);
  return { method, demos: v.demos, keepExperts, distillSteps, distillLr };
}

function parseChannelOptions(v: { method?: string; criterion?: string; ratio?: string; global?: boolean; 'round-to'?: string; 'keep-unsupported'?: boolean }): ChannelOptions | undefined {
  const given = (['criterion', 'ratio', 'global', 'round-to', 'keep-unsupported'] as const).filter((k) => v[k] !== undefined);
  if (v.method !== 'channel') {
    if (given.length > 0) throw new PruneError('INVALID_ARGUMENT', `--${given[0]} belongs to channel pruning; use it with --method channel`);
    return undefined;
  }
  const criterion = v.criterion ?? 'l1';
  if (!(CHANNEL_CRITERIA as readonly string[]).includes(criterion)) {
    throw new PruneError('INVALID_ARGUMENT', `--criterion must be one of ${CHANNEL_CRITERIA.join(', ')}, got "${criterion}" (Taylor and activation-aware need calibration data: use @prune/structured from code)`);
  }
  const ratio = num('ratio', v.ratio, 0.3, false);
  if (!(ratio >= 0 && ratio < 1)) throw new PruneError('OUT_OF_RANGE', `--ratio must be in [0, 1) (the fraction of channels removed), got ${ratio}`);
  const roundTo = num('round-to', v['round-to'], 1, true);
  if (roundTo < 1) throw new PruneError('OUT_OF_RANGE', `--round-to must be at least 1, got ${roundTo}`);
  return { criterion: criterion as ChannelCriterionName, ratio, global: v.global ?? false, roundTo, keepUnsupported: v['keep-unsupported'] ?? false };
}
