"""numpy reference of the MAGVIT-v2 (FSQ) causal 3D video tokenizer, NBP layout.

Written from reading NBP's `nbp/magvit2.py` and `nbp/quantizers/fsq.py`; the
layer list is expanded from the bundle config of docs/TOKENIZER.md, so NBP's
UCF-101 tokenizer and par-video's small one run through the same code.
Tensors are channels-first without a batch axis: video (3, F, h, w), latents
(d, T, H, W). Pixels are in [0, 1]. Weights: a dict of NBP state-dict names
(without `module.`) -> numpy arrays. Arithmetic is float64 unless told
otherwise, so the reference is the exact side of every comparison.
"""
from __future__ import annotations

import math

import numpy as np

NBP_UCF_CONFIG = {
    "in_channels": 3, "embed_dim": 6, "fsq_levels": [8, 8, 8, 5, 5, 5],
    "norm_groups": 32, "norm_eps": 1e-5, "kernel": 3,
    "encoder": {"channels": [128, 256, 256, 512], "res_units": [4, 4, 4, 8],
                "down": [[1, 2, 2], [2, 2, 2], [2, 2, 2]]},
    "decoder": {"channels": [512, 256, 256, 128], "res_units": [8, 4, 4, 4],
                "up": [[2, 2, 2], [2, 2, 2], [1, 2, 2]]},
    "frames": 17, "size": 128,
}


# ----------------------------------------------------------------------------
# FSQ (NBP quantizers/fsq.py): digit i of an index is (idx // basis_i) % L_i,
# basis = exclusive cumulative product of the levels (first level fastest).

def fsq_basis(levels):
    basis = [1]
    for v in levels[:-1]:
        basis.append(basis[-1] * v)
    return np.array(basis, dtype=np.int64)


def indices_to_codes(idx, levels):
    """idx (...) int -> codes (..., d) in [-1, 1]."""
    levels = np.asarray(levels, dtype=np.int64)
    idx = np.asarray(idx, dtype=np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= int(np.prod(levels))):
        raise ValueError(f"token value outside the vocabulary [0, {int(np.prod(levels))})")
    digits = (idx[..., None] // fsq_basis(levels)) % levels
    half = levels // 2
    return (digits - half) / half


def codes_to_indices(codes, levels):
    levels = np.asarray(levels, dtype=np.int64)
    half = levels // 2
    digits = np.rint(np.asarray(codes) * half + half).astype(np.int64)
    return (digits * fsq_basis(levels)).sum(-1)


def fsq_quantize(z, levels, eps=1e-3):
    """z (..., d) -> code values: NBP's tanh bound, round half to even, / (L // 2)."""
    lv = np.asarray(levels, dtype=np.float64)
    half_l = (lv - 1) * (1 - eps) / 2
    offset = np.where(np.asarray(levels) % 2 == 0, 0.5, 0.0)
    shift = np.tan(offset / half_l)
    bounded = np.tanh(z + shift) * half_l - offset
    return np.rint(bounded) / (np.asarray(levels) // 2)


# ----------------------------------------------------------------------------
# Layers on (C, T, H, W) arrays.

def causal_conv3d(x, w, b, stride=(1, 1, 1)):
    """Edge-replicating pad (2*(kt//2) frames in front, kh//2 and kw//2 on each
    side in space), then a valid strided convolution. w (Cout, Cin, kt, kh, kw)."""
    cout, cin, kt, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (2 * (kt // 2), 0), (kh // 2, kh // 2), (kw // 2, kw // 2)), mode="edge")
    return conv3d_valid(xp, w, b, stride)


def conv3d_valid(xp, w, b, stride=(1, 1, 1)):
    cout, cin, kt, kh, kw = w.shape
    st, sh, sw = stride
    win = np.lib.stride_tricks.sliding_window_view(xp, (kt, kh, kw), axis=(1, 2, 3))
    win = win[:, ::st, ::sh, ::sw]  # (Cin, To, Ho, Wo, kt, kh, kw)
    _, to, ho, wo = win.shape[:4]
    out = np.empty((cout, to, ho, wo), dtype=np.result_type(xp, w))
    wm = w.reshape(cout, -1)
    for t in range(to):  # one output frame at a time keeps the im2col small
        cols = win[:, t].transpose(0, 3, 4, 5, 1, 2).reshape(cin * kt * kh * kw, ho * wo)
        out[:, t] = (wm @ cols).reshape(cout, ho, wo)
    return out + b.reshape(-1, 1, 1, 1)


def group_norm_per_frame(x, gamma, beta, groups, eps):
    """nn.GroupNorm on every frame on its own (NBP's GroupNorm3D: (b t) c h w)."""
    c, t, h, w = x.shape
    g = x.reshape(groups, c // groups, t, h, w)
    mean = g.mean(axis=(1, 3, 4), keepdims=True)
    var = g.var(axis=(1, 3, 4), keepdims=True)  # biased, as torch
    y = ((g - mean) / np.sqrt(var + eps)).reshape(c, t, h, w)
    return y * gamma.reshape(-1, 1, 1, 1) + beta.reshape(-1, 1, 1, 1)


def swish(x, beta):
    """x * sigmoid(beta * x), beta per channel (NBP stores it as (1, C, 1, 1, 1))."""
    z = beta.reshape(-1, 1, 1, 1) * x
    return x / (1.0 + np.exp(-z))


def depth_to_space(x, factors):
    """Channels split as (t_bs, h_bs, w_bs, c_out), block factors outermost;
    when t_bs > 1 the first t_bs - 1 output frames are dropped (causal)."""
    ft, fh, fw = factors
    c, t, h, w = x.shape
    co = c // (ft * fh * fw)
    y = x.reshape(ft, fh, fw, co, t, h, w).transpose(3, 4, 0, 5, 1, 6, 2)
    y = y.reshape(co, t * ft, h * fh, w * fw)
    return y[:, ft - 1:]


# ----------------------------------------------------------------------------
# Layer lists (NBP ModuleList indices) expanded from the config.

def encoder_layers(cfg):
    """[(kind, args)] in NBP `encoder_layers` order."""
    e, ch = cfg["encoder"], cfg["encoder"]["channels"]
    layers = [("conv", dict(cin=cfg["in_channels"], cout=ch[0], stride=(1, 1, 1)))]
    layers += [("res", dict(cin=ch[0], cout=ch[0]))] * e["res_units"][0]
    for s in range(1, len(ch)):
        layers.append(("conv", dict(cin=ch[s - 1], cout=ch[s - 1], stride=tuple(e["down"][s - 1]))))
        for u in range(e["res_units"][s]):
            layers.append(("res", dict(cin=ch[s - 1] if u == 0 else ch[s], cout=ch[s])))
    layers += [("norm", dict(c=ch[-1])), ("swish", dict(c=ch[-1])),
               ("proj", dict(cin=ch[-1], cout=cfg["embed_dim"]))]
    return layers


def decoder_layers(cfg):
    d, ch = cfg["decoder"], cfg["decoder"]["channels"]
    layers = [("conv", dict(cin=cfg["embed_dim"], cout=ch[0], stride=(1, 1, 1)))]
    layers += [("res", dict(cin=ch[0], cout=ch[0]))] * d["res_units"][0]
    for s in range(1, len(ch)):
        f = tuple(d["up"][s - 1])
        layers.append(("conv", dict(cin=ch[s - 1], cout=ch[s - 1] * math.prod(f), stride=(1, 1, 1))))
        layers.append(("d2s", dict(factors=f)))
        for u in range(d["res_units"][s]):
            layers.append(("res", dict(cin=ch[s - 1] if u == 0 else ch[s], cout=ch[s])))
    layers += [("norm", dict(c=ch[-1])), ("swish", dict(c=ch[-1])),
               ("conv", dict(cin=ch[-1], cout=cfg["in_channels"], stride=(1, 1, 1)))]
    return layers


def weight_shapes(cfg):
    """Every tensor name -> shape, in NBP's state-dict naming (no `module.`)."""
    k = cfg["kernel"]
    shapes = {}
    for prefix, layers in (("encoder_layers", encoder_layers(cfg)), ("decoder_layers", decoder_layers(cfg))):
        for i, (kind, a) in enumerate(layers):
            p = f"{prefix}.{i}"
            if kind == "conv":
                shapes[f"{p}.conv.weight"] = (a["cout"], a["cin"], k, k, k)
                shapes[f"{p}.conv.bias"] = (a["cout"],)
            elif kind == "proj":
                shapes[f"{p}.weight"] = (a["cout"], a["cin"], 1, 1, 1)
                shapes[f"{p}.bias"] = (a["cout"],)
            elif kind == "norm":
                shapes[f"{p}.weight"] = shapes[f"{p}.bias"] = (a["c"],)
            elif kind == "swish":
                shapes[f"{p}.beta"] = (1, a["c"], 1, 1, 1)
            elif kind == "res":
                ci, co = a["cin"], a["cout"]
                shapes[f"{p}.fn.0.weight"] = shapes[f"{p}.fn.0.bias"] = (ci,)
                shapes[f"{p}.fn.1.beta"] = (1, ci, 1, 1, 1)
                shapes[f"{p}.fn.2.conv.weight"] = (co, ci, k, k, k)
                shapes[f"{p}.fn.2.conv.bias"] = (co,)
                shapes[f"{p}.fn.3.weight"] = shapes[f"{p}.fn.3.bias"] = (co,)
                shapes[f"{p}.fn.4.beta"] = (1, co, 1, 1, 1)
                shapes[f"{p}.fn.5.conv.weight"] = (co, co, k, k, k)
                shapes[f"{p}.fn.5.conv.bias"] = (co,)
                if ci != co:
                    shapes[f"{p}.residual_fn.0.conv.weight"] = (co, ci, 1, 1, 1)
                    shapes[f"{p}.residual_fn.0.conv.bias"] = (co,)
    return shapes


def run_layers(x, layers, prefix, W, cfg, dtype=np.float64):
    g, eps = cfg["norm_groups"], cfg["norm_eps"]
    get = lambda name: np.asarray(W[name], dtype=dtype)
    x = x.astype(dtype)
    for i, (kind, a) in enumerate(layers):
        p = f"{prefix}.{i}"
        if kind == "conv":
            x = causal_conv3d(x, get(f"{p}.conv.weight"), get(f"{p}.conv.bias"), a["stride"])
        elif kind == "proj":
            x = conv3d_valid(x, get(f"{p}.weight"), get(f"{p}.bias"))
        elif kind == "norm":
            x = group_norm_per_frame(x, get(f"{p}.weight"), get(f"{p}.bias"), g, eps)
        elif kind == "swish":
            x = swish(x, get(f"{p}.beta"))
        elif kind == "d2s":
            x = depth_to_space(x, a["factors"])
        elif kind == "res":
            h = swish(group_norm_per_frame(x, get(f"{p}.fn.0.weight"), get(f"{p}.fn.0.bias"), g, eps), get(f"{p}.fn.1.beta"))
            h = causal_conv3d(h, get(f"{p}.fn.2.conv.weight"), get(f"{p}.fn.2.conv.bias"))
            h = swish(group_norm_per_frame(h, get(f"{p}.fn.3.weight"), get(f"{p}.fn.3.bias"), g, eps), get(f"{p}.fn.4.beta"))
            h = causal_conv3d(h, get(f"{p}.fn.5.conv.weight"), get(f"{p}.fn.5.conv.bias"))
            if a["cin"] != a["cout"]:
                x = causal_conv3d(x, get(f"{p}.residual_fn.0.conv.weight"), get(f"{p}.residual_fn.0.conv.bias"))
            x = x + h
    return x


# ----------------------------------------------------------------------------
# Public entry points.

def latent_shape(cfg, frames, size):
    """(T, H, W) of the token cube for a clip of `frames` frames at size x size."""
    t_down = math.prod(f[0] for f in cfg["encoder"]["down"])
    s_down = math.prod(f[1] for f in cfg["encoder"]["down"])
    return 1 + (frames - 1) // t_down, size // s_down, size // s_down


def decode_codes(codes, W, cfg, dtype=np.float64):
    """codes (d, T, H, W) -> unclamped video (3, F, h, w)."""
    return run_layers(codes, decoder_layers(cfg), "decoder_layers", W, cfg, dtype)


def decode_indices(idx, W, cfg, dtype=np.float64):
    """idx (T, H, W) -> frames (F, h, w, 3) clamped to [0, 1]."""
    codes = np.moveaxis(indices_to_codes(idx, cfg["fsq_levels"]), -1, 0)
    video = decode_codes(codes, W, cfg, dtype)
    return np.clip(np.moveaxis(video, 0, -1), 0.0, 1.0)


def encode_latents(frames, W, cfg, dtype=np.float64):
    """frames (F, h, w, 3) in [0, 1] -> pre-quantization latents (d, T, H, W)."""
    return run_layers(np.moveaxis(np.asarray(frames), -1, 0), encoder_layers(cfg), "encoder_layers", W, cfg, dtype)


def encode_indices(frames, W, cfg, dtype=np.float64):
    """frames (F, h, w, 3) -> token cube (T, H, W) int64."""
    z = np.moveaxis(encode_latents(frames, W, cfg, dtype), 0, -1)
    return codes_to_indices(fsq_quantize(z, cfg["fsq_levels"]), cfg["fsq_levels"])


# ----------------------------------------------------------------------------
# Seeded weights that Swift regenerates bit for bit (Tokenizer tests, bench):
# element k of tensor `name` is splitmix64(fnv1a64(name) ^ seed, k) mapped to
# a uniform in [-1, 1) with 24 bits, then scaled per tensor kind.

M64 = (1 << 64) - 1


def fnv1a64(s: str) -> int:
    h = 0xCBF29CE484222325
    for byte in s.encode():
        h = ((h ^ byte) * 0x100000001B3) & M64
    return h


def seeded_uniform(name: str, seed: int, n: int) -> np.ndarray:
    """n float32 values in [-1, 1): splitmix64 of (key + (k+1) * golden)."""
    key = np.uint64(fnv1a64(name) ^ (seed & M64))
    out = np.empty(n, dtype=np.float32)
    step = 1 << 22
    with np.errstate(over="ignore"):
        for s in range(0, n, step):
            k = np.arange(s + 1, min(n, s + step) + 1, dtype=np.uint64)
            z = key + k * np.uint64(0x9E3779B97F4A7C15)
            z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            z = z ^ (z >> np.uint64(31))
            out[s - 0:s + len(k)] = (z >> np.uint64(40)).astype(np.float32) * np.float32(2.0 ** -23) - np.float32(1.0)
    return out


def seeded_weights(cfg, seed: int) -> dict:
    """Random weights of the right scale: conv weights uniform with variance
    1/fan_in, biases +-0.1, norm gains 1 +- 0.1, swish betas 1 +- 0.25; the
    last decoder conv is scaled so pixels land mostly inside [0, 1]."""
    shapes = weight_shapes(cfg)
    last = f"decoder_layers.{len(decoder_layers(cfg)) - 1}.conv."
    W = {}
    for name, shape in shapes.items():
        u = seeded_uniform(name, seed, math.prod(shape)).reshape(shape)
        if name.endswith(".beta"):
            v = 1.0 + 0.25 * u
        elif len(shape) == 5:
            v = u * np.float32(math.sqrt(3.0 / math.prod(shape[1:])))
        elif name.endswith(".bias"):
            v = 0.1 * u
        else:  # group-norm gain
            v = 1.0 + 0.1 * u
        if name.startswith(last):
            v = (0.1 * v + 0.5) if name.endswith("bias") else 0.1 * v
        W[name] = v.astype(np.float32)
    return W
