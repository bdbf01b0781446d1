"""The numpy tokenizer reference against NBP's own code (fixture made with
tools/fixtures/make_nbp_fixture.py), the converter on NBP's checkpoint layout, FSQ."""
import json
import os

import numpy as np
import pytest

from tools.convert import bundle
from tools.convert import convert_nbp
from tools.reference import magvit2_reference as ref

FIX = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "Fixtures", "tokenizer")


@pytest.fixture(scope="module")
def nbp(tmp_path_factory):
    expected, meta, _ = bundle.read_safetensors(os.path.join(FIX, "nbp_tiny_expected.safetensors"))
    cfg = json.loads(meta["config"])
    out = str(tmp_path_factory.mktemp("nbp") / "tiny.safetensors")
    _, dropped = convert_nbp.convert(os.path.join(FIX, "nbp_tiny.pt"), out, cfg)
    return cfg, expected, out, dropped


def test_converter_keeps_tokenizer_drops_the_rest(nbp):
    cfg, _, out, dropped = nbp
    assert "module.discr.0.weight" in dropped
    got_cfg, tensors, dtypes = convert_nbp.read_tokenizer_bundle(out)
    assert set(tensors) == set(ref.weight_shapes(cfg))
    assert all(d == "F32" for d in dtypes.values())
    assert {k: v for k, v in got_cfg.items() if k != "source"} == cfg


def test_reference_decoder_matches_nbp(nbp):
    cfg, exp, out, _ = nbp
    _, W, _ = convert_nbp.read_tokenizer_bundle(out)
    codes = np.moveaxis(ref.indices_to_codes(exp["indices"], cfg["fsq_levels"]), -1, 0)
    video = np.moveaxis(ref.decode_codes(codes, W, cfg), 0, -1)
    assert video.shape == exp["decoded"].shape == (5, 16, 16, 3)
    assert np.abs(video - exp["decoded"]).max() < 1e-5
    frames = ref.decode_indices(exp["indices"], W, cfg)
    assert np.abs(frames - np.clip(exp["decoded"], 0, 1)).max() < 1e-5


def test_reference_encoder_matches_nbp(nbp):
    cfg, exp, out, _ = nbp
    _, W, _ = convert_nbp.read_tokenizer_bundle(out)
    z = np.moveaxis(ref.encode_latents(exp["video"], W, cfg), 0, -1)
    assert np.abs(z - exp["latents"]).max() < 1e-5
    assert np.array_equal(ref.encode_indices(exp["video"], W, cfg), exp["encoded"])
    rec = np.moveaxis(ref.decode_codes(np.moveaxis(ref.indices_to_codes(exp["encoded"], cfg["fsq_levels"]), -1, 0), W, cfg), 0, -1)
    assert np.abs(rec - exp["reconstructed"]).max() < 1e-5


def test_bf16_kernels_stay_close(nbp, tmp_path):
    cfg, exp, _, _ = nbp
    out = str(tmp_path / "bf16.safetensors")
    convert_nbp.convert(os.path.join(FIX, "nbp_tiny.pt"), out, cfg, dtype="BF16")
    _, W, dtypes = convert_nbp.read_tokenizer_bundle(out)
    assert {dtypes[k] for k in W if W[k].ndim == 5} == {"BF16"}
    frames = ref.decode_indices(exp["indices"], W, cfg)
    err = np.abs(frames - np.clip(exp["decoded"], 0, 1)).max()
    assert 0 < err < 0.05


def test_fsq_all_codes_round_trip():
    levels = [8, 8, 8, 5, 5, 5]
    codes = ref.indices_to_codes(np.arange(64000), levels)
    assert np.array_equal(ref.codes_to_indices(codes, levels), np.arange(64000))
    assert np.array_equal(codes[1], [-0.75, -1, -1, -1, -1, -1])       # first level varies fastest
    assert np.array_equal(codes[512], [-1, -1, -1, -0.5, -1, -1])      # basis 1, 8, 64, 512, ...
    assert np.array_equal(ref.fsq_quantize(codes * 50, levels).max(0), [0.75, 0.75, 0.75, 1, 1, 1])
    with pytest.raises(ValueError, match="vocabulary"):
        ref.indices_to_codes(np.array([64000]), levels)


def test_converter_rejects_wrong_config(tmp_path):
    with pytest.raises(convert_nbp.ConvertError, match="missing tensor|has shape"):
        convert_nbp.convert(os.path.join(FIX, "nbp_tiny.pt"), str(tmp_path / "x.safetensors"))  # UCF config
    assert not os.path.exists(tmp_path / "x.safetensors")


def test_seeded_uniform_is_stable():
    u = ref.seeded_uniform("decoder_layers.0.conv.weight", 7, 5)
    assert u.dtype == np.float32 and np.all((u >= -1) & (u < 1))
    assert np.array_equal(u, ref.seeded_uniform("decoder_layers.0.conv.weight", 7, 5))
    assert not np.array_equal(u, ref.seeded_uniform("decoder_layers.0.conv.weight", 8, 5))


@pytest.mark.parametrize("name", ["small_a", "small_b"])
def test_committed_small_fixtures_regenerate(name, tmp_path):
    from tools.fixtures import make_tokenizer_fixtures as mk
    cfg, seed, dtype = {"small_a": (mk.SMALL_A, 11, None), "small_b": (mk.SMALL_B, 12, "BF16")}[name]
    mk.small(name, cfg, seed, dtype, out=str(tmp_path))
    new, _, _ = bundle.read_safetensors(str(tmp_path / f"{name}_expected.safetensors"))
    old, meta, _ = bundle.read_safetensors(os.path.join(FIX, f"{name}_expected.safetensors"))
    assert json.loads(meta["config"]) == cfg
    for k in old:
        assert np.array_equal(new[k], old[k]) if old[k].dtype.kind == "i" else np.abs(new[k] - old[k]).max() < 1e-6, k


def test_seeded_full_decoder_weights_match_the_fixture_seed():
    """The full-size fixture's first decoder conv, regenerated, has the documented scale."""
    _, meta, _ = bundle.read_safetensors(os.path.join(FIX, "full_decoder_expected.safetensors"))
    cfg = json.loads(meta["config"])
    assert cfg == ref.NBP_UCF_CONFIG
    u = ref.seeded_uniform("decoder_layers.0.conv.weight", int(meta["seed"]), 6 * 27 * 512)
    assert abs(float(np.var(u)) - 1 / 3) < 0.01
