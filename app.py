"""gencodec demo: the Hugging Face Space entry point (Gradio 6 Blocks).

App shell only: every tab calls the gencodec API (encode / decode / info / compare.report).
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
from gencodec import baselines, compare, media, models
from gencodec.image.sd import load_sd

log = logging.getLogger("gencodec.app")

CODEC = "sd-latent"
FAMILY = "sd"
KB = 1024  # the UI's kilobyte: 1 KB = 1024 bytes
TARGET_KB_RANGE = (0.5, 20.0)
TARGET_KB_DEFAULT = 3.0
MAX_GCODEC_FILE_BYTES = 32 * 2**20  # a .gcodec image file is a few KB; refuse absurd uploads before reading them
EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
WORK_DIR = Path(tempfile.gettempdir()) / "gencodec-app"
WORK_MAX_AGE_S = 2 * 3600

MODE_CHOICES = [("Faithful (Bühlmann, ≈5 KB at 512²)", "faithful"), (f"Target size (1 KB = {KB} bytes)", "target")]

# ---------------------------------------------------------------- model and device (module level, as ZeroGPU wants)

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def _pick_model() -> tuple[models.ModelSpec, str | None]:
    """The default SD model if its weights are here (or can be fetched); otherwise the tiny one and why."""
    tiny = models.resolve("tiny", FAMILY)
    if models.force_tiny():
        return tiny, "GENCODEC_MODELS=tiny is set"
    spec = models.resolve(None, FAMILY)
    if not isinstance(spec, models.ModelSpec) or spec.tiny:
        return tiny, "no real model is registered for this codec"
    try:
        ok, reason = models.ensure_weights(spec)
    except Exception as exc:  # noqa: BLE001 - any Hub failure means: run on the tiny model, and say why
        ok, reason = False, f"checking the weights of {spec.repo} failed ({type(exc).__name__}: {exc})"
    return (spec, None) if ok else (tiny, reason)


MODEL_SPEC, TINY_REASON = _pick_model()
try:
    load_sd(MODEL_SPEC, DEVICE)  # preload once: the GPU functions then find the model in load_sd's cache
except gencodec.GencodecError as exc:
    log.warning("falling back to the tiny model: %s", exc)
    MODEL_SPEC, TINY_REASON = models.resolve("tiny", FAMILY), str(exc)
    load_sd(MODEL_SPEC, DEVICE)
TINY = MODEL_SPEC.tiny
MODEL_ARG = "tiny" if TINY else MODEL_SPEC.id
REAL_REPO = next(m.repo for m in models.REGISTRY if m.id == models.DEFAULT_MODEL[FAMILY])


def banner_markdown() -> str:
    """The warning shown at the top when the app runs on tiny random models ('' otherwise)."""
    if not TINY:
        return ""
    if models.force_tiny():
        fix = "unset <code>GENCODEC_MODELS</code> and restart (the real weights must be cached or downloadable)."
    else:
        fix = (
            f"run <code>hf download {REAL_REPO}</code> (or unset <code>HF_HUB_OFFLINE</code> so the app can "
            "download them) and restart the app."
        )
    return (
        '<div id="tiny-banner" role="alert" style="border:1px solid #d97706;border-left:6px solid #d97706;'
        'background:#fffbeb;color:#78350f;padding:10px 14px;border-radius:6px;margin:4px 0 8px 0">'
        "<strong>⚠️ Demo mode: this app runs on tiny random models.</strong> "
        "Decoded images are noise-like; the pipeline, the .gcodec files and their sizes are real.<br>"
        f"<strong>Why:</strong> {html.escape(TINY_REASON or 'unknown')}.<br>"
        f"<strong>For real results</strong> with Stable Diffusion v1.4: {fix}"
        "</div>"
    )


# ---------------------------------------------------------------- errors: one line, never a traceback


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


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
        raise gr.Error("out of memory: try a smaller image", print_exception=False) from None
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
    for suffix in (".gcodec", f".{CODEC}"):
        stem = stem[: -len(suffix)] if stem.endswith(suffix) else stem
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
}


def _foreign_kind(data: bytes) -> str | None:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "a WebP image"
    if data[4:8] == b"ftyp":
        return "an AVIF/HEIF image or MP4 video"
    return next((kind for magic, kind in _FOREIGN_MAGIC.items() if data.startswith(magic)), None)


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


def _decode_duration(data: bytes, progress=None) -> int:
    try:
        meta = gencodec.info(data)
        megapixels = meta["width"] * meta["height"] * meta.get("frames", 1) / 1e6
    except Exception:  # noqa: BLE001
        megapixels = 1.0
    return int(min(120, 6 + 4 * megapixels))


@spaces.GPU(duration=_decode_duration)
def gpu_decode(data: bytes, progress=None) -> tuple[np.ndarray, float]:
    with user_errors():
        t0 = time.perf_counter()
        decoded = gencodec.decode(data, device=DEVICE)
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


# ---------------------------------------------------------------- Decode tab


def decode_file(gcodec_file, progress=gr.Progress(track_tqdm=True)):
    """Decode tab: a .gcodec file → its header info and the decoded image (PNG)."""
    with user_errors():
        if not gcodec_file:
            raise gr.Error("Upload a .gcodec file first.", print_exception=False)
        path = Path(gcodec_file if isinstance(gcodec_file, (str, os.PathLike)) else gcodec_file.name)
        size = path.stat().st_size
        if size > MAX_GCODEC_FILE_BYTES:
            raise gr.Error(
                f"not a .gcodec image file: {size:,} bytes is far larger than any this app makes "
                f"(limit {MAX_GCODEC_FILE_BYTES // 2**20} MiB)",
                print_exception=False,
            )
        data = path.read_bytes()
        try:
            meta = gencodec.info(data)  # every structural check (magic, CRC, lengths) before any model work
        except gencodec.FormatError as exc:
            kind = _foreign_kind(data)
            if kind and "not a .gcodec file" in str(exc):
                raise gr.Error(
                    f"not a .gcodec file: this is {kind} — compress it in the Image tab first", print_exception=False
                ) from None
            raise
        if meta.get("media") != "image":
            raise gr.Error(
                f"this app decodes image files; this file holds a {meta.get('media')} "
                f"(decode it with: python -m gencodec decode FILE -o out.mp4)",
                print_exception=False,
            )
        limit = media.max_image_side()
        if meta["width"] > limit or meta["height"] > limit:
            raise gr.Error(
                f"the file declares a {meta['width']}×{meta['height']} image; the limit is {limit}×{limit} pixels",
                print_exception=False,
            )
        file_model = meta.get("model")
        if TINY and file_model not in (MODEL_SPEC.id, "tiny") and not models.force_tiny():
            raise gr.Error(
                f"this file was made with {file_model}, whose weights this app cannot load ({TINY_REASON})", print_exception=False
            )
        if models.force_tiny() and file_model != MODEL_SPEC.id:
            gr.Warning(f"this file was made with {file_model}; GENCODEC_MODELS=tiny decodes it with the tiny random model")

        progress(0.05, desc="Decoding")
        decoded, t_dec = gpu_decode(data, progress=progress)
        meta["decode_seconds"] = round(t_dec, 2)

        out_dir = _work_dir("decode-")
        png_path = out_dir / f"{_safe_stem(path.name, 'decoded')}.decoded.png"
        media.write_atomic(png_path, media.image_to_png_bytes(decoded))
        return meta, decoded, str(png_path)


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
"""

CSS = """
#compress-summary p { margin: 2px 0; }
"""
PLOT_ORDER = ["gencodec"] + [baselines.IMAGE_CODEC_NAMES[c] for c in baselines.IMAGE_CODECS]


def _examples() -> list[list]:
    wanted = [("astronaut.jpg", "faithful", TARGET_KB_DEFAULT), ("coffee.jpg", "target", 3.0), ("chelsea.png", "target", 2.0)]
    return [[str(EXAMPLES_DIR / name), mode, kb] for name, mode, kb in wanted if (EXAMPLES_DIR / name).is_file()]


@contextlib.contextmanager
def _examples_cache_for_model():
    """Keep cached example outputs per model, so tiny-model outputs are never shown once real weights are in use."""
    previous = os.environ.get("GRADIO_EXAMPLES_CACHE")
    os.environ["GRADIO_EXAMPLES_CACHE"] = str(Path(previous or ".gradio/cached_examples") / MODEL_SPEC.id)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("GRADIO_EXAMPLES_CACHE", None)
        else:
            os.environ["GRADIO_EXAMPLES_CACHE"] = previous


with gr.Blocks(title="gencodec — generative image compression", delete_cache=(3600, 7200)) as demo:
    banner = gr.Markdown(banner_markdown(), visible=TINY, elem_id="tiny-banner-box", sanitize_html=False)
    gr.Markdown(
        "# gencodec: generative image compression\n"
        "Compress an image into a few kilobytes in Stable Diffusion's latent space, then compare it with JPEG, WebP, "
        "AVIF and JPEG XL at the same file size."
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

    with gr.Tab("Decode", id="decode"):
        with gr.Row():
            with gr.Column(scale=2, min_width=280):
                in_gcodec = gr.File(label=".gcodec file", type="filepath", elem_id="input-gcodec")
                btn_decode = gr.Button("Decode", variant="primary", elem_id="decode-button")
                out_info = gr.JSON(label="File info (gencodec.info)", open=True, elem_id="decode-info")
            with gr.Column(scale=3, min_width=320):
                out_decoded = gr.Image(
                    label="Decoded image (PNG)", format="png", interactive=False, height=420, elem_id="decoded-image"
                )
                out_decoded_file = gr.File(label="Download the decoded PNG", interactive=False, height=120, elem_id="decoded-file")
        btn_decode.click(
            decode_file,
            inputs=[in_gcodec],
            outputs=[out_info, out_decoded, out_decoded_file],
            api_name="decode",
            concurrency_id="codec",
        )

    with gr.Accordion("About: what this does, honest limits, rate conventions", open=False):
        gr.Markdown(ABOUT)


if __name__ == "__main__":
    demo.queue().launch(css=CSS, max_file_size="50mb")
