"""PAR order, inverse, schedule and step counts (SPEC sections 2 and 5)."""
import numpy as np
import pytest

from tools.reference import par_reference as ref

CUBES = [(5, 8, 8), (5, 16, 16), (1, 24, 24), (1, 8, 8), (2, 8, 8), (3, 4, 12)]
STEPS = {((5, 16, 16), 1): 1280, ((5, 16, 16), 4): 323, ((5, 16, 16), 16): 95,
         ((1, 24, 24), 1): 576, ((1, 24, 24), 4): 147, ((1, 24, 24), 16): 51,
         ((5, 8, 8), 1): 320, ((5, 8, 8), 4): 83, ((5, 8, 8), 16): 35}


@pytest.mark.parametrize("cube", CUBES)
@pytest.mark.parametrize("n", [1, 4, 16])
def test_order_is_a_permutation_and_inverse_round_trips(cube, n):
    T, H, W = cube
    if H % int(n ** 0.5) or W % int(n ** 0.5):
        pytest.skip("s does not divide H, W")
    order = ref.par_order(T, H, W, n)
    assert sorted(order) == list(range(T * H * W))
    c = np.random.default_rng(0).integers(0, 1000, (2, T, H, W))
    seq = ref.to_sequence(c, n)
    assert np.array_equal(ref.to_cube(seq, T, H, W, n), c)
    assert np.array_equal(seq[0], c[0].reshape(-1)[order])


@pytest.mark.parametrize("key,steps", sorted(STEPS.items()))
def test_step_counts(key, steps):
    (T, H, W), n = key
    N = T * H * W
    assert ref.step_count(N, n) == steps
    sched = ref.schedule(N, n)
    assert len(sched) == steps
    fed = [p for pos, _ in sched for p in pos]
    predicted = [k for _, ks in sched for k in ks]
    assert fed == list(range(N)) and predicted == list(range(N))   # every position once, in order


@pytest.mark.parametrize("H,n", [(16, 4), (24, 4), (24, 16), (8, 16)])
def test_image_order_is_the_official_permute(H, n):
    s, h = int(n ** 0.5), H // int(n ** 0.5)
    grid = np.arange(H * H).reshape(H, H)
    # train_c2i.py: reshape(B, s, H/s, s, W/s).permute(0, 2, 4, 1, 3)
    official = grid.reshape(s, h, s, h).transpose(1, 3, 0, 2).reshape(-1)
    assert np.array_equal(ref.to_sequence(grid[None], n), official)
    # sample_c2i_ddp.py: reshape(B, H/s, W/s, s, s).permute(0, 3, 1, 4, 2)
    back = official.reshape(h, h, s, s).transpose(2, 0, 3, 1).reshape(H, H)
    assert np.array_equal(ref.to_cube(official, 1, H, H, n)[0], back)


def test_n1_is_raster_and_video_groups_share_offset():
    assert np.array_equal(ref.par_order(5, 8, 8, 1), np.arange(320))
    T, H, W, n = 5, 16, 16, 16
    t, y, x = np.unravel_index(ref.par_order(T, H, W, n), (T, H, W))
    for g in range(0, T * H * W, n):
        grp = slice(g, g + n)
        # one (t, i, j) offset per group, the 16 regions in raster order
        assert len(set(t[grp])) == 1 and len(set(y[grp] % 4)) == 1 and len(set(x[grp] % 4)) == 1
        assert list((y[grp] // 4) * 4 + x[grp] // 4) == list(range(16))
    assert list(t[::n][:16]) == [0] * 16 and t[-1] == T - 1      # time is the outermost offset


def test_bad_parallel_is_rejected():
    with pytest.raises(ValueError):
        ref.par_order(1, 8, 8, 9)
    with pytest.raises(ValueError):
        ref.par_order(1, 8, 8, 8)
