"""One comparison report for the CLI and the app: our file beside classical codecs at the same size."""

from __future__ import annotations

import numpy as np

from . import baselines, media, metrics


def compare_image(image, codec: str = "sd-latent", baseline_codecs: tuple[str, ...] | None = None,
                  sides=("at_least", "at_most"), **params) -> dict:
    """Encode, decode and measure ours, then JPEG/WebP/AVIF/JPEG XL at the lowest quality whose file is ≥ ours
    (Bühlmann's protocol) and at the highest quality whose file is ≤ ours.

    Returns {"rows": [...], "decoded": array, "data": bytes, "ssim_kind": ..., "baselines": {...}}.
    """
    import gencodec

    codecs = tuple(baseline_codecs) if baseline_codecs is not None else baselines.IMAGE_CODECS
    rgb = media.load_image(image)
    data = gencodec.encode(rgb, codec=codec, **params)
    decoded = gencodec.decode(data, device=params.get("device"))
    return report(rgb, data, decoded, codecs, sides)


def report(rgb: np.ndarray, data: bytes, decoded: np.ndarray, codecs: tuple[str, ...] = baselines.IMAGE_CODECS,
           sides=("at_least",)) -> dict:
    """Rows of bytes / bpp / PSNR / (MS-)SSIM for ours and each baseline at matched size."""
    import gencodec

    for codec in codecs:
        if codec not in baselines.IMAGE_CODECS:
            raise gencodec.InputError(f"unknown baseline '{codec}' (choose from {', '.join(baselines.IMAGE_CODECS)})")
    h, w = rgb.shape[:2]
    ours = metrics.image_metrics(rgb, decoded)
    meta = gencodec.info(data)
    rows = [
        {
            "codec": meta["codec"],
            "name": f"gencodec {meta['codec']} ({meta.get('mode', '')})",
            "side": "ours",
            "quality": None,
            "bytes": len(data),
            "bpp": 8.0 * len(data) / (h * w),
            "psnr": ours["psnr"],
            "ssim": ours["ssim"],
            "ssim_kind": ours["ssim_kind"],
            "lpips": ours["lpips"],
        }
    ]
    images = {}
    for row in baselines.compare_image(rgb, len(data), codecs=codecs, sides=sides):
        b = row.pop("baseline")
        images[f"{row['name']} q{row['quality']}"] = b.decoded
        rows.append(row)
    return {"rows": rows, "decoded": decoded, "data": data, "ssim_kind": ours["ssim_kind"], "baselines": images, "width": w, "height": h}


def format_table(rows: list[dict]) -> str:
    """Plain-text table (bytes on disk, bpp, PSNR dB, structural similarity)."""
    kind = rows[0]["ssim_kind"] if rows else "MS-SSIM"
    marks = {"ours": "", "at_least": "≥ ours", "at_most": "≤ ours"}
    lines = [f"{'codec':<34} {'size':>7} {'quality':>7} {'bytes':>8} {'bpp':>8} {'PSNR':>7} {kind:>8}"]
    for r in rows:
        q = "" if r["quality"] is None else str(r["quality"])
        side = marks.get(r["side"], r["side"])
        lines.append(f"{r['name']:<34} {side:>7} {q:>7} {r['bytes']:>8} {r['bpp']:>8.4f} {r['psnr']:>7.2f} {r['ssim']:>8.4f}")
    return "\n".join(lines)
