"""Swift logits vs PyTorch's own forward on the exported built-in GPTs (run once; figures go in the notes).

For each n, `par-video tokens --logits` decodes greedily (CFG off) with the
exported F16 bundle and writes the logits each token was drawn from; the
training framework's GPT (tools/train/gpt_torch.py), loaded with the same exported
weights, runs one teacher-forced forward over that sequence. Reported: the
largest |swift - torch| over all N positions, relative to max |torch|, and
whether torch's argmax reproduces the greedy tokens.

    python3 -m tools.eval.check_builtin_logits --binary .build/release/par-video
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

from tools.convert import bundle
from tools.eval.compare import max_relative, verdict
from tools.train import gpt_torch as G
from tools.reference import par_sequence as P


def torch_model(path: str) -> tuple[G.GPT, dict]:
    cfg, tensors, _ = bundle.read_gpt_bundle(path)
    tcfg = G.default_config(**{k: cfg[k] for k in ("dim", "n_layer", "n_head", "n_kv_head", "vocab_size",
                                                     "num_classes", "multiple_of", "ffn_dim_multiplier",
                                                     "norm_eps", "rope_base", "cube", "parallel", "rope")})
    model = G.GPT(tcfg)
    sd = {k: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in tensors.items()}
    missing, unexpected = model.load_state_dict(sd, strict=False)
    missing = [k for k in missing if not (k.startswith("spe_tok_embeddings") and cfg["parallel"] == 1)]
    if missing or unexpected:
        raise SystemExit(f"{path}: missing {missing}, unexpected {unexpected}")
    return model.eval(), cfg


def gpt_file(folder: str, n: int) -> str:
    """The GPT bundle of `folder` trained for n tokens per step."""
    for name in sorted(os.listdir(folder)):
        if name.endswith(".safetensors"):
            path = os.path.join(folder, name)
            _, meta, _ = bundle.read_safetensors(path, upcast=False)
            info = json.loads(meta.get("par_video", "{}"))
            if info.get("kind") == "gpt" and info["config"]["parallel"] == n:
                return path
    raise SystemExit(f"{folder}: no GPT for n={n}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", default=".build/release/par-video")
    ap.add_argument("--model", default="models/builtin")
    ap.add_argument("--parallel", type=int, nargs="*", default=[1, 4, 16])
    ap.add_argument("--actions", type=int, nargs="*", default=[12, 57])
    ap.add_argument("--limit", type=float, default=1e-3)
    a = ap.parse_args()
    torch.set_num_threads(1)
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for n in a.parallel:
            model, cfg = torch_model(gpt_file(a.model, n))
            for action in a.actions:
                tok_path, log_path = os.path.join(tmp, "t.npy"), os.path.join(tmp, "l.npy")
                subprocess.run([a.binary, "tokens", "--model", a.model, "--parallel", str(n), "--action", str(action),
                                "--cfg", "1", "--top-k", "1", "--logits", log_path, "-y", "-o", tok_path], check=True,
                               stdout=subprocess.DEVNULL)
                cube = np.load(tok_path)
                swift = np.load(log_path)
                seq = P.to_par(cube[None].astype(np.int64), n)
                with torch.no_grad():
                    ref = model(torch.from_numpy(seq), torch.tensor([action]), train=False)[0].float().numpy()
                rel = max_relative(swift, ref)
                greedy = bool((ref.argmax(-1) == seq[0]).all())
                worst = max(worst, rel)
                print(f"n={n:2d} action {action:3d}: {swift.shape[0]} positions, max |swift - torch| / max |torch| = "
                      f"{rel:.2e}, torch argmax reproduces the greedy tokens: {greedy}")
    return verdict(worst, a.limit)


if __name__ == "__main__":
    sys.exit(main())
