"""Wan 2.1 components for the video codecs: real checkpoints, local folders and tiny offline twins.

The codec needs the VAE (video ↔ normalised latent), the transformer (velocity u ≈ ε − x0) and the
empty-prompt text embedding (GVC codes without CFG and without a prompt). VAE in float32, the
transformer in bf16 on GPU, as Wan's own pipelines do.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass, field

import numpy as np
import torch

from .. import models
from ..image.sd import default_device

TEMPORAL_FACTOR = 4
SPATIAL_FACTOR = 8
PATCH = 2  # transformer patch: latent sides must be even, so pixels are padded to multiples of 16
MAX_TEXT_TOKENS = 512
TINY_SEED = 20250226

_TINY_VAE = dict(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True])
_TINY_TRANSFORMER = dict(
    patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=16, out_channels=16, text_dim=32,
    freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True, qk_norm="rms_norm_across_heads", rope_max_seq_len=32,
)
_TINY_TEXT = dict(d_model=32, d_ff=37, d_kv=8, num_heads=4, num_layers=2, vocab_size=514, feed_forward_proj="relu",
                  pad_token_id=513, eos_token_id=513, decoder_start_token_id=0)


@dataclass
class WanModel:
    name: str
    vae: torch.nn.Module
    transformer: torch.nn.Module
    text_encoder: torch.nn.Module
    tokenizer: object
    device: torch.device
    dtype: torch.dtype  # transformer dtype
    image_encoder: torch.nn.Module | None = None  # CLIP vision tower of the real I2V models
    image_processor: object | None = None
    _prompts: dict = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def save_pretrained(self, path) -> None:
        """Write a diffusers-layout folder (safetensors) that `load_wan(path)` reads back."""
        from pathlib import Path

        path = Path(path)
        self.vae.save_pretrained(path / "vae")
        self.transformer.save_pretrained(path / "transformer")
        self.text_encoder.save_pretrained(path / "text_encoder")
        self.tokenizer.save_pretrained(path / "tokenizer")

    @property
    def max_text_tokens(self) -> int:
        return min(MAX_TEXT_TOKENS, getattr(self.tokenizer, "model_max_length", MAX_TEXT_TOKENS))

    @torch.no_grad()
    def prompt_embedding(self, prompt: str = "") -> torch.Tensor:
        """T5 embedding trimmed to the prompt's tokens and zero-padded, as Wan's pipelines build it."""
        with self._lock:
            if prompt not in self._prompts:
                n = self.max_text_tokens
                tok = self.tokenizer([prompt], padding="max_length", max_length=n, truncation=True,
                                     add_special_tokens=True, return_attention_mask=True, return_tensors="pt")
                ids, mask = tok.input_ids.to(self.device), tok.attention_mask.to(self.device)
                emb = self.text_encoder(ids, mask).last_hidden_state
                length = int(mask.sum())
                out = torch.zeros_like(emb)
                out[:, :length] = emb[:, :length]
                self._prompts[prompt] = out.to(self.dtype)
            return self._prompts[prompt]

    def _stats(self):
        c = self.vae.config
        mean = torch.tensor(c.latents_mean, dtype=torch.float32, device=self.device).view(1, -1, 1, 1, 1)
        std = torch.tensor(c.latents_std, dtype=torch.float32, device=self.device).view(1, -1, 1, 1, 1)
        return mean, std

    @torch.no_grad()
    def encode_video(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 (T, H, W, 3), T = 4k+1 → normalised latent (C, 1+(T−1)/4, H/8, W/8), posterior mean."""
        x = torch.from_numpy(np.array(frames)).to(self.device).permute(3, 0, 1, 2)[None].float().div(127.5).sub(1.0)
        z = self.vae.encode(x).latent_dist.mode()
        mean, std = self._stats()
        return ((z - mean) / std)[0].float()

    @torch.no_grad()
    def decode_latent(self, z: torch.Tensor) -> np.ndarray:
        """Normalised latent (C, F, h, w) → uint8 frames (T, H, W, 3)."""
        mean, std = self._stats()
        x = self.vae.decode(z[None].to(self.device, torch.float32) * std + mean).sample[0]
        return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 3, 0).cpu().numpy()

    @property
    def image_conditioned(self) -> bool:
        return self.transformer.config.in_channels > self.vae.config.z_dim

    @torch.no_grad()
    def i2v_condition(self, first: np.ndarray, frames: int, last: np.ndarray | None = None) -> dict:
        """What Wan I2V/FLF2V is conditioned on: mask + VAE latent of [first, zeros…(, last)] (and CLIP features).

        Mirrors WanImageToVideoPipeline: the mask is 1 on the known frames (the first repeated over the
        VAE's 4-frame group) and the condition latent is normalised like the target.
        """
        h, w = first.shape[:2]

        def pixels(img):
            return torch.from_numpy(np.array(img)).to(self.device).permute(2, 0, 1).float().div(127.5).sub(1.0)

        x = torch.zeros(1, 3, frames, h, w, device=self.device)
        x[:, :, 0] = pixels(first)
        if last is not None:
            x[:, :, -1] = pixels(last)
        mean, std = self._stats()
        lat = (self.vae.encode(x).latent_dist.mode() - mean) / std
        lh, lw = lat.shape[-2:]
        mask = torch.zeros(1, 1, frames, lh, lw, device=self.device)
        mask[:, :, 0] = 1
        if last is not None:
            mask[:, :, -1] = 1
        mask = torch.cat([mask[:, :, :1].repeat_interleave(TEMPORAL_FACTOR, dim=2), mask[:, :, 1:]], dim=2)
        mask = mask.view(1, -1, TEMPORAL_FACTOR, lh, lw).transpose(1, 2)
        out = {"condition": torch.cat([mask, lat], dim=1)[0].float()}
        if self.image_encoder is not None:
            images = [first] if last is None else [first, last]
            pix = self.image_processor(images=images, return_tensors="pt").pixel_values.to(self.device, self.dtype)
            feats = self.image_encoder(pixel_values=pix, output_hidden_states=True).hidden_states[-2]
            out["image_embeds"] = feats.reshape(1, -1, feats.shape[-1])  # FLF2V: both images' tokens in sequence
        return out

    @torch.no_grad()
    def velocity(self, z: torch.Tensor, t: float, prompt: str = "", condition: dict | None = None) -> torch.Tensor:
        """u(x_t, t) for a latent (C, F, h, w); timesteps go to Wan as t·1000; I2V adds its condition channels."""
        emb = self.prompt_embedding(prompt)
        hidden = z[None].to(self.device, torch.float32)
        extra = {}
        if condition is not None:
            hidden = torch.cat([hidden, condition["condition"][None].to(self.device)], dim=1)
            if "image_embeds" in condition:
                extra["encoder_hidden_states_image"] = condition["image_embeds"]
        out = self.transformer(
            hidden_states=hidden.to(self.dtype),
            timestep=torch.tensor([t * 1000.0], device=self.device),
            encoder_hidden_states=emb,
            return_dict=False,
            **extra,
        )[0]
        return out[0].to(z.dtype)


def build_tiny(image_conditioned: bool = False) -> tuple:
    """diffusers' own Wan test configs (I2V: 36 input channels, no CLIP), seeded weights, byte-level tokenizer."""
    from diffusers import AutoencoderKLWan, WanTransformer3DModel
    from transformers import CLIPTokenizer, UMT5Config, UMT5EncoderModel

    vae = AutoencoderKLWan(**_TINY_VAE)
    transformer = WanTransformer3DModel(**{**_TINY_TRANSFORMER, "in_channels": 36 if image_conditioned else 16})
    text_encoder = UMT5EncoderModel(UMT5Config(**_TINY_TEXT))  # the real checkpoints' class, so save/load round-trips
    for i, module in enumerate((vae, transformer, text_encoder)):
        models.seeded_fill_(module, TINY_SEED + i + (10 if image_conditioned and module is transformer else 0))
    tokenizer = CLIPTokenizer(vocab=models.byte_level_vocab(), merges=[], model_max_length=16)
    return vae, transformer, text_encoder, tokenizer, None, None


def _load_pretrained(source: str) -> tuple:
    from diffusers import AutoencoderKLWan, WanTransformer3DModel
    from transformers import AutoTokenizer, CLIPImageProcessor, CLIPVisionModel, UMT5EncoderModel

    transformer = models.load_component(WanTransformer3DModel, source, "transformer")
    image_encoder = image_processor = None
    if transformer.config.image_dim:  # Wan 2.1 I2V/FLF2V also read CLIP image features
        image_encoder = models.load_component(CLIPVisionModel, source, "image_encoder")
        image_processor = models.load_component(CLIPImageProcessor, source, "image_processor")
    return (
        models.load_component(AutoencoderKLWan, source, "vae"),
        transformer,
        models.load_component(UMT5EncoderModel, source, "text_encoder", torch_dtype=torch.bfloat16),  # 11 GB, not 22
        models.load_component(AutoTokenizer, source, "tokenizer"),
        image_encoder,
        image_processor,
    )


def _place(name, vae, transformer, text_encoder, tokenizer, image_encoder, image_processor, device) -> WanModel:
    device = torch.device(device)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    vae = vae.to(device=device, dtype=torch.float32).eval()
    transformer = transformer.to(device=device, dtype=dtype).eval()
    text_encoder = text_encoder.to(device=device, dtype=dtype).eval()
    if image_encoder is not None:
        image_encoder = image_encoder.to(device=device, dtype=dtype).eval()
    for module in (vae, transformer, text_encoder, image_encoder):
        if module is not None:
            module.requires_grad_(False)
    return WanModel(name, vae, transformer, text_encoder, tokenizer, device, dtype, image_encoder, image_processor)


@functools.lru_cache(maxsize=2)
def _load_cached(key: str, tiny_family: str | None, device: str) -> WanModel:
    conditioned = tiny_family in (models.FAMILY_WAN_I2V, models.FAMILY_WAN_FLF2V)
    parts = build_tiny(conditioned) if tiny_family else _load_pretrained(key)
    return _place(key, *parts, device)


PRELOADED: dict[str, WanModel] = {}  # models built in-process (benchmarks: real size, random weights)

REAL_T2V_1_3B = dict(
    patch_size=(1, 2, 2), num_attention_heads=12, attention_head_dim=128, in_channels=16, out_channels=16, text_dim=4096,
    freq_dim=256, ffn_dim=8960, num_layers=30, cross_attn_norm=True, qk_norm="rms_norm_across_heads", eps=1e-6,
    rope_max_seq_len=1024,
)


def build_real_size_random(device, seed: int = 0) -> WanModel:
    """Wan 2.1 T2V-1.3B's transformer and the Wan VAE at real size with random weights (timings only).

    The text encoder is replaced by the zero embedding Wan gets for an empty prompt after padding,
    since the codec only ever uses the empty prompt.
    """
    from diffusers import AutoencoderKLWan, WanTransformer3DModel

    torch.manual_seed(seed)
    vae, transformer = AutoencoderKLWan(), WanTransformer3DModel(**REAL_T2V_1_3B)
    model = _place("wan-1.3b-random", vae, transformer, torch.nn.Identity(), None, None, None, device)
    model._prompts[""] = torch.zeros(1, MAX_TEXT_TOKENS, 4096, device=model.device, dtype=model.dtype)
    return model


def load_wan(model: models.ModelSpec | str, device=None) -> WanModel:
    if isinstance(model, str) and model in PRELOADED:
        return PRELOADED[model]
    device = str(torch.device(device) if device is not None else default_device())
    if isinstance(model, models.ModelSpec):
        return _load_cached(model.repo or model.id, model.family if model.tiny else None, device)
    return _load_cached(model, None, device)
