"""Encode SynthAction-101 clips to 5x16x16 token cubes with the trained tokenizer (resumable by chunk).

Writes runs/tokens/<split>_<k>.npz with `tokens` (M, 5, 16, 16) int16 (raster
(t, y, x) order, not PAR order), `labels` (M,) int16 and `items` (M,) int64
(split item indices, see synthaction.split_item) and `encoder`, the digest of the
encoder that made them (tools/train/encoder_digest.py). Chunks already on disk
are skipped, so re-running continues; a chunk from another encoder is refused.

    nohup nice -n 19 python3 -m tools.train.encode_synthaction --split train --count 20200 > runs/encode.log 2>&1 &
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from tools.train import clip_cache
from tools.train import magvit2_torch as M
from tools.train import synthaction as S
from tools.train.encoder_digest import check_chunk, encoder_digest


def load_tokenizer(path: str) -> M.VideoTokenizer:
    st = torch.load(path, map_location="cpu", weights_only=False)
    model = M.VideoTokenizer(st["config"])
    model.load_state_dict({k: v.float() for k, v in st["model"].items()})
    return model.eval()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokenizer", default="models/train/tokenizer.pt")
    ap.add_argument("--split", default="train", choices=["train", "test"])
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--count", type=int, default=20200)
    ap.add_argument("--chunk", type=int, default=1010)
    ap.add_argument("--batch", type=int, default=10)
    ap.add_argument("--bf16", type=int, default=0)
    ap.add_argument("--out", default="runs/tokens")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cache", default="runs/data", help="folder of rendered clips (tools/train/clip_cache.py), used when it covers the items")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    os.makedirs(a.out, exist_ok=True)
    model = load_tokenizer(a.tokenizer)
    digest = encoder_digest(model.state_dict())
    print(f"encoder {digest} ({a.tokenizer})", flush=True)
    cached = clip_cache.load(a.cache, a.split, a.start + a.count) if a.cache else None
    if cached is None and a.cache and os.path.isdir(a.cache):
        # any finished cache of this split that is long enough will do (item i is row i in all of them)
        for name in sorted(os.listdir(a.cache)):
            stem, _, ext = name.partition(".")
            sp, _, n = stem.partition("_")
            if ext == "npy" and sp == a.split and n.isdigit() and int(n) >= a.start + a.count:
                cached = clip_cache.load(a.cache, a.split, int(n))
                if cached is not None:
                    break
    for c0 in range(a.start, a.start + a.count, a.chunk):
        path = os.path.join(a.out, f"{a.split}_{c0 // a.chunk:04d}.npz")
        if os.path.exists(path):
            check_chunk(path, digest)
            continue
        t0 = time.time()
        items = np.arange(c0, min(c0 + a.chunk, a.start + a.count))
        toks, labels = [], []
        for b0 in range(0, len(items), a.batch):
            part = items[b0:b0 + a.batch]
            cs = [S.split_item(a.split, int(i)) for i in part]
            u8 = np.asarray(cached[part[0]:part[-1] + 1]) if cached is not None else S.batch(*zip(*cs))
            x = torch.from_numpy(u8).permute(0, 4, 1, 2, 3).float().div_(255.0)
            with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bool(a.bf16)):
                z = model.encode(x)
            toks.append(model.quantizers(z.float())[1].numpy().astype(np.int16))
            labels += [c for c, _ in cs]
        tmp = path + ".tmp.npz"
        np.savez(tmp, tokens=np.concatenate(toks), labels=np.array(labels, np.int16), items=items,
                 encoder=np.array(digest))
        os.replace(tmp, path)
        dt = time.time() - t0
        print(time.strftime("%H:%M:%S"), f"{path}: {len(items)} clips in {dt:.0f} s ({len(items) / dt:.1f} clips/s)",
              flush=True)


if __name__ == "__main__":
    main()
