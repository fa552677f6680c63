"""Metrics: exact PSNR values, SSIM/MS-SSIM sanity, and an independent SSIM reference."""

import math

import numpy as np
import pytest

from gencodec import metrics
from gencodec.errors import InputError


def _image(h, w, seed=0):
    """Smooth, natural-ish content so SSIM is meaningful (pure noise is degenerate)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.stack(
        [
            128 + 80 * np.sin(x / 13.0) * np.cos(y / 17.0),
            100 + 0.5 * x + 0.3 * y,
            200 - 0.4 * x + 30 * np.sin((x + y) / 9.0),
        ],
        axis=-1,
    )
    img[h // 4 : h // 2, w // 3 : w // 2] = (30, 220, 60)
    img += rng.normal(0, 3, img.shape)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def _noisy(img, sigma, seed=1):
    rng = np.random.default_rng(seed)
    return np.clip(img.astype(np.float64) + rng.normal(0, sigma, img.shape), 0, 255).round().astype(np.uint8)


# ------------------------------------------------------------------------ PSNR


def test_psnr_known_mse():
    img = np.full((16, 20, 3), 128, np.uint8)
    sign = np.where((np.indices(img.shape).sum(0) % 2) == 0, 1, -1)
    test = (img.astype(int) + sign).astype(np.uint8)  # MSE exactly 1
    expected = 10 * math.log10(255**2)
    assert metrics.psnr(img, test) == pytest.approx(expected, abs=1e-9)
    assert round(metrics.psnr(img, test), 2) == 48.13


def test_psnr_mse_4():
    img = np.full((8, 8, 3), 100, np.uint8)
    test = img + np.uint8(2)
    assert metrics.psnr(img, test) == pytest.approx(10 * math.log10(255**2 / 4), abs=1e-9)


def test_psnr_identical_is_inf():
    img = _image(32, 32)
    assert metrics.psnr(img, img.copy()) == float("inf")


def test_shape_mismatch_raises():
    a = np.zeros((32, 32, 3), np.uint8)
    b = np.zeros((32, 30, 3), np.uint8)
    for fn in (metrics.psnr, metrics.ssim, metrics.structural_similarity, metrics.image_metrics):
        with pytest.raises(InputError, match="shape"):
            fn(a, b)
    with pytest.raises(InputError):
        metrics.video_metrics(np.zeros((2, 32, 32, 3), np.uint8), np.zeros((3, 32, 32, 3), np.uint8))


# ------------------------------------------------------------------------ SSIM


def test_ssim_identical_is_one():
    img = _image(64, 48)
    assert metrics.ssim(img, img.copy()) == pytest.approx(1.0, abs=1e-6)


def test_ssim_decreases_with_noise():
    img = _image(64, 64)
    vals = [metrics.ssim(img, _noisy(img, s)) for s in (2, 8, 25)]
    assert 1.0 > vals[0] > vals[1] > vals[2] > 0.0


def _reference_ssim(a, b):
    """Straight single-scale Wang et al. SSIM in numpy with a full 2-D 11x11 window."""
    c = np.arange(11) - 5
    g = np.exp(-(c**2) / (2 * 1.5**2))
    g /= g.sum()
    win = np.outer(g, g)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def filt(x):
        v = np.lib.stride_tricks.sliding_window_view(x, (11, 11))
        return np.einsum("ijkl,kl->ij", v, win)

    out = []
    for ch in range(3):
        x = a[..., ch].astype(np.float64)
        y = b[..., ch].astype(np.float64)
        mx, my = filt(x), filt(y)
        sxx = filt(x * x) - mx * mx
        syy = filt(y * y) - my * my
        sxy = filt(x * y) - mx * my
        m = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx**2 + my**2 + c1) * (sxx + syy + c2))
        out.append(m.mean())
    return float(np.mean(out))


def test_ssim_matches_independent_reference():
    rng = np.random.default_rng(42)
    a = rng.integers(0, 256, (23, 29, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-40, 41, a.shape), 0, 255).astype(np.uint8)
    assert metrics.ssim(a, b) == pytest.approx(_reference_ssim(a, b), abs=1e-4)
    img = _image(40, 36)
    nz = _noisy(img, 10)
    assert metrics.ssim(img, nz) == pytest.approx(_reference_ssim(img, nz), abs=1e-4)


def test_ssim_too_small_raises():
    a = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(InputError):
        metrics.ssim(a, a)


# ------------------------------------------------------------------------ MS-SSIM


def test_ms_ssim_identical_and_noise_ordering():
    img = _image(256, 256)
    assert metrics.ms_ssim(img, img.copy()) == pytest.approx(1.0, abs=1e-6)
    mild = metrics.ms_ssim(img, _noisy(img, 5))
    strong = metrics.ms_ssim(img, _noisy(img, 30))
    assert 1.0 > mild > strong > 0.0


def test_ms_ssim_odd_size_runs():
    img = _image(171, 203)
    v = metrics.ms_ssim(img, _noisy(img, 5))
    assert 0.0 < v < 1.0


def test_ms_ssim_too_small_raises():
    img = _image(160, 256)
    with pytest.raises(InputError, match="160"):
        metrics.ms_ssim(img, img)


def test_structural_fallback_names():
    small = _image(128, 128)
    big = _image(256, 256)
    v_small, kind_small = metrics.structural_similarity(small, _noisy(small, 5))
    v_big, kind_big = metrics.structural_similarity(big, _noisy(big, 5))
    assert kind_small == "SSIM"
    assert kind_big == "MS-SSIM"
    assert v_small == pytest.approx(metrics.ssim(small, _noisy(small, 5)))
    assert v_big == pytest.approx(metrics.ms_ssim(big, _noisy(big, 5)))


# ------------------------------------------------------------------------ aggregates


def test_image_metrics_keys():
    img = _image(64, 64)
    m = metrics.image_metrics(img, _noisy(img, 5))
    assert set(m) == {"psnr", "ssim", "ssim_kind", "lpips"}
    assert m["ssim_kind"] == "SSIM"
    assert m["lpips"] is None or isinstance(m["lpips"], float)


def test_lpips_never_raises(monkeypatch, tmp_path):
    import torch

    monkeypatch.setattr(metrics, "_LPIPS_MODEL", None)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))  # empty cache -> None
    img = _image(64, 64)
    assert metrics.lpips_distance(img, img) is None


def test_video_metrics():
    frames = np.stack([_image(48, 64, seed=s) for s in range(3)])
    test = frames.copy()
    test[1] = _noisy(frames[1], 5)
    m = metrics.video_metrics(frames, test)
    assert m["psnr_per_frame"][0] == float("inf")
    assert len(m["psnr_per_frame"]) == 3
    expected = (100.0 + metrics.psnr(frames[1], test[1]) + 100.0) / 3
    assert m["psnr"] == pytest.approx(expected)
    assert m["ssim_kind"] == "SSIM"
    assert m["ssim"] == pytest.approx((2 + metrics.ssim(frames[1], test[1])) / 3)
