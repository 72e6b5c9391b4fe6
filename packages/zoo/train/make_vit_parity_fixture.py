"""Writes parity fixtures for the TypeScript ViT (packages/zoo/test/fixtures/):

- tiny-vit/: a small randomly initialised ViT (8×8 images, 2×2 patches, 3 blocks) with its
  PyTorch logits, every attention map and head-averaged keys for two images, the logits
  when tokens are dropped at block 1, and the logits, sizes and token counts with ToMe
  (bipartite soft matching on keys, size-weighted merging, proportional attention, protected
  CLS — the algorithm of facebookresearch/ToMe tome/merge.py and patch/timm.py).
- vit-trained.json: logits of the shipped weights (weights/vit) on the first 4 test images
  and their predicted classes on the first 200.

Usage: /usr/bin/python3 make_vit_parity_fixture.py
"""
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from safetensors_io import load_safetensors, save_safetensors  # noqa: E402
from train_vit import ViT, load  # noqa: E402

here = os.path.dirname(os.path.abspath(__file__))
fixtures = os.path.join(here, "..", "test", "fixtures")


def bipartite_soft_matching(metric, r, class_token=True):
    """Returns (unmerged A indices, source A indices, destination B indices) for one image."""
    t = metric.shape[0]
    r = min(r, (t - (1 if class_token else 0)) // 2)
    metric = metric / metric.norm(dim=-1, keepdim=True)
    a, b = metric[::2], metric[1::2]
    scores = a @ b.T
    if class_token:
        scores[0, :] = -math.inf
    node_max, node_idx = scores.max(dim=-1)
    edge_idx = node_max.argsort(descending=True)
    unm_idx, src_idx = edge_idx[r:], edge_idx[:r]
    dst_idx = node_idx[src_idx]
    if class_token:
        unm_idx = unm_idx.sort()[0]
    return unm_idx, src_idx, dst_idx


def merge_wavg(x, size, unm_idx, src_idx, dst_idx):
    xs = x * size[:, None]
    src, dst = xs[::2], xs[1::2]
    ssrc, sdst = size[::2], size[1::2]
    unm = src[unm_idx]
    dst = dst.index_add(0, dst_idx, src[src_idx])
    sdst = sdst.index_add(0, dst_idx, ssrc[src_idx])
    out_size = torch.cat([ssrc[unm_idx], sdst])
    return torch.cat([unm, dst]) / out_size[:, None], out_size


def forward_tome(model, img, schedule):
    """ToMe on one image: merge after each block's attention, proportional attention."""
    cfg = model.cfg
    x = model.patch_embed(model.patchify(img[None]))[0]
    x = torch.cat([model.cls_token[0], x]) + model.pos_embed[0]
    size = torch.ones(x.shape[0])
    counts = []
    for blk, r in zip(model.blocks, schedule):
        n, d = x.shape
        h = blk.heads
        qkv = blk.qkv(blk.norm1(x)).reshape(n, 3, h, d // h).permute(1, 2, 0, 3)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q @ k.transpose(-2, -1)) * (d // h) ** -0.5 + size.log()[None, None, :]
        attn = attn.softmax(dim=-1)
        x = x + blk.proj((attn @ v).transpose(0, 1).reshape(n, d))
        before = x.shape[0]
        if r > 0:
            unm, src, dst = bipartite_soft_matching(k.mean(0), r)
            x, size = merge_wavg(x, size, unm, src, dst)
        counts.append([before, x.shape[0]])
        x = x + blk.fc2(F.gelu(blk.fc1(blk.norm2(x))))
    return model.head(model.norm(x)[0:1])[0], size, counts


def forward_keep(model, img, layer, keep):
    x = model.patch_embed(model.patchify(img[None]))
    x = torch.cat([model.cls_token, x], dim=1) + model.pos_embed
    for i, blk in enumerate(model.blocks):
        b, n, d = x.shape
        h = blk.heads
        qkv = blk.qkv(blk.norm1(x)).reshape(b, n, 3, h, d // h).permute(2, 0, 3, 1, 4)
        attn = ((qkv[0] @ qkv[1].transpose(-2, -1)) * (d // h) ** -0.5).softmax(dim=-1)
        x = x + blk.proj((attn @ qkv[2]).transpose(1, 2).reshape(b, n, d))
        if i == layer:
            x = x[:, keep]
        x = x + blk.fc2(F.gelu(blk.fc1(blk.norm2(x))))
    return model.head(model.norm(x)[:, 0])[0]


def tiny():
    torch.manual_seed(0)
    cfg = {"model_type": "vit", "image_size": 8, "patch_size": 2, "hidden_size": 16, "num_layers": 3,
           "num_heads": 2, "mlp_size": 24, "num_classes": 5, "layer_norm_eps": 1e-6,
           "pixel_mean": 0.25, "pixel_std": 0.5, "hidden_act": "gelu"}
    m = ViT(cfg)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn_like(p) * 0.4)  # larger than the init so every path matters
    imgs = torch.rand(2, 8, 8)
    out = os.path.join(fixtures, "tiny-vit")
    os.makedirs(out, exist_ok=True)
    save_safetensors(os.path.join(out, "model.safetensors"), {k: v.detach() for k, v in m.state_dict().items()})
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    with torch.no_grad():
        logits, attns = m(imgs, want_attn=True)
        # keys of block 0 for image 0 (the first block sees the embedded tokens directly)
        x = m.patch_embed(m.patchify(imgs[:1]))
        x = torch.cat([m.cls_token, x], dim=1) + m.pos_embed
        blk = m.blocks[0]
        n, d, h = x.shape[1], 16, 2
        k0 = blk.qkv(blk.norm1(x)).reshape(1, n, 3, h, d // h)[0, :, 1].mean(1)
        keep = [0, 2, 3, 5, 8, 11, 13, 16]
        keep_logits = forward_keep(m, imgs[0], 1, keep)
        schedule = [4, 3, 2]
        tome_logits, tome_size, tome_counts = forward_tome(m, imgs[0], schedule)
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump({
            "images": imgs.flatten().tolist(),
            "logits": logits.flatten().tolist(),
            "attention": [a[0].flatten().tolist() for a in attns],
            "keys0": k0.flatten().tolist(),
            "keep": {"layer": 1, "indices": keep, "logits": keep_logits.tolist()},
            "tome": {"schedule": schedule, "logits": tome_logits.tolist(), "sizes": tome_size.tolist(), "counts": tome_counts},
        }, f)
    print("tiny-vit ok", logits.shape)


def trained():
    folder = os.path.join(here, "..", "weights", "vit")
    cfg = json.load(open(os.path.join(folder, "config.json")))
    m = ViT(cfg)
    m.load_state_dict(load_safetensors(os.path.join(folder, "model.safetensors")))
    m.eval()
    x, y = load("test")
    with torch.no_grad():
        logits = m(x[:4])
        preds = m(x[:200]).argmax(-1)
    with open(os.path.join(fixtures, "vit-trained.json"), "w") as f:
        json.dump({"images": "first Fashion-MNIST test images", "labels": y[:4].tolist(),
                   "logits": logits.flatten().tolist(), "predictions200": preds.tolist(),
                   "correct200": int((preds == y[:200]).sum())}, f)
    print("trained ok", logits.argmax(-1).tolist(), y[:4].tolist())


if __name__ == "__main__":
    tiny()
    if len(sys.argv) < 2 or sys.argv[1] != "--tiny-only":
        trained()
