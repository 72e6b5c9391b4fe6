"""Writes two tiny randomly initialised MoE LMs and their PyTorch logits as parity fixtures
for the TypeScript forward pass (packages/zoo/test/fixtures/tiny-moe/): `mixtral/`
(softmax router, renormalised top-2 of 4 experts) and `deepseek/` (sigmoid scores, one
shared expert, a selection bias and a route scale)."""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from model_moe import MoeLM  # noqa: E402
from safetensors_io import save_safetensors  # noqa: E402

base = {"vocab_size": 40, "hidden_size": 16, "intermediate_size": 12, "num_hidden_layers": 2, "num_attention_heads": 2,
        "max_position_embeddings": 8, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "num_local_experts": 4,
        "num_experts_per_tok": 2}
variants = {
    "mixtral": {},
    "deepseek": {"scoring_func": "sigmoid", "n_shared_experts": 1, "router_bias": True, "routed_scaling_factor": 1.5},
}
root = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "tiny-moe")
for name, extra in variants.items():
    torch.manual_seed(0)
    m = MoeLM({**base, **extra})
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn_like(p) * 0.3)  # larger than the init so every path matters
        for layer in m.model.layers:
            if hasattr(layer.block_sparse_moe.gate, "e_score_correction_bias"):
                layer.block_sparse_moe.gate.e_score_correction_bias.copy_(torch.randn(4) * 0.2)
    ids = torch.randint(0, 40, (2, 8))
    with torch.no_grad():
        logits = m(ids)
    out = os.path.join(root, name)
    os.makedirs(out, exist_ok=True)
    save_safetensors(os.path.join(out, "model.safetensors"), {k: v.contiguous() for k, v in m.state_dict().items()})
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(m.cfg, f, indent=2)
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump({"ids": ids.tolist(), "logits": [round(v, 6) for v in logits.flatten().tolist()]}, f)
    print(name, "ok", logits.shape)
