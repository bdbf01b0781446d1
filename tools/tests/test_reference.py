"""The numpy reference: cache loop vs teacher forcing, batching, sampling, official cubes."""
import json
import os

import numpy as np
import pytest

from tools.convert import bundle
from tools.fixtures import make_engine_fixtures as mef
from tools.reference import par_reference as ref
from tools.tests.paths import OFFICIAL


def _model(cube, n, rope, seed=0, **kw):
    cfg = bundle.gpt_config(dim=32, n_layer=2, n_head=kw.pop("heads", 2), vocab_size=64, num_classes=5,
                            cube=cube, parallel=n, rope=rope, multiple_of=32, **kw)
    return ref.Reference(cfg, mef.random_weights(cfg, np.random.default_rng(seed)))


@pytest.mark.parametrize("cube,n,rope,kv", [([1, 8, 8], 1, "2d", None), ([1, 8, 8], 4, "2d", None),
                                           ([2, 8, 8], 16, "3d", None), ([2, 4, 4], 4, "3d", 1)])
def test_cache_loop_equals_teacher_forcing(cube, n, rope, kv):
    """Logits seen step by step through the KV cache = one masked pass over the whole sequence."""
    m = _model(cube, n, rope, heads=4 if kv else 2, n_kv_head=kv)
    actions = np.array([1, 3])
    cubes, logs = ref.generate(m, actions, cfg_scale=1.0, top_k=1, record=True)
    seq = ref.to_sequence(cubes, n)
    full = m.forward_full(actions, seq)
    for (pos, predicted), l in zip(ref.schedule(m.N, n), logs):
        np.testing.assert_allclose(l, full[:, predicted], rtol=1e-9, atol=1e-9)
    assert np.array_equal(np.argmax(full, -1), seq)       # greedy: every token is the argmax of its row


def test_batch_equals_single_clips_and_cfg_formula():
    m = _model([2, 8, 8], 4, "3d", seed=1)
    both, logs = ref.generate(m, [0, 4, 2], cfg_scale=1.5, record=True)
    for i, a in enumerate([0, 4, 2]):
        one, one_logs = ref.generate(m, [a], cfg_scale=1.5, record=True)
        assert np.array_equal(one[0], both[i])
        np.testing.assert_allclose(one_logs[7][0], logs[7][i], rtol=1e-12)
    # CFG logits = u + s (c - u) with the null class num_classes
    seq = ref.to_sequence(both[:1], 4)
    c = m.forward_full([0], seq)
    u = m.forward_full([5], seq)
    pred = ref.schedule(m.N, 4)[10][1]
    np.testing.assert_allclose(logs[10][0], (u + 1.5 * (c - u))[0, pred], rtol=1e-9)


def test_sampling_filters():
    l = np.array([[1.0, 3.0, 2.0, 3.0, -1.0]])
    assert np.isinf(ref.filter_logits(l, top_k=2)).tolist() == [[True, False, True, False, True]]  # ties kept
    p = np.exp(l) / np.exp(l).sum()
    # top-p keeps the smallest prefix whose mass reaches p (the first token always)
    kept = ~np.isinf(ref.filter_logits(l, top_p=0.5))
    assert kept.sum() == 2 and p[0, 1] < 0.5 < p[0, 1] + p[0, 3]
    assert (~np.isinf(ref.filter_logits(l, top_p=1e-9))).sum() == 1
    np.testing.assert_allclose(ref.filter_logits(l, temperature=0.5), l / 0.5)
    assert ref.sample(l, top_k=1).tolist() == [1]
    rng = np.random.default_rng(0)
    draws = ref.sample(np.repeat(l, 20000, 0), top_k=3, rng=rng)
    assert set(draws) == {1, 2, 3}
    freq = np.bincount(draws, minlength=5) / len(draws)
    q = np.exp([0, 3.0, 2.0, 3.0, 0]) * [0, 1, 1, 1, 0]
    np.testing.assert_allclose(freq, q / q.sum(), atol=0.02)


def test_seeded_sampling_is_reproducible():
    m = _model([1, 8, 8], 4, "2d", seed=2)
    a = ref.generate(m, [1, 2], cfg_scale=1.15, top_k=20, top_p=0.9, temperature=1.0, seed=7)[0]
    b = ref.generate(m, [1, 2], cfg_scale=1.15, top_k=20, top_p=0.9, temperature=1.0, seed=7)[0]
    c = ref.generate(m, [1, 2], cfg_scale=1.15, top_k=20, top_p=0.9, temperature=1.0, seed=8)[0]
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_action_out_of_range():
    m = _model([1, 8, 8], 4, "2d")
    with pytest.raises(ValueError, match="action"):
        ref.generate(m, [5])


CASES = sorted(d for d in os.listdir(OFFICIAL) if os.path.isdir(os.path.join(OFFICIAL, d)))


@pytest.mark.parametrize("case", CASES)
def test_official_greedy_cubes_reproduced(case):
    """Cubes the official PAR code produced (top-k 1, CFG 1.5) from the converted bundle."""
    d = os.path.join(OFFICIAL, case)
    with open(os.path.join(d, "meta.json")) as f:
        meta = json.load(f)
    m = ref.Reference.load(os.path.join(d, "model.safetensors"))
    cubes, _ = ref.generate(m, meta["actions"], cfg_scale=meta["cfg"], top_k=1)
    for a, cube in zip(meta["actions"], cubes):
        want = np.load(os.path.join(d, f"cube_a{a}.npy"))
        assert want.shape == tuple(meta["cube"]) and np.array_equal(cube, want), (case, a)


def test_cli_writes_the_official_cube(tmp_path):
    d = os.path.join(OFFICIAL, "par-4x8x8-n4-3d")
    out = tmp_path / "c.npy"
    assert ref.main([os.path.join(d, "model.safetensors"), "--action", "9", "--top-k", "1", "--cfg", "1.5",
                     "-o", str(out)]) == 0
    got = np.load(out)
    assert got.dtype == np.int32 and np.array_equal(got, np.load(os.path.join(d, "cube_a9.npy")))
    assert ref.main([os.path.join(d, "model.safetensors"), "--action", "10", "-o", str(tmp_path / "x.npy")]) == 1
    assert not (tmp_path / "x.npy").exists()
