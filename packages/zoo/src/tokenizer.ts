import { PruneError } from '@prune/core';

/** The JSON form of a byte-level BPE tokenizer (`tokenizer.json` next to a zoo model). */
export interface BpeTokenizerJson {
  /** Always `byte-bpe`. */
  type: 'byte-bpe';
  /** 256 byte tokens plus one token per merge. */
  vocab_size: number;
  /** Pre-tokenisation regular expression (ASCII classes only). */
  pretokenizer: string;
  /** Merge list: merge i joins the pair `[a, b]` into token `256 + i`. */
  merges: [number, number][];
}

/**
 * Byte-level BPE tokenizer of the zoo language models. Text is split by the
 * pre-tokeniser, each piece is UTF-8 encoded and merges apply lowest rank first — the same
 * rules as the training script (`train/bpe.py`), checked by a parity test.
 */
export class BpeTokenizer {
  /** Number of token ids. */
  readonly vocabSize: number;
  readonly #pattern: RegExp;
  readonly #rank = new Map<number, number>();
  readonly #pieces: Uint8Array[];
  readonly #cache = new Map<string, number[]>();

  /** @param json - the parsed `tokenizer.json` */
  constructor(json: BpeTokenizerJson) {
    if (json?.type !== 'byte-bpe' || !Array.isArray(json.merges)) {
      throw new PruneError('CORRUPT_FILE', 'tokenizer.json is not a byte-bpe tokenizer (expected {"type":"byte-bpe","merges":[...]})');
    }
    this.#pattern = new RegExp(json.pretokenizer, 'g');
    this.vocabSize = 256 + json.merges.length;
    this.#pieces = Array.from({ length: 256 }, (_, b) => Uint8Array.of(b));
    json.merges.forEach(([a, b], i) => {
      if (!(a < 256 + i && b < 256 + i && a >= 0 && b >= 0)) {
        throw new PruneError('CORRUPT_FILE', `tokenizer.json merge ${i} refers to a token that does not exist yet`);
      }
      this.#rank.set(a * 65536 + b, i);
      const pa = this.#pieces[a];
      const pb = this.#pieces[b];
      const joined = new Uint8Array(pa.length + pb.length);
      joined.set(pa);
      joined.set(pb, pa.length);
      this.#pieces.push(joined);
    });
  }

  /** Splits `text` into pre-tokens (words with their leading space, punctuation runs, spaces). */
  pretokenize(text: string): string[] {
    return text.match(this.#pattern) ?? [];
  }

  /** Token ids of `text`. */
  encode(text: string): number[] {
    const ids: number[] = [];
    for (const word of this.pretokenize(text)) {
      for (const id of this.#encodeWord(word)) ids.push(id);
    }
    return ids;
  }

  /** Text of `ids` (invalid UTF-8 sequences become U+FFFD). */
  decode(ids: readonly number[]): string {
    const bytes: number[] = [];
    for (const id of ids) {
      const piece = this.#pieces[id];
      if (!piece) throw new PruneError('OUT_OF_RANGE', `token id ${id} is outside the vocabulary (0..${this.vocabSize - 1})`);
      for (const b of piece) bytes.push(b);
    }
    return new TextDecoder().decode(Uint8Array.from(bytes));
  }

  #encodeWord(word: string): number[] {
    const cached = this.#cache.get(word);
    if (cached) return cached;
    let s = Array.from(new TextEncoder().encode(word));
    while (s.length > 1) {
      let best = -1;
      let at = -1;
      for (let k = 0; k < s.length - 1; k++) {
        const r = this.#rank.get(s[k] * 65536 + s[k + 1]);
        if (r !== undefined && (best < 0 || r < best)) {
          best = r;
          at = k;
        }
      }
      if (best < 0) break;
      s = [...s.slice(0, at), 256 + best, ...s.slice(at + 2)];
    }
    if (this.#cache.size < 100_000) this.#cache.set(word, s);
    return s;
  }
}
