"""PAR token order, input layout, attention mask and `3d` rotary tables (SPEC 2-4), numpy only.

Shared by the PyTorch trainer (tools/train/gpt_torch.py) and the tests, so the
training pipeline is checked against SPEC without torch.
"""
from __future__ import annotations

import numpy as np


def _split(cube_shape, n: int):
    t, h, w = cube_shape
    s = int(round(n ** 0.5))
    if s * s != n or h % s or w % s:
        raise ValueError(f"parallel n={n} needs a square s*s with s dividing H={h} and W={w}")
    return t, h, w, s


def par_order(cube_shape, n: int) -> np.ndarray:
    """perm[k] = raster index t*H*W + y*W + x of the cell at PAR sequence index k."""
    t, h, w, s = _split(cube_shape, n)
    raster = np.arange(t * h * w).reshape(t, s, h // s, s, w // s)     # [t, a, i, b, j]
    return raster.transpose(0, 2, 4, 1, 3).reshape(-1)                   # [t, i, j, a, b]


def to_par(cubes: np.ndarray, n: int) -> np.ndarray:
    """(..., T, H, W) -> (..., N) tokens in PAR order."""
    shape = cubes.shape[-3:]
    flat = cubes.reshape(cubes.shape[:-3] + (-1,))
    return flat[..., par_order(shape, n)]


def from_par(seq: np.ndarray, cube_shape, n: int) -> np.ndarray:
    """(..., N) PAR-ordered tokens -> (..., T, H, W)."""
    perm = par_order(cube_shape, n)
    out = np.empty_like(seq)
    out[..., perm] = seq
    return out.reshape(seq.shape[:-1] + tuple(cube_shape))


def cell_coords(cube_shape, n: int) -> np.ndarray:
    """(N, 3) (t, y, x) of every PAR sequence index."""
    t, h, w = cube_shape
    r = par_order(cube_shape, n)
    return np.stack([r // (h * w), (r // w) % h, r % w], -1)


def input_layout(cube_shape, n: int) -> tuple[np.ndarray, np.ndarray]:
    """What sits at each of the N input positions used in training (SPEC 3).

    Returns (kind, ref): kind 0 = class token, 1 = image token x_ref, 2 = M token number ref (1..n-1).
    Position p's output predicts x_p. Inputs beyond position N-1 are never needed
    (their outputs are unused and no earlier position attends to them).
    """
    t, h, w = cube_shape
    N = t * h * w
    kind = np.empty(N, np.int64)
    ref = np.empty(N, np.int64)
    kind[0], ref[0] = 0, 0
    for p in range(1, N):
        if p <= n:
            kind[p], ref[p] = 1, p - 1
        elif p < 2 * n:
            kind[p], ref[p] = 2, p - n
        else:
            kind[p], ref[p] = 1, p - n
    return kind, ref


def attention_mask(length: int, n: int) -> np.ndarray:
    """(L, L) bool, True = may attend: causal, column 0 always, blocks [n+g*n, n+(g+1)*n) see themselves fully."""
    m = np.tril(np.ones((length, length), bool))
    m[:, 0] = True
    if n > 1:
        for start in range(n, length, n):
            end = min(start + n, length)
            m[start:end, :end] = True
    return m


def rope_pairs_3d(head_dim: int) -> tuple[int, int, int]:
    p = head_dim // 2
    ph = (3 * p) // 8
    return p - 2 * ph, ph, ph


def rope_3d(coords: np.ndarray, head_dim: int, base: float = 10000.0) -> np.ndarray:
    """(L, 3) cell coords -> (L, head_dim/2) rotation angles: t-pairs, then y-pairs, then x-pairs."""
    pt, ph, pw = rope_pairs_3d(head_dim)
    parts = []
    for axis, pa in ((0, pt), (1, ph), (2, pw)):
        f = base ** (-np.arange(pa, dtype=np.float64) / pa)
        parts.append(coords[:, axis:axis + 1].astype(np.float64) * f[None])
    return np.concatenate(parts, 1)


def rope_tables(cube_shape, n: int, head_dim: int, base: float = 10000.0) -> tuple[np.ndarray, np.ndarray]:
    """(cos, sin), each (N, head_dim/2), for the N training positions; zero for the class and M tokens."""
    kind, ref = input_layout(cube_shape, n)
    coords = cell_coords(cube_shape, n)
    ang = rope_3d(coords[np.where(kind == 1, ref, 0)], head_dim, base)
    live = (kind == 1)[:, None]
    return np.where(live, np.cos(ang), 0.0), np.where(live, np.sin(ang), 0.0)


def decode_steps(cube_shape, n: int) -> int:
    t, h, w = cube_shape
    N = t * h * w
    return n + (N - n) // n
