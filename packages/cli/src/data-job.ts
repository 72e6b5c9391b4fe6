import { open, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, extname, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { PruneError } from '@prune/core';
import { balancedCuration, ccsSelect, embeddingMatrix, randomScores, selectByScore, type Embeddings } from '@prune/data';
import { formatSeconds, formatTable } from './table.js';

/** Selection methods of `prune data`. */
export const DATA_METHODS = ['ccs', 'keep-hard', 'keep-easy', 'offset', 'random', 'kmeans-balanced'] as const;

/** One of {@link DATA_METHODS}. */
export type DataMethodName = (typeof DATA_METHODS)[number];

/** Parsed and validated options of `prune data`. */
export interface DataOptions {
  /** Selection method. */
  method: DataMethodName;
  /** Fraction of the examples to keep, in (0, 1]. */
  keep: number;
  /** Scores file (JSON or CSV), for the score-based methods. */
  scores?: string;
  /** Embeddings file (.npy, or raw float32 with `dim`), for kmeans-balanced. */
  embeddings?: string;
  /** Values per row of a raw float32 embeddings file. */
  dim?: number;
  /** Which end of the scores is hard. */
  harderIs: 'higher' | 'lower';
  /** β of CCS: fraction of the hardest examples pruned first. */
  beta: number;
  /** Score strata of CCS. */
  strata: number;
  /** Skipped hardest fraction for `offset`. */
  offset: number;
  /** Class balance for the score-based methods (needs labels in the scores file). */
  classBalance: 'none' | 'proportional' | 'equal';
  /** Clusters per level for kmeans-balanced, finest first (default from the kept size). */
  levels?: number[];
  /** η of balanced sampling: share of each leaf's quota taken closest to its centroid. */
  closestFraction: number;
  /** Seed of every random choice. */
  seed: number;
  /** Output file for the kept indices (.json, or one index per line otherwise). */
  out: string;
  /** Print the JSON report on stdout instead of the table. */
  json: boolean;
}

/** Help text of `prune data`. */
export const DATA_HELP = `prune data — keep a subset of a dataset: score-based selection or balanced k-means curation

Usage
  prune data --method ccs --keep 0.5 --scores scores.json [--out kept.txt]
  prune data --method kmeans-balanced --keep 0.3 --embeddings emb.npy [--out kept.json]

Options
  --method NAME          ${DATA_METHODS.join(', ')}                [default: ccs]
                         ccs: coverage-centric (prune the β hardest, then stratified by score);
                         keep-hard / keep-easy / offset: by score; random: uniform;
                         kmeans-balanced: hierarchical k-means + balanced sampling on embeddings
  --keep F               fraction of the examples to keep, 0 < F ≤ 1      [default: 0.5]
  --scores FILE          per-example scores: JSON (an array of numbers, or
                         {"scores": [...], "labels": [...]}) or CSV (a "score" column and an
                         optional "label" column, or one number per line)
  --embeddings FILE      per-example embeddings: .npy (float32/float64, 2-D, C order) or raw
                         little-endian float32 rows with --dim
  --dim D                values per row of a raw float32 embeddings file
  --harder higher|lower  which end of the score is hard (lower for AUM)   [default: higher]
  --beta B               ccs: fraction of all examples pruned first (hardest) [default: 0.1]
  --strata N             ccs: equal-width score strata                    [default: 50]
  --offset F             offset: hardest fraction skipped before keeping  [default: 0.1]
  --class-balance MODE   none, proportional or equal (needs labels)       [default: none]
  --levels K1,K2,...     kmeans-balanced: clusters per level, finest first
                                                        [default: √kept, then a tenth of it]
  --closest-fraction η   kmeans-balanced: share of each cluster's quota taken closest to its
                         centroid, the rest at random                     [default: 0]
  --seed N               seed of every random choice                      [default: 0]
  --out FILE             kept indices: .json (report + indices) or text (one per line)
                                                                          [default: kept.txt]
  --json                 print the JSON report on stdout instead of the table
`;

function number(name: string, value: string | undefined, fallback: number, integer = false): number {
  if (value === undefined) return fallback;
  const v = Number(value);
  if (value.trim() === '' || !Number.isFinite(v) || (integer && !Number.isInteger(v))) {
    throw new PruneError('INVALID_ARGUMENT', `--${name} must be ${integer ? 'an integer' : 'a number'}, got "${value}"`);
  }
  return v;
}

/** Parses the arguments after `prune data`; `help: true` when --help was given. */
export function parseDataArgs(argv: readonly string[]): { help: true } | { help: false; options: DataOptions } {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      options: {
        help: { type: 'boolean', short: 'h' },
        method: { type: 'string' },
        keep: { type: 'string' },
        scores: { type: 'string' },
        embeddings: { type: 'string' },
        dim: { type: 'string' },
        harder: { type: 'string' },
        beta: { type: 'string' },
        strata: { type: 'string' },
        offset: { type: 'string' },
        'class-balance': { type: 'string' },
        levels: { type: 'string' },
        'closest-fraction': { type: 'string' },
        seed: { type: 'string' },
        out: { type: 'string' },
        json: { type: 'boolean' },
      },
    });
  } catch (cause) {
    throw new PruneError('INVALID_ARGUMENT', `${(cause as Error).message}; see prune data --help`, { cause });
  }
  const v = parsed.values;
  if (v.help) return { help: true };
  const method = (v.method ?? 'ccs') as DataMethodName;
  if (!(DATA_METHODS as readonly string[]).includes(method)) throw new PruneError('INVALID_ARGUMENT', `unknown data method "${method}"; choose from ${DATA_METHODS.join(', ')}`);
  const keep = number('keep', v.keep, 0.5);
  if (!(keep > 0 && keep <= 1)) throw new PruneError('OUT_OF_RANGE', `--keep must be a fraction in (0, 1] (the share of examples to keep), got ${keep}`);
  if (method === 'kmeans-balanced') {
    if (v.embeddings === undefined) throw new PruneError('INVALID_ARGUMENT', '--method kmeans-balanced needs --embeddings FILE (.npy, or raw float32 with --dim)');
  } else if (method !== 'random' && v.scores === undefined) {
    throw new PruneError('INVALID_ARGUMENT', `--method ${method} needs --scores FILE (JSON or CSV, one score per example)`);
  } else if (method === 'random' && v.scores === undefined && v.embeddings === undefined) {
    throw new PruneError('INVALID_ARGUMENT', '--method random needs --scores or --embeddings to know how many examples there are');
  }
  const harder = v.harder ?? 'higher';
  if (harder !== 'higher' && harder !== 'lower') throw new PruneError('INVALID_ARGUMENT', `--harder must be higher or lower, got "${harder}"`);
  const classBalance = v['class-balance'] ?? 'none';
  if (!['none', 'proportional', 'equal'].includes(classBalance)) throw new PruneError('INVALID_ARGUMENT', `--class-balance must be none, proportional or equal, got "${classBalance}"`);
  const levels = v.levels === undefined ? undefined : v.levels.split(',').map((s) => number('levels', s.trim(), 0, true));
  const dim = v.dim === undefined ? undefined : number('dim', v.dim, 0, true);
  if (dim !== undefined && dim < 1) throw new PruneError('OUT_OF_RANGE', `--dim must be a positive integer, got ${dim}`);
  return {
    help: false,
    options: {
      method,
      keep,
      scores: v.scores,
      embeddings: v.embeddings,
      dim,
      harderIs: harder,
      beta: number('beta', v.beta, 0.1),
      strata: number('strata', v.strata, 50, true),
      offset: number('offset', v.offset, 0.1),
      classBalance: classBalance as DataOptions['classBalance'],
      levels,
      closestFraction: number('closest-fraction', v['closest-fraction'], 0),
      seed: number('seed', v.seed, 0, true),
      out: v.out ?? 'kept.txt',
      json: v.json ?? false,
    },
  };
}

/** Scores (and labels, when the file has them) read by {@link readScoresFile}. */
export interface ScoresFile {
  /** One score per example. */
  scores: Float64Array;
  /** One class label per example, when the file has a label column / field. */
  labels?: Int32Array;
}

function finiteNumbers(values: unknown[], what: string, file: string): Float64Array {
  const out = new Float64Array(values.length);
  values.forEach((x, i) => {
    const v = typeof x === 'number' ? x : typeof x === 'string' && x.trim() !== '' ? Number(x) : Number.NaN;
    if (!Number.isFinite(v)) throw new PruneError('NON_FINITE', `${file}: ${what} ${i} is ${JSON.stringify(x)}, not a finite number`);
    out[i] = v;
  });
  return out;
}

function labelsOf(values: unknown[], count: number, file: string): Int32Array {
  if (values.length !== count) throw new PruneError('SHAPE_MISMATCH', `${file}: ${values.length} labels for ${count} scores`);
  const nums = finiteNumbers(values, 'label', file);
  return Int32Array.from(nums, (v, i) => {
    if (!Number.isInteger(v) || v < 0) throw new PruneError('CORRUPT_FILE', `${file}: label ${i} is ${v}, not a class index ≥ 0`);
    return v;
  });
}

/**
 * Reads a scores file. JSON: an array of numbers, or `{ "scores": [...], "labels": [...] }`.
 * CSV: a header with a `score` column (and optionally `label`), or one number per line.
 * @param file - path
 */
export async function readScoresFile(file: string): Promise<ScoresFile> {
  const text = await readFile(file, 'utf8').catch((cause) => {
    throw new PruneError('NOT_FOUND', `cannot read the scores file ${file}: ${(cause as Error).message}`, { cause });
  });
  const trimmed = text.trim();
  if (trimmed.startsWith('[') || trimmed.startsWith('{')) {
    let json: unknown;
    try {
      json = JSON.parse(trimmed);
    } catch (cause) {
      throw new PruneError('CORRUPT_FILE', `${file} is not valid JSON: ${(cause as Error).message}`, { cause });
    }
    if (Array.isArray(json)) return { scores: finiteNumbers(json, 'score', file) };
    const obj = json as { scores?: unknown; labels?: unknown };
    if (!Array.isArray(obj.scores)) throw new PruneError('CORRUPT_FILE', `${file}: expected an array of numbers or {"scores": [...], "labels": [...]}`);
    const scores = finiteNumbers(obj.scores, 'score', file);
    if (obj.labels === undefined) return { scores };
    if (!Array.isArray(obj.labels)) throw new PruneError('CORRUPT_FILE', `${file}: "labels" must be an array of class indices`);
    return { scores, labels: labelsOf(obj.labels, scores.length, file) };
  }
  const lines = trimmed.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length === 0) throw new PruneError('CORRUPT_FILE', `${file} holds no scores`);
  const header = lines[0].split(',').map((s) => s.trim().toLowerCase());
  if (header.some((h) => h !== '' && Number.isNaN(Number(h)))) {
    const si = header.indexOf('score');
    if (si < 0) throw new PruneError('CORRUPT_FILE', `${file}: the CSV header has no "score" column (found ${header.join(', ')})`);
    const li = header.indexOf('label');
    const rows = lines.slice(1).map((l) => l.split(','));
    const scores = finiteNumbers(rows.map((r) => r[si]), 'score', file);
    return li < 0 ? { scores } : { scores, labels: labelsOf(rows.map((r) => r[li]), scores.length, file) };
  }
  return { scores: finiteNumbers(lines.map((l) => l.split(',')[0]), 'score', file) };
}

/**
 * Reads an embeddings file: a 2-D `.npy` array (float32 or float64, C order, little-endian),
 * or raw little-endian float32 rows of `dim` values.
 * @param file - path
 * @param dim - values per row, for raw files
 */
export async function readEmbeddingsFile(file: string, dim?: number): Promise<Embeddings> {
  const bytes = await readFile(file).catch((cause) => {
    throw new PruneError('NOT_FOUND', `cannot read the embeddings file ${file}: ${(cause as Error).message}`, { cause });
  });
  if (bytes.subarray(0, 6).toString('latin1') === '\x93NUMPY') {
    const major = bytes[6];
    const headerLength = major === 1 ? bytes.readUInt16LE(8) : bytes.readUInt32LE(8);
    const start = (major === 1 ? 10 : 12) + headerLength;
    const header = bytes.subarray(major === 1 ? 10 : 12, start).toString('latin1');
    const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
    const fortran = /'fortran_order':\s*True/.test(header);
    const shape = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1].split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
    if (!descr || !shape) throw new PruneError('CORRUPT_FILE', `${file}: unreadable .npy header`);
    if (fortran) throw new PruneError('UNSUPPORTED', `${file}: Fortran-order .npy; save it in C order (numpy.ascontiguousarray)`);
    if (shape.length !== 2) throw new PruneError('SHAPE_MISMATCH', `${file}: embeddings must be 2-D [examples, dim], got shape (${shape.join(', ')})`);
    const [rows, cols] = shape;
    const body = bytes.subarray(start);
    let data: Float32Array;
    if (descr === '<f4') {
      if (body.length < rows * cols * 4) throw new PruneError('CORRUPT_FILE', `${file}: truncated (${body.length} bytes for ${rows}×${cols} float32)`);
      data = new Float32Array(rows * cols);
      new Uint8Array(data.buffer).set(body.subarray(0, rows * cols * 4));
    } else if (descr === '<f8') {
      if (body.length < rows * cols * 8) throw new PruneError('CORRUPT_FILE', `${file}: truncated (${body.length} bytes for ${rows}×${cols} float64)`);
      const f64 = new Float64Array(rows * cols);
      new Uint8Array(f64.buffer).set(body.subarray(0, rows * cols * 8));
      data = Float32Array.from(f64);
    } else {
      throw new PruneError('UNSUPPORTED', `${file}: dtype ${descr}; embeddings must be little-endian float32 (<f4) or float64 (<f8)`);
    }
    return embeddingMatrix(data, cols);
  }
  if (dim === undefined) throw new PruneError('INVALID_ARGUMENT', `${file} is not a .npy file; for raw float32 rows pass --dim D`);
  if (bytes.length % (4 * dim) !== 0) throw new PruneError('SHAPE_MISMATCH', `${file}: ${bytes.length} bytes are not whole rows of ${dim} float32 values`);
  const data = new Float32Array(bytes.length / 4);
  new Uint8Array(data.buffer).set(bytes);
  return embeddingMatrix(data, dim);
}

/** What `prune data` did. */
export interface DataJobResult {
  /** Method used. */
  method: DataMethodName;
  /** Requested kept fraction. */
  keep: number;
  /** Examples in the input. */
  count: number;
  /** Examples kept. */
  kept: number;
  /** Kept examples per class, when labels were given. */
  perClass?: Record<string, number>;
  /** Input file. */
  input: string;
  /** Output file. */
  output: string;
  /** Wall time of the selection in seconds. */
  seconds: number;
}

/**
 * Selects the kept indices for `options` (no output written).
 * @returns the kept indices (ascending) and the input size and labels
 */
export async function selectData(options: DataOptions): Promise<{ indices: Int32Array; count: number; labels?: Int32Array }> {
  if (options.method === 'kmeans-balanced' || (options.method === 'random' && options.scores === undefined)) {
    const e = await readEmbeddingsFile(options.embeddings!, options.dim);
    if (options.method === 'random') return { indices: selectByScore(randomScores(e.count, options.seed), { keep: options.keep }), count: e.count };
    const indices = balancedCuration(e, { keep: options.keep, levels: options.levels, closestFraction: options.closestFraction, seed: options.seed });
    return { indices, count: e.count };
  }
  const { scores, labels } = await readScoresFile(options.scores!);
  const common = { keep: options.keep, harderIs: options.harderIs, labels, classBalance: options.classBalance, seed: options.seed };
  let indices: Int32Array;
  switch (options.method) {
    case 'ccs':
      if (options.classBalance !== 'none') throw new PruneError('INVALID_ARGUMENT', '--class-balance applies to keep-hard, keep-easy, offset and random; ccs stratifies by score instead');
      indices = ccsSelect(scores, { keep: options.keep, hardPruneFraction: options.beta, strata: options.strata, harderIs: options.harderIs, seed: options.seed });
      break;
    case 'keep-hard':
      indices = selectByScore(scores, { ...common, policy: 'hard' });
      break;
    case 'keep-easy':
      indices = selectByScore(scores, { ...common, policy: 'easy' });
      break;
    case 'offset':
      indices = selectByScore(scores, { ...common, policy: 'offset', offset: options.offset });
      break;
    default:
      indices = selectByScore(randomScores(scores.length, options.seed), { ...common, harderIs: 'higher' });
  }
  return { indices, count: scores.length, labels };
}

/** Writes `text` to `file` through a temporary file and a rename, so a failure never leaves a partial file. */
async function writeAtomically(file: string, text: string): Promise<void> {
  const tmp = join(dirname(file), `.${basename(file)}.partial-${process.pid}`);
  try {
    const handle = await open(tmp, 'w');
    try {
      await handle.writeFile(text);
    } finally {
      await handle.close();
    }
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/**
 * Runs `prune data`: selects, writes the kept indices to `options.out`, returns the report.
 * @param options - parsed options
 */
export async function runDataJob(options: DataOptions): Promise<{ result: DataJobResult; indices: Int32Array }> {
  const input = resolve((options.method === 'kmeans-balanced' || options.scores === undefined ? options.embeddings : options.scores)!);
  const out = resolve(options.out);
  if (out === input) throw new PruneError('UNSAFE_PATH', `--out ${options.out} is the input file; choose another output so the input is never modified`);
  const outDir = await stat(dirname(out)).catch(() => undefined);
  if (!outDir?.isDirectory()) throw new PruneError('NOT_FOUND', `the folder of --out ${options.out} does not exist`);
  const t0 = performance.now();
  const { indices, count, labels } = await selectData(options);
  const seconds = (performance.now() - t0) / 1000;
  let perClass: Record<string, number> | undefined;
  if (labels) {
    perClass = {};
    for (const i of indices) perClass[labels[i]] = (perClass[labels[i]] ?? 0) + 1;
  }
  const result: DataJobResult = { method: options.method, keep: options.keep, count, kept: indices.length, perClass, input: relative(process.cwd(), input), output: relative(process.cwd(), out), seconds };
  const body = extname(out).toLowerCase() === '.json' ? `${JSON.stringify({ ...result, indices: Array.from(indices) })}\n` : `${Array.from(indices).join('\n')}\n`;
  await writeAtomically(out, body);
  return { result, indices };
}

/** Formats the report of `prune data` as a table. */
export function dataTable(r: DataJobResult): string {
  const table = formatTable(
    [{ header: 'method' }, { header: 'examples', align: 'right' }, { header: 'kept', align: 'right' }, { header: 'fraction', align: 'right' }, { header: 'time', align: 'right' }],
    [[r.method, String(r.count), String(r.kept), `${((100 * r.kept) / Math.max(1, r.count)).toFixed(1)}%`, formatSeconds(r.seconds)]],
  );
  const classes = r.perClass ? `\nkept per class: ${Object.entries(r.perClass).map(([c, n]) => `${c}: ${n}`).join(', ')}` : '';
  return `${table}${classes}\n\nwrote ${r.output} (kept indices)`;
}

/**
 * The `prune data` subcommand: parses `argv` (after `data`), selects and writes the kept
 * indices, and prints the table (or the JSON report with --json).
 * @param argv - arguments after `data`
 * @param stdout - where the table goes
 */
export async function runDataCommand(argv: readonly string[], stdout: NodeJS.WritableStream): Promise<void> {
  const parsed = parseDataArgs(argv);
  if (parsed.help) {
    stdout.write(DATA_HELP);
    return;
  }
  const { result } = await runDataJob(parsed.options);
  stdout.write(parsed.options.json ? `${JSON.stringify(result, null, 2)}\n` : `\n${dataTable(result)}\n`);
}

