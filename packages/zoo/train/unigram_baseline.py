"""Perplexity of a unigram model (training-split token frequencies, add-one smoothing) on
each source's test split — the baseline the reference LM's perplexity is compared with."""
import collections
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import bpe  # noqa: E402
import corpus  # noqa: E402

here = os.path.dirname(os.path.abspath(__file__))
tok = bpe.Tokenizer.load(os.path.join(here, "..", "weights", "lm", "tokenizer.json"))
counts = collections.Counter()
tests = {}
for s in corpus.SOURCES:
    tr, te = corpus.split(corpus.load(s))
    counts.update(tok.encode(tr))
    tests[s] = tok.encode(te)
total = sum(counts.values())
V = 1024
out = {}
for s, ids in tests.items():
    nll = -sum(math.log((counts[i] + 1) / (total + V)) for i in ids) / len(ids)
    out[s] = round(math.exp(nll), 2)
print(json.dumps(out))
