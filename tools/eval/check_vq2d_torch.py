#!/usr/bin/env python3
"""Check tools/reference/vq2d_reference.py against LlamaGen's own vq_model.py (local
only: needs torch and a copy of the official file, which is not in this
repository).

    python3 -m tools.eval.check_vq2d_torch --official DIR/vq_model.py [--small] [--latent 24] \
        [--save-pt model.pt] [--save-expected expected.safetensors]

Builds the official VQ-16 (or a small config with --small) with PyTorch's own
random init (codebook l2-normalised as the official constructor leaves it),
decodes a random h x w index grid and encodes a random image with both, and
prints the largest relative difference. --save-pt writes the model the way
the published vq_ds16_c2i.pt is laid out ({"model": state_dict}); the
expected file holds the indices, torch's decoded image (H x W x 3) and the
torch encoder's indices and latents for the Swift check (VQImageTests).
"""
import argparse
import importlib.util
import time

import numpy as np

from tools.convert import bundle
from tools.reference import vq2d_reference as ref

SMALL = {"codebook_size": 64, "codebook_embed_dim": 8, "codebook_l2_norm": True, "z_channels": 32,
         "channels": 32, "encoder_ch_mult": [1, 2], "decoder_ch_mult": [1, 2], "num_res_blocks": 1,
         "in_channels": 3, "norm_groups": 32, "norm_eps": 1e-6, "image_size": 16}


def rel(a, b):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--official", required=True, help="path of LlamaGen's tokenizer/tokenizer_image/vq_model.py")
    p.add_argument("--small", action="store_true")
    p.add_argument("--latent", type=int, default=4, help="latent side h = w")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save-pt")
    p.add_argument("--save-expected")
    p.add_argument("--no-encode", action="store_true")
    p.add_argument("--no-reference", action="store_true", help="torch only (for the Swift check at full geometry)")
    a = p.parse_args()
    import torch
    spec = importlib.util.spec_from_file_location("official_vq_model", a.official)
    vq = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(vq)
    torch.manual_seed(a.seed)
    cfg = SMALL if a.small else ref.VQ16_CONFIG
    model = vq.VQModel(vq.ModelArgs(codebook_size=cfg["codebook_size"], codebook_embed_dim=cfg["codebook_embed_dim"],
                                    encoder_ch_mult=cfg["encoder_ch_mult"], decoder_ch_mult=cfg["decoder_ch_mult"],
                                    z_channels=cfg["z_channels"]))
    if a.small:     # the official Encoder/Decoder take ch and num_res_blocks only as constructor defaults
        model.encoder = vq.Encoder(ch=cfg["channels"], ch_mult=cfg["encoder_ch_mult"], z_channels=cfg["z_channels"],
                                   num_res_blocks=cfg["num_res_blocks"])
        model.decoder = vq.Decoder(ch=cfg["channels"], ch_mult=cfg["decoder_ch_mult"], z_channels=cfg["z_channels"],
                                   num_res_blocks=cfg["num_res_blocks"])
    with torch.no_grad():   # norms' default init is 1/0: perturb them so the check sees gains and shifts
        for name, t in model.named_parameters():
            if "norm" in name:
                t.add_(0.1 * torch.randn_like(t))
    model.eval()
    sd = model.state_dict()
    if a.save_pt:
        torch.save({"model": sd}, a.save_pt)
    W = {k: v.numpy().astype(np.float32) for k, v in sd.items() if k != "quantize.codebook_used"}
    assert set(W) == set(ref.weight_shapes(cfg)), sorted(set(W) ^ set(ref.weight_shapes(cfg)))
    h = a.latent
    rng = np.random.default_rng(a.seed)
    idx = rng.integers(0, cfg["codebook_size"], size=(h, h))
    t0 = time.time()
    with torch.no_grad():
        dec_t = model.decode_code(torch.from_numpy(idx.reshape(-1)), shape=(1, cfg["codebook_embed_dim"], h, h))
    dec_t = dec_t[0].permute(1, 2, 0).numpy()
    t1 = time.time()
    if not a.no_reference:
        dec_r = ref.decode_indices(idx, W, cfg)
        t2 = time.time()
        print(f"decode {h}x{h} -> {dec_t.shape[0]}x{dec_t.shape[1]}: reference vs official max rel diff "
              f"{rel(dec_r, dec_t):.3g} (torch {t1 - t0:.1f} s, numpy {t2 - t1:.1f} s)")
    else:
        print(f"decode {h}x{h} -> {dec_t.shape[0]}x{dec_t.shape[1]}: torch {t1 - t0:.1f} s")
    out = {"indices": idx.astype(np.int32), "decoded": dec_t.astype(np.float32)}
    if not a.no_encode:
        side = h * ref.downsample_factor(cfg)
        img = rng.uniform(-1, 1, size=(side, side, 3)).astype(np.float32)
        with torch.no_grad():
            x = torch.from_numpy(img).permute(2, 0, 1)[None]
            z_t = model.quant_conv(model.encoder(x))
            _, _, (_, _, enc_t) = model.quantize(z_t)
        z_t = z_t[0].permute(1, 2, 0).numpy()
        enc_t = enc_t.numpy().reshape(h, h)
        if not a.no_reference:
            z_r = ref.encode_latents(img, W, cfg)
            enc_r = ref.quantize(z_r, W, cfg)
            print(f"encode: latents max rel diff {rel(z_r, z_t):.3g}, indices equal {int((enc_r == enc_t).sum())}/{enc_t.size}")
        # The Swift tokenizer takes images in [0, 1].
        out.update({"image": (img + 1) / 2, "latents": z_t.astype(np.float32), "encoded": enc_t.astype(np.int32)})
    if a.save_expected:
        bundle.write_safetensors(a.save_expected, out)


if __name__ == "__main__":
    main()
