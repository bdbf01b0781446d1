"""numpy reference of the PAR transformer and decode schedule (SPEC sections 2-6).

Slow and plain on purpose: float64 arithmetic, one KV cache per layer, every
step spelled out. The Swift engine is checked against it (logits per step,
greedy cubes); it is checked against the cubes made by the official code.
"""
import math

import numpy as np

from tools.convert import bundle


# ------------------------------------------------------------ order (SPEC 2)

def par_order(T, H, W, n):
    """order[k] = flat (t, y, x) index of the k-th token of the PAR sequence.

    k = (((t*(H/s) + i)*(W/s) + j)*s + a)*s + b, with y = a*(H/s) + i, x = b*(W/s) + j.
    """
    s = math.isqrt(n)
    if s * s != n or H % s or W % s:
        raise ValueError(f"n={n} must be s*s with s dividing H={H} and W={W}")
    h, w = H // s, W // s
    t, i, j, a, b = np.meshgrid(np.arange(T), np.arange(h), np.arange(w), np.arange(s), np.arange(s),
                                indexing="ij")
    y, x = a * h + i, b * w + j
    return ((t * H + y) * W + x).reshape(-1)


def to_sequence(cube, n):
    """(..., T, H, W) cube -> (..., N) tokens in PAR order."""
    T, H, W = cube.shape[-3:]
    return cube.reshape(*cube.shape[:-3], -1)[..., par_order(T, H, W, n)]


def to_cube(seq, T, H, W, n):
    """(..., N) tokens in PAR order -> (..., T, H, W) cube: the inverse permutation."""
    out = np.empty_like(seq)
    out[..., par_order(T, H, W, n)] = seq
    return out.reshape(*seq.shape[:-1], T, H, W)


def step_count(N, n):
    return n + (N - n) // n


def schedule(N, n):
    """Decode steps of SPEC section 5 as (positions fed, sequence indices predicted).

    The inputs at the positions follow from `position_inputs`.
    """
    steps = [([0], [0])]
    steps += [([k], [k]) for k in range(1, n)]
    for g in range(N // n - 1):
        pos = list(range(n + g * n, n + (g + 1) * n))
        steps.append((pos, list(range((g + 1) * n, (g + 2) * n))))
    assert len(steps) == step_count(N, n)
    return steps


def position_inputs(N, n):
    """What is fed at each position p < N: ("class", 0), ("tok", k) for x_k, ("spe", m) for M_{m+1}."""
    out = [("class", 0)]
    for p in range(1, N):
        if p <= n:
            out.append(("tok", p - 1))
        elif p < 2 * n:
            out.append(("spe", p - n - 1))
        else:
            out.append(("tok", p - n))
    return out


# ------------------------------------------------------ positions, mask (SPEC 3-4)

def group_mask(N, n):
    """(N, N) bool, True = may attend: causal, column 0, blocks [n+g*n, n+(g+1)*n) see themselves."""
    m = np.tril(np.ones((N, N), dtype=bool))
    m[:, 0] = True
    for start in range(n, N, n):
        m[start:start + n, :start + n] = True
    return m


def rope_angles(cfg):
    """(N, P) rotation angle of each pair at each position; None rows = class / M tokens (cos = sin = 0)."""
    T, H, W = cfg["cube"]
    n, N = cfg["parallel"], T * H * W
    P = cfg["dim"] // cfg["n_head"] // 2
    base = float(cfg.get("rope_base", 10000.0))
    if cfg["rope"] == "2d":
        if T != 1:
            raise ValueError("rope 2d needs T = 1")
        half = P // 2
        f = base ** (-np.arange(half) / half)
        axes = [(np.arange(0, half), 1, f), (np.arange(half, P), 2, f)]
    else:
        ph = 3 * P // 8
        pt = P - 2 * ph
        axes = [(np.arange(0, pt), 0, base ** (-np.arange(pt) / pt)),
                (np.arange(pt, pt + ph), 1, base ** (-np.arange(ph) / ph)),
                (np.arange(pt + ph, P), 2, base ** (-np.arange(ph) / ph))]
    order = par_order(T, H, W, n)
    t, y, x = np.unravel_index(order, (T, H, W))
    coords = np.stack([t, y, x], axis=1).astype(np.float64)   # (N, 3), in sequence order
    cell_angle = np.zeros((N, P))
    for pairs, axis, freqs in axes:
        cell_angle[:, pairs] = coords[:, axis:axis + 1] * freqs[None, :]
    angles, live = np.zeros((N, P)), np.zeros(N, dtype=bool)
    for p, (kind, k) in enumerate(position_inputs(N, n)):
        if kind == "tok":
            angles[p], live[p] = cell_angle[k], True
    return angles, live


def rope_tables(cfg):
    angles, live = rope_angles(cfg)
    return np.cos(angles) * live[:, None], np.sin(angles) * live[:, None]


# ------------------------------------------------------------ model (SPEC 6)

def round_bf16(x):
    """x as fp32, rounded to the nearest bf16 (ties to even), as float32."""
    b = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    return ((b + np.uint32(0x7FFF) + ((b >> 16) & np.uint32(1))) & np.uint32(0xFFFF0000)).view(np.float32)


class Reference:
    def __init__(self, cfg, tensors, dtype=np.float64, stored=None):
        """dtype float64 for reference figures; float32 shows what an fp32 engine can reach.
        stored: the bundle's dtype name per tensor; a product against a BF16 matrix takes its
        input rounded to bf16 (from fp32, nearest even), as the engine does."""
        bundle.validate_gpt_config(cfg)
        bundle.check_gpt_tensors(cfg, tensors)
        self.cfg, self.dtype = cfg, dtype
        self.w = {k: np.asarray(v, dtype=dtype) for k, v in tensors.items()}
        self.bf16_inputs = {k for k, v in (stored or {}).items() if v == "BF16"}
        T, H, W = cfg["cube"]
        self.N, self.n = T * H * W, cfg["parallel"]
        self.n_head = cfg["n_head"]
        self.n_kv = cfg.get("n_kv_head") or cfg["n_head"]
        self.hd = cfg["dim"] // cfg["n_head"]
        self.cos, self.sin = (t.astype(dtype) for t in rope_tables(cfg))
        self.mask = group_mask(self.N, self.n)
        self.inputs = position_inputs(self.N, self.n)

    @classmethod
    def load(cls, path, dtype=np.float64):
        cfg, tensors, stored = bundle.read_gpt_bundle(path)
        return cls(cfg, tensors, dtype, stored)

    def _lin(self, x, name):
        """x W^T for the weight matrix `name`."""
        if name in self.bf16_inputs:
            x = round_bf16(x).astype(self.dtype)
        return x @ self.w[name].T

    def _norm(self, x, w):
        return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + self.dtype(self.cfg["norm_eps"])) * w

    def _rotate(self, x, pos):
        # x (B, S, heads, hd): interleaved pairs (v[2p], v[2p+1])
        c, s = self.cos[pos][None, :, None, :], self.sin[pos][None, :, None, :]
        x0, x1 = x[..., 0::2], x[..., 1::2]
        out = np.empty_like(x)
        out[..., 0::2] = x0 * c - x1 * s
        out[..., 1::2] = x1 * c + x0 * s
        return out

    def embed(self, labels, seq, pos):
        """Input rows at positions `pos` for a batch; seq (Bt, N) holds the tokens known so far."""
        rows = []
        for p in pos:
            kind, k = self.inputs[p]
            if kind == "class":
                rows.append(self.w["cls_embedding.embedding_table.weight"][labels])
            elif kind == "spe":
                rows.append(np.broadcast_to(self.w["spe_tok_embeddings.special_embeddings.weight"][k],
                                            (len(labels), self.cfg["dim"])))
            else:
                rows.append(self.w["tok_embeddings.weight"][seq[:, k]])
        return np.stack(rows, axis=1)

    def new_cache(self, batch):
        shape = (self.cfg["n_layer"], batch, self.N, self.n_kv, self.hd)
        return {"k": np.zeros(shape, self.dtype), "v": np.zeros(shape, self.dtype), "filled": np.zeros(self.N, dtype=bool)}

    def forward(self, h, pos, cache, guidance=None):
        """h (Bt, S, dim) inputs at positions pos; writes K/V at pos; -> logits (Bt, S, vocab).
        With guidance s (CFG: the second half of the batch are the unconditional twins), the
        head's input is guided, u + (c - u) * s, and only the guided logits (Bt/2, S, vocab)
        come back: the engine's order (the head is linear, so in exact arithmetic it is
        guiding the logits)."""
        pos = np.asarray(pos)
        cache["filled"][pos] = True
        vis = self.mask[pos]                                            # (S, N)
        if np.any(vis & ~cache["filled"][None, :]):
            raise AssertionError("mask lets a position see an unwritten cache slot")
        B, S, _ = h.shape
        nh, kv, hd = self.n_head, self.n_kv, self.hd
        for i in range(self.cfg["n_layer"]):
            p = f"layers.{i}."
            x = self._norm(h, self.w[p + "attention_norm.weight"])
            qkv = self._lin(x, p + "attention.wqkv.weight")
            q = qkv[..., :nh * hd].reshape(B, S, nh, hd)
            k = qkv[..., nh * hd:(nh + kv) * hd].reshape(B, S, kv, hd)
            v = qkv[..., (nh + kv) * hd:].reshape(B, S, kv, hd)
            q, k = self._rotate(q, pos), self._rotate(k, pos)
            cache["k"][i][:, pos], cache["v"][i][:, pos] = k, v
            keys = np.repeat(cache["k"][i], nh // kv, axis=2)               # (B, N, nh, hd), head h -> kv h//g
            vals = np.repeat(cache["v"][i], nh // kv, axis=2)
            scores = np.einsum("bshd,bnhd->bhsn", q, keys) / self.dtype(math.sqrt(hd))
            scores = np.where(vis[None, None], scores, -np.inf)
            scores -= scores.max(axis=-1, keepdims=True)
            prob = np.exp(scores)
            prob /= prob.sum(axis=-1, keepdims=True)
            att = np.einsum("bhsn,bnhd->bshd", prob, vals).reshape(B, S, nh * hd)
            h = h + self._lin(att, p + "attention.wo.weight")
            x = self._norm(h, self.w[p + "ffn_norm.weight"])
            a = self._lin(x, p + "feed_forward.w1.weight")
            g = self._lin(x, p + "feed_forward.w3.weight")
            h = h + self._lin(a / (1 + np.exp(-a)) * g, p + "feed_forward.w2.weight")
        x = self._norm(h, self.w["norm.weight"])
        if guidance is not None:
            half = B // 2
            x = cfg_combine(x[:half], x[half:], self.dtype(guidance))
        return self._lin(x, "output.weight")

    def forward_full(self, labels, seq):
        """Teacher-forced pass over all N positions at once (the training layout): logits (Bt, N, V)."""
        labels = np.asarray(labels)
        pos = np.arange(self.N)
        return self.forward(self.embed(labels, seq, pos), pos, self.new_cache(len(labels)))


# ------------------------------------------------------------ sampling (SPEC 5)

def filter_logits(logits, temperature=1.0, top_k=0, top_p=1.0):
    """LlamaGen's order: temperature, top-k (ties with the k-th kept), top-p (first token always kept)."""
    l = np.array(logits, dtype=np.float64) / max(temperature, 1e-5)
    V = l.shape[-1]
    if top_k > 0:
        kth = np.sort(l, axis=-1)[..., V - min(top_k, V)][..., None]
        l = np.where(l < kth, -np.inf, l)
    if top_p < 1.0:
        order = np.argsort(-l, axis=-1, kind="stable")
        sl = np.take_along_axis(l, order, axis=-1)
        p = np.exp(sl - sl[..., :1])
        cum = np.cumsum(p / p.sum(axis=-1, keepdims=True), axis=-1)
        drop = np.zeros_like(cum, dtype=bool)
        drop[..., 1:] = (cum > top_p)[..., :-1]
        remove = np.zeros_like(drop)
        np.put_along_axis(remove, order, drop, axis=-1)
        l = np.where(remove, -np.inf, l)
    return l


def sample(logits, temperature=1.0, top_k=0, top_p=1.0, rng=None):
    """logits (M, V) -> tokens (M,). top_k 1 = greedy (first maximum)."""
    if top_k == 1:
        return np.argmax(logits, axis=-1)
    l = filter_logits(logits, temperature, top_k, top_p)
    p = np.exp(l - l.max(axis=-1, keepdims=True))
    cdf = np.cumsum(p, axis=-1)
    u = rng.random(len(l)) * cdf[:, -1]
    # first index with cdf > u: never a zero-probability token
    return np.minimum((cdf <= u[:, None]).sum(axis=-1), l.shape[-1] - 1)


def cfg_combine(cond, uncond, scale):
    return uncond + (cond - uncond) * scale


def generate(model, actions, cfg_scale=1.0, temperature=1.0, top_k=1, top_p=1.0, seed=0, record=False):
    """Decode B clips at once. -> (cubes (B, T, H, W) int32, per-step logits list or None).

    CFG (scale != 1): batch [cond_0..cond_{B-1}, uncond_0..uncond_{B-1}], null class
    = num_classes, logits = u + s*(c - u). The recorded logits are what the sampler sees.
    """
    cfg = model.cfg
    actions = np.asarray(actions, dtype=np.int64)
    if np.any(actions < 0) or np.any(actions >= cfg["num_classes"]):
        raise ValueError(f"action outside 0..{cfg['num_classes'] - 1}")
    B, use_cfg = len(actions), cfg_scale != 1.0
    labels = np.concatenate([actions, np.full(B, cfg["num_classes"])]) if use_cfg else actions
    seq = np.zeros((len(labels), model.N), dtype=np.int64)
    cache = model.new_cache(len(labels))
    rng = np.random.default_rng(seed)
    logs = [] if record else None
    for pos, predicted in schedule(model.N, model.n):
        logits = model.forward(model.embed(labels, seq, pos), pos, cache, guidance=cfg_scale if use_cfg else None)
        if record:
            logs.append(logits)
        tok = sample(logits.reshape(-1, logits.shape[-1]), temperature, top_k, top_p, rng).reshape(B, -1)
        seq[:B, predicted] = tok
        if use_cfg:
            seq[B:, predicted] = tok
    T, H, W = cfg["cube"]
    return to_cube(seq[:B], T, H, W, model.n).astype(np.int32), logs


def main(argv=None):
    import argparse
    import sys
    p = argparse.ArgumentParser(description="decode token cubes with the numpy reference")
    p.add_argument("model", help="gpt bundle (.safetensors)")
    p.add_argument("--action", type=int, action="append", required=True, help="repeat for a batch")
    p.add_argument("--cfg", type=float)
    p.add_argument("--top-k", type=int)
    p.add_argument("--top-p", type=float)
    p.add_argument("--temperature", type=float)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", required=True, help=".npy: int32 T x H x W (B x T x H x W for several actions)")
    a = p.parse_args(argv)
    try:
        model = Reference.load(a.model)
        d = model.cfg.get("sampling", {})
        pick = lambda v, k, default: v if v is not None else d.get(k, default)
        cubes, _ = generate(model, a.action, cfg_scale=pick(a.cfg, "cfg_scale", 1.0),
                            temperature=pick(a.temperature, "temperature", 1.0), top_k=pick(a.top_k, "top_k", 0),
                            top_p=pick(a.top_p, "top_p", 1.0), seed=a.seed)
    except (ValueError, OSError) as e:
        print(f"par_reference: error: {e}", file=sys.stderr)
        return 1
    np.save(a.output, cubes[0] if len(a.action) == 1 else cubes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
