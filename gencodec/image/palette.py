"""256-colour RGBA palette with Floyd–Steinberg error diffusion, our permissive stand-in for libimagequant.

Bühlmann treats the four 8-bit latent channels as one RGBA pixel, reduces them to a palette
and dithers; the dithering error is later treated as diffusion noise by the UNet. This is our
own implementation (k-means++ palette, classic Floyd–Steinberg), since libimagequant is GPL.
"""

from __future__ import annotations

import numpy as np

MAX_COLORS = 256


def fit_palette(pixels: np.ndarray, n_colors: int = MAX_COLORS, iters: int = 10, seed: int = 0, max_samples: int = 16384) -> np.ndarray:
    """k-means palette (≤ n_colors RGBA entries, uint8) for an (N, 4) uint8 array; deterministic for a seed."""
    pts = np.asarray(pixels, dtype=np.uint8).reshape(-1, 4)
    unique = np.unique(pts, axis=0)
    if len(unique) <= n_colors:
        return unique.astype(np.uint8)
    rng = np.random.default_rng(seed)
    sample = pts if len(pts) <= max_samples else pts[rng.choice(len(pts), max_samples, replace=False)]
    x = sample.astype(np.float32)
    # k-means++ seeding
    centres = np.empty((n_colors, 4), np.float32)
    centres[0] = x[rng.integers(len(x))]
    d2 = ((x - centres[0]) ** 2).sum(1)
    for k in range(1, n_colors):
        total = d2.sum()
        idx = rng.choice(len(x), p=d2 / total) if total > 0 else rng.integers(len(x))
        centres[k] = x[idx]
        d2 = np.minimum(d2, ((x - centres[k]) ** 2).sum(1))
    for _ in range(iters):
        labels = nearest(x, centres)
        sums = np.zeros_like(centres)
        np.add.at(sums, labels, x)
        counts = np.bincount(labels, minlength=n_colors).astype(np.float32)
        filled = counts > 0
        centres[filled] = sums[filled] / counts[filled, None]
    palette = np.clip(np.rint(centres), 0, 255).astype(np.uint8)
    return np.unique(palette, axis=0)


def nearest(x: np.ndarray, palette: np.ndarray, chunk: int = 8192) -> np.ndarray:
    """Index of the nearest palette entry (squared Euclidean) for each row of x."""
    pal = palette.astype(np.float32)
    pal_sq = (pal**2).sum(1)
    out = np.empty(len(x), np.int64)
    for s in range(0, len(x), chunk):
        xs = x[s : s + chunk].astype(np.float32)
        out[s : s + chunk] = np.argmin(pal_sq[None, :] - 2.0 * xs @ pal.T, axis=1)
    return out


def dither(image: np.ndarray, palette: np.ndarray, strength: float = 1.0) -> np.ndarray:
    """Floyd–Steinberg error diffusion of an (h, w, 4) uint8 image onto a palette → (h, w) uint8 indices."""
    h, w, _ = image.shape
    pal = palette.astype(np.float32)
    work = image.astype(np.float32)
    out = np.empty((h, w), np.uint8)
    for y in range(h):
        row = work[y]
        below = work[y + 1] if y + 1 < h else None
        for x in range(w):
            v = np.clip(row[x], 0.0, 255.0)
            k = int(np.argmin(((pal - v) ** 2).sum(1)))
            out[y, x] = k
            err = (v - pal[k]) * strength
            if x + 1 < w:
                row[x + 1] += err * (7 / 16)
            if below is not None:
                if x > 0:
                    below[x - 1] += err * (3 / 16)
                below[x] += err * (5 / 16)
                if x + 1 < w:
                    below[x + 1] += err * (1 / 16)
    return out
