import type { Tensor } from './tensor.js';

// A stack of open tidy scopes; each records the tensors created while it is innermost.
const scopes: Set<Tensor>[] = [];

/** Records a new tensor in the innermost open {@link tidy} scope. */
export function trackTensor(t: Tensor): void {
  scopes[scopes.length - 1]?.add(t);
}

/** Removes `t` from every open scope so it outlives them. */
function untrack(t: Tensor): void {
  for (const s of scopes) s.delete(t);
}

/** Values a {@link tidy} callback may return; every tensor found inside is kept. */
export type TidyResult = Tensor | readonly TidyResult[] | { readonly [key: string]: TidyResult } | void | number | string | boolean | null | undefined;

function collect(value: unknown, out: Set<Tensor>, isTensor: (v: unknown) => v is Tensor): void {
  if (isTensor(value)) out.add(value);
  else if (Array.isArray(value)) for (const v of value) collect(v, out, isTensor);
  else if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype)
    for (const v of Object.values(value)) collect(v, out, isTensor);
}

let tensorCheck: (v: unknown) => v is Tensor = (v): v is Tensor => false;

/** @internal Lets tensor.ts register its `instanceof` check without an import cycle. */
export function setTensorCheck(check: (v: unknown) => v is Tensor): void {
  tensorCheck = check;
}

/**
 * Runs `fn` and disposes every tensor created during the call except those it returns
 * (found in arrays and plain objects too) and those passed to {@link keep}. Works the same
 * on every backend. Synchronous only: an async callback's later tensors escape the scope.
 *
 * @example
 * ```ts
 * const norm = tidy(() => sqrt(sum(square(x), { axis: 1 })));
 * ```
 */
export function tidy<T extends TidyResult>(fn: () => T): T {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } finally {
    scopes.pop();
  }
  const kept = new Set<Tensor>();
  collect(result, kept, tensorCheck);
  for (const t of scope) if (!kept.has(t)) t.dispose();
  // Returned tensors belong to the enclosing scope, if any.
  for (const t of kept) if (!t.isDisposed) trackTensor(t);
  return result;
}

/** Marks `t` to survive every enclosing {@link tidy}; the caller disposes it. Returns `t`. */
export function keep<T extends Tensor>(t: T): T {
  untrack(t);
  return t;
}

/** Disposes every tensor found in `value` (a tensor, array or plain object of tensors). */
export function dispose(value: TidyResult): void {
  const found = new Set<Tensor>();
  collect(value, found, tensorCheck);
  for (const t of found) t.dispose();
}
