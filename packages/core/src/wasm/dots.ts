// The dot-product kernel shared by the toolkit's WebAssembly SIMD code (matrix products here,
// k-means distances in @prune/data).
//
// Register blocking: the right-hand vectors are stored transposed in groups of four
// ([group][t][4] float32), so one v128 load brings component t of four vectors; each left-hand
// value x[t] is broadcast (load32_splat) and multiplied into those lanes. The inner step
// handles ROW_TILE rows × C groups (2 × 2: 4 accumulators, 16 multiply-adds per 4 loads, few
// enough registers that V8 keeps everything in the 16 xmm registers), so every loaded vector is
// reused and the accumulators land directly as dot products of four vectors — no horizontal
// sums. Products are summed in float32 lanes, as BLAS sgemm does for float32 data.
import { ADD, F32X4_ADD, F32X4_MUL, MUL, NE, ZERO, forLoop, get, i32, load, set, splat32, store, uleb } from './assemble.js';

/** Rows per register tile: callers pad their rows to a multiple of it. */
export const ROW_TILE = 2;

/** Steps of t unrolled per loop trip (the remainder of dim is unrolled after the loop). */
const UNROLL = 2;

/**
 * The function body of
 * `dots(x, blocks, c, tiles, out, outStride)`: for each block b of {@link ROW_TILE} rows and
 * each tile p of `groups` groups, `out[(b·ROW_TILE + r)·outStride/4 + (p·groups + g)·4 + q]`
 * `= Σ_t x[(b·ROW_TILE + r)·dim + t] · c[((p·groups + g)·dim + t)·4 + q]` (all byte pointers).
 * Tiles of c run in the outer loop, so one tile (groups·4·dim floats) stays in L1 while the
 * call's rows stream past it: callers pass a few dozen rows per call.
 * @param dim - values per row (t runs over 0..dim)
 * @param groups - groups of four vectors per tile (2, or 1 for an odd last group)
 * @param accumulate - add to `out` instead of overwriting it (for sums over slices of t)
 */
export function dotsBody(dim: number, groups: number, accumulate = false): number[] {
  const R = ROW_TILE;
  const C = groups;
  // params: 0 x, 1 blocks, 2 c, 3 tiles, 4 out, 5 outStride
  // i32 locals: 6 b, 7 xp, 8 op, 9 p, 10 cp, 11 px, 12 pc, 13 pcEnd, 14 opp
  // v128 locals: 15 .. 15+R·C−1 accumulators, then C vectors for each of two steps, then two splats
  const acc = (r: number, g: number): number => 15 + r * C + g;
  const cv = (g: number, h: number): number => 15 + R * C + h * C + g;
  const xs = (h: number): number => 15 + R * C + 2 * C + h;
  // Steps t = u and u + 1 together: acc += x_t·c_t + x_{t+1}·c_{t+1}, one add on each
  // accumulator's dependency chain per two products (the chains, not the adders, would
  // otherwise bound the speed).
  const pair = (u: number): number[] => {
    const out: number[] = [];
    for (let h = 0; h < 2; h++) for (let g = 0; g < C; g++) out.push(...get(12), ...load(g * dim * 16 + (u + h) * 16), ...set(cv(g, h)));
    for (let r = 0; r < R; r++) {
      for (let h = 0; h < 2; h++) out.push(...get(11), ...splat32(r * dim * 4 + (u + h) * 4), ...set(xs(h)));
      for (let g = 0; g < C; g++) {
        out.push(...get(acc(r, g)), ...get(xs(0)), ...get(cv(g, 0)), ...F32X4_MUL, ...get(xs(1)), ...get(cv(g, 1)), ...F32X4_MUL, ...F32X4_ADD, ...F32X4_ADD, ...set(acc(r, g)));
      }
    }
    return out;
  };
  const single = (u: number): number[] => {
    const out: number[] = [];
    for (let g = 0; g < C; g++) out.push(...get(12), ...load(g * dim * 16 + u * 16), ...set(cv(g, 0)));
    for (let r = 0; r < R; r++) {
      out.push(...get(11), ...splat32(r * dim * 4 + u * 4), ...set(xs(0)));
      for (let g = 0; g < C; g++) out.push(...get(acc(r, g)), ...get(xs(0)), ...get(cv(g, 0)), ...F32X4_MUL, ...F32X4_ADD, ...set(acc(r, g)));
    }
    return out;
  };
  const step = (u: number, last: number): number[] => (u + 1 < last ? pair(u) : single(u));
  const main = dim - (dim % UNROLL);
  const inner: number[] = [];
  for (let r = 0; r < R; r++) for (let g = 0; g < C; g++) inner.push(...ZERO, ...set(acc(r, g)));
  inner.push(...get(7), ...set(11), ...get(10), ...set(12));
  if (main > 0) {
    inner.push(...get(10), ...i32(main * 16), ADD, ...set(13));
    const trip: number[] = [];
    for (let u = 0; u < UNROLL; u += 2) trip.push(...step(u, UNROLL));
    inner.push(
      0x03, 0x40,
      ...trip,
      ...get(11), ...i32(UNROLL * 4), ADD, ...set(11),
      ...get(12), ...i32(UNROLL * 16), ADD, ...set(12),
      ...get(12), ...get(13), NE, 0x0d, 0,
      0x0b,
    );
  }
  for (let u = 0; u < dim - main; u += 2) inner.push(...step(u, dim - main));
  for (let r = 0; r < R; r++) {
    const row = [...get(14), ...get(5), ...i32(r), MUL, ADD];
    for (let g = 0; g < C; g++) {
      if (accumulate) inner.push(...row, ...row, ...load(g * 16), ...get(acc(r, g)), ...F32X4_ADD, ...store(g * 16));
      else inner.push(...row, ...get(acc(r, g)), ...store(g * 16));
    }
  }
  // Next row tile: x and the output row advance.
  inner.push(...get(7), ...i32(R * dim * 4), ADD, ...set(7));
  inner.push(...get(14), ...get(5), ...i32(R), MUL, ADD, ...set(14));
  const perTile = [
    ...get(0), ...set(7),
    ...get(8), ...set(14),
    ...forLoop(6, 1, inner),
    ...get(10), ...i32(C * dim * 16), ADD, ...set(10),
    ...get(8), ...i32(C * 16), ADD, ...set(8),
  ];
  return [
    0x02, 0x09, 0x7f, ...uleb(R * C + 2 * C + 2), 0x7b, // locals: 9 × i32, then the v128s
    ...get(2), ...set(10),
    ...get(4), ...set(8),
    ...forLoop(9, 3, perTile),
    0x0b,
  ];
}
