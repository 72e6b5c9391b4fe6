"""Trains the reference LM of @prune/zoo on the four-source corpus and exports safetensors.

Usage: /usr/bin/python3 train_lm.py OUT_DIR [--minutes M] [--threads T]
Batches draw every source equally often. Writes OUT_DIR/{config.json, model.safetensors,
training.json}; the log prints held-out perplexity per source as training goes.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
import bpe  # noqa: E402
import corpus  # noqa: E402
from model import LM  # noqa: E402
from safetensors_io import save_safetensors  # noqa: E402

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
here = os.path.dirname(os.path.abspath(__file__))
tok = bpe.Tokenizer.load(os.path.join(here, "..", "weights", "lm", "tokenizer.json"))

t0 = time.time()
train, test = {}, {}
for s in corpus.SOURCES:
    tr, te = corpus.split(corpus.load(s))
    train[s] = np.array(tok.encode(tr), dtype=np.int64)
    test[s] = np.array(tok.encode(te), dtype=np.int64)
    print(f"{s}: {len(train[s])} train tokens, {len(test[s])} test tokens", flush=True)
print(f"tokenised in {time.time() - t0:.0f}s", flush=True)

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
decay = [p for n, p in model.named_parameters() if p.dim() == 2]
no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.95))


def batch(split, n, sources=corpus.SOURCES):
    xs = []
    for i in range(n):
        data = split[sources[i % len(sources)]]
        j = int(rng.integers(0, len(data) - args.seq - 1))
        xs.append(data[j : j + args.seq + 1])
    return torch.from_numpy(np.stack(xs))


@torch.no_grad()
def evaluate(windows=16):
    model.eval()
    out = {}
    for s in corpus.SOURCES:
        data = test[s]
        n = min(windows, (len(data) - 1) // args.seq)
        xs = torch.from_numpy(np.stack([data[k * args.seq : k * args.seq + args.seq + 1] for k in range(n)]))
        logits = model(xs[:, :-1])
        out[s] = math.exp(F.cross_entropy(logits.reshape(-1, cfg["vocab_size"]), xs[:, 1:].reshape(-1)).item())
    model.train()
    return out


budget = args.minutes * 60
warmup = 200
start = time.time()
step = 0
est_steps = None
log = []
while True:
    elapsed = time.time() - start
    if elapsed > budget:
        break
    # Cosine schedule over the time budget (progress measured in wall time).
    prog = elapsed / budget
    lr = args.lr * min(1.0, (step + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * prog)))
    for g in opt.param_groups:
        g["lr"] = lr
    xb = batch(train, args.batch)
    logits = model(xb[:, :-1])
    loss = F.cross_entropy(logits.reshape(-1, cfg["vocab_size"]), xb[:, 1:].reshape(-1))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    step += 1
    if step % 200 == 0:
        ppl = evaluate()
        rec = {"step": step, "minutes": round((time.time() - start) / 60, 1), "loss": round(loss.item(), 4), "lr": lr, "test_ppl": {k: round(v, 2) for k, v in ppl.items()}}
        log.append(rec)
        print(json.dumps(rec), flush=True)

os.makedirs(args.out, exist_ok=True)
final = evaluate(windows=64)
state = {k: v.detach().contiguous().float() for k, v in model.state_dict().items()}
save_safetensors(os.path.join(args.out, "model.safetensors"), state, {"format": "pt"})
with open(os.path.join(args.out, "config.json"), "w") as f:
    json.dump(cfg, f, indent=2)
with open(os.path.join(args.out, "training.json"), "w") as f:
    json.dump({"args": vars(args), "steps": step, "tokens_seen": step * args.batch * args.seq, "minutes": round((time.time() - start) / 60, 1), "threads": args.threads, "torch": torch.__version__, "final_test_ppl_64_windows": final, "log": log}, f, indent=2)
print("final", json.dumps(final), flush=True)
