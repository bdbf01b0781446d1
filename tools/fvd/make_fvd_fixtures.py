#!/usr/bin/env python3
"""Fixtures for the Swift `par-video fvd` (Tests/Fixtures/fvd), from this tool.

  python3 -m tools.fvd.make_fvd_fixtures [--out Tests/Fixtures/fvd]

- sets/real, sets/gen: two labelled sets of 6 frame-folder clips (16 PNG
  frames of 12 x 16, integer-formula content).
- fvd_expected.json: fvd.py's result on those sets with the tiny seeded I3D
  (i3d_tiny.safetensors, written by make_i3d_fixtures.py), the features of
  every clip, and Frechet / nearest-centroid cases computed with numpy and
  scipy (frechet.py, protocol.py), so the Swift math is checked in CI without
  the real weights.
Needs numpy, scipy, safetensors and the ffmpeg CLI; not torch or jax.
"""
import argparse
import json
import os
import shutil
import types

import numpy as np

from tools.fvd import frechet
from tools.fvd import fvd
from tools.fvd import i3d_numpy
from tools.fvd import protocol
from tools.fvd.make_i3d_fixtures import synthetic_clip
from tools.eval.synthaction_reference import png_bytes

HERE = os.path.dirname(os.path.abspath(__file__))

CLIPS = 6


def tiny_variables(path):
    from safetensors.numpy import load_file
    tree = {}
    for key, value in load_file(path).items():
        node = tree
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return tree


class TinyExtractor:
    backend = "numpy-tiny"

    def __init__(self, variables):
        self.model = i3d_numpy.I3D(variables)
        self.settings = {"features": "tiny"}
        self.features = []

    def __call__(self, clips):
        f = self.model(clips)
        self.features += [np.asarray(x, np.float32) for x in f]
        return f


def write_sets(root):
    shutil.rmtree(root, ignore_errors=True)
    for side, base in (("real", 0), ("gen", 10)):
        d = os.path.join(root, side)
        os.makedirs(d)
        rows = ["clip,label"]
        for i in range(CLIPS):
            name = f"{side}{i}"
            os.mkdir(os.path.join(d, name))
            for t, frame in enumerate(synthetic_clip(base + i, frames=16, height=12, width=16)):
                with open(os.path.join(d, name, f"{t:06d}.png"), "wb") as f:
                    f.write(png_bytes(frame))
            rows.append(f"{name},{i % 2}")
        with open(os.path.join(d, "labels.csv"), "w") as f:
            f.write("\n".join(rows) + "\n")


def frechet_cases(rng):
    cases = []
    for n1, n2, d, shift, scale in ((60, 50, 16, 0.5, 1.3), (10, 12, 24, 2.0, 0.7), (300, 200, 8, 0.0, 1.0)):
        mix = rng.normal(0, 1, (d, d))
        f1 = (rng.normal(0, 1, (n1, d)) @ mix).astype(np.float32)
        f2 = (rng.normal(shift, scale, (n2, d)) @ mix).astype(np.float32)
        dist, _ = frechet.frechet_distance_features(f1, f2)
        cases.append({"n1": n1, "n2": n2, "dim": d, "f1": f1.ravel().tolist(), "f2": f2.ravel().tolist(), "fvd": dist})
    return cases


def accuracy_case(rng):
    ref = rng.normal(0, 1, (30, 5)).astype(np.float32)
    ref_labels = [str(i % 3) for i in range(30)]
    ref[:, 0] += np.array([3.0 * (i % 3) for i in range(30)], np.float32)
    x = rng.normal(0, 1, (20, 5)).astype(np.float32)
    x_labels = [str(i % 4) for i in range(20)]  # class 3: no centroid, left out
    x[:, 0] += np.array([3.0 * (i % 4) for i in range(20)], np.float32)
    acc, per = protocol.nearest_centroid_accuracy(ref, ref_labels, x, x_labels)
    return {"dim": 5, "ref": ref.ravel().tolist(), "ref_labels": ref_labels, "x": x.ravel().tolist(),
            "x_labels": x_labels, "accuracy": acc, "per_class": per}


def selection_case():
    """The seeded choice (shared rule: smallest sha256 of "seed:name"), with classes."""
    from tools.fvd import clip_io
    clips = [clip_io.Clip(f"c{i:02d}", "", ()) for i in range(40)]
    real_labels = {c.name: str(i % 3) for i, c in enumerate(clips)}
    gen_labels = {c.name: str(i % 2) for i, c in enumerate(clips)}
    plain = protocol.select(clips, clips, "2048", 5, 7)
    matched = protocol.select(clips, clips, "10k", 9, 3, real_labels, gen_labels)
    return {"names": [c.name for c in clips], "real_labels": [real_labels[c.name] for c in clips],
            "gen_labels": [gen_labels[c.name] for c in clips],
            "plain": {"n": 5, "seed": 7, "real": [c.name for c in plain.real], "gen": [c.name for c in plain.gen]},
            "matched": {"n": 9, "seed": 3, "real": [c.name for c in matched.real], "gen": [c.name for c in matched.gen]}}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=os.path.join(HERE, "..", "..", "Tests", "Fixtures", "fvd"))
    a = p.parse_args(argv)
    sets = os.path.join(a.out, "sets")
    write_sets(sets)
    ex = TinyExtractor(tiny_variables(os.path.join(a.out, "i3d_tiny.safetensors")))
    args = fvd.parse_args(["--real", os.path.join(sets, "real"), "--gen", os.path.join(sets, "gen"),
                           "--max-clips", str(CLIPS), "--no-cache", "--quiet", "--batch", "2"])
    r = fvd.run(args, ex)
    real, gen = np.stack(ex.features[:CLIPS]), np.stack(ex.features[CLIPS:])
    exact, _ = frechet.frechet_distance_features(real, gen)  # fvd.py rounds to 4 decimals
    assert abs(round(exact, 4) - r["fvd"]) < 1e-9
    rng = np.random.default_rng(19)
    out = {"fvd": exact, "accuracy": r["accuracy"], "accuracy_real": r["accuracy_real"],
           "class_matched": r["class_matched"], "classes": 40,
           "features_real": real.ravel().tolist(), "features_gen": gen.ravel().tolist(),
           "frechet_cases": frechet_cases(rng), "accuracy_case": accuracy_case(rng),
           "selection": selection_case()}
    with open(os.path.join(a.out, "fvd_expected.json"), "w") as f:
        json.dump(out, f)
    print("wrote", a.out, "fvd", r["fvd"], "accuracy", r["accuracy"])


if __name__ == "__main__":
    main()
