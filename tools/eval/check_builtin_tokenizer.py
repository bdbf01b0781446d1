"""Swift tokenizer vs PyTorch's own forward on the exported built-in tokenizer (run once; figures go in the notes).

The training framework's tokenizer (tools/train/magvit2_torch.py), loaded with the
exported bundle's weights (F16 widened to fp32, as the engine reads them), encodes
held-out SynthAction-101 clips. Two comparisons per clip, both on the decoder's
frames before 8-bit rounding (`--float-frames`), clamped to [0, 1]:

- decode: torch's token cube through `par-video decode` against torch's decode of it;
- round trip: the clip's PNG frames through `par-video reconstruct` (Swift encoder,
  FSQ, decoder) against torch's encode, quantize and decode, and whether the
  two encoders chose the same tokens.

Reported: max |swift - torch| / max |torch| over the clip.

    python3 -m tools.eval.check_builtin_tokenizer --binary .build/release/par-video
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
from PIL import Image

from tools.convert import bundle
from tools.eval.compare import max_relative, verdict
from tools.train import magvit2_torch as M
from tools.train import synthaction as S


def tokenizer_file(folder: str) -> tuple[str, dict]:
    """The tokenizer bundle of `folder` and its config."""
    if os.path.isfile(folder):
        candidates = [folder]
    else:
        candidates = [os.path.join(folder, n) for n in sorted(os.listdir(folder)) if n.endswith(".safetensors")]
    for path in candidates:
        _, meta, _ = bundle.read_safetensors(path, upcast=False)
        info = json.loads(meta.get("par_video", "{}"))
        if info.get("kind") == "tokenizer":
            return path, info["config"]
    raise SystemExit(f"{folder}: no tokenizer bundle")


def torch_tokenizer(path: str, cfg: dict) -> M.VideoTokenizer:
    tensors, _, _ = bundle.read_safetensors(path)
    model = M.VideoTokenizer(cfg)
    model.load_state_dict({k: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in tensors.items()})
    return model.eval()


def read_floats(path: str) -> np.ndarray:
    a = np.load(path)
    assert a.dtype == np.float32 and a.ndim == 4 and a.shape[-1] == 3, (a.dtype, a.shape)
    return a


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", default=".build/release/par-video")
    ap.add_argument("--model", default="models/builtin")
    ap.add_argument("--clips", type=int, default=4, help="held-out clips (test items 0, 1, ...)")
    ap.add_argument("--limit", type=float, default=1e-3)
    a = ap.parse_args()
    torch.set_num_threads(1)
    path, cfg = tokenizer_file(a.model)
    model = torch_tokenizer(path, cfg)
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(a.clips):
            c, seed = S.split_item("test", i)
            clip = S.clip(c, seed)
            frames_dir = os.path.join(tmp, f"clip{i}")
            os.makedirs(frames_dir)
            for f, frame in enumerate(clip):
                Image.fromarray(frame).save(os.path.join(frames_dir, f"{f:06d}.png"))
            x = torch.from_numpy(clip[None]).permute(0, 4, 1, 2, 3).float().div(255.0)
            with torch.no_grad():
                idx = model.tokenize(x)
                ref = model.decode_indices(idx)[0].clamp(0, 1).permute(1, 2, 3, 0).numpy()
            cube = os.path.join(tmp, "cube.npy")
            np.save(cube, idx[0].numpy().astype(np.int32))
            out, floats = os.path.join(tmp, "out"), os.path.join(tmp, "f.npy")
            subprocess.run([a.binary, "decode", cube, "--model", a.model, "-o", out, "--format", "frames",
                            "--float-frames", floats, "-y"], check=True, stdout=subprocess.DEVNULL)
            dec = max_relative(read_floats(floats), ref)
            r = subprocess.run([a.binary, "reconstruct", frames_dir, "--model", a.model, "-o", out, "--format", "frames",
                                "--float-frames", floats, "-y", "--json"], check=True, capture_output=True, text=True)
            swift = read_floats(floats)
            trip = max_relative(swift, ref)
            # The Swift encoder's tokens, seen through its decode: identical tokens give identical frames.
            same = trip <= a.limit
            worst = max(worst, dec, trip)
            psnr = json.loads(r.stdout)["psnr_db"]
            print(f"clip {i} (class {c:3d}): cube {list(idx.shape[1:])}; decode max |swift - torch| / max |torch| = {dec:.2e}; "
                  f"round trip {trip:.2e} ({'same frames' if same else 'frames differ'}); Swift PSNR {psnr:.2f} dB")
    return verdict(worst, a.limit)


if __name__ == "__main__":
    sys.exit(main())
