#!/usr/bin/env python3
"""Feature-extraction throughput (clips/s) of the I3D backends on this machine.

  nice -n 19 python3 -m tools.fvd.bench_fvd [--clips 8] [--batch 4] [--backend numpy jax]

Random 16 x 224 x 224 clips; the first batch (JAX compilation, warm-up) is not
timed. Also times decoding + resizing a 17 x 64 x 64 PNG clip (the built-in
model's output size). Prints one JSON line per backend; CPU seconds and the
load average are printed alongside, since this machine's 2 cores are shared.
"""
import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time

import numpy as np

from tools.fvd import clip_io
from tools.fvd import i3d_weights


def bench_backend(name, variables, clips, batch):
    if name == "jax":
        from tools.fvd import i3d_jax_backend
        model = i3d_jax_backend.I3DJax(variables)
    else:
        from tools.fvd import i3d_numpy
        model = i3d_numpy.I3D(variables)
    model(clips[:batch])  # warm-up / compile
    wall, cpu = time.perf_counter(), time.process_time()
    for b in range(0, len(clips), batch):
        model(clips[b:b + batch])
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"backend": name, "clips": len(clips), "batch": batch, "seconds": round(wall, 3),
            "clips_per_s": round(len(clips) / wall, 4), "cpu_s_per_clip": round(cpu / len(clips), 3)}


def bench_decode(n=8):
    if shutil.which("ffmpeg") is None:
        return None
    with tempfile.TemporaryDirectory() as d:
        frames = np.random.default_rng(0).integers(0, 256, (17, 64, 64, 3), dtype=np.uint8)
        os.makedirs(os.path.join(d, "c"))
        subprocess.run(["ffmpeg", "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "64x64", "-i", "-",
                        "-start_number", "0", os.path.join(d, "c", "%06d.png")], input=frames.tobytes(), check=True)
        (clip,) = clip_io.list_clips(d)
        t = time.perf_counter()
        for _ in range(n):
            clip_io.preprocess(clip_io.read_clip(clip))
        return round((time.perf_counter() - t) / n, 4)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--clips", type=int, default=8)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--backend", nargs="+", choices=["numpy", "jax"], default=["numpy"])
    p.add_argument("--i3d-weights")
    args = p.parse_args()
    variables = i3d_weights.load_variables(args.i3d_weights)
    clips = np.random.default_rng(0).uniform(-1, 1, (args.clips, 16, 224, 224, 3)).astype(np.float32)
    common = {"cores": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2),
              "decode_resize_s_per_clip_64px_png": bench_decode()}
    for name in args.backend:
        r = bench_backend(name, variables, clips, args.batch)
        r.update(common, load_avg_after=round(os.getloadavg()[0], 2))
        print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
