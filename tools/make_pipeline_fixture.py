"""A tiny complete bundle (tokenizer + GPTs for n = 1 and 4) for the Swift
end-to-end tests of the main command, batch rendering and resume
(Tests/Fixtures/pipeline/tiny/). Random weights: the clips are noise, but
every stage runs as with a trained model.

    python3 tools/make_pipeline_fixture.py
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bundle  # noqa: E402
import convert_nbp  # noqa: E402
import magvit2_reference as ref  # noqa: E402
from make_engine_fixtures import random_weights  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "pipeline", "tiny")

# 4x in time, 8x in space as the real tokenizers: a 3x4x4 cube is 9 frames of 32x32.
TOKENIZER = {
    "in_channels": 3, "embed_dim": 3, "fsq_levels": [4, 4, 4], "norm_groups": 4, "norm_eps": 1e-5, "kernel": 3,
    "encoder": {"channels": [8, 8, 8, 8], "res_units": [0, 1, 0, 1], "down": [[1, 2, 2], [2, 2, 2], [2, 2, 2]]},
    "decoder": {"channels": [8, 8, 8, 8], "res_units": [1, 0, 1, 0], "up": [[2, 2, 2], [2, 2, 2], [1, 2, 2]]},
    "frames": 9, "size": 32,
}
CUBE = [3, 4, 4]
ACTIONS = ["Wave", "Jump", "Spin"]
SAMPLING = {"temperature": 1.0, "cfg_scale": 1.5, "top_k": 0, "top_p": 0.95}


def main():
    os.makedirs(OUT, exist_ok=True)
    convert_nbp.write_tokenizer_bundle(os.path.join(OUT, "tokenizer.safetensors"), TOKENIZER,
                                       ref.seeded_weights(TOKENIZER, 7), "F32",
                                       source="seeded random weights, tools/make_pipeline_fixture.py")
    vocab = int(np.prod(TOKENIZER["fsq_levels"]))
    for n in (1, 4):
        cfg = bundle.gpt_config(dim=32, n_layer=2, n_head=2, vocab_size=vocab, num_classes=len(ACTIONS), cube=CUBE,
                                parallel=n, rope="3d", multiple_of=32, sampling=SAMPLING, actions=ACTIONS,
                                source="random weights, tools/make_pipeline_fixture.py")
        weights = random_weights(cfg, np.random.default_rng(100 + n))
        bundle.write_gpt_bundle(os.path.join(OUT, f"gpt-n{n}.safetensors"), cfg, weights, "F32")


if __name__ == "__main__":
    main()
