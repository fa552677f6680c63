"""Rate and latent distortion of the SD-latent codec's modes (cheap: tiny model by default).

Per image (those in examples/, else a synthetic 512² one): faithful mode; improved mode at the
faithful quantiser step (step code 0); improved mode rate-controlled to the faithful file's size.
Reports file bytes, bpp, the MSE of the decoded (dequantised) latent against the latent the
encoder used (faithful: posterior sample, seed 0; improved: posterior mean), and the
encode/decode seconds of the public `SDLatentCodec.encode/decode` (decode includes the UNet
steps and the VAE decode).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from . import _common
from ._common import BenchError, log, median

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".avif", ".jxl")
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def add_arguments(parser) -> None:
    parser.add_argument("--model", default="tiny", help="SD model id (default: tiny, the offline random model)")
    parser.add_argument("--images", nargs="*", default=None, help="image files (default: the images in examples/, else a synthetic one)")
    parser.add_argument("--synthetic-size", type=int, default=512, help="side of the synthetic image used when there are no images (default 512)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per case, median reported (default 3)")


def _inputs(args) -> list[tuple[str, np.ndarray]]:
    from ..media import load_image

    if args.images:
        paths = [Path(p) for p in args.images]
    else:
        paths = sorted(p for p in EXAMPLES.glob("*") if p.suffix.lower() in IMAGE_EXTS) if EXAMPLES.is_dir() else []
    if paths:
        return [(p.name, load_image(p)) for p in paths]
    n = args.synthetic_size
    if not 8 <= n <= 4096:
        raise BenchError("--synthetic-size must be between 8 and 4096")
    return [(f"synthetic-{n}", _common.synthetic_image(n, n))]


def _timed(fn, repeats: int):
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return out, median(times), times


def run(args) -> dict:
    import torch

    from .. import models
    from ..image.codec import P_STEP, SDLatentCodec
    from ..image.sd import load_sd

    if args.repeats < 1:
        raise BenchError("--repeats must be ≥ 1")
    device = args.device
    codec = SDLatentCodec()
    spec = models.resolve(args.model, "sd")
    inputs = _inputs(args)
    t_start = time.perf_counter()
    sd = load_sd(spec, device)
    settings = {
        "model": models.model_name(spec),
        "device": device,
        "repeats": args.repeats,
        "images": [name for name, _ in inputs],
        "latent_mse": "mean squared error of the dequantised latent vs the encoder's latent, raw (unscaled) latent units",
    }
    result = _common.header("rate", device, settings)
    # Warm-up: model, prompt embedding and lazy imports, outside the timings.
    with torch.inference_mode():
        warm = _common.synthetic_image(64, 64)
        codec.decode(codec.encode(warm, model=args.model, device=device), device=device)
    cases = []
    for name, rgb in inputs:
        h, w = rgb.shape[:2]
        latents = {"sample": codec.encode_latent(sd, rgb, sample=True), "mean": codec.encode_latent(sd, rgb, sample=False)}
        faithful_bytes = None
        variants = [
            ("faithful", "sample", dict(mode="faithful")),
            ("improved @ step 0", "mean", dict(mode="improved", step_code=0)),
            ("improved @ faithful size", "mean", None),
        ]
        for label, latent, params in variants:
            if params is None:
                params = dict(mode="improved", target_bytes=faithful_bytes)
            data, enc_s, enc_runs = _timed(lambda: codec.encode(rgb, model=args.model, device=device, **params), args.repeats)
            out, dec_s, dec_runs = _timed(lambda: codec.decode(data, device=device), args.repeats)
            assert out.shape == rgb.shape
            c, zhat = codec.read(data)
            z = latents[latent]
            mse = float(np.mean((zhat.astype(np.float64) - z.astype(np.float64)) ** 2))
            if label == "faithful":
                faithful_bytes = len(data)
            case = {
                "image": name,
                "width": w,
                "height": h,
                "case": label,
                "mode": params["mode"],
                "latent": latent,
                "step_code": c.header.params.get(P_STEP) if params["mode"] == "improved" else None,
                "target_bytes": params.get("target_bytes"),
                "bytes": len(data),
                "bpp": 8 * len(data) / (h * w),
                "latent_mse": mse,
                "latent_var": float(np.var(z)),
                "latent_max_abs_err": float(np.max(np.abs(zhat - z))),
                "encode_s": enc_s,
                "decode_s": dec_s,
                "encode_runs_s": enc_runs,
                "decode_runs_s": dec_runs,
            }
            cases.append(case)
            log(f"[rate] {name} {label}: {len(data)} B, {case['bpp']:.3f} bpp, latent MSE {mse:.4g}, enc {enc_s:.2f} s, dec {dec_s:.2f} s")
    result["cases"] = cases
    result["total_s"] = time.perf_counter() - t_start
    return result


COLUMNS = [
    ("image", "image"),
    ("size", "size"),
    ("case", "case"),
    ("step code", "step_code"),
    ("bytes", "bytes"),
    ("bpp", "bpp"),
    ("latent MSE", "latent_mse"),
    ("latent var", "latent_var"),
    ("encode s", "encode_s"),
    ("decode s", "decode_s"),
]


def markdown(result: dict) -> str:
    s, m = result["settings"], result["machine"]
    rows = [{**c, "size": f"{c['width']}×{c['height']}"} for c in result["cases"]]
    title = (
        f"### rate: SD-latent modes on {s['model']} ({s['device']}, {m['device_name']}, torch {m['torch']})\n\n"
        "latent MSE: dequantised vs encoder latent (faithful: posterior sample seed 0; improved: posterior mean), raw latent units\n"
    )
    return title + "\n" + _common.md_table(COLUMNS, rows)
