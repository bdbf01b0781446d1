#!/usr/bin/env python3
"""Make the Swift engine's test fixtures (Tests/Fixtures/README.md describes them).

    python3 tools/make_engine_fixtures.py [--out Tests/Fixtures]

engine/<case>/: a small random GPT bundle and what the numpy reference decodes
from it (greedy cube and the logits the sampler sees at every step).
official-par/<case>/: the official PAR fixtures (copied) and their F32 bundles.
Deterministic: the same numpy gives the same bytes.
"""
import argparse
import json
import os
import shutil
import sys

import numpy as np

import bundle
import convert_par
import par_reference as ref

OFFICIAL_SRC = "/work/shared/fixtures/official-par"

# name: cube, n, rope, batch, cfg, weight dtype, n_head, n_kv_head
CASES = {
    "2d-n1-b1-cfg":        ([1, 8, 8], 1, "2d", 1, 1.5, "F32", 2, None),
    "2d-n4-b3-cfg":        ([1, 8, 8], 4, "2d", 3, 1.5, "F32", 2, None),
    "2d-n16-b1-nocfg":     ([1, 8, 8], 16, "2d", 1, 1.0, "F32", 2, None),
    "3d-n1-b3-nocfg":      ([2, 8, 8], 1, "3d", 3, 1.0, "F32", 2, None),
    "3d-n4-b1-cfg":        ([2, 8, 8], 4, "3d", 1, 1.5, "F32", 2, None),
    "3d-n16-b3-cfg":       ([2, 8, 8], 16, "3d", 3, 1.5, "F32", 2, None),
    "3d-n4-b1-nocfg-f16":  ([2, 8, 8], 4, "3d", 1, 1.0, "F16", 2, None),
    "3d-n16-b1-cfg-bf16":  ([2, 8, 8], 16, "3d", 1, 1.5, "BF16", 2, None),
    "2d-n4-b1-cfg-gqa":    ([1, 8, 8], 4, "2d", 1, 1.5, "F32", 4, 2),
}
SIZES = dict(dim=32, n_layer=2, vocab_size=128, num_classes=10, multiple_of=32)
MIN_GAP = 1e-3          # top-1 minus top-2 logit at every greedy pick: no near ties
OFFICIAL_CASES = ("par-1x16x16-n4-2d", "par-4x8x8-n1-3d", "par-4x8x8-n4-3d")


def random_weights(cfg, rng):
    """O(1) logits: unit embeddings, 1/sqrt(fan_in) projections, norm gains near 1."""
    w = {}
    for name, shape in bundle.expected_shapes(cfg).items():
        if len(shape) == 1:
            w[name] = 1.0 + 0.1 * rng.standard_normal(shape)
        elif "embedding" in name or "embeddings" in name:
            w[name] = rng.standard_normal(shape)
        else:
            w[name] = rng.standard_normal(shape) / np.sqrt(shape[1])
    return {k: v.astype(np.float32) for k, v in w.items()}


def greedy_gap(logs):
    gaps = []
    for l in logs:
        top2 = np.sort(l, axis=-1)[..., -2:]
        gaps.append((top2[..., 1] - top2[..., 0]).min())
    return float(min(gaps))


def make_case(out_dir, name, spec, attempt_limit=50):
    cube, n, rope, B, cfg_scale, dtype, heads, kv = spec
    os.makedirs(out_dir, exist_ok=True)
    model_path = os.path.join(out_dir, "model.safetensors")
    for attempt in range(attempt_limit):
        seed = sum(map(ord, name)) * 1000 + attempt
        rng = np.random.default_rng(seed)
        cfg = bundle.gpt_config(n_head=heads, n_kv_head=kv, cube=cube, parallel=n, rope=rope,
                                sampling={"temperature": 1.0, "cfg_scale": cfg_scale, "top_k": 1, "top_p": 1.0},
                                source=f"random weights, tools/make_engine_fixtures.py seed {seed}", **SIZES)
        bundle.write_gpt_bundle(model_path, cfg, random_weights(cfg, rng), dtype=dtype)
        model = ref.Reference.load(model_path)     # weights as stored (F16/BF16 rounded)
        actions = rng.integers(0, cfg["num_classes"], B)
        cubes, logs = ref.generate(model, actions, cfg_scale=cfg_scale, top_k=1, record=True)
        gap = greedy_gap(logs)
        if gap >= MIN_GAP and all(len(np.unique(c)) >= 16 for c in cubes):
            break
    else:
        raise RuntimeError(f"{name}: no seed with greedy gap >= {MIN_GAP}")
    tensors = {"actions": actions.astype(np.int32), "cube": cubes.astype(np.int32)}
    for i, l in enumerate(logs):
        tensors[f"logits_{i + 1}"] = l.astype(np.float32)
    meta = {"cfg_scale": cfg_scale, "top_k": 1, "temperature": 1.0, "top_p": 1.0, "parallel": n,
            "steps": len(logs), "cube": cube, "rope": rope, "batch": B, "weights": dtype,
            "min_greedy_gap": round(gap, 6)}
    bundle.write_safetensors(os.path.join(out_dir, "expected.safetensors"), tensors,
                             {k: v if isinstance(v, str) else json.dumps(v) for k, v in meta.items()})
    return meta


def make_official(out_dir, case, src=OFFICIAL_SRC):
    os.makedirs(out_dir, exist_ok=True)
    for f in sorted(os.listdir(os.path.join(src, case))):
        shutil.copyfile(os.path.join(src, case, f), os.path.join(out_dir, f))
    convert_official(out_dir, os.path.join(out_dir, "model.safetensors"))


def convert_official(case_dir, out_path, pt_name="official.pt"):
    with open(os.path.join(case_dir, "meta.json")) as f:
        meta = json.load(f)
    args = convert_par.parser().parse_args(
        [os.path.join(case_dir, pt_name), "-o", out_path, "--cube", *map(str, meta["cube"]),
         "--parallel", str(meta["n"]), "--rope", meta["rope"], "--heads", str(meta["heads"]),
         "--classes", str(meta["classes"]), "--cfg", str(meta["cfg"]), "--top-k", "1",
         "--source", f"official PAR code, random weights (shared/fixtures/official-par/{os.path.basename(case_dir)})"])
    args.actions_list = None
    with open(os.devnull, "w") as devnull:
        return convert_par.convert(args.checkpoint, out_path, args, log=devnull)


def main(argv=None):
    p = argparse.ArgumentParser(description="make Tests/Fixtures for the Swift engine")
    p.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures"))
    p.add_argument("--official-src", default=OFFICIAL_SRC)
    p.add_argument("--only", help="comma-separated engine case names")
    args = p.parse_args(argv)
    names = args.only.split(",") if args.only else list(CASES)
    for name in names:
        meta = make_case(os.path.join(args.out, "engine", name), name, CASES[name])
        print(f"engine/{name}: {meta['steps']} steps, min greedy gap {meta['min_greedy_gap']}", file=sys.stderr)
    if not args.only and os.path.isdir(args.official_src):
        os.makedirs(os.path.join(args.out, "official-par"), exist_ok=True)
        shutil.copyfile(os.path.join(args.official_src, "README.md"),
                        os.path.join(args.out, "official-par", "README.md"))
        for case in OFFICIAL_CASES:
            make_official(os.path.join(args.out, "official-par", case), case, args.official_src)
            print(f"official-par/{case}: copied and converted", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
