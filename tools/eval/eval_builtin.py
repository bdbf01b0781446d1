"""Evaluate the built-in model the way the README's table reports it (issue 6).

1. Real set: the first --count held-out SynthAction-101 clips (test seeds, classes
   cycling, so every class has count/101 clips), written as PNG frame folders with
   labels.csv: the exact pixels, no codec in between.
2. Generated sets: `par-video batch` with the real set's labels.csv (class-matched),
   PNG frames, for each n; the batch's own manifest gives the seconds per clip.
3. `par-video fvd` (or, with --fvd-tool python, the reference tools/fvd/fvd.py) for
   each n against the real set: FVD and nearest-centroid action accuracy (centroids
   from the real set), one JSON line each.
4. --real-check more held-out clips (disjoint from the real set) through the same
   classifier: what real clips score (the accuracy target's reference), and the FVD
   of real clips against real clips (the floor at this sample size).
5. --recon-check: the same disjoint clips through the tokenizer alone (`par-video
   reconstruct`): its PSNR, reconstruction FVD and accuracy, the ceiling of what the
   GPTs can reach through this tokenizer. The real set goes through the tokenizer
   too, and the round-tripped clips and every generated set are also scored against
   its centroids (`accuracy_vs_reconstructed`): a classifier fitted to what the
   tokenizer can draw, so that the accuracy measures the class, not the blur.

    python3 -m tools.eval.eval_builtin --count 512 --out runs/eval > runs/eval.log 2>&1

Everything lands in --out; results.json collects the figures.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

from tools.train import synthaction as S


def write_real(folder: str, count: int, start: int = 0):
    from PIL import Image
    if os.path.exists(os.path.join(folder, "labels.csv")):
        return
    os.makedirs(folder, exist_ok=True)
    rows = []
    for i in range(start, start + count):
        c, seed = S.split_item("test", i)
        name = f"real_{i:05d}"
        d = os.path.join(folder, name)
        os.makedirs(d, exist_ok=True)
        for f, frame in enumerate(S.clip(c, seed)):
            Image.fromarray(frame).save(os.path.join(d, f"{f:06d}.png"))
        rows.append((name, c))
    with open(os.path.join(folder, "labels.csv.tmp"), "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["clip", "label"])
        w.writerows(rows)
    os.replace(os.path.join(folder, "labels.csv.tmp"), os.path.join(folder, "labels.csv"))


def generate(binary: str, model: str, n: int, labels: str, count: int, out: str, batch: int, cfg: float | None = None,
             top_k: int | None = None) -> dict:
    t0 = time.time()
    extra = (["--cfg", str(cfg)] if cfg is not None else []) + (["--top-k", str(top_k)] if top_k is not None else [])
    subprocess.run([binary, "batch", "--model", model, "--parallel", str(n), "--count", str(count), "--labels", labels,
                    "--format", "frames", "--batch", str(batch), "--quiet", "-o", out] + extra, check=True)
    wall = time.time() - t0
    secs = [json.loads(line)["seconds"] for line in open(os.path.join(out, "manifest.jsonl"))]
    return {"clips": len(secs), "wall_s": round(wall, 1), "seconds_per_clip_manifest": round(float(np.mean(secs)), 4)}


def single_clip_seconds(binary: str, model: str, n: int, out: str) -> float:
    """Seconds for one clip with the main command (tokens + decode + encode), median of 3."""
    times = []
    for seed in range(3):
        r = subprocess.run([binary, "--model", model, "--parallel", str(n), "--action", "12", "--seed", str(seed),
                            "--json", "-y", "-o", os.path.join(out, f"one_n{n}.mp4")], check=True, capture_output=True, text=True)
        j = json.loads(r.stdout)
        times.append(j["tokens_seconds"] + j["decode_seconds"] + j["encode_seconds"])
    return round(float(np.median(times)), 3)


def reconstruct_all(binary: str, model: str, src: str, dst: str) -> list[float]:
    """Every clip folder of src through the tokenizer into dst (PNG frames); per-clip PSNR (dB, of the whole clip)."""
    os.makedirs(dst, exist_ok=True)
    psnrs = []
    with open(os.path.join(src, "labels.csv")) as fh:
        rows = list(csv.reader(fh))[1:]
    for name, _ in rows:
        r = subprocess.run([binary, "reconstruct", os.path.join(src, name), "--model", model, "--format", "frames",
                            "--json", "-y", "-o", os.path.join(dst, name)], check=True, capture_output=True, text=True)
        psnrs.append(json.loads(r.stdout)["psnr_db"])
    shutil.copyfile(os.path.join(src, "labels.csv"), os.path.join(dst, "labels.csv"))
    return psnrs


def fvd(real: str, gen: str, cache: str, count: int, tool: str = "python", binary: str = "") -> dict:
    """FVD and accuracy of gen against real, by `par-video fvd` (tool "swift") or the numpy
    reference; each keeps its own feature cache under `cache`."""
    if tool == "swift":
        cmd = [binary, "fvd", real, gen, "--max-clips", str(count), "--cache-dir", os.path.join(cache, "swift"),
               "--json", "--quiet"]
    else:
        cmd = [sys.executable, "-m", "tools.fvd.fvd", "--real", real, "--gen", gen, "--max-clips", str(count),
               "--cache-dir", cache, "--quiet"]
    r = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", default=".build/release/par-video")
    ap.add_argument("--model", default="models/builtin")
    ap.add_argument("--count", type=int, default=512)
    ap.add_argument("--parallel", type=int, nargs="*", default=[1, 4, 16])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--out", default="runs/eval")
    ap.add_argument("--skip-fvd", action="store_true")
    ap.add_argument("--fvd-tool", choices=["swift", "python"], default="swift",
                    help="`par-video fvd` (several times faster) or the numpy reference tools/fvd/fvd.py")
    ap.add_argument("--real-check", type=int, default=None,
                    help="(default --count; 0: skip) a second, disjoint set of held-out clips scored like a generated set: the real clips' "
                         "accuracy with the same classifier (centroids from the first set) and the real-vs-real FVD")
    ap.add_argument("--cfg", type=float, default=None,
                    help="CFG scale for the generated sets (default: the model's); results go under n<N>_cfg<S>")
    ap.add_argument("--top-k", type=int, default=None,
                    help="top-k for the generated sets (default: the model's); results go under n<N>[_cfg<S>]_top<K>")
    ap.add_argument("--real-start", type=int, default=0,
                    help="first held-out item of the real set (a multiple of 101 keeps classes balanced from class 0); "
                         "a sampling sweep takes items the reported evaluation does not, e.g. 2020")
    ap.add_argument("--recon-check", action="store_true",
                    help="also score the --real-check clips after a tokenizer round trip (PSNR, FVD, accuracy)")
    a = ap.parse_args()
    if a.real_check is None:
        a.real_check = a.count
    if a.real_check and not a.skip_fvd and a.count < S.NUM_CLASSES:
        # The check set holds the items after the real set's; class matching needs their classes in the real set.
        ap.error(f"--real-check needs --count >= {S.NUM_CLASSES} (every class in the real set), or --real-check 0")
    os.makedirs(a.out, exist_ok=True)

    def score(real_set: str, gen_set: str) -> dict:
        return fvd(real_set, gen_set, os.path.join(a.out, "cache"), a.count, a.fvd_tool, a.binary)

    results_path = os.path.join(a.out, "results.json")
    results = json.load(open(results_path)) if os.path.exists(results_path) else {}

    def save():
        with open(results_path + ".tmp", "w") as fh:
            json.dump(results, fh, indent=1, sort_keys=True)
        os.replace(results_path + ".tmp", results_path)

    if a.real_start < 0 or a.real_start % S.NUM_CLASSES:
        ap.error(f"--real-start must be a non-negative multiple of {S.NUM_CLASSES}")
    at = f"_from{a.real_start}" if a.real_start else ""
    real = os.path.join(a.out, f"real_v{S.VERSION}{at}")
    write_real(real, a.count, start=a.real_start)
    suffix = (f"_cfg{a.cfg:g}" if a.cfg is not None else "") + (f"_top{a.top_k}" if a.top_k is not None else "")
    default_sampling = a.cfg is None and a.top_k is None
    for n in a.parallel:
        key = f"n{n}{suffix}"
        r = results.setdefault(key, {})
        gen = os.path.join(a.out, f"gen_{key}")
        if "generate" not in r:
            r["generate"] = generate(a.binary, a.model, n, os.path.join(real, "labels.csv"), a.count, gen, a.batch, a.cfg, a.top_k)
            if default_sampling:
                r["seconds_per_clip"] = single_clip_seconds(a.binary, a.model, n, a.out)
            save()
        print(key, json.dumps(r), flush=True)
    if not a.skip_fvd:
        for n in a.parallel:
            key = f"n{n}{suffix}"
            r = results[key]
            if "fvd" not in r:
                out = score(real, os.path.join(a.out, f"gen_{key}"))
                r["fvd"] = out["fvd"]
                r["accuracy"] = out.get("accuracy")
                r["accuracy_real"] = out.get("accuracy_real")
                r["fvd_seconds"] = out.get("seconds", out.get("total_seconds"))
                save()
            print(key, json.dumps(r), flush=True)
        if a.real_check and "real_heldout" not in results:
            check = os.path.join(a.out, f"real_check_v{S.VERSION}{at}")
            write_real(check, a.real_check, start=a.real_start + a.count)
            out = score(real, check)
            results["real_heldout"] = {"clips": a.real_check, "fvd": out["fvd"], "accuracy": out.get("accuracy")}
            save()
        if a.recon_check and a.real_check and "reconstructed" not in results:
            check = os.path.join(a.out, f"real_check_v{S.VERSION}{at}")
            recon = os.path.join(a.out, "recon_check")
            psnrs = reconstruct_all(a.binary, a.model, check, recon)
            out = score(real, recon)
            results["reconstructed"] = {"clips": len(psnrs), "psnr_db": round(float(np.mean(psnrs)), 2),
                                        "fvd": out["fvd"], "accuracy": out.get("accuracy")}
            save()
        if a.recon_check and a.real_check and "accuracy_vs_reconstructed" not in results.get("reconstructed", {}):
            # Centroids from the real set after the same round trip: the classifier sees the
            # tokenizer's rendering on both sides.
            recon_real = os.path.join(a.out, "recon_real")
            reconstruct_all(a.binary, a.model, real, recon_real)
            results["reconstructed"]["accuracy_vs_reconstructed"] = score(recon_real, os.path.join(a.out, "recon_check")).get("accuracy")
            for n in a.parallel:
                key = f"n{n}{suffix}"
                results[key]["accuracy_vs_reconstructed"] = score(recon_real, os.path.join(a.out, f"gen_{key}")).get("accuracy")
            save()
    print(json.dumps(results, sort_keys=True))


if __name__ == "__main__":
    main()
