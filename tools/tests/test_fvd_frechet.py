"""Frechet distance against closed forms, and the imaginary-residue guard."""
import numpy as np
import pytest
import scipy.linalg

from tools.fvd import frechet


def _random_rotation(rng, d):
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


def test_diagonal_covariances_match_closed_form():
    rng = np.random.default_rng(1)
    d = 64
    mu1, mu2 = rng.standard_normal(d) * 3, rng.standard_normal(d) * 3
    a, b = rng.uniform(0.1, 10, d), rng.uniform(0.1, 10, d)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    got, details = frechet.frechet_distance(mu1, np.diag(a), mu2, np.diag(b))
    assert abs(got - expected) <= 1e-6 * expected
    assert details["sqrtm_imag_residue"] == 0.0


def test_commuting_full_covariances_match_closed_form():
    # S1 = Q diag(a) Q^T, S2 = Q diag(b) Q^T: same closed form as the diagonal case.
    rng = np.random.default_rng(2)
    d = 400
    q = _random_rotation(rng, d)
    a, b = rng.uniform(0.5, 20, d), rng.uniform(0.5, 20, d)
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    s1, s2 = (q * a) @ q.T, (q * b) @ q.T
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    got, _ = frechet.frechet_distance(mu1, s1, mu2, s2)
    assert abs(got - expected) <= 1e-6 * expected


def test_general_covariances_match_symmetric_form():
    # tr sqrt(S1 S2) = tr sqrt(S1^1/2 S2 S1^1/2), the latter from symmetric eigendecompositions.
    rng = np.random.default_rng(3)
    d = 50
    x, y = rng.standard_normal((200, d)), rng.standard_normal((300, d)) @ rng.standard_normal((d, d)) * 0.3
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    w, v = np.linalg.eigh(s1)
    root1 = (v * np.sqrt(w)) @ v.T
    inner = np.linalg.eigvalsh(root1 @ s2 @ root1)
    mu1, mu2 = x.mean(0), y.mean(0)
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.sum(np.sqrt(np.clip(inner, 0, None)))
    got, _ = frechet.frechet_distance(mu1, s1, mu2, s2)
    assert abs(got - expected) <= 1e-6 * expected


def test_one_dimensional_gaussians():
    got, _ = frechet.frechet_distance([1.0], [[4.0]], [3.0], [[9.0]])
    assert abs(got - (4.0 + 1.0)) <= 1e-12


def test_set_against_itself_is_zero():
    rng = np.random.default_rng(4)
    # logit-like features: 2048 clips, 400 correlated dimensions, values of a few units
    f = rng.standard_normal((2048, 400)) @ rng.standard_normal((400, 400)) * 0.2 + rng.standard_normal(400) * 5
    got, _ = frechet.frechet_distance_features(f, f.copy())
    assert abs(got) <= 1e-6


def test_distance_grows_with_mean_shift():
    rng = np.random.default_rng(5)
    f = rng.standard_normal((500, 8))
    d_small, _ = frechet.frechet_distance_features(f, f + 0.1)
    d_large, _ = frechet.frechet_distance_features(f, f + 1.0)
    assert abs(d_small - 8 * 0.01) < 1e-6 and abs(d_large - 8.0) < 1e-6


def test_large_imaginary_part_fails_loudly():
    # A "covariance" with a negative eigenvalue makes sqrtm(S1 S2) genuinely complex.
    s1 = np.diag([1.0, -4.0])
    s2 = np.eye(2)
    assert np.iscomplexobj(scipy.linalg.sqrtm(s1 @ s2))
    with pytest.raises(frechet.FrechetError, match="imaginary part"):
        frechet.frechet_distance([0, 0], s1, [0, 0], s2)


def test_too_few_features_is_an_error():
    with pytest.raises(frechet.FrechetError, match="at least 2"):
        frechet.gaussian_stats(np.zeros((1, 400)))
    with pytest.raises(frechet.FrechetError, match="NaN"):
        frechet.gaussian_stats(np.array([[0.0, np.nan], [1.0, 2.0]]))
