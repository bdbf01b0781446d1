"""Sample clips from a trained PAR GPT + tokenizer in PyTorch (SPEC 5 schedule, no KV cache).

For checking what training produced, before the Swift engine exists. Each
step re-runs the teacher-forced forward on the tokens decoded so far (tokens
not yet known are zeros; the SPEC mask guarantees the logits used never see
them), which costs more than a cached decoder but shares the trained code path.

    python3 -m tools.train.sample_gpt --gpt models/train/gpt_n1.pt --classes 0,12,40 --out runs/samples_n1.npz
"""
from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

from tools.train import gpt_torch as G
from tools.reference import par_sequence as P
from tools.train.encode_synthaction import load_tokenizer


def schedule(N: int, n: int) -> list[list[int]]:
    """Token indices sampled at each decode step (SPEC 5)."""
    steps = [[k] for k in range(n)]
    steps += [list(range(k, k + n)) for k in range(n, N, n)]
    return steps


def filter_logits(logits, top_k: int, top_p: float):
    if 0 < top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, -1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        srt, order = torch.sort(logits, -1, descending=True)
        cum = torch.softmax(srt, -1).cumsum(-1)
        drop = cum - torch.softmax(srt, -1) > top_p
        srt = srt.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, srt)
    return logits


@torch.no_grad()
def sample(model, labels, cfg_scale=1.15, temperature=1.0, top_k=0, top_p=1.0, generator=None):
    """labels (B,) -> token sequences (B, N) in PAR order."""
    n = model.cfg["parallel"]
    N = math.prod(model.cfg["cube"])
    B = len(labels)
    seq = torch.zeros(B, N, dtype=torch.long)
    lab = torch.as_tensor(labels, dtype=torch.long)
    null = torch.full_like(lab, model.cfg["num_classes"])
    for ks in schedule(N, n):
        if cfg_scale != 1.0:
            out = model(torch.cat([seq, seq]), torch.cat([lab, null]))[:, ks]
            c, u = out[:B], out[B:]
            logits = u + cfg_scale * (c - u)
        else:
            logits = model(seq, lab)[:, ks]
        logits = filter_logits(logits / max(temperature, 1e-6), top_k, top_p)
        probs = torch.softmax(logits, -1)
        seq[:, ks] = torch.multinomial(probs.reshape(-1, probs.shape[-1]), 1, generator=generator).reshape(B, len(ks))
    return seq


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gpt", required=True)
    ap.add_argument("--tokenizer", default="models/train/tokenizer.pt")
    ap.add_argument("--classes", default="0,12,25,40,57,73,88,100")
    ap.add_argument("--cfg", type=float, default=1.15)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--top-k", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True, help=".npz with tokens (B,T,H,W) and clips (B,F,h,w,3) uint8")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model, st = G.load_from(a.gpt)
    model.eval()
    labels = [int(c) for c in a.classes.split(",")]
    g = torch.Generator().manual_seed(a.seed)
    t0 = time.time()
    seq = sample(model, labels, a.cfg, a.temperature, a.top_k, generator=g)
    cube = tuple(model.cfg["cube"])
    toks = P.from_par(seq.numpy(), cube, model.cfg["parallel"])
    t1 = time.time()
    tok = load_tokenizer(a.tokenizer)
    with torch.no_grad():
        video = tok.decode_indices(torch.from_numpy(toks)).clamp(0, 1)
    clips = (video.permute(0, 2, 3, 4, 1).numpy() * 255).round().astype(np.uint8)
    np.savez(a.out, tokens=toks, clips=clips, labels=np.array(labels))
    print(f"{len(labels)} clips, n={model.cfg['parallel']}, sampling {t1 - t0:.1f} s, decode {time.time() - t1:.1f} s -> {a.out}")


if __name__ == "__main__":
    main()
