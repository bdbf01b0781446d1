"""SynthAction-101 clips rendered once into a uint8 .npy file, for the trainers and the encoder.

Rendering a clip costs about as much CPU as a tokenizer training step on two clips, so the
trainers read clips from this file (memory-mapped) instead of rendering them every step.
Item i of the file is `synthaction.split_item(split, i)`: the file is a pure function of
(split, count) and can be rebuilt anywhere. Building is resumable: rows are written in
chunks and a sidecar `.done` file holds the number of finished rows.

    python3 -m tools.train.clip_cache --split train --count 10100   # runs/data/train_v2_10100.npy

The file name carries synthaction.VERSION, so clips of an older version of the data are never
read as the current one.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

from tools.train import synthaction as S


def cache_path(folder: str, split: str, count: int) -> str:
    return os.path.join(folder, f"{split}_v{S.VERSION}_{count}.npy")


def done_rows(path: str) -> int:
    try:
        with open(path + ".done") as f:
            return int(f.read().strip() or 0)
    except FileNotFoundError:
        return 0


def build(folder: str, split: str, count: int, chunk: int = 101, log=print) -> str:
    path = cache_path(folder, split, count)
    os.makedirs(folder, exist_ok=True)
    shape = (count, S.FRAMES, S.SIZE, S.SIZE, 3)
    if os.path.exists(path):
        arr = np.load(path, mmap_mode="r+")
        if arr.shape != shape or arr.dtype != np.uint8:
            raise SystemExit(f"clip_cache: {path} holds {arr.shape} {arr.dtype}, expected {shape} uint8")
    else:
        arr = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=shape)
    start, t0 = done_rows(path), time.time()
    for c0 in range(start, count, chunk):
        c1 = min(count, c0 + chunk)
        arr[c0:c1] = np.stack([S.clip(*S.split_item(split, i)) for i in range(c0, c1)])
        arr.flush()
        with open(path + ".done.tmp", "w") as f:
            f.write(str(c1))
        os.replace(path + ".done.tmp", path + ".done")
        if (c1 // chunk) % 10 == 0 or c1 == count:
            log(f"{time.strftime('%H:%M:%S')} {path}: {c1}/{count} clips ({(c1 - start) / (time.time() - t0):.1f} clips/s)")
    return path


def load(folder: str, split: str, count: int) -> np.ndarray | None:
    """The finished cache as a read-only memory map, or None when it is missing or incomplete."""
    path = cache_path(folder, split, count)
    if not os.path.exists(path) or done_rows(path) < count:
        return None
    return np.load(path, mmap_mode="r")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--split", default="train", choices=["train", "test"])
    ap.add_argument("--count", type=int, default=10100)
    ap.add_argument("--folder", default="runs/data")
    a = ap.parse_args()
    if a.count <= 0:
        raise SystemExit("clip_cache: --count must be positive")
    build(a.folder, a.split, a.count, log=lambda m: print(m, flush=True))


if __name__ == "__main__":
    main()
