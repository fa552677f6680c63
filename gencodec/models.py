"""Model registry and loading: real Hub checkpoints, local paths, and tiny offline models.

Files store a one-byte registry index (or a string for custom models), so a decoder knows
exactly which weights the encoder used. Indices are part of the file format: append, never
reorder. Tiny models are built from small configs and filled from a seeded CPU generator,
so every machine builds the same weights without touching the network.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import ModelUnavailableError

FAMILY_SD = "sd"
FAMILY_WAN_T2V = "wan-t2v"
FAMILY_WAN_I2V = "wan-i2v"
FAMILY_WAN_FLF2V = "wan-flf2v"
FAMILY_MEMORY = "memory"  # a Wan T2V model plus the long-video memory compressor and retriever heads


@dataclass(frozen=True)
class ModelSpec:
    id: str
    index: int  # stored in files: never change or reuse
    family: str
    repo: str | None  # Hub repo id; None for tiny models
    description: str
    files: tuple[str, ...] = ()  # what the app needs from the repo (preload_from_hub)

    @property
    def tiny(self) -> bool:
        return self.repo is None


_SD_FILES = (
    "model_index.json",
    "scheduler/scheduler_config.json",
    "text_encoder/config.json",
    "text_encoder/model.safetensors",
    "tokenizer/merges.txt",
    "tokenizer/special_tokens_map.json",
    "tokenizer/tokenizer_config.json",
    "tokenizer/vocab.json",
    "unet/config.json",
    "unet/diffusion_pytorch_model.safetensors",
    "vae/config.json",
    "vae/diffusion_pytorch_model.safetensors",
)

# Shard names differ per checkpoint: the index files are the cheap, reliable "is it cached" check.
_WAN_FILES = (
    "model_index.json",
    "vae/config.json",
    "transformer/config.json",
    "text_encoder/config.json",
    "tokenizer/tokenizer_config.json",
)

REGISTRY: tuple[ModelSpec, ...] = (
    ModelSpec("sd-v1-4", 0, FAMILY_SD, "CompVis/stable-diffusion-v1-4", "Stable Diffusion v1.4 (Bühlmann 2022)", _SD_FILES),
    ModelSpec("tiny-sd", 1, FAMILY_SD, None, "tiny random SD (offline tests and demos)"),
    ModelSpec("wan2.1-t2v-1.3b", 2, FAMILY_WAN_T2V, "Wan-AI/Wan2.1-T2V-1.3B-Diffusers", "Wan 2.1 text-to-video 1.3B", _WAN_FILES),
    ModelSpec("tiny-wan-t2v", 3, FAMILY_WAN_T2V, None, "tiny random Wan T2V (offline tests and demos)"),
    ModelSpec("wan2.1-i2v-14b-480p", 4, FAMILY_WAN_I2V, "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers", "Wan 2.1 image-to-video 14B, 480p", _WAN_FILES),
    ModelSpec("tiny-wan-i2v", 5, FAMILY_WAN_I2V, None, "tiny random Wan I2V (offline tests and demos)"),
    ModelSpec("wan2.1-flf2v-14b-720p", 6, FAMILY_WAN_FLF2V, "Wan-AI/Wan2.1-FLF2V-14B-720P-diffusers", "Wan 2.1 first-last-frame 14B, 720p", _WAN_FILES),
    ModelSpec("tiny-wan-flf2v", 7, FAMILY_WAN_FLF2V, None, "tiny random Wan FLF2V (offline tests and demos)"),
    ModelSpec("tiny-memory", 8, FAMILY_MEMORY, None, "tiny Wan T2V + seeded memory compressor (offline tests and demos)"),
    ModelSpec("wan2.1-t2v-1.3b-memory", 9, FAMILY_MEMORY, "Wan-AI/Wan2.1-T2V-1.3B-Diffusers",
              "Wan 2.1 T2V 1.3B + seeded memory compressor (pretrain it with gencodec.memory.train)", _WAN_FILES),
)
_BY_ID = {m.id: m for m in REGISTRY}
_BY_INDEX = {m.index: m for m in REGISTRY}
DEFAULT_MODEL = {FAMILY_SD: "sd-v1-4", FAMILY_WAN_T2V: "wan2.1-t2v-1.3b", FAMILY_WAN_I2V: "wan2.1-i2v-14b-480p",
                 FAMILY_WAN_FLF2V: "wan2.1-flf2v-14b-720p", FAMILY_MEMORY: "wan2.1-t2v-1.3b-memory"}
TINY_MODEL = {FAMILY_SD: "tiny-sd", FAMILY_WAN_T2V: "tiny-wan-t2v", FAMILY_WAN_I2V: "tiny-wan-i2v",
              FAMILY_WAN_FLF2V: "tiny-wan-flf2v", FAMILY_MEMORY: "tiny-memory"}


def force_tiny() -> bool:
    """GENCODEC_MODELS=tiny swaps every real model for its tiny twin (tests, offline demos)."""
    return os.environ.get("GENCODEC_MODELS", "").strip().lower() == "tiny"


def resolve(model: str | None, family: str) -> ModelSpec | str:
    """Map a user's --model (short id, 'tiny', Hub repo id or local path) to a registry entry or a custom id."""
    if model in (None, "", "default"):
        model = TINY_MODEL[family] if force_tiny() else DEFAULT_MODEL[family]
    if model == "tiny":
        model = TINY_MODEL[family]
    spec = (_BY_ID.get(model) or next((m for m in REGISTRY if m.repo == model and m.family == family), None)
            or next((m for m in REGISTRY if m.repo == model), None))
    if spec is not None:
        if spec.family != family:
            raise ModelUnavailableError(f"model '{model}' is a {spec.family} model, not a {family} model")
        if force_tiny() and not spec.tiny:
            spec = _BY_ID[TINY_MODEL[family]]
        return spec
    if force_tiny():
        return _BY_ID[TINY_MODEL[family]]
    return model  # custom: a local folder or another Hub repo with the same layout


def from_header(model: int | str) -> ModelSpec | str:
    """The registry entry a file names (an unknown index means the file needs a newer gencodec)."""
    if isinstance(model, str):
        return model
    spec = _BY_INDEX.get(model)
    if spec is None:
        raise ModelUnavailableError(f"the file names model #{model}, unknown to this gencodec version — upgrade gencodec")
    return spec


def model_name(model: ModelSpec | str) -> str:
    return model.id if isinstance(model, ModelSpec) else model


def header_model(model: ModelSpec | str) -> int | str:
    return model.index if isinstance(model, ModelSpec) else model


# ---------------------------------------------------------------- real loading


def offline_mode() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def load_component(cls, source: str, subfolder: str | None = None, **kwargs):
    """`cls.from_pretrained` with safetensors only; any failure becomes one clear ModelUnavailableError."""
    from huggingface_hub import constants

    is_local = Path(source).exists()
    if not is_local and (source.startswith((".", "/", "~")) or os.sep in source.strip("/").replace("/", "", 1)):
        raise ModelUnavailableError(f"model folder not found: {source}")
    if subfolder:
        kwargs["subfolder"] = subfolder
    if not any(kind in cls.__name__ for kind in ("Tokenizer", "Processor")):  # only weights have safetensors
        kwargs.setdefault("use_safetensors", True)
    try:
        return cls.from_pretrained(source, **kwargs)
    except (OSError, ValueError, EnvironmentError) as exc:
        where = f"folder {source}" if is_local else f"Hub repo {source}"
        what = f"{where}{'/' + subfolder if subfolder else ''}"
        if is_local:
            fix = "check that the folder holds a diffusers-layout checkpoint with safetensors weights"
        else:
            fix = (
                f"download it once with `hf download {source}`"
                + (" (offline mode is on: unset HF_HUB_OFFLINE to let gencodec download it)" if constants.HF_HUB_OFFLINE else "")
                + ", or use --model tiny for the offline test model"
            )
        raise ModelUnavailableError(
            f"cannot load {cls.__name__} from {what} "
            f"(HF_HUB_OFFLINE={'1' if constants.HF_HUB_OFFLINE else '0'}, cache {constants.HF_HUB_CACHE}): {fix}"
        ) from exc


def weights_available(spec: ModelSpec) -> bool:
    """True when every file the model needs is in the local Hub cache (no network is touched)."""
    if spec.tiny:
        return True
    from huggingface_hub import try_to_load_from_cache

    for name in spec.files:
        hit = try_to_load_from_cache(spec.repo, name)
        if not isinstance(hit, str):
            return False
    return True


# ---------------------------------------------------------------- tiny models


def seeded_fill_(module, seed: int) -> None:
    """Overwrite every parameter from a seeded CPU generator, independent of library init code.

    Weights get N(0, 1/fan_in), norms weight 1, biases 0: the same numbers on every machine.
    """
    import torch

    gen = torch.Generator("cpu").manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(module.named_parameters(), key=lambda kv: kv[0]):
            if name.endswith("bias"):
                p.zero_()
            elif p.ndim == 1:
                p.fill_(1.0)
            else:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float32) / fan_in**0.5)


def byte_level_vocab() -> dict[str, int]:
    """A CLIP-style byte-level BPE vocabulary with no merges: every UTF-8 byte is a token (offline, 514 ids)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    codes, extra = printable[:], 0
    for b in range(256):
        if b not in printable:
            codes.append(256 + extra)
            extra += 1
    chars = [chr(c) for c in codes]
    vocab: dict[str, int] = {}
    for suffix in ("", "</w>"):
        for c in chars:
            vocab[c + suffix] = len(vocab)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return vocab


def hub_reachable(timeout: float = 2.0) -> bool:
    """A quick TCP check, so an offline machine is not stuck in the Hub client's retry loop."""
    import socket

    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    try:
        socket.create_connection(("huggingface.co", 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def ensure_weights(spec: ModelSpec) -> tuple[bool, str]:
    """Make a model's files available locally if we can; returns (ok, reason) for the app's banner."""
    if spec.tiny or weights_available(spec):
        return True, "cached"
    if not hub_reachable():
        return False, f"{spec.repo} is not in the local Hugging Face cache and the Hub cannot be reached"
    try:
        from huggingface_hub import snapshot_download

        snapshot_download(spec.repo, allow_patterns=list(spec.files))
    except Exception as exc:  # any Hub failure means: fall back to the tiny model
        return False, f"downloading {spec.repo} failed ({type(exc).__name__})"
    return weights_available(spec), "downloaded"
