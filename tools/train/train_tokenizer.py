"""Train the small MAGVIT-v2 (FSQ) tokenizer on SynthAction-101 (CPU, resumable).

Most steps see random 9 x 32 x 32 crops (8x cheaper than full clips; the
network is convolutional, only GroupNorm statistics depend on the frame
size), the last --full-steps see whole 17 x 64 x 64 clips. Loss: L1 + MSE on
[0, 1] pixels, FSQ straight-through. Held-out PSNR (fp32, full clips, test
seeds) is logged every --eval-every steps.

    nohup nice -n 19 python3 -m tools.train.train_tokenizer > runs/tokenizer.log 2>&1 &
"""
from __future__ import annotations

import argparse
import copy
import math
import os
import time

import numpy as np
import torch

from tools.train import magvit2_torch as M
from tools.train import synthaction as S
from tools.train.encoder_digest import encoder_digest
from tools.train.train_common import Checkpoints, Logger, add_run_options, cosine_lr, init_from, resume


def to_tensor(clips: np.ndarray) -> torch.Tensor:
    """(B, F, H, W, 3) uint8 -> (B, 3, F, H, W) float in [0, 1]."""
    return torch.from_numpy(clips).permute(0, 4, 1, 2, 3).float().div_(255.0)


def psnr(model, clips: torch.Tensor, batch: int = 8) -> float:
    model.eval()
    se, n = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(clips), batch):
            x = clips[i:i + batch]
            y, _ = model(x)
            se += float(((y.clamp(0, 1) - x) ** 2).sum())
            n += x.numel()
    model.train()
    return 10 * math.log10(1.0 / (se / n))


def offset_penalty_terms(model) -> list:
    """Hooks every GroupNorm's input; each training forward appends, per GroupNorm, the share
    of its per-frame variance that is constant per-channel offsets. Unchecked, these offsets
    grow along the residual main path and, normalised together with the spatial detail,
    shrink that detail to nothing (tools/TRAINING.md, session 2)."""
    terms = []

    def offset_share(_mod, inputs):
        if not torch.is_grad_enabled():                  # evaluation and encoding: no penalty
            return
        h = inputs[0].float()
        off = h.mean(dim=(3, 4)).var(dim=1)              # (B, T): variance across channel means
        spatial = h.var(dim=(3, 4)).mean(dim=1)          # (B, T): mean within-channel spatial variance
        terms.append((off / (off + spatial + 1e-6)).mean())
    for mod in model.modules():
        if isinstance(mod, M.GroupNorm3D):
            mod.register_forward_pre_hook(offset_share)
    return terms


def detail_l1(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """L1 between the finite differences (rows, columns, frames) of output and target: the
    pixel losses are dominated by flat areas, this one only sees edges and motion."""
    loss = 0.0
    for dim in (2, 3, 4):
        loss = loss + (torch.diff(y, dim=dim) - torch.diff(x, dim=dim)).abs().mean()
    return loss / 3


def train_step(model, opt, x, offset_terms: list, penalty: float, device_type: str, bf16: bool,
               detail: float = 0.0):
    """One optimizer step on L1 + MSE (+ the detail term, + the offset penalty); returns (output, loss)."""
    with torch.autocast(device_type, dtype=torch.bfloat16, enabled=bf16):
        y, _ = model(x)
    y = y.float()
    loss = (y - x).abs().mean() + ((y - x) ** 2).mean()
    if detail > 0:
        loss = loss + detail * detail_l1(y, x)
    if offset_terms:
        loss = loss + penalty * torch.stack(offset_terms).mean()
        offset_terms.clear()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return y, loss


class ClipPool:
    """Training clips: the rendered cache (tools/train/clip_cache.py) when it exists, read in place;
    otherwise a pool rendered here and refreshed a little every step (rendering a clip costs
    about a third of a training step, so the cache is the fast path)."""

    def __init__(self, size: int, start_index: int, rng, cache: np.ndarray | None = None, flip: bool = False):
        self.rng = rng
        self.next = start_index
        self.flip = flip
        self.cached = cache is not None
        self.clips = cache if self.cached else np.stack([S.clip(*S.split_item("train", self._take()))
                                                         for _ in range(size)])

    def _take(self) -> int:
        i = self.next
        self.next += 1
        return i

    def refresh(self, k: int):
        if self.cached:
            return
        for _ in range(k):
            j = self.rng.integers(len(self.clips))
            self.clips[j] = S.clip(*S.split_item("train", self._take()))

    def sample(self, b: int, frames: int, size: int) -> torch.Tensor:
        idx = self.rng.integers(len(self.clips), size=b)
        out = np.empty((b, frames, size, size, 3), np.uint8)
        for k, j in enumerate(idx):
            f0 = 0 if frames == S.FRAMES else int(self.rng.choice(np.arange(0, S.FRAMES - frames + 1, 4)))
            y0, x0 = self.rng.integers(0, S.SIZE - size + 1, 2)
            out[k] = self.clips[j, f0:f0 + frames, y0:y0 + size, x0:x0 + size]
            if self.flip and self.rng.random() < 0.5:          # mirror left-right: same statistics, twice the clips
                out[k] = out[k, :, :, ::-1]
        return to_tensor(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", default="tokenizer")
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--full-steps", type=int, default=600, help="final steps on whole 17x64x64 clips")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--full-batch", type=int, default=4)
    ap.add_argument("--crop-frames", type=int, default=9)
    ap.add_argument("--crop-size", type=int, default=32)
    ap.add_argument("--norm-groups", type=int, default=0, help="override the config's norm_groups (0: keep)")
    ap.add_argument("--enc-channels", help="override encoder channels, e.g. 8,16,32,64")
    ap.add_argument("--dec-channels", help="override decoder channels, e.g. 64,32,32,32")
    ap.add_argument("--enc-res", help="override encoder residual units per stage, e.g. 0,1,1,2")
    ap.add_argument("--dec-res", help="override decoder residual units per stage, e.g. 3,2,1,0")
    ap.add_argument("--fsq-levels", help="override the FSQ levels (and embed_dim), e.g. 8,8,8,5,5")
    ap.add_argument("--no-quant", action="store_true",
                    help="experiment: train with the bounded latent unrounded (continuous), the network's ceiling without the code's bits")
    ap.add_argument("--detail-loss", type=float, default=0.0, help="weight of the L1 on finite differences")
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--offset-penalty", type=float, default=0.0,
                    help="weight of the penalty on per-channel constant offsets in front of every GroupNorm")
    ap.add_argument("--torch-init", action="store_true", help="keep PyTorch's default init (no init_for_training)")
    ap.add_argument("--weight-decay", type=float, default=0.0,
                    help="AdamW decay of the conv kernels only: bounds their norm, and with it the effective step size of layers that a GroupNorm makes scale-invariant")
    ap.add_argument("--lr", type=float, default=2e-4)  # 1e-3 collapses to the mean colour in an overfit test
    ap.add_argument("--pool", type=int, default=1000, help="clips rendered here when there is no --cache")
    ap.add_argument("--cache", default="", help="rendered training clips (tools/train/clip_cache.py), e.g. runs/data/train_v2_10100.npy")
    ap.add_argument("--init", default="", help="compact tokenizer weights to start from when this run has no state "
                    "of its own (same config; the step count and optimizer start afresh), e.g. a tokenizer trained "
                    "on an earlier version of the data")
    ap.add_argument("--flip", type=int, default=1, help="mirror half the training clips left-right")
    ap.add_argument("--eval-clips", type=int, default=48)
    ap.add_argument("--freeze-encoder", action="store_true",
                    help="train the decoder only: the encoder (and so every token file made from it) stays as it "
                         "is, so the GPTs can train on its tokens while the decoder goes on improving")
    add_run_options(ap, eval_every=500, compact_every_s=1800)
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    log = Logger()
    cfg = copy.deepcopy(M.SMALL_CONFIG)
    if a.norm_groups:
        cfg["norm_groups"] = a.norm_groups
    if a.enc_channels:
        cfg["encoder"]["channels"] = [int(v) for v in a.enc_channels.split(",")]
    if a.dec_channels:
        cfg["decoder"]["channels"] = [int(v) for v in a.dec_channels.split(",")]
    if a.enc_res:
        cfg["encoder"]["res_units"] = [int(v) for v in a.enc_res.split(",")]
    if a.dec_res:
        cfg["decoder"]["res_units"] = [int(v) for v in a.dec_res.split(",")]
    if a.fsq_levels:
        cfg["fsq_levels"] = [int(v) for v in a.fsq_levels.split(",")]
        cfg["embed_dim"] = len(cfg["fsq_levels"])
    model = M.VideoTokenizer(cfg)
    if a.no_quant:
        fsq = model.quantizers
        fsq.quantize = lambda z: fsq.bound(z) / (fsq._levels // 2).to(z.dtype)
    if not a.torch_init:
        model.init_for_training()
    kernels = [p for p in model.parameters() if p.dim() == 5]
    others = [p for p in model.parameters() if p.dim() != 5]
    groups = ([{"params": kernels, "weight_decay": a.weight_decay}, {"params": others, "weight_decay": 0.0}]
              if a.weight_decay else [{"params": kernels + others, "weight_decay": 0.0}])
    opt = torch.optim.AdamW(groups, lr=a.lr, betas=(0.9, 0.99))
    state_path = os.path.join(a.runs, a.name, "state.pt")
    compact_path = os.path.join(a.models, a.name + ".pt")
    step, _ = resume(model, opt, state_path, compact_path, log, cfg, data_version=S.VERSION)
    if step == 0 and a.init:
        init_from(model, a.init, cfg, log)
    if a.freeze_encoder:
        # No gradient reaches a frozen encoder (the input needs none either), so its backward
        # pass is skipped altogether and a step costs less.
        for p in model.encoder_layers.parameters():
            p.requires_grad_(False)
        log(f"encoder frozen (digest {encoder_digest(model.state_dict())}): decoder-only training")
    offset_terms = offset_penalty_terms(model) if a.offset_penalty > 0 else []
    nparams = sum(p.numel() for p in model.parameters())
    log(f"tokenizer params {nparams} config {cfg}")

    if step >= a.steps:
        log(f"already at step {step} >= {a.steps}: nothing to do")
        return
    rng = np.random.default_rng(1000 + step)
    cache = None
    if a.cache:
        cache = np.load(a.cache, mmap_mode="r")
        if cache.ndim != 5 or cache.shape[1:] != (S.FRAMES, S.SIZE, S.SIZE, 3) or cache.dtype != np.uint8:
            raise SystemExit(f"train_tokenizer: {a.cache}: expected (N, {S.FRAMES}, {S.SIZE}, {S.SIZE}, 3) uint8, "
                             f"found {cache.shape} {cache.dtype}")
        log(f"training clips: {a.cache} ({len(cache)} clips)")
    pool = ClipPool(a.pool, start_index=step * 7, rng=rng, cache=cache, flip=bool(a.flip))
    test = to_tensor(S.batch(*zip(*[S.split_item("test", i) for i in range(a.eval_clips)])))

    saves = Checkpoints(a, state_path, compact_path, cfg, log, dtype=torch.float32,
                        extra=lambda m: {"data": S.VERSION, "encoder": encoder_digest(m.state_dict())})
    t0, seen, losses = time.time(), 0, []
    while step < a.steps:
        full = step >= a.steps - a.full_steps
        lr = cosine_lr(step, a.steps, a.lr, a.warmup, a.lr * 0.05)
        for g in opt.param_groups:
            g["lr"] = lr
        x = pool.sample(a.full_batch, S.FRAMES, S.SIZE) if full else pool.sample(a.batch, a.crop_frames, a.crop_size)
        y, loss = train_step(model, opt, x, offset_terms, a.offset_penalty, "cpu", bool(a.bf16), a.detail_loss)
        step += 1
        seen += len(x)
        losses.append(loss.item())
        pool.refresh(2)
        if step % 25 == 0:
            dt = time.time() - t0
            mse = float(((y.detach().clamp(0, 1) - x) ** 2).mean())
            log(f"step {step} loss {np.mean(losses):.5f} batch_psnr {10 * math.log10(1 / max(mse, 1e-10)):.2f} "
                f"lr {lr:.2e} {'full' if full else 'crop'} {dt / 25:.2f} s/step {seen / dt:.1f} clips/s")
            t0, seen, losses = time.time(), 0, []
        if step % a.eval_every == 0 or step == a.steps:
            log(f"step {step} held-out PSNR {psnr(model, test):.2f} dB ({a.eval_clips} test clips, fp32, 17x64x64)")
        saves.step(model, opt, step)
    log("done")


if __name__ == "__main__":
    main()
