"""gencodec: generative compression with frozen diffusion foundation models.

    import gencodec
    data = gencodec.encode("photo.png", codec="sd-latent", target_bytes=3000)
    image = gencodec.decode(data)          # uint8 array (H, W, 3)
    gencodec.info(data)                    # codec, model, shape, section sizes, total bytes
"""

from __future__ import annotations

from .codecs import CODECS
from .errors import FormatError, GencodecError, InputError, ModelUnavailableError

__version__ = "0.4.0"
__all__ = ["encode", "decode", "info", "CODECS", "GencodecError", "FormatError", "InputError", "ModelUnavailableError"]


def encode(media, codec: str = "sd-latent", **params) -> bytes:
    """Compress media (path, bytes, PIL image or array) with a codec; returns a whole .gcodec file."""
    from .codecs import implementation

    return implementation(codec).encode(media, **params)


def decode(data: bytes, **options):
    """Decode a .gcodec file (bytes); the codec is read from the file. Images come back as uint8 (H, W, 3)."""
    from .codecs import by_id, implementation
    from .container import unpack

    codec = by_id(unpack(data).header.codec)
    return implementation(codec.name).decode(data, **options)


def info(data: bytes) -> dict:
    """Everything the header says, plus each section's size; `total_bytes` is the file size."""
    from .fileinfo import describe

    return describe(data)
