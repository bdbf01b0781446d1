"""A preview strip of the built-in model: one row per class, real held-out clip vs generated clips.

Renders with the Swift binary (`par-video batch --format frames`), so the
picture shows what users get; the real clip of each row comes from
tools/train/synthaction.py (held-out seed). Every other frame is shown.

    python3 -m tools.eval.preview_builtin --parallel 4 -o samples/builtin_preview.png
"""
from __future__ import annotations

import argparse
import os
import subprocess
import tempfile

import numpy as np
from PIL import Image, ImageDraw

from tools.train import synthaction as S


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", default=".build/release/par-video")
    ap.add_argument("--model", default="models/builtin")
    ap.add_argument("--parallel", type=int, default=4)
    ap.add_argument("--classes", default="0,12,25,40,57,73,88,100")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--output", required=True)
    a = ap.parse_args()
    ids = [int(c) for c in a.classes.split(",")]
    names = S.class_names()
    shown = list(range(0, S.FRAMES, 2))
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([a.binary, "batch", "--model", a.model, "--parallel", str(a.parallel), "--actions", a.classes,
                        "--per-class", "1", "--seed", str(a.seed), "--format", "frames", "--quiet", "-o", tmp + "/run"],
                       check=True)
        rows = []
        for k, c in enumerate(ids):
            real = S.clip(c, S.test_seed(0))[shown]
            folder = os.path.join(tmp, "run", f"clip_{k:06d}_a{c:03d}")
            gen = np.stack([np.asarray(Image.open(os.path.join(folder, f"{f:06d}.png")).convert("RGB")) for f in shown])
            gap = np.full((S.SIZE, 8, 3), 255, np.uint8)
            rows.append(np.concatenate(list(real) + [gap] + list(gen), axis=1))
    label_w = 130
    width = label_w + rows[0].shape[1]
    img = np.full((16 + len(rows) * S.SIZE, width, 3), 255, np.uint8)
    for r, row in enumerate(rows):
        img[16 + r * S.SIZE:16 + (r + 1) * S.SIZE, label_w:] = row
    im = Image.fromarray(img)
    draw = ImageDraw.Draw(im)
    draw.text((label_w, 2), "held-out real clip (every other frame)", fill=(0, 0, 0))
    draw.text((label_w + len(shown) * S.SIZE + 8, 2), f"par-video built-in model, n={a.parallel}", fill=(0, 0, 0))
    for r, c in enumerate(ids):
        draw.text((4, 16 + r * S.SIZE + 26), f"{c} {names[c]}"[:20], fill=(0, 0, 0))
    im.save(a.output)
    print(f"wrote {a.output}")


if __name__ == "__main__":
    main()
