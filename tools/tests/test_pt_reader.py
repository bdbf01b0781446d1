"""The torch-free .pt reader: tensors, views, dtypes, and pickles that try to run code."""
import os
import pickle
import zipfile

import numpy as np
import pytest

from tools.convert import convert_par
from tools.convert import pt_reader
from tools.tests.ptwriter import Call, Tensor, pickle_bytes, write_pt


def test_views_offsets_and_shared_storage(tmp_path):
    store = np.arange(24, dtype=np.float32)
    obj = {"model": {
        "full": Tensor("0", store, 0, (4, 6), (6, 1)),
        "transposed": Tensor("0", store, 0, (6, 4), (1, 6)),          # a .t() view
        "row_slice": Tensor("0", store, 8, (2, 3), (6, 1)),           # offset + stride
        "scalar": Tensor("1", np.array([7.0, 8.0], np.float32), 1, (), ()),
        "empty": Tensor("2", np.zeros(0, np.float32), 0, (0, 64), (64, 1)),
        "int64": np.arange(5, dtype=np.int64), "half": np.linspace(-2, 2, 7).astype(np.float16),
        "bf16": Tensor("3", np.array([0x3F80, 0xC040, 0x0000], np.uint16), 0, (3,), (1,), "BFloat16Storage"),
    }, "steps": 3, "name": "x", "nested": [1, 2.5, None, True]}
    path = tmp_path / "a.pt"
    write_pt(path, obj)
    pt = pt_reader.load_pt(path)
    m = pt.obj["model"]
    ref = store.reshape(4, 6)
    assert np.array_equal(m["full"], ref) and np.array_equal(m["transposed"], ref.T)
    assert np.array_equal(m["row_slice"], ref[1:3, 2:5])
    assert m["scalar"].shape == () and m["scalar"] == 8.0 and m["empty"].shape == (0, 64)
    assert m["int64"].dtype == np.int64 and m["half"].dtype == np.float16
    assert m["bf16"].tolist() == [1.0, -3.0, 0.0] and m["bf16"].dtype == np.float32
    assert pt.obj["steps"] == 3 and pt.obj["nested"] == [1, 2.5, None, True] and pt.opaque == []


def test_view_past_end_of_storage_is_an_error(tmp_path):
    path = tmp_path / "bad.pt"
    write_pt(path, {"model": {"w": Tensor("0", np.zeros(10, np.float32), 5, (2, 3), (3, 1))}})
    with pytest.raises(pt_reader.PtError, match="past the end"):
        pt_reader.load_pt(path)


def test_not_a_zip_and_missing_storage(tmp_path):
    p = tmp_path / "legacy.pt"
    p.write_bytes(b"\x80\x02}q\x00.")                       # a bare pickle: legacy format
    with pytest.raises(pt_reader.PtError, match="not a PyTorch zip"):
        pt_reader.load_pt(p)
    p = tmp_path / "nostorage.pt"
    data, _ = pickle_bytes({"w": Tensor("9", np.zeros(4, np.float32), 0, (4,), (1,))})
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("archive/data.pkl", data)
    with pytest.raises(pt_reader.PtError, match="missing"):
        pt_reader.load_pt(p)


def _payloads(marker):
    """Globals a hostile pickle would call on load; each would create `marker`."""
    return [Call("os", "system", f"touch {marker}"),
            Call("builtins", "open", str(marker), "w"),
            Call("subprocess", "call", ["touch", str(marker)]),
            Call("builtins", "exec", f"open({str(marker)!r}, 'w')"),
            Call("posix", "system", f"touch {marker}", newobj=True, state={"x": 1})]


def test_payloads_are_live_under_plain_pickle(tmp_path):
    """Sanity check of the test itself: plain pickle.loads does run these payloads."""
    for i in range(4):
        marker = tmp_path / f"live{i}"
        call = _payloads(marker)[i]
        data, _ = pickle_bytes(call)
        try:
            pickle.loads(data)
        except Exception:
            pass
        assert marker.exists()


def _good_model():
    from tools.convert import bundle
    from tools.fixtures import make_engine_fixtures as mef
    cfg = bundle.gpt_config(dim=16, n_layer=1, n_head=2, vocab_size=8, num_classes=2, cube=[1, 8, 8],
                            parallel=4, rope="2d", multiple_of=16)
    return mef.random_weights(cfg, np.random.default_rng(0))


@pytest.mark.parametrize("i", range(5))
def test_hostile_pickle_runs_nothing(tmp_path, i):
    marker = tmp_path / "pwned"
    call = _payloads(marker)[i]
    # 1) the payload beside real weights (like `args` in a training checkpoint): loads, inert
    path = tmp_path / "beside.pt"
    write_pt(path, {"model": _good_model(), "args": call, "hook": Call("os", "getcwd")})
    pt = pt_reader.load_pt(path)
    assert isinstance(pt.obj["args"], pt_reader.Opaque) and f"{call.module}.{call.name}" in pt.opaque
    assert np.array_equal(pt.obj["model"]["norm.weight"], _good_model()["norm.weight"])
    out = tmp_path / "ok.safetensors"
    rc = convert_par.main([str(path), "-o", str(out), "--cube", "1", "8", "8", "--rope", "2d", "--heads", "2",
                           "--multiple-of", "16"])
    assert rc == 0 and out.exists()                       # converts; the payload stayed inert
    # 2) the payload as the whole file: no weights, a clean error from the converter
    path2 = tmp_path / "whole.pt"
    write_pt(path2, call)
    out = tmp_path / "out.safetensors"
    rc = convert_par.main([str(path2), "-o", str(out), "--cube", "1", "8", "8", "--rope", "2d", "--heads", "2"])
    assert rc == 1 and not out.exists()
    # 3) the payload in place of a tensor's storage type / rebuild function
    path3 = tmp_path / "as_tensor.pt"
    write_pt(path3, {"model": {"w": call}})
    rc = convert_par.main([str(path3), "-o", str(out), "--cube", "1", "8", "8", "--rope", "2d", "--heads", "2"])
    assert rc == 1 and not out.exists()
    assert not marker.exists(), "a global from the pickle was executed"


def test_hostile_global_as_persistent_storage_type(tmp_path):
    marker = tmp_path / "pwned"
    t = Tensor("0", np.zeros(4, np.float32), 0, (4,), (1,), storage_type="FloatStorage")
    path = tmp_path / "x.pt"
    write_pt(path, {"model": {"w": t}})
    data = zipfile.ZipFile(path).read("archive/data.pkl")
    data = data.replace(b"ctorch\nFloatStorage\n", b"cos\nsystem\n")   # storage "type" is os.system
    write_pt(path, {"model": {"w": t}}, raw_pickle=data)
    with pytest.raises(pt_reader.PtError):
        pt_reader.load_pt(path)
    assert not marker.exists()


def test_file_written_by_real_torch_save():
    """Tests/Fixtures/pt/torch_dtypes.pt comes from torch.save (tools/fixtures/make_torch_pt_fixture.py)."""
    from tools.convert import bundle
    from tools.tests.paths import FIXTURES
    pt = pt_reader.load_pt(os.path.join(FIXTURES, "pt", "torch_dtypes.pt"))
    m = pt.obj["model"]
    base = np.arange(24, dtype=np.float32).reshape(4, 6)
    bf16 = bundle.bf16_bits_to_f32(bundle.f32_to_bf16_bits(base / 7))   # torch rounds to nearest even too
    assert np.array_equal(m["f32"], base) and np.array_equal(m["f32_t"], base.T)
    assert np.array_equal(m["f32_slice"], base[1:3, 2:5])
    assert m["bf16"].dtype == np.float32 and np.array_equal(m["bf16"], bf16)
    assert m["f16"].dtype == np.float16 and np.array_equal(m["f16"], (base / 7).astype(np.float16))
    assert m["i64"].tolist() == [0, 1, 2, 3, 4] and m["bool"].tolist() == [True, False]
    assert m["param"].tolist() == [1.0, 1.0, 1.0] and pt.obj["steps"] == 3 and pt.opaque == []
    assert np.array_equal(pt.obj["bf16_view"], bf16[::2, 1:])


def test_rebuild_v3_from_untyped_storage(tmp_path):
    raw = np.concatenate([np.array([0x3F80, 0x4040, 0xBF00, 0x0000], np.uint16).view(np.uint8),
                          np.array([1.5, -2.0], np.float32).view(np.uint8)])
    obj = {"bf16": Tensor("0", raw, 1, (2,), (2,), "UntypedStorage", v3_dtype="bfloat16"),
           "f32": Tensor("0", raw, 2, (2,), (1,), "UntypedStorage", v3_dtype="float32")}
    write_pt(tmp_path / "v3.pt", obj)
    got = pt_reader.load_pt(tmp_path / "v3.pt").obj
    assert got["bf16"].tolist() == [3.0, 0.0]       # elements 1 and 3 of the bf16 view
    assert got["f32"].tolist() == [1.5, -2.0]       # offset counted in float32 elements
