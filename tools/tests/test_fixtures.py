"""Tests/Fixtures/engine regenerates to what is committed."""
import json
import os

import numpy as np
import pytest

from tools.convert import bundle
from tools.fixtures import make_engine_fixtures as mef
from tools.tests.paths import FIXTURES


@pytest.mark.parametrize("name", sorted(mef.CASES))
def test_engine_fixture_regenerates(tmp_path, name):
    committed = os.path.join(FIXTURES, "engine", name)
    meta = mef.make_case(str(tmp_path), name, mef.CASES[name])
    with open(os.path.join(committed, "model.safetensors"), "rb") as f:
        assert (tmp_path / "model.safetensors").read_bytes() == f.read()
    new, new_meta, _ = bundle.read_safetensors(str(tmp_path / "expected.safetensors"))
    old, old_meta, _ = bundle.read_safetensors(os.path.join(committed, "expected.safetensors"))
    assert new.keys() == old.keys() and new_meta == old_meta
    assert np.array_equal(new["cube"], old["cube"]) and np.array_equal(new["actions"], old["actions"])
    for k in new:
        np.testing.assert_allclose(new[k], old[k], rtol=1e-6, atol=1e-6)
    # the format the Swift tests rely on
    B = meta["batch"]
    T, H, W = meta["cube"]
    n, steps = meta["parallel"], meta["steps"]
    assert old["cube"].shape == (B, T, H, W) and old["cube"].dtype == np.int32 and old["actions"].shape == (B,)
    assert steps == n + (T * H * W - n) // n and len([k for k in old if k.startswith("logits_")]) == steps
    for s in range(1, steps + 1):
        assert old[f"logits_{s}"].shape == (B, 1 if s <= n else n, 128)
    assert json.loads(old_meta["cube"]) == [T, H, W] and float(old_meta["min_greedy_gap"]) >= mef.MIN_GAP


@pytest.mark.parametrize("name", sorted(mef.CASES))
def test_fp32_arithmetic_meets_the_engine_tolerance(name):
    """What the Swift engine is held to, shown by the reference itself run in float32:
    max |logits - expected| <= 1e-4 * max |expected| at every step, identical greedy cube."""
    from tools.reference import par_reference as ref
    d = os.path.join(FIXTURES, "engine", name)
    exp, meta, _ = bundle.read_safetensors(os.path.join(d, "expected.safetensors"))
    m = ref.Reference.load(os.path.join(d, "model.safetensors"), np.float32)
    cubes, logs = ref.generate(m, exp["actions"], cfg_scale=float(meta["cfg_scale"]), top_k=1, record=True)
    assert logs[0].dtype == np.float32 and np.array_equal(cubes, exp["cube"])
    for i, l in enumerate(logs):
        want = exp[f"logits_{i + 1}"]
        assert np.abs(l - want).max() <= 1e-5 * np.abs(want).max()
