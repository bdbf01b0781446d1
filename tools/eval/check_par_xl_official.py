#!/usr/bin/env python3
"""Greedy tokens of a full-size random-weight PAR model from the official PAR code
(local only: needs torch and a checkout of github.com/YuqingWang1029/PAR, which
is not in this repository).

    python3 -m tools.eval.check_par_xl_official --official DIR --parallel 4 \
        --save-pt /tmp/par-xl-4x.pt --out /tmp/par-xl-4x [--classes 207 360] [--cfg 1.5] [--size XL]

DIR is the checkout root (autoregressive/models/gpt.py, generate.py and
utils/drop_path.py are imported from it). Builds GPT_XL (or --size) for
ImageNet geometry (1000 classes, 24 x 24 tokens, vocabulary 16384) with the
official init, then redraws what that init leaves degenerate: the output head
(zeros) and the norm gains (ones). Saves it the way the published checkpoints
are ({"model": state_dict}), runs the official generate() with top-k 1 and CFG
(batch [cond, uncond], null class = 1000) and writes <out>_c<class>.npy: int32
24 x 24 grids in raster order. The smallest top-1/top-2 gap of the guided
logits is printed, so a tie that float order could flip would show.

Compare with `par-video tokens` on the converted bundle (docs/CONVERTING.md);
BENCHMARKS.md ("PAR-XL at full geometry") records the result.
"""
import argparse
import os
import sys
import time

import numpy as np

from tools.bench.bench_par_official import load
from tools.reference.par_sequence import from_par

GRID = 24


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--official", required=True, help="root of a PAR checkout")
    p.add_argument("--parallel", type=int, default=4, choices=[4, 16])
    p.add_argument("--size", default="XL", choices=["B", "L", "XL", "XXL", "3B"])
    p.add_argument("--classes", type=int, nargs="+", default=[207, 360])
    p.add_argument("--cfg", type=float, default=1.5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--logit-std", type=float, default=30.0, help="std of the logits the redrawn output head gives")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--save-pt", required=True)
    p.add_argument("--out", required=True, help="prefix of the .npy grids")
    a = p.parse_args()
    import torch
    torch.set_num_threads(a.threads)
    # gpt.py imports utils.drop_path from the checkout root
    sys.path.insert(0, a.official)
    gpt = load(os.path.join(a.official, "autoregressive/models/gpt.py"), "official_gpt")
    gen = load(os.path.join(a.official, "autoregressive/models/generate.py"), "official_generate")
    n = a.parallel
    torch.manual_seed(a.seed)
    t0 = time.time()
    model = getattr(gpt, "GPT_" + a.size)(num_classes=1000, vocab_size=16384, block_size=GRID * GRID,
                                          cls_token_num=1, ar_token_num=n, spe_token_num=n - 1)
    with torch.no_grad():
        model.output.weight.normal_(0.0, a.logit_std / model.config.dim ** 0.5)
        for name, t in model.named_parameters():
            if "norm" in name:
                t.add_(0.1 * torch.randn_like(t))
    model.eval()
    params = sum(t.numel() for t in model.parameters())
    torch.save({"model": model.state_dict()}, a.save_pt)
    print(f"built and saved {a.size} n={n}: {params} parameters, {time.time() - t0:.1f} s", file=sys.stderr)

    gaps = []
    sample, sample_multi = gen.sample, gen.sample_multi

    def gap(logits):
        top = torch.topk(logits.float(), 2, dim=-1).values
        gaps.append(float((top[..., 0] - top[..., 1]).min()))

    def sample_gap(logits, **kw):
        gap(logits[:, -1, :])
        return sample(logits, **kw)

    def sample_multi_gap(logits, spe_token_num=4, **kw):
        gap(logits[:, -spe_token_num:, :])
        return sample_multi(logits, spe_token_num=spe_token_num, **kw)

    gen.sample, gen.sample_multi = sample_gap, sample_multi_gap
    cond = torch.tensor(a.classes, dtype=torch.long)
    t0 = time.time()
    with torch.no_grad():
        seq = gen.generate(model, cond, GRID * GRID, cfg_scale=a.cfg, ar_token_num=n, spe_token_num=n - 1,
                           temperature=1.0, top_k=1, top_p=1.0, sample_logits=True)
    dt = time.time() - t0
    seq = seq.numpy().astype(np.int32)
    for c, s in zip(a.classes, seq):
        grid = from_par(s, (1, GRID, GRID), n)[0].astype(np.int32)
        np.save(f"{a.out}_c{c}.npy", grid)
        print(f"class {c}: {len(np.unique(grid))} distinct tokens, first row {grid[0, :8].tolist()}", file=sys.stderr)
    print(f"official generate: {dt:.1f} s for {len(a.classes)} images ({dt / len(a.classes):.1f} s per image), "
          f"{a.threads} thread(s); smallest guided top-1/top-2 logit gap {min(gaps):.4g}", file=sys.stderr)


if __name__ == "__main__":
    main()
