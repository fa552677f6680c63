"""The codec table: ids stored in files, names used by the CLI/app, and what their header keys and sections mean.

Kept free of torch imports so `gencodec info` and error paths start fast; the codec
implementation is imported only when a file is encoded or decoded.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

from .errors import FormatError, InputError


@dataclass(frozen=True)
class CodecInfo:
    name: str
    id: int  # stored in files: never change or reuse
    family: str  # model family (models.py)
    media: str
    implementation: str  # "module:Class"
    params: dict[int, str] = field(default_factory=dict)
    sections: dict[int, str] = field(default_factory=dict)
    description: str = ""


CODECS: dict[str, CodecInfo] = {
    "sd-latent": CodecInfo(
        name="sd-latent",
        id=0,
        family="sd",
        media="image",
        implementation="gencodec.image.codec:SDLatentCodec",
        params={0: "mode", 1: "step_code", 2: "latent_mode"},
        sections={1: "palette+indices (zlib)", 2: "latent (range coded)"},
        description="Stable Diffusion VAE latent, quantised and entropy coded; decoded with a few UNet steps",
    ),
    "gvc": CodecInfo(
        name="gvc",
        id=1,
        family="wan-t2v",
        media="video",
        implementation="gencodec.video.gvc:GVCCodec",
        params={0: "mode", 1: "codebook_size", 2: "atoms", 3: "steps", 4: "ode_tail", 5: "gop", 6: "seed", 7: "shift_x100",
                8: "g_x100", 9: "tail_atoms", 10: "tail_residual"},
        sections={1: "atom indices and signs", 2: "reference frames (sd-latent .gcodec files)", 3: "tail latent residuals"},
        description="Wan 2.1 stochastic sampler steered by seeded codebook atoms (GVCC); the file is atom indices",
    ),
    "lora": CodecInfo(
        name="lora",
        id=2,
        family="wan-t2v",
        media="video",
        implementation="gencodec.lora.codec:LoRACodec",
        params={0: "theta_length", 1: "seed", 2: "decode_steps", 3: "block_groups", 4: "scaling_candidates",
                5: "theta_length_b", 6: "seed_b"},
        sections={1: "theta (quantised, range coded)", 2: "prompt (UTF-8)", 3: "scaling choices",
                  4: "merge: theta A (quantised, range coded)", 5: "merge: theta B (quantised, range coded)"},
        description="a one-vector LoRA of a frozen Wan 2.1 model fitted to the clip (Compression as Adaptation)",
    ),
    "memory": CodecInfo(
        name="memory",
        id=3,
        family="memory",
        media="video",
        implementation="gencodec.memory.codec:MemoryCodec",
        params={0: "stride_t", 1: "stride_h", 2: "stride_w", 3: "step_code", 4: "fingerprint"},
        sections={1: "low-res latent (range coded)", 2: "high-res features (range coded)"},
        description="a long video as a fixed budget of memory tokens for the Wan DiT; any frame can be retrieved",
    ),
}
_BY_ID = {c.id: c for c in CODECS.values()}


def by_name(name: str) -> CodecInfo:
    try:
        return CODECS[name]
    except KeyError:
        raise InputError(f"unknown codec '{name}' (available: {', '.join(CODECS)})") from None


def by_id(codec_id: int) -> CodecInfo:
    try:
        return _BY_ID[codec_id]
    except KeyError:
        raise FormatError(f"unknown codec #{codec_id} in file (made by a newer gencodec?)") from None


_instances: dict[str, object] = {}


def implementation(name: str):
    """The codec object (created once per process; it caches its models)."""
    info = by_name(name)
    if name not in _instances:
        module, cls = info.implementation.split(":")
        _instances[name] = getattr(importlib.import_module(module), cls)()
    return _instances[name]
