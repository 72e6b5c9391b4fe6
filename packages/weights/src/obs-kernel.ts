import {
  ADD,
  BLOCK,
  ELSE,
  END,
  EQZ,
  F32X4_MUL,
  F32X4_SPLAT,
  F32X4_SUB,
  F32_DIV,
  F32_MUL,
  F32_NE,
  F32_SUB,
  F32_ZERO,
  GE_U,
  IF,
  LOAD8_U,
  LOAD_F32,
  LOOP,
  LT_U,
  MUL,
  STORE_F32,
  assembleModule,
  br,
  brIf,
  get,
  i32,
  load,
  reserveMemory,
  set,
  store,
  tee,
} from '@prune/core/wasm';

// SparseGPT's column loop over a block's rows for a mask chosen beforehand, in WebAssembly
// SIMD: for each pruned weight, err = w / U[c,c] and w[c+1:] −= err·U[c, c+1:], four columns
// per vector. Each product is rounded to float32 before the subtraction, as the reference's
// float32 outer product `err1·Hinv1[i, i:]` is; the JS loop in obs-block.ts rounds the same way,
// so both give the same bits.

// Parameters of obs(w, keep, u, err, rows, count): byte pointers into the memory, and counts.
const W = 0;
const KEEP = 1;
const U = 2;
const ERR = 3;
const ROWS = 4;
const COUNT = 5;
// Locals.
const R = 6;
const C = 7;
const W_ROW = 8;
const E_ROW = 9;
const K_ROW = 10;
const U_ROW = 11;
const P = 12;
const Q = 13;
const P_END = 14;
const E = 15; // f32
const EV = 16; // v128

/** `while (cond) body` */
const whileLoop = (cond: number[], body: number[]): number[] => [...BLOCK, ...LOOP, ...cond, EQZ, ...brIf(1), ...body, ...br(0), END, END];

function obsBody(): number[] {
  const columnStep = [
    // the pruned weight's error, then the update of the row's later columns
    ...get(W_ROW), ...get(C), ...i32(4), MUL, ADD, ...tee(P),
    ...LOAD_F32(), ...get(U_ROW), ...get(C), ...i32(4), MUL, ADD, ...LOAD_F32(), F32_DIV, ...set(E),
    ...get(E_ROW), ...get(C), ...i32(4), MUL, ADD, ...get(E), ...STORE_F32(),
    ...get(P), ...F32_ZERO, ...STORE_F32(),
    ...get(E), ...F32_ZERO, F32_NE,
    ...IF,
    ...get(E), ...F32X4_SPLAT, ...set(EV),
    ...get(P), ...i32(4), ADD, ...set(P),
    ...get(U_ROW), ...get(C), ...i32(4), MUL, ADD, ...i32(4), ADD, ...set(Q),
    ...whileLoop([...get(P_END), ...get(P), ...i32(16), ADD, GE_U], [
      ...get(P), ...get(P), ...load(0), ...get(EV), ...get(Q), ...load(0), ...F32X4_MUL, ...F32X4_SUB, ...store(0),
      ...get(P), ...i32(16), ADD, ...set(P),
      ...get(Q), ...i32(16), ADD, ...set(Q),
    ]),
    ...whileLoop([...get(P), ...get(P_END), LT_U], [
      ...get(P), ...get(P), ...LOAD_F32(), ...get(E), ...get(Q), ...LOAD_F32(), F32_MUL, F32_SUB, ...STORE_F32(),
      ...get(P), ...i32(4), ADD, ...set(P),
      ...get(Q), ...i32(4), ADD, ...set(Q),
    ]),
    END,
  ];
  const perColumn = [
    ...get(K_ROW), ...get(C), ADD, ...LOAD8_U(),
    ...IF,
    ...get(E_ROW), ...get(C), ...i32(4), MUL, ADD, ...F32_ZERO, ...STORE_F32(),
    ELSE,
    ...columnStep,
    END,
    ...get(U_ROW), ...get(COUNT), ...i32(4), MUL, ADD, ...set(U_ROW),
    ...get(C), ...i32(1), ADD, ...set(C),
  ];
  const perRow = [
    ...get(W), ...get(R), ...get(COUNT), MUL, ...i32(4), MUL, ADD, ...tee(W_ROW),
    ...get(COUNT), ...i32(4), MUL, ADD, ...set(P_END),
    ...get(ERR), ...get(R), ...get(COUNT), MUL, ...i32(4), MUL, ADD, ...set(E_ROW),
    ...get(KEEP), ...get(R), ...get(COUNT), MUL, ADD, ...set(K_ROW),
    ...get(U), ...set(U_ROW),
    ...i32(0), ...set(C),
    ...whileLoop([...get(C), ...get(COUNT), LT_U], perColumn),
    ...get(R), ...i32(1), ADD, ...set(R),
  ];
  const code = [...i32(0), ...set(R), ...whileLoop([...get(R), ...get(ROWS), LT_U], perRow), END];
  // Locals: nine i32 (R … P_END), one f32, one v128.
  return [3, 9, 0x7f, 1, 0x7d, 1, 0x7b, ...code];
}

type ObsKernel = (w: number, keep: number, u: number, err: number, rows: number, count: number) => void;

/** Rows of a block copied into the kernel's memory per call. */
const CHUNK_ROWS = 1024;

let memory: WebAssembly.Memory | null | undefined;
let kernel: ObsKernel | null | undefined;

function obsKernel(): ObsKernel | null {
  if (kernel !== undefined) return kernel;
  try {
    memory = new WebAssembly.Memory({ initial: 1 });
    kernel = new WebAssembly.Instance(new WebAssembly.Module(assembleModule([{ name: 'obs', params: 6, body: obsBody() }])), { env: { memory } }).exports.obs as ObsKernel;
  } catch {
    kernel = null;
  }
  return kernel;
}

/** The rows of one block as the kernel reads them (strided views into the caller's arrays). */
export interface ObsRows {
  /** Weights; row r of the block starts at `wAt + r·wStride`. Updated in place. */
  readonly w: Float32Array;
  readonly wAt: number;
  readonly wStride: number;
  /** Keep mask (1 = keep), laid out like `w`. */
  readonly keep: Uint8Array;
  readonly keepAt: number;
  readonly keepStride: number;
  /** The block's square of the upper factor U: row c starts at `uAt + c·uStride`. */
  readonly u: Float32Array;
  readonly uAt: number;
  readonly uStride: number;
  /** Receives each row's errors: row r at `r·errStride`. */
  readonly err: Float32Array;
  readonly errStride: number;
  /** Columns in the block. */
  readonly count: number;
}

/**
 * Runs the column loop for rows `[from, to)` of a block whose mask is fixed, in WebAssembly
 * SIMD. Returns false (nothing done) where WebAssembly is not available.
 */
export function obsRowsSimd(b: ObsRows, from: number, to: number): boolean {
  const k = obsKernel();
  if (k === null || to <= from) return k !== null;
  const { count } = b;
  const chunk = Math.min(CHUNK_ROWS, to - from);
  const uBytes = count * count * 4;
  const rowBytes = count * 4;
  const wAt = uBytes;
  const errAt = wAt + chunk * rowBytes;
  const keepAt = errAt + chunk * rowBytes;
  const buffer = reserveMemory(memory!, keepAt + chunk * count);
  if (buffer === null) return false;
  const u = new Float32Array(buffer, 0, count * count);
  for (let c = 0; c < count; c++) u.set(b.u.subarray(b.uAt + c * b.uStride, b.uAt + c * b.uStride + count), c * count);
  const w = new Float32Array(buffer, wAt, chunk * count);
  const err = new Float32Array(buffer, errAt, chunk * count);
  const keep = new Uint8Array(buffer, keepAt, chunk * count);
  for (let start = from; start < to; start += chunk) {
    const n = Math.min(chunk, to - start);
    for (let r = 0; r < n; r++) {
      const src = b.wAt + (start + r) * b.wStride;
      w.set(b.w.subarray(src, src + count), r * count);
      const ks = b.keepAt + (start + r) * b.keepStride;
      keep.set(b.keep.subarray(ks, ks + count), r * count);
    }
    k(wAt, keepAt, 0, errAt, n, count);
    for (let r = 0; r < n; r++) {
      b.w.set(w.subarray(r * count, (r + 1) * count), b.wAt + (start + r) * b.wStride);
      b.err.set(err.subarray(r * count, (r + 1) * count), (start + r) * b.errStride);
    }
  }
  return true;
}
