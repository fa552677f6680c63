"""The Gradio app through its public API (gradio_client), offline on tiny models.

The app is launched once per module in this process (`gencodec_app` in conftest.py) and driven exactly as a
remote user would: uploads with handle_file, results downloaded by the client.
"""

import json
import re
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

import gencodec

from .conftest import natural_image

KB = 1024


@pytest.fixture(scope="module")
def client(gencodec_app, tmp_path_factory):
    _, url = gencodec_app
    c = Client(url, verbose=False, download_files=str(tmp_path_factory.mktemp("client-downloads")))
    yield c
    c.close()


@pytest.fixture(scope="module")
def small_png(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("app-img") / "photo.png"
    Image.fromarray(natural_image(192, 256)).save(path)  # 256 wide × 192 high
    return str(path)


@pytest.fixture(scope="module")
def faithful(client, small_png):
    """One faithful-mode compression, shared by the tests that inspect its outputs."""
    return client.predict(handle_file(small_png), "faithful", 3, api_name="/compress_image")


def app_error(client, *args, api_name):
    """Call an endpoint that must fail; returns the one-line message the user sees."""
    with pytest.raises(Exception) as info:
        client.predict(*args, api_name=api_name)
    message = str(info.value)
    assert "Traceback" not in message and "File \"" not in message, message
    assert "\n" not in message.strip(), message
    return message


# ---------------------------------------------------------------- startup, layout, API


def test_tiny_banner_in_config(gencodec_app):
    app, url = gencodec_app
    assert app.TINY and app.MODEL_ARG == "tiny"
    with urllib.request.urlopen(url.rstrip("/") + "/config", timeout=30) as resp:
        config = json.loads(resp.read())
    texts = [str(c.get("props", {}).get("value", "")) for c in config["components"]]
    banner = next((t for t in texts if "tiny random models" in t), None)
    assert banner is not None, "no tiny-model banner in the layout"
    assert "GENCODEC_MODELS=tiny" in banner  # says why
    assert "noise-like" in banner and "sizes are real" in banner
    tabs = [c.get("props", {}).get("label") for c in config["components"] if c.get("type") == "tabitem"]
    assert "Image (SD latent)" in tabs and "Decode" in tabs


def test_named_endpoints(client):
    api = client.view_api(return_format="dict", print_info=False)
    names = list(api["named_endpoints"])
    assert any("image" in n for n in names), names
    assert any("decode" in n for n in names), names


def test_gpu_duration_callables_accept_the_same_arguments(gencodec_app):
    app, _ = gencodec_app

    rgb = np.zeros((512, 512, 3), np.uint8)
    small = app._compress_duration(rgb, "faithful", None, progress=None)
    big = app._compress_duration(np.zeros((4096, 4096, 3), np.uint8), "target", 3072, progress=None)
    assert 1 <= small < big <= 120
    assert 1 <= app._decode_duration(gencodec.encode(np.zeros((64, 64, 3), np.uint8), model="tiny"), progress=None) <= 120
    assert 1 <= app._decode_duration(b"garbage") <= 120


# ---------------------------------------------------------------- Image tab


def test_compress_faithful_outputs(faithful, small_png):
    slider, summary, table, bytes_plot, psnr_plot, gallery, gcodec_path = faithful

    original, decoded = slider
    with Image.open(decoded) as im:
        assert im.size == (256, 192) and im.format == "PNG"
    with Image.open(original) as im:
        assert im.size == (256, 192)

    assert gcodec_path.endswith("photo.sd-latent.gcodec")
    data = Path(gcodec_path).read_bytes()
    meta = gencodec.info(data)
    assert meta["total_bytes"] == len(data) == Path(gcodec_path).stat().st_size
    assert (meta["width"], meta["height"], meta["mode"]) == (256, 192, "faithful")

    headers, rows = table["headers"], table["data"]
    assert headers[:5] == ["Codec", "Quality", "Bytes", "bpp", "PSNR (dB)"] and headers[5] == "MS-SSIM"
    assert len(rows) == 5, rows
    assert rows[0][0].startswith("gencodec") and rows[0][2] == len(data)
    assert [r[0] for r in rows[1:]] == ["JPEG", "WebP", "AVIF", "JPEG XL"]
    for row in rows[1:]:
        assert row[2] >= len(data), row
        assert re.fullmatch(r"q\d+", row[1])
    assert rows[0][3] == pytest.approx(8 * len(data) / (256 * 192), abs=1e-4)

    for plot in (bytes_plot, psnr_plot):
        assert len(plot["data"]) == 5
    assert len(gallery) == 5
    assert gallery[1]["caption"] == f"JPEG {rows[1][1]} · {rows[1][2]:,} B"
    for item in gallery:
        with Image.open(item["image"]) as im:
            assert im.size == (256, 192) and im.format == "PNG"

    assert f"{len(data):,} B" in summary and "bpp" in summary and "PSNR" in summary


def test_compress_target_size(client, tmp_path):
    path = tmp_path / "bigger.png"
    Image.fromarray(natural_image(288, 384, seed=1)).save(path)
    result = client.predict(handle_file(str(path)), "target", 3, api_name="/compress_image")
    data = Path(result[-1]).read_bytes()
    assert 0.97 * 3 * KB <= len(data) <= 3 * KB, len(data)
    meta = gencodec.info(data)
    assert meta["mode"] == "improved" and meta["total_bytes"] == len(data)
    assert result[2]["data"][0][2] == len(data)
    with Image.open(result[0][1]) as im:
        assert im.size == (384, 288)


def test_compress_small_image_reports_single_scale_ssim(client, tmp_path):
    path = tmp_path / "tiny.png"
    Image.fromarray(natural_image(96, 128)).save(path)
    result = client.predict(handle_file(str(path)), "faithful", 3, api_name="/compress_image")
    assert result[2]["headers"][5] == "SSIM"
    assert "MS-SSIM" in result[1]  # the summary explains why


def test_compress_errors_are_one_line(client, small_png, monkeypatch):
    msg = app_error(client, None, "faithful", 3, api_name="/compress_image")
    assert "Upload an image" in msg
    msg = app_error(client, handle_file(small_png), "target", 0.1, api_name="/compress_image")
    assert "minimum value 0.5" in msg  # Gradio's own bound check on the slider, before our handler

    monkeypatch.setenv("GENCODEC_MAX_IMAGE_SIDE", "200")
    msg = app_error(client, handle_file(small_png), "faithful", 3, api_name="/compress_image")
    assert "limit is 200×200" in msg and "256×192" in msg


def test_oversized_upload_refused_before_model_work(gencodec_app, client, small_png, monkeypatch):
    app, _ = gencodec_app
    calls = []
    monkeypatch.setattr(app, "gpu_compress", lambda *a, **k: calls.append(a))
    monkeypatch.setenv("GENCODEC_MAX_IMAGE_SIDE", "128")
    msg = app_error(client, handle_file(small_png), "faithful", 3, api_name="/compress_image")
    assert "limit is 128×128" in msg
    assert calls == []


def test_unexpected_error_is_one_line(gencodec_app, client, small_png, monkeypatch):
    app, _ = gencodec_app

    def boom(*args, **kwargs):
        raise RuntimeError("CUDA went away\n  with a second line")

    monkeypatch.setattr(app, "gpu_compress", boom)
    msg = app_error(client, handle_file(small_png), "faithful", 3, api_name="/compress_image")
    assert "unexpected error (RuntimeError): CUDA went away with a second line" in msg


# ---------------------------------------------------------------- Decode tab


def test_decode_roundtrip(client, faithful):
    gcodec_path = faithful[-1]
    info, image, png = client.predict(handle_file(gcodec_path), api_name="/decode")
    expected = gencodec.info(Path(gcodec_path).read_bytes())
    assert {k: info[k] for k in expected} == json.loads(json.dumps(expected))
    assert info["total_bytes"] == Path(gcodec_path).stat().st_size
    with Image.open(image) as im:
        assert im.size == (256, 192) and im.format == "PNG"
    assert png.endswith("photo.decoded.png")
    with Image.open(png) as im:
        assert im.size == (256, 192)
        decoded = np.asarray(im.convert("RGB"))
    with Image.open(faithful[0][1]) as im:  # same file decoded twice: same pixels
        assert np.array_equal(decoded, np.asarray(im.convert("RGB")))


def test_decode_errors_are_one_line(client, small_png, tmp_path, faithful):
    msg = app_error(client, handle_file(small_png), api_name="/decode")
    assert "not a .gcodec file" in msg and "PNG" in msg

    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert "not a .gcodec file" in app_error(client, handle_file(str(text)), api_name="/decode")

    data = bytearray(Path(faithful[-1]).read_bytes())
    data[len(data) // 2] ^= 0xFF
    corrupt = tmp_path / "corrupt.gcodec"
    corrupt.write_bytes(bytes(data))
    assert "corrupt" in app_error(client, handle_file(str(corrupt)), api_name="/decode")

    assert "Upload a .gcodec file" in app_error(client, None, api_name="/decode")


def test_decode_refuses_files_beyond_the_image_limit(client, faithful, monkeypatch):
    monkeypatch.setenv("GENCODEC_MAX_IMAGE_SIDE", "128")
    msg = app_error(client, handle_file(faithful[-1]), api_name="/decode")
    assert "256×192" in msg and "limit is 128×128" in msg


def test_bar_plots_survive_the_examples_cache(gencodec_app):
    """Lazily cached examples store plot values as JSON text; they must load back as plot data, not a string."""
    import gradio as gr
    import pandas as pd

    app, _ = gencodec_app
    plots = [b for b in app.demo.blocks.values() if isinstance(b, gr.BarPlot)]
    assert len(plots) == 2
    frame = pd.DataFrame({"codec": ["gencodec", "JPEG"], "bytes": [1000, 1010], "psnr": [20.0, 25.0], "kind": ["ours", "baseline"]})
    for plot in plots:
        stored = plot.flag(plot.postprocess(frame).model_dump())
        back = plot.read_from_flag(stored)
        assert isinstance(back, dict) and back["columns"] == ["codec", "bytes", "psnr", "kind"]
        assert back["data"][1] == ["JPEG", 1010, 25.0, "baseline"]
