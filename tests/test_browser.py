"""The app in a real Chromium (Playwright, Debian's /usr/bin/chromium), offline on tiny models.

Run with:  python -m pytest tests/test_browser.py -m browser
Needs:     apt-get install chromium ; pip install playwright   (no `playwright install`: the system chromium is used)
"""

import contextlib
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import gencodec

from .conftest import natural_image

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 90_000

pytestmark = pytest.mark.browser

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    sync_playwright = None


def _skip_reason() -> str | None:
    if not os.path.exists(CHROMIUM):
        return f"{CHROMIUM} not found (apt-get install chromium)"
    if sync_playwright is None:
        return "the playwright Python package is not installed (pip install playwright; no `playwright install` needed)"
    return None


@pytest.fixture(scope="module")
def browser():
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@contextlib.contextmanager
def app_page(browser, url: str, height: int = 900):
    """A page on the app with its JavaScript errors collected; no error may occur while it is used."""
    page = browser.new_page(viewport={"width": 1280, "height": height})
    console_errors = []
    page.on("pageerror", lambda exc: console_errors.append(str(exc)))
    try:
        page.goto(url, wait_until="domcontentloaded", timeout=TIMEOUT_MS)
        yield page
        assert not console_errors, console_errors
    finally:
        page.close()


def test_compress_in_the_browser(browser, gencodec_app, tmp_path):
    _, url = gencodec_app
    rgb = natural_image(192, 256, seed=3)
    photo = tmp_path / "photo.png"
    Image.fromarray(rgb).save(photo)
    expected_bytes = len(gencodec.encode(rgb, model="tiny"))  # deterministic: the app must produce the same file

    with app_page(browser, url) as page:
        expect(page.locator("#tiny-banner")).to_contain_text("tiny random models", timeout=TIMEOUT_MS)

        page.locator("#input-image input[type=file]").set_input_files(str(photo))
        expect(page.locator("#input-image img").first).to_be_visible(timeout=TIMEOUT_MS)
        page.locator("#compress-button").click()

        # The progress text ("Matching JPEG / WebP / AVIF / JPEG XL…") also shows inside outputs: wait on table cells.
        table = page.locator("#results-table")
        cell = lambda text: table.get_by_role("gridcell", name=text, exact=True)  # noqa: E731
        expect(cell("gencodec sd-latent (faithful)")).to_be_visible(timeout=TIMEOUT_MS)
        for name in ("JPEG", "WebP", "AVIF", "JPEG XL"):
            expect(cell(name)).to_be_visible()
        expect(cell(str(expected_bytes))).to_be_visible()
        expect(page.locator("#compress-summary")).to_contain_text(f"{expected_bytes:,} B", timeout=TIMEOUT_MS)

        link = page.locator("#gcodec-file a[download]")
        expect(link).to_have_attribute("download", "photo.sd-latent.gcodec", timeout=TIMEOUT_MS)
        assert "photo.sd-latent.gcodec" in (link.get_attribute("href") or "")
        expect(page.locator("#gcodec-file")).to_contain_text("photo.sd-latent")

        # Every image must really load (a wrong file route shows broken images, not an error).
        page.wait_for_timeout(500)
        images = page.locator("#main-result img, #gallery img")
        expect(images.first).to_be_visible(timeout=TIMEOUT_MS)
        page.wait_for_function(
            "() => [...document.querySelectorAll('#main-result img, #gallery img')].every(i => i.complete)",
            timeout=TIMEOUT_MS,
        )
        sizes = images.evaluate_all("imgs => imgs.map(i => [i.src, i.naturalWidth])")
        assert len(sizes) >= 7, sizes  # 2 in the slider + ours and 4 baselines in the gallery
        assert all(width > 0 for _, width in sizes), sizes
        shot = Path(tmp_path) / "app-image-tab.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
        print(f"screenshot: {shot}")


def _upload_to_file_component(page, elem_id: str, path) -> None:
    """gr.File creates its <input type=file> on click: go through the file chooser like a user."""
    with page.expect_file_chooser(timeout=TIMEOUT_MS) as chooser:
        page.locator(f"#{elem_id}").get_by_text("Click to Upload").click()
    chooser.value.set_files(str(path))


def test_decode_tab_in_the_browser(browser, gencodec_app, tmp_path):
    _, url = gencodec_app
    rgb = natural_image(96, 160, seed=4)
    data = gencodec.encode(rgb, model="tiny", target_bytes=1500)
    gcodec = tmp_path / "photo.sd-latent.gcodec"
    gcodec.write_bytes(data)
    png = tmp_path / "not-a-gcodec.png"
    Image.fromarray(rgb).save(png)

    with app_page(browser, url) as page:
        page.get_by_role("tab", name="Decode").click()
        _upload_to_file_component(page, "input-gcodec", gcodec)
        expect(page.locator("#input-gcodec")).to_contain_text("photo.sd-latent", timeout=TIMEOUT_MS)
        page.locator("#decode-button").click()
        link = page.locator("#decoded-file a[download]")
        expect(link).to_have_attribute("download", "photo.decoded.png", timeout=TIMEOUT_MS)
        expect(page.locator("#decode-info")).to_contain_text(f"{len(data)}")
        expect(page.locator("#decoded-image img").first).to_be_visible()
        page.screenshot(path=str(tmp_path / "app-decode-tab.png"), full_page=True)

        page.reload(wait_until="domcontentloaded")
        page.get_by_role("tab", name="Decode").click()
        _upload_to_file_component(page, "input-gcodec", png)
        expect(page.locator("#input-gcodec")).to_contain_text("not-a-gcodec", timeout=TIMEOUT_MS)
        page.locator("#decode-button").click()
        toast = page.get_by_text("not a .gcodec file", exact=False).first
        expect(toast).to_be_visible(timeout=TIMEOUT_MS)
        assert "Traceback" not in page.content()


def test_cached_example_in_the_browser(browser, gencodec_app, tmp_path):
    """Clicking an example runs it once (lazy cache) and must fill every output without a page error."""
    _, url = gencodec_app
    with app_page(browser, url) as page:
        page.get_by_role("gridcell").filter(has_text="Target size").last.click()  # chelsea.png, 2 KB
        expect(page.locator("#gcodec-file a[download]")).to_have_attribute(
            "download", "chelsea.sd-latent.gcodec", timeout=TIMEOUT_MS
        )
        table = page.locator("#results-table")
        expect(table.get_by_role("gridcell", name="gencodec sd-latent (improved)", exact=True)).to_be_visible()
        expect(page.locator("#compress-summary")).to_contain_text("bpp")
        # the plots rendered (the cached-value bug left them, and every output, stuck in "processing")
        expect(page.locator("[data-testid='status-tracker'].wrap:not(.hide)")).to_have_count(0, timeout=TIMEOUT_MS)
        expect(page.locator("canvas, svg.marks").first).to_be_visible()
        page.screenshot(path=str(tmp_path / "app-example.png"), full_page=True)


def test_video_tab_in_the_browser(browser, gencodec_app, tmp_path):
    """The Video tab renders, offers only T2V, and its example (lazily cached) fills every output: players that
    play, the table, the per-frame PSNR plot and the .gcodec download."""
    _, url = gencodec_app
    with app_page(browser, url, height=1000) as page:
        page.get_by_role("tab", name="Video (GVC)").click()
        modes = page.locator("#video-mode input[type=radio]")
        expect(modes).to_have_count(1, timeout=TIMEOUT_MS)  # only what works
        expect(page.locator("#video-mode")).to_contain_text("T2V")
        expect(page.get_by_text("I2V and FLF2V (reference frames sent", exact=False)).to_be_visible()
        expect(page.locator("#compress-video-button")).to_be_visible()
        page.screenshot(path=str(tmp_path / "app-video-tab-empty.png"), full_page=True)

        page.get_by_role("gridcell").filter(has_text="t2v").last.click()  # sunset_hills.mp4, tiny settings
        expect(page.locator("#video-gcodec-file a[download]")).to_have_attribute(
            "download", "sunset_hills.gvc.gcodec", timeout=TIMEOUT_MS
        )
        table = page.locator("#video-results-table")
        expect(table.get_by_role("gridcell", name="gencodec gvc (t2v)", exact=True)).to_be_visible()
        expect(page.locator("#video-summary")).to_contain_text("downscaled from 832×480 to 110×64")
        expect(page.locator("[data-testid='status-tracker'].wrap:not(.hide)")).to_have_count(0, timeout=TIMEOUT_MS)
        expect(page.locator("#video-psnr-plot canvas, #video-psnr-plot svg.marks").first).to_be_visible()
        # both players must load their mp4 (a wrong file route or an unplayable codec leaves readyState 0)
        page.wait_for_function(
            "() => { const v = [...document.querySelectorAll('#video-original video, #video-decoded video')];"
            " return v.length === 2 && v.every(x => x.readyState >= 1 && x.duration > 0); }",
            timeout=TIMEOUT_MS,
        )
        shot = Path(tmp_path) / "app-video-tab.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"screenshot: {shot}")
        assert "Traceback" not in page.content()


def test_decode_video_in_the_browser(browser, gencodec_app, tmp_path):
    """A GVC file decodes to a playing video; the image viewer is hidden (and comes back for an image file)."""
    _, url = gencodec_app
    frames = (np.zeros((9, 32, 48, 3)) + 20 * np.arange(9)[:, None, None, None]).astype(np.uint8)
    data = gencodec.encode(frames, codec="gvc", model="tiny", atoms=4, codebook_size=256, steps=4, gop=9, fps=8)
    gcodec = tmp_path / "clip.gvc.gcodec"
    gcodec.write_bytes(data)

    with app_page(browser, url) as page:
        page.get_by_role("tab", name="Decode").click()
        _upload_to_file_component(page, "input-gcodec", gcodec)
        expect(page.locator("#input-gcodec")).to_contain_text("clip.gvc", timeout=TIMEOUT_MS)
        page.locator("#decode-button").click()
        expect(page.locator("#decoded-file a[download]")).to_have_attribute("download", "clip.decoded.mp4", timeout=TIMEOUT_MS)
        expect(page.locator("#decode-info")).to_contain_text("gvc")
        expect(page.locator("#decoded-video video")).to_be_visible(timeout=TIMEOUT_MS)
        expect(page.locator("#decoded-image")).to_be_hidden()
        page.wait_for_function(
            "() => { const v = document.querySelector('#decoded-video video'); return v && v.readyState >= 1 && v.duration > 0; }",
            timeout=TIMEOUT_MS,
        )
        shot = Path(tmp_path) / "app-decode-video.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"screenshot: {shot}")
