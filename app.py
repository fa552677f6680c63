"""gencodec demo: the Hugging Face Space entry point (Gradio 6 Blocks).

App shell only: every tab calls the gencodec API (encode / decode / info / compare.report /
baselines.compare_video). Tabs: Image (SD latent), Video (GVC on Wan 2.1, T2V mode), LoRA (implicit),
Long-video memory (memory tokens for the Wan DiT, any frame retrieved back) and Decode.
GPU work (our codec's encode + decode) runs inside `@spaces.GPU` functions that take and
return plain CPU data (numpy arrays, bytes); the classical baselines and the metrics are CPU
work and stay outside. Every failure reaches the user as one line (`gr.Error`), never a
traceback.

Run locally:  python app.py          (GENCODEC_MODELS=tiny for the offline tiny model)
"""

from __future__ import annotations

import contextlib
import html
import json
import logging
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

import spaces  # noqa: I001  - must come before torch (ZeroGPU patches CUDA initialisation)
import torch

import gradio as gr
import numpy as np
import pandas as pd

import gencodec
from gencodec import baselines, compare, media, metrics, models
from gencodec.image.sd import load_sd
from gencodec.memory import codec as memory_codec
from gencodec.memory import model as memory_model
from gencodec.memory import planner as memory_planner
from gencodec.video.wan import load_wan

log = logging.getLogger("gencodec.app")

CODEC = "sd-latent"
FAMILY = "sd"
KB = 1024  # the UI's kilobyte: 1 KB = 1024 bytes
TARGET_KB_RANGE = (0.5, 20.0)
TARGET_KB_DEFAULT = 3.0
MAX_GCODEC_FILE_BYTES = 32 * 2**20  # .gcodec files are KB-sized; refuse absurd uploads before reading them
EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
WORK_DIR = Path(tempfile.gettempdir()) / "gencodec-app"
WORK_MAX_AGE_S = 2 * 3600

MODE_CHOICES = [("Faithful (Bühlmann, ≈5 KB at 512²)", "faithful"), (f"Target size (1 KB = {KB} bytes)", "target")]

VIDEO_CODEC = "gvc"
VIDEO_FAMILY = "wan-t2v"
# I2V / FLF2V run on Wan's 14B checkpoints: available from the CLI and the Python API, too big to sit beside
# the other models in one ZeroGPU Space.
VIDEO_MODES = [("T2V: indices only, no reference frame", "t2v")]
VIDEO_GOPS = (9, 17, 33)
VIDEO_STEPS_RANGE = (4, 50)  # the sampler ends with 3 ODE steps, so at least 4
VIDEO_ATOMS_RANGE = (1, 256)
VIDEO_GPU_CAP_S = 300  # refuse clips whose estimated GPU time is beyond this (ZeroGPU budget per call)
TINY_VIDEO_MAX_FRAMES = 17  # the tiny model runs on the CPU: a short, small clip keeps the demo at a few seconds

# ---------------------------------------------------------------- model and device (module level, as ZeroGPU wants)

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def _pick_model(family: str) -> tuple[models.ModelSpec, str | None]:
    """The family's default model if its weights are here (or can be fetched); otherwise the tiny one and why."""
    tiny = models.resolve("tiny", family)
    if models.force_tiny():
        return tiny, "GENCODEC_MODELS=tiny is set"
    spec = models.resolve(None, family)
    if not isinstance(spec, models.ModelSpec) or spec.tiny:
        return tiny, "no real model is registered for this codec"
    try:
        ok, reason = models.ensure_weights(spec)
    except Exception as exc:  # noqa: BLE001 - any Hub failure means: run on the tiny model, and say why
        ok, reason = False, f"checking the weights of {spec.repo} failed ({type(exc).__name__}: {exc})"
    return (spec, None) if ok else (tiny, reason)


def _load_model(family: str, loader) -> tuple[models.ModelSpec, str | None]:
    """Pick and preload a family's model once (the GPU functions then find it in the loader's cache)."""
    spec, reason = _pick_model(family)
    try:
        loader(spec, DEVICE)
    except Exception as exc:  # noqa: BLE001 - a model that cannot load must not stop the app: tiny model + banner
        if spec.tiny:
            raise
        log.warning("falling back to the tiny %s model: %s", family, exc)
        why = str(exc) if isinstance(exc, gencodec.GencodecError) else f"loading {spec.repo} failed ({type(exc).__name__}: {exc})"
        spec, reason = models.resolve("tiny", family), _one_line(why)
        loader(spec, DEVICE)
    return spec, reason


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


MODEL_SPEC, TINY_REASON = _load_model(FAMILY, load_sd)
TINY = MODEL_SPEC.tiny
MODEL_ARG = "tiny" if TINY else MODEL_SPEC.id
REAL_REPO = next(m.repo for m in models.REGISTRY if m.id == models.DEFAULT_MODEL[FAMILY])

# Wan 2.1: loaded only when its weights load (models.ensure_weights cannot tell for Wan: it lists no files).
VIDEO_SPEC, VIDEO_TINY_REASON = _load_model(VIDEO_FAMILY, load_wan)
VIDEO_TINY = VIDEO_SPEC.tiny
VIDEO_MODEL_ARG = "tiny" if VIDEO_TINY else VIDEO_SPEC.id
VIDEO_REAL_REPO = next(m.repo for m in models.REGISTRY if m.id == models.DEFAULT_MODEL[VIDEO_FAMILY])

# Long-video memory: the same Wan 2.1 T2V weights plus the memory compressor and the one-step retrieval head.
MEMORY_CODEC = "memory"
MEMORY_FAMILY = models.FAMILY_MEMORY
MEMORY_SPEC, MEMORY_TINY_REASON = _load_model(MEMORY_FAMILY, memory_model.load)
MEMORY_TINY = MEMORY_SPEC.tiny
MEMORY_MODEL_ARG = "tiny" if MEMORY_TINY else MEMORY_SPEC.id
MEMORY_REAL_REPO = next(m.repo for m in models.REGISTRY if m.id == models.DEFAULT_MODEL[MEMORY_FAMILY])


def banner_markdown() -> str:
    """The one warning shown at the top when a tab runs on tiny random models ('' otherwise)."""
    tabs = (
        ("Image", "Stable Diffusion v1.4", REAL_REPO, TINY, TINY_REASON),
        ("Video", "Wan 2.1 T2V 1.3B", VIDEO_REAL_REPO, VIDEO_TINY, VIDEO_TINY_REASON),
        ("Long-video memory", "Wan 2.1 T2V 1.3B", MEMORY_REAL_REPO, MEMORY_TINY, MEMORY_TINY_REASON),
    )
    tiny = [(tab, real, repo, reason) for tab, real, repo, is_tiny, reason in tabs if is_tiny]
    if not tiny:
        return ""
    names = [tab for tab, _, _, _ in tiny]
    if len(tiny) == len(tabs):
        who = "this app runs"
    else:
        who = f"the {' and '.join(names)} tab{'s run' if len(names) > 1 else ' runs'}"
    kinds = (["images"] if "Image" in names else []) + (["videos"] if any(n != "Image" for n in names) else [])
    what = f"Decoded {' and '.join(kinds)} are noise-like"
    reasons = {reason or "unknown" for _, _, _, reason in tiny}
    if len(reasons) == 1:
        why = html.escape(reasons.pop())
    else:
        why = " ".join(f"{tab} tab: {html.escape(reason or 'unknown')}." for tab, _, _, reason in tiny).rstrip(".")
    if models.force_tiny():
        fix = "unset <code>GENCODEC_MODELS</code> and restart (the real weights must be cached or downloadable)."
    else:
        downloads = " and ".join(f"<code>hf download {repo}</code>" for repo in dict.fromkeys(r for _, _, r, _ in tiny))
        fix = f"run {downloads} (or unset <code>HF_HUB_OFFLINE</code> so the app can download them) and restart the app."
    return (
        '<div id="tiny-banner" role="alert" style="border:1px solid #d97706;border-left:6px solid #d97706;'
        'background:#fffbeb;color:#78350f;padding:10px 14px;border-radius:6px;margin:4px 0 8px 0">'
        f"<strong>⚠️ Demo mode: {who} on tiny random models.</strong> "
        f"{what}; the pipeline, the .gcodec files and their sizes are real.<br>"
        f"<strong>Why:</strong> {why}.<br>"
        f"<strong>For real results</strong> with {' and '.join(dict.fromkeys(real for _, real, _, _ in tiny))}: {fix}"
        "</div>"
    )


# ---------------------------------------------------------------- errors: one line, never a traceback


@contextlib.contextmanager
def user_errors():
    """GencodecError → gr.Error with its message; anything unexpected → a one-line gr.Error (traceback to the log)."""
    try:
        yield
    except gr.Error:
        raise
    except gencodec.GencodecError as exc:
        raise gr.Error(_one_line(str(exc)), print_exception=False) from None
    except MemoryError:
        raise gr.Error("out of memory: try a smaller image or a shorter, smaller video", print_exception=False) from None
    except Exception as exc:  # noqa: BLE001
        log.exception("unexpected error")
        raise gr.Error(_one_line(f"unexpected error ({type(exc).__name__}): {exc}"), print_exception=False) from None


# ---------------------------------------------------------------- files


def _work_dir(prefix: str) -> Path:
    """A fresh folder for one request's downloads; folders older than WORK_MAX_AGE_S are removed."""
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for old in WORK_DIR.iterdir():
        with contextlib.suppress(OSError):
            if old.is_dir() and now - old.stat().st_mtime > WORK_MAX_AGE_S:
                shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=WORK_DIR))


def _safe_stem(name: str | os.PathLike | None, default: str) -> str:
    stem = Path(str(name)).name if name else default
    for suffix in (".gcodec", *(f".{name}" for name in gencodec.CODECS)):
        stem = stem.removesuffix(suffix)
    stem = Path(stem).stem if "." in stem and not stem.startswith(".") else stem
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._")[:80]
    return stem or default


_FOREIGN_MAGIC = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"BM": "a BMP image",
    b"\xff\x0a": "a JPEG XL image",
    b"\x00\x00\x00\x0cJXL": "a JPEG XL image",
    b"\x1a\x45\xdf\xa3": "a WebM/Matroska video",
}
_IMAGE_BRANDS = (b"avif", b"avis", b"heic", b"heix", b"hevc", b"mif1", b"msf1")


def _foreign_kind(data: bytes) -> tuple[str, str] | None:
    """(what the file is, the tab that compresses it) for common image and video formats; None otherwise."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "a WebP image", "Image"
    if data[:4] == b"RIFF" and data[8:12] == b"AVI ":
        return "an AVI video", "Video (GVC)"
    if data[4:8] == b"ftyp":
        if data[8:12] in _IMAGE_BRANDS:
            return "an AVIF/HEIF image", "Image"
        return "an MP4/MOV video", "Video (GVC)"
    kind = next((kind for magic, kind in _FOREIGN_MAGIC.items() if data.startswith(magic)), None)
    return (kind, "Video (GVC)" if kind.endswith("video") else "Image") if kind else None


# ---------------------------------------------------------------- GPU work (picklable CPU data in and out)


def _compress_duration(rgb: np.ndarray, mode: str, target_bytes: int | None, progress=None) -> int:
    """ZeroGPU time budget (s): a few seconds plus a term growing with the pixel count; rate control adds a little."""
    megapixels = rgb.shape[0] * rgb.shape[1] / 1e6
    seconds = 8 + 6 * megapixels * (1.5 if mode == "target" else 1.0)
    return int(min(120, seconds))


@spaces.GPU(duration=_compress_duration)
def gpu_compress(rgb: np.ndarray, mode: str, target_bytes: int | None, progress=None) -> tuple[bytes, np.ndarray, float, float]:
    """Our codec: encode then decode. Returns (file bytes, decoded uint8 image, encode s, decode s)."""
    with user_errors():  # raise gr.Error here: ZeroGPU forwards gr.Error messages, other exceptions lose theirs
        t0 = time.perf_counter()
        if mode == "target":
            data = gencodec.encode(rgb, codec=CODEC, model=MODEL_ARG, target_bytes=target_bytes, device=DEVICE)
        else:
            data = gencodec.encode(rgb, codec=CODEC, model=MODEL_ARG, mode="faithful", device=DEVICE)
        t1 = time.perf_counter()
        decoded = gencodec.decode(data, device=DEVICE)
        t2 = time.perf_counter()
    return data, np.ascontiguousarray(decoded), t1 - t0, t2 - t1


def video_gpu_seconds(
    frames: int, height: int, width: int, codebook_size: int, steps: int, gop: int, *, encode: bool = True
) -> float:
    """Estimated GPU seconds for GVC on Wan 2.1 1.3B (uncapped).

        seconds ≈ 15 + L · N · s · (0.05 + 0.06 · K / 16384)      (encode + decode; decode alone: 10 + L · N · s · 0.05)

    L = latent frames sampled = ⌈T / G⌉ · ((G − 1) / 4 + 1) (T frames in GOPs of G; the last GOP is padded),
    N = steps, s = H · W / (832 · 480) (pixels relative to 480p), K = codebook size. 0.05 s is one transformer
    pass per latent frame at 480p; 0.06 s scores K = 16384 atoms for one latent frame and step; 15 s covers the
    VAE and the start. A rough budget for ZeroGPU's time slot, not a benchmark.
    """
    latent = -(-max(1, frames) // gop) * ((gop - 1) // 4 + 1)
    scale = max(0.02, height * width / (832 * 480))
    if encode:
        return 15 + latent * steps * scale * (0.05 + 0.06 * codebook_size / 16384)
    return 10 + latent * steps * scale * 0.05


def _gpu_slot(seconds: float) -> int:
    return int(min(VIDEO_GPU_CAP_S, max(10, -(-seconds // 1))))


def _compress_video_duration(
    frames: np.ndarray, fps: float, atoms: int, codebook_size: int, steps: int, gop: int, progress=None
) -> int:
    t, h, w = frames.shape[:3]
    return _gpu_slot(video_gpu_seconds(t, h, w, codebook_size, steps, gop))


@spaces.GPU(duration=_compress_video_duration)
def gpu_compress_video(
    frames: np.ndarray, fps: float, atoms: int, codebook_size: int, steps: int, gop: int, progress=None
) -> tuple[bytes, np.ndarray, float, float]:
    """GVC (T2V): encode then decode. Returns (file bytes, decoded uint8 frames, encode s, decode s)."""
    with user_errors():
        t0 = time.perf_counter()
        data = gencodec.encode(
            frames,
            codec=VIDEO_CODEC,
            model=VIDEO_MODEL_ARG,
            mode="t2v",
            atoms=atoms,
            codebook_size=codebook_size,
            steps=steps,
            gop=gop,
            fps=fps,
            device=DEVICE,
        )
        t1 = time.perf_counter()
        decoded = gencodec.decode(data, device=DEVICE)
        t2 = time.perf_counter()
    return data, np.ascontiguousarray(decoded), t1 - t0, t2 - t1


def _video_decode_seconds(meta: dict) -> float:
    p = meta.get("params", {})
    return video_gpu_seconds(
        meta["frames"],
        meta["height"],
        meta["width"],
        int(meta.get("codebook_size", p.get("codebook_size", 16384))),
        int(meta.get("steps", p.get("steps", 20))),
        int(meta.get("gop", p.get("gop", 33))),
        encode=False,
    )


def _video_file_decode_seconds(meta: dict) -> float:
    """Estimated GPU seconds to decode a video file of any codec the Decode tab takes (GVC, lora, memory)."""
    if meta.get("codec") == LORA_CODEC:
        return _lora_decode_seconds(meta)
    if meta.get("codec") == MEMORY_CODEC:
        return _memory_decode_seconds(meta)
    return _video_decode_seconds(meta)


def _decode_duration(data: bytes, progress=None) -> int:
    try:
        meta = gencodec.info(data)
        if meta.get("media") == "video":
            return _gpu_slot(_video_file_decode_seconds(meta))
        megapixels = meta["width"] * meta["height"] * meta.get("frames", 1) / 1e6
    except Exception:  # noqa: BLE001
        megapixels = 1.0
    return int(min(120, 6 + 4 * megapixels))


@spaces.GPU(duration=_decode_duration)
def gpu_decode(data: bytes, progress=None) -> tuple[np.ndarray, float]:
    """Any .gcodec file → uint8 image (H, W, 3) or frames (T, H, W, 3), and the decode seconds.

    Memory files: every frame, retrieved with the one-step head (the DiT would take `steps` passes per frame).
    """
    with user_errors():
        t0 = time.perf_counter()
        options = {"retriever": "head"} if gencodec.info(data).get("codec") == MEMORY_CODEC else {}
        decoded = gencodec.decode(data, device=DEVICE, **options)
    return np.ascontiguousarray(decoded), time.perf_counter() - t0


# ---------------------------------------------------------------- Image tab


def _fmt_bytes(n: int) -> str:
    return f"{n:,} B"


def _table(rows: list[dict], ssim_kind: str) -> pd.DataFrame:
    out = []
    for r in rows:
        out.append(
            {
                "Codec": r["name"],
                "Quality": "—" if r["quality"] is None else f"q{r['quality']}",
                "Bytes": int(r["bytes"]),
                "bpp": round(float(r["bpp"]), 4),
                "PSNR (dB)": round(float(r["psnr"]), 2),
                ssim_kind: round(float(r["ssim"]), 4),
            }
        )
    return pd.DataFrame(out, columns=["Codec", "Quality", "Bytes", "bpp", "PSNR (dB)", ssim_kind])


def _plot_frame(rows: list[dict]) -> pd.DataFrame:
    labels = ["gencodec" if i == 0 else r["name"] for i, r in enumerate(rows)]  # fixed names keep the bar order
    return pd.DataFrame(
        {
            "codec": labels,
            "bytes": [int(r["bytes"]) for r in rows],
            "psnr": [round(float(r["psnr"]), 2) for r in rows],
            "kind": ["ours" if i == 0 else "baseline" for i in range(len(rows))],
        }
    )


def compress_image(image_path, mode, target_kb, progress=gr.Progress(track_tqdm=True)):
    """Image tab: compress with the SD-latent codec, decode, and compare with JPEG/WebP/AVIF/JPEG XL at ≥ our size."""
    with user_errors():
        if not image_path:
            raise gr.Error("Upload an image first (PNG, JPEG, WebP, AVIF, JPEG XL, BMP or TIFF).", print_exception=False)
        if mode not in ("faithful", "target"):
            raise gr.Error(f"unknown mode '{mode}' (faithful or target)", print_exception=False)
        target_bytes = None
        if mode == "target":
            try:
                kb = float(target_kb)
            except (TypeError, ValueError):
                raise gr.Error("the target size must be a number of KB", print_exception=False) from None
            if not TARGET_KB_RANGE[0] <= kb <= TARGET_KB_RANGE[1]:
                raise gr.Error(
                    f"the target size must be between {TARGET_KB_RANGE[0]:g} and {TARGET_KB_RANGE[1]:g} KB", print_exception=False
                )
            target_bytes = int(round(kb * KB))
        started = time.perf_counter()
        progress(0.0, desc="Reading the image")
        rgb = media.load_image(image_path)  # size limit checked here, before any model work
        h, w = rgb.shape[:2]

        progress(0.05, desc=f"Compressing and decoding with {MODEL_SPEC.id}")
        data, decoded, t_enc, t_dec = gpu_compress(rgb, mode, target_bytes, progress=progress)

        progress(0.6, desc="Matching JPEG / WebP / AVIF / JPEG XL to our size")
        t0 = time.perf_counter()
        codecs = baselines.available_image_codecs()
        rep = compare.report(rgb, data, decoded, codecs)
        t_base = time.perf_counter() - t0

        progress(0.95, desc="Writing files")
        out_dir = _work_dir("compress-")
        stem = _safe_stem(image_path, "image")
        gcodec_path = out_dir / f"{stem}.{CODEC}.gcodec"
        media.write_atomic(gcodec_path, data)

        rows = rep["rows"]
        kind = rep["ssim_kind"]
        ours = rows[0]
        meta = gencodec.info(data)
        gallery = [(decoded, f"gencodec ({meta.get('mode', mode)}) · {_fmt_bytes(len(data))}")]
        for r in rows[1:]:
            label = f"{r['name']} q{r['quality']}"
            img = rep["baselines"].get(label)
            if img is not None:
                gallery.append((img, f"{label} · {_fmt_bytes(int(r['bytes']))}"))

        lines = [
            f"**{_fmt_bytes(len(data))}** ({len(data) / KB:.2f} KB) · **{ours['bpp']:.4f} bpp** · "
            f"PSNR **{ours['psnr']:.2f} dB** · {kind} **{ours['ssim']:.4f}** · {w}×{h} px",
            f"Mode: {meta.get('mode', mode)}"
            + (f", target {target_bytes:,} B" if target_bytes else "")
            + f" · model `{meta['model']}` on {DEVICE} · encode {t_enc:.1f} s, decode {t_dec:.1f} s, "
            f"baselines {t_base:.1f} s, total {time.perf_counter() - started:.1f} s",
        ]
        notes = []
        if target_bytes and len(data) < 0.97 * target_bytes:
            notes.append(
                f"The finest quantiser already fits in {_fmt_bytes(len(data))}, below the {target_bytes:,} B target: "
                "this is the largest file the codec makes for this image."
            )
        floor = [
            f"{r['name']} (q{r['quality']}, {_fmt_bytes(int(r['bytes']))})"
            for r in rows[1:]
            if r["quality"] == baselines.IMAGE_QUALITY_RANGE[r["codec"]][0] and r["bytes"] > 1.03 * len(data)
        ]
        if floor:
            notes.append(f"Cannot get as small as our file even at the lowest quality: {', '.join(floor)}.")
        found = {r["codec"] for r in rows[1:]}
        missing = [baselines.IMAGE_CODEC_NAMES[c] for c in codecs if c not in found]
        if missing:
            notes.append(f"{', '.join(missing)}: no quality setting gives a file at least as large as ours (not shown).")
        unavailable = [baselines.IMAGE_CODEC_NAMES[c] for c in baselines.IMAGE_CODECS if c not in codecs]
        if unavailable:
            notes.append(f"{', '.join(unavailable)}: not available in this installation.")
        if kind != "MS-SSIM":
            notes.append(f"The image has a side ≤ 160 px, too small for MS-SSIM: the table shows single-scale {kind}.")
        if TINY:
            notes.append("Tiny random model: the decoded image is noise-like by design (see the banner).")
        summary = "  \n".join(lines + [f"*{n}*" for n in notes])
        progress(1.0)
        return (
            (rgb, decoded),
            summary,
            _table(rows, kind),
            _plot_frame(rows),
            _plot_frame(rows),
            gallery,
            str(gcodec_path),
        )


# ---------------------------------------------------------------- Video tab


def _resolutions(tiny: bool) -> list[tuple[str, int]]:
    """Frame-size choices (short side; 0 = source size) of the tabs on Wan: small ones for the tiny CPU model."""
    if tiny:
        return [("64 px (tiny demo)", 64), ("128 px", 128)]
    return [("480p (default, fastest)", 480), ("720p", 720), ("Source size (up to 1080p)", 0)]


VIDEO_RESOLUTIONS = _resolutions(VIDEO_TINY)
VIDEO_K_CHOICES = ([256] if VIDEO_TINY else []) + [1024, 4096, 16384]
VIDEO_MAX_FRAMES = TINY_VIDEO_MAX_FRAMES if VIDEO_TINY else media.max_video_frames()
VIDEO_DEFAULTS = {
    "atoms": 8 if VIDEO_TINY else 64,
    "codebook_size": 256 if VIDEO_TINY else 16384,
    "steps": 20,
    "gop": 17 if VIDEO_TINY else 33,
    "resolution": VIDEO_RESOLUTIONS[0][1],
    "max_frames": TINY_VIDEO_MAX_FRAMES if VIDEO_TINY else 33,
}
VIDEO_COLORS = {"gencodec (GVC)": "#d97706", "H.264 (x264)": "#2563eb", "HEVC (x265)": "#16a34a", "AV1": "#7c3aed"}


def downscale_frames(frames: np.ndarray, short_side: int) -> np.ndarray:
    """Resize (Pillow, Lanczos) so the short side is `short_side`, keeping the aspect ratio; never upscales.

    The other side is rounded to an even number of pixels (H.264 needs even sizes). 0 keeps the source size.
    """
    from PIL import Image

    h, w = frames.shape[1:3]
    if not short_side or min(h, w) <= short_side:
        return frames
    scale = short_side / min(h, w)
    new_h, new_w = (short_side, max(2, round(w * scale / 2) * 2)) if h <= w else (max(2, round(h * scale / 2) * 2), short_side)
    return np.stack([np.asarray(Image.fromarray(f).resize((new_w, new_h), Image.Resampling.LANCZOS)) for f in frames])


def _int_setting(value, name: str, lo: int, hi: int, allowed=None) -> int:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if isinstance(value, bool) or not number.is_integer():
        raise gr.Error(f"{name} must be a whole number", print_exception=False)
    number = int(number)
    if allowed is not None and number not in allowed:
        raise gr.Error(f"{name} must be one of {', '.join(map(str, allowed))}", print_exception=False)
    if not lo <= number <= hi:
        raise gr.Error(f"{name} must be between {lo} and {hi}", print_exception=False)
    return number


def _video_table(rows: list[dict], kind: str) -> pd.DataFrame:
    columns = ["Codec", "Setting", "Bytes", "kbps", "bpp", "PSNR (dB)", kind]
    out = [
        {
            "Codec": r["name"],
            "Setting": r["setting"],
            "Bytes": int(r["bytes"]),
            "kbps": round(float(r["kbps"]), 2),
            "bpp": round(float(r["bpp"]), 4),
            "PSNR (dB)": round(float(r["psnr"]), 2),
            kind: round(float(r["ssim"]), 4),
        }
        for r in rows
    ]
    return pd.DataFrame(out, columns=columns)


def _psnr_per_frame(ref: np.ndarray, test: np.ndarray) -> list[float]:
    return [min(metrics.PSNR_CAP_DB, float(metrics.psnr(r, t))) for r, t in zip(ref, test)]


def _read_clip(
    video_path, max_frames: int, short_side: int, limit: int | None = None
) -> tuple[np.ndarray, float, tuple[int, int, int]]:
    """The clip a video tab codes: the first `max_frames` frames, downscaled; limits are checked while reading.

    `limit`: the most frames the upload may have (default: GENCODEC_MAX_VIDEO_FRAMES; the memory tab's is longer).
    """
    with contextlib.suppress(OSError):  # ffmpeg reads a still image as a one-frame video: say what it is instead
        with open(video_path, "rb") as f:
            foreign = _foreign_kind(f.read(16))
        if foreign and foreign[1] == "Image":
            raise gr.Error(f"this is {foreign[0]}, not a video: compress it in the Image tab", print_exception=False)
    source, fps = media.load_video(video_path, max_frames=limit)  # size and frame limits checked before model work
    shape = source.shape[:3]
    frames = downscale_frames(np.array(source[:max_frames]) if max_frames < shape[0] else source, short_side)
    return frames, fps, shape  # a 1080p upload can be GBs: only the coded clip is kept


def _coded_clip(coded_shape, source_shape) -> list[str]:
    """How the coded clip differs from the upload, for the summary."""
    (t, h, w), (src_t, src_h, src_w) = coded_shape[:3], source_shape
    parts = []
    if t < src_t:
        parts.append(f"the first {t} of {src_t} frames")
    if (h, w) != (src_h, src_w):
        parts.append(f"downscaled from {src_w}×{src_h} to {w}×{h} px")
    return parts


def _write_clip_files(prefix: str, video_path, codec: str, data: bytes, frames, decoded, fps: float) -> tuple[Path, Path, Path]:
    """The .gcodec download and the two players' MP4s (coded clip, decoded clip) at the source fps."""
    out_dir = _work_dir(prefix)
    stem = _safe_stem(video_path, "video")
    paths = (out_dir / f"{stem}.{codec}.gcodec", out_dir / f"{stem}.coded-clip.mp4", out_dir / f"{stem}.decoded.mp4")
    media.write_atomic(paths[0], data)
    media.write_atomic(paths[1], media.video_to_mp4_bytes(frames, fps))
    media.write_atomic(paths[2], media.video_to_mp4_bytes(decoded, fps))
    return paths


def compress_video(
    video_path, mode, atoms, codebook_size, steps, gop, resolution, max_frames, progress=gr.Progress(track_tqdm=True)
):
    """Video tab: GVC (T2V) on Wan 2.1, decode, and compare with x264 / x265 / AV1 at ≥ our size."""
    with user_errors():
        if not video_path:
            raise gr.Error("Upload a video first (MP4, WebM, MOV or any format ffmpeg reads).", print_exception=False)
        if mode not in [value for _, value in VIDEO_MODES]:
            raise gr.Error(
                f"unknown mode '{mode}': this app codes T2V; I2V and FLF2V (14B models) run from the CLI", print_exception=False
            )
        atoms = _int_setting(atoms, "atoms M", *VIDEO_ATOMS_RANGE)
        codebook_size = _int_setting(codebook_size, "codebook size K", 2, 1 << 20, VIDEO_K_CHOICES)
        steps = _int_setting(steps, "steps", *VIDEO_STEPS_RANGE)
        gop = _int_setting(gop, "GOP", 1, 257, VIDEO_GOPS)
        resolution = _int_setting(resolution, "frame size", 0, 4096, [value for _, value in VIDEO_RESOLUTIONS])
        max_frames = _int_setting(max_frames, "max frames", 1, VIDEO_MAX_FRAMES)
        started = time.perf_counter()

        progress(0.0, desc="Reading the video")
        frames, fps, source_shape = _read_clip(video_path, max_frames, resolution)
        t, h, w = frames.shape[:3]
        estimate = video_gpu_seconds(t, h, w, codebook_size, steps, gop)
        if not VIDEO_TINY and estimate > VIDEO_GPU_CAP_S:
            raise gr.Error(
                f"this clip needs about {estimate:.0f} s of GPU time, over this app's {VIDEO_GPU_CAP_S} s limit: "
                "keep fewer frames, pick a smaller frame size or fewer steps",
                print_exception=False,
            )

        progress(0.05, desc=f"Compressing and decoding with {VIDEO_SPEC.id}")
        data, decoded, t_enc, t_dec = gpu_compress_video(frames, fps, atoms, codebook_size, steps, gop, progress=progress)

        progress(0.6, desc="Matching x264 / x265 / AV1 to our size")
        t0 = time.perf_counter()
        ours_m = metrics.video_metrics(frames, decoded)
        codecs = baselines.available_video_codecs()
        base_rows = baselines.compare_video(frames, fps, len(data), codecs=codecs, sides=("at_least",)) if codecs else []
        t_base = time.perf_counter() - t0

        progress(0.9, desc="Writing files")
        meta = gencodec.info(data)
        kind = ours_m["ssim_kind"]
        ours = {
            "name": f"gencodec {VIDEO_CODEC} ({meta.get('mode', mode)})",
            "setting": f"M={atoms}, K={codebook_size}, {steps} steps, GOP {gop}",
            "bytes": len(data),
            "kbps": 8.0 * len(data) * fps / t / 1000.0,
            "bpp": 8.0 * len(data) / (t * h * w),
            "psnr": ours_m["psnr"],
            "ssim": ours_m["ssim"],
        }
        rows = [ours] + [{**r, "setting": f"CRF {r['crf']}"} for r in base_rows]
        curves = [("gencodec (GVC)", _psnr_per_frame(frames, decoded))]
        curves += [(r["name"], _psnr_per_frame(frames, r["baseline"].decoded)) for r in base_rows]
        plot = pd.DataFrame(
            [
                {"time (s)": round(i / fps, 4), "frame": i + 1, "PSNR (dB)": round(v, 2), "codec": name}
                for name, values in curves
                for i, v in enumerate(values)
            ],
            columns=["time (s)", "frame", "PSNR (dB)", "codec"],
        )

        gcodec_path, original_path, decoded_path = _write_clip_files("video-", video_path, VIDEO_CODEC, data, frames, decoded, fps)

        n_gops = -(-t // gop)
        lines = [
            (
                f"**{_fmt_bytes(len(data))}** ({len(data) / KB:.2f} KB) · **{ours['kbps']:.2f} kbps** at {fps:g} fps · "
                f"**{ours['bpp']:.4f} bpp** · PSNR **{ours['psnr']:.2f} dB** · {kind} **{ours['ssim']:.4f}** · "
                f"{t} frames, {w}×{h} px"
            ),
            (
                f"T2V · M = {atoms} atoms of K = {codebook_size:,} per latent frame and step · {steps} steps · "
                f"GOP {gop} ({n_gops} GOP{'s' if n_gops > 1 else ''}) · model `{meta['model']}` on {DEVICE} · "
                f"encode {t_enc:.1f} s, decode {t_dec:.1f} s, baselines {t_base:.1f} s, "
                f"total {time.perf_counter() - started:.1f} s"
            ),
        ]
        coded = _coded_clip(frames.shape, source_shape)
        notes = []
        if coded:
            notes.append(
                f"Coded clip: {' and '.join(coded)}"
                + (
                    f" (the tiny-model demo codes at most {t} frames)"
                    if VIDEO_TINY and t == TINY_VIDEO_MAX_FRAMES < source_shape[0]
                    else ""
                )
                + ". The original player shows exactly this clip; every rate is for it."
            )
        if t % gop:
            notes.append(f"The last GOP is padded to {gop} frames by repeating the last frame (costs atoms, not shown).")
        floor = [
            f"{r['name']} (CRF {r['crf']}, {_fmt_bytes(int(r['bytes']))})"
            for r in base_rows
            if r["crf"] == baselines.VIDEO_CRF_RANGE[r["codec"]][1] and r["bytes"] > 1.03 * len(data)
        ]
        if floor:
            notes.append(f"Cannot get as small as our file even at the highest CRF: {', '.join(floor)}.")
        found = {r["codec"] for r in base_rows}
        missing = [baselines.VIDEO_CODEC_NAMES[c] for c in codecs if c not in found]
        if missing:
            notes.append(f"{', '.join(missing)}: no CRF gives a file at least as large as ours (not shown).")
        unavailable = [baselines.VIDEO_CODEC_NAMES[c] for c in baselines.VIDEO_CODECS if c not in codecs]
        if unavailable:
            notes.append(f"{', '.join(unavailable)}: not available in this installation.")
        if kind != "MS-SSIM":
            notes.append(f"A frame side is ≤ 160 px, too small for MS-SSIM: the table shows single-scale {kind}.")
        if VIDEO_TINY:
            notes.append("Tiny random model: the decoded video is noise-like by design (see the banner).")
        summary = "  \n".join(lines + [f"*{n}*" for n in notes])
        progress(1.0)
        return str(original_path), str(decoded_path), summary, _video_table(rows, kind), plot, str(gcodec_path)


# ---------------------------------------------------------------- LoRA (implicit) tab

LORA_CODEC = "lora"  # Compression as Adaptation: θ of rank-1 adapters on the same Wan 2.1 T2V model (family wan-t2v)
LORA_MAX_CLIP_FRAMES = 81  # one clip per file
LORA_DECODE_STEPS = 50
LORA_FIT_PASS_S = 0.15  # one fitting step (forward + backward) per latent frame at 480p on Wan 1.3B: ≈ 3 forward passes
LORA_PASS_S = 0.05  # one transformer forward pass per latent frame at 480p (as in video_gpu_seconds)
# preset → (fit steps, learning rate; None = the codec's default 2e-3). The tiny model runs on the CPU: a few seconds.
LORA_PRESET_STEPS = {"fast": (60, 2e-2), "paper": (240, 2e-2)} if VIDEO_TINY else {"fast": (300, None), "paper": (2000, None)}
LORA_SCALING_CHOICES = [("off", 0), ("16 candidates per step", 16), ("256 candidates per step", 256)]
LORA_MAX_FRAMES = TINY_VIDEO_MAX_FRAMES if VIDEO_TINY else LORA_MAX_CLIP_FRAMES
LORA_DEFAULT_FRAMES = TINY_VIDEO_MAX_FRAMES  # 17 frames = 5 latent frames: the fast preset fits one GPU call at 480p
LORA_TARGET_KB_MAX = 10 * 1024.0
LORA_CLI = 'gencodec encode clip.mp4 --codec lora --preset paper --prompt "…" -o clip.gcodec'


def lora_gpu_seconds(frames: int, height: int, width: int, fit_steps: int, scaling: int = 0, *, encode: bool = True) -> float:
    """Estimated GPU seconds for the LoRA codec on Wan 2.1 1.3B (uncapped).

        encode + decode ≈ 15 + F · L · s · 0.15 + (1 + [scaling]) · 50 · L · s · 0.05      (decode alone: 10 + 50 · L · s · 0.05)

    F = fit steps, L = latent frames = (T' − 1) / 4 + 1 with T' = T padded to 4k + 1 frames, s = H · W / (832 · 480)
    (pixels relative to 480p). 0.15 s is one fitting step (forward + backward) per latent frame at 480p, 0.05 s one
    forward pass; decoding is a 50-step ODE, and inference-time scaling adds one more 50-step pass at encode time.
    A rough budget for ZeroGPU's time slot, not a benchmark.
    """
    t = max(1, frames)
    latent = (t + (-(t - 1)) % 4 - 1) // 4 + 1
    scale = max(0.02, height * width / (832 * 480))
    decode = LORA_DECODE_STEPS * latent * scale * LORA_PASS_S
    if not encode:
        return 10 + decode
    return 15 + fit_steps * latent * scale * LORA_FIT_PASS_S + decode * (2 if scaling else 1)


def _lora_preset_fits(preset: str) -> bool:
    return VIDEO_TINY or lora_gpu_seconds(LORA_DEFAULT_FRAMES, 480, 832, LORA_PRESET_STEPS[preset][0]) <= VIDEO_GPU_CAP_S


LORA_PRESETS = [p for p in ("fast", "paper") if _lora_preset_fits(p)]


def _compress_lora_duration(
    frames: np.ndarray, fps: float, prompt: str, fit_steps: int, lr, target_bytes, scaling: int, progress=None
) -> int:
    t, h, w = frames.shape[:3]
    return _gpu_slot(lora_gpu_seconds(t, h, w, fit_steps, scaling))


@spaces.GPU(duration=_compress_lora_duration)
def gpu_compress_lora(
    frames: np.ndarray, fps: float, prompt: str, fit_steps: int, lr, target_bytes, scaling: int, progress=None
) -> tuple[bytes, np.ndarray, float, float]:
    """LoRA codec: fit θ, write the file, decode it. Returns (file bytes, decoded uint8 frames, encode s, decode s)."""
    with user_errors():
        t0 = time.perf_counter()
        data = gencodec.encode(
            frames,
            codec=LORA_CODEC,
            model=VIDEO_MODEL_ARG,
            prompt=prompt,
            fit_steps=fit_steps,
            lr=lr,
            target_bytes=target_bytes,
            scaling=scaling or None,
            fps=fps,
            device=DEVICE,
        )
        t1 = time.perf_counter()
        decoded = gencodec.decode(data, device=DEVICE)
        t2 = time.perf_counter()
    return data, np.ascontiguousarray(decoded), t1 - t0, t2 - t1


def _lora_decode_seconds(meta: dict) -> float:
    return lora_gpu_seconds(meta["frames"], meta["height"], meta["width"], 0, encode=False)


def _edit_lora_duration(data: bytes, prompt: str, progress=None) -> int:
    try:
        return _gpu_slot(2 * _lora_decode_seconds(gencodec.info(data)))
    except Exception:  # noqa: BLE001
        return 60


@spaces.GPU(duration=_edit_lora_duration)
def gpu_edit_lora(data: bytes, prompt: str, progress=None) -> tuple[np.ndarray, np.ndarray, float]:
    """Decode one LoRA file twice: with its stored caption, then with `prompt`. Returns both clips and the seconds."""
    with user_errors():
        t0 = time.perf_counter()
        original = gencodec.decode(data, device=DEVICE)
        edited = gencodec.decode(data, prompt=prompt, device=DEVICE)
    return np.ascontiguousarray(original), np.ascontiguousarray(edited), time.perf_counter() - t0


def _lora_target_bytes(target_kb) -> int | None:
    if target_kb is None or (isinstance(target_kb, str) and not target_kb.strip()):
        return None
    try:
        kb = float(target_kb)
    except (TypeError, ValueError):
        raise gr.Error("the target size must be a number of KB (0 or empty: automatic)", print_exception=False) from None
    if not 0 <= kb <= LORA_TARGET_KB_MAX:
        raise gr.Error(f"the target size must be between 0 and {LORA_TARGET_KB_MAX:g} KB (0: automatic)", print_exception=False)
    return round(kb * KB) or None


def compress_lora(video_path, caption, preset, target_kb, scaling, resolution, max_frames, progress=gr.Progress(track_tqdm=True)):
    """LoRA tab: fit θ to the clip (caption stored in the file), decode it, and report size and quality."""
    with user_errors():
        if not video_path:
            raise gr.Error("Upload a video first (MP4, WebM, MOV or any format ffmpeg reads).", print_exception=False)
        caption = (caption or "").strip()
        if len(caption.encode("utf-8")) > 4096:
            raise gr.Error("the caption is longer than 4096 bytes", print_exception=False)
        if preset not in LORA_PRESET_STEPS:
            raise gr.Error(f"unknown preset '{preset}' (fast or paper)", print_exception=False)
        if preset not in LORA_PRESETS:
            raise gr.Error(
                f"the {preset} preset does not fit one GPU call here; run it from the CLI: {LORA_CLI}", print_exception=False
            )
        target_bytes = _lora_target_bytes(target_kb)
        scaling = _int_setting(scaling, "inference-time scaling", 0, 256, [v for _, v in LORA_SCALING_CHOICES])
        resolution = _int_setting(resolution, "frame size", 0, 4096, [value for _, value in VIDEO_RESOLUTIONS])
        max_frames = _int_setting(max_frames, "max frames", 1, LORA_MAX_FRAMES)
        fit_steps, lr = LORA_PRESET_STEPS[preset]
        started = time.perf_counter()

        progress(0.0, desc="Reading the video")
        frames, fps, source_shape = _read_clip(video_path, max_frames, resolution)
        t, h, w = frames.shape[:3]
        estimate = lora_gpu_seconds(t, h, w, fit_steps, scaling)
        if not VIDEO_TINY and estimate > VIDEO_GPU_CAP_S:
            raise gr.Error(
                f"fitting this clip needs about {estimate:.0f} s of GPU time ({fit_steps} steps), over this app's "
                f"{VIDEO_GPU_CAP_S} s limit: keep fewer frames or a smaller frame size, or run it from the CLI: {LORA_CLI}",
                print_exception=False,
            )

        progress(0.05, desc=f"Fitting θ on {VIDEO_SPEC.id} ({fit_steps} steps) and decoding")
        data, decoded, t_enc, t_dec = gpu_compress_lora(
            frames, fps, caption, fit_steps, lr, target_bytes, scaling, progress=progress
        )

        progress(0.9, desc="Measuring and writing files")
        m = metrics.video_metrics(frames, decoded)
        kind = m["ssim_kind"]
        meta = gencodec.info(data)
        setting = f"{preset}: {fit_steps} fit steps" + (f", scaling {scaling}" if scaling else "")
        table = pd.DataFrame(
            [
                {
                    "Codec": "gencodec lora",
                    "Setting": setting,
                    "Bytes": len(data),
                    "kbps": round(8.0 * len(data) * fps / t / 1000.0, 2),
                    "bpp": round(8.0 * len(data) / (t * h * w), 4),
                    "PSNR (dB)": round(float(m["psnr"]), 2),
                    kind: round(float(m["ssim"]), 4),
                }
            ],
            columns=["Codec", "Setting", "Bytes", "kbps", "bpp", "PSNR (dB)", kind],
        )

        gcodec_path, original_path, decoded_path = _write_clip_files("lora-", video_path, LORA_CODEC, data, frames, decoded, fps)

        row = table.iloc[0]
        lines = [
            f"**{_fmt_bytes(len(data))}** ({len(data) / KB:.2f} KB) · **{row['kbps']:.2f} kbps** at {fps:g} fps · "
            f"**{row['bpp']:.4f} bpp** · PSNR **{row['PSNR (dB)']:.2f} dB** · {kind} **{row[kind]:.4f}** · "
            f"{t} frames, {w}×{h} px",
            f"Preset {preset} ({fit_steps} fit steps"
            + (f", lr {lr:g}" if lr else "")
            + ")"
            + (f" · target {target_bytes:,} B" if target_bytes else " · automatic quantiser step")
            + (f" · inference-time scaling: {scaling} candidates per step" if scaling else "")
            + f" · θ of {meta.get('theta_length', '?'):,} entries · model `{meta['model']}` on {DEVICE} · "
            f"encode {t_enc:.1f} s, decode {t_dec:.1f} s, total {time.perf_counter() - started:.1f} s",
            f"Caption stored in the file: “{html.escape(caption)}”"
            if caption
            else "No caption: the file stores an empty prompt.",
        ]
        notes = []
        coded = _coded_clip(frames.shape, source_shape)
        if coded:
            notes.append(f"Coded clip: {' and '.join(coded)}. The original player shows exactly this clip; every rate is for it.")
        if target_bytes and len(data) < 0.97 * target_bytes:
            notes.append(
                f"The finest quantiser step already fits in {_fmt_bytes(len(data))}, below the {target_bytes:,} B target."
            )
        if kind != "MS-SSIM":
            notes.append(f"A frame side is ≤ 160 px, too small for MS-SSIM: the table shows single-scale {kind}.")
        if VIDEO_TINY:
            notes.append("Tiny random model: the decoded video is noise-like by design (see the banner).")
        summary = "  \n".join(lines + [f"*{n}*" for n in notes])
        progress(1.0)
        return str(original_path), str(decoded_path), summary, table, str(gcodec_path), str(gcodec_path)


def _read_lora_file(path) -> tuple[bytes, dict]:
    path = Path(path if isinstance(path, (str, os.PathLike)) else path.name)
    size = path.stat().st_size
    if size > MAX_GCODEC_FILE_BYTES:
        raise gr.Error(f"not a .gcodec file: {size:,} bytes is far larger than any this app makes", print_exception=False)
    data = path.read_bytes()
    meta = gencodec.info(data)
    if meta.get("codec") != LORA_CODEC:
        raise gr.Error(
            f"edit at decode needs a lora file; this file is {meta.get('codec')} (decode it in the Decode tab)",
            print_exception=False,
        )
    media.check_video_size(meta["width"], meta["height"], meta["frames"])
    return data, meta


def edit_lora(new_prompt, lora_file, last_file=None, progress=gr.Progress(track_tqdm=True)):
    """Edit at decode: decode a lora file with its stored caption and with a new prompt, side by side."""
    with user_errors():
        new_prompt = (new_prompt or "").strip()
        if not new_prompt:
            raise gr.Error("Type the new prompt first.", print_exception=False)
        if len(new_prompt.encode("utf-8")) > 4096:
            raise gr.Error("the prompt is longer than 4096 bytes", print_exception=False)
        source = lora_file or last_file
        if not source:
            raise gr.Error("Compress a video in this tab first, or upload a lora .gcodec file.", print_exception=False)
        data, meta = _read_lora_file(source)
        estimate = 2 * _lora_decode_seconds(meta)
        if not VIDEO_TINY and estimate > VIDEO_GPU_CAP_S:
            raise gr.Error(
                f"two decodes of this file need about {estimate:.0f} s of GPU time, over this app's {VIDEO_GPU_CAP_S} s limit "
                '(run: python -m gencodec decode FILE --prompt "…" -o edited.mp4)',
                print_exception=False,
            )
        _check_file_model(meta.get("model"), VIDEO_SPEC, VIDEO_TINY, VIDEO_TINY_REASON)

        progress(0.05, desc="Decoding with the stored caption and with the new prompt")
        original, edited, seconds = gpu_edit_lora(data, new_prompt, progress=progress)
        fps = meta.get("fps") or 16.0
        out_dir = _work_dir("lora-edit-")
        stem = _safe_stem(source if isinstance(source, (str, os.PathLike)) else source.name, "video")
        original_path, edited_path = out_dir / f"{stem}.decoded.mp4", out_dir / f"{stem}.edited.mp4"
        media.write_atomic(original_path, media.video_to_mp4_bytes(original, fps))
        media.write_atomic(edited_path, media.video_to_mp4_bytes(edited, fps))
        stored = meta.get("prompt") or ""
        summary = (
            f"Same {_fmt_bytes(len(data))} file decoded twice ({seconds:.1f} s): with its caption "
            f"“{html.escape(stored)}” (left) and with “{html.escape(new_prompt)}” (right)."
        )
        if VIDEO_TINY:
            summary += "  \n*Tiny random model: both clips are noise-like by design; they differ only through the prompt.*"
        progress(1.0)
        return str(original_path), str(edited_path), summary


# ---------------------------------------------------------------- Long-video memory tab

MEMORY_RESOLUTIONS = _resolutions(MEMORY_TINY)
MEMORY_BUDGET_RANGE = (1, 1 << 20)
# The tiny model runs on the CPU: a few seconds of small video keep the demo quick.
MEMORY_MAX_FRAMES = 97 if MEMORY_TINY else memory_codec.max_frames()
MEMORY_DEFAULTS = {
    "budget": 512 if MEMORY_TINY else 6240,
    "resolution": MEMORY_RESOLUTIONS[1 if MEMORY_TINY else 0][1],  # tiny: 128 px, so a 512-token budget still compresses
    "max_frames": MEMORY_MAX_FRAMES,
}
MEMORY_RETRIEVERS = [("One-step head (fast, for scrubbing)", "head"), ("DiT (slower, sharper)", "dit")]
MEMORY_DIT_STEPS = memory_codec.DEFAULT_DECODE_STEPS
MEMORY_CONTINUE_MAX_S = 2.0 if MEMORY_TINY else 5.0
MEMORY_CLI = "gencodec encode long.mp4 --codec memory --budget-tokens 6240 -o long.gcodec"
LATENT_TOKENS_480P = 30 * 52  # DiT tokens of one 480p latent frame (832 × 480 px / 16²)


def _memory_scale(height: int, width: int) -> float:
    return max(0.02, height * width / (832 * 480))


def memory_gpu_seconds(frames: int, height: int, width: int) -> float:
    """Estimated GPU seconds for the memory tab's compress call on Wan 2.1 1.3B (uncapped): encode, then retrieve
    every frame with the one-step head.

        compress + head retrieval ≈ 15 + T · s · (0.01 + 0.03)          (head retrieval alone: 10 + T · s · 0.03)
        one frame:  head ≈ 5 + s · 0.03,   DiT ≈ 5 + N · 0.05 · (s + M / 1560)
        continuation of n frames ≈ 10 + N · 0.05 · (L · s + M / 1560) + L · s · 0.1,   L = 1 + ⌈(n − 1) / 4⌉

    T = frames, s = H · W / (832 · 480) (pixels relative to 480p), N = DiT steps, M = memory tokens. 0.01 s is the
    compressor (VAE of the downsampled video, high-res branch) per 480p frame, 0.03 s the head plus a one-frame VAE
    decode, 0.05 s one DiT pass per latent frame of 1560 tokens at 480p (the memory tokens join the sequence).
    A rough budget for ZeroGPU's time slot, not a benchmark.
    """
    return 15 + max(1, frames) * _memory_scale(height, width) * 0.04


def memory_frame_seconds(height: int, width: int, tokens: int, retriever: str, steps: int | None = None) -> float:
    """Estimated GPU seconds to retrieve one frame (see memory_gpu_seconds); steps: MEMORY_DIT_STEPS by default."""
    s, steps = _memory_scale(height, width), MEMORY_DIT_STEPS if steps is None else steps
    return 5 + s * 0.03 if retriever == "head" else 5 + steps * 0.05 * (s + tokens / LATENT_TOKENS_480P)


def memory_continue_seconds(new_frames: int, height: int, width: int, tokens: int, steps: int | None = None) -> float:
    """Estimated GPU seconds to generate `new_frames` after the end (see memory_gpu_seconds)."""
    s, steps = _memory_scale(height, width), MEMORY_DIT_STEPS if steps is None else steps
    latent = 1 + -(-(max(1, new_frames) - 1) // 4)
    return 10 + steps * 0.05 * (latent * s + tokens / LATENT_TOKENS_480P) + latent * s * 0.1


def _memory_decode_seconds(meta: dict) -> float:
    return 10 + meta["frames"] * _memory_scale(meta["height"], meta["width"]) * 0.03


def _compress_memory_duration(frames: np.ndarray, fps: float, budget_tokens: int, progress=None) -> int:
    t, h, w = frames.shape[:3]
    return _gpu_slot(memory_gpu_seconds(t, h, w))


@spaces.GPU(duration=_compress_memory_duration)
def gpu_compress_memory(
    frames: np.ndarray, fps: float, budget_tokens: int, progress=None
) -> tuple[bytes, np.ndarray, float, float]:
    """Memory codec: compress into ≤ budget tokens, then retrieve every frame with the one-step head.

    Returns (file bytes, retrieved uint8 frames, encode s, retrieval s).
    """
    with user_errors():
        t0 = time.perf_counter()
        data = gencodec.encode(
            frames, codec=MEMORY_CODEC, model=MEMORY_MODEL_ARG, budget_tokens=budget_tokens, fps=fps, device=DEVICE
        )
        t1 = time.perf_counter()
        retrieved = gencodec.decode(data, retriever="head", device=DEVICE)
        t2 = time.perf_counter()
    return data, np.ascontiguousarray(retrieved), t1 - t0, t2 - t1


def _memory_frame_duration(data: bytes, frame: int, retriever: str, progress=None) -> int:
    try:
        meta = gencodec.info(data)
        return _gpu_slot(memory_frame_seconds(meta["height"], meta["width"], meta["tokens"], retriever))
    except Exception:  # noqa: BLE001
        return 60


@spaces.GPU(duration=_memory_frame_duration)
def gpu_memory_frame(data: bytes, frame: int, retriever: str, progress=None) -> tuple[np.ndarray, float]:
    """Retrieve one frame (H, W, 3) from a memory file with the head or the DiT; returns it and the seconds."""
    with user_errors():
        t0 = time.perf_counter()
        rgb = gencodec.decode(data, frame=frame, retriever=retriever, steps=MEMORY_DIT_STEPS, device=DEVICE)
    return np.ascontiguousarray(rgb), time.perf_counter() - t0


def _memory_continue_duration(data: bytes, seconds: float, prompt: str, progress=None) -> int:
    try:
        meta = gencodec.info(data)
        n = round(seconds * (meta.get("fps") or 16.0))
        return _gpu_slot(memory_continue_seconds(n, meta["height"], meta["width"], meta["tokens"]))
    except Exception:  # noqa: BLE001
        return 120


@spaces.GPU(duration=_memory_continue_duration)
def gpu_memory_continue(data: bytes, seconds: float, prompt: str, progress=None) -> tuple[np.ndarray, float]:
    """`seconds` of new video after the end of the memory's video, sampled by the DiT from the memory tokens."""
    with user_errors():
        t0 = time.perf_counter()
        clip = gencodec.decode(data, continue_seconds=seconds, prompt=prompt, steps=MEMORY_DIT_STEPS, device=DEVICE)
    return np.ascontiguousarray(clip), time.perf_counter() - t0


MEMORY_TABLE_COLUMNS = [
    "Strides (H×W×T)",
    "Memory tokens",
    "Full context (tokens)",
    "Compression ×",
    "Tokens per second",
    "Bytes",
    "kbps",
    "bpp",
    "PSNR (dB, head)",
]


def _memory_table(meta: dict, mean_psnr: float) -> pd.DataFrame:
    row = [
        meta["mode"],
        int(meta["tokens"]),
        int(meta["full_tokens"]),
        round(float(meta["compression"]), 2),
        round(float(meta["tokens_per_second"]), 2),
        int(meta["total_bytes"]),
        round(float(meta["kbps"]), 2),
        round(float(meta["bpp"]), 4),
        round(mean_psnr, 2),
    ]
    return pd.DataFrame([row], columns=MEMORY_TABLE_COLUMNS)


def _memory_psnr_plot(values: list[float], fps: float) -> pd.DataFrame:
    """One point per frame: PSNR of the head-retrieved frame against the coded one."""
    return pd.DataFrame(
        [
            {"frame": i, "time (s)": round(i / fps, 4), "PSNR (dB)": round(v, 2), "retriever": "head"}
            for i, v in enumerate(values)
        ],
        columns=["frame", "time (s)", "PSNR (dB)", "retriever"],
    )


def _frame_summary(index: int, meta: dict, retriever: str, value: float, seconds: float | None = None) -> str:
    name = "one-step head" if retriever == "head" else f"DiT, {MEMORY_DIT_STEPS} steps"
    fps = meta.get("fps") or 16.0
    return (
        f"Frame **{index}** of {meta['frames']} (t = {index / fps:.2f} s) · retrieved by the {name} from "
        f"{meta['tokens']:,} memory tokens · PSNR **{value:.2f} dB** against the coded frame"
        + ("" if seconds is None else f" · {seconds:.1f} s")
    )


def compress_memory(video_path, budget_tokens, resolution, max_frames, progress=gr.Progress(track_tqdm=True)):
    """Long-video memory tab: compress a video into ≤ budget memory tokens, retrieve every frame with the head."""
    with user_errors():
        if not video_path:
            raise gr.Error("Upload a video first (MP4, WebM, MOV or any format ffmpeg reads).", print_exception=False)
        budget = _int_setting(budget_tokens, "the token budget", *MEMORY_BUDGET_RANGE)
        resolution = _int_setting(resolution, "frame size", 0, 4096, [value for _, value in MEMORY_RESOLUTIONS])
        max_frames = _int_setting(max_frames, "max frames", 1, MEMORY_MAX_FRAMES)
        started = time.perf_counter()

        progress(0.0, desc="Reading the video")
        frames, fps, source_shape = _read_clip(video_path, max_frames, resolution, limit=memory_codec.max_frames())
        t, h, w = frames.shape[:3]
        plan = memory_planner.plan(t, h, w, fps, budget_tokens=budget)  # a budget too small is refused here, on the CPU
        estimate = memory_gpu_seconds(t, h, w)
        if not MEMORY_TINY and estimate > VIDEO_GPU_CAP_S:
            raise gr.Error(
                f"this video needs about {estimate:.0f} s of GPU time, over this app's {VIDEO_GPU_CAP_S} s limit: "
                f"keep fewer frames or pick a smaller frame size, or run it from the CLI: {MEMORY_CLI}",
                print_exception=False,
            )

        progress(0.05, desc=f"Compressing into {plan.tokens:,} memory tokens and retrieving every frame ({MEMORY_SPEC.id})")
        data, retrieved, t_enc, t_ret = gpu_compress_memory(frames, fps, budget, progress=progress)

        progress(0.8, desc="Measuring and writing files")
        meta = gencodec.info(data)
        values = _psnr_per_frame(frames, retrieved)
        mean_psnr = float(np.mean(values))
        gcodec_path, original_path, retrieved_path = _write_clip_files(
            "memory-", video_path, MEMORY_CODEC, data, frames, retrieved, fps
        )
        clip_path = gcodec_path.with_name("coded-clip.npy")  # exact pixels of the coded clip, for the scrubber's PSNR
        np.save(clip_path, frames)
        session = {"data": data, "clip": str(clip_path)}

        lines = [
            f"**{meta['tokens']:,} memory tokens** instead of a full DiT context of {meta['full_tokens']:,} "
            f"(**{meta['compression']:g}× fewer**) · {meta['tokens_per_second']:,.2f} tokens per second of video · "
            f"strides H×W×T {meta['mode']} (budget {budget:,} tokens)",
            f"**{_fmt_bytes(len(data))}** ({len(data) / KB:.2f} KB) · **{meta['kbps']:.2f} kbps** at {fps:g} fps · "
            f"**{meta['bpp']:.4f} bpp** · mean PSNR **{mean_psnr:.2f} dB** (one-step head) · {t} frames, {w}×{h} px",
            f"Model `{meta['model']}` on {DEVICE} · encode {t_enc:.1f} s, head retrieval of every frame {t_ret:.1f} s, "
            f"total {time.perf_counter() - started:.1f} s",
        ]
        notes = []
        coded = _coded_clip(frames.shape, source_shape)
        if coded:
            notes.append(f"Coded clip: {' and '.join(coded)}. The original player shows exactly this clip; every rate is for it.")
        if MEMORY_TINY:
            notes.append("Tiny random model: retrieved frames are noise-like by design (see the banner).")
        elif MEMORY_SPEC.id == models.DEFAULT_MODEL[MEMORY_FAMILY]:  # the registry's real entry: seeded heads
            notes.append(
                "The memory compressor and head are seeded, not pretrained: pretrain them with "
                "`python -m gencodec.memory.train` for faithful retrieval."
            )
        summary = "  \n".join(lines + [f"*{n}*" for n in notes])
        progress(1.0)
        return (
            str(original_path),
            str(retrieved_path),
            summary,
            _memory_table(meta, mean_psnr),
            _memory_psnr_plot(values, fps),
            str(gcodec_path),
            gr.Slider(minimum=0, maximum=max(1, t - 1), value=0, step=1, interactive=True),
            frames[0],
            retrieved[0],
            round(values[0], 2),
            _frame_summary(0, meta, "head", values[0]),
            session,
        )


def _memory_session(session, *, clip: bool) -> tuple[bytes, dict, np.ndarray | None]:
    """(file bytes, info, coded clip as a read-only memory map) of this session's last memory compression."""
    if not isinstance(session, dict) or not session.get("data"):
        raise gr.Error("Compress a video in this tab first.", print_exception=False)
    data = session["data"]
    meta = gencodec.info(data)
    if not clip:
        return data, meta, None
    try:
        frames = np.load(session["clip"], mmap_mode="r")
    except (OSError, ValueError):
        raise gr.Error(
            f"this session's coded clip is gone (files are kept {WORK_MAX_AGE_S // 3600} hours): compress the video again",
            print_exception=False,
        ) from None
    return data, meta, frames


def memory_frame(frame, retriever, session, progress=gr.Progress(track_tqdm=True)):
    """Frame scrubber: retrieve frame `frame` from the memory and compare it with the coded frame."""
    with user_errors():
        if retriever not in [value for _, value in MEMORY_RETRIEVERS]:
            raise gr.Error(f"unknown retriever '{retriever}' (head or dit)", print_exception=False)
        data, meta, frames = _memory_session(session, clip=True)
        index = _int_setting(frame, "the frame", 0, meta["frames"] - 1)
        estimate = memory_frame_seconds(meta["height"], meta["width"], meta["tokens"], retriever)
        if not MEMORY_TINY and estimate > VIDEO_GPU_CAP_S:
            raise gr.Error(
                f"retrieving a frame with the DiT needs about {estimate:.0f} s of GPU time here: use the head",
                print_exception=False,
            )
        progress(0.05, desc=f"Retrieving frame {index}")
        rgb, seconds = gpu_memory_frame(data, index, retriever, progress=progress)
        original = np.array(frames[index])
        value = min(metrics.PSNR_CAP_DB, float(metrics.psnr(original, rgb)))
        return original, rgb, round(value, 2), _frame_summary(index, meta, retriever, value, seconds)


def _memory_frame_after_compress(frame, retriever, session):
    """The scrubber's own events: nothing to retrieve before the first compression (no error pop-up)."""
    if not session:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip()
    return memory_frame(frame, retriever, session)


def memory_continue(seconds, prompt, session, progress=gr.Progress(track_tqdm=True)):
    """Continue: the DiT generates `seconds` of new video after the end, from the memory tokens and a prompt."""
    with user_errors():
        prompt = (prompt or "").strip()
        if len(prompt.encode("utf-8")) > 4096:
            raise gr.Error("the prompt is longer than 4096 bytes", print_exception=False)
        try:
            seconds = float(seconds)
        except (TypeError, ValueError):
            seconds = float("nan")
        if not 0 < seconds <= MEMORY_CONTINUE_MAX_S:
            raise gr.Error(f"the continuation must be between 0 and {MEMORY_CONTINUE_MAX_S:g} seconds", print_exception=False)
        data, meta, _ = _memory_session(session, clip=False)
        fps = meta.get("fps") or 16.0
        n = round(seconds * fps)
        if n < 1:
            raise gr.Error(f"{seconds:g} s at {fps:g} fps is less than one frame", print_exception=False)
        estimate = memory_continue_seconds(n, meta["height"], meta["width"], meta["tokens"])
        if not MEMORY_TINY and estimate > VIDEO_GPU_CAP_S:
            raise gr.Error(
                f"this continuation needs about {estimate:.0f} s of GPU time, over this app's {VIDEO_GPU_CAP_S} s limit: "
                "ask for fewer seconds",
                print_exception=False,
            )
        progress(0.05, desc=f"Generating {n} frames after the end with the DiT ({MEMORY_DIT_STEPS} steps)")
        clip, t_gen = gpu_memory_continue(data, seconds, prompt, progress=progress)
        out_path = _work_dir("memory-continue-") / "continuation.mp4"
        media.write_atomic(out_path, media.video_to_mp4_bytes(clip, fps))
        summary = (
            f"{len(clip)} new frames ({len(clip) / fps:.2f} s at {fps:g} fps) after frame {meta['frames'] - 1}, generated "
            f"by the DiT from the {meta['tokens']:,} memory tokens only"
            + (f", prompt “{html.escape(prompt)}”" if prompt else ", no prompt")
            + f" · {t_gen:.1f} s"
        )
        if MEMORY_TINY:
            summary += "  \n*Tiny random model: the continuation is noise-like by design.*"
        return str(out_path), summary


# ---------------------------------------------------------------- Decode tab


def _check_file_model(file_model, spec: models.ModelSpec, tiny: bool, reason: str | None) -> None:
    if tiny and file_model not in (spec.id, "tiny") and not models.force_tiny():
        raise gr.Error(
            f"this file was made with {file_model}, whose weights this app cannot load ({reason})", print_exception=False
        )
    if models.force_tiny() and file_model != spec.id:
        gr.Warning(f"this file was made with {file_model}; GENCODEC_MODELS=tiny decodes it with the tiny random model")


def decode_file(gcodec_file, progress=gr.Progress(track_tqdm=True)):
    """Decode tab: a .gcodec file → its header info and the decoded image (PNG) or video (MP4).

    One endpoint for both: outputs are plain values (info, image, video, download), the one that does not apply
    is None, so API clients read slot 1 for images and slot 2 for videos. The UI then shows the player that
    applies (`_show_decoded`, a private follow-up event).
    """
    with user_errors():
        if not gcodec_file:
            raise gr.Error("Upload a .gcodec file first.", print_exception=False)
        path = Path(gcodec_file if isinstance(gcodec_file, (str, os.PathLike)) else gcodec_file.name)
        size = path.stat().st_size
        if size > MAX_GCODEC_FILE_BYTES:
            raise gr.Error(
                f"not a .gcodec file: {size:,} bytes is far larger than any this app makes "
                f"(limit {MAX_GCODEC_FILE_BYTES // 2**20} MiB)",
                print_exception=False,
            )
        data = path.read_bytes()
        try:
            meta = gencodec.info(data)  # every structural check (magic, CRC, lengths) before any model work
        except gencodec.FormatError as exc:
            foreign = _foreign_kind(data)
            if foreign and "not a .gcodec file" in str(exc):
                kind, tab = foreign
                raise gr.Error(
                    f"not a .gcodec file: this is {kind} — compress it in the {tab} tab first", print_exception=False
                ) from None
            raise
        kind = meta.get("media")
        if kind == "image":
            limit = media.max_image_side()
            if meta["width"] > limit or meta["height"] > limit:
                raise gr.Error(
                    f"the file declares a {meta['width']}×{meta['height']} image; the limit is {limit}×{limit} pixels",
                    print_exception=False,
                )
            _check_file_model(meta.get("model"), MODEL_SPEC, TINY, TINY_REASON)
        elif kind == "video":
            codec = meta.get("codec")
            is_memory = codec == MEMORY_CODEC  # every frame, retrieved with the one-step head (scrubbing: memory tab)
            # the app's limits, before any model work (long videos: the memory codec's own frame limit)
            media.check_video_size(meta["width"], meta["height"], meta["frames"],
                                   memory_codec.max_frames() if is_memory else None)
            # lora: decoded with its stored caption (edits: the LoRA tab)
            if codec not in (LORA_CODEC, MEMORY_CODEC) and (codec != VIDEO_CODEC or meta.get("mode") != "t2v"):
                raise gr.Error(
                    f"this app decodes GVC videos in T2V mode, lora and memory videos; this file is {codec} in "
                    f"{meta.get('mode')} mode (decode it with: python -m gencodec decode FILE -o out.mp4)",
                    print_exception=False,
                )
            tiny = MEMORY_TINY if is_memory else VIDEO_TINY
            estimate = _video_file_decode_seconds(meta)
            if not tiny and estimate > VIDEO_GPU_CAP_S:
                raise gr.Error(
                    f"decoding this file needs about {estimate:.0f} s of GPU time, over this app's {VIDEO_GPU_CAP_S} s "
                    "limit (decode it with: python -m gencodec decode FILE -o out.mp4)",
                    print_exception=False,
                )
            if is_memory:
                _check_file_model(meta.get("model"), MEMORY_SPEC, MEMORY_TINY, MEMORY_TINY_REASON)
            else:
                _check_file_model(meta.get("model"), VIDEO_SPEC, VIDEO_TINY, VIDEO_TINY_REASON)
        else:
            raise gr.Error(f"this app decodes image and video files; this file holds a {kind}", print_exception=False)

        progress(0.05, desc="Decoding")
        decoded, t_dec = gpu_decode(data, progress=progress)
        meta["decode_seconds"] = round(t_dec, 2)

        out_dir = _work_dir("decode-")
        stem = _safe_stem(path.name, "decoded")
        if kind == "image":
            out_path = out_dir / f"{stem}.decoded.png"
            media.write_atomic(out_path, media.image_to_png_bytes(decoded))
            return meta, decoded, None, str(out_path)
        out_path = out_dir / f"{stem}.decoded.mp4"
        media.write_atomic(out_path, media.video_to_mp4_bytes(decoded, meta.get("fps") or 16.0))
        return meta, None, str(out_path), str(out_path)


def _show_decoded(meta):
    """Show the image or the video player of the Decode tab, after a successful decode."""
    is_video = isinstance(meta, dict) and meta.get("media") == "video"
    return gr.Image(visible=not is_video), gr.Video(visible=is_video)


# ---------------------------------------------------------------- layout


def _bar_plot(y: str, title: str, y_title: str) -> gr.BarPlot:
    """One bar per codec, ours highlighted."""
    return gr.BarPlot(
        x="codec",
        y=y,
        color="kind",
        color_map={"ours": "#d97706", "baseline": "#64748b"},
        title=title,
        x_title="",
        y_title=y_title,
        sort=PLOT_ORDER,
        height=260,
    )


def _plot_from_cache(payload):
    """Read a cached gr.BarPlot value back.

    Gradio 6.31's native plots have no data model, so `Examples.load_from_cache` hands the browser the JSON
    *string* stored in the cache; the plot's frontend then throws ("reading 'indexOf'") and every output stays
    in "processing". Set per instance: subclassing a Gradio component would make Gradio write an app.pyi stub.
    """
    if isinstance(payload, str):
        try:
            return json.loads(payload) if payload.strip() else None
        except ValueError:
            return None
    return payload


ABOUT = f"""
**What it does.** The image is encoded by Stable Diffusion v1.4's VAE into a latent 8× smaller in each direction
(4 channels). The latent is quantised and entropy coded into a `.gcodec` file. The decoder dequantises it, lets the
UNet remove the quantisation noise in a few denoising steps (empty prompt), and decodes with the VAE.
*Faithful* mode is Bühlmann's 2022 pipeline (256-colour palette of the latent with dithering, zlib, ≈5 KB at 512×512,
fixed size). *Target size* is our improved mode: a uniform quantiser chosen by rate control so the whole file fits in the
target, a context-modelled range coder, and denoising matched to the quantisation error.

**Honest limits.** The decoded image is a *plausible reconstruction*, not a faithful copy: at these rates the diffusion
model invents detail. Faces, small text, logos and fine textures can be changed or hallucinated. PSNR is often lower
than JPEG's at the same size even when the result looks sharper. Do not use it where the exact content matters.

**Rates.** Size = bytes of the whole `.gcodec` file (header, sections and checksum included); bpp = 8 · bytes / (H · W).
1 KB = {KB} bytes. Baselines (JPEG, WebP, AVIF, JPEG XL via Pillow) use the *lowest* quality whose file is at least as
large as ours, so they never get fewer bytes. Images up to {media.max_image_side()}×{media.max_image_side()} px;
other sizes are padded to a multiple of 8 and cropped back.

**Video (GVC, Wan 2.1 T2V 1.3B).** Frames are cut into groups (GOPs) of G frames; Wan's VAE turns each GOP into a
latent of (G − 1)/4 + 1 frames. Encoder and decoder run the same stochastic sampler from the same seeded noise. At each
of the first N − 3 steps, for every latent frame, the encoder picks the M of K seeded Gaussian codebook atoms (and
their signs) that best point from the sampler's current clean estimate towards the real latent, and uses their sum as
that step's noise; the last 3 steps are deterministic. The `.gcodec` file holds only these choices
(⌈log2 C(K, M)⌉ + M bits per latent frame and step) and the decoder replays them. Bitrate knobs: M and K.
The app codes **T2V** mode (no reference frame is sent). I2V (first frame sent, GOPs chained) and FLF2V (GOP
boundary frames sent) use Wan's 14B checkpoints and run from the CLI: `gencodec encode clip.mp4 --codec gvc --mode i2v`. The decoded video is a *generated* clip steered towards yours: motion, faces, text and fine texture can
differ. Videos up to 1080p and {media.max_video_frames()} frames are accepted; the app downscales to 480p and keeps
the first frames by default to fit the GPU time slot. kbps = 8 · bytes / duration at the source frame rate;
bpp = 8 · bytes / (frames · H · W). Baselines (x264, x265, AV1 via ffmpeg, mp4 files) use the *highest* CRF whose
file is at least as large as ours.

**Long-video memory (Wan 2.1 T2V 1.3B + memory compressor).** Wan's DiT sees a video as a token grid of
(1 + ⌈(T − 1)/4⌉) × H/16 × W/16 tokens (the *full context*). The compressor merges that grid by strides H×W×T,
chosen as the largest memory that fits the token budget, into memory tokens the DiT attends to; the file keeps the
compressor's features before its fixed linear maps, quantised and range coded. Retrieval: the DiT samples a frame's
latent from noise with the memory tokens prepended to its sequence ({MEMORY_DIT_STEPS} Euler steps), or the one-step
regression head predicts it directly (deterministic, fast; the tab's PSNR curve and the Decode tab use it).
Continuation: the DiT samples new latent frames after the video's end. Videos up to {memory_codec.max_frames()} frames
(`GENCODEC_MAX_MEMORY_FRAMES`); PSNR is against the coded (downscaled) clip.
"""

CSS = """
#compress-summary p { margin: 2px 0; }
"""
PLOT_ORDER = ["gencodec"] + [baselines.IMAGE_CODEC_NAMES[c] for c in baselines.IMAGE_CODECS]


def _examples() -> list[list]:
    wanted = [("astronaut.jpg", "faithful", TARGET_KB_DEFAULT), ("coffee.jpg", "target", 3.0), ("chelsea.png", "target", 2.0)]
    return [[str(EXAMPLES_DIR / name), mode, kb] for name, mode, kb in wanted if (EXAMPLES_DIR / name).is_file()]


def _video_examples() -> list[list]:
    path = EXAMPLES_DIR / "sunset_hills.mp4"
    if not path.is_file():
        return []
    d = VIDEO_DEFAULTS
    return [[str(path), "t2v", d["atoms"], d["codebook_size"], d["steps"], d["gop"], d["resolution"], d["max_frames"]]]


def _memory_examples() -> list[list]:
    path = EXAMPLES_DIR / "sunset_hills.mp4"
    if not path.is_file():
        return []
    d = MEMORY_DEFAULTS
    return [[str(path), d["budget"], d["resolution"], d["max_frames"]]]


@contextlib.contextmanager
def _examples_cache_for_model():
    """Keep cached example outputs per model, so tiny-model outputs are never shown once real weights are in use."""
    previous = os.environ.get("GRADIO_EXAMPLES_CACHE")
    os.environ["GRADIO_EXAMPLES_CACHE"] = str(Path(previous or ".gradio/cached_examples") / f"{MODEL_SPEC.id}+{VIDEO_SPEC.id}")
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("GRADIO_EXAMPLES_CACHE", None)
        else:
            os.environ["GRADIO_EXAMPLES_CACHE"] = previous


def _clip_size_inputs(resolutions, resolution, max_frames: int, default_frames: int, tiny_cap: int | None):
    """The video tabs' frame-size dropdown and max-frames slider (one row)."""
    with gr.Row():
        res = gr.Dropdown(resolutions, value=resolution, label="Frame size (short side)",
                          info="downscaled with Pillow, aspect kept, never upscaled")
        frames = gr.Slider(1, max_frames, value=default_frames, step=1, label="Max frames",
                           info="the first N frames are coded" + (f" (tiny-model demo: at most {tiny_cap})" if tiny_cap else ""))
    return res, frames


with gr.Blocks(title="gencodec — generative image and video compression", delete_cache=(3600, 7200)) as demo:
    banner = gr.Markdown(
        banner_markdown(), visible=TINY or VIDEO_TINY or MEMORY_TINY, elem_id="tiny-banner-box", sanitize_html=False
    )
    gr.Markdown(
        "# gencodec: generative image and video compression\n"
        "Compress an image into a few kilobytes in Stable Diffusion's latent space, or a video into the codebook "
        "choices that steer Wan 2.1's sampler, then compare with classical codecs at the same file size; or keep a long "
        "video as a fixed budget of memory tokens for Wan's DiT and retrieve any frame back."
    )
    with gr.Tab("Image (SD latent)", id="image"):
        with gr.Row():
            with gr.Column(scale=2, min_width=280):
                in_image = gr.Image(
                    type="filepath",
                    image_mode=None,  # hand the uploaded file over untouched; gencodec reads and checks it
                    label=f"Image (up to {media.max_image_side()}×{media.max_image_side()} px)",
                    sources=["upload", "clipboard"],
                    height=320,
                    elem_id="input-image",
                )
                in_mode = gr.Radio(MODE_CHOICES, value="faithful", label="Mode")
                in_target = gr.Slider(
                    TARGET_KB_RANGE[0],
                    TARGET_KB_RANGE[1],
                    value=TARGET_KB_DEFAULT,
                    step=0.1,
                    label=f"Target size (KB, 1 KB = {KB} bytes)",
                    info="The whole .gcodec file lands in [97 %, 100 %] of the target when the image allows it.",
                    visible=False,
                )
                btn_compress = gr.Button("Compress", variant="primary", elem_id="compress-button")
            with gr.Column(scale=3, min_width=320):
                out_slider = gr.ImageSlider(
                    label="Original ◀ ▶ decoded (drag the handle)",
                    type="numpy",
                    format="png",
                    interactive=False,
                    max_height=520,
                    elem_id="main-result",
                )
                out_summary = gr.Markdown(elem_id="compress-summary")
                out_file = gr.File(label="Download the .gcodec file", interactive=False, elem_id="gcodec-file")
        out_table = gr.Dataframe(
            label="Ours vs classical codecs at ≥ our size",
            headers=["Codec", "Quality", "Bytes", "bpp", "PSNR (dB)", "MS-SSIM"],
            datatype=["str", "str", "number", "number", "number", "number"],
            interactive=False,
            elem_id="results-table",
        )
        with gr.Row():
            out_bytes_plot = _bar_plot("bytes", "File size (bytes)", "bytes")
            out_psnr_plot = _bar_plot("psnr", "PSNR (dB, higher is closer to the original)", "PSNR (dB)")
        for plot in (out_bytes_plot, out_psnr_plot):
            plot.read_from_flag = _plot_from_cache
        out_gallery = gr.Gallery(
            label="Decoded images (PNG): ours and the baselines",
            format="png",
            columns=5,
            height=300,
            object_fit="contain",
            interactive=False,
            elem_id="gallery",
        )
        compress_outputs = [out_slider, out_summary, out_table, out_bytes_plot, out_psnr_plot, out_gallery, out_file]
        btn_compress.click(
            compress_image,
            inputs=[in_image, in_mode, in_target],
            outputs=compress_outputs,
            api_name="compress_image",
            concurrency_id="codec",
        )
        in_mode.change(
            lambda m: gr.Slider(visible=m == "target"), inputs=in_mode, outputs=in_target, api_visibility="private", queue=False
        )
        if _examples():
            with _examples_cache_for_model():
                gr.Examples(
                    examples=_examples(),
                    inputs=[in_image, in_mode, in_target],
                    outputs=compress_outputs,
                    fn=compress_image,
                    cache_examples=True,
                    cache_mode="lazy",
                    label="Examples (public domain / CC0, see examples/README.md)",
                )

    with gr.Tab("Video (GVC)", id="video"):
        with gr.Row():
            with gr.Column(scale=2, min_width=300):
                in_video = gr.Video(
                    label=f"Video (up to 1080p, {media.max_video_frames()} frames)",
                    sources=["upload"],
                    include_audio=True,  # hand the uploaded file over untouched (no ffmpeg pass); audio is ignored
                    height=260,
                    elem_id="input-video",
                )
                in_vmode = gr.Radio(VIDEO_MODES, value="t2v", label="Mode", elem_id="video-mode")
                gr.Markdown(
                    "<small>I2V and FLF2V (reference frames sent; Wan 14B) run from the CLI: "
                    "<code>gencodec encode clip.mp4 --codec gvc --mode i2v</code>.</small>"
                )
                with gr.Row():
                    in_atoms = gr.Slider(
                        *VIDEO_ATOMS_RANGE,
                        value=VIDEO_DEFAULTS["atoms"],
                        step=1,
                        label="Atoms M",
                        info="per latent frame and step: more atoms, more bits",
                    )
                    in_k = gr.Dropdown(
                        VIDEO_K_CHOICES,
                        value=VIDEO_DEFAULTS["codebook_size"],
                        label="Codebook size K",
                        info="bits grow with log K" + (" (tiny model: CPU search, keep K small)" if VIDEO_TINY else ""),
                    )
                with gr.Row():
                    in_steps = gr.Slider(
                        *VIDEO_STEPS_RANGE,
                        value=VIDEO_DEFAULTS["steps"],
                        step=1,
                        label="Sampler steps",
                        info="the last 3 are deterministic (no bits)",
                    )
                    in_gop = gr.Radio(
                        list(VIDEO_GOPS),
                        value=VIDEO_DEFAULTS["gop"],
                        label="GOP (frames)",
                        info="frames per Wan clip; a short last GOP is padded",
                    )
                in_res, in_max_frames = _clip_size_inputs(
                    VIDEO_RESOLUTIONS, VIDEO_DEFAULTS["resolution"], VIDEO_MAX_FRAMES, VIDEO_DEFAULTS["max_frames"],
                    TINY_VIDEO_MAX_FRAMES if VIDEO_TINY else None,
                )
                btn_video = gr.Button("Compress video", variant="primary", elem_id="compress-video-button")
            with gr.Column(scale=3, min_width=320):
                with gr.Row():
                    out_vorig = gr.Video(
                        label="Original (the clip that was coded)", interactive=False, height=300, elem_id="video-original"
                    )
                    out_vdec = gr.Video(label="Decoded by gencodec (GVC)", interactive=False, height=300, elem_id="video-decoded")
                out_vsummary = gr.Markdown(elem_id="video-summary")
                out_vfile = gr.File(label="Download the .gcodec file", interactive=False, elem_id="video-gcodec-file")
        out_vtable = gr.Dataframe(
            label="Ours vs x264 / x265 / AV1 at ≥ our size (kbps at the source frame rate)",
            headers=["Codec", "Setting", "Bytes", "kbps", "bpp", "PSNR (dB)", "MS-SSIM"],
            datatype=["str", "str", "number", "number", "number", "number", "number"],
            interactive=False,
            elem_id="video-results-table",
        )
        out_vplot = gr.LinePlot(
            x="time (s)",
            y="PSNR (dB)",
            color="codec",
            color_map=VIDEO_COLORS,
            tooltip=["codec", "frame", "PSNR (dB)"],
            title="PSNR of every frame (dB, higher is closer to the coded clip)",
            x_title="time (s) at the source frame rate",
            y_title="PSNR (dB)",
            height=280,
            elem_id="video-psnr-plot",
        )
        out_vplot.read_from_flag = _plot_from_cache
        video_inputs = [in_video, in_vmode, in_atoms, in_k, in_steps, in_gop, in_res, in_max_frames]
        video_outputs = [out_vorig, out_vdec, out_vsummary, out_vtable, out_vplot, out_vfile]
        btn_video.click(
            compress_video,
            inputs=video_inputs,
            outputs=video_outputs,
            api_name="compress_video",
            concurrency_id="codec",
        )
        if _video_examples():
            with _examples_cache_for_model():
                gr.Examples(
                    examples=_video_examples(),
                    inputs=video_inputs,
                    outputs=video_outputs,
                    fn=compress_video,
                    cache_examples=True,
                    cache_mode="lazy",
                    label="Example (procedurally generated, see examples/README.md)",
                )

    with gr.Tab("LoRA (implicit)", id="lora"):
        gr.Markdown(
            "The clip is stored as a *function*: one vector θ of rank-1 adapters on the frozen Wan 2.1 T2V model, "
            "fitted to the clip with the flow-matching loss (Compression as Adaptation). The file holds the quantised θ "
            "and the caption; decoding runs the adapted model from seeded noise, and a new prompt at decode time edits "
            "the video."
            + (
                ""
                if "paper" in LORA_PRESETS
                else f"  \n<small>The *paper* preset ({LORA_PRESET_STEPS['paper'][0]} fit steps) needs more GPU time "
                f"than one call of this Space allows; run it from the CLI: <code>{html.escape(LORA_CLI)}</code>.</small>"
            ),
            sanitize_html=False,
        )
        with gr.Row():
            with gr.Column(scale=2, min_width=300):
                in_lvideo = gr.Video(
                    label=f"Video (one clip, up to {LORA_MAX_CLIP_FRAMES} frames coded)",
                    sources=["upload"],
                    include_audio=True,
                    height=260,
                    elem_id="lora-input-video",
                )
                in_caption = gr.Textbox(
                    label="Caption (the prompt stored in the file)",
                    placeholder="a short description of the clip",
                    lines=2,
                    max_length=4096,
                    elem_id="lora-caption",
                )
                with gr.Row():
                    in_preset = gr.Radio(
                        LORA_PRESETS,
                        value="fast",
                        label="Preset",
                        info=", ".join(f"{p}: {LORA_PRESET_STEPS[p][0]} fit steps" for p in LORA_PRESETS),
                        elem_id="lora-preset",
                    )
                    in_lscaling = gr.Dropdown(
                        LORA_SCALING_CHOICES,
                        value=0,
                        label="Inference-time scaling",
                        info="N seeded candidates per decode step, choices stored: ⌈log2 N⌉ + 1 bits per step",
                    )
                in_ltarget = gr.Number(
                    value=0,
                    minimum=0,
                    maximum=LORA_TARGET_KB_MAX,
                    label=f"Target size (KB, 1 KB = {KB} bytes; 0 = automatic quantiser step)",
                )
                in_lres, in_lmax_frames = _clip_size_inputs(
                    VIDEO_RESOLUTIONS, VIDEO_DEFAULTS["resolution"], LORA_MAX_FRAMES,
                    min(LORA_DEFAULT_FRAMES, LORA_MAX_FRAMES), TINY_VIDEO_MAX_FRAMES if VIDEO_TINY else None,
                )
                gr.Markdown(
                    "<small>GPU estimate: 15 + F·L·s·0.15 + 50·L·s·0.05 s (F fit steps, L = latent frames = (T − 1)/4 + 1, "
                    f"s = pixels / 480p); clips over {VIDEO_GPU_CAP_S} s are refused: use the CLI.</small>",
                    sanitize_html=False,
                )
                btn_lora = gr.Button("Compress (fit θ)", variant="primary", elem_id="compress-lora-button")
            with gr.Column(scale=3, min_width=320):
                with gr.Row():
                    out_lorig = gr.Video(
                        label="Original (the clip that was coded)", interactive=False, height=300, elem_id="lora-original"
                    )
                    out_ldec = gr.Video(label="Decoded (stored caption)", interactive=False, height=300, elem_id="lora-decoded")
                out_lsummary = gr.Markdown(elem_id="lora-summary")
                out_ltable = gr.Dataframe(
                    label="Size and quality of the decoded clip",
                    headers=["Codec", "Setting", "Bytes", "kbps", "bpp", "PSNR (dB)", "MS-SSIM"],
                    datatype=["str", "str", "number", "number", "number", "number", "number"],
                    interactive=False,
                    elem_id="lora-results-table",
                )
                out_lfile = gr.File(label="Download the .gcodec file", interactive=False, elem_id="lora-gcodec-file")
        last_lora = gr.State(None)  # path of the last .gcodec file encoded in this session
        with gr.Accordion("Edit at decode: decode the same file with another prompt", open=True):
            with gr.Row():
                with gr.Column(scale=2, min_width=300):
                    in_edit_prompt = gr.Textbox(label="New prompt", lines=2, max_length=4096, elem_id="lora-edit-prompt")
                    in_edit_file = gr.File(
                        label="lora .gcodec file (optional: empty = the last one compressed above)",
                        type="filepath",
                        elem_id="lora-edit-file",
                    )
                    btn_edit = gr.Button("Decode with the new prompt", variant="primary", elem_id="edit-lora-button")
                with gr.Column(scale=3, min_width=320):
                    with gr.Row():
                        out_edit_orig = gr.Video(
                            label="Decoded with the stored caption", interactive=False, height=300, elem_id="lora-edit-original"
                        )
                        out_edit_new = gr.Video(
                            label="Decoded with the new prompt", interactive=False, height=300, elem_id="lora-edit-edited"
                        )
                    out_edit_summary = gr.Markdown(elem_id="lora-edit-summary")
        btn_lora.click(
            compress_lora,
            inputs=[in_lvideo, in_caption, in_preset, in_ltarget, in_lscaling, in_lres, in_lmax_frames],
            outputs=[out_lorig, out_ldec, out_lsummary, out_ltable, out_lfile, last_lora],
            api_name="compress_lora",
            concurrency_id="codec",
        ).success(lambda: None, outputs=in_edit_file, api_visibility="private", queue=False)  # edits now use this file
        btn_edit.click(
            edit_lora,
            inputs=[in_edit_prompt, in_edit_file, last_lora],
            outputs=[out_edit_orig, out_edit_new, out_edit_summary],
            api_name="edit_lora",
            concurrency_id="codec",
        )

    with gr.Tab("Long-video memory", id="memory"):
        gr.Markdown(
            "A long video becomes a fixed budget of **memory tokens** for the Wan 2.1 DiT: a compressor merges the DiT's "
            "token grid by strides chosen to fit the budget (a low-res branch through the DiT's own patch embedding plus "
            "a gated high-res branch). The `.gcodec` file holds the quantised memory; any frame is retrieved from the "
            "tokens alone, by the DiT (slower, sharper) or by a one-step regression head (fast: used for scrubbing and "
            "the PSNR curve), and the DiT can continue the video after its end."
            + (
                ""
                if MEMORY_TINY
                else "  \n<small>The real model's compressor and head are seeded, not pretrained: pretrain them with "
                "<code>python -m gencodec.memory.train</code> and use the folder from the CLI "
                "(<code>--model FOLDER</code>).</small>"
            ),
            sanitize_html=False,
        )
        with gr.Row():
            with gr.Column(scale=2, min_width=300):
                in_mvideo = gr.Video(
                    label=f"Long video (up to 1080p, {memory_codec.max_frames()} frames)",
                    sources=["upload"],
                    include_audio=True,  # hand the uploaded file over untouched; audio is ignored
                    height=260,
                    elem_id="memory-input-video",
                )
                in_budget = gr.Number(
                    value=MEMORY_DEFAULTS["budget"],
                    minimum=MEMORY_BUDGET_RANGE[0],
                    maximum=MEMORY_BUDGET_RANGE[1],
                    precision=0,
                    label="Token budget (at most N memory tokens)",
                    info="strides are chosen so the memory has the most tokens that fit",
                    elem_id="memory-budget",
                )
                in_mres, in_mmax_frames = _clip_size_inputs(
                    MEMORY_RESOLUTIONS, MEMORY_DEFAULTS["resolution"], MEMORY_MAX_FRAMES, MEMORY_DEFAULTS["max_frames"],
                    MEMORY_MAX_FRAMES if MEMORY_TINY else None,
                )
                gr.Markdown(
                    "<small>GPU estimate: 15 + T·s·0.04 s (T frames, s = pixels / 480p); "
                    f"videos over {VIDEO_GPU_CAP_S} s are refused: use the CLI.</small>",
                    sanitize_html=False,
                )
                btn_memory = gr.Button("Compress", variant="primary", elem_id="compress-memory-button")
            with gr.Column(scale=3, min_width=320):
                with gr.Row():
                    out_morig = gr.Video(
                        label="Original (the clip that was coded)", interactive=False, height=300, elem_id="memory-original"
                    )
                    out_mret = gr.Video(
                        label="Retrieved from memory (one-step head)", interactive=False, height=300, elem_id="memory-retrieved"
                    )
                out_msummary = gr.Markdown(elem_id="memory-summary")
                out_mfile = gr.File(label="Download the .gcodec file", interactive=False, elem_id="memory-gcodec-file")
        out_mtable = gr.Dataframe(
            label="Memory tokens vs the full DiT context, size and quality",
            headers=MEMORY_TABLE_COLUMNS,
            datatype=["str"] + ["number"] * (len(MEMORY_TABLE_COLUMNS) - 1),
            interactive=False,
            elem_id="memory-results-table",
        )
        with gr.Row():
            with gr.Column(scale=2, min_width=300):
                in_frame = gr.Slider(
                    0, 1, value=0, step=1, label="Frame (scrub after compressing)", interactive=False, elem_id="memory-frame"
                )
                in_retriever = gr.Radio(MEMORY_RETRIEVERS, value="head", label="Retriever", elem_id="memory-retriever")
                out_frame_psnr = gr.Number(None, label="PSNR of this frame (dB)", interactive=False, elem_id="memory-frame-psnr")
                out_frame_summary = gr.Markdown(elem_id="memory-frame-summary")
            with gr.Column(scale=3, min_width=320), gr.Row():
                out_frame_orig = gr.Image(
                    label="Original frame",
                    type="numpy",
                    format="png",
                    interactive=False,
                    height=260,
                    elem_id="memory-frame-original",
                )
                out_frame_ret = gr.Image(
                    label="Retrieved frame",
                    type="numpy",
                    format="png",
                    interactive=False,
                    height=260,
                    elem_id="memory-frame-retrieved",
                )
        out_mplot = gr.LinePlot(
            x="frame",
            y="PSNR (dB)",
            color="retriever",
            color_map={"head": "#d97706"},
            tooltip=["frame", "time (s)", "PSNR (dB)"],
            title="PSNR of every retrieved frame (one-step head, dB against the coded clip)",
            x_title="frame",
            y_title="PSNR (dB)",
            height=260,
            elem_id="memory-psnr-plot",
        )
        out_mplot.read_from_flag = _plot_from_cache
        with gr.Accordion("Continue: generate video after the end, from the memory tokens", open=False):
            with gr.Row():
                with gr.Column(scale=2, min_width=300):
                    in_cont_seconds = gr.Slider(
                        0.5, MEMORY_CONTINUE_MAX_S, value=1.0, step=0.5, label="Seconds", elem_id="memory-continue-seconds"
                    )
                    in_cont_prompt = gr.Textbox(
                        label="Prompt (optional)", lines=2, max_length=4096, elem_id="memory-continue-prompt"
                    )
                    btn_continue = gr.Button("Continue the video", elem_id="memory-continue-button")
                with gr.Column(scale=3, min_width=320):
                    out_cont = gr.Video(label="Continuation", interactive=False, height=300, elem_id="memory-continuation")
                    out_cont_summary = gr.Markdown(elem_id="memory-continue-summary")
        memory_session = gr.State(None)  # {"data": bytes of the last memory file, "clip": path of its coded frames}
        frame_outputs = [out_frame_orig, out_frame_ret, out_frame_psnr, out_frame_summary]
        btn_memory.click(
            compress_memory,
            inputs=[in_mvideo, in_budget, in_mres, in_mmax_frames],
            outputs=[
                out_morig,
                out_mret,
                out_msummary,
                out_mtable,
                out_mplot,
                out_mfile,
                in_frame,
                *frame_outputs,
                memory_session,
            ],
            api_name="memory_compress",
            concurrency_id="codec",
        )
        in_frame.release(
            memory_frame,
            inputs=[in_frame, in_retriever, memory_session],
            outputs=frame_outputs,
            api_name="memory_frame",
            concurrency_id="codec",
            trigger_mode="always_last",
        )
        in_retriever.input(
            _memory_frame_after_compress,
            inputs=[in_frame, in_retriever, memory_session],
            outputs=frame_outputs,
            api_visibility="private",
            concurrency_id="codec",
            trigger_mode="always_last",
        )
        btn_continue.click(
            memory_continue,
            inputs=[in_cont_seconds, in_cont_prompt, memory_session],
            outputs=[out_cont, out_cont_summary],
            api_name="memory_continue",
            concurrency_id="codec",
        )
        if _memory_examples():
            gr.Examples(  # not cached: the outputs include this session's scrubber state
                examples=_memory_examples(),
                inputs=[in_mvideo, in_budget, in_mres, in_mmax_frames],
                label="Example (procedurally generated, see examples/README.md)",
            )

    with gr.Tab("Decode", id="decode"):
        with gr.Row():
            with gr.Column(scale=2, min_width=280):
                in_gcodec = gr.File(
                    label=".gcodec file (image; GVC, lora or memory video)", type="filepath", elem_id="input-gcodec"
                )
                btn_decode = gr.Button("Decode", variant="primary", elem_id="decode-button")
                out_info = gr.JSON(label="File info (gencodec.info)", open=True, elem_id="decode-info")
            with gr.Column(scale=3, min_width=320):
                out_decoded = gr.Image(
                    label="Decoded image (PNG)", format="png", interactive=False, height=420, elem_id="decoded-image"
                )
                out_decoded_video = gr.Video(
                    label="Decoded video (MP4)", interactive=False, height=420, visible=False, elem_id="decoded-video"
                )
                out_decoded_file = gr.File(
                    label="Download the decoded file (PNG or MP4)", interactive=False, height=120, elem_id="decoded-file"
                )
        btn_decode.click(
            decode_file,
            inputs=[in_gcodec],
            outputs=[out_info, out_decoded, out_decoded_video, out_decoded_file],
            api_name="decode",
            concurrency_id="codec",
        ).success(_show_decoded, inputs=out_info, outputs=[out_decoded, out_decoded_video], api_visibility="private", queue=False)

    with gr.Accordion("About: what this does, honest limits, rate conventions", open=False):
        gr.Markdown(ABOUT)


if __name__ == "__main__":
    demo.queue().launch(css=CSS, max_file_size="50mb")
