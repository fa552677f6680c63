"""Classical baselines: round trips, matched-size search semantics, video via ffmpeg."""

import numpy as np
import pytest

from gencodec import baselines, metrics
from gencodec.errors import InputError

IMAGE_CODECS = baselines.available_image_codecs()
VIDEO_CODECS = baselines.available_video_codecs()


def _image(h=96, w=128, seed=0):
    """Smooth gradients + a few shapes + mild noise: compresses like a natural image."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.stack([40 + 1.4 * x, 60 + 1.5 * y, 150 + 60 * np.sin(x / 11.0 + y / 23.0)], axis=-1)
    img[20:50, 30:70] = (220, 40, 40)  # rectangle
    disk = (x - 95) ** 2 + (y - 60) ** 2 < 18**2
    img[disk] = (30, 200, 90)
    img[70:74, :] = (250, 250, 250)  # thin line
    img += rng.normal(0, 4, img.shape)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def _video(t=9, h=48, w=64):
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([2 * x + 40, 3 * y + 30, np.full_like(x, 120)], -1).astype(np.uint8)
    frames = np.repeat(base[None], t, axis=0)
    for i in range(t):
        frames[i, 12:28, 4 + 4 * i : 20 + 4 * i] = (230, 60, 20)
    return frames


IMG = _image()


def test_available_codecs():
    assert set(IMAGE_CODECS) <= set(baselines.IMAGE_CODECS)
    assert {"jpeg", "webp"} <= set(IMAGE_CODECS)
    assert baselines.IMAGE_CODEC_NAMES["jxl"] == "JPEG XL"


@pytest.mark.parametrize("codec", IMAGE_CODECS)
def test_image_round_trip(codec):
    data = baselines.encode_image(codec, IMG, 90)
    dec = baselines.decode_image(codec, data)
    assert dec.shape == IMG.shape and dec.dtype == np.uint8
    assert metrics.psnr(IMG, dec) > 20
    # quality is clamped, not rejected
    assert len(baselines.encode_image(codec, IMG, -5)) > 0


def test_unknown_codec_raises():
    with pytest.raises(InputError):
        baselines.encode_image("bmp", IMG, 50)
    with pytest.raises(InputError):
        baselines.match_size("jpeg", IMG, 1000, "sideways")
    with pytest.raises(InputError):
        baselines.encode_video("vp9", _video(), 10, 30)


@pytest.mark.parametrize("codec", IMAGE_CODECS)
def test_match_size_at_least(codec):
    target = len(baselines.encode_image(codec, IMG, 55)) + 37  # a size between qualities
    b = baselines.match_size(codec, IMG, target, "at_least")
    assert b is not None
    assert b.nbytes == len(b.data) >= target
    assert b.side == "at_least" and b.name == baselines.IMAGE_CODEC_NAMES[codec]
    assert b.decoded.shape == IMG.shape
    assert len(baselines.encode_image(codec, IMG, b.quality)) == b.nbytes  # deterministic
    lo = baselines.IMAGE_QUALITY_RANGE[codec][0]
    if b.quality - 1 >= lo:
        assert len(baselines.encode_image(codec, IMG, b.quality - 1)) < target


@pytest.mark.parametrize("codec", IMAGE_CODECS)
def test_match_size_at_most(codec):
    target = len(baselines.encode_image(codec, IMG, 55)) + 37
    b = baselines.match_size(codec, IMG, target, "at_most")
    assert b is not None
    assert b.nbytes == len(b.data) <= target
    hi = baselines.IMAGE_QUALITY_RANGE[codec][1]
    if b.quality + 1 <= hi:
        assert len(baselines.encode_image(codec, IMG, b.quality + 1)) > target


def test_unattainable_targets():
    assert baselines.match_size("jpeg", IMG, 1, "at_most") is None
    assert baselines.match_size("jpeg", IMG, 10**9, "at_least") is None
    low = baselines.match_size("jpeg", IMG, 1, "at_least")  # any file will do: lowest quality
    assert low is not None and low.quality == 1


def test_search_handles_non_monotone_sizes():
    # size dips at q=6 below the target although q=5 is above it
    sizes = {q: 100 * q for q in range(21)}
    sizes[5], sizes[6] = 620, 580
    calls = []

    def size_of(q):
        calls.append(q)
        return sizes[q]

    q = baselines._search(size_of, 0, 20, 600, "at_least", lambda q: True)
    assert q == 5
    assert baselines._search(lambda q: sizes[q], 0, 20, 600, "at_most", lambda q: True) == 6


def test_search_encode_budget():
    cache = baselines._EncodeCache(lambda q: b"x" * (q * 10), baselines.MAX_IMAGE_ENCODES)
    baselines._search(cache.size, 0, 100, 555, "at_least", cache.can_encode)
    assert len(cache.data) <= baselines.MAX_IMAGE_ENCODES
    cache = baselines._EncodeCache(lambda q: b"x" * (q * 10), baselines.MAX_IMAGE_ENCODES)
    baselines._search(cache.size, 0, 100, 555, "at_most", cache.can_encode)
    assert len(cache.data) <= baselines.MAX_IMAGE_ENCODES


def test_compare_image_rows():
    target = len(baselines.encode_image("webp", IMG, 60))
    codecs = tuple(c for c in ("jpeg", "webp", "jxl") if c in IMAGE_CODECS)
    rows = baselines.compare_image(IMG, target, codecs=codecs)
    assert {(r["codec"], r["side"]) for r in rows} == {(c, s) for c in codecs for s in ("at_least", "at_most")}
    h, w = IMG.shape[:2]
    for r in rows:
        b = r["baseline"]
        assert r["bytes"] == len(b.data) == b.nbytes
        assert r["bpp"] == pytest.approx(8 * r["bytes"] / (h * w))
        assert (r["bytes"] >= target) if r["side"] == "at_least" else (r["bytes"] <= target)
        assert r["psnr"] == pytest.approx(metrics.psnr(IMG, b.decoded))
        assert r["ssim_kind"] == "SSIM" and 0 < r["ssim"] <= 1
        assert r["quality"] == b.quality and r["name"] == b.name


# ---------------------------------------------------------------------------- video


@pytest.mark.skipif(not VIDEO_CODECS, reason="bundled ffmpeg unavailable")
@pytest.mark.parametrize("codec", VIDEO_CODECS)
def test_video_round_trip(codec):
    frames = _video()
    data = baselines.encode_video(codec, frames, 10, 18)
    assert data[4:8] == b"ftyp"
    dec = baselines.decode_video(data)
    assert dec.shape == (9, 48, 64, 3) and dec.dtype == np.uint8
    assert metrics.video_metrics(frames, dec)["psnr"] > 25


@pytest.mark.skipif("x264" not in VIDEO_CODECS, reason="no libx264")
def test_video_odd_size_is_cropped_back():
    frames = _video(t=3, h=25, w=33)
    data = baselines.encode_video("x264", frames, 12.5, 20)
    assert baselines.decode_video(data).shape == (3, 26, 34, 3)
    assert baselines.decode_video(data, size=(25, 33)).shape == (3, 25, 33, 3)


@pytest.mark.skipif(not VIDEO_CODECS, reason="bundled ffmpeg unavailable")
@pytest.mark.parametrize("codec", VIDEO_CODECS)
def test_match_video_size(codec):
    frames = _video()
    target = len(baselines.encode_video(codec, frames, 10, 30)) + 25
    b = baselines.match_video_size(codec, frames, 10, target, "at_least")
    assert b is not None and b.nbytes == len(b.data) >= target
    assert b.decoded.shape == frames.shape
    hi = baselines.VIDEO_CRF_RANGE[codec][1]
    if b.crf + 1 <= hi:
        assert len(baselines.encode_video(codec, frames, 10, b.crf + 1)) < target
    m = baselines.match_video_size(codec, frames, 10, target, "at_most")
    assert m is not None and m.nbytes <= target
    assert baselines.match_video_size(codec, frames, 10, 1, "at_most") is None
