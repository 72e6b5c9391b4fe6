/** Bits needed to store an index in [0, m): ceil(log2 m), 0 when m = 1. */
export function indexBits(m: number): number {
  let bits = 0;
  while (1 << bits < m) bits++;
  return bits;
}

/** Bytes needed for `count` fields of `bits` bits packed without gaps. */
export function packedBytes(count: number, bits: number): number {
  return Math.ceil((count * bits) / 8);
}

/**
 * Writes the low `bits` bits of `value` at bit offset `position` of `bytes`, least
 * significant bit first (bit i of the stream is bit i % 8 of byte ⌊i/8⌋). `bytes` must be
 * zero there.
 */
export function writeBits(bytes: Uint8Array, position: number, bits: number, value: number): void {
  let pos = position;
  let remaining = bits;
  let v = value;
  while (remaining > 0) {
    // Division, not `>>> 3`: bit positions may pass 2^32 on large weights.
    const byte = Math.floor(pos / 8);
    const offset = pos % 8;
    const chunk = Math.min(8 - offset, remaining);
    bytes[byte] |= (v & ((1 << chunk) - 1)) << offset;
    v >>>= chunk;
    pos += chunk;
    remaining -= chunk;
  }
}

/** Reads a `bits`-bit field at bit offset `position` written by {@link writeBits}. */
export function readBits(bytes: Uint8Array, position: number, bits: number): number {
  let pos = position;
  let value = 0;
  let shift = 0;
  while (shift < bits) {
    // Division, not `>>> 3`: bit positions may pass 2^32 on large weights.
    const byte = Math.floor(pos / 8);
    const offset = pos % 8;
    const chunk = Math.min(8 - offset, bits - shift);
    value |= ((bytes[byte] >>> offset) & ((1 << chunk) - 1)) << shift;
    pos += chunk;
    shift += chunk;
  }
  return value;
}
