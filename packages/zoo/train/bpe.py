"""Byte-level BPE tokenizer of the reference LMs (training and encoding).

Pre-tokenisation uses only ASCII character classes so that the TypeScript encoder
(packages/zoo/src/tokenizer.ts) splits text identically.
"""
import collections
import json
import re

PRETOKEN = re.compile(r" ?[A-Za-z]+| ?[0-9]+| ?[^ \t\n\rA-Za-z0-9]+|[ \t\n\r]+(?![^ \t\n\r])|[ \t\n\r]+")


def pretokenize(text):
    return PRETOKEN.findall(text)


def train(texts, vocab_size):
    words = collections.Counter()
    for t in texts:
        words.update(pretokenize(t))
    seqs = [list(w.encode("utf-8")) for w in words]
    counts = list(words.values())
    pair_counts = collections.Counter()
    where = collections.defaultdict(set)
    for i, s in enumerate(seqs):
        for a, b in zip(s, s[1:]):
            pair_counts[(a, b)] += counts[i]
            where[(a, b)].add(i)
    merges = []
    next_id = 256
    while next_id < vocab_size and pair_counts:
        # Highest count; ties to the smallest pair so training is deterministic.
        best = max(pair_counts.items(), key=lambda kv: (kv[1], -kv[0][0], -kv[0][1]))[0]
        if pair_counts[best] < 2:
            break
        merges.append(best)
        for i in list(where[best]):
            s = seqs[i]
            c = counts[i]
            for a, b in zip(s, s[1:]):
                pair_counts[(a, b)] -= c
                if pair_counts[(a, b)] <= 0:
                    del pair_counts[(a, b)]
            out = []
            j = 0
            while j < len(s):
                if j + 1 < len(s) and s[j] == best[0] and s[j + 1] == best[1]:
                    out.append(next_id)
                    j += 2
                else:
                    out.append(s[j])
                    j += 1
            seqs[i] = out
            for a, b in zip(out, out[1:]):
                pair_counts[(a, b)] += c
                where[(a, b)].add(i)
        del where[best]
        next_id += 1
    return merges


class Tokenizer:
    def __init__(self, merges):
        self.merges = [tuple(m) for m in merges]
        self.rank = {m: i for i, m in enumerate(self.merges)}
        self.cache = {}

    @classmethod
    def load(cls, path):
        with open(path) as f:
            return cls(json.load(f)["merges"])

    def encode_word(self, w):
        if w in self.cache:
            return self.cache[w]
        s = list(w.encode("utf-8"))
        while len(s) > 1:
            best = None
            for k in range(len(s) - 1):
                r = self.rank.get((s[k], s[k + 1]))
                if r is not None and (best is None or r < best[0]):
                    best = (r, k)
            if best is None:
                break
            r, k = best
            s = s[:k] + [256 + r] + s[k + 2:]
        self.cache[w] = s
        return s

    def encode(self, text):
        ids = []
        for w in pretokenize(text):
            ids.extend(self.encode_word(w))
        return ids
