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


# ---------------------------------------------------------------- the Gradio app (tests/test_app.py, tests/test_browser.py)

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def import_app():
    """Import app.py from the repository root (once per process) with the tiny model forced."""
    import importlib.util
    import sys

    if "app" in sys.modules and getattr(sys.modules["app"], "__file__", "") == os.path.join(_REPO_ROOT, "app.py"):
        return sys.modules["app"]
    spec = importlib.util.spec_from_file_location("app", os.path.join(_REPO_ROOT, "app.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules["app"] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules["app"]
        raise
    return module


@pytest.fixture(scope="session")
def gradio_dirs(tmp_path_factory):
    """Gradio's upload cache and examples cache for the whole session.

    The same for every launch: the app's Blocks keeps the folder it was built with, while Gradio checks
    served files against the current environment, so changing it between launches breaks every image.
    """
    return {
        "GRADIO_TEMP_DIR": str(tmp_path_factory.mktemp("gradio-tmp")),
        "GRADIO_EXAMPLES_CACHE": str(tmp_path_factory.mktemp("gradio-examples")),
    }


@pytest.fixture(scope="module")
def gencodec_app(gradio_dirs):
    """The app launched in this process on tiny models: yields (app module, local URL); closed afterwards."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GENCODEC_MODELS", "tiny")
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("GRADIO_ANALYTICS_ENABLED", "False")
        for name, value in gradio_dirs.items():
            mp.setenv(name, value)
        app = import_app()
        _, local_url, _ = app.demo.launch(prevent_thread_lock=True, quiet=True)
        try:
            yield app, local_url
        finally:
            app.demo.close()
