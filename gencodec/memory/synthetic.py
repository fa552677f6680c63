"""Synthetic videos for offline pretraining and tests of the memory compressor.

No video corpus ships with the repository and tests must run offline, so clips are made here: a camera
pans and zooms linearly over a natural image while filled shapes move and bounce off the borders. The
motion is slow enough for consecutive frames to stay coherent, so frame retrieval has real structure
to learn. Every clip is a pure function of its arguments (seed included); training uses seeds below
10⁶, evaluation `held_out_seed(i)`.
"""

from __future__ import annotations

import functools
import numbers
from pathlib import Path

import numpy as np

from ..errors import InputError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXAMPLE_FILES = ("astronaut.jpg", "coffee.jpg", "chelsea.png")
SKIMAGE_NAMES = ("astronaut", "coffee", "chelsea", "rocket", "cat")
TRAIN_SEEDS = 10**6  # training clips use seeds in [0, TRAIN_SEEDS)
HELD_OUT_BASE = 10**9  # evaluation clips: HELD_OUT_BASE + i

MIN_SIDE = 8
ZOOM_RANGE = (0.5, 0.85)  # window size as a fraction of the largest window of the clip's aspect that fits
ZOOM_CHANGE = (0.1, 0.3)  # how much that fraction changes over a clip (in or out)
PAN_RANGE = (0.1, 0.4)  # total pan over a clip, as a fraction of the image's shorter side
SHAPE_SIZE = (0.06, 0.15)  # shape radius / half-side, as a fraction of the frame's shorter side
SHAPE_SPEED = (0.006, 0.02)  # shape speed per frame, as a fraction of the frame's shorter side


# ---------------------------------------------------------------- arguments


def _integer(name: str, value, minimum: int) -> int:
    """`value` as an int ≥ `minimum`, or InputError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise InputError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


def _check_clip_args(frames, height, width) -> tuple[int, int, int]:
    return (
        _integer("frames", frames, 1),
        _integer("height", height, MIN_SIDE),
        _integer("width", width, MIN_SIDE),
    )


# ---------------------------------------------------------------- backgrounds


def _as_rgb(image) -> np.ndarray | None:
    """An image array → read-only uint8 (H, W, 3), or None when it is not a usable colour/grey image."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8 or arr.ndim not in (2, 3) or min(arr.shape[:2]) < MIN_SIDE:
        return None
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.shape[2] not in (3, 4):
        return None
    arr = np.ascontiguousarray(arr[:, :, :3])
    arr.setflags(write=False)
    return arr


def _example_images(folder: Path) -> list[np.ndarray]:
    """The repository's public-domain example photos found in `folder` (unreadable ones skipped)."""
    from PIL import Image

    images = []
    for name in EXAMPLE_FILES:
        try:
            with Image.open(folder / name) as im:
                rgb = _as_rgb(np.asarray(im.convert("RGB")))
        except OSError:
            continue
        if rgb is not None:
            images.append(rgb)
    return images


def _skimage_images() -> list[np.ndarray]:
    """scikit-image's sample photos when it is installed (any that fail to load are skipped)."""
    try:
        from skimage import data
    except ImportError:
        return []
    images = []
    for name in SKIMAGE_NAMES:
        try:
            rgb = _as_rgb(getattr(data, name)())
        except (ImportError, AttributeError, OSError, ValueError, RuntimeError):  # no such sample; download needed offline
            rgb = None
        if rgb is not None:
            images.append(rgb)
    return images


def procedural_texture(seed: int, height: int = 384, width: int = 512) -> np.ndarray:
    """A natural-looking stand-in image: multi-scale smooth colour noise (1/f-like), deterministic in `seed`."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    out = np.zeros((height, width, 3), np.float32)
    for cells, weight in ((3, 1.0), (8, 0.5), (24, 0.25), (72, 0.12)):
        grid = rng.normal(size=(cells, max(2, cells * width // height), 3)).astype(np.float32)
        for c in range(3):
            layer = Image.fromarray(np.ascontiguousarray(grid[:, :, c])).resize((width, height), Image.BICUBIC)
            out[:, :, c] += weight * np.asarray(layer)
    mix = rng.normal(size=(3, 3)).astype(np.float32) * 0.5 + np.eye(3, dtype=np.float32)  # correlated channels
    out = out @ mix
    out = (out - out.mean()) / (out.std() + 1e-6)
    rgb = np.clip(128 + 48 * out + rng.normal(0, 2, out.shape), 0, 255).astype(np.uint8)
    return _as_rgb(rgb)


def _load_backgrounds(folder: Path, use_skimage: bool = True) -> list[np.ndarray]:
    """Example photos, then skimage's; procedural textures when neither gives anything."""
    images = _example_images(folder) + (_skimage_images() if use_skimage else [])
    return images or [procedural_texture(seed) for seed in range(3)]


@functools.lru_cache(maxsize=1)
def _backgrounds() -> tuple[np.ndarray, ...]:
    return tuple(_load_backgrounds(EXAMPLES))


def background_images() -> list[np.ndarray]:
    """Natural images the camera films: read-only uint8 (H, W, 3), loaded once per process."""
    return list(_backgrounds())


# ---------------------------------------------------------------- camera


def _window_size(image_hw: tuple[int, int], aspect: float, fraction: float) -> tuple[float, float]:
    """(height, width) of a crop window with width/height = `aspect`, `fraction` of the largest that fits."""
    ih, iw = image_hw
    full_h = min(ih, iw / aspect)
    return fraction * full_h, fraction * full_h * aspect


def _pan_start(image_hw, sizes, delta: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
    """A start centre from which the window can move by `delta` staying inside the image, or None."""
    (h0, w0), (h1, w1) = sizes
    start = np.zeros(2)
    for axis, (dim, half0, half1) in enumerate(zip(image_hw, (h0 / 2, w0 / 2), (h1 / 2, w1 / 2))):
        low = max(half0, half1 - delta[axis])
        high = min(dim - half0, dim - half1 - delta[axis])
        if low > high:
            return None
        start[axis] = rng.uniform(low, high)
    return start


def camera_boxes(image_hw: tuple[int, int], frames: int, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Per-frame crop boxes (left, top, right, bottom) as floats: a linear pan with a linear zoom in or out.

    Both ends of the path keep the window inside the image; centre and size are linear in time, so
    every frame in between does too.
    """
    aspect = width / height
    f0 = rng.uniform(*ZOOM_RANGE)
    change = rng.uniform(*ZOOM_CHANGE) * rng.choice((-1.0, 1.0))
    f1 = float(np.clip(f0 + change, *ZOOM_RANGE))
    if abs(f1 - f0) < ZOOM_CHANGE[0] / 2:  # clipped at a bound: zoom the other way
        f1 = float(np.clip(f0 - change, *ZOOM_RANGE))
    sizes = (_window_size(image_hw, aspect, f0), _window_size(image_hw, aspect, f1))
    angle = rng.uniform(0, 2 * np.pi)
    delta = rng.uniform(*PAN_RANGE) * min(image_hw) * np.array([np.sin(angle), np.cos(angle)])
    start = None
    for _ in range(30):  # shorten the pan until it fits
        start = _pan_start(image_hw, sizes, delta, rng)
        if start is not None:
            break
        delta *= 0.85
    if start is None:
        delta = np.zeros(2)
        start = np.array(image_hw, float) / 2
    t = np.linspace(0.0, 1.0, frames) if frames > 1 else np.zeros(1)
    centre = start[None] + t[:, None] * delta[None]
    size = np.array(sizes[0])[None] + t[:, None] * (np.array(sizes[1]) - np.array(sizes[0]))[None]
    top_left = centre - size / 2
    bottom_right = centre + size / 2
    boxes = np.stack([top_left[:, 1], top_left[:, 0], bottom_right[:, 1], bottom_right[:, 0]], axis=1)
    return np.clip(boxes, 0, [image_hw[1], image_hw[0], image_hw[1], image_hw[0]])


def film(image: np.ndarray, boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resample each crop box of `image` to (height, width) with Pillow BILINEAR → uint8 (T, H, W, 3)."""
    from PIL import Image

    source = Image.fromarray(image)
    out = np.empty((len(boxes), height, width, 3), np.uint8)
    for i, box in enumerate(boxes):
        out[i] = np.asarray(source.resize((width, height), Image.BILINEAR, box=tuple(float(v) for v in box)))
    return out


# ---------------------------------------------------------------- shapes


def _bounce(position: np.ndarray, low: float, high: float) -> np.ndarray:
    """Fold unbounded linear positions into [low, high] as if reflecting off both ends."""
    span = max(high - low, 1e-6)
    u = np.mod(position - low, 2 * span)
    return low + np.where(u <= span, u, 2 * span - u)


def _shape_alpha(kind: str, ys: np.ndarray, xs: np.ndarray, cy: float, cx: float, ry: float, rx: float) -> np.ndarray:
    """Anti-aliased coverage (0–1) of a filled circle or rectangle centred at (cy, cx), so motion is sub-pixel smooth."""
    if kind == "circle":
        return np.clip(rx + 0.5 - np.hypot(ys[:, None] - cy, xs[None, :] - cx), 0.0, 1.0)
    ay = np.clip(ry + 0.5 - np.abs(ys - cy), 0.0, 1.0)
    ax = np.clip(rx + 0.5 - np.abs(xs - cx), 0.0, 1.0)
    return ay[:, None] * ax[None, :]


def draw_shapes(video: np.ndarray, count: int, rng: np.random.Generator) -> None:
    """Draw `count` moving filled shapes (circles or rectangles, random colours, bouncing) onto `video` in place."""
    frames, height, width = video.shape[:3]
    side = min(height, width)
    steps = np.arange(frames, dtype=np.float64)
    for _ in range(count):
        kind = "circle" if rng.random() < 0.5 else "rect"
        ry = max(1.5, rng.uniform(*SHAPE_SIZE) * side)
        rx = ry if kind == "circle" else max(1.5, rng.uniform(*SHAPE_SIZE) * side)
        colour = rng.integers(0, 256, 3).astype(np.float32)
        bounds_y, bounds_x = (ry, height - 1 - ry), (rx, width - 1 - rx)
        y0, x0 = rng.uniform(*bounds_y), rng.uniform(*bounds_x)
        speed = rng.uniform(*SHAPE_SPEED) * side
        angle = rng.uniform(0, 2 * np.pi)
        ys = _bounce(y0 + speed * np.sin(angle) * steps, *bounds_y)
        xs = _bounce(x0 + speed * np.cos(angle) * steps, *bounds_x)
        for f in range(frames):
            top, bottom = max(0, int(ys[f] - ry - 1)), min(height, int(ys[f] + ry + 2))
            left, right = max(0, int(xs[f] - rx - 1)), min(width, int(xs[f] + rx + 2))
            alpha = _shape_alpha(kind, np.arange(top, bottom), np.arange(left, right), ys[f], xs[f], ry, rx)[:, :, None]
            patch = video[f, top:bottom, left:right].astype(np.float32)
            video[f, top:bottom, left:right] = np.rint(patch + alpha * (colour - patch)).astype(np.uint8)


# ---------------------------------------------------------------- clips


def synthetic_clip(seed: int, frames: int, height: int, width: int, *, shapes: int | None = None) -> np.ndarray:
    """A deterministic clip → uint8 (frames, height, width, 3): camera pan + zoom over a photo, plus moving shapes.

    `shapes=None` draws 1–3 shapes; the background and camera do not depend on `shapes`.
    """
    seed = _integer("seed", seed, 0)
    frames, height, width = _check_clip_args(frames, height, width)
    if shapes is not None:
        shapes = _integer("shapes", shapes, 0)
    rng = np.random.default_rng(seed)
    images = _backgrounds()
    image = images[int(rng.integers(len(images)))]
    if rng.random() < 0.5:
        image = image[:, ::-1]
    boxes = camera_boxes(image.shape[:2], frames, height, width, rng)
    video = film(np.ascontiguousarray(image), boxes, height, width)
    count = int(rng.integers(1, 4))
    draw_shapes(video, count if shapes is None else shapes, rng)
    return video


def synthetic_clips(count: int, frames: int, height: int, width: int, *, seed: int = 0) -> list[np.ndarray]:
    """`count` clips for seeds seed, seed + 1, …"""
    count = _integer("count", count, 0)
    seed = _integer("seed", seed, 0)
    _check_clip_args(frames, height, width)
    return [synthetic_clip(seed + i, frames, height, width) for i in range(count)]


def held_out_seed(i: int) -> int:
    """Seed of the i-th evaluation clip; never a training seed (those are below TRAIN_SEEDS)."""
    return HELD_OUT_BASE + _integer("i", i, 0)


def write_synthetic_folder(folder, count: int, frames: int, height: int, width: int, fps: float = 24.0, seed: int = 0) -> list[Path]:
    """Write `count` synthetic clips as H.264 MP4 files into `folder` (created) → their paths, in seed order."""
    from ..media import video_to_mp4_bytes, write_atomic

    count = _integer("count", count, 0)
    seed = _integer("seed", seed, 0)
    _check_clip_args(frames, height, width)
    if not isinstance(fps, numbers.Real) or isinstance(fps, bool) or not fps > 0:
        raise InputError(f"fps must be a positive number, got {fps!r}")
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"not a folder: {folder}")
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"synthetic_{seed + i:06d}.mp4"
        write_atomic(path, video_to_mp4_bytes(synthetic_clip(seed + i, frames, height, width), float(fps)))
        paths.append(path)
    return paths
