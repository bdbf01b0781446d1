"""Attention mask and rotary tables (SPEC sections 3-4)."""
import numpy as np
import pytest

from tools.convert import bundle
from tools.reference import par_reference as ref


@pytest.mark.parametrize("N,n", [(16, 1), (16, 4), (64, 16), (128, 4)])
def test_mask_structure(N, n):
    m = ref.group_mask(N, n)
    for p in range(N):
        for j in range(N):
            block_end = n + ((p - n) // n + 1) * n if p >= n else p + 1
            assert m[p, j] == (j == 0 or j < block_end), (p, j)
    if n == 1:
        assert np.array_equal(m, np.tril(np.ones((N, N), dtype=bool)))


def test_mask_matches_schedule_blocks():
    N, n = 64, 4
    m = ref.group_mask(N, n)
    for pos, _ in ref.schedule(N, n)[n:]:
        blk = m[np.ix_(pos, pos)]
        assert blk.all()                                  # a fed block sees itself fully
        assert not m[pos[0] - 1, pos[-1]]                 # and earlier rows do not see it
    assert m[1:n, 1:n].sum() == n * (n - 1) // 2          # the first n steps stay causal


def _cfg(cube, n, rope, heads=2, dim=64):
    return bundle.gpt_config(dim=dim, n_layer=1, n_head=heads, vocab_size=8, num_classes=2,
                             cube=cube, parallel=n, rope=rope)


def test_class_and_m_tokens_get_zero_rotation():
    cfg = _cfg([2, 8, 8], 4, "3d")
    cos, sin = ref.rope_tables(cfg)
    for p in [0, 5, 6, 7]:                                # class, M_1..M_3
        assert not cos[p].any() and not sin[p].any()
    assert np.allclose(cos[1:5] ** 2 + sin[1:5] ** 2, 1) and np.allclose(cos[8:] ** 2 + sin[8:] ** 2, 1)


def test_rope_2d_is_llamagen_layout():
    cfg = _cfg([1, 8, 8], 4, "2d")                        # head_dim 32: 16 pairs, 8 for y, 8 for x
    angles, live = ref.rope_angles(cfg)
    order = ref.par_order(1, 8, 8, 4)
    f = 10000.0 ** (-np.arange(8) / 8)
    for p, (kind, k) in enumerate(ref.position_inputs(64, 4)):
        if kind != "tok":
            assert not live[p]
            continue
        y, x = divmod(order[k], 8)
        assert np.allclose(angles[p], np.concatenate([y * f, x * f]))


def test_rope_3d_split_for_head_dim_64():
    cfg = _cfg([5, 16, 16], 16, "3d", heads=2, dim=128)   # head_dim 64 -> 8/12/12 pairs
    angles, _ = ref.rope_angles(cfg)
    order = ref.par_order(5, 16, 16, 16)
    p = 2 * 16 + 100                                      # input x_{p-n}
    t, y, x = np.unravel_index(order[p - 16], (5, 16, 16))
    want = np.concatenate([t * 10000.0 ** (-np.arange(8) / 8), y * 10000.0 ** (-np.arange(12) / 12),
                           x * 10000.0 ** (-np.arange(12) / 12)])
    assert np.allclose(angles[p], want)
