import numpy as np
import pytest

from tools.reference import par_sequence as P

CUBE = (5, 8, 8)


@pytest.mark.parametrize("n", [1, 4, 16])
def test_order_matches_spec_formula_and_inverts(n):
    T, H, W = CUBE
    s = int(n ** 0.5)
    perm = P.par_order(CUBE, n)
    for t in range(T):
        for y in range(H):
            for x in range(W):
                a, i = divmod(y, H // s)
                b, j = divmod(x, W // s)
                k = (((t * (H // s) + i) * (W // s) + j) * s + a) * s + b
                assert perm[k] == (t * H + y) * W + x
    cube = np.random.default_rng(0).integers(0, 1000, (3,) + CUBE)
    seq = P.to_par(cube, n)
    assert np.array_equal(P.from_par(seq, CUBE, n), cube)
    coords = P.cell_coords(CUBE, n)
    assert np.array_equal(seq[1], cube[1][coords[:, 0], coords[:, 1], coords[:, 2]])


def test_n1_is_raster_and_image_order_is_official():
    assert np.array_equal(P.par_order(CUBE, 1), np.arange(320))
    # T = 1: official reshape(B, s, H/s, s, W/s).permute(0, 2, 4, 1, 3)
    img = np.arange(24 * 24).reshape(1, 24, 24)
    ref = img.reshape(1, 2, 12, 2, 12).transpose(0, 2, 4, 1, 3).reshape(-1)
    assert np.array_equal(P.to_par(img, 4), ref)


@pytest.mark.parametrize("n", [1, 4, 16])
def test_input_layout(n):
    kind, ref = P.input_layout(CUBE, n)
    assert kind[0] == 0
    assert list(kind[1:n + 1]) == [1] * n and list(ref[1:n + 1]) == list(range(n))
    assert list(kind[n + 1:2 * n]) == [2] * (n - 1) and list(ref[n + 1:2 * n]) == list(range(1, n))
    assert all(kind[p] == 1 and ref[p] == p - n for p in range(2 * n, 320))
    assert P.decode_steps(CUBE, n) == {1: 320, 4: 83, 16: 35}[n]


def test_mask():
    m1 = P.attention_mask(10, 1)
    assert np.array_equal(m1, np.tril(np.ones((10, 10), bool)))
    m = P.attention_mask(16, 4)
    # block [4, 8) sees itself fully and everything before, nothing after
    assert m[4, 7] and m[5, 7] and not m[7, 8] and not m[3, 4]
    assert m[:, 0].all()
    assert m[8:12, :12].all() and not m[8:12, 12:].any()
    assert not m[1, 2] and m[2, 1]                      # before block 0 (positions 1..n-1): plain causal


def test_rope_3d_tables():
    assert P.rope_pairs_3d(64) == (8, 12, 12)
    cos, sin = P.rope_tables(CUBE, 4, 64)
    assert cos.shape == (320, 32)
    assert not cos[0].any() and not sin[0].any()           # class token
    assert not cos[5:8].any() and not sin[5:8].any()       # M_1..M_3 at positions n+1..2n-1
    kind, ref = P.input_layout(CUBE, 4)
    p = 200
    t, y, x = P.cell_coords(CUBE, 4)[ref[p]]
    ang = np.concatenate([t * 10000.0 ** (-np.arange(8) / 8), y * 10000.0 ** (-np.arange(12) / 12),
                          x * 10000.0 ** (-np.arange(12) / 12)])
    np.testing.assert_allclose(cos[p], np.cos(ang), atol=1e-12)
    np.testing.assert_allclose(sin[p], np.sin(ang), atol=1e-12)
