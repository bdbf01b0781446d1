#!/usr/bin/env python3
"""Make Tests/Fixtures/image/tiny: a small class-to-image bundle (numpy only, deterministic).

    python3 tools/make_image_fixture.py [--out Tests/Fixtures]

gpt.safetensors: a random 2d GPT (make_engine_fixtures' sizes, 1000 classes so
that ImageNet's class names apply, n = 4, cube 1 x 8 x 8, image_size 16, the
paper's XL sampling defaults: CFG 1.5, top-k 0); vq.safetensors: the vq2d
fixture vq_c (codebook 128, 2x upsampling), copied.
"""
import argparse
import os
import shutil
import sys

import numpy as np

import bundle
from make_engine_fixtures import SIZES, random_weights


def make(out):
    d = os.path.join(out, "image", "tiny")
    os.makedirs(d, exist_ok=True)
    sizes = dict(SIZES, num_classes=1000)
    cfg = bundle.gpt_config(n_head=2, cube=[1, 8, 8], parallel=4, rope="2d", image_size=16,
                            sampling={"temperature": 1.0, "cfg_scale": 1.5, "top_k": 0, "top_p": 1.0},
                            source="random weights, tools/make_image_fixture.py seed 20", **sizes)
    bundle.write_gpt_bundle(os.path.join(d, "gpt.safetensors"), cfg, random_weights(cfg, np.random.default_rng(20)))
    shutil.copyfile(os.path.join(out, "vq2d", "vq_c.safetensors"), os.path.join(d, "vq.safetensors"))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures"))
    make(p.parse_args(argv).out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
