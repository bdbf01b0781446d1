"""The numpy I3D building blocks against direct definitions (numpy only, runs in CI):
TF SAME convolution with folded BatchNorm, and SAME max pooling with -inf padding."""
import numpy as np
import pytest

from tools.fvd import i3d_numpy


def _same(n, k, s):
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return total // 2, out


def naive_conv(x, kernel, stride):
    """Direct sum over kernel taps, TF SAME padding, float64."""
    B, T, H, W, C = x.shape
    kt, kh, kw, _, co = kernel.shape
    (pt, To), (ph, Ho), (pw, Wo) = _same(T, kt, stride[0]), _same(H, kh, stride[1]), _same(W, kw, stride[2])
    y = np.zeros((B, To, Ho, Wo, co))
    for t in range(To):
        for h in range(Ho):
            for w in range(Wo):
                for dt in range(kt):
                    for dh in range(kh):
                        for dw in range(kw):
                            ti, hi, wi = t * stride[0] + dt - pt, h * stride[1] + dh - ph, w * stride[2] + dw - pw
                            if 0 <= ti < T and 0 <= hi < H and 0 <= wi < W:
                                y[:, t, h, w] += x[:, ti, hi, wi].astype(np.float64) @ kernel[dt, dh, dw]
    return y


def naive_max_pool(x, window, stride):
    B, T, H, W, C = x.shape
    (pt, To), (ph, Ho), (pw, Wo) = (_same(n, k, s) for n, k, s in zip((T, H, W), window, stride))
    y = np.full((B, To, Ho, Wo, C), -np.inf, np.float32)
    for t in range(To):
        for h in range(Ho):
            for w in range(Wo):
                ts = slice(max(t * stride[0] - pt, 0), max(t * stride[0] - pt + window[0], 0))
                hs = slice(max(h * stride[1] - ph, 0), max(h * stride[1] - ph + window[1], 0))
                ws = slice(max(w * stride[2] - pw, 0), max(w * stride[2] - pw + window[2], 0))
                y[:, t, h, w] = x[:, ts, hs, ws].max(axis=(1, 2, 3))
    return y


@pytest.mark.parametrize("ksize,stride,shape", [
    ((7, 7, 7), (2, 2, 2), (2, 9, 11, 10, 3)),   # the stem: strided, odd sizes
    ((3, 3, 3), (1, 1, 1), (3, 4, 6, 5, 8)),     # Inception 3x3x3
    ((1, 1, 1), (1, 1, 1), (2, 3, 4, 4, 16)),    # 1x1x1
])
def test_conv_with_folded_batchnorm(ksize, stride, shape, monkeypatch):
    rng = np.random.default_rng(0)
    cin, cout = shape[-1], 6
    kernel = rng.standard_normal((*ksize, cin, cout)).astype(np.float32)
    mean, var = rng.standard_normal(cout).astype(np.float32), rng.uniform(0.5, 2, cout).astype(np.float32)
    beta = rng.standard_normal(cout).astype(np.float32)
    unit = i3d_numpy._Unit({"kernel": kernel}, {"mean": mean.reshape(1, 1, 1, 1, -1),
                                                "var": var.reshape(1, 1, 1, 1, -1)}, beta)
    x = rng.standard_normal(shape).astype(np.float32)
    ref = (naive_conv(x, kernel, stride) - mean) / np.sqrt(var + 1e-3) + beta
    ref = np.maximum(ref, 0)
    got = i3d_numpy.conv3d(x, unit, stride)
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)
    # tiny im2col chunks: the chunked paths give the same result
    monkeypatch.setattr(i3d_numpy, "_MAX_COLS", 1)
    np.testing.assert_allclose(i3d_numpy.conv3d(x, unit, stride), got, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("window,stride", [((1, 3, 3), (1, 2, 2)), ((3, 3, 3), (2, 2, 2)),
                                           ((2, 2, 2), (2, 2, 2)), ((3, 3, 3), (1, 1, 1))])
def test_max_pool_same(window, stride):
    x = np.random.default_rng(1).standard_normal((2, 5, 7, 6, 4)).astype(np.float32) - 3  # all negative-ish
    np.testing.assert_array_equal(i3d_numpy.max_pool(x, window, stride), naive_max_pool(x, window, stride))
