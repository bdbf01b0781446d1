"""The whole built-in model in one time-boxed run on a lent GPU: tokenizer, token cubes, GPTs.

Made for the device machine (one command of at most 10 minutes, nothing installed, no
network): clips are rendered on all CPU cores, the tokenizer continues from
models/train/tokenizer.pt when its config matches (else starts fresh), every clip is
encoded, then the n = 1 GPT trains and n = 4 and n = 16 are fine-tuned from it. Each
stage has a wall-clock budget; held-out PSNR and losses are logged. The compact files
(the trainers' format: fp32 tokenizer, bf16 GPTs) and a JSON summary go to --out, to be
copied into models/train/ and exported with tools/train/export_builtin.py:

    python3 -m tools.train.train_builtin_gpu --out $OUT --tok-minutes 5 --gpt-minutes 1.2,0.6,0.6

Runs on the CPU too (same code), which is how it is tested: tools/tests/test_train_builtin_gpu.py.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import multiprocessing as mp
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

from tools.train import gpt_torch as G
from tools.train import magvit2_torch as M
from tools.reference import par_sequence as P
from tools.train import synthaction as S
from tools.train import train_gpt as TG
from tools.train import train_tokenizer as T
from tools.train.train_common import compact_state


def _render(args) -> np.ndarray:
    split, i = args
    return S.clip(*S.split_item(split, i))


def render(split: str, count: int, workers: int) -> np.ndarray:
    jobs = [(split, i) for i in range(count)]
    if workers <= 1:
        return np.stack([_render(j) for j in jobs])
    with mp.get_context("fork").Pool(workers) as pool:
        return np.stack(pool.map(_render, jobs, chunksize=32))


def load_compatible(model: torch.nn.Module, path: str, config: dict, log) -> int:
    """Weights of `path` into `model` when it was saved for the same config; returns its steps."""
    if not os.path.exists(path):
        return 0
    st = torch.load(path, map_location="cpu", weights_only=False)
    if st.get("config") != config:
        log(f"{path}: another config, starting fresh")
        return 0
    model.load_state_dict({k: v.float() for k, v in st["model"].items()})
    log(f"{path}: continuing from step {st['steps']}")
    return int(st["steps"])


def to_input(u8: torch.Tensor) -> torch.Tensor:
    return u8.permute(0, 4, 1, 2, 3).float().div_(255.0)


def train_tokenizer(a, dev, train_u8, test_u8, log) -> tuple[M.VideoTokenizer, dict]:
    cfg = copy.deepcopy(M.SMALL_CONFIG)
    model = M.VideoTokenizer(cfg)
    model.init_for_training()
    steps0 = load_compatible(model, os.path.join(a.models, "tokenizer.pt"), cfg, log)
    model.to(dev)
    offset_terms = T.offset_penalty_terms(model) if a.offset_penalty > 0 else []

    test = to_input(test_u8)

    def heldout() -> float:
        return T.psnr(model, test, batch=16)

    opt = torch.optim.AdamW(model.parameters(), lr=a.tok_lr, betas=(0.9, 0.99), weight_decay=0.0)
    gen = torch.Generator(device=dev).manual_seed(steps0)
    curve = [(steps0, heldout())]
    log(f"tokenizer: step {steps0} held-out PSNR {curve[-1][1]:.2f} dB")
    step, t0, t_eval = 0, time.time(), time.time()
    deadline = t0 + 60 * a.tok_minutes
    warmup = 0 if steps0 else 200
    while time.time() < deadline:
        # The last fifth of the budget decays the rate linearly to a tenth: a clock-set schedule.
        frac = (time.time() - t0) / (60 * a.tok_minutes)
        scale = min(1.0, (step + 1) / warmup) if warmup else 1.0
        if frac > 0.8:
            scale *= 1.0 - 0.9 * (frac - 0.8) / 0.2
        for g in opt.param_groups:
            g["lr"] = a.tok_lr * scale
        idx = torch.randint(0, len(train_u8), (a.tok_batch,), device=dev, generator=gen)
        x = to_input(train_u8[idx])
        if a.flip:
            x = torch.where(torch.rand(len(x), 1, 1, 1, 1, device=dev, generator=gen) < 0.5, x.flip(-1), x)
        T.train_step(model, opt, x, offset_terms, a.offset_penalty, dev.type, True, a.detail_loss)
        step += 1
        if time.time() - t_eval > a.eval_every_s:
            curve.append((steps0 + step, heldout()))
            log(f"tokenizer: step {steps0 + step} ({(time.time() - t0) / step * 1e3:.0f} ms/step) "
                f"held-out PSNR {curve[-1][1]:.2f} dB")
            t_eval = time.time()
    curve.append((steps0 + step, heldout()))
    log(f"tokenizer: final step {steps0 + step} held-out PSNR {curve[-1][1]:.2f} dB")
    torch.save({"model": compact_state(model, torch.float32), "steps": steps0 + step, "config": cfg, "data": S.VERSION},
               os.path.join(a.out, "tokenizer.pt"))
    return model.eval(), {"steps": steps0 + step, "psnr_curve": curve}


def encode(model, clips_u8, batch=32) -> np.ndarray:
    out = []
    with torch.no_grad():
        for i in range(0, len(clips_u8), batch):
            z = model.encode(to_input(clips_u8[i:i + batch]))
            out.append(model.quantizers(z.float())[1].cpu().numpy().astype(np.int64))
    return np.concatenate(out)


def train_gpt(a, dev, n: int, minutes: float, toks, labels, test_t, test_l, init: dict | None, log):
    cube = list(toks.shape[1:])
    vocab = int(np.prod(M.SMALL_CONFIG["fsq_levels"]))
    cfg = G.default_config(dim=a.dim, n_layer=a.n_layer, n_head=a.n_head, parallel=n, cube=cube, vocab_size=vocab)
    model = G.GPT(cfg)
    name = f"gpt_n{n}"
    steps0 = load_compatible(model, os.path.join(a.models, name + ".pt"), cfg, log)
    if steps0 == 0 and init is not None:
        sd = {k: v for k, v in init.items() if not k.startswith("spe_tok_embeddings")}
        model.load_state_dict(sd, strict=False)
        log(f"{name}: initialised from n = 1")
    model.to(dev)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.gpt_lr, betas=(0.9, 0.95))
    rng = np.random.default_rng(steps0 + n)

    step, t0 = 0, time.time()
    deadline = t0 + 60 * minutes
    warmup = 100 if steps0 == 0 and init is None else 20
    while time.time() < deadline:
        frac = (time.time() - t0) / (60 * minutes)
        scale = min(1.0, (step + 1) / warmup) * (1.0 if frac < 0.7 else 1.0 - 0.9 * (frac - 0.7) / 0.3)
        for g in opt.param_groups:
            g["lr"] = a.gpt_lr * scale
        idx = rng.integers(len(toks), size=a.gpt_batch)
        seq = torch.from_numpy(P.to_par(toks[idx], n)).to(dev)
        lab = torch.from_numpy(labels[idx]).to(dev)
        with torch.autocast(dev.type, dtype=torch.bfloat16):
            logits = model(seq, lab, train=True)
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), seq.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
    held = TG.heldout_loss(model, test_t, test_l, n, device=dev)
    log(f"{name}: {step} steps ({(time.time() - t0) / max(step, 1) * 1e3:.0f} ms/step), now at step {steps0 + step}, "
        f"train loss {loss.item():.4f}, held-out loss {held:.4f}")
    sd = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    model.cpu()
    torch.save({"model": compact_state(model), "steps": steps0 + step, "config": cfg},
               os.path.join(a.out, name + ".pt"))
    return sd, {"steps": steps0 + step, "heldout_loss": held}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="folder for tokenizer.pt, gpt_n{1,4,16}.pt and summary.json")
    ap.add_argument("--models", default="models/train", help="compact files to continue from")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--train-clips", type=int, default=20200)
    ap.add_argument("--test-clips", type=int, default=1010)
    ap.add_argument("--eval-clips", type=int, default=64)
    ap.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    ap.add_argument("--tok-minutes", type=float, default=5.0)
    ap.add_argument("--tok-batch", type=int, default=32)
    ap.add_argument("--tok-lr", type=float, default=6e-4)
    ap.add_argument("--detail-loss", type=float, default=1.0)
    ap.add_argument("--offset-penalty", type=float, default=0.2)
    ap.add_argument("--flip", type=int, default=1)
    ap.add_argument("--eval-every-s", type=float, default=30.0)
    ap.add_argument("--gpt-minutes", default="1.2,0.6,0.6", help="budgets of n = 1, 4, 16 (0 skips a GPT)")
    ap.add_argument("--gpt-batch", type=int, default=64)
    ap.add_argument("--gpt-lr", type=float, default=1e-3)
    ap.add_argument("--dim", type=int, default=192)
    ap.add_argument("--n-layer", type=int, default=4)
    ap.add_argument("--n-head", type=int, default=3)
    a = ap.parse_args(argv)
    budgets = [float(v) for v in a.gpt_minutes.split(",")]
    if len(budgets) != 3 or not all(math.isfinite(b) and b >= 0 for b in budgets):
        raise SystemExit("train_builtin_gpu: --gpt-minutes takes three non-negative numbers (n = 1, 4, 16)")
    os.makedirs(a.out, exist_ok=True)
    t_start = time.time()

    def log(msg):
        print(f"[{time.time() - t_start:7.1f}s] {msg}", flush=True)

    dev = torch.device(a.device)
    log(f"device {dev} ({torch.cuda.get_device_name() if dev.type == 'cuda' else 'cpu'}), {a.workers} render workers")
    train_u8 = torch.from_numpy(render("train", a.train_clips, a.workers))
    test_u8 = torch.from_numpy(render("test", a.test_clips, a.workers))
    train_labels = np.array([S.split_item("train", i)[0] for i in range(a.train_clips)], np.int64)
    test_labels = np.array([S.split_item("test", i)[0] for i in range(a.test_clips)], np.int64)
    log(f"{a.train_clips} training and {a.test_clips} held-out clips rendered")
    train_dev, test_dev = train_u8.to(dev), test_u8.to(dev)

    summary = {"device": str(dev)}
    tok, summary["tokenizer"] = train_tokenizer(a, dev, train_dev, test_dev[:a.eval_clips], log)
    toks, test_t = encode(tok, train_dev), encode(tok, test_dev)
    log(f"encoded: train {toks.shape}, test {test_t.shape}")
    init = None
    for n, minutes in zip((1, 4, 16), budgets):
        if minutes <= 0:
            continue
        sd, summary[f"gpt_n{n}"] = train_gpt(a, dev, n, minutes, toks, train_labels, test_t, test_labels,
                                             init if n > 1 else None, log)
        if n == 1:
            init = sd
    summary["seconds"] = round(time.time() - t_start, 1)
    with open(os.path.join(a.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    log(f"done: {json.dumps(summary)}")


if __name__ == "__main__":
    main()
