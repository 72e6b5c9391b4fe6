"""Trains the small ViT of @prune/zoo on Fashion-MNIST and exports safetensors.

Usage: /usr/bin/python3 train_vit.py OUT_DIR [--minutes M] [--threads T] [--seed S]

The model: 4×4 patches of the 28×28 image (49 patch tokens) plus a CLS token, learned
position embeddings, pre-norm blocks (LayerNorm → multi-head self-attention, LayerNorm →
GELU MLP), a final LayerNorm and a linear head on the CLS token. Training: AdamW, linear
warm-up then cosine decay, label smoothing 0.1, optionally random ±2-pixel shifts and
horizontal flips (--augment).
The learning-rate schedule runs on wall time, so a run fits its budget on a busy machine. Writes
OUT_DIR/{config.json, model.safetensors, training.json}; evaluates on all 10k test images.
"""
import argparse
import gzip
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

DATA = "/usr/share/datasets/fashion-mnist"
MEAN, STD = 0.2860, 0.3530


def read_idx(name):
    """Reads one gzip IDX file of the Debian dataset into a numpy array."""
    with gzip.open(os.path.join(DATA, name), "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(split):
    prefix = "train" if split == "train" else "t10k"
    x = read_idx(f"{prefix}-images-idx3-ubyte.gz").astype(np.float32) / 255.0
    y = read_idx(f"{prefix}-labels-idx1-ubyte.gz").astype(np.int64)
    return torch.from_numpy(x), torch.from_numpy(y)


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

    def forward(self, x, want_attn=False):
        b, n, d = x.shape
        h = self.heads
        qkv = self.qkv(self.norm1(x)).reshape(b, n, 3, h, d // h).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q @ k.transpose(-2, -1)) * (d // h) ** -0.5
        attn = attn.softmax(dim=-1)
        y = (attn @ v).transpose(1, 2).reshape(b, n, d)
        x = x + self.proj(y)
        x = x + self.fc2(F.gelu(self.fc1(self.norm2(x))))
        return (x, attn) if want_attn else x


class ViT(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        p, d = cfg["patch_size"], cfg["hidden_size"]
        g = cfg["image_size"] // p
        self.patch_embed = nn.Linear(p * p, d)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(torch.randn(1, g * g + 1, d) * 0.02)
        self.blocks = nn.ModuleList(
            [Block(d, cfg["num_heads"], cfg["mlp_size"]) for _ in range(cfg["num_layers"])]
        )
        self.norm = nn.LayerNorm(d, eps=1e-6)
        self.head = nn.Linear(d, cfg["num_classes"])

    def patchify(self, img):
        """[B, 28, 28] pixels in [0, 1] → [B, 49, 16] normalised patches in raster order."""
        p = self.cfg["patch_size"]
        b, hgt, wid = img.shape
        x = (img - self.cfg["pixel_mean"]) / self.cfg["pixel_std"]
        x = x.reshape(b, hgt // p, p, wid // p, p).permute(0, 1, 3, 2, 4)
        return x.reshape(b, (hgt // p) * (wid // p), p * p)

    def forward(self, img, want_attn=False):
        x = self.patch_embed(self.patchify(img))
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        attns = []
        for blk in self.blocks:
            if want_attn:
                x, a = blk(x, True)
                attns.append(a)
            else:
                x = blk(x)
        logits = self.head(self.norm(x)[:, 0])
        return (logits, attns) if want_attn else logits


def augment(x, gen):
    """Random ±2-pixel shifts (zero padding) and horizontal flips."""
    b = x.shape[0]
    pad = F.pad(x, (2, 2, 2, 2))
    dx = torch.randint(0, 5, (b,), generator=gen)
    dy = torch.randint(0, 5, (b,), generator=gen)
    ar = torch.arange(28)
    rows = (dy[:, None] + ar)[:, :, None]
    cols = (dx[:, None] + ar)[:, None, :]
    out = pad[torch.arange(b)[:, None, None], rows, cols]
    flip = torch.rand(b, generator=gen) < 0.5
    out[flip] = out[flip].flip(-1)
    return out


def evaluate(model, x, y, batch=1000):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            correct += (model(x[i : i + batch]).argmax(-1) == y[i : i + batch]).sum().item()
    model.train()
    return correct / len(x)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--minutes", type=float, default=25)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--weight-decay", type=float, default=0.05)
    ap.add_argument("--hidden", type=int, default=48)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--mlp", type=int, default=96)
    ap.add_argument("--augment", action="store_true", help="random shifts and flips (helps long runs)")
    ap.add_argument("--limit", type=int, default=0, help="train on the first N images (0: all)")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    cfg = {
        "model_type": "vit",
        "image_size": 28,
        "patch_size": 4,
        "hidden_size": args.hidden,
        "num_layers": args.layers,
        "num_heads": args.heads,
        "mlp_size": args.mlp,
        "num_classes": 10,
        "layer_norm_eps": 1e-6,
        "pixel_mean": MEAN,
        "pixel_std": STD,
        "hidden_act": "gelu",
    }
    xtr, ytr = load("train")
    xte, yte = load("test")
    if args.limit:
        xtr, ytr = xtr[: args.limit], ytr[: args.limit]
    model = ViT(cfg)
    nparams = sum(p.numel() for p in model.parameters())
    print(f"{nparams} parameters; {len(xtr)} training images", flush=True)
    decay = [p for n, p in model.named_parameters() if p.dim() == 2 and "pos_embed" not in n]
    rest = [p for n, p in model.named_parameters() if not (p.dim() == 2 and "pos_embed" not in n)]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.weight_decay}, {"params": rest, "weight_decay": 0.0}],
        lr=args.lr,
    )
    # The schedule runs on wall time, not steps: the machine is shared, so the step rate
    # changes during the run; warm-up is the first 3% of the budget, then cosine decay to 0,
    # and training stops when the budget (minus a reserve for the final evaluation) is spent.
    budget = args.minutes * 60 * 0.95
    t0 = time.time()
    step = 0
    log = []
    epoch = 0
    done = False
    while not done:
        perm = torch.randperm(len(xtr), generator=gen)
        for i in range(0, len(xtr) - args.batch + 1, args.batch):
            frac = (time.time() - t0) / budget
            if frac >= 1:
                done = True
                break
            if frac < 0.03:
                lr = args.lr * max(frac / 0.03, 0.01)
            else:
                lr = args.lr * 0.5 * (1 + math.cos(math.pi * (frac - 0.03) / 0.97))
            for g in opt.param_groups:
                g["lr"] = lr
            idx = perm[i : i + args.batch]
            xb = augment(xtr[idx], gen) if args.augment else xtr[idx]
            loss = F.cross_entropy(model(xb), ytr[idx], label_smoothing=0.1)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            if step % 200 == 0:
                print(f"step {step} epoch {epoch} loss {loss.item():.4f} lr {lr:.2e} "
                      f"{time.time() - t0:.0f}s", flush=True)
        epoch += 1
        acc = evaluate(model, xte[:2000], yte[:2000])
        log.append({"epoch": epoch, "step": step, "seconds": round(time.time() - t0), "test_acc_first2000": acc})
        print(f"epoch {epoch}: step {step}, accuracy on the first 2000 test images {acc:.4f}", flush=True)
    acc = evaluate(model, xte, yte)
    seconds = time.time() - t0
    print(f"final test accuracy (10000 images) {acc:.4f} after {seconds:.0f}s", flush=True)
    os.makedirs(args.out, exist_ok=True)
    state = {k: v.detach() for k, v in model.state_dict().items()}
    save_safetensors(os.path.join(args.out, "model.safetensors"), state, {"format": "pt"})
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    with open(os.path.join(args.out, "training.json"), "w") as f:
        json.dump({
            "parameters": nparams, "train_images": len(xtr), "steps": step, "batch": args.batch,
            "epochs": round(step * args.batch / len(xtr), 2), "minutes_budget": args.minutes, "lr": args.lr,
            "weight_decay": args.weight_decay, "seconds": round(seconds), "threads": args.threads,
            "seed": args.seed, "augment": args.augment, "hidden": args.hidden, "test_accuracy": acc, "test_images": len(xte), "log": log,
        }, f, indent=2)


if __name__ == "__main__":
    main()
