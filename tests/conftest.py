"""Test-wide settings: offline, no analytics, and small shared fixtures."""

import os

# Before anything imports huggingface_hub (it reads these once): the suite never touches the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from gencodec.bench._common import synthetic_image as natural_image  # noqa: E402,F401  (a photo stand-in)


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


@pytest.fixture(scope="module")
def client(gencodec_app, tmp_path_factory):
    """A gradio_client on the launched app (one session per test module), downloads in a temp dir."""
    from gradio_client import Client

    _, url = gencodec_app
    c = Client(url, verbose=False, download_files=str(tmp_path_factory.mktemp("client-downloads")))
    yield c
    c.close()
