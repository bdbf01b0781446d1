"""Preview pictures of the built-in model: per class, a held-out real clip beside generated clips.

Renders with the Swift binary (`par-video batch --format frames`), so the
picture shows what users get; the real clip of each row comes from
tools/train/synthaction.py (held-out seed). Each clip shows frames 0, 4, 8, 12
and 16 (--every); one block of columns per n.

    python3 -m tools.eval.preview_builtin -o samples/builtin_preview.png                  # 8 classes, n = 1, 4, 16
    python3 -m tools.eval.preview_builtin --classes all --parallel 4 --groups 2 -o samples/builtin_contact_sheet.png
"""
from __future__ import annotations

import argparse
import os
import subprocess
import tempfile

import numpy as np
from PIL import Image, ImageDraw

from tools.train import synthaction as S

LABEL_W = 130
GAP = 8
HEADER = 16


def generated(binary: str, model: str, n: int, ids: list[int], seed: int, shown: list[int], tmp: str) -> list[np.ndarray]:
    """One clip per class id at parallel n, as the shown frames side by side (one array per class)."""
    out = os.path.join(tmp, f"n{n}")
    subprocess.run([binary, "batch", "--model", model, "--parallel", str(n), "--actions", ",".join(map(str, ids)),
                    "--per-class", "1", "--seed", str(seed), "--format", "frames", "--quiet", "-o", out], check=True)
    strips = []
    for k, c in enumerate(ids):
        folder = os.path.join(out, f"clip_{k:06d}_a{c:03d}")
        frames = [np.asarray(Image.open(os.path.join(folder, f"{f:06d}.png")).convert("RGB")) for f in shown]
        strips.append(np.concatenate(frames, axis=1))
    return strips


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", default=".build/release/par-video")
    ap.add_argument("--model", default="models/builtin")
    ap.add_argument("--parallel", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--classes", default="0,12,25,40,57,73,88,100", help="comma-separated class ids, or 'all'")
    ap.add_argument("--every", type=int, default=4, help="show every k-th frame")
    ap.add_argument("--groups", type=int, default=1, help="side-by-side groups of rows (for long class lists)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--output", required=True)
    a = ap.parse_args()
    ids = list(range(S.NUM_CLASSES)) if a.classes == "all" else [int(c) for c in a.classes.split(",")]
    if not ids or any(not 0 <= c < S.NUM_CLASSES for c in ids):
        ap.error(f"--classes: ids must be in 0..{S.NUM_CLASSES - 1}")
    if a.every < 1 or a.groups < 1:
        ap.error("--every and --groups must be >= 1")
    names = S.class_names()
    shown = list(range(0, S.FRAMES, a.every))
    with tempfile.TemporaryDirectory() as tmp:
        gens = {n: generated(a.binary, a.model, n, ids, a.seed, shown, tmp) for n in a.parallel}
    strip_w = len(shown) * S.SIZE
    blocks = ["held-out real clip"] + [f"generated, n = {n}" for n in a.parallel]
    group_w = LABEL_W + len(blocks) * (strip_w + GAP)
    per_group = -(-len(ids) // a.groups)
    img = np.full((HEADER + per_group * S.SIZE, a.groups * group_w, 3), 255, np.uint8)
    for k, c in enumerate(ids):
        g, r = divmod(k, per_group)
        y, x = HEADER + r * S.SIZE, g * group_w + LABEL_W
        for strip in [S.clip(c, S.test_seed(0))[shown].transpose(1, 0, 2, 3).reshape(S.SIZE, strip_w, 3)] + \
                [gens[n][k] for n in a.parallel]:
            img[y:y + S.SIZE, x:x + strip_w] = strip
            x += strip_w + GAP
    im = Image.fromarray(img)
    draw = ImageDraw.Draw(im)
    for g in range(a.groups):
        for b, title in enumerate(blocks):
            draw.text((g * group_w + LABEL_W + b * (strip_w + GAP), 2), title, fill=(0, 0, 0))
    for k, c in enumerate(ids):
        g, r = divmod(k, per_group)
        draw.text((g * group_w + 4, HEADER + r * S.SIZE + 26), f"{c} {names[c]}"[:20], fill=(0, 0, 0))
    tmp_out = a.output + ".tmp.png"
    im.save(tmp_out)
    os.replace(tmp_out, a.output)
    print(f"wrote {a.output}: {len(ids)} classes, n = {', '.join(map(str, a.parallel))}, frames {shown}")


if __name__ == "__main__":
    main()
