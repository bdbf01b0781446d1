"""Frechet distance between two Gaussians fitted to feature sets, in float64."""
import numpy as np
import scipy.linalg

# An imaginary part of sqrtm(S1 S2) up to this fraction of its largest real
# entry is rounding noise and is dropped; anything larger is an error.
IMAG_TOLERANCE = 1e-3


class FrechetError(Exception):
    pass


def gaussian_stats(features):
    """Mean and unbiased (N-1) covariance of (N, D) features, in float64."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise FrechetError(f"need at least 2 feature vectors, got shape {f.shape}")
    if not np.all(np.isfinite(f)):
        raise FrechetError("features contain NaN or Inf")
    return f.mean(axis=0), np.cov(f, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2):
    """||mu1 - mu2||^2 + tr(S1 + S2 - 2 sqrtm(S1 S2)); returns (distance, details)."""
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.size, mu1.size):
        raise FrechetError(f"shape mismatch: mu {mu1.shape} vs {mu2.shape}, sigma {s1.shape} vs {s2.shape}")
    product = s1 @ s2
    covmean = scipy.linalg.sqrtm(product)
    if not np.all(np.isfinite(covmean)):
        raise FrechetError("sqrtm(S1 S2) is not finite (singular covariances? use more clips)")
    imag = 0.0
    if np.iscomplexobj(covmean):
        imag = float(np.abs(covmean.imag).max())
        scale = float(np.abs(covmean.real).max())
        if imag > IMAG_TOLERANCE * max(scale, 1e-300):
            raise FrechetError(f"sqrtm(S1 S2) has an imaginary part {imag:.3g} against real entries up to "
                               f"{scale:.3g}: covariances are too ill-conditioned for a reliable distance")
        covmean = covmean.real
    residual = float(np.linalg.norm(covmean @ covmean - product) / max(np.linalg.norm(product), 1e-300))
    diff = mu1 - mu2
    distance = float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean))
    return distance, {"sqrtm_imag_residue": imag, "sqrtm_rel_error": residual}


def frechet_distance_features(f1, f2):
    mu1, s1 = gaussian_stats(f1)
    mu2, s2 = gaussian_stats(f2)
    return frechet_distance(mu1, s1, mu2, s2)
