"""Mixture-of-experts decoder LM: the LLaMA-style blocks of model.py with the SwiGLU MLP
replaced by a routed mixture of SwiGLU experts.

Mixtral-style by default (softmax router over all experts, top-k, gates renormalised over
the top-k); DeepSeek-style options: sigmoid scores, shared experts that every token passes
through, and a selection bias (`e_score_correction_bias`) that only changes which experts
are chosen, not their gate weights. Tensor names follow Mixtral:
model.layers.N.block_sparse_moe.gate.weight, ...experts.E.{w1,w3,w2}.weight, and
...shared_experts.S.{w1,w3,w2}.weight. packages/zoo/src/lm/moe.ts implements the same
forward pass on @prune/core tensors; a parity test checks both agree on a committed fixture.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from model import Attention, RMSNorm, rope_tables

MOE_DEFAULTS = {
    "num_local_experts": 8,
    "num_experts_per_tok": 2,
    "scoring_func": "softmax",
    "norm_topk_prob": True,
    "routed_scaling_factor": 1.0,
    "n_shared_experts": 0,
    "router_bias": False,
}


class Expert(nn.Module):
    def __init__(self, d, f):
        super().__init__()
        self.w1 = nn.Linear(d, f, bias=False)
        self.w3 = nn.Linear(d, f, bias=False)
        self.w2 = nn.Linear(f, d, bias=False)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class SparseMoe(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, f = cfg["hidden_size"], cfg["intermediate_size"]
        self.e = cfg["num_local_experts"]
        self.k = cfg["num_experts_per_tok"]
        self.scoring = cfg["scoring_func"]
        self.norm_topk = cfg["norm_topk_prob"]
        self.scale = cfg["routed_scaling_factor"]
        self.gate = nn.Linear(d, self.e, bias=False)
        self.experts = nn.ModuleList([Expert(d, f) for _ in range(self.e)])
        self.shared_experts = nn.ModuleList([Expert(d, f) for _ in range(cfg["n_shared_experts"])])
        if cfg["router_bias"]:
            # Selection-only bias, adjusted outside autograd (auxiliary-loss-free balancing).
            self.gate.register_buffer("e_score_correction_bias", torch.zeros(self.e))
        self.last_load = None

    def route(self, x):
        logits = self.gate(x)
        scores = logits.softmax(-1) if self.scoring == "softmax" else logits.sigmoid()
        choice = scores
        if hasattr(self.gate, "e_score_correction_bias"):
            choice = scores + self.gate.e_score_correction_bias
        idx = torch.topk(choice, self.k, dim=-1).indices
        w = scores.gather(-1, idx)
        if self.norm_topk:
            w = w / w.sum(-1, keepdim=True)
        return logits, scores, idx, w * self.scale

    def forward(self, x):
        b, t, d = x.shape
        xs = x.reshape(-1, d)
        logits, scores, idx, w = self.route(xs)
        out = torch.zeros_like(xs)
        for e, expert in enumerate(self.experts):
            tok, slot = torch.where(idx == e)
            if tok.numel() == 0:
                continue
            out.index_add_(0, tok, w[tok, slot, None] * expert(xs[tok]))
        for expert in self.shared_experts:
            out = out + expert(xs)
        # Switch-Transformer load-balancing loss: E · Σ_e f_e · P_e.
        load = F.one_hot(idx, self.e).float().sum(1).mean(0) / self.k
        probs = scores / scores.sum(-1, keepdim=True)
        aux = self.e * (load * probs.mean(0)).sum()
        self.last_load = load.detach()
        return out.reshape(b, t, d), aux


class MoeBlock(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.input_layernorm = RMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])
        self.self_attn = Attention(cfg)
        self.post_attention_layernorm = RMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])
        self.block_sparse_moe = SparseMoe(cfg)

    def forward(self, x, cos, sin):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin)
        y, aux = self.block_sparse_moe(self.post_attention_layernorm(x))
        return x + y, aux


class MoeInner(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg["vocab_size"], cfg["hidden_size"])
        self.layers = nn.ModuleList([MoeBlock(cfg) for _ in range(cfg["num_hidden_layers"])])
        self.norm = RMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])


class MoeLM(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        cfg = {**MOE_DEFAULTS, **cfg}
        self.cfg = cfg
        self.model = MoeInner(cfg)
        self.lm_head = nn.Linear(cfg["hidden_size"], cfg["vocab_size"], bias=False)
        hd = cfg["hidden_size"] // cfg["num_attention_heads"]
        cos, sin = rope_tables(cfg["max_position_embeddings"], hd, cfg["rope_theta"])
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        self.apply(self._init)

    @staticmethod
    def _init(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)

    def forward(self, ids, return_aux=False):
        t = ids.shape[1]
        x = self.model.embed_tokens(ids)
        cos, sin = self.cos[:t], self.sin[:t]
        aux = 0.0
        for layer in self.model.layers:
            x, a = layer(x, cos, sin)
            aux = aux + a
        logits = self.lm_head(self.model.norm(x))
        return (logits, aux / len(self.model.layers)) if return_aux else logits
