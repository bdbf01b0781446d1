"""convert_par.py: official checkpoints, key selection, and clear errors."""
import os

import numpy as np
import pytest

from tools.convert import bundle
from tools.convert import convert_par
from tools.fixtures import make_engine_fixtures as mef
from tools.convert import pt_reader
from tools.tests.paths import OFFICIAL
from tools.tests.ptwriter import write_pt

CASES = sorted(d for d in os.listdir(OFFICIAL) if os.path.isdir(os.path.join(OFFICIAL, d)))


@pytest.mark.parametrize("case", CASES)
def test_reconverted_official_bundle_is_byte_identical(case, tmp_path):
    out = tmp_path / "model.safetensors"
    mef.convert_official(os.path.join(OFFICIAL, case), str(out))
    with open(os.path.join(OFFICIAL, case, "model.safetensors"), "rb") as f:
        assert out.read_bytes() == f.read()


def test_training_checkpoint_converts_to_the_same_model(tmp_path, capsys):
    d = os.path.join(OFFICIAL, "par-1x16x16-n4-2d")
    out = tmp_path / "train.safetensors"
    mef.convert_official(d, str(out), pt_name="official_train_ckpt.pt")
    cfg_a, w_a, _ = bundle.read_gpt_bundle(str(out))
    cfg_b, w_b, _ = bundle.read_gpt_bundle(os.path.join(d, "model.safetensors"))
    assert cfg_a == cfg_b and w_a.keys() == w_b.keys()
    assert all(np.array_equal(w_a[k], w_b[k]) for k in w_a)
    pt = pt_reader.load_pt(os.path.join(d, "official_train_ckpt.pt"))
    assert pt.opaque == ["argparse.Namespace"] and pt.obj["args"].state["ar_token_num"] == 4


def _sd(n=4, kv=None, layers=2, dim=32, heads=2, vocab=16, classes=3):
    cfg = bundle.gpt_config(dim=dim, n_layer=layers, n_head=heads, n_kv_head=kv, vocab_size=vocab,
                            num_classes=classes, cube=[1, 8, 8], parallel=n, rope="2d")
    return cfg, mef.random_weights(cfg, np.random.default_rng(0))


def _convert(tmp_path, obj, *extra, name="in.pt"):
    write_pt(tmp_path / name, obj)
    out = tmp_path / "out.safetensors"
    rc = convert_par.main([str(tmp_path / name), "-o", str(out), "--cube", "1", "8", "8", "--rope", "2d", *extra])
    return rc, out


@pytest.mark.parametrize("key", ["model", "module", "state_dict", None])
def test_weight_keys_prefix_and_freqs_cis(tmp_path, capsys, key):
    cfg, sd = _sd()
    sd = {"module." + k: v for k, v in sd.items()}
    sd["freqs_cis"] = np.zeros((3, 2), np.float32)
    obj = {key: sd, "optimizer": {"state": {}}, "steps": 5} if key else sd
    rc, out = _convert(tmp_path, obj, "--heads", "2", "--dtype", "bf16")
    err = capsys.readouterr().err
    assert rc == 0, err
    assert (f"key {key!r}" if key else "bare state dict") in err and "stripped module." in err
    got_cfg, w, dtypes = bundle.read_gpt_bundle(str(out))
    assert got_cfg["parallel"] == 4 and got_cfg["n_head"] == 2 and set(dtypes.values()) == {"BF16"}
    want = bundle.bf16_bits_to_f32(bundle.f32_to_bf16_bits(sd["module.output.weight"]))
    assert np.array_equal(w["output.weight"], want)


def test_gqa_heads_inferred_from_wqkv(tmp_path):
    cfg, sd = _sd(kv=1, heads=4)
    rc, out = _convert(tmp_path, {"model": sd}, "--heads", "4", "--dtype", "f16")
    assert rc == 0
    got, w, _ = bundle.read_gpt_bundle(str(out))
    assert got["n_kv_head"] == 1
    np.testing.assert_array_equal(w["tok_embeddings.weight"], sd["tok_embeddings.weight"].astype(np.float16))


def test_missing_tensor_is_named(tmp_path, capsys):
    cfg, sd = _sd()
    del sd["layers.1.feed_forward.w3.weight"]
    rc, out = _convert(tmp_path, {"model": sd}, "--heads", "2")
    err = capsys.readouterr().err
    assert rc == 1 and not out.exists()
    assert "missing tensor layers.1.feed_forward.w3.weight" in err and len(err.strip().splitlines()) == 1


def test_wrong_shape_is_named(tmp_path, capsys):
    cfg, sd = _sd()
    sd["layers.0.attention.wo.weight"] = np.zeros((32, 31), np.float32)
    rc, out = _convert(tmp_path, {"model": sd}, "--heads", "2")
    err = capsys.readouterr().err
    assert rc == 1 and not out.exists()
    assert "layers.0.attention.wo.weight has shape [32, 31], expected [32, 32]" in err


@pytest.mark.parametrize("extra,msg", [
    ((), "give --heads or --size"),
    (("--heads", "2", "--classes", "7"), "--classes 7"),
    (("--size", "XL"), "dim 1280"),
    (("--heads", "2", "--parallel", "16"), "expected [15, 32]"),
    (("--heads", "2", "--parallel", "9"), "parallel 9"),
])
def test_bad_geometry_or_sizes(tmp_path, capsys, extra, msg):
    cfg, sd = _sd()
    rc, out = _convert(tmp_path, {"model": sd}, *extra)
    assert rc == 1 and not out.exists()
    assert msg in capsys.readouterr().err


def test_unexpected_tensor_and_no_weights(tmp_path, capsys):
    cfg, sd = _sd()
    sd["layers.0.attention.bias"] = np.zeros(3, np.float32)
    rc, _ = _convert(tmp_path, {"model": sd}, "--heads", "2")
    assert rc == 1 and "unexpected tensor layers.0.attention.bias" in capsys.readouterr().err
    rc, _ = _convert(tmp_path, {"ema": 1, "steps": 3}, "--heads", "2")
    assert rc == 1 and "no weights" in capsys.readouterr().err


@pytest.mark.parametrize("dim,heads,extra,want", [
    (32, 2, [], {"cfg_scale": 1.15, "top_k": 8000}),                                # not an image model
    (32, 2, ["--image-size", "128"], {"cfg_scale": 1.5, "top_k": 0}),               # an image model of another width
    (1280, 20, ["--image-size", "128"], {"cfg_scale": 1.5, "top_k": 0}),            # XL
    (1536, 24, ["--image-size", "128"], {"cfg_scale": 1.435, "top_k": 0}),          # XXL
    (3200, 32, ["--image-size", "128"], {"cfg_scale": 1.345, "top_k": 0}),          # 3B
    (3200, 32, ["--image-size", "128", "--cfg", "2", "--top-k", "5"], {"cfg_scale": 2.0, "top_k": 5}),
])
def test_image_models_record_the_papers_sampling_defaults(tmp_path, dim, heads, extra, want):
    cfg, sd = _sd(layers=1, dim=dim, heads=heads)
    rc, out = _convert(tmp_path, {"model": sd}, "--heads", str(heads), *extra)
    assert rc == 0
    got = bundle.read_gpt_bundle(str(out))[0]["sampling"]
    assert got == dict(want, temperature=1.0, top_p=1.0)
