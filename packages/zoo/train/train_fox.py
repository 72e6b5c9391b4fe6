"""Trains the FoX (Forgetting Transformer) reference LM of @prune/zoo on the four-source
corpus and exports safetensors.

Usage: /usr/bin/python3 train_fox.py OUT_DIR [--minutes M] [--threads T] [--seq S] [--no-pro]
Same data, tokenizer, optimiser and schedule as train_lm.py (lm_training.py); the model is
model_fox.FoxLM (forgetting attention, no RoPE; with --no-pro the QK-norm, output gate and
token shifts are off). Writes OUT_DIR/{config.json, model.safetensors, training.json};
training.json also holds each layer's mean forget gate per head on held-out text.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
import corpus  # noqa: E402
import lm_training  # noqa: E402
from model_fox import FoxLM  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("out")
p.add_argument("--minutes", type=float, default=40)
p.add_argument("--threads", type=int, default=1)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--batch", type=int, default=16)
p.add_argument("--seq", type=int, default=256)
p.add_argument("--lr", type=float, default=3e-3)
p.add_argument("--hidden", type=int, default=192)
p.add_argument("--layers", type=int, default=4)
p.add_argument("--heads", type=int, default=6)
p.add_argument("--ffn", type=int, default=512)
p.add_argument("--no-pro", action="store_true", help="plain FoX: no QK-norm, output gate or token shift")
p.add_argument("--eval-every", type=int, default=200)
p.add_argument("--max-chars", type=int, default=0, help="use only the first N characters of each source (smoke runs); 0 = all")
args = p.parse_args()

torch.set_num_threads(args.threads)
torch.manual_seed(args.seed)
rng = np.random.default_rng(args.seed)
tok = lm_training.load_tokenizer()
train, test = lm_training.tokenise_sources(tok, args.max_chars)

pro = not args.no_pro
cfg = {
    "architectures": ["ForgettingTransformerForCausalLM"],
    "model_type": "forgetting_transformer",
    "vocab_size": 1024,
    "hidden_size": args.hidden,
    "intermediate_size": args.ffn,
    "num_hidden_layers": args.layers,
    "num_attention_heads": args.heads,
    "max_position_embeddings": args.seq,
    "rms_norm_eps": 1e-5,
    "norm_eps": 1e-6,
    "use_rope": False,
    "qk_norm": pro,
    "use_output_gate": pro,
    "use_k_shift": pro,
    "use_v_shift": pro,
    "hidden_act": "silu",
    "tie_word_embeddings": False,
}
model = FoxLM(cfg)
print(f"{sum(p.numel() for p in model.parameters())} parameters", flush=True)
opt = lm_training.adamw(model, args.lr)
steps, log, start = lm_training.train(model, opt, train, test, rng, batch_size=args.batch, seq=args.seq, vocab=cfg["vocab_size"], lr=args.lr, minutes=args.minutes, eval_every=args.eval_every)


@torch.no_grad()
def gate_stats(windows=8):
    """Mean forget gate f and mean log f per layer and head on held-out windows of every source."""
    model.eval()
    xs = []
    for s in corpus.SOURCES:
        data = test[s]
        n = min(windows, (len(data) - 1) // args.seq)
        xs += [data[k * args.seq : k * args.seq + args.seq] for k in range(n)]
    x = model.model.embed_tokens(torch.from_numpy(np.stack(xs)))
    out = []
    for layer in model.model.layers:
        log_f = layer.self_attn.gates(layer.input_layernorm(x))
        out.append({"mean_f": [round(v, 4) for v in log_f.exp().mean((0, 2)).tolist()], "mean_log_f": [round(v, 4) for v in log_f.mean((0, 2)).tolist()]})
        x = layer(x)
    return out


final = lm_training.evaluate(model, test, args.seq, cfg["vocab_size"], windows=32)
info = {"args": vars(args), "parameters": sum(p.numel() for p in model.parameters()), "steps": steps, "tokens_seen": steps * args.batch * args.seq, "minutes": round((time.time() - start) / 60, 1), "threads": args.threads, "torch": torch.__version__, "final_test_ppl_32_windows": final, "forget_gates": gate_stats(), "log": log}
lm_training.export(args.out, model, cfg, info)
print("final", json.dumps(final), flush=True)
print("forget gates", json.dumps(info["forget_gates"]), flush=True)
