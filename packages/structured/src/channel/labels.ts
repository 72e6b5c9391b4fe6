// Channel labels: every position of a tensor's last axis carries the id of a channel "atom".
// Atoms joined by an element-wise op (Add, Multiply, …) are merged in a union-find, so one
// class of atoms is one removable channel wherever it appears. Atoms of the model's inputs,
// outputs and of channel-mixing or unsupported layers are fixed: their class is never removed.

/** Union-find over channel atoms, with a "fixed" flag per class. */
export class AtomSets {
  private readonly parent: number[] = [];
  private readonly fixedRoot: boolean[] = [];
  /** The producing layer of each atom (`undefined` for inputs and fixed outputs). */
  readonly owner: (string | undefined)[] = [];

  /** Number of atoms allocated. */
  get size(): number {
    return this.parent.length;
  }

  /**
   * Allocates `count` new atoms.
   * @param count - how many
   * @param owner - the layer that creates these channels
   * @param fixed - whether they may never be removed
   * @returns their ids, in order
   */
  create(count: number, owner: string | undefined, fixed: boolean): Int32Array {
    const out = new Int32Array(count);
    for (let i = 0; i < count; i++) {
      out[i] = this.parent.length;
      this.parent.push(this.parent.length);
      this.fixedRoot.push(fixed);
      this.owner.push(owner);
    }
    return out;
  }

  /** The class (root atom) of `atom`. */
  find(atom: number): number {
    let root = atom;
    while (this.parent[root] !== root) root = this.parent[root];
    while (this.parent[atom] !== root) {
      const next = this.parent[atom];
      this.parent[atom] = root;
      atom = next;
    }
    return root;
  }

  /** Merges the classes of `a` and `b` (the smaller id becomes the root, for determinism). */
  union(a: number, b: number): void {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra === rb) return;
    const [root, child] = ra < rb ? [ra, rb] : [rb, ra];
    this.parent[child] = root;
    this.fixedRoot[root] = this.fixedRoot[root] || this.fixedRoot[child];
  }

  /** Marks the classes of every atom in `labels` as never removable. */
  fix(labels: Int32Array): void {
    for (const a of labels) this.fixedRoot[this.find(a)] = true;
  }

  /** True when the class of `atom` may never be removed. */
  isFixed(atom: number): boolean {
    return this.fixedRoot[this.find(atom)];
  }
}

/** `labels` repeated `times` times (a channels-last flatten: position j carries labels[j mod C]). */
export function tileLabels(labels: Int32Array, times: number): Int32Array {
  const out = new Int32Array(labels.length * times);
  for (let t = 0; t < times; t++) out.set(labels, t * labels.length);
  return out;
}

/** Each label repeated `times` times in place (a depthwise multiplier: channel c·m + j comes from c). */
export function repeatLabels(labels: Int32Array, times: number): Int32Array {
  const out = new Int32Array(labels.length * times);
  for (let c = 0; c < labels.length; c++) out.fill(labels[c], c * times, (c + 1) * times);
  return out;
}
