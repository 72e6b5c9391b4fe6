"""Writes a tiny randomly initialised LM and its PyTorch logits as a parity fixture for
the TypeScript forward pass (packages/zoo/test/fixtures/tiny-lm/)."""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from model import LM  # noqa: E402
from safetensors_io import save_safetensors  # noqa: E402

torch.manual_seed(0)
cfg = {"vocab_size": 50, "hidden_size": 16, "intermediate_size": 24, "num_hidden_layers": 2, "num_attention_heads": 2,
       "max_position_embeddings": 8, "rms_norm_eps": 1e-5, "rope_theta": 10000.0}
m = LM(cfg)
with torch.no_grad():
    for p in m.parameters():
        p.copy_(torch.randn_like(p) * 0.3)  # larger than the init so every path matters
ids = torch.randint(0, 50, (2, 8))
with torch.no_grad():
    logits = m(ids)
out = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "tiny-lm")
os.makedirs(out, exist_ok=True)
save_safetensors(os.path.join(out, "model.safetensors"), {k: v for k, v in m.state_dict().items()})
with open(os.path.join(out, "config.json"), "w") as f:
    json.dump(cfg, f, indent=2)
with open(os.path.join(out, "expected.json"), "w") as f:
    json.dump({"ids": ids.tolist(), "logits": logits.flatten().tolist()}, f)
print("ok", logits.shape)
