"""Writes the evaluation and calibration texts shipped in @prune/zoo (packages/zoo/data/).

Per source: `<source>.test.txt.gz` is the whole held-out split (the last 5% of the cleaned
text) and `<source>.calib.txt.gz` the last 120 kB of the training split (calibration data
for pruning, never used for evaluation). Also writes the tokenizer parity fixture.
"""
import gzip
import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import bpe  # noqa: E402
import corpus  # noqa: E402

here = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(here, "..", "data")
os.makedirs(out, exist_ok=True)
tok = bpe.Tokenizer.load(os.path.join(here, "..", "weights", "lm", "tokenizer.json"))
fixture = []
for s in corpus.SOURCES:
    train, test = corpus.split(corpus.load(s))
    calib = train[-120_000:]
    calib = calib[calib.find("\n") + 1 :]
    for name, text in (("test", test), ("calib", calib)):
        with gzip.GzipFile(os.path.join(out, f"{s}.{name}.txt.gz"), "wb", mtime=0) as f:
            f.write(text.encode("utf-8"))
    sample = test[:2000]
    fixture.append({"source": s, "text": sample, "ids": tok.encode(sample)})
fixture.append({"source": "edge", "text": "naïve café — “quoted” 1999's   spaces\n\n\ttab 🙂 end", "ids": tok.encode("naïve café — “quoted” 1999's   spaces\n\n\ttab 🙂 end")})
os.makedirs(os.path.join(here, "..", "test", "fixtures"), exist_ok=True)
with open(os.path.join(here, "..", "test", "fixtures", "tokenizer-parity.json"), "w") as f:
    json.dump(fixture, f)
print("ok")
