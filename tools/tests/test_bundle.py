"""Bundle files: dtypes, the safetensors layout, config validation, damaged files."""
import json
import struct

import numpy as np
import pytest

from tools.convert import bundle


def test_bf16_rounding_is_nearest_even():
    x = np.array([1.0, 1.00390625, 1.01171875, -2.5, 3.0e38, np.inf, 1.0 + 2 ** -8 + 2 ** -20], np.float32)
    bits = bundle.f32_to_bf16_bits(x)
    # 1+2^-8 is a tie -> even (1.0); 1+3*2^-8 is a tie -> even (1+2^-6); just above a tie rounds up
    assert bits.tolist() == [0x3F80, 0x3F80, 0x3F82, 0xC020, 0x7F62, 0x7F80, 0x3F81]
    assert np.isnan(bundle.bf16_bits_to_f32(bundle.f32_to_bf16_bits(np.array([np.nan], np.float32))))[0]


@pytest.mark.parametrize("dtype", ["F32", "F16", "BF16"])
def test_round_trip_and_safetensors_compat(tmp_path, dtype):
    rng = np.random.default_rng(0)
    t = {"b": rng.standard_normal((3, 5)).astype(np.float32), "a": rng.standard_normal(7).astype(np.float32)}
    path = str(tmp_path / "x.safetensors")
    bundle.write_safetensors(path, t, {"k": "v"}, {n: dtype for n in t})
    got, meta, dtypes = bundle.read_safetensors(path)
    assert meta == {"k": "v"} and set(dtypes.values()) == {dtype}
    tol = {"F32": 0, "F16": 1e-3, "BF16": 8e-3}[dtype]
    for n in t:
        np.testing.assert_allclose(got[n], t[n], rtol=tol, atol=tol)
    hlen = struct.unpack("<Q", open(path, "rb").read(8))[0]
    assert hlen % 8 == 0
    st = pytest.importorskip("safetensors")
    from safetensors import safe_open
    with safe_open(path, "np") as f:        # the reference implementation accepts the file
        assert f.metadata() == {"k": "v"} and sorted(f.keys()) == ["a", "b"]
        if dtype != "BF16":
            assert np.array_equal(f.get_tensor("b"), got["b"].astype(f.get_tensor("b").dtype))


def _write_raw(path, header, body=b""):
    h = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + body)


def test_damaged_files(tmp_path):
    p = str(tmp_path / "x")
    open(p, "wb").write(b"\x01\x02")
    with pytest.raises(bundle.BundleError, match="truncated"):
        bundle.read_safetensors(p)
    open(p, "wb").write(struct.pack("<Q", 1000) + b"{}")
    with pytest.raises(bundle.BundleError, match="past the end"):
        bundle.read_safetensors(p)
    _write_raw(p, {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                   "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, bytes(12))
    with pytest.raises(bundle.BundleError, match="overlap"):
        bundle.read_safetensors(p)
    _write_raw(p, {"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 12]}}, bytes(8))
    with pytest.raises(bundle.BundleError, match="do not fit"):
        bundle.read_safetensors(p)
    _write_raw(p, {"a": {"dtype": "Q4", "shape": [3], "data_offsets": [0, 12]}}, bytes(12))
    with pytest.raises(bundle.BundleError, match="unsupported dtype"):
        bundle.read_safetensors(p)


def _cfg(**kw):
    base = dict(dim=64, n_layer=2, n_head=2, vocab_size=16, num_classes=3, cube=[1, 8, 8], parallel=4, rope="2d")
    base.update(kw)
    return base


@pytest.mark.parametrize("kw,msg", [
    (dict(parallel=9), "parallel 9"), (dict(parallel=8), "parallel 8"), (dict(cube=[2, 8, 8]), "T = 1"),
    (dict(rope="1d"), "rope"), (dict(n_head=3), "heads"), (dict(n_kv_head=3), "n_kv_head"),
    (dict(dim=0), "dim"), (dict(actions=["a"]), "1 actions for 3 classes"),
])
def test_config_validation(kw, msg):
    with pytest.raises(bundle.BundleError, match=msg):
        bundle.gpt_config(**_cfg(**kw))


def test_gpt_bundle_metadata(tmp_path):
    cfg = bundle.gpt_config(**_cfg(multiple_of=32))
    w = {k: np.zeros(s, np.float32) for k, s in bundle.expected_shapes(cfg).items()}
    assert w["layers.0.feed_forward.w1.weight"].shape == (192, 64)        # find_multiple(170, 32)
    path = str(tmp_path / "m.safetensors")
    bundle.write_gpt_bundle(path, cfg, w, "F16")
    _, meta, _ = bundle.read_safetensors(path)
    info = json.loads(meta["par_video"])
    assert info["format"] == "par-video" and info["version"] == 1 and info["kind"] == "gpt"
    assert bundle.read_gpt_bundle(path)[0] == cfg
    del w["norm.weight"]
    with pytest.raises(bundle.BundleError, match="missing tensor norm.weight"):
        bundle.write_gpt_bundle(path, cfg, w)
