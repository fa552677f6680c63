"""Stable Diffusion components for the image codec: real checkpoints, tiny offline twins, real-size random ones.

The codec needs the VAE (latent in/out), the UNet (the few denoising steps) and the
empty-prompt text embedding. The same `SDModel` serves a Hub checkpoint, a local folder in
diffusers layout, and the tiny model built from configs, so tests exercise the real path.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass, field

import torch

from .. import models

LATENT_SCALE = 0.18215  # SD v1 latent scaling factor (≈ 1/std of the raw latent)
SPATIAL_FACTOR = 8
# SD v1 training noise schedule; both the real and the tiny models use it.
SCHEDULE = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")

TINY_SEED = 20221

_TINY_VAE = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=["DownEncoderBlock2D"] * 4,
    up_block_types=["UpDecoderBlock2D"] * 4,
    block_out_channels=[4, 8, 8, 8],  # four blocks: a real 8× spatial factor
    layers_per_block=1,
    latent_channels=4,
    norm_num_groups=2,
    sample_size=64,
)
_TINY_UNET = dict(
    sample_size=32,
    in_channels=4,
    out_channels=4,
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
    block_out_channels=(8, 16),
    layers_per_block=1,
    cross_attention_dim=32,
    attention_head_dim=4,
    norm_num_groups=4,
)
_TINY_TEXT = dict(
    hidden_size=32,
    intermediate_size=37,
    num_hidden_layers=2,
    num_attention_heads=4,
    vocab_size=514,
    max_position_embeddings=77,
    bos_token_id=512,
    eos_token_id=513,
    pad_token_id=513,
)

# SD v1.4 architecture at real size (random init): honest timings without the 4 GB download.
REAL_VAE = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=["DownEncoderBlock2D"] * 4,
    up_block_types=["UpDecoderBlock2D"] * 4,
    block_out_channels=[128, 256, 512, 512],
    layers_per_block=2,
    latent_channels=4,
    norm_num_groups=32,
    sample_size=512,
)
REAL_UNET = dict(
    sample_size=64,
    in_channels=4,
    out_channels=4,
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    block_out_channels=(320, 640, 1280, 1280),
    layers_per_block=2,
    cross_attention_dim=768,
    attention_head_dim=8,
    norm_num_groups=32,
)
REAL_TEXT = dict(
    hidden_size=768,
    intermediate_size=3072,
    num_hidden_layers=12,
    num_attention_heads=12,
    vocab_size=49408,
    max_position_embeddings=77,
    hidden_act="quick_gelu",
    projection_dim=768,
)


@dataclass
class SDModel:
    name: str
    vae: torch.nn.Module
    unet: torch.nn.Module
    text_encoder: torch.nn.Module
    tokenizer: object
    device: torch.device
    unet_dtype: torch.dtype
    _prompt_cache: dict = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @torch.no_grad()
    def prompt_embedding(self, prompt: str = "") -> torch.Tensor:
        """CLIP embedding of a prompt (the codec uses the empty one); computed once per model."""
        with self._lock:
            if prompt not in self._prompt_cache:
                ids = self.tokenizer(
                    [prompt], padding="max_length", max_length=self.tokenizer.model_max_length, truncation=True, return_tensors="pt"
                ).input_ids.to(self.device)
                emb = self.text_encoder(ids)[0].to(self.unet_dtype)
                self._prompt_cache[prompt] = emb
            return self._prompt_cache[prompt]

    def save_pretrained(self, path) -> None:
        """Write a diffusers-layout folder (safetensors) that `load_sd(path)` reads back."""
        from pathlib import Path

        path = Path(path)
        self.vae.save_pretrained(path / "vae")
        self.unet.save_pretrained(path / "unet")
        self.text_encoder.save_pretrained(path / "text_encoder")
        self.tokenizer.save_pretrained(path / "tokenizer")


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _to(module, device: torch.device, dtype: torch.dtype):
    """Move a module, casting only when the dtype really changes (diffusers warns on no-op casts)."""
    current = next(module.parameters()).dtype
    return module.to(device) if current == dtype else module.to(device, dtype)


def _place(name, vae, unet, text_encoder, tokenizer, device) -> SDModel:
    device = torch.device(device)
    half = torch.float16 if device.type == "cuda" else torch.float32
    vae = _to(vae, device, torch.float32).eval()  # VAE in fp32: fp16 SD VAE can overflow
    unet = _to(unet, device, half).eval()
    text_encoder = _to(text_encoder, device, half).eval()
    for module in (vae, unet, text_encoder):
        module.requires_grad_(False)
    return SDModel(name, vae, unet, text_encoder, tokenizer, device, half)


def build_tiny() -> tuple:
    """The tiny SD: configs from diffusers' own tests (VAE widened to a real 8× factor), seeded weights."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    vae = AutoencoderKL(**_TINY_VAE)
    unet = UNet2DConditionModel(**_TINY_UNET)
    text_encoder = CLIPTextModel(CLIPTextConfig(**_TINY_TEXT))
    for i, module in enumerate((vae, unet, text_encoder)):
        models.seeded_fill_(module, TINY_SEED + i)
    tokenizer = CLIPTokenizer(vocab=models.byte_level_vocab(), merges=[], model_max_length=77)
    return vae, unet, text_encoder, tokenizer


def build_real_size_random(seed: int = 0) -> tuple:
    """SD v1.4's architecture with random weights, for benchmarks (timings only, images are noise)."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(seed)
    vae = AutoencoderKL(**REAL_VAE)
    unet = UNet2DConditionModel(**REAL_UNET)
    text_encoder = CLIPTextModel(CLIPTextConfig(**{**REAL_TEXT, "vocab_size": 514, "bos_token_id": 512, "eos_token_id": 513}))
    tokenizer = CLIPTokenizer(vocab=models.byte_level_vocab(), merges=[], model_max_length=77)
    return vae, unet, text_encoder, tokenizer


def _load_pretrained(source: str) -> tuple:
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    vae = models.load_component(AutoencoderKL, source, "vae")
    unet = models.load_component(UNet2DConditionModel, source, "unet")
    text_encoder = models.load_component(CLIPTextModel, source, "text_encoder")
    tokenizer = models.load_component(CLIPTokenizer, source, "tokenizer")
    return vae, unet, text_encoder, tokenizer


@functools.lru_cache(maxsize=2)
def _load_cached(key: str, tiny: bool, device: str) -> SDModel:
    parts = build_tiny() if tiny else _load_pretrained(key)
    return _place(key, *parts, device)


def load_sd(model: models.ModelSpec | str, device: str | torch.device | None = None) -> SDModel:
    """Load (once per process) the SD components a file or a --model names."""
    device = str(torch.device(device) if device is not None else default_device())
    if isinstance(model, models.ModelSpec):
        sd = _load_cached(model.repo or model.id, model.tiny, device)
        sd.name = model.id
        return sd
    return _load_cached(model, False, device)
