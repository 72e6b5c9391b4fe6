"""Trains the reference mixture-of-experts LM of @prune/zoo on the four-source corpus (the
sources act as domains) and exports safetensors with Mixtral tensor names.

Usage: /usr/bin/python3 train_moe.py OUT_DIR [--minutes M] [--threads T] [--experts E] [--top-k K]
       [--scoring softmax|sigmoid] [--shared S] [--router-bias] [--aux-weight A]
Same data pipeline as train_lm.py (batches draw every source equally often; held-out split).
The loss is cross-entropy + aux_weight · the Switch load-balancing loss. With --router-bias
the selection bias is adjusted after each step by bias_speed · sign(mean load − load)
(DeepSeek-V3's auxiliary-loss-free balancing). Writes OUT_DIR/{config.json,
model.safetensors, training.json}; training.json holds per-source held-out perplexity and
each layer's expert usage per source (the fraction of a source's tokens routed to each expert).
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
from model_moe import MoeLM  # noqa: E402
from safetensors_io import save_safetensors  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("out")
p.add_argument("--minutes", type=float, default=60)
p.add_argument("--threads", type=int, default=1)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--batch", type=int, default=16)
p.add_argument("--seq", type=int, default=128)
p.add_argument("--lr", type=float, default=3e-3)
p.add_argument("--hidden", type=int, default=128)
p.add_argument("--layers", type=int, default=4)
p.add_argument("--heads", type=int, default=4)
p.add_argument("--ffn", type=int, default=192, help="width of each expert")
p.add_argument("--experts", type=int, default=8)
p.add_argument("--top-k", type=int, default=2)
p.add_argument("--scoring", choices=["softmax", "sigmoid"], default="softmax")
p.add_argument("--shared", type=int, default=0)
p.add_argument("--router-bias", action="store_true")
p.add_argument("--bias-speed", type=float, default=1e-3)
p.add_argument("--aux-weight", type=float, default=0.01)
p.add_argument("--eval-every", type=int, default=200)
p.add_argument("--max-chars", type=int, default=0, help="use only the first N characters of each source (smoke runs); 0 = all")
args = p.parse_args()

torch.set_num_threads(args.threads)
torch.manual_seed(args.seed)
rng = np.random.default_rng(args.seed)
here = os.path.dirname(os.path.abspath(__file__))
tok = bpe.Tokenizer.load(os.path.join(here, "..", "weights", "lm", "tokenizer.json"))

t0 = time.time()
train, test = {}, {}
for s in corpus.SOURCES:
    text = corpus.load(s)
    tr, te = corpus.split(text[: args.max_chars] if args.max_chars > 0 else text)
    train[s] = np.array(tok.encode(tr), dtype=np.int64)
    test[s] = np.array(tok.encode(te), dtype=np.int64)
    print(f"{s}: {len(train[s])} train tokens, {len(test[s])} test tokens", flush=True)
print(f"tokenised in {time.time() - t0:.0f}s", flush=True)

cfg = {
    "architectures": ["MixtralForCausalLM"],
    "model_type": "mixtral",
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
    "num_local_experts": args.experts,
    "num_experts_per_tok": args.top_k,
    "scoring_func": args.scoring,
    "norm_topk_prob": True,
    "routed_scaling_factor": 1.0,
    "n_shared_experts": args.shared,
    "router_bias": args.router_bias,
}
model = MoeLM(cfg)
cfg = model.cfg
decay = [p for n, p in model.named_parameters() if p.dim() == 2]
no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.95))
moes = [layer.block_sparse_moe for layer in model.model.layers]


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
    ppl, usage = {}, {}
    for s in corpus.SOURCES:
        data = test[s]
        n = min(windows, (len(data) - 1) // args.seq)
        xs = torch.from_numpy(np.stack([data[k * args.seq : k * args.seq + args.seq + 1] for k in range(n)]))
        logits = model(xs[:, :-1])
        ppl[s] = math.exp(F.cross_entropy(logits.reshape(-1, cfg["vocab_size"]), xs[:, 1:].reshape(-1)).item())
        usage[s] = [[round(v, 4) for v in m.last_load.tolist()] for m in moes]
    model.train()
    return ppl, usage


budget = args.minutes * 60
warmup = 200
start = time.time()
step = 0
log = []
while True:
    elapsed = time.time() - start
    if elapsed > budget:
        break
    prog = elapsed / budget
    lr = args.lr * min(1.0, (step + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * prog)))
    for g in opt.param_groups:
        g["lr"] = lr
    xb = batch(train, args.batch)
    logits, aux = model(xb[:, :-1], return_aux=True)
    ce = F.cross_entropy(logits.reshape(-1, cfg["vocab_size"]), xb[:, 1:].reshape(-1))
    loss = ce + args.aux_weight * aux
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    if args.router_bias:
        with torch.no_grad():
            for m in moes:
                m.gate.e_score_correction_bias += args.bias_speed * torch.sign(m.last_load.mean() - m.last_load)
    step += 1
    if step % args.eval_every == 0:
        ppl, _ = evaluate()
        rec = {"step": step, "minutes": round((time.time() - start) / 60, 1), "ce": round(ce.item(), 4), "aux": round(float(aux), 4), "lr": lr, "test_ppl": {k: round(v, 2) for k, v in ppl.items()}}
        log.append(rec)
        print(json.dumps(rec), flush=True)

os.makedirs(args.out, exist_ok=True)
final, usage = evaluate(windows=64)
state = {k: v.detach().contiguous().float() for k, v in model.state_dict().items()}
save_safetensors(os.path.join(args.out, "model.safetensors"), state, {"format": "pt"})
with open(os.path.join(args.out, "config.json"), "w") as f:
    json.dump(cfg, f, indent=2)
with open(os.path.join(args.out, "training.json"), "w") as f:
    json.dump({"args": vars(args), "steps": step, "tokens_seen": step * args.batch * args.seq, "minutes": round((time.time() - start) / 60, 1), "threads": args.threads, "torch": torch.__version__, "final_test_ppl_64_windows": final, "expert_usage_per_source": usage, "log": log}, f, indent=2)
print("final", json.dumps(final), flush=True)
print("expert usage per source (layer 0):", json.dumps({s: u[0] for s, u in usage.items()}), flush=True)
