"""Train a PAR GPT (n = 1, 4 or 16) on SynthAction-101 token cubes (CPU, resumable).

Data: runs/tokens/train_*.npz from tools/train/encode_synthaction.py (re-scanned
every --rescan steps, so training may start while encoding goes on) and
runs/tokens/test_*.npz for the held-out loss. Class dropout 0.1 (null class
= row num_classes) for classifier-free guidance.

    # n = 1 from scratch
    nohup nice -n 19 python3 -m tools.train.train_gpt --name gpt_n1 --parallel 1 --steps 2400 > runs/gpt_n1.log 2>&1 &
    # n = 4 / 16 fine-tuned from the n = 1 weights (new M tokens)
    nohup nice -n 19 python3 -m tools.train.train_gpt --name gpt_n4 --parallel 4 --init models/train/gpt_n1.pt --steps 800 > runs/gpt_n4.log 2>&1 &
"""
from __future__ import annotations

import argparse
import glob
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from tools.train import gpt_torch as G
from tools.reference import par_sequence as P
from tools.train.encoder_digest import chunk_encoder
from tools.train.train_common import Checkpoints, Logger, add_run_options, cosine_lr, resume


def load_tokens(pattern: str, encoder: str | None = None):
    """(tokens, labels, file count) of the token files; every file must come from one encoder
    (`encoder`, when given, or the first file's)."""
    files = sorted(glob.glob(pattern))
    if not files:
        return None, None, 0
    toks, labels = [], []
    for f in files:
        d = np.load(f)
        found = chunk_encoder(f)
        encoder = found if encoder is None else encoder
        if found != encoder:
            sys.exit(f"train_gpt: {f} comes from encoder {found or '(unrecorded)'}, the other token files from "
                     f"{encoder or '(unrecorded)'}: token files of two tokenizers cannot train one GPT")
        toks.append(d["tokens"].astype(np.int64))
        labels.append(d["labels"].astype(np.int64))
    return np.concatenate(toks), np.concatenate(labels), len(files)


def check_compact_encoder(compact_path: str, encoder: str):
    """A GPT compact trained on another encoder's tokens is refused, not resumed."""
    if not os.path.exists(compact_path):
        return
    st = torch.load(compact_path, map_location="cpu", weights_only=False)
    if st.get("encoder", encoder) != encoder:
        sys.exit(f"train_gpt: {compact_path} was trained on tokens of encoder {st['encoder']}, the token files "
                 f"come from {encoder}: move it away (and runs/<name>/) to train on these tokens")


def heldout_loss(model, toks, labels, n, batch=64, device="cpu") -> float:
    model.eval()
    tot, cnt = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(toks), batch):
            seq = torch.from_numpy(P.to_par(toks[i:i + batch], n)).to(device)
            lab = torch.from_numpy(labels[i:i + batch]).to(device)
            logits = model(seq, lab, train=False).float()
            tot += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), seq.reshape(-1), reduction="sum"))
            cnt += seq.numel()
    model.train()
    return tot / cnt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--parallel", type=int, required=True)
    ap.add_argument("--init", default="", help="compact weights to start from when this model has no checkpoint")
    ap.add_argument("--steps", type=int, default=2400)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=150)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--n-layer", type=int, default=4)
    ap.add_argument("--n-head", type=int, default=4)
    ap.add_argument("--cube", default="5,16,16", help="token cube T,H,W (must match the token files)")
    ap.add_argument("--vocab", type=int, default=1000, help="tokenizer vocabulary (product of its FSQ levels)")
    ap.add_argument("--data", default="runs/tokens")
    ap.add_argument("--rescan", type=int, default=200)
    add_run_options(ap, eval_every=300, compact_every_s=2400)
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    log = Logger()
    cube = [int(v) for v in a.cube.split(",")]
    cfg = G.default_config(dim=a.dim, n_layer=a.n_layer, n_head=a.n_head, parallel=a.parallel,
                           cube=cube, vocab_size=a.vocab)
    model = G.GPT(cfg)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.95))
    state_path = os.path.join(a.runs, a.name, "state.pt")
    compact_path = os.path.join(a.models, a.name + ".pt")
    had_state = os.path.exists(state_path)
    step, _ = resume(model, opt, state_path, compact_path, log, cfg)
    # Resumed from compact weights the optimizer starts empty: Adam's first steps move every
    # weight by about the learning rate, so the rate ramps up again over 50 steps (or the warm-up, if shorter).
    rewarm_from = step if step > 0 and not had_state else None
    if step == 0 and a.init:
        st = torch.load(a.init, map_location="cpu", weights_only=False)
        sd = {k: v.float() for k, v in st["model"].items() if not k.startswith("spe_tok_embeddings")}
        missing, unexpected = model.load_state_dict(sd, strict=False)
        if a.parallel > 1 and "spe_tok_embeddings.special_embeddings.weight" in (st["model"]):
            old = st["model"]["spe_tok_embeddings.special_embeddings.weight"].float()
            if old.shape[0] >= a.parallel - 1:
                model.spe_tok_embeddings.special_embeddings.weight.data.copy_(old[:a.parallel - 1])
        log(f"initialised from {a.init} (step {st['steps']}); new: {missing}; dropped: {unexpected}")
    nparams = sum(p.numel() for p in model.parameters())
    log(f"gpt {a.name}: params {nparams} config {cfg}")

    train_files = os.path.join(a.data, "train_*.npz")
    while not glob.glob(train_files):
        log("waiting for token files ...")
        time.sleep(120)
    encoder = chunk_encoder(sorted(glob.glob(train_files))[0])
    check_compact_encoder(compact_path, encoder)
    if a.init:
        check_compact_encoder(a.init, encoder)
    toks, labels, nfiles = load_tokens(train_files, encoder)
    if list(toks.shape[1:]) != cube or toks.max() >= a.vocab:
        sys.exit(f"token files hold cubes {list(toks.shape[1:])} with tokens up to {toks.max()}; "
                 f"--cube {a.cube} --vocab {a.vocab} expected")
    test_t, test_l, _ = load_tokens(os.path.join(a.data, "test_*.npz"), encoder)
    log(f"train clips {len(toks)} ({nfiles} files); test clips {0 if test_t is None else len(test_t)}")
    rng = np.random.default_rng(step + 17)

    saves = Checkpoints(a, state_path, compact_path, cfg, log, extra={"encoder": encoder} if encoder else None)
    t0, losses = time.time(), []
    n = a.parallel
    while step < a.steps:
        lr = cosine_lr(step, a.steps, a.lr, a.warmup, a.lr * 0.1)
        if rewarm_from is not None:
            lr *= min(1.0, (step - rewarm_from + 1) / max(1, min(a.warmup, 50)))
        for g in opt.param_groups:
            g["lr"] = lr
        idx = rng.integers(len(toks), size=a.batch)
        seq = torch.from_numpy(P.to_par(toks[idx], n))
        lab = torch.from_numpy(labels[idx])
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bool(a.bf16)):
            logits = model(seq, lab, train=True)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), seq.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        losses.append(loss.item())
        if step % 20 == 0:
            dt = time.time() - t0
            log(f"step {step} loss {np.mean(losses):.4f} lr {lr:.2e} {dt / 20:.2f} s/step "
                f"{20 * a.batch * seq.shape[1] / dt:.0f} tok/s")
            t0, losses = time.time(), []
        if step % a.rescan == 0:
            t2, l2, nf = load_tokens(train_files, encoder)
            if nf != nfiles:
                toks, labels, nfiles = t2, l2, nf
                log(f"train clips now {len(toks)} ({nfiles} files)")
        if test_t is not None and (step % a.eval_every == 0 or step == a.steps):
            log(f"step {step} held-out loss {heldout_loss(model, test_t, test_l, n):.4f} ({len(test_t)} test clips)")
        saves.step(model, opt, step)
    log("done")


if __name__ == "__main__":
    main()
