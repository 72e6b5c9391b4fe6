"""Parity fixtures of the FoX LM for the TypeScript tests (packages/zoo/src/fox/fixtures/).

Usage: /usr/bin/python3 make_fox_parity_fixture.py [--trained]
Without flags: two tiny random FoX models (Pro parts on and off) with weights large enough
that the forget gates, token shifts and QK-norm gains all matter, and PyTorch's logits for
two sequences of 40 tokens. With --trained: the shipped model (weights/fox) on the first
256 tokens of each source's test split — last-position logits and mean NLL per source.
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
import corpus  # noqa: E402
import lm_training  # noqa: E402
from model_fox import FoxLM  # noqa: E402
from safetensors_io import load_safetensors, save_safetensors  # noqa: E402

torch.set_num_threads(1)
here = os.path.dirname(os.path.abspath(__file__))
out_dir = os.path.join(here, "..", "src", "fox", "fixtures")


def tiny(name, pro, seed):
    torch.manual_seed(seed)
    cfg = {"model_type": "forgetting_transformer", "vocab_size": 32, "hidden_size": 16, "intermediate_size": 24, "num_hidden_layers": 2, "num_attention_heads": 2, "max_position_embeddings": 40, "rms_norm_eps": 1e-5, "norm_eps": 1e-6, "use_rope": False, "qk_norm": pro, "use_output_gate": pro, "use_k_shift": pro, "use_v_shift": pro}
    model = FoxLM(cfg)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if n.endswith("fgate_proj.bias"):
                p.copy_(torch.tensor([-2.0, 3.0]))  # one fast- and one slow-forgetting head
            elif n.endswith("norm.weight"):
                p.copy_(1 + 0.3 * torch.randn_like(p))
            else:
                p.copy_(0.4 * torch.randn_like(p))
    model.eval()
    ids = torch.randint(0, cfg["vocab_size"], (2, 40))
    with torch.no_grad():
        logits = model(ids)
    folder = os.path.join(out_dir, name)
    os.makedirs(folder, exist_ok=True)
    save_safetensors(os.path.join(folder, "model.safetensors"), {k: v.contiguous().float() for k, v in model.state_dict().items()}, {"format": "pt"})
    json.dump(cfg, open(os.path.join(folder, "config.json"), "w"), indent=2)
    json.dump({"ids": ids.tolist(), "logits": [round(v, 6) for v in logits.reshape(-1).tolist()]}, open(os.path.join(folder, "expected.json"), "w"))


def trained():
    folder = os.path.join(here, "..", "weights", "fox")
    cfg = json.load(open(os.path.join(folder, "config.json")))
    model = FoxLM(cfg)
    model.load_state_dict(load_safetensors(os.path.join(folder, "model.safetensors")))
    model.eval()
    tok = lm_training.load_tokenizer()
    cases = []
    for s in corpus.SOURCES:
        ids = tok.encode(corpus.split(corpus.load(s))[1])[:256]
        with torch.no_grad():
            logits = model(torch.tensor([ids]))[0]
        nll = torch.nn.functional.cross_entropy(logits[:-1], torch.tensor(ids[1:])).item()
        cases.append({"source": s, "ids": ids, "last_logits": [round(v, 6) for v in logits[-1].tolist()], "mean_nll": nll})
    json.dump(cases, open(os.path.join(out_dir, "fox-trained-parity.json"), "w"))


if "--trained" in sys.argv:
    trained()
else:
    tiny("tiny-fox-pro", True, 1)
    tiny("tiny-fox-plain", False, 2)
print("ok")
