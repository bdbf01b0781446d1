"""The peer for `par-video bench-tokenizer`: NBP's UCF-101 decoder in PyTorch.

Decodes one random 5x16x16 index cube to 17x128x128 frames with the
full-size decoder (random init, the layer sizes of NBP's magvit2_ucf.pt),
in fp32 and under bf16 autocast, and prints seconds and peak RSS as JSON
lines. Run right after `par-video bench-tokenizer` in the same window:

    python3 -m tools.bench.bench_nbp_decoder_torch --threads 2
"""
from __future__ import annotations

import argparse
import json
import resource
import time

import torch

from tools.train import magvit2_torch as M


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--modes", default="fp32,bf16", help="comma list of fp32, bf16")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = M.VideoTokenizer(M.NBP_UCF_CONFIG).eval()
    idx = torch.randint(0, 64000, (1, 5, 16, 16))
    for mode in args.modes.split(","):
        t0 = time.perf_counter()
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=mode == "bf16"):
            out = model.decode_indices(idx)
        seconds = time.perf_counter() - t0
        print(json.dumps({"peer": "pytorch " + torch.__version__, "mode": mode, "threads": args.threads,
                          "seconds": round(seconds, 2), "frames": list(out.shape),
                          "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}), flush=True)


if __name__ == "__main__":
    main()
