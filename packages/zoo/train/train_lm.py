"""Trains the reference LM of @prune/zoo on the four-source corpus and exports safetensors.

Usage: /usr/bin/python3 train_lm.py OUT_DIR [--minutes M] [--threads T]
Batches draw every source equally often. Writes OUT_DIR/{config.json, model.safetensors,
training.json}; the log prints held-out perplexity per source as training goes.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
import lm_training  # noqa: E402
from model import LM  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("out")
p.add_argument("--minutes", type=float, default=60)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--batch", type=int, default=32)
p.add_argument("--seq", type=int, default=128)
p.add_argument("--lr", type=float, default=3e-3)
p.add_argument("--hidden", type=int, default=192)
p.add_argument("--layers", type=int, default=4)
p.add_argument("--heads", type=int, default=6)
p.add_argument("--ffn", type=int, default=512)
args = p.parse_args()

torch.set_num_threads(args.threads)
torch.manual_seed(args.seed)
rng = np.random.default_rng(args.seed)
tok = lm_training.load_tokenizer()
train, test = lm_training.tokenise_sources(tok)

cfg = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "vocab_size": 1024,
    "hidden_size": args.hidden,
    "intermediate_size": args.ffn,
    "num_hidden_layers": args.layers,
    "num_attention_heads": args.heads,
    "max_position_embeddings": args.seq,
    "rms_norm_eps": 1e-5,
    "rope_theta": 10000.0,
    "hidden_act": "silu",
    "tie_word_embeddings": False,
}
model = LM(cfg)
opt = lm_training.adamw(model, args.lr)
step, log, start = lm_training.train(model, opt, train, test, rng, batch_size=args.batch, seq=args.seq, vocab=cfg["vocab_size"], lr=args.lr, minutes=args.minutes)

final = lm_training.evaluate(model, test, args.seq, cfg["vocab_size"], windows=64)
lm_training.export(args.out, model, cfg, {"args": vars(args), "steps": step, "tokens_seen": step * args.batch * args.seq, "minutes": round((time.time() - start) / 60, 1), "threads": args.threads, "torch": torch.__version__, "final_test_ppl_64_windows": final, "log": log})
print("final", json.dumps(final), flush=True)
