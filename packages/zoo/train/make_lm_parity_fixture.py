"""Logits of the shipped zoo LM (weights/lm) in PyTorch on the first 64 tokens of each source's
test split, for the TypeScript parity test (test/fixtures/lm-parity.json)."""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
import bpe  # noqa: E402
import corpus  # noqa: E402
from model import LM  # noqa: E402
from safetensors_io import load_safetensors  # noqa: E402

torch.set_num_threads(1)
here = os.path.dirname(os.path.abspath(__file__))
folder = os.path.join(here, "..", "weights", "lm")
cfg = json.load(open(os.path.join(folder, "config.json")))
model = LM(cfg)
model.load_state_dict(load_safetensors(os.path.join(folder, "model.safetensors")), strict=False)
model.eval()
tok = bpe.Tokenizer.load(os.path.join(folder, "tokenizer.json"))
cases = []
for s in corpus.SOURCES:
    ids = tok.encode(corpus.split(corpus.load(s))[1])[:64]
    with torch.no_grad():
        logits = model(torch.tensor([ids]))[0]
    # Keep the fixture small: logits of the last position and the NLL of the window.
    nll = torch.nn.functional.cross_entropy(logits[:-1], torch.tensor(ids[1:])).item()
    cases.append({"source": s, "ids": ids, "last_logits": logits[-1].tolist(), "mean_nll": nll})
with open(os.path.join(here, "..", "test", "fixtures", "lm-parity.json"), "w") as f:
    json.dump(cases, f)
print("ok")
