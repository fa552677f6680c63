"""Reading, checking and writing media; padding to the models' grid and cropping back.

Limits are enforced here, before any model work, so an oversized upload is refused at once
with the limit in the message.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from .errors import InputError


def max_image_side() -> int:
    return int(os.environ.get("GENCODEC_MAX_IMAGE_SIDE", "4096"))


def check_image_size(width: int, height: int) -> None:
    limit = max_image_side()
    if width > limit or height > limit:
        raise InputError(f"image is {width}×{height}; the limit is {limit}×{limit} pixels")
    if width < 1 or height < 1:
        raise InputError("image is empty")


def load_image(source) -> np.ndarray:
    """Path, bytes, PIL image or array → uint8 RGB (H, W, 3). EXIF rotation is applied; alpha is dropped."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if isinstance(source, np.ndarray):
        arr = source
        if arr.ndim == 2:
            arr = np.repeat(arr[:, :, None], 3, axis=2)
        if arr.ndim != 3 or arr.shape[2] not in (3, 4):
            raise InputError(f"expected an (H, W, 3) image array, got shape {arr.shape}")
        if arr.dtype != np.uint8:
            raise InputError(f"expected a uint8 image array, got {arr.dtype}")
        check_image_size(arr.shape[1], arr.shape[0])
        return np.ascontiguousarray(arr[:, :, :3])
    if isinstance(source, Image.Image):
        im = source
    else:
        if isinstance(source, (bytes, bytearray)):
            fp = io.BytesIO(source)
            name = "image bytes"
        else:
            path = Path(source)
            if not path.exists():
                raise InputError(f"input not found: {path}")
            if path.is_dir():
                raise InputError(f"input is a folder, not an image: {path}")
            fp, name = path, str(path)
        try:
            im = Image.open(fp)
        except UnidentifiedImageError:
            raise InputError(f"unsupported or corrupt image: {name} (supported: PNG, JPEG, WebP, AVIF, JPEG XL, BMP, TIFF)") from None
        except OSError as exc:
            raise InputError(f"cannot read image {name}: {exc}") from None
    check_image_size(*im.size)
    try:
        im = ImageOps.exif_transpose(im)
        if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
            background = Image.new("RGB", im.size, (255, 255, 255))
            background.paste(im.convert("RGBA"), mask=im.convert("RGBA").getchannel("A"))
            im = background
        arr = np.asarray(im.convert("RGB"), dtype=np.uint8)
    except (OSError, ValueError, SyntaxError) as exc:
        raise InputError(f"corrupt image: {exc}") from None
    return np.ascontiguousarray(arr)


def image_to_png_bytes(rgb: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


def pad_to_multiple(rgb: np.ndarray, multiple: int) -> np.ndarray:
    """Edge-replicate the bottom/right so both sides are multiples of `multiple` (crop back after decoding)."""
    h, w = rgb.shape[:2]
    ph, pw = -h % multiple, -w % multiple
    if not ph and not pw:
        return rgb
    return np.pad(rgb, ((0, ph), (0, pw), (0, 0)), mode="edge")


def write_atomic(path, data: bytes) -> None:
    """Write via a temporary file and rename, so a failure never leaves a partial output."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


# ---------------------------------------------------------------- video


def max_video_frames() -> int:
    return int(os.environ.get("GENCODEC_MAX_VIDEO_FRAMES", "300"))


def check_video_size(width: int, height: int, frames: int, max_frames: int | None = None) -> None:
    """Videos up to 1080p (either orientation) and `max_frames` frames (default GENCODEC_MAX_VIDEO_FRAMES, 300)."""
    limit = max_video_frames() if max_frames is None else max_frames
    if max(width, height) > 1920 or min(width, height) > 1080:
        raise InputError(f"video is {width}×{height}; the limit is 1080p (1920×1080)")
    if frames > limit:
        raise InputError(f"video has {frames} frames; the limit is {limit}")
    if width < 1 or height < 1 or frames < 1:
        raise InputError("video is empty")


def load_video(source, max_frames: int | None = None, first: int | None = None) -> tuple[np.ndarray, float]:
    """A video file → (uint8 frames (T, H, W, 3), source fps). Limits are checked before decoding frames.

    `first=N` keeps only the first N frames (and stops decoding there) instead of refusing a long video.
    """
    import imageio_ffmpeg

    path = Path(source)
    if not path.exists():
        raise InputError(f"input not found: {path}")
    limit = max_video_frames() if max_frames is None else max_frames
    try:
        reader = imageio_ffmpeg.read_frames(str(path))
        meta = reader.__next__()
        width, height = meta["size"]
        fps = float(meta.get("fps") or 0.0)
        duration = float(meta.get("duration") or 0.0)
        check_video_size(width, height, 1)
        if first is not None:
            limit = min(limit, first)
        if first is None and fps > 0 and duration * fps > limit + 1:
            raise InputError(f"video has about {round(duration * fps)} frames; the limit is {limit}")
        frames = []
        for raw in reader:
            frames.append(np.frombuffer(raw, np.uint8).reshape(height, width, 3))
            if first is not None and len(frames) >= limit:
                reader.close()
                break
            if len(frames) > limit:
                reader.close()
                raise InputError(f"video has more than {limit} frames; the limit is {limit}")
    except InputError:
        raise
    except (RuntimeError, OSError, StopIteration, KeyError, ValueError) as exc:
        raise InputError(f"unsupported or corrupt video: {path.name} ({' '.join(str(exc).split())[:120]})") from None
    if not frames:
        raise InputError(f"video has no frames: {path.name}")
    return np.stack(frames), fps if fps > 0 else 16.0


def as_video(video, fps: float | None = None, max_frames: int | None = None) -> tuple[np.ndarray, float]:
    """A path or uint8 frames (T, H, W, 3) → (frames, fps), limits checked; arrays without fps get 16 (Wan's).

    `max_frames`: a codec's own frame limit (default GENCODEC_MAX_VIDEO_FRAMES).
    """
    if isinstance(video, np.ndarray):
        if video.ndim != 4 or video.shape[-1] != 3 or video.dtype != np.uint8:
            raise InputError(f"expected uint8 frames (T, H, W, 3), got {video.dtype} {video.shape}")
        check_video_size(video.shape[2], video.shape[1], video.shape[0], max_frames)
        return video, float(fps or 16.0)
    frames, source_fps = load_video(video, max_frames=max_frames)
    return frames, float(fps or source_fps)


def pad_frames(frames: np.ndarray, multiple: int) -> np.ndarray:
    """`pad_to_multiple` for every frame of a (T, H, W, 3) clip (a no-op when the sides already fit)."""
    if frames.shape[1] % multiple == 0 and frames.shape[2] % multiple == 0:
        return frames
    return np.stack([pad_to_multiple(f, multiple) for f in frames])


def video_to_mp4_bytes(frames: np.ndarray, fps: float) -> bytes:
    """H.264 yuv420p MP4 that browsers play; odd sizes are edge-padded to even (the player shows the pad)."""
    import tempfile

    import imageio_ffmpeg

    frames = np.asarray(frames, np.uint8)
    padded = np.pad(frames, ((0, 0), (0, frames.shape[1] % 2), (0, frames.shape[2] % 2), (0, 0)), mode="edge")
    h, w = padded.shape[1:3]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "video.mp4"
        writer = imageio_ffmpeg.write_frames(
            str(out), (w, h), fps=fps, codec="libx264", pix_fmt_out="yuv420p", macro_block_size=1,
            output_params=["-crf", "12", "-preset", "medium", "-movflags", "+faststart"], ffmpeg_log_level="error",
        )
        writer.send(None)
        for frame in padded:
            writer.send(np.ascontiguousarray(frame))
        writer.close()
        return out.read_bytes()
