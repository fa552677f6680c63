"""Test-wide settings: offline, no analytics, and small shared fixtures."""

import os

# Before anything imports huggingface_hub (it reads these once): the suite never touches the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


def natural_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A deterministic image with smooth gradients, edges and mild texture (stands in for a photo)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = 128 + 90 * np.sin(xx / 37.0) * np.cos(yy / 53.0)
    g = 60 + 150 * (yy / max(h - 1, 1))
    b = 200 - 140 * (xx / max(w - 1, 1))
    img = np.stack([r, g, b], 2)
    cy, cx = h * 0.55, w * 0.4
    disc = (yy - cy) ** 2 + (xx - cx) ** 2 < (min(h, w) * 0.22) ** 2
    img[disc] = [230, 200, 40]
    img[int(h * 0.1) : int(h * 0.3), int(w * 0.6) : int(w * 0.9)] = [20, 30, 160]
    img += rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture(scope="session")
def photo512() -> np.ndarray:
    return natural_image(512, 512)


@pytest.fixture(scope="session")
def photo_png(tmp_path_factory, photo512) -> str:
    from PIL import Image

    path = tmp_path_factory.mktemp("img") / "photo.png"
    Image.fromarray(photo512).save(path)
    return str(path)
