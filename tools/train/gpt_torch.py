"""A LlamaGen/PAR class-conditional GPT in PyTorch, for training par-video's built-in models.

State-dict names are those of the official checkpoints (SPEC 6). The
training forward follows SPEC 3-4 exactly through tools/reference/par_sequence.py: the
input at position 0 is the class token, then x_0..x_{n-1}, the n-1 M tokens,
then x_n...; output p predicts x_p; the `3d` rotary angles come from each
token's own cell, with cos = sin = 0 for the class and M tokens.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tools.reference import par_sequence as P


def find_multiple(n: int, k: int) -> int:
    return n if n % k == 0 else n + k - n % k


def default_config(**kw) -> dict:
    cfg = {"dim": 256, "n_layer": 6, "n_head": 4, "n_kv_head": None, "vocab_size": 1000,
           "num_classes": 101, "multiple_of": 256, "ffn_dim_multiplier": None,
           "norm_eps": 1e-5, "rope_base": 10000.0, "cube": [5, 8, 8], "parallel": 1, "rope": "3d",
           "class_dropout_prob": 0.1, "dropout": 0.0}
    cfg.update(kw)
    return cfg


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        xf = x.float()
        y = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return y.type_as(x) * self.weight


class LabelEmbedder(nn.Module):
    """Row num_classes is the null class used for classifier-free guidance."""

    def __init__(self, num_classes: int, dim: int, dropout_prob: float):
        super().__init__()
        self.embedding_table = nn.Embedding(num_classes + 1, dim)
        self.num_classes = num_classes
        self.dropout_prob = dropout_prob

    def forward(self, labels, train: bool):
        if train and self.dropout_prob > 0:
            drop = torch.rand(labels.shape[0], device=labels.device) < self.dropout_prob
            labels = torch.where(drop, torch.full_like(labels, self.num_classes), labels)
        return self.embedding_table(labels)


class SpecialTokenEmbedding(nn.Module):
    def __init__(self, count: int, dim: int):
        super().__init__()
        self.special_embeddings = nn.Embedding(count, dim)


class Attention(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        self.n_head = cfg["n_head"]
        self.n_kv_head = cfg["n_kv_head"] or cfg["n_head"]
        self.head_dim = cfg["dim"] // cfg["n_head"]
        self.dim = cfg["dim"]
        self.wqkv = nn.Linear(self.dim, (self.n_head + 2 * self.n_kv_head) * self.head_dim, bias=False)
        self.wo = nn.Linear(self.dim, self.dim, bias=False)
        self.drop = nn.Dropout(cfg["dropout"])

    def forward(self, x, cos, sin, mask):
        b, L, _ = x.shape
        kv = self.n_kv_head * self.head_dim
        q, k, v = self.wqkv(x).split([self.dim, kv, kv], dim=-1)
        q = apply_rope(q.view(b, L, self.n_head, self.head_dim), cos, sin)
        k = apply_rope(k.view(b, L, self.n_kv_head, self.head_dim), cos, sin)
        v = v.view(b, L, self.n_kv_head, self.head_dim)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))
        if self.n_kv_head != self.n_head:
            rep = self.n_head // self.n_kv_head
            k, v = k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1)
        # mask None: plainly causal (n = 1), where SDPA's causal kernel is 1.5x the masked one on CPU.
        o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=mask is None)
        return self.drop(self.wo(o.transpose(1, 2).reshape(b, L, self.dim)))


class FeedForward(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        hidden = int(2 * 4 * cfg["dim"] / 3)
        if cfg["ffn_dim_multiplier"] is not None:
            hidden = int(cfg["ffn_dim_multiplier"] * hidden)
        hidden = find_multiple(hidden, cfg["multiple_of"])
        self.w1 = nn.Linear(cfg["dim"], hidden, bias=False)
        self.w3 = nn.Linear(cfg["dim"], hidden, bias=False)
        self.w2 = nn.Linear(hidden, cfg["dim"], bias=False)
        self.drop = nn.Dropout(cfg["dropout"])

    def forward(self, x):
        return self.drop(self.w2(F.silu(self.w1(x)) * self.w3(x)))


class Block(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        self.attention = Attention(cfg)
        self.feed_forward = FeedForward(cfg)
        self.attention_norm = RMSNorm(cfg["dim"], cfg["norm_eps"])
        self.ffn_norm = RMSNorm(cfg["dim"], cfg["norm_eps"])

    def forward(self, x, cos, sin, mask):
        h = x + self.attention(self.attention_norm(x), cos, sin, mask)
        return h + self.feed_forward(self.ffn_norm(h))


def apply_rope(x, cos, sin):
    """x (B, L, H, D); interleaved pairs (x[2p], x[2p+1]) rotated by angle tables (L, D/2), in fp32."""
    xs = x.float().reshape(*x.shape[:-1], -1, 2)
    c, s = cos[None, :, None, :], sin[None, :, None, :]
    out = torch.stack([xs[..., 0] * c - xs[..., 1] * s, xs[..., 1] * c + xs[..., 0] * s], -1)
    return out.flatten(3).type_as(x)


class GPT(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        self.cfg = dict(cfg)
        n, dim = cfg["parallel"], cfg["dim"]
        if cfg["rope"] != "3d":
            raise ValueError("only the `3d` rope is trained here")
        self.cls_embedding = LabelEmbedder(cfg["num_classes"], dim, cfg["class_dropout_prob"])
        self.tok_embeddings = nn.Embedding(cfg["vocab_size"], dim)
        if n > 1:
            self.spe_tok_embeddings = SpecialTokenEmbedding(n - 1, dim)
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg["n_layer"]))
        self.norm = RMSNorm(dim, cfg["norm_eps"])
        self.output = nn.Linear(dim, cfg["vocab_size"], bias=False)
        self._tables()
        self.apply(self._init)
        nn.init.zeros_(self.output.weight)

    @staticmethod
    def _init(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, 0.02)

    def _tables(self):
        cube, n = tuple(self.cfg["cube"]), self.cfg["parallel"]
        head_dim = self.cfg["dim"] // self.cfg["n_head"]
        N = math.prod(cube)
        kind, ref = P.input_layout(cube, n)
        cos, sin = P.rope_tables(cube, n, head_dim, self.cfg["rope_base"])
        self.register_buffer("kind", torch.from_numpy(kind), persistent=False)
        self.register_buffer("ref", torch.from_numpy(ref), persistent=False)
        self.register_buffer("rope_cos", torch.from_numpy(cos).float(), persistent=False)
        self.register_buffer("rope_sin", torch.from_numpy(sin).float(), persistent=False)
        mask = P.attention_mask(N, n)
        self.causal = bool(np.array_equal(mask, np.tril(np.ones((N, N), dtype=bool))))
        self.register_buffer("mask", torch.from_numpy(mask), persistent=False)

    def embed(self, tokens, labels, train: bool):
        """tokens (B, N) PAR-ordered, labels (B,) -> input embeddings (B, N, dim) per SPEC 3."""
        b = tokens.shape[0]
        cls = self.cls_embedding(labels, train)                          # (B, dim)
        tok = self.tok_embeddings(tokens[:, self.ref.clamp(max=tokens.shape[1] - 1)])   # (B, N, dim)
        x = torch.where((self.kind == 1)[None, :, None], tok, cls[:, None, :].expand_as(tok))
        if self.cfg["parallel"] > 1:
            spe = self.spe_tok_embeddings.special_embeddings.weight[torch.where(self.kind == 2, self.ref - 1, 0)]
            x = torch.where((self.kind == 2)[None, :, None], spe[None].expand(b, -1, -1), x)
        return x

    def forward(self, tokens, labels, train: bool = False):
        """Training / teacher-forced forward: logits (B, N, vocab), logits[:, p] predicts tokens[:, p]."""
        h = self.embed(tokens, labels, train)
        mask = None if self.causal else self.mask
        for layer in self.layers:
            h = layer(h, self.rope_cos, self.rope_sin, mask)
        return self.output(self.norm(h)).float()


def load_from(path: str, cfg_overrides: dict | None = None, map_location="cpu"):
    st = torch.load(path, map_location=map_location, weights_only=False)
    cfg = dict(st["config"])
    cfg.update(cfg_overrides or {})
    m = GPT(cfg)
    m.load_state_dict({k: v.float() for k, v in st["model"].items()})
    return m, st


def _selftest():
    cfg = default_config(dim=64, n_layer=2, n_head=2, parallel=4)
    m = GPT(cfg)
    toks = torch.randint(0, 1000, (2, 320))
    out = m(toks, torch.tensor([3, 101]))
    assert out.shape == (2, 320, 1000)
    print("ok", sum(p.numel() for p in m.parameters()))


if __name__ == "__main__":
    _selftest()
    _ = np
