"""The app's Long-video memory tab through its public API (gradio_client), offline on the tiny models.

Same set-up as tests/test_app.py: the app is launched once per module in this process (`gencodec_app` in
conftest.py) and driven as a remote user would. Clips are tiny (33 frames of 64×96) to keep the CPU time small.
"""

import json
import math
import re
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

import gencodec
from gencodec import media
from gencodec.memory.synthetic import synthetic_clip

from .conftest import natural_image
from .test_browser import TIMEOUT_MS, app_page, browser  # noqa: F401  (the Chromium fixture; skips without Chromium/Playwright)

FRAMES, HEIGHT, WIDTH, FPS = 33, 64, 96, 16
# tiny settings: (token budget, frame size: 128 px never upscales a 64 px clip, max frames)
TINY_MEMORY = (64, 128, 41)


@pytest.fixture(scope="module")
def memory_clip(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("app-memory") / "pan.mp4"
    path.write_bytes(media.video_to_mp4_bytes(synthetic_clip(11, FRAMES, HEIGHT, WIDTH), FPS))
    return str(path)


@pytest.fixture(scope="module")
def memory_result(client, memory_clip):
    """One compression, shared by the tests that inspect its outputs (and the scrubber's session state)."""
    return client.predict(handle_file(memory_clip), *TINY_MEMORY, api_name="/memory_compress")


@pytest.fixture
def few_dit_steps(gencodec_app, monkeypatch):
    """The DiT retriever with 2 steps instead of 20: the same code path, a tenth of the CPU time."""
    app, _ = gencodec_app
    monkeypatch.setattr(app, "MEMORY_DIT_STEPS", 2)


def app_error(client, *args, api_name):
    """Call an endpoint that must fail; returns the one-line message the user sees."""
    with pytest.raises(Exception) as info:
        client.predict(*args, api_name=api_name)
    message = str(info.value)
    assert "Traceback" not in message and 'File "' not in message, message
    assert "\n" not in message.strip(), message
    return message


def _video_path(value) -> str:
    return value["video"] if isinstance(value, dict) else value


def _plot_rows(plot) -> tuple[list, list]:
    value = plot if "columns" in plot else plot["value"]
    return value["columns"], value["data"]


def _rgb(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


# ---------------------------------------------------------------- layout and API


def test_memory_tab_and_endpoints(gencodec_app, client):
    _, url = gencodec_app
    with urllib.request.urlopen(url.rstrip("/") + "/config", timeout=30) as resp:
        config = json.loads(resp.read())
    tabs = [c.get("props", {}).get("label") for c in config["components"] if c.get("type") == "tabitem"]
    assert "Long-video memory" in tabs and tabs.index("Long-video memory") == tabs.index("Decode") - 1
    banners = [str(c.get("props", {}).get("value", "")) for c in config["components"]]
    assert sum(t.count('id="tiny-banner"') for t in banners) == 1  # still one banner, now covering the memory tab too

    api = client.view_api(return_format="dict", print_info=False)
    named = api["named_endpoints"]
    memory = [n for n in named if "memory" in n]
    assert sorted(memory) == ["/memory_compress", "/memory_continue", "/memory_frame"], list(named)
    assert len(named["/memory_compress"]["parameters"]) == 4  # video, budget, frame size, max frames
    assert len(named["/memory_frame"]["parameters"]) == 2  # frame, retriever (the session State is hidden)
    assert len(named["/memory_continue"]["parameters"]) == 2  # seconds, prompt


def test_banner_names_the_memory_tab(gencodec_app, monkeypatch):
    app, _ = gencodec_app
    for name in ("TINY", "VIDEO_TINY"):
        monkeypatch.setattr(app, name, False)
    monkeypatch.setattr(app, "MEMORY_TINY_REASON", "the Hub cannot be reached")
    monkeypatch.setattr(app.models, "force_tiny", lambda: False)
    banner = app.banner_markdown()
    assert "the Long-video memory tab runs" in banner and "Decoded videos are noise-like" in banner
    assert banner.count("hf download") == 1 and "Wan 2.1 T2V 1.3B" in banner

    monkeypatch.setattr(app, "VIDEO_TINY", True)
    monkeypatch.setattr(app, "VIDEO_TINY_REASON", "the Hub cannot be reached")
    banner = app.banner_markdown()
    assert "the Video and Long-video memory tabs run" in banner
    assert banner.count("hf download") == 1 and banner.count("Wan 2.1 T2V 1.3B") == 1  # one repo, named once


def test_gpu_duration_callables_accept_the_same_arguments(gencodec_app):
    app, _ = gencodec_app
    one = app._compress_memory_duration(np.zeros((1, 480, 832, 3), np.uint8), 16.0, 6240, progress=None)
    clip = app._compress_memory_duration(np.zeros((330, 480, 832, 3), np.uint8), 16.0, 6240)
    assert 10 <= one < clip <= app.VIDEO_GPU_CAP_S
    assert app.memory_gpu_seconds(2400, 480, 832) < app.VIDEO_GPU_CAP_S < app.memory_gpu_seconds(2400, 1080, 1920)
    assert app.memory_frame_seconds(480, 832, 6240, "head") < app.memory_frame_seconds(480, 832, 6240, "dit")
    assert app.memory_continue_seconds(80, 480, 832, 6240) > app.memory_continue_seconds(16, 480, 832, 6240)
    data = gencodec.encode(synthetic_clip(1, 9, 32, 32), codec="memory", model="tiny", budget_tokens=16, fps=8)
    assert 10 <= app._memory_frame_duration(data, 3, "dit", progress=None) <= app.VIDEO_GPU_CAP_S
    assert 10 <= app._memory_continue_duration(data, 1.0, "a prompt", progress=None) <= app.VIDEO_GPU_CAP_S
    assert 10 <= app._decode_duration(data, progress=None) <= app.VIDEO_GPU_CAP_S
    assert app._memory_frame_duration(b"garbage", 0, "head") == 60


# ---------------------------------------------------------------- compress


def test_memory_compress_outputs(memory_result):
    (original, retrieved, summary, table, plot, gcodec_path, frame, frame_orig, frame_ret, frame_psnr, frame_summary) = (
        memory_result
    )
    assert gcodec_path.endswith("pan.memory.gcodec")
    data = Path(gcodec_path).read_bytes()
    meta = gencodec.info(data)
    assert meta["codec"] == "memory" and meta["model"] == "tiny-memory"
    assert meta["total_bytes"] == len(data) == Path(gcodec_path).stat().st_size
    assert (meta["frames"], meta["width"], meta["height"], meta["fps"]) == (FRAMES, WIDTH, HEIGHT, FPS)
    assert meta["tokens"] <= TINY_MEMORY[0] < meta["full_tokens"]

    headers, rows = table["headers"], table["data"]
    assert headers[:5] == ["Strides (H×W×T)", "Memory tokens", "Full context (tokens)", "Compression ×", "Tokens per second"]
    row = dict(zip(headers, rows[0]))
    assert row["Strides (H×W×T)"] == meta["mode"]
    assert (row["Memory tokens"], row["Full context (tokens)"], row["Bytes"]) == (meta["tokens"], meta["full_tokens"], len(data))
    assert row["Compression ×"] == pytest.approx(meta["compression"], abs=0.01)
    assert row["Tokens per second"] == pytest.approx(meta["tokens_per_second"], abs=0.01)
    assert row["kbps"] == pytest.approx(meta["kbps"], abs=0.01) and row["bpp"] == pytest.approx(meta["bpp"], abs=1e-4)

    columns, points = _plot_rows(plot)
    assert columns == ["frame", "time (s)", "PSNR (dB)", "retriever"]
    assert [p[0] for p in points] == list(range(FRAMES))  # one point per frame
    assert all(math.isfinite(p[2]) for p in points)
    assert row["PSNR (dB, head)"] == pytest.approx(np.mean([p[2] for p in points]), abs=0.02)

    for value in (original, retrieved):
        frames, fps = media.load_video(_video_path(value))
        assert frames.shape == (FRAMES, HEIGHT, WIDTH, 3) and fps == FPS
    assert f"{meta['tokens']:,} memory tokens" in summary and f"{meta['full_tokens']:,}" in summary
    assert f"{len(data):,} B" in summary and "kbps" in summary and "bpp" in summary

    # the scrubber spans every frame and starts on frame 0, shown from the head retrieval just made
    assert (frame["value"], frame["maximum"], frame["interactive"]) == (0, FRAMES - 1, True)
    assert _rgb(frame_orig).shape == _rgb(frame_ret).shape == (HEIGHT, WIDTH, 3)
    assert frame_psnr == pytest.approx(points[0][2], abs=0.01)
    assert "Frame **0**" in frame_summary


def test_memory_compress_downscales_and_caps_frames(gencodec_app, tmp_path):
    clip = tmp_path / "wide.mp4"
    clip.write_bytes(media.video_to_mp4_bytes(synthetic_clip(2, 21, 96, 160), 24))
    other = Client(gencodec_app[1], verbose=False, download_files=str(tmp_path))  # keeps `client`'s session state
    try:
        result = other.predict(handle_file(str(clip)), 512, 64, 17, api_name="/memory_compress")
    finally:
        other.close()
    meta = gencodec.info(Path(result[5]).read_bytes())
    assert (meta["frames"], meta["width"], meta["height"]) == (17, 106, 64)  # short side 64, aspect kept, width even
    assert "the first 17 of 21 frames" in result[2] and "downscaled from 160×96 to 106×64" in result[2]


# ---------------------------------------------------------------- frame scrubber and continuation


def test_memory_frame_scrubber(client, memory_result):
    data = Path(memory_result[5]).read_bytes()
    original, retrieved, psnr, summary = client.predict(10, "head", api_name="/memory_frame")
    a, b = _rgb(original), _rgb(retrieved)
    assert a.shape == b.shape == (HEIGHT, WIDTH, 3)
    assert math.isfinite(psnr) and "Frame **10**" in summary and "head" in summary
    assert np.array_equal(b, gencodec.decode(data, frame=10, retriever="head"))  # the head is deterministic
    _, points = _plot_rows(memory_result[4])
    assert psnr == pytest.approx(points[10][2], abs=0.05)  # the same frame as in the curve
    last = client.predict(FRAMES - 1, "head", api_name="/memory_frame")
    assert "Frame **32**" in last[3]


def test_memory_frame_with_the_dit(client, memory_result, few_dit_steps):
    original, retrieved, psnr, summary = client.predict(5, "dit", api_name="/memory_frame")
    assert _rgb(original).shape == _rgb(retrieved).shape == (HEIGHT, WIDTH, 3)
    assert math.isfinite(psnr) and "DiT, 2 steps" in summary


def test_memory_continue(client, memory_result, few_dit_steps):
    video, summary = client.predict(1.0, "the camera keeps panning", api_name="/memory_continue")
    frames, fps = media.load_video(_video_path(video))
    assert frames.shape == (FPS, HEIGHT, WIDTH, 3) and fps == FPS
    assert "16 new frames" in summary and "the camera keeps panning" in summary


def test_decode_memory_file(client, memory_result):
    info, image, video, mp4 = client.predict(handle_file(memory_result[5]), api_name="/decode")
    assert (
        image is None
        and info["codec"] == "memory"
        and info["tokens"] == gencodec.info(Path(memory_result[5]).read_bytes())["tokens"]
    )
    frames, fps = media.load_video(_video_path(video))
    assert frames.shape == (FRAMES, HEIGHT, WIDTH, 3) and fps == FPS
    assert np.array_equal(frames, media.load_video(_video_path(memory_result[1]))[0])  # every frame by the head


# ---------------------------------------------------------------- errors: one line each, before any model work


def test_memory_errors_are_one_line(gencodec_app, client, memory_clip, tmp_path, monkeypatch):
    app, _ = gencodec_app
    assert "Upload a video" in app_error(client, None, *TINY_MEMORY, api_name="/memory_compress")

    png = tmp_path / "photo.png"
    Image.fromarray(natural_image(64, 96)).save(png)
    msg = app_error(client, handle_file(str(png)), *TINY_MEMORY, api_name="/memory_compress")
    assert "a PNG image, not a video" in msg and "Image tab" in msg
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    msg = app_error(client, handle_file(str(text)), *TINY_MEMORY, api_name="/memory_compress")
    assert "unsupported or corrupt video" in msg and "notes" in msg, msg

    calls = []
    monkeypatch.setattr(app, "gpu_compress_memory", lambda *a, **k: calls.append(a))
    # up to 16×16 grid cells and 128 latent frames merge into one token: only a very wide frame needs more
    strip = tmp_path / "strip.mp4"
    strip.write_bytes(media.video_to_mp4_bytes(synthetic_clip(3, 5, 64, 1088), FPS))
    msg = app_error(client, handle_file(str(strip)), 4, *TINY_MEMORY[1:], api_name="/memory_compress")
    assert "a budget of 4 tokens is too small for this video: it needs at least 5" in msg
    assert "minimum" in app_error(client, handle_file(memory_clip), 0, *TINY_MEMORY[1:], api_name="/memory_compress")
    monkeypatch.setenv("GENCODEC_MAX_MEMORY_FRAMES", "8")
    msg = app_error(client, handle_file(memory_clip), *TINY_MEMORY, api_name="/memory_compress")
    assert "the limit is 8" in msg
    assert calls == []  # every refusal came before any model work


def test_scrubber_and_continue_need_a_compression_first(gencodec_app):
    _, url = gencodec_app
    fresh = Client(url, verbose=False)  # a new session: no memory state yet
    try:
        assert "Compress a video in this tab first" in app_error(fresh, 0, "head", api_name="/memory_frame")
        assert "Compress a video in this tab first" in app_error(fresh, 1.0, "", api_name="/memory_continue")
        assert "head" in app_error(fresh, 0, "bogus", api_name="/memory_frame")  # not a choice
    finally:
        fresh.close()


def test_memory_frame_out_of_range(client, memory_result):
    msg = app_error(client, FRAMES + 5, "head", api_name="/memory_frame")
    assert str(FRAMES - 1) in msg or "maximum" in msg, msg


# ---------------------------------------------------------------- in the browser (skipped without Chromium/Playwright)


@pytest.mark.browser
def test_memory_tab_in_the_browser(browser, gencodec_app, tmp_path):  # noqa: F811  (the imported fixture)
    """The example compresses, the table and PSNR plot render, and the scrubber retrieves a frame on release."""
    from playwright.sync_api import expect

    _, url = gencodec_app
    with app_page(browser, url, height=1000) as page:
        page.get_by_role("tab", name="Long-video memory").click()
        page.locator("#memory-retriever").get_by_text("DiT").click()  # before any compression: no error pop-up
        page.locator("#memory-retriever").get_by_text("One-step head").click()
        page.get_by_role("gridcell").filter(has_text="512").last.click()  # sunset_hills.mp4, tiny settings
        page.locator("#compress-memory-button").click()
        expect(page.locator("#memory-gcodec-file a[download]")).to_have_attribute(
            "download", "sunset_hills.memory.gcodec", timeout=TIMEOUT_MS
        )
        expect(page.locator("#memory-summary")).to_contain_text("memory tokens")
        expect(page.locator("#memory-results-table").get_by_role("gridcell", name="1×1×4", exact=True)).to_be_visible()
        expect(page.locator("[data-testid='status-tracker'].wrap:not(.hide)")).to_have_count(0, timeout=TIMEOUT_MS)
        expect(page.locator("#memory-psnr-plot canvas, #memory-psnr-plot svg.marks").first).to_be_visible()
        box = page.locator("#memory-frame input[type=range]").bounding_box()
        page.mouse.click(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2)  # click = press + release
        expect(page.locator("#memory-frame-summary")).to_contain_text(re.compile(r"Frame [12]\d of 33"), timeout=TIMEOUT_MS)
        expect(page.locator("#memory-frame-summary")).to_contain_text("one-step head")
        expect(page.locator("#memory-frame-retrieved img")).to_be_visible()
        shot = Path(tmp_path) / "app-memory-tab.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"screenshot: {shot}")
        assert page.locator(".toast-body").count() == 0 and "Traceback" not in page.content()
