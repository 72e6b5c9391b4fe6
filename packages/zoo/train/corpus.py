"""Corpus loading and the fixed train / calibration / test split of the reference LMs.

Each of the four public-domain sources is one "domain". Per source, the first 95% of the
cleaned text (cut at a line boundary) is the training split and the last 5% the test split.
The TypeScript side (packages/zoo/src/data) reproduces these splits from the same files.
"""
import gzip
import os
import re

SOURCES = ["kjv", "austen", "moby-dick", "sotu"]
TEST_FRACTION = 0.05
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
_VERSE_REF = re.compile(r"^[0-9A-Za-z]+\d+:\d+ ", re.M)


def clean(source: str, text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    if source == "kjv":
        text = _VERSE_REF.sub("", text)  # drop the "Ge1:1 " verse references
    # Collapse runs of blank lines: the corpora use 3-5 as section breaks.
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip() + "\n"


def load(source: str) -> str:
    with gzip.open(os.path.join(ROOT, "data", "text", f"{source}.txt.gz"), "rt", encoding="utf-8") as f:
        return clean(source, f.read())


def split(text: str):
    cut = int(len(text) * (1 - TEST_FRACTION))
    cut = text.rfind("\n", 0, cut) + 1
    return text[:cut], text[cut:]
