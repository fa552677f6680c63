"""Image and video quality metrics (PSNR, SSIM / MS-SSIM, optional LPIPS).

All functions take uint8 RGB numpy arrays, (H, W, 3) for images and (T, H, W, 3)
for videos, so every codec (ours and the classical baselines) is scored by the
same code on the same decoded pixels.

SSIM and MS-SSIM follow Wang et al. exactly as pytorch-msssim implements them
(11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03, data range 255, "valid"
filtering, per-channel values averaged over R, G, B), so numbers are comparable
with published tables that use that package, without depending on it.
"""

from __future__ import annotations

import math
import os

import numpy as np
import torch
import torch.nn.functional as F

from .errors import InputError

__all__ = [
    "psnr",
    "ssim",
    "ms_ssim",
    "structural_similarity",
    "lpips_distance",
    "image_metrics",
    "video_metrics",
    "MS_SSIM_MIN_SIDE",
    "MS_SSIM_WEIGHTS",
]

WIN_SIZE = 11
WIN_SIGMA = 1.5
K1 = 0.01
K2 = 0.03
DATA_RANGE = 255.0
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
# MS-SSIM filters the coarsest of 5 scales (4 halvings) with an 11-tap window, so the
# smaller side must exceed (11 - 1) * 2**4; pytorch-msssim asserts the same bound.
MS_SSIM_MIN_SIDE = (WIN_SIZE - 1) * 2 ** (len(MS_SSIM_WEIGHTS) - 1)
# Identical frames have infinite PSNR; a video mean needs a finite stand-in.
PSNR_CAP_DB = 100.0


# --------------------------------------------------------------------------- helpers


def _check_pair(ref: np.ndarray, test: np.ndarray, ndim: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Validate two images (or frame stacks) so a metric never silently broadcasts."""
    ref = np.asarray(ref)
    test = np.asarray(test)
    if ref.shape != test.shape:
        raise InputError(
            f"cannot compare images of different shapes: reference {ref.shape} vs test {test.shape}"
        )
    if ref.ndim != ndim or ref.shape[-1] != 3:
        want = "(H, W, 3)" if ndim == 3 else "(T, H, W, 3)"
        raise InputError(f"expected RGB array of shape {want}, got {ref.shape}")
    if 0 in ref.shape:
        raise InputError(f"cannot compare empty images of shape {ref.shape}")
    return ref, test


def _to_tensor(img: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> (1, 3, H, W) float64 in 0..255 (float64 keeps SSIM exact to ~1e-12)."""
    return torch.from_numpy(np.ascontiguousarray(img, dtype=np.float64)).permute(2, 0, 1).unsqueeze(0)


def _gauss_window(size: int = WIN_SIZE, sigma: float = WIN_SIGMA) -> torch.Tensor:
    """1-D normalised Gaussian taps, as pytorch-msssim's _fspecial_gauss_1d."""
    coords = torch.arange(size, dtype=torch.float64) - size // 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    return g / g.sum()


def _filter(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Separable depthwise Gaussian blur with no padding ("valid"), per channel."""
    c = x.shape[1]
    x = F.conv2d(x, g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def _ssim_cs(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean SSIM and mean contrast-structure term, shape (N, C) each."""
    g = _gauss_window()
    c1 = (K1 * DATA_RANGE) ** 2
    c2 = (K2 * DATA_RANGE) ** 2
    mu1 = _filter(x, g)
    mu2 = _filter(y, g)
    mu1_sq, mu2_sq, mu12 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    sigma1_sq = _filter(x * x, g) - mu1_sq
    sigma2_sq = _filter(y * y, g) - mu2_sq
    sigma12 = _filter(x * y, g) - mu12
    cs_map = (2 * sigma12 + c2) / (sigma1_sq + sigma2_sq + c2)
    ssim_map = ((2 * mu12 + c1) / (mu1_sq + mu2_sq + c1)) * cs_map
    return ssim_map.flatten(2).mean(-1), cs_map.flatten(2).mean(-1)


# --------------------------------------------------------------------------- metrics


def psnr(ref: np.ndarray, test: np.ndarray) -> float:
    """PSNR in dB over all RGB values, peak 255; inf when the images are identical."""
    ref, test = _check_pair(ref, test)
    diff = ref.astype(np.float64) - test.astype(np.float64)
    mse = float(np.mean(diff * diff))
    if mse == 0.0:
        return float("inf")
    return 10.0 * math.log10(DATA_RANGE**2 / mse)


def ssim(ref: np.ndarray, test: np.ndarray) -> float:
    """Single-scale SSIM (mean over the valid-filtered map, averaged over R, G, B)."""
    ref, test = _check_pair(ref, test)
    if min(ref.shape[:2]) < WIN_SIZE:
        raise InputError(f"SSIM needs images of at least {WIN_SIZE}x{WIN_SIZE} px, got {ref.shape[:2]}")
    with torch.no_grad():
        s, _ = _ssim_cs(_to_tensor(ref), _to_tensor(test))
    return float(s.mean())


def ms_ssim(ref: np.ndarray, test: np.ndarray) -> float:
    """5-scale MS-SSIM as pytorch-msssim computes it (needs min side > 160 px)."""
    ref, test = _check_pair(ref, test)
    if min(ref.shape[:2]) <= MS_SSIM_MIN_SIDE:
        raise InputError(
            f"MS-SSIM needs both sides > {MS_SSIM_MIN_SIDE} px, got {ref.shape[1]}x{ref.shape[0]}; use ssim()"
        )
    x, y = _to_tensor(ref), _to_tensor(test)
    weights = torch.tensor(MS_SSIM_WEIGHTS, dtype=torch.float64)
    levels = len(MS_SSIM_WEIGHTS)
    mcs = []
    with torch.no_grad():
        for i in range(levels):
            s, cs = _ssim_cs(x, y)
            if i < levels - 1:
                # Clamp before the fractional power: a negative cs would give NaN.
                mcs.append(torch.relu(cs))
                pad = [d % 2 for d in x.shape[2:]]
                x = F.avg_pool2d(x, kernel_size=2, padding=pad)
                y = F.avg_pool2d(y, kernel_size=2, padding=pad)
        # Luminance (full SSIM) only at the coarsest scale; cs terms at the finer ones.
        stack = torch.stack(mcs + [torch.relu(s)], dim=0)  # (levels, N, C)
        val = torch.prod(stack ** weights.view(-1, 1, 1), dim=0)  # (N, C)
    return float(val.mean())


def structural_similarity(ref: np.ndarray, test: np.ndarray) -> tuple[float, str]:
    """MS-SSIM when the image is large enough, else SSIM; the name says which was used."""
    ref, test = _check_pair(ref, test)
    if min(ref.shape[:2]) > MS_SSIM_MIN_SIDE:
        return ms_ssim(ref, test), "MS-SSIM"
    return ssim(ref, test), "SSIM"


_LPIPS_MODEL = None
_ALEXNET_CKPT = "alexnet-owt-7be5be79.pth"


def lpips_distance(ref: np.ndarray, test: np.ndarray) -> float | None:
    """LPIPS (AlexNet) distance, or None when it cannot run fully offline.

    Never downloads: needs the `lpips` package and the AlexNet backbone already in
    the torch hub cache. Any failure yields None so the metric is simply omitted.
    """
    global _LPIPS_MODEL
    try:
        ref, test = _check_pair(ref, test)
        if _LPIPS_MODEL is None:
            ckpt = os.path.join(torch.hub.get_dir(), "checkpoints", _ALEXNET_CKPT)
            if not os.path.isfile(ckpt):
                return None
            import lpips  # noqa: PLC0415 - optional dependency

            model = lpips.LPIPS(net="alex", verbose=False)
            model.eval()
            _LPIPS_MODEL = model
        model = _LPIPS_MODEL

        def prep(a: np.ndarray) -> torch.Tensor:
            return (_to_tensor(a).float() / 127.5) - 1.0  # LPIPS expects [-1, 1]

        with torch.no_grad():
            d = model(prep(ref), prep(test))
        return float(d.mean())
    except Exception:  # noqa: BLE001 - optional metric, must never break a run
        return None


def image_metrics(ref: np.ndarray, test: np.ndarray) -> dict:
    """All image metrics in one dict: psnr, ssim (structural value), ssim_kind, lpips."""
    ref, test = _check_pair(ref, test)
    value, kind = structural_similarity(ref, test)
    return {
        "psnr": psnr(ref, test),
        "ssim": value,
        "ssim_kind": kind,
        "lpips": lpips_distance(ref, test),
    }


def video_metrics(ref_frames: np.ndarray, test_frames: np.ndarray) -> dict:
    """Per-frame-averaged PSNR and structural similarity for (T, H, W, 3) uint8 frames.

    Identical frames count as PSNR_CAP_DB (100 dB) in the mean so one perfect frame
    does not make the whole video's PSNR infinite; per-frame values stay uncapped.
    """
    ref_frames, test_frames = _check_pair(ref_frames, test_frames, ndim=4)
    per_frame = [psnr(r, t) for r, t in zip(ref_frames, test_frames)]
    structural = [structural_similarity(r, t) for r, t in zip(ref_frames, test_frames)]
    return {
        "psnr": float(np.mean([min(p, PSNR_CAP_DB) for p in per_frame])),
        "psnr_per_frame": per_frame,
        "ssim": float(np.mean([v for v, _ in structural])),
        "ssim_kind": structural[0][1],
    }
