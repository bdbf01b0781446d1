"""How far can the built-in tokenizer's network family go with far more compute? (diagnostic)

Issue 6 asks for >= 30 dB held-out PSNR from a tokenizer trained within 6 hours of
the project's 2-core machine; tools/TRAINING.md shows the shipped layout at 21.4 dB
and learning ~0.7 dB per doubling of steps there. This script answers the question
behind that: is the target out of reach for lack of compute, or for the network?
It trains the same layout (tools/magvit2_torch.py, same loss, same offset penalty)
on a GPU, on whole 17x64x64 clips, for a fixed wall-clock time, and logs held-out
PSNR over time. Its weights are a measurement, not the shipped model (the issue
fixes training to the CPU budget), so they are written to --out only.

    python3 tools/tokenizer_capacity_gpu.py --minutes 7 --out /tmp/cap --name shipped
"""
from __future__ import annotations

import argparse
import copy
import math
import multiprocessing as mp
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import magvit2_torch as M  # noqa: E402
import synthaction as S  # noqa: E402
import train_tokenizer as T  # noqa: E402


def _train_clip(i: int) -> np.ndarray:
    return S.clip(*S.split_item("train", i))


def _test_clip(i: int) -> np.ndarray:
    return S.clip(*S.split_item("test", i))


def clips(fn, count: int, workers: int) -> np.ndarray:
    if workers <= 1:
        return np.stack([fn(i) for i in range(count)])
    with mp.Pool(workers) as pool:
        return np.stack(pool.map(fn, range(count), chunksize=64))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--name", default="shipped")
    ap.add_argument("--minutes", type=float, default=7.0, help="training wall-clock time (after the data is made)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--offset-penalty", type=float, default=0.2)
    ap.add_argument("--pool", type=int, default=30000, help="distinct training clips (made once, sampled at random)")
    ap.add_argument("--eval-clips", type=int, default=64)
    ap.add_argument("--eval-every-s", type=float, default=30.0)
    ap.add_argument("--enc-channels"), ap.add_argument("--enc-res")
    ap.add_argument("--dec-channels"), ap.add_argument("--dec-res")
    ap.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--out", default="runs/capacity")
    a = ap.parse_args()

    t_start = time.time()
    def log(msg):
        print(f"[{a.name} {time.time() - t_start:7.1f}s] {msg}", flush=True)

    cfg = copy.deepcopy(M.SMALL_CONFIG)
    for key, part, field in (("enc_channels", "encoder", "channels"), ("enc_res", "encoder", "res_units"),
                             ("dec_channels", "decoder", "channels"), ("dec_res", "decoder", "res_units")):
        if getattr(a, key):
            cfg[part][field] = [int(v) for v in getattr(a, key).split(",")]
    dev = torch.device(a.device)
    model = M.VideoTokenizer(cfg)
    model.init_for_training()
    model.to(dev)
    log(f"device {dev} ({torch.cuda.get_device_name() if dev.type == 'cuda' else 'cpu'}), "
        f"params {sum(p.numel() for p in model.parameters())}, config {cfg}")

    train = torch.from_numpy(clips(_train_clip, a.pool, a.workers)).to(dev)          # uint8 (N, F, H, W, 3)
    test = torch.from_numpy(clips(_test_clip, a.eval_clips, a.workers)).to(dev)
    log(f"{len(train)} training clips, {len(test)} held-out clips made")

    def to_input(u8):
        return u8.permute(0, 4, 1, 2, 3).float().div_(255.0)

    offset_terms = T.offset_penalty_terms(model) if a.offset_penalty > 0 else []

    def heldout_psnr() -> float:
        model.eval()
        se, n = 0.0, 0
        with torch.no_grad():
            for i in range(0, len(test), 16):
                x = to_input(test[i:i + 16])
                y, _ = model(x)
                se += float(((y.clamp(0, 1) - x) ** 2).sum())
                n += x.numel()
        model.train()
        return 10 * math.log10(1.0 / (se / n))

    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, betas=(0.9, 0.99), weight_decay=0.0)
    gen = torch.Generator(device=dev).manual_seed(0)
    deadline = time.time() + 60 * a.minutes
    step, t_eval, t0 = 0, time.time(), time.time()
    log(f"step 0 held-out PSNR {heldout_psnr():.2f} dB")
    while time.time() < deadline:
        # Constant lr after a 200-step warm-up: the run's length is set by the clock.
        for g in opt.param_groups:
            g["lr"] = a.lr * min(1.0, (step + 1) / 200)
        idx = torch.randint(0, len(train), (a.batch,), device=dev, generator=gen)
        x = to_input(train[idx])
        _, loss = T.train_step(model, opt, x, offset_terms, a.offset_penalty, dev.type, True)
        step += 1
        if time.time() - t_eval > a.eval_every_s:
            log(f"step {step} ({step * a.batch} clips, {(time.time() - t0) / step * 1e3:.0f} ms/step) "
                f"loss {loss.item():.5f} held-out PSNR {heldout_psnr():.2f} dB")
            t_eval = time.time()
    log(f"final step {step} ({step * a.batch} clips) held-out PSNR {heldout_psnr():.2f} dB")
    os.makedirs(a.out, exist_ok=True)
    torch.save({"model": {k: v.detach().float().cpu() for k, v in model.state_dict().items()},
                "steps": step, "config": cfg}, os.path.join(a.out, f"{a.name}.pt"))


if __name__ == "__main__":
    main()
