"""Training pieces shared by the reference LM scripts (train_lm.py, train_fox.py): the
tokenised four-source corpus, batches that draw every source equally often, held-out
perplexity per source, AdamW with weight decay on matrices only, the wall-clock cosine
schedule and the safetensors export.
"""
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

import bpe
import corpus
from safetensors_io import save_safetensors

HERE = os.path.dirname(os.path.abspath(__file__))


def load_tokenizer():
    return bpe.Tokenizer.load(os.path.join(HERE, "..", "weights", "lm", "tokenizer.json"))


def tokenise_sources(tok, max_chars=0):
    """Train and test token arrays per source (the fixed 95/5 split of corpus.py)."""
    t0 = time.time()
    train, test = {}, {}
    for s in corpus.SOURCES:
        text = corpus.load(s)
        if max_chars:
            text = text[:max_chars]
        tr, te = corpus.split(text)
        train[s] = np.array(tok.encode(tr), dtype=np.int64)
        test[s] = np.array(tok.encode(te), dtype=np.int64)
        print(f"{s}: {len(train[s])} train tokens, {len(test[s])} test tokens", flush=True)
    print(f"tokenised in {time.time() - t0:.0f}s", flush=True)
    return train, test


def batch(rng, split, n, seq, sources=corpus.SOURCES):
    """n random windows of seq + 1 tokens, source i % 4 for row i."""
    xs = []
    for i in range(n):
        data = split[sources[i % len(sources)]]
        j = int(rng.integers(0, len(data) - seq - 1))
        xs.append(data[j : j + seq + 1])
    return torch.from_numpy(np.stack(xs))


@torch.no_grad()
def evaluate(model, test, seq, vocab, windows=16):
    """Held-out perplexity per source over the first `windows` disjoint windows of seq tokens."""
    model.eval()
    out = {}
    for s in corpus.SOURCES:
        data = test[s]
        n = min(windows, (len(data) - 1) // seq)
        xs = torch.from_numpy(np.stack([data[k * seq : k * seq + seq + 1] for k in range(n)]))
        logits = model(xs[:, :-1])
        out[s] = math.exp(F.cross_entropy(logits.reshape(-1, vocab), xs[:, 1:].reshape(-1)).item())
    model.train()
    return out


def adamw(model, lr):
    """AdamW, β = (0.9, 0.95), weight decay 0.1 on matrices and none on vectors."""
    decay = [p for n, p in model.named_parameters() if p.dim() == 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.95))


def cosine_lr(peak, step, elapsed, budget, warmup=200):
    """Linear warm-up, then cosine decay to 10% of the peak over the wall-clock budget."""
    prog = elapsed / budget
    return peak * min(1.0, (step + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * prog)))


def export(out, model, cfg, info):
    """Writes OUT/{model.safetensors, config.json, training.json}."""
    os.makedirs(out, exist_ok=True)
    state = {k: v.detach().contiguous().float() for k, v in model.state_dict().items()}
    save_safetensors(os.path.join(out, "model.safetensors"), state, {"format": "pt"})
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    with open(os.path.join(out, "training.json"), "w") as f:
        json.dump(info, f, indent=2)


def train(model, opt, train_split, test_split, rng, *, batch_size, seq, vocab, lr, minutes, eval_every=200, warmup=200):
    """Trains until the wall-clock budget is spent; returns (steps, log of held-out perplexity,
    start time) — callers report minutes from the start time after their final evaluation."""
    budget = minutes * 60
    start = time.time()
    step = 0
    log = []
    while True:
        elapsed = time.time() - start
        if elapsed > budget:
            break
        cur = cosine_lr(lr, step, elapsed, budget, warmup)
        for g in opt.param_groups:
            g["lr"] = cur
        xb = batch(rng, train_split, batch_size, seq)
        logits = model(xb[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, vocab), xb[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        if step % eval_every == 0:
            ppl = evaluate(model, test_split, seq, vocab)
            rec = {"step": step, "minutes": round((time.time() - start) / 60, 1), "loss": round(loss.item(), 4), "lr": cur, "test_ppl": {k: round(v, 2) for k, v in ppl.items()}}
            log.append(rec)
            print(json.dumps(rec), flush=True)
    return step, log, start
