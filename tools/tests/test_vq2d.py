"""The vq2d numpy reference, its fixtures and the vq_ds16_c2i.pt converter."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tools.convert import bundle
from tools.convert import convert_vq
from tools.fixtures import make_vq2d_fixtures as mvf
from tools.reference import vq2d_reference as ref
from tools.tests.paths import FIXTURES, ROOT
from tools.tests.ptwriter import write_pt


def test_conv2d_matches_a_direct_sum():
    rng = np.random.default_rng(0)
    x, w, b = rng.normal(size=(5, 6, 3)), rng.normal(size=(4, 3, 3, 3)), rng.normal(size=4)
    for stride, pad in ((1, None), (2, (0, 1, 0, 1))):
        got = ref.conv2d(x, w, b, stride, pad)
        pt, pb, pl, pr = pad or (1, 1, 1, 1)
        xp = np.pad(x, ((pt, pb), (pl, pr), (0, 0)))
        want = np.zeros_like(got)
        for y in range(got.shape[0]):
            for xx in range(got.shape[1]):
                patch = xp[y * stride:y * stride + 3, xx * stride:xx * stride + 3]        # 3 x 3 x cin
                want[y, xx] = np.einsum("hwc,ochw->o", patch, w) + b
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_ops_match_torch_functional():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 4, 64))
    t = torch.from_numpy(x).permute(2, 0, 1)[None]
    g, s = rng.normal(size=64), rng.normal(size=64)
    want = F.group_norm(t, 32, torch.from_numpy(g), torch.from_numpy(s), eps=1e-6)[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(ref.group_norm(x, g, s, 32, 1e-6), want, rtol=1e-10, atol=1e-10)
    up = F.interpolate(t, scale_factor=2.0, mode="nearest")[0].permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(np.repeat(np.repeat(x, 2, axis=0), 2, axis=1), up)
    w, b = rng.normal(size=(8, 64, 3, 3)), rng.normal(size=8)
    down = F.conv2d(F.pad(t, (0, 1, 0, 1)), torch.from_numpy(w), torch.from_numpy(b), stride=2)[0].permute(1, 2, 0)
    np.testing.assert_allclose(ref.conv2d(x, w, b, 2, (0, 1, 0, 1)), down.numpy(), rtol=1e-10, atol=1e-10)


def test_vq16_layout_has_the_published_tensor_count():
    shapes = ref.weight_shapes(ref.VQ16_CONFIG)
    assert shapes["quantize.embedding.weight"] == (16384, 8)
    assert shapes["decoder.conv_in.weight"] == (512, 256, 3, 3) and shapes["decoder.conv_out.weight"] == (3, 128, 3, 3)
    assert shapes["decoder.conv_blocks.3.res.0.nin_shortcut.weight"] == (128, 256, 1, 1)
    assert "decoder.conv_blocks.4.res.0.nin_shortcut.weight" not in shapes
    assert "decoder.conv_blocks.0.attn.2.q.weight" in shapes and "decoder.conv_blocks.1.attn.0.q.weight" not in shapes
    assert "decoder.conv_blocks.4.upsample.conv.weight" not in shapes and "encoder.conv_blocks.4.downsample.conv.weight" not in shapes
    assert sum(int(np.prod(s)) for s in shapes.values()) == 71_883_403


@pytest.mark.parametrize("name", ["vq_a", "vq_b", "vq_c"])
def test_fixture_regenerates(tmp_path, name):
    cfg, seed, dtype = {"vq_a": (mvf.VQ_A, 7, None), "vq_b": (mvf.VQ_B, 11, "BF16"), "vq_c": (mvf.VQ_C, 13, "F32")}[name]
    mvf.make(name, cfg, seed, dtype, out=str(tmp_path))
    committed = os.path.join(FIXTURES, "vq2d")
    if dtype:
        assert (tmp_path / f"{name}.safetensors").read_bytes() == open(os.path.join(committed, f"{name}.safetensors"), "rb").read()
    new, new_meta, _ = bundle.read_safetensors(str(tmp_path / f"{name}_expected.safetensors"))
    old, old_meta, _ = bundle.read_safetensors(os.path.join(committed, f"{name}_expected.safetensors"))
    assert new.keys() == old.keys() and new_meta == old_meta
    for k in new:
        np.testing.assert_allclose(new[k], old[k], rtol=1e-6, atol=1e-6)


def test_float32_reference_meets_the_swift_tolerance():
    """What the Swift decoder is held to, shown by the reference in float32."""
    exp, meta, _ = bundle.read_safetensors(os.path.join(FIXTURES, "vq2d", "vq_a_expected.safetensors"))
    cfg = json.loads(meta["config"])
    W = ref.seeded_weights(cfg, int(meta["seed"]))
    got = ref.decode_indices(exp["indices"], W, cfg, np.float32)
    assert got.dtype == np.float32
    assert np.abs(got - exp["decoded"]).max() <= 1e-5 * np.abs(exp["decoded"]).max()


def published_pt(path, cfg, seed=3, extra=None, codebook_shape=None):
    """A .pt laid out as vq_ds16_c2i.pt: {"model": state dict with codebook_used}."""
    sd = ref.seeded_weights(cfg, seed)
    if codebook_shape:
        sd["quantize.embedding.weight"] = np.zeros(codebook_shape, np.float32)
    sd["quantize.codebook_used"] = np.zeros(65536, np.float32)
    sd.update(extra or {})
    write_pt(str(path), {"model": sd})
    return sd


def run_convert(*args):
    return subprocess.run([sys.executable, "-m", "tools.convert.convert_vq", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT)


def test_converts_the_published_layout(tmp_path):
    cfg_path = tmp_path / "cfg.json"
    cfg_path.write_text(json.dumps(mvf.VQ_A))
    sd = published_pt(tmp_path / "vq.pt", mvf.VQ_A)
    r = run_convert(tmp_path / "vq.pt", "-o", tmp_path / "vq.safetensors", "--config", cfg_path, "--dtype", "bf16",
                    "--image-size", 32)
    assert r.returncode == 0, r.stderr
    assert "dropped 1 entries (quantize.codebook_used)" in r.stdout
    cfg, tensors, dtypes = convert_vq.read_vq_bundle(str(tmp_path / "vq.safetensors"))
    assert cfg["image_size"] == 32 and cfg["source"].startswith("converted from ")
    assert set(tensors) == set(sd) - {"quantize.codebook_used"}
    assert dtypes["decoder.conv_in.weight"] == "BF16" and dtypes["quantize.embedding.weight"] == "F32"
    np.testing.assert_array_equal(tensors["quantize.embedding.weight"], sd["quantize.embedding.weight"])
    np.testing.assert_allclose(tensors["decoder.conv_in.weight"], sd["decoder.conv_in.weight"], rtol=1 / 128)


@pytest.mark.parametrize("case, message", [
    ("codebook", "codebook quantize.embedding.weight has shape [64, 4], the vq2d config needs [64, 8]"),
    ("extra", "unexpected tensor decoder.extra.weight"),
    ("config", "vq2d config: image_size must be a multiple of 2, got 15"),
])
def test_bad_inputs_are_one_line_errors(tmp_path, case, message):
    cfg = dict(mvf.VQ_A, image_size=15) if case == "config" else mvf.VQ_A
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    published_pt(tmp_path / "vq.pt", mvf.VQ_A, codebook_shape=(64, 4) if case == "codebook" else None,
                 extra={"decoder.extra.weight": np.zeros(3, np.float32)} if case == "extra" else None)
    r = run_convert(tmp_path / "vq.pt", "-o", tmp_path / "out.safetensors", "--config", tmp_path / "cfg.json")
    assert r.returncode == 1 and r.stderr == f"convert_vq: error: {message}\n"
    assert not os.path.exists(tmp_path / "out.safetensors")


def run_convert_par(*args):
    return subprocess.run([sys.executable, "-m", "tools.convert.convert_par", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT)


@pytest.mark.parametrize("size, error", [(256, None), (200, "config: image_size 200 must be a multiple of H = W")])
def test_gpt_bundle_records_image_size(tmp_path, size, error):
    pt = os.path.join(FIXTURES, "official-par", "par-1x16x16-n4-2d", "official.pt")
    out = tmp_path / "gpt.safetensors"
    r = run_convert_par(pt, "-o", out, "--cube", 1, 16, 16, "--rope", "2d", "--heads", 2, "--image-size", size)
    if error:
        assert r.returncode == 1 and r.stderr.startswith(f"convert_par: error: {error}") and r.stderr.count("\n") == 1
        assert not out.exists()
    else:
        assert r.returncode == 0, r.stderr
        cfg, _, _ = bundle.read_gpt_bundle(str(out))
        assert cfg["image_size"] == 256 and cfg["parallel"] == 4
