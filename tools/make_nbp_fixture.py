"""Make Tests/Fixtures/tokenizer/nbp_tiny.pt and nbp_tiny_expected.safetensors
by running NBP's own tokenizer code on random weights (run once, with torch).

NBP's `VideoTokenizer` hard-codes the UCF-101 layer list, so this builds a
small one with the same pattern from NBP's own layer classes (CausalConv3d,
ResidualUnit, Depth2Space3D, GroupNorm3D, Swish, FSQ) and runs NBP's own
`encode`, `quantizers` and `decode_from_code_indices`. The checkpoint is saved
in the layout of NBP's training checkpoints: `model_state_dict` with the DDP
`module.` prefix, plus entries that are not part of the tokenizer (a
discriminator weight, optimizer state) that the converter must drop.

    python3 tools/make_nbp_fixture.py --nbp /path/to/NBP-checkout   (needs torch, einops, beartype)

NBP's code is imported from the given checkout; none of it is copied here.
"""
import argparse
import json
import os
import sys
import types

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bundle import write_safetensors  # noqa: E402

# 32 groups: NBP's ResidualUnit hard-codes GroupNorm3D(32, ...).
TINY_CONFIG = {
    "in_channels": 3, "embed_dim": 4, "fsq_levels": [8, 5, 5, 5],
    "norm_groups": 32, "norm_eps": 1e-5, "kernel": 3,
    "encoder": {"channels": [32, 64], "res_units": [1, 1], "down": [[2, 2, 2]]},
    "decoder": {"channels": [32, 32], "res_units": [1, 1], "up": [[2, 2, 2]]},
    "frames": 5, "size": 16,
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nbp", required=True, help="an NBP checkout (github.com/RenShuhuai-Andy/NBP)")
    ap.add_argument("--out", default=os.path.join(HERE, "..", "Tests", "Fixtures", "tokenizer"))
    args = ap.parse_args()

    import torch
    from torch import nn
    sys.modules.setdefault("torchvision", types.ModuleType("torchvision"))  # imported, unused for the tokenizer
    tvm = types.ModuleType("torchvision.models")
    tvm.VGG16_Weights = None
    sys.modules.setdefault("torchvision.models", tvm)
    sys.path.insert(0, args.nbp)
    from nbp import magvit2 as M
    from nbp.quantizers import FSQ

    torch.manual_seed(20241127)
    cfg = TINY_CONFIG
    e, d = cfg["encoder"], cfg["decoder"]
    enc = [M.CausalConv3d(3, 32, (3, 3, 3), stride=(1, 1, 1)),
           M.ResidualUnit(32, 32, (3, 3, 3)),
           M.CausalConv3d(32, 32, (3, 3, 3), stride=(2, 2, 2)),
           M.ResidualUnit(32, 64, (3, 3, 3)),
           M.GroupNorm3D(32, 64), M.Swish(64), nn.Conv3d(64, 4, (1, 1, 1))]
    dec = [M.CausalConv3d(4, 32, (3, 3, 3), stride=(1, 1, 1)),
           M.ResidualUnit(32, 32, (3, 3, 3)),
           M.CausalConv3d(32, 256, (3, 3, 3), stride=(1, 1, 1)), M.Depth2Space3D((2, 2, 2)),
           M.ResidualUnit(32, 32, (3, 3, 3)),
           M.GroupNorm3D(32, 32), M.Swish(32), M.CausalConv3d(32, 3, (3, 3, 3), stride=(1, 1, 1))]
    assert e["channels"] == [32, 64] and d["channels"] == [32, 32]

    tok = M.VideoTokenizer.__new__(M.VideoTokenizer)  # NBP's methods, our layer lists
    nn.Module.__init__(tok)
    tok.encoder_layers, tok.decoder_layers = nn.ModuleList(enc), nn.ModuleList(dec)
    tok.quantizers = FSQ(cfg["fsq_levels"], dim=cfg["embed_dim"], num_codebooks=1)
    tok.has_cond, tok.fmap_size, tok.use_fsq = False, 8, True
    tok.register_buffer("zero", torch.tensor(0.), persistent=False)
    tok.eval()
    with torch.no_grad():  # default init leaves norms at 1/0 and betas at 1: perturb them
        for n, p in tok.named_parameters():
            if n.endswith("beta"):
                p.copy_(1 + 0.3 * torch.randn_like(p))
            elif p.ndim == 1:
                p.copy_((1.0 if n.endswith("weight") else 0.0) + 0.1 * torch.randn_like(p))
        tok.decoder_layers[-1].conv.bias.add_(0.5)

        video = torch.rand(1, 3, cfg["frames"], cfg["size"], cfg["size"])
        latents = tok.encode(video)
        _, enc_idx = tok.quantizers(latents)
        recon = tok.decode_from_code_indices(enc_idx)
        idx = torch.randint(0, 1000, (1, 3, 8, 8), dtype=torch.int64)
        decoded = tok.decode_from_code_indices(idx)

    sd = tok.state_dict()
    ckpt = {"model_state_dict": {"module." + k: v.clone() for k, v in sd.items()},
            "version": "0.0.0-fixture", "epoch": 3}
    ckpt["model_state_dict"]["module.discr.0.weight"] = torch.randn(4, 3, 3, 3)   # not part of the tokenizer
    ckpt["optimizer_state_dict"] = {"state": {0: {"step": torch.tensor(7.0)}}, "param_groups": [{"lr": 1e-4}]}
    os.makedirs(args.out, exist_ok=True)
    torch.save(ckpt, os.path.join(args.out, "nbp_tiny.pt"))

    chl = lambda t: np.ascontiguousarray(np.moveaxis(t[0].numpy(), 0, -1), dtype=np.float32)  # (C,F,h,w) -> (F,h,w,C)
    expected = {
        "video": chl(video),                                   # (5, 16, 16, 3) encoder input
        "latents": chl(latents),                               # (3, 8, 8, 4) pre-quantization
        "encoded": enc_idx[0].numpy().astype(np.int32),        # (3, 8, 8)
        "reconstructed": chl(recon),                           # decoder(encoded), unclamped
        "indices": idx[0].numpy().astype(np.int32),            # (3, 8, 8) random tokens
        "decoded": chl(decoded),                               # decoder(indices), unclamped
    }
    write_safetensors(os.path.join(args.out, "nbp_tiny_expected.safetensors"), expected,
                      metadata={"config": json.dumps(cfg), "source": "NBP nbp/magvit2.py layers, torch " + torch.__version__})
    print("wrote", args.out, {k: v.shape for k, v in expected.items()})


if __name__ == "__main__":
    main()
