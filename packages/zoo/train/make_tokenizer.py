"""Trains the 1024-token byte-level BPE on the training splits of all four sources."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import bpe  # noqa: E402
import corpus  # noqa: E402

VOCAB = 1024
out = sys.argv[1]
t0 = time.time()
# Equal amounts of text from every source, so no domain dominates the vocabulary.
texts = [corpus.split(corpus.load(s))[0][:1_000_000] for s in corpus.SOURCES]
merges = bpe.train(texts, VOCAB)
with open(out, "w") as f:
    json.dump({"type": "byte-bpe", "vocab_size": 256 + len(merges), "pretokenizer": bpe.PRETOKEN.pattern, "merges": merges}, f)
print(f"{len(merges)} merges in {time.time() - t0:.1f}s")
