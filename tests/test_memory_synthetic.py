"""Synthetic memory-training clips: shape, determinism, coherent motion, MP4 folders, argument checks."""

import numpy as np
import pytest

from gencodec.errors import InputError
from gencodec.media import load_video
from gencodec.memory import synthetic as S


def _mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def test_background_images_are_rgb_uint8():
    images = S.background_images()
    assert len(images) >= 3
    for image in images:
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
        assert min(image.shape[:2]) >= 64


def test_backgrounds_fall_back_to_textures(tmp_path):
    images = S._load_backgrounds(tmp_path, use_skimage=False)  # an empty folder: no example photos
    assert len(images) == 3
    for image in images:
        assert image.dtype == np.uint8 and image.shape == (384, 512, 3) and image.std() > 10


def test_skimage_samples_are_used_when_installed(monkeypatch):
    import sys
    import types

    def missing():
        raise OSError("needs a download")

    data = types.SimpleNamespace(
        astronaut=lambda: np.zeros((20, 30, 3), np.uint8),
        coffee=missing,
        chelsea=lambda: np.zeros((20, 30), np.uint8),
        rocket=lambda: np.zeros((20, 30, 4), np.uint8),
    )
    monkeypatch.setitem(sys.modules, "skimage", types.SimpleNamespace(data=data))
    images = S._skimage_images()  # cat is absent, coffee fails: both skipped
    assert [i.shape for i in images] == [(20, 30, 3)] * 3


@pytest.mark.parametrize("frames, height, width", [(1, 8, 8), (9, 32, 48), (5, 17, 9)])
def test_shape_and_dtype(frames, height, width):
    clip = S.synthetic_clip(3, frames, height, width)
    assert clip.shape == (frames, height, width, 3) and clip.dtype == np.uint8


def test_deterministic_in_the_seed():
    a = S.synthetic_clip(7, 9, 32, 32)
    assert a.tobytes() == S.synthetic_clip(7, 9, 32, 32).tobytes()
    assert a.tobytes() != S.synthetic_clip(8, 9, 32, 32).tobytes()
    clips = S.synthetic_clips(3, 9, 32, 32, seed=6)
    assert [c.tobytes() for c in clips] == [S.synthetic_clip(s, 9, 32, 32).tobytes() for s in (6, 7, 8)]


def test_temporal_coherence():
    for seed in range(3):
        clip = S.synthetic_clip(seed, 33, 64, 64)
        other = S.synthetic_clip(seed + 1000, 33, 64, 64)
        consecutive = np.mean([_mad(clip[i], clip[i + 1]) for i in range(len(clip) - 1)])
        across = np.mean([_mad(clip[i], other[i]) for i in range(len(clip))])
        assert all(_mad(clip[i], clip[i + 1]) > 0 for i in range(len(clip) - 1))
        assert consecutive < 0.4 * across, (seed, consecutive, across)


def test_camera_window_stays_inside_with_the_clip_aspect():
    rng = np.random.default_rng(0)
    for _ in range(50):
        image_hw = tuple(int(v) for v in rng.integers(100, 600, 2))
        height, width = (int(v) for v in rng.integers(8, 300, 2))
        boxes = S.camera_boxes(image_hw, 17, height, width, rng)
        left, top, right, bottom = boxes.T
        assert (left >= 0).all() and (top >= 0).all() and (right <= image_hw[1]).all() and (bottom <= image_hw[0]).all()
        np.testing.assert_allclose((right - left) / (bottom - top), width / height, rtol=1e-6)  # never clipped
        pan = np.hypot(*(boxes[-1, :2] + boxes[-1, 2:] - boxes[0, :2] - boxes[0, 2:]) / 2)
        assert pan <= S.PAN_RANGE[1] * min(image_hw) + 1e-6


def test_shapes_move():
    without = S.synthetic_clip(5, 17, 48, 48, shapes=0)
    with_shapes = S.synthetic_clip(5, 17, 48, 48, shapes=3)
    changed = np.abs(with_shapes.astype(np.int16) - without).max(axis=-1) > 0  # where shapes were drawn
    assert changed.any(axis=(1, 2)).all()
    assert (changed[0] != changed[-1]).any()
    assert _mad(with_shapes[0], with_shapes[-1]) > 0


def test_held_out_seeds_are_disjoint_from_training():
    assert S.held_out_seed(0) >= S.TRAIN_SEEDS >= 10**6
    assert S.held_out_seed(1) == S.held_out_seed(0) + 1


def test_write_synthetic_folder(tmp_path):
    paths = S.write_synthetic_folder(tmp_path / "videos", 2, 9, 32, 48, fps=12.0, seed=4)
    assert [p.name for p in paths] == ["synthetic_000004.mp4", "synthetic_000005.mp4"]
    for seed, path in zip((4, 5), paths):
        frames, fps = load_video(path)
        assert frames.shape == (9, 32, 48, 3) and fps == pytest.approx(12.0)
        assert _mad(frames, S.synthetic_clip(seed, 9, 32, 48)) < 6  # lossy but the same video


@pytest.mark.parametrize(
    "call",
    [
        lambda: S.synthetic_clip(0, 0, 32, 32),
        lambda: S.synthetic_clip(0, 4, 7, 32),
        lambda: S.synthetic_clip(0, 4, 32, 7),
        lambda: S.synthetic_clip(-1, 4, 32, 32),
        lambda: S.synthetic_clip(0, 4.0, 32, 32),
        lambda: S.synthetic_clip(0, 4, 32, 32, shapes=-1),
        lambda: S.synthetic_clips(-1, 4, 32, 32),
        lambda: S.synthetic_clips(2, 4, 4, 32),
        lambda: S.held_out_seed(-1),
        lambda: S.write_synthetic_folder("unused", 1, 0, 32, 32),
        lambda: S.write_synthetic_folder("unused", 1, 4, 32, 32, fps=0),
    ],
)
def test_bad_arguments_raise_input_error(call):
    with pytest.raises(InputError):
        call()
