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
from gradio_client import handle_file
from PIL import Image

import gencodec
from gencodec import media

from .conftest import natural_image

KB = 1024


@pytest.fixture(scope="module")
def small_png(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("app-img") / "photo.png"
    Image.fromarray(natural_image(192, 256)).save(path)  # 256 wide × 192 high
    return str(path)


@pytest.fixture(scope="module")
def faithful(client, small_png):
    """One faithful-mode compression, shared by the tests that inspect its outputs."""
    return client.predict(handle_file(small_png), "faithful", 3, api_name="/compress_image")


@pytest.fixture(scope="module")
def small_clip(tmp_path_factory) -> str:
    """12 frames of 64×48 moving texture at 12 fps, as an H.264 mp4 (what a user uploads)."""
    path = tmp_path_factory.mktemp("app-video") / "clip.mp4"
    path.write_bytes(media.video_to_mp4_bytes(moving_clip(12, 48, 64), 12))
    return str(path)


def moving_clip(n: int, h: int, w: int) -> np.ndarray:
    t = np.arange(n)[:, None, None]
    yy, xx = np.mgrid[0:h, 0:w]
    return np.clip(
        np.stack(np.broadcast_arrays(128 + 90 * np.sin((xx + 3 * t) / 6), (yy * 5) % 256, 60 + 10 * t + 0 * xx), -1), 0, 255
    ).astype(np.uint8)


# tiny settings: (mode, atoms M, codebook size K, steps, GOP, frame size, max frames)
TINY_VIDEO = ("t2v", 8, 256, 10, 9, 64, 17)


@pytest.fixture(scope="module")
def video_result(client, small_clip):
    """One video compression, shared by the tests that inspect its outputs."""
    return client.predict(handle_file(small_clip), *TINY_VIDEO, api_name="/compress_video")


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
    assert "images and videos" in banner and banner.count('id="tiny-banner"') == 1  # one banner for both models
    tabs = [c.get("props", {}).get("label") for c in config["components"] if c.get("type") == "tabitem"]
    assert tabs == ["Image (SD latent)", "Video (GVC)", "LoRA (implicit)", "Long-video memory", "Decode"]
    modes = next(c["props"]["choices"] for c in config["components"] if c.get("props", {}).get("elem_id") == "video-mode")
    assert [value for _, value in modes] == ["t2v"]  # only what works: I2V / FLF2V are a note, not an option


def test_named_endpoints(client):
    api = client.view_api(return_format="dict", print_info=False)
    names = list(api["named_endpoints"])
    assert any("image" in n for n in names), names
    assert any("video" in n for n in names), names
    assert any("decode" in n for n in names), names
    assert len(api["named_endpoints"]["/compress_video"]["parameters"]) == 8
    assert "/compress_lora" in names and "/edit_lora" in names
    assert len(api["named_endpoints"]["/compress_lora"]["parameters"]) == 7
    assert len(api["named_endpoints"]["/edit_lora"]["parameters"]) == 2  # new prompt, optional file (the State is hidden)


def test_gpu_duration_callables_accept_the_same_arguments(gencodec_app):
    app, _ = gencodec_app

    rgb = np.zeros((512, 512, 3), np.uint8)
    small = app._compress_duration(rgb, "faithful", None, progress=None)
    big = app._compress_duration(np.zeros((4096, 4096, 3), np.uint8), "target", 3072, progress=None)
    assert 1 <= small < big <= 120
    assert 1 <= app._decode_duration(gencodec.encode(np.zeros((64, 64, 3), np.uint8), model="tiny"), progress=None) <= 120
    assert 1 <= app._decode_duration(b"garbage") <= 120

    frames = np.zeros((33, 480, 832, 3), np.uint8)
    one_gop = app._compress_video_duration(frames, 16.0, 64, 16384, 20, 33, progress=None)
    longer = app._compress_video_duration(np.zeros((66, 480, 832, 3), np.uint8), 16.0, 64, 16384, 20, 33, progress=None)
    assert 10 <= one_gop < longer <= app.VIDEO_GPU_CAP_S
    assert app._compress_video_duration(np.zeros((300, 1080, 1920, 3), np.uint8), 16.0, 64, 16384, 50, 33) == app.VIDEO_GPU_CAP_S
    gvc = gencodec.encode(moving_clip(9, 16, 16), codec="gvc", model="tiny", atoms=2, codebook_size=256, steps=4, gop=9, fps=8)
    assert 10 <= app._decode_duration(gvc, progress=None) <= app.VIDEO_GPU_CAP_S


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
    info, image, video, png = client.predict(handle_file(gcodec_path), api_name="/decode")
    assert video is None
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
    lines = [b for b in app.demo.blocks.values() if isinstance(b, gr.LinePlot)]  # PSNR per frame: Video and memory tabs
    assert len(lines) == 2 and all(p.read_from_flag is app._plot_from_cache for p in lines)


# ---------------------------------------------------------------- Video tab


def _video_path(value) -> str:
    """gradio_client returns a gr.Video value as {"video": path, "subtitles": ...}."""
    return value["video"] if isinstance(value, dict) else value


def test_compress_video_outputs(video_result):
    original, decoded, summary, table, plot, gcodec_path = video_result

    for value in (original, decoded):
        assert _video_path(value).endswith(".mp4")
        frames, fps = media.load_video(_video_path(value))
        assert frames.shape == (12, 48, 64, 3) and fps == 12
    assert _video_path(original).endswith("clip.coded-clip.mp4") and _video_path(decoded).endswith("clip.decoded.mp4")

    assert gcodec_path.endswith("clip.gvc.gcodec")
    data = Path(gcodec_path).read_bytes()
    meta = gencodec.info(data)
    assert meta["codec"] == "gvc" and meta["mode"] == "t2v" and meta["model"] == "tiny-wan-t2v"
    assert meta["total_bytes"] == len(data) == Path(gcodec_path).stat().st_size
    assert (meta["frames"], meta["width"], meta["height"], meta["fps"]) == (12, 64, 48, 12.0)
    assert (meta["atoms"], meta["codebook_size"], meta["steps"], meta["gop"]) == (8, 256, 10, 9)

    headers, rows = table["headers"], table["data"]
    assert headers == ["Codec", "Setting", "Bytes", "kbps", "bpp", "PSNR (dB)", "SSIM"]  # 48 px: too small for MS-SSIM
    assert rows[0][0] == "gencodec gvc (t2v)" and rows[0][1] == "M=8, K=256, 10 steps, GOP 9" and rows[0][2] == len(data)
    assert rows[0][3] == pytest.approx(meta["kbps"], abs=0.01) and rows[0][4] == pytest.approx(meta["bpp"], abs=1e-4)
    baselines_found = [r for r in rows[1:] if r[0] in ("H.264 (x264)", "HEVC (x265)", "AV1")]
    assert baselines_found and len(baselines_found) == len(rows) - 1, rows
    for row in baselines_found:
        assert row[2] >= len(data), row  # matched at ≥ our size
        assert re.fullmatch(r"CRF \d+", row[1])
        assert row[3] == pytest.approx(8 * row[2] * 12 / 12 / 1000, abs=0.01)  # kbps at the source fps

    columns = plot["columns"] if "columns" in plot else plot["value"]["columns"]
    data_rows = plot["data"] if "data" in plot else plot["value"]["data"]
    assert columns == ["time (s)", "frame", "PSNR (dB)", "codec"]
    assert len(data_rows) == 12 * len(rows)
    assert {r[3] for r in data_rows} == {"gencodec (GVC)"} | {r[0] for r in baselines_found}
    assert [r[:2] for r in data_rows[:12]] == [[round(i / 12, 4), i + 1] for i in range(12)]

    assert f"{len(data):,} B" in summary and "kbps" in summary and "12 fps" in summary and "SSIM" in summary
    assert "last GOP is padded" in summary  # 12 frames in GOPs of 9


def test_compress_video_downscales_and_caps_frames(client, tmp_path):
    clip = tmp_path / "wide.mp4"
    clip.write_bytes(media.video_to_mp4_bytes(moving_clip(20, 96, 160), 24))
    result = client.predict(handle_file(str(clip)), "t2v", 4, 256, 4, 17, 64, 17, api_name="/compress_video")
    original, decoded, summary = result[0], result[1], result[2]
    for value in (original, decoded):
        frames, fps = media.load_video(_video_path(value))
        assert frames.shape == (17, 64, 106, 3) and fps == 24  # short side 64, aspect kept, width even
    meta = gencodec.info(Path(result[-1]).read_bytes())
    assert (meta["frames"], meta["width"], meta["height"]) == (17, 106, 64)
    assert "the first 17 of 20 frames" in summary and "downscaled from 160×96 to 106×64" in summary


def test_downscale_frames(gencodec_app):
    app, _ = gencodec_app
    portrait = np.zeros((2, 1920, 1080, 3), np.uint8)
    assert app.downscale_frames(portrait, 480).shape == (2, 854, 480, 3)
    small = np.zeros((1, 48, 64, 3), np.uint8)
    assert app.downscale_frames(small, 64) is small and app.downscale_frames(small, 0) is small  # never upscales


def test_video_errors_are_one_line(gencodec_app, client, small_clip, monkeypatch):
    app, _ = gencodec_app
    assert "Upload a video" in app_error(client, None, *TINY_VIDEO, api_name="/compress_video")
    msg = app_error(client, handle_file(small_clip), "i2v", *TINY_VIDEO[1:], api_name="/compress_video")
    assert "i2v" in msg  # not a choice
    msg = app_error(client, handle_file(small_clip), "t2v", 8, 999, *TINY_VIDEO[3:], api_name="/compress_video")
    assert "999" in msg

    calls = []
    monkeypatch.setattr(app, "gpu_compress_video", lambda *a, **k: calls.append(a))
    monkeypatch.setenv("GENCODEC_MAX_VIDEO_FRAMES", "8")
    msg = app_error(client, handle_file(small_clip), *TINY_VIDEO, api_name="/compress_video")
    assert "the limit is 8" in msg and calls == []  # refused before any model work


def test_decode_video(client, video_result):
    gcodec_path = video_result[-1]
    info, image, video, mp4 = client.predict(handle_file(gcodec_path), api_name="/decode")
    assert image is None
    assert info["codec"] == "gvc" and info["media"] == "video" and info["total_bytes"] == Path(gcodec_path).stat().st_size
    assert mp4.endswith("clip.decoded.mp4")
    frames, fps = media.load_video(_video_path(video))
    assert frames.shape == (12, 48, 64, 3) and fps == 12
    same, _ = media.load_video(_video_path(video_result[1]))  # same file decoded twice: same frames
    assert np.array_equal(frames, same)


def test_decode_tab_shows_the_player_that_applies(gencodec_app):
    app, _ = gencodec_app
    image, video = app._show_decoded({"media": "video"})
    assert (image.visible, video.visible) == (False, True)
    image, video = app._show_decoded({"media": "image"})
    assert (image.visible, video.visible) == (True, False)


def test_decode_refuses_a_video_file_with_a_hint(client, small_clip):
    msg = app_error(client, handle_file(small_clip), api_name="/decode")
    assert "not a .gcodec file" in msg and "MP4" in msg and "Video (GVC) tab" in msg


# ---------------------------------------------------------------- LoRA (implicit) tab

# tiny settings: (caption, preset, target KB (0 = automatic), scaling (0 = off), frame size, max frames)
TINY_LORA = ("a sine wave drifting right", "fast", 0, 0, 64, 17)


@pytest.fixture(scope="module")
def lora_clip(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("app-lora") / "wave.mp4"
    path.write_bytes(media.video_to_mp4_bytes(moving_clip(9, 48, 64), 8))
    return str(path)


@pytest.fixture(scope="module")
def lora_result(client, lora_clip):
    return client.predict(handle_file(lora_clip), *TINY_LORA, api_name="/compress_lora")


def test_compress_lora_outputs(lora_result):
    original, decoded, summary, table, gcodec_path = lora_result
    for value in (original, decoded):
        frames, fps = media.load_video(_video_path(value))
        assert frames.shape == (9, 48, 64, 3) and fps == 8
    assert gcodec_path.endswith("wave.lora.gcodec")
    data = Path(gcodec_path).read_bytes()
    meta = gencodec.info(data)
    assert meta["codec"] == "lora" and meta["media"] == "video" and meta["prompt"] == TINY_LORA[0]
    assert (meta["frames"], meta["width"], meta["height"], meta["total_bytes"]) == (9, 64, 48, len(data))
    assert table["headers"] == ["Codec", "Setting", "Bytes", "kbps", "bpp", "PSNR (dB)", "SSIM"]
    row = table["data"][0]
    assert row[0] == "gencodec lora" and row[2] == len(data)
    assert row[3] == pytest.approx(meta["kbps"], abs=0.01) and row[4] == pytest.approx(meta["bpp"], abs=1e-4)
    assert f"{len(data):,} B" in summary and "60 fit steps" in summary and TINY_LORA[0] in summary


def test_edit_lora_changes_the_video(client, lora_result):
    gcodec_path = lora_result[-1]
    original, edited, summary = client.predict("a blue cube spinning", handle_file(gcodec_path), api_name="/edit_lora")
    a, fps = media.load_video(_video_path(original))
    b, _ = media.load_video(_video_path(edited))
    assert a.shape == b.shape == (9, 48, 64, 3) and fps == 8
    assert np.abs(a.astype(int) - b).mean() > 1.0  # the prompt changes the decode
    same, _ = media.load_video(_video_path(lora_result[1]))
    assert np.array_equal(a, same)  # left: the plain decode (stored caption)
    assert "a blue cube spinning" in summary and TINY_LORA[0] in summary
    # no upload: the last file compressed in this session (gr.State)
    again, _, _ = client.predict("a blue cube spinning", None, api_name="/edit_lora")
    assert np.array_equal(media.load_video(_video_path(again))[0], a)


def test_edit_lora_errors_are_one_line(client, video_result):
    assert "new prompt" in app_error(client, "", None, api_name="/edit_lora")
    msg = app_error(client, "a cat", handle_file(video_result[-1]), api_name="/edit_lora")
    assert "needs a lora file" in msg and "gvc" in msg


def test_decode_lora(client, lora_result):
    gcodec_path = lora_result[-1]
    info, image, video, mp4 = client.predict(handle_file(gcodec_path), api_name="/decode")
    assert image is None and info["codec"] == "lora" and info["prompt"] == TINY_LORA[0]
    frames, fps = media.load_video(_video_path(video))
    assert frames.shape == (9, 48, 64, 3) and fps == 8
    assert np.array_equal(frames, media.load_video(_video_path(lora_result[1]))[0])  # decoded with the stored caption


def test_lora_gpu_estimate(gencodec_app):
    app, _ = gencodec_app
    fast = app.lora_gpu_seconds(17, 480, 832, 300)
    assert fast <= app.VIDEO_GPU_CAP_S < app.lora_gpu_seconds(17, 480, 832, 2000)  # paper preset: CLI only on the real model
    assert app.lora_gpu_seconds(33, 480, 832, 300) > fast and app.lora_gpu_seconds(17, 480, 832, 300, 16) > fast
    assert 10 <= app._decode_duration(b"garbage") and app._compress_lora_duration(np.zeros((9, 48, 64, 3), np.uint8), 8.0, "", 60, 2e-2, None, 0) >= 10
