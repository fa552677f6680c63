"""A memory model: a Wan VAE + DiT (the retriever) with a compressor and a one-step regression head.

Built three ways: `tiny-memory` (the tiny Wan with seeded heads, offline), the registry's real Wan
1.3B with seeded, not yet pretrained heads, or a folder written by `gencodec.memory.train`
(config.json + safetensors; the base Wan is named inside). The fingerprint — a CRC of every weight
the memory adds or changes — goes into each .gcodec so a decoder refuses to use other weights.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .. import models
from ..errors import FormatError, ModelUnavailableError
from ..video.wan import WanModel, load_wan
from ..video import sde
from .compressor import CompressorConfig, MemoryCompressor, token_positions
from .planner import GRID, Plan
from .retrievers import RegressionHead, dit_sample

CONFIG_NAME, WEIGHTS_NAME, FORMAT = "config.json", "model.safetensors", "gencodec-memory"
TINY_SEED = 20261123
TINY = dict(compressor=dict(stem_channels=16, channels=32, feature_channels=16, blocks=1, heads=2),
            head=dict(width=64, layers=2, heads=4))
# The tiny memory DiT is wider than the tiny Wan's (24): its width is what each memory token carries.
TINY_DIT = dict(patch_size=(1, 2, 2), num_attention_heads=4, attention_head_dim=24, in_channels=16, out_channels=16,
                text_dim=32, freq_dim=64, ffn_dim=192, num_layers=2, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
                rope_max_seq_len=64)
REAL = dict(compressor=dict(stem_channels=64, channels=256, feature_channels=64, blocks=2, heads=8),
            head=dict(width=512, layers=4, heads=8))


class MemoryModel(nn.Module):
    """Trainable parts (compressor, head; the DiT when `train_dit`) around a WanModel."""

    def __init__(self, wan: WanModel, base: str, compressor: dict, head: dict, variant: str = "full",
                 train_dit: bool = False, cross_attention: bool = False):
        super().__init__()
        self.wan, self.base, self.train_dit, self.cross_attention = wan, base, train_dit, cross_attention
        dim = wan.transformer.config.num_attention_heads * wan.transformer.config.attention_head_dim
        self.compressor = MemoryCompressor(CompressorConfig(dim=dim, variant=variant, **compressor))
        self.head = RegressionHead(dim, **head)
        self.head_config = head
        self._fingerprint: int | None = None
        self.to(wan.device)

    @property
    def variant(self) -> str:
        return self.compressor.cfg.variant

    @property
    def device(self) -> torch.device:
        return self.wan.device

    def config(self) -> dict:
        cfg = {k: v for k, v in asdict(self.compressor.cfg).items() if k not in ("dim", "variant", "latent_channels")}
        return {"format": FORMAT, "version": 1, "base": self.base, "variant": self.variant, "train_dit": self.train_dit,
                "cross_attention": self.cross_attention, "compressor": cfg, "head": self.head_config}

    def trainable_state(self) -> dict[str, torch.Tensor]:
        state = {f"compressor.{k}": v for k, v in self.compressor.state_dict().items()}
        state.update({f"head.{k}": v for k, v in self.head.state_dict().items()})
        if self.train_dit:
            state.update({f"transformer.{k}": v for k, v in self.wan.transformer.state_dict().items()})
        return state

    def fingerprint(self) -> int:
        """CRC32 of every weight name and value the memory depends on (base weights: by name in the file).

        Computed once (with a trained DiT it reads gigabytes); training and weight loading clear it.
        """
        if self._fingerprint is None:
            crc = zlib.crc32(b"cross-attention" if self.cross_attention else b"")  # changes what the DiT reads
            for name, value in sorted(self.trainable_state().items()):
                crc = zlib.crc32(name.encode(), crc)
                crc = zlib.crc32(value.detach().float().cpu().contiguous().numpy().tobytes(), crc)
            self._fingerprint = crc
        return self._fingerprint

    def train(self, mode: bool = True):
        self._fingerprint = None  # weights may change from here on
        return super().train(mode)

    # ------------------------------------------------------------------ pixels ↔ latents

    def vae_encode(self, video: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, H, W) in [-1, 1] → normalised latent (B, 16, T', H/8, W/8); the VAE stays frozen."""
        with torch.no_grad():
            mean, std = self.wan._stats()
            return (self.wan.vae.encode(video.to(self.device, torch.float32)).latent_dist.mode() - mean) / std

    def frame_latents(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 (B, H, W, 3) → each frame's own latent (B, 16, 1, h, w), sides padded to 16."""
        return self.vae_encode(pixels(pad_sides(frames, GRID))[:, :, None])  # each frame a one-frame clip

    def decode_frame_latents(self, z: torch.Tensor) -> np.ndarray:
        """(B, 16, 1, h, w) → uint8 (B, 8h, 8w, 3)."""
        with torch.no_grad():
            mean, std = self.wan._stats()
            x = self.wan.vae.decode(z.to(self.device, torch.float32) * std + mean).sample[:, :, 0]
        return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()

    def video_tensor(self, frames: np.ndarray, plan: Plan) -> torch.Tensor:
        """uint8 (F, H, W, 3) → (1, 3, padded_frames, padded_h, padded_w) in [-1, 1] (edges replicated)."""
        hp, wp = plan.padded_size
        frames = pad_sides(frames, None, (hp, wp))
        extra = plan.padded_frames - len(frames)
        if extra > 0:
            frames = np.concatenate([frames, np.repeat(frames[-1:], extra, axis=0)])
        return pixels(frames).permute(1, 0, 2, 3)[None].to(self.device)

    def stored(self, frames: np.ndarray, plan: Plan) -> dict[str, torch.Tensor]:
        return self.compressor.stored(self.vae_encode, self.video_tensor(frames, plan), plan)

    def tokens(self, stored: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.compressor.tokens(stored, self.wan.transformer.patch_embedding)

    def memory(self, stored: dict[str, torch.Tensor], plan: Plan) -> tuple[torch.Tensor, torch.Tensor]:
        """(tokens (1, N, D), their positions (N, 3)): what both retrievers read."""
        return self.tokens(stored), token_positions(plan, self.device)

    def retrieve(self, memory: torch.Tensor, pos: torch.Tensor, plan: Plan, t0: torch.Tensor, size: tuple[int, int], *,
                 retriever: str = "dit", frames: int = 1, steps: int = 20, seed: int = 0, prompt: str = "",
                 shift: float | None = None) -> torch.Tensor:
        """Latents (B, 16, frames, h, w) at times t0 (B,): the one-step head (one frame) or the DiT's Euler ODE."""
        if retriever == "head":
            return self.head(memory, pos, t0, size, plan.memory_grid, plan.strides)
        shift = sde.default_shift(plan.height) if shift is None else shift
        return dit_sample(self.wan.transformer, (len(t0), 16, frames, *size), t0, memory, pos,
                          self.wan.prompt_embedding(prompt), steps=steps, shift=shift, seed=seed, cross=self.cross_attention)


def pixels(frames: np.ndarray) -> torch.Tensor:
    """uint8 (B, H, W, 3) → float (B, 3, H, W) in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def pad_sides(frames: np.ndarray, multiple: int | None, size: tuple[int, int] | None = None) -> np.ndarray:
    """Edge-replicate (B, H, W, 3) frames up to a multiple of `multiple` or to an exact `size`."""
    h, w = frames.shape[1:3]
    hp, wp = size if size is not None else (-(-h // multiple) * multiple, -(-w // multiple) * multiple)
    if (hp, wp) == (h, w):
        return frames
    return np.pad(frames, ((0, 0), (0, hp - h), (0, wp - w), (0, 0)), mode="edge")


# ---------------------------------------------------------------------- building and loading


def build(wan: WanModel, base: str, *, tiny: bool, variant: str = "full", seed: int = TINY_SEED,
          train_dit: bool | None = None, cross_attention: bool = False) -> MemoryModel:
    """A fresh memory model with seeded weights (the same on every machine)."""
    sizes = TINY if tiny else REAL
    train_dit = tiny if train_dit is None else train_dit
    if train_dit:  # the DiT's weights will change: never share the cached base model
        wan = _private_copy(wan)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MemoryModel(wan, base, sizes["compressor"], sizes["head"], variant=variant, train_dit=train_dit,
                            cross_attention=cross_attention)
    return model


def load(spec: models.ModelSpec | str, device=None) -> MemoryModel:
    """The memory model a --model value or a file names (registry entry or trained folder)."""
    if isinstance(spec, models.ModelSpec):
        base = models.TINY_MODEL[models.FAMILY_WAN_T2V] if spec.tiny else models.DEFAULT_MODEL[models.FAMILY_WAN_T2V]
        wan_spec = models.resolve(base, models.FAMILY_WAN_T2V)
        return _cached(spec.id, lambda: build(base_wan(wan_spec, device), base, tiny=spec.tiny), device)
    folder = Path(spec)
    if not (folder / CONFIG_NAME).is_file():
        raise ModelUnavailableError(f"{spec} is not a memory model folder (no {CONFIG_NAME}); train one with "
                                    "`python -m gencodec.memory.train` or use --model tiny")
    return _cached(str(folder.resolve()), lambda: load_folder(folder, device), device)


_CACHE: dict[tuple, MemoryModel] = {}


def _cached(key: str, make, device) -> MemoryModel:
    k = (key, str(device))
    if k not in _CACHE:
        if len(_CACHE) >= 2:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[k] = make().eval()
    return _CACHE[k]


def base_wan(spec: models.ModelSpec | str, device=None) -> WanModel:
    """The Wan model under a memory; the tiny one gets the linear PatchVAE (see patch_vae.py for why)."""
    wan = load_wan(spec, device)
    if isinstance(spec, models.ModelSpec) and spec.tiny:
        from diffusers import WanTransformer3DModel

        from .patch_vae import PatchVAE

        dit = WanTransformer3DModel(**TINY_DIT)
        models.seeded_fill_(dit, TINY_SEED + 1)
        dit.requires_grad_(False)
        wan = WanModel(wan.name, PatchVAE().to(wan.device), dit.to(wan.device, wan.dtype).eval(), wan.text_encoder,
                       wan.tokenizer, wan.device, wan.dtype)
    return wan


def load_folder(folder: Path, device=None) -> MemoryModel:
    from safetensors.torch import load_file

    folder = Path(folder)
    try:
        cfg = json.loads((folder / CONFIG_NAME).read_text())
    except (OSError, ValueError) as exc:
        raise ModelUnavailableError(f"cannot read {folder / CONFIG_NAME}: {exc}") from None
    if cfg.get("format") != FORMAT:
        raise ModelUnavailableError(f"{folder} is not a gencodec memory model")
    base = cfg["base"]
    wan_spec = models.resolve(base, models.FAMILY_WAN_T2V)
    wan = base_wan(wan_spec, device)
    if cfg.get("train_dit"):  # the DiT's weights change: never share the cached base model
        wan = _private_copy(wan)
    model = MemoryModel(wan, base, cfg["compressor"], cfg["head"], variant=cfg.get("variant", "full"),
                        train_dit=bool(cfg.get("train_dit")), cross_attention=bool(cfg.get("cross_attention")))
    weights = folder / WEIGHTS_NAME
    if weights.is_file():
        state = load_file(str(weights), device=str(model.device))
        load_trainable(model, state)
    return model


def load_trainable(model: MemoryModel, state: dict[str, torch.Tensor]) -> None:
    parts = {"compressor": model.compressor, "head": model.head, "transformer": model.wan.transformer}
    for prefix, module in parts.items():
        sub = {k[len(prefix) + 1 :]: v for k, v in state.items() if k.startswith(prefix + ".")}
        if sub:
            missing, unexpected = module.load_state_dict(sub, strict=prefix != "transformer")
            if unexpected:
                raise FormatError(f"memory weights do not fit the model: {unexpected[:3]}")
    model._fingerprint = None


def _private_copy(wan: WanModel) -> WanModel:
    import copy

    return WanModel(wan.name, wan.vae, copy.deepcopy(wan.transformer), wan.text_encoder, wan.tokenizer, wan.device,
                    wan.dtype, wan.image_encoder, wan.image_processor)


def save(model: MemoryModel, folder, extra: dict | None = None) -> None:
    """config.json + model.safetensors (only what the memory adds or changes), written atomically."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().float().cpu().contiguous() for k, v in model.trainable_state().items()}
    tmp = folder / (WEIGHTS_NAME + ".tmp")
    save_file(state, str(tmp))
    tmp.replace(folder / WEIGHTS_NAME)
    cfg = {**model.config(), **(extra or {})}
    (folder / (CONFIG_NAME + ".tmp")).write_text(json.dumps(cfg, indent=2))
    (folder / (CONFIG_NAME + ".tmp")).replace(folder / CONFIG_NAME)
