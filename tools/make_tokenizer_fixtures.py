"""Fixtures for the Swift tokenizer tests (Tests/Fixtures/tokenizer/), from the
numpy reference tools/magvit2_reference.py:

- small_a / small_b: small random configs with the reference's decoder and
  encoder outputs on random inputs. small_a's weights are seeded (Swift
  regenerates them); small_b is a tokenizer bundle with BF16 kernels and
  channel counts that are not multiples of 16. small_c: seeded, with the built-in
  tokenizer's time-only stride and depth-to-space factors.
- full_decoder_expected: NBP's full-size UCF decoder (225M parameters) with
  seeded weights that the Swift test regenerates bit for bit, decoding a
  2x4x4 cube at full width (5x32x32 frames).

    python3 tools/make_tokenizer_fixtures.py
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bundle  # noqa: E402
import convert_nbp  # noqa: E402
import magvit2_reference as ref  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "tokenizer")

SMALL_A = {
    "in_channels": 3, "embed_dim": 4, "fsq_levels": [8, 5, 5, 5], "norm_groups": 8, "norm_eps": 1e-5, "kernel": 3,
    "encoder": {"channels": [16, 32, 32], "res_units": [1, 1, 0], "down": [[1, 2, 2], [2, 2, 2]]},
    "decoder": {"channels": [32, 32, 16], "res_units": [1, 0, 1], "up": [[2, 2, 2], [1, 2, 2]]},
    "frames": 5, "size": 16,
}
SMALL_B = {
    "in_channels": 3, "embed_dim": 6, "fsq_levels": [8, 8, 8, 5, 5, 5], "norm_groups": 8, "norm_eps": 1e-5, "kernel": 3,
    "encoder": {"channels": [24, 40], "res_units": [1, 1], "down": [[2, 2, 2]]},
    "decoder": {"channels": [24, 24], "res_units": [2, 1], "up": [[2, 2, 2]]},
    "frames": 9, "size": 8,
}
# The built-in tokenizer's factors in miniature: space before time in the encoder, a time-only
# stride (2, 1, 1) and a time-only depth-to-space (2, 1, 1), one norm group.
SMALL_C = {
    "in_channels": 3, "embed_dim": 4, "fsq_levels": [8, 5, 5, 5], "norm_groups": 1, "norm_eps": 1e-5, "kernel": 3,
    "encoder": {"channels": [8, 16, 24], "res_units": [0, 1, 1], "down": [[1, 2, 2], [2, 1, 1]]},
    "decoder": {"channels": [24, 16, 16], "res_units": [1, 1, 0], "up": [[2, 1, 1], [1, 2, 2]]},
    "frames": 9, "size": 8,
}
FULL_SEED = 20241127
FULL_CUBE = (2, 4, 4)


def small(name, cfg, seed, dtype=None, out=OUT):
    """dtype None: no bundle, Swift regenerates the seeded weights; else a bundle file."""
    rng = np.random.default_rng(seed)
    W = ref.seeded_weights(cfg, seed)
    if dtype:
        path = os.path.join(out, f"{name}.safetensors")
        convert_nbp.write_tokenizer_bundle(path, cfg, W, dtype, source="seeded test weights")
        _, W, _ = convert_nbp.read_tokenizer_bundle(path)  # the values as stored (BF16 rounded)
    t, h, w = ref.latent_shape(cfg, cfg["frames"], cfg["size"])
    idx = rng.integers(0, int(np.prod(cfg["fsq_levels"])), size=(t, h, w))
    codes = np.moveaxis(ref.indices_to_codes(idx, cfg["fsq_levels"]), -1, 0)
    decoded = np.moveaxis(ref.decode_codes(codes, W, cfg), 0, -1)
    video = rng.random((cfg["frames"], cfg["size"], cfg["size"], 3))
    latents = np.moveaxis(ref.encode_latents(video.astype(np.float32), W, cfg), 0, -1)
    encoded = ref.encode_indices(video.astype(np.float32), W, cfg)
    bundle.write_safetensors(os.path.join(out, f"{name}_expected.safetensors"), {
        "indices": idx.astype(np.int32), "decoded": decoded.astype(np.float32),
        "video": video.astype(np.float32), "latents": latents.astype(np.float32), "encoded": encoded.astype(np.int32),
    }, metadata={"config": json.dumps(cfg), "seed": str(seed)})
    print(name, "decoded", decoded.shape, "range", decoded.min(), decoded.max(), "latents", latents.shape)


def full():
    cfg = ref.NBP_UCF_CONFIG
    W = {k: v for k, v in ref.seeded_weights(cfg, FULL_SEED).items() if k.startswith("decoder_layers.")}
    print("full decoder parameters:", sum(v.size for v in W.values()))
    idx = np.random.default_rng(FULL_SEED).integers(0, 64000, size=FULL_CUBE)
    codes = np.moveaxis(ref.indices_to_codes(idx, cfg["fsq_levels"]), -1, 0)
    decoded = np.moveaxis(ref.decode_codes(codes, W, cfg), 0, -1)
    bundle.write_safetensors(os.path.join(OUT, "full_decoder_expected.safetensors"), {
        "indices": idx.astype(np.int32), "decoded": decoded.astype(np.float32),
    }, metadata={"config": json.dumps(cfg), "seed": str(FULL_SEED)})
    inside = np.mean((decoded > 0) & (decoded < 1))
    print("full", decoded.shape, "range", decoded.min(), decoded.max(), "inside (0,1):", inside)


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    small("small_a", SMALL_A, 11)
    small("small_b", SMALL_B, 12, "BF16")
    small("small_c", SMALL_C, 13)
    if "--no-full" not in sys.argv:
        full()
