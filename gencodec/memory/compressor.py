"""The memory compressor φ: a low-res branch and a gated high-res branch, on Wan's token grid.

- Low-res branch: the video downsampled by the spatial stride goes through the Wan VAE, is averaged
  over each temporal stride block and enters the DiT through its own patch embedding. The stored
  form is that pooled latent (16·2·2 values per token): the patch embedding is part of the model.
- High-res branch: full-resolution pixels → a causal space-to-depth stem onto the VAE's latent grid →
  causal 3D convolutions + SiLU → average pooling onto the memory grid → more causal convolutions →
  one causal temporal self-attention → a narrow feature (stored) → projected to the DiT width by a
  zero-initialised projection and a learned gate, so training starts from the low-res branch alone.
- Everything is causal in time: a memory token depends only on frames up to the end of its block.

Variants for the paper's ablations: "full", "lr" (low-res branch only) and "large_patch"
(FramePack-style: the full-resolution latent average-pooled per token, no learned branch).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .planner import SPATIAL_FACTOR, TEMPORAL_FACTOR, Plan

VARIANTS = ("full", "lr", "large_patch")


@dataclass(frozen=True)
class CompressorConfig:
    dim: int  # the DiT width
    variant: str = "full"
    stem_channels: int = 32
    channels: int = 64
    feature_channels: int = 16  # stored high-res features per token
    blocks: int = 2
    heads: int = 4
    latent_channels: int = 16


class CausalConv3d(nn.Conv3d):
    """k×k×k convolution that pads time only on the past side (replicating the first frame)."""

    def __init__(self, cin: int, cout: int, k: int = 3):
        super().__init__(cin, cout, k, padding=(0, k // 2, k // 2))
        self.past = k - 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, (0, 0, 0, 0, self.past, 0), mode="replicate"))


class ResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv1, self.conv2 = CausalConv3d(channels, channels), CausalConv3d(channels, channels)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.silu(self.conv1(F.silu(x))))


class CausalTemporalAttention(nn.Module):
    """Self-attention along time at each spatial token, masked so a token sees only its past."""

    def __init__(self, channels: int, heads: int):
        super().__init__()
        self.norm = nn.LayerNorm(channels)
        self.attn = nn.MultiheadAttention(channels, heads, batch_first=True)
        self.heads = heads

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T, H, W)
        b, c, t, h, w = x.shape
        seq = x.permute(0, 3, 4, 2, 1).reshape(b * h * w, t, c)
        seq = seq + _sinusoid(torch.arange(t, device=x.device, dtype=x.dtype), c)
        mask = torch.ones(t, t, dtype=torch.bool, device=x.device).triu(1)
        y = self.norm(seq)
        y, _ = self.attn(y, y, y, attn_mask=mask, need_weights=False)
        return x + y.reshape(b, h, w, t, c).permute(0, 4, 3, 1, 2)


def _sinusoid(pos: torch.Tensor, channels: int) -> torch.Tensor:
    half = channels // 2
    freq = torch.exp(-math.log(10000.0) * torch.arange(half, device=pos.device, dtype=torch.float32) / half)
    ang = pos.float()[:, None] * freq
    out = torch.cat([ang.sin(), ang.cos()], -1)
    return F.pad(out, (0, channels - 2 * half)).to(pos.dtype if pos.is_floating_point() else torch.float32)


class HighResBranch(nn.Module):
    def __init__(self, cfg: CompressorConfig):
        super().__init__()
        k = (TEMPORAL_FACTOR, SPATIAL_FACTOR, SPATIAL_FACTOR)
        self.stem = nn.Conv3d(3, cfg.stem_channels, k, stride=k)  # space-to-depth onto the VAE's latent grid
        self.fine = nn.Sequential(*[ResidualBlock(cfg.stem_channels) for _ in range(cfg.blocks)])
        self.widen = nn.Conv3d(cfg.stem_channels, cfg.channels, 1)
        self.coarse = nn.Sequential(*[ResidualBlock(cfg.channels) for _ in range(cfg.blocks)])
        self.attention = CausalTemporalAttention(cfg.channels, cfg.heads)
        self.out = nn.Conv3d(cfg.channels, cfg.feature_channels, 1)

    def forward(self, video: torch.Tensor, strides: tuple[int, int, int]) -> torch.Tensor:
        """video (B, 3, 1+4n, H, W) in [-1, 1] → features (B, feature_channels, Tm, Hm, Wm)."""
        x = F.pad(video, (0, 0, 0, 0, TEMPORAL_FACTOR - 1, 0), mode="replicate")  # frame 0 is a group of its own
        x = self.fine(self.stem(x))
        st, sh, sw = strides
        x = F.avg_pool3d(x, (st, 2 * sh, 2 * sw))  # aligned blocks: pooling never mixes in the future
        return self.out(self.attention(self.coarse(self.widen(x))))


class MemoryCompressor(nn.Module):
    """Stored memory ↔ DiT tokens. `stored()` runs at encode time; `tokens()` at both ends."""

    def __init__(self, cfg: CompressorConfig):
        super().__init__()
        if cfg.variant not in VARIANTS:
            raise ValueError(f"unknown compressor variant {cfg.variant}")
        self.cfg = cfg
        if cfg.variant == "full":
            self.high = HighResBranch(cfg)
            self.project = nn.Linear(cfg.feature_channels, cfg.dim)
            nn.init.zeros_(self.project.weight)  # the branch adds exactly 0 at the start (ControlNet-style zero
            nn.init.zeros_(self.project.bias)  # projection: unlike a zero gate, its weights get gradients at once)
            self.gate = nn.Parameter(torch.ones(1))

    def low(self, vae_encode, video: torch.Tensor, plan: Plan) -> torch.Tensor:
        """The low-res latent pooled per token (no trainable weights: training caches it per clip).

        video: (1, 3, padded_frames, padded_h, padded_w) in [-1, 1]; vae_encode maps such a video to
        its normalised latent (1, 16, T', h/8, w/8).
        """
        st, sh, sw = plan.strides
        if self.cfg.variant == "large_patch":
            return F.avg_pool3d(vae_encode(video), (st, sh, sw))
        small = F.avg_pool3d(video, (1, sh, sw))  # area downsampling of every frame
        return F.avg_pool3d(vae_encode(small), (st, 1, 1))

    def stored(self, vae_encode, video: torch.Tensor, plan: Plan, low: torch.Tensor | None = None) -> dict:
        """What the file keeps: the pooled low-res latent (and the high-res features for "full")."""
        out = {"low": self.low(vae_encode, video, plan) if low is None else low}
        if self.cfg.variant == "full":
            out["high"] = self.high(video, plan.strides)
        return out

    def tokens(self, stored: dict[str, torch.Tensor], patch_embedding: nn.Module) -> torch.Tensor:
        """(B, N, dim) tokens in (t, h, w) order: patch-embedded low-res latent + gate · projected features."""
        x = patch_embedding(stored["low"].to(patch_embedding.weight.dtype)).float()
        x = x.flatten(2).transpose(1, 2)
        if "high" in stored:
            high = stored["high"].flatten(2).transpose(1, 2).float()
            x = x + self.gate * self.project(high)
        return x


def token_positions(plan: Plan, device=None) -> torch.Tensor:
    """(N, 3) positions of the memory tokens: their block centres in the original token grid."""
    tm, hm, wm = plan.memory_grid
    st, sh, sw = plan.strides
    t, h, w = torch.meshgrid(torch.arange(tm, device=device), torch.arange(hm, device=device),
                             torch.arange(wm, device=device), indexing="ij")
    pos = torch.stack([t * st + (st - 1) / 2, h * sh + (sh - 1) / 2, w * sw + (sw - 1) / 2], -1)
    return pos.reshape(-1, 3).float()
