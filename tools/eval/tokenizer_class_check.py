"""Does the tokenizer keep the class? Held-out SynthAction-101 clips through the
torch tokenizer (a training checkpoint, before any export), scored as a generated
set would be: `par-video fvd` with nearest-centroid accuracy.

Set A (held-out clips 0..N-1) gives the real features and the centroids; set B
(clips N..2N-1) is scored twice, as it is and after the tokenizer's round trip.
Prints one JSON line: the round trip's PSNR, and FVD and accuracy of B and of
its reconstruction against A; and of the reconstruction of B against A after the
same round trip (`reconstructed_vs_reconstructed`: centroids from what the tokenizer
draws, a classifier that sees the same rendering on both sides).

`--degrade` replaces the tokenizer by a fixed degradation (a 4 x 4 box average
with or without 4-frame averaging, or a spatial Gaussian blur), to see how much
of the class a given loss of detail leaves: the bar a tokenizer has to clear.

    python3 -m tools.eval.tokenizer_class_check --tokenizer models/train/tokenizer.pt --count 128 --out runs/classcheck
    python3 -m tools.eval.tokenizer_class_check --degrade gauss:1.5 --count 202 --out runs/classcheck
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import subprocess

import numpy as np
import torch

from tools.eval import eval_builtin as E
from tools.train import synthaction as S
from tools.train.encode_synthaction import load_tokenizer


def tokenizer_roundtrip(model):
    def run(clip: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(clip[None]).permute(0, 4, 1, 2, 3).float().div(255.0)
        with torch.no_grad():
            y = model(x)[0].clamp(0, 1)
        return (y[0].permute(1, 2, 3, 0).numpy() * 255).round().astype(np.uint8)
    return run


def degradation(spec: str):
    """box4 (4 x 4 pixel means), box4t (and means over the tokenizer's frame groups 0, 1-4, ...,
    13-16), gauss:SIGMA (spatial Gaussian blur, SIGMA pixels)."""
    from scipy.ndimage import gaussian_filter

    def box(clip, frames):
        x = clip.astype(np.float64)
        f, h, w, c = x.shape
        y = x.reshape(f, h // 4, 4, w // 4, 4, c).mean(axis=(2, 4)).repeat(4, 1).repeat(4, 2)
        if frames:
            for g in range(1, f, 4):
                y[g:g + 4] = y[g:g + 4].mean(0, keepdims=True)
        return y
    if spec in ("box4", "box4t"):
        fn = lambda clip: box(clip, spec == "box4t")  # noqa: E731
    elif spec.startswith("gauss:"):
        sigma = float(spec.split(":", 1)[1])
        fn = lambda clip: gaussian_filter(clip.astype(np.float64), (0, sigma, sigma, 0))  # noqa: E731
    else:
        raise SystemExit(f"--degrade {spec}: expected box4, box4t or gauss:SIGMA")
    return lambda clip: np.clip(np.rint(fn(clip)), 0, 255).astype(np.uint8)


def write_reconstructions(roundtrip, folder: str, start: int, count: int) -> float:
    """Clips start..start+count-1 after `roundtrip` as PNG frame folders + labels.csv -> PSNR (dB)."""
    from PIL import Image
    rows, se, n = [], 0.0, 0
    os.makedirs(folder, exist_ok=True)
    for i in range(start, start + count):
        c, seed = S.split_item("test", i)
        x = S.clip(c, seed)
        y = roundtrip(x)
        se += float(((y.astype(np.float64) - x) ** 2).sum()) / 255.0 ** 2
        n += x.size
        name = f"real_{i:05d}"
        os.makedirs(os.path.join(folder, name), exist_ok=True)
        for f, frame in enumerate(y):
            Image.fromarray(frame).save(os.path.join(folder, name, f"{f:06d}.png"))
        rows.append((name, c))
    with open(os.path.join(folder, "labels.csv"), "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["clip", "label"])
        w.writerows(rows)
    return 10 * math.log10(1.0 / (se / n))


def score(binary: str, real: str, gen: str, count: int, cache: str) -> dict:
    r = subprocess.run([binary, "fvd", real, gen, "--no-class-match", "--max-clips", str(count), "--json", "--quiet",
                        "--cache-dir", cache], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"par-video fvd failed: {r.stderr.strip()}")
    d = json.loads(r.stdout)
    return {"fvd": round(d["fvd"], 2), "accuracy": round(d["accuracy"], 4)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tokenizer", default="models/train/tokenizer.pt")
    ap.add_argument("--degrade", default="", help="a fixed degradation instead of the tokenizer: box4, box4t, gauss:SIGMA")
    ap.add_argument("--count", type=int, default=128)
    ap.add_argument("--out", default="runs/classcheck")
    ap.add_argument("--binary", default=".build/release/par-video")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    real_a, real_b = os.path.join(a.out, f"realA_v{S.VERSION}"), os.path.join(a.out, f"realB_v{S.VERSION}")
    what = a.degrade or a.tokenizer
    rec_b = os.path.join(a.out, f"recB_v{S.VERSION}_" + (a.degrade.replace(":", "") if a.degrade
                                           else os.path.splitext(os.path.basename(a.tokenizer))[0]))
    E.write_real(real_a, a.count, 0)
    E.write_real(real_b, a.count, a.count)
    roundtrip = degradation(a.degrade) if a.degrade else tokenizer_roundtrip(load_tokenizer(a.tokenizer))
    rec_a = rec_b.replace(f"recB_v{S.VERSION}_", f"recA_v{S.VERSION}_", 1)
    psnr = write_reconstructions(roundtrip, rec_b, a.count, a.count)
    write_reconstructions(roundtrip, rec_a, 0, a.count)
    cache = os.path.join(a.out, "cache")
    print(json.dumps({"round_trip": what, "data_version": S.VERSION, "clips": a.count, "psnr_db": round(psnr, 2),
                      "real": score(a.binary, real_a, real_b, a.count, cache),
                      "reconstructed": score(a.binary, real_a, rec_b, a.count, cache),
                      "reconstructed_vs_reconstructed": score(a.binary, rec_a, rec_b, a.count, cache)}))


if __name__ == "__main__":
    main()
