"""Classical codecs encoded at a size matched to ours, for fair comparisons.

Protocol (Bühlmann): a baseline is encoded at the LOWEST quality whose file is at
least as large as ours ("at_least"), so it is never handicapped by getting fewer
bytes; "at_most" (the HIGHEST quality whose file fits in our size) is the
complementary bound. Sizes are the real file bytes (headers and container
included), the same way our .gcodec files are counted.

Images use Pillow (JPEG, WebP, AVIF) and pillow-jxl-plugin (JPEG XL); videos use
the static ffmpeg bundled with imageio-ffmpeg (x264, x265, SVT-AV1 or libaom).
"""

from __future__ import annotations

import functools
import io
import os
import subprocess
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

import numpy as np

from . import metrics
from .errors import FormatError, InputError

__all__ = [
    "IMAGE_CODECS",
    "IMAGE_CODEC_NAMES",
    "IMAGE_QUALITY_RANGE",
    "ImageBaseline",
    "available_image_codecs",
    "encode_image",
    "decode_image",
    "match_size",
    "compare_image",
    "VIDEO_CODECS",
    "VIDEO_CODEC_NAMES",
    "VIDEO_CRF_RANGE",
    "VideoBaseline",
    "available_video_codecs",
    "encode_video",
    "decode_video",
    "match_video_size",
    "compare_video",
]

SIDES = ("at_least", "at_most")
# How far a size search looks past the bisection result, in quality steps, to be
# right despite small non-monotonicities of file size in quality.
_LOCAL_SCAN = 3

# ============================================================================ images

IMAGE_CODECS = ("jpeg", "webp", "avif", "jxl")
IMAGE_CODEC_NAMES = {"jpeg": "JPEG", "webp": "WebP", "avif": "AVIF", "jxl": "JPEG XL"}
# Integer quality each encoder accepts. libjpeg treats 0 as 1; quality above ~95
# mostly wastes bytes but is kept so "at_least" can reach large targets.
# JPEG XL 100 means mathematically lossless (libjxl rejects lossy quality 100).
IMAGE_QUALITY_RANGE = {"jpeg": (1, 100), "webp": (0, 100), "avif": (0, 100), "jxl": (0, 100)}
MAX_IMAGE_ENCODES = 15


@dataclass
class ImageBaseline:
    """One classical encode chosen by match_size, with its decoded pixels."""

    codec: str
    name: str
    quality: int
    data: bytes
    nbytes: int
    decoded: np.ndarray
    side: str


def _check_image_codec(codec: str) -> None:
    if codec not in IMAGE_CODECS:
        raise InputError(f"unknown image codec {codec!r}; choose one of {', '.join(IMAGE_CODECS)}")


def _check_rgb(rgb: np.ndarray) -> np.ndarray:
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3 or 0 in rgb.shape:
        raise InputError(f"expected a uint8 RGB image of shape (H, W, 3), got {rgb.dtype} {rgb.shape}")
    return np.ascontiguousarray(rgb)


@functools.lru_cache(maxsize=1)
def _jxl_available() -> bool:
    try:
        import pillow_jxl  # noqa: F401, PLC0415 - registers the "JXL" format with Pillow
    except Exception:  # noqa: BLE001
        return False
    return True


def available_image_codecs() -> tuple[str, ...]:
    """The IMAGE_CODECS this Pillow build can actually encode (AVIF and JXL are optional)."""
    from PIL import features  # noqa: PLC0415

    out = []
    for codec in IMAGE_CODECS:
        if codec == "avif":
            ok = bool(features.check("avif"))
        elif codec == "jxl":
            ok = _jxl_available()
        elif codec == "webp":
            ok = bool(features.check("webp"))
        else:
            ok = bool(features.check("jpg"))
        if ok:
            out.append(codec)
    return tuple(out)


def _clamp_quality(codec: str, quality: float) -> int:
    lo, hi = IMAGE_QUALITY_RANGE[codec]
    return int(min(max(round(quality), lo), hi))


def encode_image(codec: str, rgb: np.ndarray, quality: float) -> bytes:
    """Encode with a classical codec; quality is rounded and clamped to IMAGE_QUALITY_RANGE.

    Settings: JPEG optimize=True with libjpeg's default 4:2:0 chroma subsampling;
    WebP lossy method=6 (slowest, best); AVIF speed=6 (Pillow default, 4:2:0);
    JPEG XL effort=7 (libjxl default), quality 100 = lossless mode.
    """
    _check_image_codec(codec)
    rgb = _check_rgb(rgb)
    from PIL import Image  # noqa: PLC0415

    q = _clamp_quality(codec, quality)
    im = Image.fromarray(rgb)
    buf = io.BytesIO()
    if codec == "jpeg":
        im.save(buf, format="JPEG", quality=q, optimize=True)
    elif codec == "webp":
        im.save(buf, format="WEBP", quality=q, method=6)
    elif codec == "avif":
        im.save(buf, format="AVIF", quality=q, speed=6)
    else:
        if not _jxl_available():
            raise InputError("JPEG XL needs the pillow-jxl-plugin package")
        if q >= 100:
            im.save(buf, format="JXL", lossless=True, effort=7)
        else:
            im.save(buf, format="JXL", quality=q, effort=7)
    return buf.getvalue()


def decode_image(codec: str, data: bytes) -> np.ndarray:
    """Decode a baseline file back to a uint8 RGB array (H, W, 3)."""
    _check_image_codec(codec)
    if codec == "jxl":
        _jxl_available()
    from PIL import Image  # noqa: PLC0415

    try:
        with Image.open(io.BytesIO(data)) as im:
            return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
    except Exception as e:  # noqa: BLE001
        raise FormatError(f"cannot decode {IMAGE_CODEC_NAMES[codec]} data: {e}") from e


def _search(size_of: Callable[[int], int], lo: int, hi: int, target: int, side: str, can_encode: Callable[[], bool]) -> int | None:
    """Find the matched parameter q in [lo, hi], where file size grows with q.

    at_least: lowest q with size >= target; at_most: highest q with size <= target.
    Bisection assuming monotone sizes, then a local scan of _LOCAL_SCAN steps on the
    side that could still hold a better answer, repeated while it finds one.
    """
    if side == "at_least":
        if size_of(hi) < target:
            return None
        a, b = lo, hi  # invariant: size_of(b) >= target
        while a < b:
            mid = (a + b) // 2
            if size_of(mid) >= target:
                b = mid
            else:
                a = mid + 1
        best = b
        while True:
            found = None
            for q in range(best - 1, max(lo, best - _LOCAL_SCAN) - 1, -1):
                if not can_encode(q):
                    break
                if size_of(q) >= target:
                    found = q
            if found is None:
                return best
            best = found
    if side == "at_most":
        if size_of(lo) > target:
            return None
        a, b = lo, hi  # invariant: size_of(a) <= target
        while a < b:
            mid = (a + b + 1) // 2
            if size_of(mid) <= target:
                a = mid
            else:
                b = mid - 1
        best = a
        while True:
            found = None
            for q in range(best + 1, min(hi, best + _LOCAL_SCAN) + 1):
                if not can_encode(q):
                    break
                if size_of(q) <= target:
                    found = q
            if found is None:
                return best
            best = found
    raise InputError(f"unknown side {side!r}; choose one of {', '.join(SIDES)}")


class _EncodeCache:
    """Memoised encoder for one search, with a hard cap on real encodes."""

    def __init__(self, encode: Callable[[int], bytes], max_encodes: int):
        self.encode = encode
        self.max_encodes = max_encodes
        self.data: dict[int, bytes] = {}

    def size(self, q: int) -> int:
        if q not in self.data:
            self.data[q] = self.encode(q)
        return len(self.data[q])

    def can_encode(self, q: int) -> bool:
        return q in self.data or len(self.data) < self.max_encodes


def match_size(codec: str, rgb: np.ndarray, target_bytes: int, side: str) -> ImageBaseline | None:
    """Encode `rgb` at the quality whose file size matches target_bytes from `side`.

    "at_least": lowest quality with file >= target (Bühlmann's protocol);
    "at_most": highest quality with file <= target. None when no quality qualifies.
    At most MAX_IMAGE_ENCODES encodes per call.
    """
    _check_image_codec(codec)
    if side not in SIDES:
        raise InputError(f"unknown side {side!r}; choose one of {', '.join(SIDES)}")
    rgb = _check_rgb(rgb)
    cache = _EncodeCache(lambda q: encode_image(codec, rgb, q), MAX_IMAGE_ENCODES)
    lo, hi = IMAGE_QUALITY_RANGE[codec]
    q = _search(cache.size, lo, hi, int(target_bytes), side, cache.can_encode)
    if q is None:
        return None
    data = cache.data[q]
    return ImageBaseline(
        codec=codec,
        name=IMAGE_CODEC_NAMES[codec],
        quality=q,
        data=data,
        nbytes=len(data),
        decoded=decode_image(codec, data),
        side=side,
    )


def compare_image(
    rgb: np.ndarray,
    target_bytes: int,
    codecs: tuple[str, ...] = IMAGE_CODECS,
    sides: tuple[str, ...] = SIDES,
) -> list[dict]:
    """Matched-size baselines with their metrics, one row per (codec, side) found.

    Codecs this installation cannot encode are skipped silently (see
    available_image_codecs); sides with no qualifying quality give no row.
    """
    rgb = _check_rgb(rgb)
    for codec in codecs:
        _check_image_codec(codec)
    available = set(available_image_codecs())
    h, w = rgb.shape[:2]
    rows = []
    for codec in codecs:
        if codec not in available:
            continue
        for side in sides:
            b = match_size(codec, rgb, target_bytes, side)
            if b is None:
                continue
            m = metrics.image_metrics(rgb, b.decoded)
            rows.append(
                {
                    "codec": codec,
                    "name": b.name,
                    "side": side,
                    "quality": b.quality,
                    "bytes": b.nbytes,
                    "bpp": 8.0 * b.nbytes / (h * w),
                    "psnr": m["psnr"],
                    "ssim": m["ssim"],
                    "ssim_kind": m["ssim_kind"],
                    "lpips": m["lpips"],
                    "baseline": b,
                }
            )
    return rows


# ============================================================================ videos

VIDEO_CODECS = ("x264", "x265", "av1")
VIDEO_CODEC_NAMES = {"x264": "H.264 (x264)", "x265": "HEVC (x265)", "av1": "AV1"}
# CRF search range; higher CRF = smaller file. AV1 starts at 1 because ffmpeg's
# libsvtav1 wrapper treats crf=0 as "unset" and silently uses its default (35).
VIDEO_CRF_RANGE = {"x264": (0, 51), "x265": (0, 51), "av1": (1, 63)}
# Encoder speed presets: the encoders' usual defaults (SVT-AV1 8 ~ x264 medium speed).
VIDEO_PRESETS = {"x264": "medium", "x265": "medium", "libsvtav1": "8", "libaom-av1": "6"}
MAX_VIDEO_ENCODES = 12


@dataclass
class VideoBaseline:
    """One classical video encode chosen by match_video_size, with decoded frames."""

    codec: str
    name: str
    crf: int
    data: bytes
    nbytes: int
    decoded: np.ndarray
    side: str


@functools.lru_cache(maxsize=1)
def _ffmpeg() -> str:
    try:
        import imageio_ffmpeg  # noqa: PLC0415

        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception as e:  # noqa: BLE001
        raise InputError(f"video baselines need imageio-ffmpeg's ffmpeg: {e}") from e


@functools.lru_cache(maxsize=1)
def _ffmpeg_encoders() -> frozenset[str]:
    try:
        out = subprocess.run(
            [_ffmpeg(), "-hide_banner", "-encoders"], capture_output=True, text=True, check=True, timeout=60
        ).stdout
    except Exception:  # noqa: BLE001
        return frozenset()
    names = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and len(parts[0]) == 6 and parts[0].startswith("V"):
            names.add(parts[1])
    return frozenset(names)


def _video_encoder(codec: str) -> str | None:
    """The ffmpeg encoder used for a codec, or None when this ffmpeg lacks it."""
    encoders = _ffmpeg_encoders()
    options = {"x264": ("libx264",), "x265": ("libx265",), "av1": ("libsvtav1", "libaom-av1")}[codec]
    return next((e for e in options if e in encoders), None)


def available_video_codecs() -> tuple[str, ...]:
    """The VIDEO_CODECS the bundled ffmpeg can encode."""
    try:
        return tuple(c for c in VIDEO_CODECS if _video_encoder(c))
    except InputError:
        return ()


def _check_video_codec(codec: str) -> str:
    if codec not in VIDEO_CODECS:
        raise InputError(f"unknown video codec {codec!r}; choose one of {', '.join(VIDEO_CODECS)}")
    enc = _video_encoder(codec)
    if enc is None:
        raise InputError(f"the bundled ffmpeg has no encoder for {codec}")
    return enc


def _check_frames(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[3] != 3 or 0 in frames.shape:
        raise InputError(f"expected uint8 RGB frames of shape (T, H, W, 3), got {frames.dtype} {frames.shape}")
    return frames


def _codec_args(encoder: str, crf: int) -> list[str]:
    preset = VIDEO_PRESETS[{"libx264": "x264", "libx265": "x265"}.get(encoder, encoder)]
    if encoder == "libx264":
        # Drop x264's ~700-byte SEI banner of its settings: metadata, not picture data,
        # and it would dominate the budget of small videos.
        return ["-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-bsf:v", "filter_units=remove_types=6"]
    if encoder == "libx265":
        return ["-c:v", "libx265", "-preset", preset, "-crf", str(crf), "-x265-params", "log-level=error:info=0"]
    if encoder == "libsvtav1":
        return ["-c:v", "libsvtav1", "-preset", preset, "-crf", str(crf)]
    return ["-c:v", "libaom-av1", "-cpu-used", preset, "-row-mt", "1", "-crf", str(crf), "-b:v", "0"]


def encode_video(codec: str, frames: np.ndarray, fps: float, crf: int) -> bytes:
    """Encode (T, H, W, 3) uint8 frames to an mp4 (yuv420p) and return the file bytes.

    Odd sizes are edge-padded to even (4:2:0 needs it); pass size=(H, W) to
    decode_video to crop back. Container metadata is stripped so the bytes are
    the pictures plus the minimal mp4 structure.
    """
    encoder = _check_video_codec(codec)
    frames = _check_frames(frames)
    if not fps or fps <= 0:
        raise InputError(f"fps must be positive, got {fps}")
    lo, hi = VIDEO_CRF_RANGE[codec]
    crf = int(min(max(round(crf), lo), hi))
    t, h, w, _ = frames.shape
    ph, pw = h % 2, w % 2
    if ph or pw:
        frames = np.pad(frames, ((0, 0), (0, ph), (0, pw), (0, 0)), mode="edge")
    rate = Fraction(fps).limit_denominator(1001)
    with tempfile.TemporaryDirectory(prefix="gencodec-") as tmp:
        out = os.path.join(tmp, "out.mp4")
        cmd = [
            _ffmpeg(), "-hide_banner", "-loglevel", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w + pw}x{h + ph}",
            "-framerate", f"{rate.numerator}/{rate.denominator}", "-i", "-",
            "-an", *_codec_args(encoder, crf), "-pix_fmt", "yuv420p",
            "-map_metadata", "-1", "-fflags", "+bitexact", "-f", "mp4", out,
        ]  # fmt: skip
        env = {**os.environ, "SVT_LOG": "1"}  # SVT-AV1: errors only
        proc = subprocess.run(cmd, input=np.ascontiguousarray(frames).tobytes(), capture_output=True, env=env)
        if proc.returncode != 0 or not os.path.exists(out):
            msg = proc.stderr.decode(errors="replace").strip().splitlines()
            raise InputError(f"ffmpeg {encoder} failed: {msg[-1] if msg else proc.returncode}")
        with open(out, "rb") as f:
            return f.read()


def decode_video(data: bytes, size: tuple[int, int] | None = None) -> np.ndarray:
    """Decode mp4 bytes to uint8 RGB frames (T, H, W, 3), cropped to size=(H, W) if given."""
    import imageio_ffmpeg  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="gencodec-") as tmp:
        path = os.path.join(tmp, "in.mp4")
        with open(path, "wb") as f:
            f.write(data)
        gen = imageio_ffmpeg.read_frames(path, pix_fmt="rgb24")
        try:
            meta = next(gen)
            w, h = meta["size"]
            frames = [np.frombuffer(fr, np.uint8).reshape(h, w, 3) for fr in gen]
        except Exception as e:  # noqa: BLE001
            raise FormatError(f"cannot decode video data: {e}") from e
        finally:
            gen.close()
    if not frames:
        raise FormatError("video data holds no frames")
    out = np.stack(frames)
    if size is not None:
        out = out[:, : size[0], : size[1]]
    return np.ascontiguousarray(out)


def match_video_size(codec: str, frames: np.ndarray, fps: float, target_bytes: int, side: str) -> VideoBaseline | None:
    """Like match_size for videos, searching CRF (higher CRF = smaller file).

    "at_least": highest CRF (lowest quality) with mp4 >= target; "at_most": lowest
    CRF with mp4 <= target. None when no CRF qualifies. At most MAX_VIDEO_ENCODES.
    """
    _check_video_codec(codec)
    if side not in SIDES:
        raise InputError(f"unknown side {side!r}; choose one of {', '.join(SIDES)}")
    frames = _check_frames(frames)
    lo, hi = VIDEO_CRF_RANGE[codec]
    # Search q = hi - crf so that size grows with q, as for image quality.
    cache = _EncodeCache(lambda q: encode_video(codec, frames, fps, hi - q), MAX_VIDEO_ENCODES)
    q = _search(cache.size, 0, hi - lo, int(target_bytes), side, cache.can_encode)
    if q is None:
        return None
    data = cache.data[q]
    return VideoBaseline(
        codec=codec,
        name=VIDEO_CODEC_NAMES[codec],
        crf=hi - q,
        data=data,
        nbytes=len(data),
        decoded=decode_video(data, size=frames.shape[1:3]),
        side=side,
    )


def compare_video(
    frames: np.ndarray,
    fps: float,
    target_bytes: int,
    codecs: tuple[str, ...] = VIDEO_CODECS,
    sides: tuple[str, ...] = SIDES,
) -> list[dict]:
    """Matched-size video baselines with metrics, one row per (codec, side) found."""
    frames = _check_frames(frames)
    available = set(available_video_codecs())
    t, h, w, _ = frames.shape
    rows = []
    for codec in codecs:
        if codec not in VIDEO_CODECS:
            raise InputError(f"unknown video codec {codec!r}; choose one of {', '.join(VIDEO_CODECS)}")
        if codec not in available:
            continue
        for side in sides:
            b = match_video_size(codec, frames, fps, target_bytes, side)
            if b is None:
                continue
            m = metrics.video_metrics(frames, b.decoded)
            rows.append(
                {
                    "codec": codec,
                    "name": b.name,
                    "side": side,
                    "crf": b.crf,
                    "bytes": b.nbytes,
                    "bpp": 8.0 * b.nbytes / (t * h * w),
                    "kbps": 8.0 * b.nbytes * fps / t / 1000.0,
                    "psnr": m["psnr"],
                    "ssim": m["ssim"],
                    "ssim_kind": m["ssim_kind"],
                    "baseline": b,
                }
            )
    return rows
