"""Does the tokenizer keep the class? Held-out SynthAction-101 clips through the
torch tokenizer (a training checkpoint, before any export), scored as a generated
set would be: `par-video fvd` with nearest-centroid accuracy.

Set A (held-out clips 0..N-1) gives the real features and the centroids; set B
(clips N..2N-1) is scored twice, as it is and after the tokenizer's round trip.
Prints one JSON line: the round trip's PSNR, and FVD and accuracy of B and of
its reconstruction against A.

    python3 tools/tokenizer_class_check.py --tokenizer models/train/tokenizer.pt --count 128 --out runs/classcheck
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import subprocess
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import eval_builtin as E  # noqa: E402
import synthaction as S  # noqa: E402
from encode_synthaction import load_tokenizer  # noqa: E402


def write_reconstructions(model, folder: str, start: int, count: int) -> float:
    """Clips start..start+count-1 through the tokenizer as PNG frame folders + labels.csv -> PSNR (dB)."""
    from PIL import Image
    rows, se, n = [], 0.0, 0
    os.makedirs(folder, exist_ok=True)
    for i in range(start, start + count):
        c, seed = S.split_item("test", i)
        x = torch.from_numpy(np.stack(S.clip(c, seed))[None]).permute(0, 4, 1, 2, 3).float().div(255.0)
        with torch.no_grad():
            y = model(x)[0].clamp(0, 1)
        se += float(((y - x) ** 2).sum())
        n += x.numel()
        name = f"real_{i:05d}"
        os.makedirs(os.path.join(folder, name), exist_ok=True)
        for f, frame in enumerate((y[0].permute(1, 2, 3, 0).numpy() * 255).round().astype(np.uint8)):
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
    ap.add_argument("--count", type=int, default=128)
    ap.add_argument("--out", default="runs/classcheck")
    ap.add_argument("--binary", default=".build/release/par-video")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    real_a, real_b = os.path.join(a.out, "realA"), os.path.join(a.out, "realB")
    rec_b = os.path.join(a.out, "recB_" + os.path.splitext(os.path.basename(a.tokenizer))[0])
    E.write_real(real_a, a.count, 0)
    E.write_real(real_b, a.count, a.count)
    psnr = write_reconstructions(load_tokenizer(a.tokenizer), rec_b, a.count, a.count)
    cache = os.path.join(a.out, "cache")
    print(json.dumps({"tokenizer": a.tokenizer, "clips": a.count, "psnr_db": round(psnr, 2),
                      "real": score(a.binary, real_a, real_b, a.count, cache),
                      "reconstructed": score(a.binary, real_a, rec_b, a.count, cache)}))


if __name__ == "__main__":
    main()
