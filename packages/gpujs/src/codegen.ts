/**
 * Source generation for gpu.js kernels. Every kernel here has a 1-D output over the flat
 * (row-major) output index and is specialised for one set of shapes, so extents and
 * strides appear as literals and loops have constant bounds, as GLSL requires.
 *
 * Index arithmetic is done in floats (GLSL ES 1.0 has no reliable integer division). A
 * quotient `floor(r / p)` is corrected by one step either way, which makes it exact for
 * every index below 2^24: products and differences of such integers are exact in float32.
 */

/** A float literal gpu.js types as Number (never as Integer). */
export function lit(value: number): string {
  if (!Number.isFinite(value)) throw new Error(`cannot embed ${value} in a kernel`);
  const s = String(value);
  return /[.eE]/.test(s) ? s : `${s}.0`;
}

let counter = 0;

/**
 * Code that splits the flat index held in variable `index` over `dims` and declares one
 * variable per operand holding that operand's element offset. Returns the code and the
 * offset variable names (one per entry of `strides`).
 */
export function offsetsCode(index: string, dims: readonly number[], strides: readonly (readonly number[])[]): { code: string; offsets: string[] } {
  const id = counter++;
  const rem = `rem${id}`;
  const lines = [`let ${rem} = ${index};`];
  const coords: string[] = [];
  let place = 1;
  const places = dims.map(() => 0);
  for (let i = dims.length - 1; i >= 0; i--) {
    places[i] = place;
    place *= dims[i];
  }
  for (let i = 0; i < dims.length; i++) {
    if (i === dims.length - 1) {
      coords.push(rem);
      break;
    }
    const q = `q${id}_${i}`;
    lines.push(...exactDivision(q, rem, places[i]));
    lines.push(`${rem} = ${rem} - ${q} * ${lit(places[i])};`);
    coords.push(q);
  }
  const offsets = strides.map((st, k) => {
    const name = `off${id}_${k}`;
    const terms = coords.map((c, i) => (st[i] === 0 ? '' : st[i] === 1 ? c : `${c} * ${lit(st[i])}`)).filter(Boolean);
    lines.push(`let ${name} = ${terms.length > 0 ? terms.join(' + ') : '0.0'};`);
    return name;
  });
  return { code: lines.join('\n'), offsets };
}

/** Declares `q = floor(r / p)` for integers 0 ≤ r < 2^24, exact despite float division error. */
export function exactDivision(q: string, r: string, p: number): string[] {
  if (p === 1) return [`let ${q} = ${r};`];
  const P = lit(p);
  return [
    `let ${q} = Math.floor(${r} / ${P});`,
    `if (${q} * ${P} > ${r}) { ${q} = ${q} - 1.0; }`,
    `if ((${q} + 1.0) * ${P} <= ${r}) { ${q} = ${q} + 1.0; }`,
  ];
}
