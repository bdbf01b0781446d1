"""tools/train/magvit2_torch.py (the trainer's model) and the numpy reference agree
on random weights, names and shapes included. Needs torch (skipped in CI)."""
import numpy as np
import pytest

from tools.reference import magvit2_reference as ref

torch = pytest.importorskip("torch")
from tools.train import magvit2_torch as mt  # noqa: E402


@pytest.mark.parametrize("cfg", [mt.SMALL_CONFIG])
def test_torch_model_matches_reference(cfg):
    torch.manual_seed(0)
    m = mt.VideoTokenizer(cfg).eval()
    with torch.no_grad():
        for n, p in m.named_parameters():
            if p.ndim == 1 or n.endswith("beta"):
                p.copy_(1 + 0.2 * torch.randn_like(p) if (n.endswith("weight") or n.endswith("beta")) else 0.1 * torch.randn_like(p))
    W = {k: v.numpy() for k, v in m.state_dict().items()}
    assert {k: tuple(v.shape) for k, v in W.items()} == ref.weight_shapes(cfg)
    t, h, w = ref.latent_shape(cfg, cfg["frames"], cfg["size"])
    idx = torch.randint(0, int(np.prod(cfg["fsq_levels"])), (1, t, h, w))
    video = torch.rand(1, 3, cfg["frames"], cfg["size"], cfg["size"])
    with torch.no_grad():
        dec = m.decode_indices(idx)[0].numpy()
        ids = m.tokenize(video)[0].numpy()
        z = m.encode(video)[0].numpy()
    assert np.abs(ref.decode_codes(np.moveaxis(ref.indices_to_codes(idx[0].numpy(), cfg["fsq_levels"]), -1, 0), W, cfg) - dec).max() < 1e-4
    frames = np.moveaxis(video[0].numpy(), 0, -1)
    assert np.abs(ref.encode_latents(frames, W, cfg) - z).max() < 1e-4
    assert np.mean(ref.encode_indices(frames, W, cfg) == ids) > 0.99  # rounding ties may differ in fp32
