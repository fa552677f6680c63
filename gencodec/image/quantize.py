"""Scalar quantisers of the SD latent: Bühlmann's fixed 8-bit one and our uniform step quantiser."""

from __future__ import annotations

import numpy as np

from .sd import LATENT_SCALE

# Bühlmann's quantiser: step 0.18215 on the raw latent, range ±127.5 steps (≈ ±23.2, ≈ ±4.2σ).
BUEHLMANN_STEP = LATENT_SCALE


def buehlmann_quantize(latent: np.ndarray) -> np.ndarray:
    """Raw latent (4, h, w) float → uint8 (h, w, 4) 'RGBA pixels', exactly as in Bühlmann's notebook."""
    scaled = np.clip(latent.astype(np.float32) / (255.0 * LATENT_SCALE) + 0.5, 0.0, 1.0)
    q = (scaled * 255.0 + 0.5).astype(np.uint8)
    return np.ascontiguousarray(q.transpose(1, 2, 0))


def buehlmann_unquantize(q: np.ndarray) -> np.ndarray:
    """uint8 (h, w, 4) → raw latent (4, h, w) float32."""
    q = np.asarray(q, dtype=np.float32).transpose(2, 0, 1)
    return ((q / 255.0 - 0.5) * 255.0 * LATENT_SCALE).astype(np.float32)


def uniform_quantize(latent: np.ndarray, step: float) -> np.ndarray:
    """Round to the nearest multiple of `step` (int32 indices); error ≤ step/2 everywhere."""
    return np.rint(latent.astype(np.float64) / step).astype(np.int32)


def uniform_dequantize(q: np.ndarray, step: float) -> np.ndarray:
    return (q.astype(np.float64) * step).astype(np.float32)


def step_from_code(code: int) -> float:
    """Quantiser step on a fine log grid (2^(1/256) apart) so rate control can land within 3 % of a target."""
    return LATENT_SCALE * 2.0 ** (code / 256.0)
