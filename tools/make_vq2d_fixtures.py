"""Fixtures for the Swift VQ image tokenizer tests (Tests/Fixtures/vq2d/), from
the numpy reference tools/vq2d_reference.py:

- vq_a: seeded weights (Swift regenerates them), two levels, a channel change
  (nin_shortcut), attention, l2-normalised codebook.
- vq_c: a tiny F32 bundle with the 2d engine fixtures' vocabulary (128).
- vq_b: a vq2d bundle with BF16 kernels written by the converter, 8 norm
  groups, a raw (not normalised) codebook.

Each *_expected file holds an index grid and its decoded image (before
clamping, H x W x 3), an image in [0, 1], its latents and its indices.

    python3 tools/make_vq2d_fixtures.py
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bundle  # noqa: E402
import convert_vq  # noqa: E402
import vq2d_reference as ref  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "vq2d")

VQ_A = {"codebook_size": 64, "codebook_embed_dim": 8, "codebook_l2_norm": True, "z_channels": 32,
        "channels": 32, "encoder_ch_mult": [1, 2], "decoder_ch_mult": [1, 2], "num_res_blocks": 1,
        "in_channels": 3, "norm_groups": 32, "norm_eps": 1e-6, "image_size": 16}
VQ_B = {"codebook_size": 32, "codebook_embed_dim": 4, "codebook_l2_norm": False, "z_channels": 8,
        "channels": 16, "encoder_ch_mult": [1, 2, 2], "decoder_ch_mult": [1, 1, 2], "num_res_blocks": 0,
        "in_channels": 3, "norm_groups": 8, "norm_eps": 1e-6, "image_size": 16}
# vq_c: a bundle whose codebook (128) matches the vocabulary of the 2d engine
# fixtures (Tests/Fixtures/engine/2d-*: 8 x 8 tokens), for the image pipeline.
VQ_C = {"codebook_size": 128, "codebook_embed_dim": 4, "codebook_l2_norm": True, "z_channels": 8,
        "channels": 8, "encoder_ch_mult": [1, 1], "decoder_ch_mult": [1, 1], "num_res_blocks": 0,
        "in_channels": 3, "norm_groups": 4, "norm_eps": 1e-6, "image_size": 16}
LATENT = (3, 4)       # h x w: not square, to catch a transposed axis


def make(name, cfg, seed, dtype=None, out=OUT):
    W = ref.seeded_weights(cfg, seed)
    if dtype:
        path = os.path.join(out, f"{name}.safetensors")
        convert_vq.write_vq_bundle(path, dict(cfg, source="seeded test weights"), W, dtype)
        _, W, _ = convert_vq.read_vq_bundle(path)      # the values as stored (BF16 rounded)
    rng = np.random.default_rng(seed)
    h, w = LATENT
    idx = rng.integers(0, cfg["codebook_size"], size=(h, w))
    decoded = ref.decode_indices(idx, W, cfg)
    f = ref.downsample_factor(cfg)
    image = rng.random((h * f, w * f, 3)).astype(np.float32)
    latents = ref.encode_latents(image.astype(np.float64) * 2 - 1, W, cfg)
    encoded = ref.quantize(latents, W, cfg)
    bundle.write_safetensors(os.path.join(out, f"{name}_expected.safetensors"), {
        "indices": idx.astype(np.int32), "decoded": decoded.astype(np.float32), "image": image,
        "latents": latents.astype(np.float32), "encoded": encoded.astype(np.int32),
    }, metadata={"config": json.dumps(cfg), "seed": str(seed)})
    print(name, "decoded", decoded.shape, "range", float(decoded.min()), float(decoded.max()),
          "latents", latents.shape, "codes used", len(set(encoded.ravel())))


def main():
    os.makedirs(OUT, exist_ok=True)
    make("vq_a", VQ_A, 7)
    make("vq_b", VQ_B, 11, dtype="BF16")
    make("vq_c", VQ_C, 13, dtype="F32")


if __name__ == "__main__":
    main()
