"""Forgetting Transformer (FoX) decoder LM: the LLaMA-style blocks of model.py (RMSNorm,
SwiGLU MLP, untied head) with rotary attention replaced by forgetting attention.

Per head and token a forget gate log f_t = logsigmoid(w_f·x_t + b_f) (float32), cumulative
Λ_t = Σ_{l≤t} log f_l, decay bias D_ij = Λ_i − Λ_j on and below the diagonal, and
O = softmax(QKᵀ/√d + D)V; no RoPE. Optional "Pro" parts (config flags): QK-norm (per-head
RMSNorm of q and k with gains of size hidden), an output gate o ⊙ σ(W_g x), and key / value
token shift y_t = α_t·y_{t−1} + (1 − α_t)·y_t with α = σ(W_α x) per head (shift before
QK-norm, as in the official implementation). Tensor names: model.layers.N.self_attn.
{q,k,v,o}_proj.weight, fgate_proj.{weight,bias}, ogate_proj.weight, q_norm.weight,
k_norm.weight, k_shift_proj.weight, v_shift_proj.weight. packages/zoo/src/fox implements
the same forward pass with @prune/attention; a parity test checks both agree.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from model import MLP, RMSNorm

FOX_DEFAULTS = {"qk_norm": True, "use_output_gate": True, "use_k_shift": True, "use_v_shift": True, "norm_eps": 1e-6}


class HeadRMSNorm(nn.Module):
    """RMSNorm over each head's d features, one gain per feature of every head."""

    def __init__(self, heads, head_dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(heads * head_dim))
        self.h, self.hd, self.eps = heads, head_dim, eps

    def forward(self, x):  # x: (b, t, h, d)
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight.view(self.h, self.hd)


def token_shift(y, alpha):
    """y (b, t, h, d), alpha (b, t, h): α_t·y_{t−1} + (1 − α_t)·y_t with y_{−1} = 0."""
    prev = F.pad(y, (0, 0, 0, 0, 1, -1))
    a = alpha.unsqueeze(-1)
    return a * prev + (1 - a) * y


def forgetting_attention(q, k, v, log_f):
    """q, k, v (b, h, t, d); log_f (b, h, t) float32. Full (dense) forgetting attention."""
    t, d = q.shape[-2], q.shape[-1]
    lam = torch.cumsum(log_f.float(), dim=-1)
    bias = lam.unsqueeze(-1) - lam.unsqueeze(-2)
    mask = torch.triu(torch.ones(t, t, dtype=torch.bool), 1)
    att = (q @ k.transpose(-1, -2)) / math.sqrt(d) + bias
    att = att.masked_fill(mask, float("-inf")).softmax(-1)
    return att @ v


class ForgettingAttention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d = cfg["hidden_size"]
        self.h = cfg["num_attention_heads"]
        self.hd = d // self.h
        self.q_proj = nn.Linear(d, d, bias=False)
        self.k_proj = nn.Linear(d, d, bias=False)
        self.v_proj = nn.Linear(d, d, bias=False)
        self.o_proj = nn.Linear(d, d, bias=False)
        self.fgate_proj = nn.Linear(d, self.h, bias=True)
        self.ogate_proj = nn.Linear(d, d, bias=False) if cfg["use_output_gate"] else None
        self.k_shift_proj = nn.Linear(d, self.h, bias=False) if cfg["use_k_shift"] else None
        self.v_shift_proj = nn.Linear(d, self.h, bias=False) if cfg["use_v_shift"] else None
        if cfg["qk_norm"]:
            self.q_norm = HeadRMSNorm(self.h, self.hd, cfg["norm_eps"])
            self.k_norm = HeadRMSNorm(self.h, self.hd, cfg["norm_eps"])
        else:
            self.q_norm = self.k_norm = None

    def gates(self, x):
        """log f (b, h, t) in float32."""
        return F.logsigmoid(self.fgate_proj(x).float()).transpose(1, 2)

    def qkv(self, x):
        b, t, d = x.shape
        q = self.q_proj(x).view(b, t, self.h, self.hd)
        k = self.k_proj(x).view(b, t, self.h, self.hd)
        v = self.v_proj(x).view(b, t, self.h, self.hd)
        if self.k_shift_proj is not None:
            k = token_shift(k, torch.sigmoid(self.k_shift_proj(x)))
        if self.v_shift_proj is not None:
            v = token_shift(v, torch.sigmoid(self.v_shift_proj(x)))
        if self.q_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)
        return q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(x)
        y = forgetting_attention(q, k, v, self.gates(x)).transpose(1, 2).reshape(b, t, d)
        if self.ogate_proj is not None:
            y = y * torch.sigmoid(self.ogate_proj(x))
        return self.o_proj(y)


class FoxBlock(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.input_layernorm = RMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])
        self.self_attn = ForgettingAttention(cfg)
        self.post_attention_layernorm = RMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])
        self.mlp = MLP(cfg)

    def forward(self, x):
        x = x + self.self_attn(self.input_layernorm(x))
        return x + self.mlp(self.post_attention_layernorm(x))


class FoxInner(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg["vocab_size"], cfg["hidden_size"])
        self.layers = nn.ModuleList([FoxBlock(cfg) for _ in range(cfg["num_hidden_layers"])])
        self.norm = RMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])


class FoxLM(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = {**FOX_DEFAULTS, **cfg}
        self.model = FoxInner(self.cfg)
        self.lm_head = nn.Linear(cfg["hidden_size"], cfg["vocab_size"], bias=False)
        self.apply(self._init)

    @staticmethod
    def _init(m):
        # Same init as model.LM; forget-gate bias starts at 0 (the official default).
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)

    def forward(self, ids):
        x = self.model.embed_tokens(ids)
        for layer in self.model.layers:
            x = layer(x)
        return self.lm_head(self.model.norm(x))
