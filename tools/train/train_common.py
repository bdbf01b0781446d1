"""Checkpoint plumbing shared by the tokenizer and GPT trainers.

Two files per model:
- runs/<name>/state.pt: full resumable state (model, optimizer, step, extra), every few minutes;
- models/train/<name>.pt: compact weights-only file committed in git
  ({"model": state_dict, "steps": k, "config": {...}}; bf16 for GPTs, fp32 for
  the tokenizer, whose PSNR is measured in fp32), replaced in place.
Resume order: the full state if present, else the compact file (optimizer restarts).
"""
from __future__ import annotations

import os
import time

import torch


def atomic_save(obj, path: str):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = path + ".tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


def compact_state(model: torch.nn.Module, dtype=torch.bfloat16) -> dict:
    return {k: v.detach().to(dtype) if v.is_floating_point() else v.detach()
            for k, v in model.state_dict().items()}


def save_compact(model, steps: int, config: dict, path: str, extra: dict | None = None, dtype=torch.bfloat16):
    obj = {"model": compact_state(model, dtype), "steps": int(steps), "config": config}
    if extra:
        obj.update(extra)
    atomic_save(obj, path)


def resume(model, opt, state_path: str, compact_path: str, log, config: dict | None = None,
           data_version: int | None = None) -> tuple[int, dict]:
    """Load the newest available state; returns (step, extra dict from the full state).
    With `config`, a compact file saved for another configuration (say the tokenizer of another
    cube, or a GPT for another vocabulary) is refused instead of resumed: shapes can agree
    while the meaning does not. With `data_version`, so is one trained on another version of
    SynthAction (files without the field are version 1)."""
    if config is not None and compact_path and os.path.exists(compact_path) and not os.path.exists(state_path):
        st = torch.load(compact_path, map_location="cpu", weights_only=False)
        saved = st.get("config")
        if saved != config:
            raise SystemExit(f"{compact_path} was trained with config {saved}, this run has {config}: "
                             f"delete it (and runs/<name>/) to start this configuration from scratch")
        if data_version is not None and st.get("data", 1) != data_version:
            raise SystemExit(f"{compact_path} was trained on SynthAction version {st.get('data', 1)}, this run uses "
                             f"version {data_version}: move it away (it can seed this run with --init)")
    if os.path.exists(state_path):
        st = torch.load(state_path, map_location="cpu", weights_only=False)
        model.load_state_dict(st["model"])
        if opt is not None and "opt" in st:
            opt.load_state_dict(st["opt"])
        log(f"resumed full state {state_path} at step {st['step']}")
        return int(st["step"]), st.get("extra", {})
    if compact_path and os.path.exists(compact_path):
        st = torch.load(compact_path, map_location="cpu", weights_only=False)
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in st["model"].items()})
        log(f"resumed compact weights {compact_path} at step {st['steps']} (fresh optimizer)")
        return int(st["steps"]), {}
    return 0, {}


def init_from(model, path: str, config: dict, log):
    """Weights of a compact file as the starting point of a new run (same config required)."""
    st = torch.load(path, map_location="cpu", weights_only=False)
    if st.get("config") != config:
        raise SystemExit(f"--init {path} was trained with config {st.get('config')}, this run has {config}")
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in st["model"].items()})
    log(f"initialised from {path} (its step {st['steps']}, data version {st.get('data', 1)}); this run starts at step 0")


def add_run_options(ap, eval_every: int, compact_every_s: float):
    """The options every CPU trainer shares: how often it evaluates and saves, its threads and
    autocast, and where its states (runs/) and compact weights (models/train/) go."""
    ap.add_argument("--eval-every", type=int, default=eval_every)
    ap.add_argument("--state-every-s", type=float, default=300)
    ap.add_argument("--compact-every-s", type=float, default=compact_every_s)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--bf16", type=int, default=1)
    ap.add_argument("--runs", default="runs")
    ap.add_argument("--models", default="models/train")


class Checkpoints:
    """A trainer's saves: the full state (model + optimizer) every `state_every_s` seconds, the
    compact weights every `compact_every_s`, and both at the last step."""

    def __init__(self, a, state_path: str, compact_path: str, config: dict, log, **compact_options):
        self.a, self.state_path, self.compact_path, self.config, self.log = a, state_path, compact_path, config, log
        self.compact_options = compact_options
        self.t_state = self.t_compact = time.time()

    def step(self, model, opt, step: int):
        """`extra` among the compact options may be a function of the model (say, the digest of
        weights that change while training)."""
        now, last = time.time(), step == self.a.steps
        if now - self.t_state > self.a.state_every_s or last:
            save_state(model, opt, step, self.state_path)
            self.t_state = now
        if now - self.t_compact > self.a.compact_every_s or last:
            options = dict(self.compact_options)
            if callable(options.get("extra")):
                options["extra"] = options["extra"](model)
            save_compact(model, step, self.config, self.compact_path, **options)
            self.log(f"compact weights -> {self.compact_path} (step {step})")
            self.t_compact = now


def save_state(model, opt, step: int, path: str, extra: dict | None = None):
    atomic_save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                 "extra": extra or {}}, path)


class Logger:
    def __init__(self, path: str | None = None):
        self.f = open(path, "a") if path else None

    def __call__(self, msg: str):
        line = time.strftime("%H:%M:%S ") + msg
        print(line, flush=True)
        if self.f:
            self.f.write(line + "\n")
            self.f.flush()


def cosine_lr(step: int, total: int, peak: float, warmup: int, floor: float) -> float:
    import math
    if step < warmup:
        return peak * (step + 1) / warmup
    p = min(1.0, (step - warmup) / max(1, total - warmup))
    return floor + (peak - floor) * 0.5 * (1 + math.cos(math.pi * p))
