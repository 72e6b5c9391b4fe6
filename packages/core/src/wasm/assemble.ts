// Byte encoders for hand-assembled WebAssembly modules: the toolkit's SIMD kernels are built
// from their bytes at run time (no .wasm file to ship or fetch), specialised per size so the
// inner loops address memory at constant offsets.

/** Unsigned LEB128 encoding of `n` (sizes, indices, memory offsets). */
export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 encoding of `n` (`i32.const` immediates). */
export function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

/** A module section: its id, then its byte length, then `body`. */
export function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

/** A name (import, export) as a length-prefixed byte string. */
export function name(s: string): number[] {
  return [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];
}

/** `local.get i`. */
export const get = (i: number): number[] => [0x20, ...uleb(i)];
/** `local.set i`. */
export const set = (i: number): number[] => [0x21, ...uleb(i)];
/** `local.tee i`. */
export const tee = (i: number): number[] => [0x22, ...uleb(i)];
/** `i32.const v`. */
export const i32 = (v: number): number[] => [0x41, ...sleb(v)];
/** `i32.add`. */
export const ADD = 0x6a;
/** `i32.sub`. */
export const SUB = 0x6b;
/** `i32.mul`. */
export const MUL = 0x6c;
/** `i32.and`. */
export const AND = 0x71;
/** `i32.or`. */
export const OR = 0x72;
/** `i32.xor`. */
export const XOR = 0x73;
/** `i32.shl`. */
export const SHL = 0x74;
/** `i32.shr_s`. */
export const SHR_S = 0x75;
/** `i32.shr_u`. */
export const SHR_U = 0x76;
/** `i32.eq`. */
export const EQ = 0x46;
/** `i32.ne`. */
export const NE = 0x47;
/** `i32.lt_s`. */
export const LT_S = 0x48;
/** `i32.lt_u`. */
export const LT_U = 0x49;
/** `i32.ge_s`. */
export const GE_S = 0x4e;
/** `i32.ge_u`. */
export const GE_U = 0x4f;
/** `select`. */
export const SELECT = 0x1b;
/** `i32.eqz`. */
export const EQZ = 0x45;
/** `f32.ne`. */
export const F32_NE = 0x5c;
/** `f32.abs`. */
export const F32_ABS = 0x8b;
/** `f32.sub`. */
export const F32_SUB = 0x93;
/** `f32.mul`. */
export const F32_MUL = 0x94;
/** `f32.div`. */
export const F32_DIV = 0x95;
/** `f32.const 0`. */
export const F32_ZERO = [0x43, 0, 0, 0, 0];
/** `f64.add`. */
export const F64_ADD = 0xa0;
/** `f64.promote_f32`. */
export const F64_PROMOTE = 0xbb;
/** `i32.reinterpret_f32`. */
export const REINTERPRET = 0xbc;
/** `block` (no result). */
export const BLOCK = [0x02, 0x40];
/** `loop` (no result). */
export const LOOP = [0x03, 0x40];
/** `if` (no result). */
export const IF = [0x04, 0x40];
/** `else`. */
export const ELSE = 0x05;
/** `end`. */
export const END = 0x0b;
/** `br depth`. */
export const br = (depth: number): number[] => [0x0c, depth];
/** `br_if depth`. */
export const brIf = (depth: number): number[] => [0x0d, depth];
/** A SIMD instruction (prefix 0xfd) by its opcode, then its immediates. */
export const simd = (op: number, ...immediates: number[]): number[] => [0xfd, ...uleb(op), ...immediates];
/** `v128.load` at a constant offset from the address on the stack. */
export const load = (offset: number): number[] => [...simd(0x00), 0, ...uleb(offset)];
/** `v128.load32_splat`: one float32 broadcast to four lanes. */
export const splat32 = (offset: number): number[] => [...simd(0x09), 0, ...uleb(offset)];
/** `v128.store` at a constant offset. */
export const store = (offset: number): number[] => [...simd(0x0b), 0, ...uleb(offset)];
/** `v128.const` of sixteen bytes. */
export const v128const = (bytes: number[]): number[] => [...simd(0x0c), ...bytes];
/** `v128.const 0`. */
export const ZERO = v128const(new Array<number>(16).fill(0));
/** `f32x4.splat`. */
export const F32X4_SPLAT = simd(0x13);
/** `f32x4.add`. */
export const F32X4_ADD = simd(0xe4);
/** `f32x4.sub`. */
export const F32X4_SUB = simd(0xe5);
/** `f32x4.mul`. */
export const F32X4_MUL = simd(0xe6);
/** `i32.load` at a constant offset (4-byte aligned). */
export const LOAD_I32 = (offset = 0): number[] => [0x28, 2, ...uleb(offset)];
/** `i32.store` at a constant offset (4-byte aligned). */
export const STORE_I32 = (offset = 0): number[] => [0x36, 2, ...uleb(offset)];
/** `i32.store8` at a constant offset. */
export const STORE8 = (offset = 0): number[] => [0x3a, 0, ...uleb(offset)];
/** `i32.load8_u` at a constant offset. */
export const LOAD8_U = (offset = 0): number[] => [0x2d, 0, ...uleb(offset)];
/** `f32.store` at a constant offset (4-byte aligned). */
export const STORE_F32 = (offset = 0): number[] => [0x38, 2, ...uleb(offset)];
/** `f32.load` at a constant offset. */
export const LOAD_F32 = (offset = 0): number[] => [0x2a, 2, ...uleb(offset)];
/** `f64.store` at a constant offset (8-byte aligned). */
export const STORE_F64 = (offset: number): number[] => [0x39, 3, ...uleb(offset)];
/** The four little-endian bytes of `v` as float32. */
export const f32Bytes = (v: number): number[] => Array.from(new Uint8Array(Float32Array.of(v).buffer));
/** The four little-endian bytes of `v` as int32. */
export const i32Bytes = (v: number): number[] => Array.from(new Uint8Array(Int32Array.of(v).buffer));

/** A counted loop `for (v = 0; v < limit; v++) body` over i32 locals. */
export function forLoop(v: number, limit: number, body: number[]): number[] {
  return [
    ...i32(0), ...set(v),
    0x02, 0x40, 0x03, 0x40,
    ...get(v), ...get(limit), GE_U, 0x0d, 1,
    ...body,
    ...get(v), ...i32(1), ADD, ...set(v),
    0x0c, 0, 0x0b, 0x0b,
  ];
}

/** One function of {@link assembleModule}: its i32 parameter count, then its body bytes (locals and code, ending in `end`). */
export interface AssembledFunction {
  /** Export name. */
  name: string;
  /** Number of i32 parameters (kernels take byte pointers and counts). */
  params: number;
  /** Whether it returns one i32. */
  returnsI32?: boolean;
  /** The function body: local declarations, then the code, then `end` (0x0b). */
  body: number[];
}

/**
 * The bytes of a module that imports its memory as `env.memory` and exports `functions`.
 * @param functions - the kernels, each taking only i32 parameters
 * @param sharedMaximum - for a shared memory (worker threads), its maximum size in 64 KiB pages
 */
export function assembleModule(functions: readonly AssembledFunction[], sharedMaximum?: number): Uint8Array<ArrayBuffer> {
  const limits = sharedMaximum === undefined ? [0x00, 0x01] : [0x03, 0x01, ...uleb(sharedMaximum)];
  const signature = (f: AssembledFunction): string => `${f.params}:${f.returnsI32 === true ? 1 : 0}`;
  const arities = [...new Set(functions.map(signature))];
  const types = arities.flatMap((key) => {
    const [p, r] = key.split(':').map(Number);
    return [0x60, ...uleb(p), ...new Array<number>(p).fill(0x7f), r, ...new Array<number>(r).fill(0x7f)];
  });
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [...uleb(arities.length), ...types]),
    ...section(2, [1, ...name('env'), ...name('memory'), 0x02, ...limits]),
    ...section(3, [...uleb(functions.length), ...functions.flatMap((f) => uleb(arities.indexOf(signature(f))))]),
    ...section(7, [...uleb(functions.length), ...functions.flatMap((f, i) => [...name(f.name), 0x00, ...uleb(i)])]),
    ...section(10, [...uleb(functions.length), ...functions.flatMap((f) => [...uleb(f.body.length), ...f.body])]),
  ];
  return new Uint8Array(bytes);
}

/**
 * Grows a kernel's memory to hold at least `bytes`.
 * @param memory - the memory the kernel modules import
 * @param bytes - bytes needed
 * @returns its (possibly new) buffer; null when it cannot grow that far (callers then fall back
 *   to their JavaScript loop)
 */
export function reserveMemory(memory: WebAssembly.Memory, bytes: number): ArrayBufferLike | null {
  const have = memory.buffer.byteLength;
  if (bytes > have) {
    try {
      memory.grow(Math.ceil((bytes - have) / 65536));
    } catch {
      return null;
    }
  }
  return memory.buffer;
}
