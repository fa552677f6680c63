"""`gencodec info`: what a file holds, byte for byte."""

from __future__ import annotations

from . import container, models
from .codecs import by_id, implementation


def describe(data: bytes) -> dict:
    c = container.unpack(data)
    h = c.header
    codec = by_id(h.codec)
    try:
        model = models.model_name(models.from_header(h.model))
    except Exception:
        model = f"#{h.model}"
    pixels = h.width * h.height * h.frames
    total = len(data)
    out = {
        "codec": codec.name,
        "model": model,
        "model_revision": h.model_revision,
        "media": container.MEDIA_KINDS[h.media],
        "width": h.width,
        "height": h.height,
        "frames": h.frames,
        "params": {codec.params.get(k, str(k)): v for k, v in sorted(h.params.items())},
        "header_bytes": container.header_size(h),
        "sections": [
            {"name": codec.sections.get(tag, f"section {tag}"), "tag": tag, "bytes": len(payload)} for tag, payload in c.sections
        ],
        "total_bytes": total,
        "bpp": 8.0 * total / pixels,
    }
    if h.media == container.MEDIA_VIDEO:
        out["fps"] = h.fps
        if h.fps > 0:
            out["kbps"] = 8.0 * total / (h.frames / h.fps) / 1000.0
    out.update(implementation(codec.name).describe(c))
    return out
