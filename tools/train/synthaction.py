"""SynthAction-101: a seeded procedural video data set (numpy only).

101 classes named after UCF-101's actions (tools/ucf101_classes.txt, 0-based
ids in file order). A class fixes an actor (shape, two-tone fill), a motion
(path, speed, rotation, pulsing scale) and a colour palette for the actor and
the flat background; a clip draws its start position, phase, size and colours
within the palette from its own seed. Clips are 17 x 64 x 64 RGB uint8
(F, H, W, 3).

Splits are by seed: train seeds are [0, TEST_SEED_BASE), test seeds are
[TEST_SEED_BASE, 2**31). `clip(class_id, seed)` is a pure function of its
arguments, so any clip can be regenerated anywhere.

Version 2 (VERSION) is made for a tokenizer with 4 x 4-pixel, 4-frame cells:
large actors (radius 15-19 px) with soft edges (tanh, about 3 px) and smooth
two-tone fills on flat backgrounds. Nothing in a clip is finer than the actor's
edge, and the class lives in the actor's shape, colours and motion, not in
background texture. (Version 1 had 8-12 px actors with 1.5 px edges on
patterned backgrounds; tools/TRAINING.md has the measurements that led here.)
Motion is slow (at most about 2.5 px per frame): one latent frame stands for 4
video frames.
"""
from __future__ import annotations

import os

import numpy as np

FRAMES, SIZE = 17, 64
NUM_CLASSES = 101
VERSION = 2
TEST_SEED_BASE = 1 << 30

SHAPES = ("circle", "square", "triangle", "diamond", "ring", "cross", "star", "ellipse", "bar")
PATHS = ("orbit", "horizontal", "vertical", "diagonal", "bounce", "zigzag", "wave",
         "figure8", "spiral", "pendulum", "pulse_in_place", "jump_across")


def class_names() -> list[str]:
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ucf101_classes.txt")
    with open(path) as f:
        names = [line.strip() for line in f if line.strip()]
    assert len(names) == NUM_CLASSES, f"{path}: expected {NUM_CLASSES} names, found {len(names)}"
    return names


def _class_table() -> list[dict]:
    # (shape, path) pairs are unique per class: a fixed permutation of the
    # 9 x 12 grid, first 101 entries. The other attributes come from a
    # class-seeded generator so that neighbouring ids differ in several ways.
    grid = [(s, p) for s in range(len(SHAPES)) for p in range(len(PATHS))]
    order = np.random.default_rng(20241215).permutation(len(grid))[:NUM_CLASSES]
    table = []
    for c in range(NUM_CLASSES):
        rng = np.random.default_rng(7919 * (c + 1))
        shape, path = grid[order[c]]
        hue = (c * 0.6180339887) % 1.0                     # golden-ratio spread of actor hues
        hue2 = hue + float(rng.choice([0.08, 0.25, 0.5]))  # second tone of the actor
        bg_hue = hue + float(rng.uniform(0.3, 0.7))
        bg_value = float(rng.choice([0.25, 0.45, 0.7]))
        # The palette is discrete: a clip picks one of 3 actor colourings and one of 3
        # background colourings. Continuous colour jitter would spend the tokenizer's
        # code per cell on colour precision instead of shape and motion.
        actor_palette = [(_hsv_to_rgb(hue + dh, s1, v1), _hsv_to_rgb(hue2 + dh, s2, v2))
                         for dh, s1, v1, s2, v2 in ((0.0, 0.9, 0.95, 0.75, 0.75),
                                                    (0.03, 0.75, 0.85, 0.8, 0.7),
                                                    (-0.03, 1.0, 0.9, 0.65, 0.85))]
        bg_palette = [_hsv_to_rgb(bg_hue + dh, s0, bg_value + dv)
                      for dh, s0, dv in ((0.0, 0.35, 0.0), (0.04, 0.45, -0.06), (-0.04, 0.3, 0.06))]
        table.append(dict(
            shape=shape,
            path=path,
            hue=hue,
            actor_palette=actor_palette,
            bg_palette=bg_palette,
            speed=float(rng.choice([0.15, 0.25, 0.4])),       # path cycles per clip (scaled per path)
            spin=float(rng.choice([-0.5, -0.25, 0.0, 0.25, 0.5])),  # turns per clip * pi
            pulse=float(rng.choice([0.0, 0.0, 0.15])),        # relative size oscillation
            size=float(rng.uniform(15.0, 19.0)),              # actor radius in pixels
        ))
    return table



def _hsv_to_rgb(h, s, v):
    h = np.asarray(h, np.float64) % 1.0
    i = np.floor(h * 6.0)
    f = h * 6.0 - i
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    i = i.astype(int) % 6
    r = np.choose(i, [v, q, p, p, t, v])
    g = np.choose(i, [t, v, v, q, p, p])
    b = np.choose(i, [p, p, t, v, v, q])
    return np.stack([r, g, b], -1)


CLASSES = _class_table()


def _path(kind: str, t, phase, speed, rng):
    """Actor centre offsets in [-1, 1] units for times t in [0, 1]."""
    w = 2 * np.pi * (speed * t + phase)
    if kind == "orbit":
        return 0.55 * np.cos(w), 0.55 * np.sin(w)
    if kind == "horizontal":
        return 0.7 * np.sin(w), np.zeros_like(t)
    if kind == "vertical":
        return np.zeros_like(t), 0.7 * np.sin(w)
    if kind == "diagonal":
        return 0.6 * np.sin(w), 0.6 * np.sin(w)
    if kind == "bounce":
        return 0.5 * np.sin(0.5 * w), 0.7 - 1.3 * np.abs(np.sin(w))
    if kind == "zigzag":
        tri = 2 * np.abs(2 * ((speed * t + phase) % 1.0) - 1) - 1
        return 0.7 * tri, 0.45 * np.sign(np.sin(2 * w)) * np.abs(np.sin(2 * w)) ** 0.3
    if kind == "wave":
        x = 1.6 * ((0.5 * speed * t + phase) % 1.0) - 0.8
        return x, 0.4 * np.sin(3 * w)
    if kind == "figure8":
        return 0.6 * np.sin(w), 0.45 * np.sin(2 * w)
    if kind == "spiral":
        r = 0.15 + 0.5 * (0.5 + 0.5 * np.sin(0.5 * w))
        return r * np.cos(2 * w), r * np.sin(2 * w)
    if kind == "pendulum":
        a = 0.9 * np.sin(w)
        return 0.7 * np.sin(a), -0.5 + 0.9 * np.cos(a) - 0.2
    if kind == "pulse_in_place":
        return 0.1 * np.sin(3 * w), 0.1 * np.cos(3 * w)
    if kind == "jump_across":
        x = 1.5 * ((0.5 * speed * t + phase) % 1.0) - 0.75
        return x, 0.5 - 1.1 * np.abs(np.sin(1.5 * w))
    raise ValueError(f"unknown path {kind}")


def _sdf(shape: str, u, v, r):
    """Approximate signed distance (pixels) of local coords (u, v) to a shape of radius r."""
    if shape == "circle":
        return np.hypot(u, v) - r
    if shape == "square":
        return np.maximum(np.abs(u), np.abs(v)) - 0.8 * r
    if shape == "triangle":
        k = np.sqrt(3.0) / 2
        return np.maximum.reduce([v - 0.5 * r, -k * u - 0.5 * v - 0.5 * r, k * u - 0.5 * v - 0.5 * r]) * 1.2
    if shape == "diamond":
        return (np.abs(u) + np.abs(v) - 1.1 * r) * 0.7071
    if shape == "ring":
        return np.abs(np.hypot(u, v) - 0.8 * r) - 0.3 * r
    if shape == "cross":
        arm_h = np.maximum(np.abs(u) - r, np.abs(v) - 0.3 * r)
        arm_v = np.maximum(np.abs(v) - r, np.abs(u) - 0.3 * r)
        return np.minimum(arm_h, arm_v)
    if shape == "star":
        phi = np.arctan2(v, u)
        return (np.hypot(u, v) - r * (0.75 + 0.3 * np.cos(5 * phi))) * 0.8
    if shape == "ellipse":
        return (np.hypot(u / 1.4, v / 0.7) - r) * 0.7
    if shape == "bar":
        return np.maximum(np.abs(u) - 1.3 * r, np.abs(v) - 0.35 * r)
    raise ValueError(f"unknown shape {shape}")


def clip(class_id: int, seed: int) -> np.ndarray:
    """One clip of class `class_id`: (17, 64, 64, 3) uint8, a pure function of (class_id, seed)."""
    if not 0 <= class_id < NUM_CLASSES:
        raise ValueError(f"class id {class_id} out of range [0, {NUM_CLASSES})")
    if seed < 0:
        raise ValueError(f"seed {seed} must be non-negative")
    cls = CLASSES[class_id]
    rng = np.random.default_rng([class_id, seed])
    t = np.arange(FRAMES) / (FRAMES - 1)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64) - (SIZE - 1) / 2

    bg = cls["bg_palette"][rng.integers(len(cls["bg_palette"]))]
    frames = np.broadcast_to(bg, (FRAMES, SIZE, SIZE, 3))

    # Actor trajectory: class path, clip phase/offset/speed jitter.
    phase = rng.uniform(0, 1)
    speed = cls["speed"] * rng.uniform(0.9, 1.1)
    px, py = _path(PATHS[cls["path"]], t, phase, speed, rng)
    off = rng.uniform(-0.15, 0.15, 2)
    radius0 = cls["size"] * rng.uniform(0.9, 1.1)
    half = SIZE / 2 - 0.6 * radius0                                 # the actor stays mostly in frame
    cx = np.clip(px + off[0], -1, 1) * half
    cy = np.clip(py + off[1], -1, 1) * half
    theta = rng.uniform(0, 2 * np.pi) + np.pi * cls["spin"] * t
    radius = radius0 * (1 + cls["pulse"] * np.sin(2 * np.pi * (t + phase)))

    # Local coordinates of every pixel in every frame: (F, H, W).
    dx = xx[None] - cx[:, None, None]
    dy = yy[None] - cy[:, None, None]
    ct, st = np.cos(theta)[:, None, None], np.sin(theta)[:, None, None]
    u = ct * dx + st * dy
    v = -st * dx + ct * dy
    d = _sdf(SHAPES[cls["shape"]], u, v, radius[:, None, None])
    alpha = 0.5 - 0.5 * np.tanh(d / 3.0)[..., None]                # soft edge, about 3 px

    col_a, col_b = cls["actor_palette"][rng.integers(len(cls["actor_palette"]))]
    side = np.clip(0.5 + u / radius[:, None, None], 0.0, 1.0)[..., None]  # smooth two-tone fill shows the spin
    actor = col_a * side + col_b * (1 - side)

    out = frames * (1 - alpha) + actor * alpha
    return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)


def train_seed(i: int) -> int:
    """Seed of the i-th training clip of a class."""
    if not 0 <= i < TEST_SEED_BASE:
        raise ValueError(f"train index {i} out of range")
    return i


def test_seed(i: int) -> int:
    """Seed of the i-th held-out clip of a class (disjoint from every train seed)."""
    if not 0 <= i < (1 << 31) - TEST_SEED_BASE:
        raise ValueError(f"test index {i} out of range")
    return TEST_SEED_BASE + i


def batch(class_ids, seeds) -> np.ndarray:
    """Stack of clips: (B, 17, 64, 64, 3) uint8."""
    return np.stack([clip(int(c), int(s)) for c, s in zip(class_ids, seeds)])


def split_item(split: str, index: int) -> tuple[int, int]:
    """(class_id, seed) of item `index` of a split; classes cycle so any prefix is balanced."""
    c = index % NUM_CLASSES
    i = index // NUM_CLASSES
    return c, (train_seed(i) if split == "train" else test_seed(i))


if __name__ == "__main__":
    import argparse
    import time

    ap = argparse.ArgumentParser(description="SynthAction-101 preview / timing")
    ap.add_argument("--preview", help="write a PNG strip of several classes here")
    ap.add_argument("--classes", default="0,12,25,40,57,73,88,100")
    ap.add_argument("--time", type=int, default=0, help="time generating this many clips")
    a = ap.parse_args()
    if a.time:
        t0 = time.time()
        for k in range(a.time):
            clip(k % NUM_CLASSES, k)
        print(f"{a.time / (time.time() - t0):.1f} clips/s")
    if a.preview:
        from PIL import Image, ImageDraw  # one-off tool; the generator itself is numpy only

        ids = [int(x) for x in a.classes.split(",")]
        names = class_names()
        frames_shown = list(range(0, FRAMES, 2))
        rows = []
        for c in ids:
            x = clip(c, 0)[frames_shown]                          # (9, 64, 64, 3)
            rows.append(np.concatenate(list(x), axis=1))
        label_w = 120
        img = np.full((len(rows) * SIZE, label_w + rows[0].shape[1], 3), 255, np.uint8)
        for r, row in enumerate(rows):
            img[r * SIZE:(r + 1) * SIZE, label_w:] = row
        im = Image.fromarray(img)
        draw = ImageDraw.Draw(im)
        for r, c in enumerate(ids):
            draw.text((4, r * SIZE + 26), f"{c} {names[c]}"[:19], fill=(0, 0, 0))
        im.save(a.preview)
        print(f"wrote {a.preview}")
