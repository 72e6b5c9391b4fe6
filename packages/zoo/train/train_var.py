"""Trains the small next-scale-prediction (VAR-style) model of @prune/zoo on Fashion-MNIST.

Usage: /usr/bin/python3 train_var.py OUT_DIR [--minutes M] [--threads T] [--seed S]

The image (28×28, area-downsampled to 7×7) is written as residual token maps at scales
1, 2, 3, 4, 5, 7: at each scale the residual is area-resized to the scale, each value is
replaced by the nearest of that scale's 16 codebook values (1-D k-means on the training
set), and the dequantised map, area-resized back to 7×7, is subtracted from the residual.
The decoded image is the sum of those maps.

The transformer predicts scale k's token indices from the sum of scales < k area-resized to
scale k (one value per token, embedded linearly; a start token at scale 1), plus a learned
position embedding per token of the 104-token sequence and a class embedding added to every
token. Pre-norm blocks (LayerNorm → multi-head attention, LayerNorm → GELU MLP), attention
block-causal over scales (a token sees its own and earlier scales), a final LayerNorm and a
linear head to 16 logits. Training: AdamW, warm-up then cosine decay on wall time.
Writes OUT_DIR/{config.json, model.safetensors, training.json, parity.json}.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from safetensors_io import save_safetensors  # noqa: E402
from train_vit import load  # noqa: E402

SCALES = [1, 2, 3, 4, 5, 7]
SIDE = 7
LEVELS = 16


def area(x, s):
    """Area (adaptive average) resize of [n, h, w] maps to s×s."""
    return F.adaptive_avg_pool2d(x.unsqueeze(1), s).squeeze(1)


def fit_codebooks(x7, iters=25):
    """Per-scale 1-D k-means codebooks of the residual, fitted scale after scale."""
    books = []
    r = x7.clone()
    for s in SCALES:
        z = area(r, s).reshape(-1).double()
        cb = torch.quantile(z[:: max(1, z.numel() // 200000)], torch.linspace(0.5 / LEVELS, 1 - 0.5 / LEVELS, LEVELS, dtype=torch.float64))
        for _ in range(iters):
            idx = (z[:, None] - cb[None, :]).abs().argmin(1)
            for j in range(LEVELS):
                m = idx == j
                if m.any():
                    cb[j] = z[m].mean()
            cb, _ = cb.sort()
        cb = cb.float()
        books.append(cb)
        q = cb[(area(r, s).unsqueeze(-1) - cb).abs().argmin(-1)]
        r = r - area(q, SIDE)
    return torch.stack(books)


def tokenize(x7, books):
    """Token indices per scale ([n, s²] each) and the model inputs (sum of earlier scales, resized)."""
    r = x7.clone()
    f = torch.zeros_like(x7)
    idxs, inputs = [], []
    for k, s in enumerate(SCALES):
        inputs.append(area(f, s).reshape(x7.shape[0], -1))
        idx = (area(r, s).unsqueeze(-1) - books[k]).abs().argmin(-1)
        q = area(books[k][idx], SIDE)
        r = r - q
        f = f + q
        idxs.append(idx.reshape(x7.shape[0], -1))
    return torch.cat(idxs, 1), torch.cat(inputs, 1), f


def block_mask():
    level = torch.cat([torch.full((s * s,), k) for k, s in enumerate(SCALES)])
    return level[:, None] >= level[None, :]  # True: may attend


class Block(nn.Module):
    def __init__(self, dim, heads, mlp):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.fc1 = nn.Linear(dim, mlp)
        self.fc2 = nn.Linear(mlp, dim)

    def forward(self, x, mask):
        b, n, d = x.shape
        h = self.heads
        qkv = self.qkv(self.norm1(x)).reshape(b, n, 3, h, d // h).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        logits = (q @ k.transpose(-1, -2)) / math.sqrt(d // h)
        logits = logits.masked_fill(~mask, float("-inf"))
        y = (logits.softmax(-1) @ v).transpose(1, 2).reshape(b, n, d)
        x = x + self.proj(y)
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class Var(nn.Module):
    def __init__(self, dim, layers, heads, mlp, classes):
        super().__init__()
        n = sum(s * s for s in SCALES)
        self.value_embed = nn.Linear(1, dim)
        self.start = nn.Parameter(torch.randn(1, dim) * 0.02)
        self.class_embed = nn.Embedding(classes, dim)
        self.pos_embed = nn.Parameter(torch.randn(n, dim) * 0.02)
        self.blocks = nn.ModuleList([Block(dim, heads, mlp) for _ in range(layers)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, LEVELS)
        self.register_buffer("mask", block_mask(), persistent=False)

    def forward(self, inputs, labels):
        e = self.value_embed(inputs[:, 1:, None])
        x = torch.cat([self.start.expand(inputs.shape[0], 1, -1), e], 1)
        x = x + self.pos_embed + self.class_embed(labels)[:, None, :]
        for blk in self.blocks:
            x = blk(x, self.mask)
        return self.head(self.norm(x))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--minutes", type=float, default=12)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dim", type=int, default=32)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--batch", type=int, default=32)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    os.makedirs(a.out, exist_ok=True)
    t0 = time.time()
    xtr, ytr = load("train")
    xte, yte = load("test")
    x7 = area(xtr, SIDE)
    books = fit_codebooks(x7[:3000])
    tok, inp, rec = tokenize(x7, books)
    print(f"codebooks fitted in {time.time() - t0:.0f}s; reconstruction MSE ({SIDE}×{SIDE}) {((rec - x7) ** 2).mean():.5f}", flush=True)
    tok_te, inp_te, _ = tokenize(area(xte[:2000], SIDE), books)
    model = Var(a.dim, a.layers, 4, 2 * a.dim, 10)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.05)
    budget = a.minutes * 60
    start = time.time()
    step = 0
    log = []
    g = torch.Generator().manual_seed(a.seed)
    while True:
        frac = (time.time() - start) / budget
        if frac >= 1:
            break
        lr = 2e-3 * min(1.0, step / 100) * 0.5 * (1 + math.cos(math.pi * frac))
        for pg in opt.param_groups:
            pg["lr"] = lr
        i = torch.randint(0, xtr.shape[0], (a.batch,), generator=g)
        logits = model(inp[i], ytr[i])
        loss = F.cross_entropy(logits.reshape(-1, LEVELS), tok[i].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % 100 == 0:
            with torch.no_grad():
                te = F.cross_entropy(model(inp_te[:500], yte[:500]).reshape(-1, LEVELS), tok_te[:500].reshape(-1)).item()
            log.append({"step": step, "seconds": round(time.time() - start), "train_loss": round(loss.item(), 4), "test_loss_first500": round(te, 4)})
            print(log[-1], flush=True)
    model.eval()
    with torch.no_grad():
        te = sum(F.cross_entropy(model(inp_te[j : j + 250], yte[j : j + 250]).reshape(-1, LEVELS), tok_te[j : j + 250].reshape(-1)).item() for j in range(0, 2000, 250)) / 8
    cfg = {
        "model_type": "var",
        "scales": SCALES,
        "side": SIDE,
        "image_size": 28,
        "levels": LEVELS,
        "hidden_size": a.dim,
        "num_layers": a.layers,
        "num_heads": 4,
        "mlp_size": 2 * a.dim,
        "num_classes": 10,
        "layer_norm_eps": 1e-6,
        "codebooks": [[float(v) for v in b] for b in books],
    }
    sd = {k: v for k, v in model.state_dict().items()}
    save_safetensors(os.path.join(a.out, "model.safetensors"), sd)
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    params = sum(p.numel() for p in model.parameters())
    with open(os.path.join(a.out, "training.json"), "w") as f:
        json.dump({"parameters": params, "steps": step, "batch": a.batch, "minutes_budget": a.minutes, "threads": a.threads, "seed": a.seed,
                   "seconds": round(time.time() - start), "test_token_nll_first2000": round(te, 4), "log": log}, f, indent=2)
    # Parity fixture: two test images, their tokens and the teacher-forced logits.
    with torch.no_grad():
        xs = xte[:2]
        t2, i2, r2 = tokenize(area(xs, SIDE), books)
        lg = model(i2, yte[:2])
    fixture = {
        "images": [[round(float(v), 6) for v in im.reshape(-1)] for im in xs],
        "labels": [int(v) for v in yte[:2]],
        "tokens": t2.tolist(),
        "inputs": [[round(float(v), 6) for v in row] for row in i2],
        "decoded": [[round(float(v), 6) for v in im.reshape(-1)] for im in r2],
        "logits": [[round(float(v), 5) for v in row.reshape(-1)] for row in lg],
    }
    with open(os.path.join(a.out, "parity.json"), "w") as f:
        json.dump(fixture, f)
    print(f"done: {step} steps, params {params}, test token NLL {te:.4f}", flush=True)


if __name__ == "__main__":
    main()
