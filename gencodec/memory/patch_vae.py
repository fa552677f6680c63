"""A fixed linear stand-in for the Wan VAE in the tiny memory model, so offline retrieval is measurable.

The tiny random Wan VAE keeps almost nothing of a frame (every frame maps to nearly the same latent),
so retrieval PSNR measured through it would compare noise with noise. This autoencoder has Wan's
shapes — 16 channels, 8×8 spatial and 4× temporal compression, frame 0 on its own — and is an
orthogonal projection: each 8×8 RGB block keeps its 16 lowest-frequency colour-DCT coefficients
(10 luma, 3 per chroma), and each latent frame is the mean of its 4 frames. decode(encode(x)) is the
best approximation of x in that subspace (≈ 25–30 dB on natural images). Real models use the real VAE.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from torch import nn

BLOCK, TEMPORAL = 8, 4
LUMA = ((0, 0), (0, 1), (1, 0), (2, 0), (1, 1), (0, 2), (0, 3), (1, 2), (2, 1), (3, 0))
CHROMA = ((0, 0), (0, 1), (1, 0))
COLOURS = torch.tensor([[1, 1, 1], [1, -1, 0], [1, 1, -2]], dtype=torch.float64)
COLOURS = COLOURS / COLOURS.norm(dim=1, keepdim=True)  # orthonormal luma / chroma axes


def _dct(k: int) -> torch.Tensor:
    n = torch.arange(BLOCK, dtype=torch.float64)
    v = torch.cos(math.pi * (n + 0.5) * k / BLOCK)
    return v / v.norm()


def basis() -> torch.Tensor:
    """(16, 3·8·8) orthonormal rows over (channel, y, x) blocks."""
    rows = []
    for colour, freqs in ((0, LUMA), (1, CHROMA), (2, CHROMA)):
        for ky, kx in freqs:
            block = torch.outer(_dct(ky), _dct(kx))
            rows.append((COLOURS[colour].view(3, 1, 1) * block).reshape(-1))
    return torch.stack(rows).float()


class _Dist(SimpleNamespace):
    def mode(self):
        return self.value

    def sample(self, generator=None):
        return self.value


class PatchVAE(nn.Module):
    """The subset of AutoencoderKLWan's interface the memory model uses: encode(x).latent_dist, decode(z).sample."""

    def __init__(self):
        super().__init__()
        self.register_buffer("weight", basis().view(16, 3, BLOCK, BLOCK), persistent=False)
        std = [6.0, 1.5, 1.5, 0.8, 0.8, 0.8, 0.5, 0.5, 0.5, 0.5, 1.8, 0.4, 0.4, 1.8, 0.4, 0.4]  # ≈ natural images
        self.config = SimpleNamespace(z_dim=16, latents_mean=[0.0] * 16, latents_std=std)

    def encode(self, x: torch.Tensor):
        """(B, 3, 1+4n, H, W) → (B, 16, 1+n, H/8, W/8)."""
        first, rest = x[:, :, :1], x[:, :, 1:]
        b, c, t, h, w = rest.shape
        groups = rest.reshape(b, c, t // TEMPORAL, TEMPORAL, h, w).mean(3) if t else rest
        frames = torch.cat([first, groups], 2)
        n = frames.shape[2]
        flat = frames.transpose(1, 2).reshape(b * n, c, h, w)
        z = F.conv2d(flat, self.weight.to(flat), stride=BLOCK)
        z = z.reshape(b, n, 16, h // BLOCK, w // BLOCK).transpose(1, 2)
        return SimpleNamespace(latent_dist=_Dist(value=z))

    def decode(self, z: torch.Tensor):
        """(B, 16, 1+n, h, w) → (B, 3, 1+4n, 8h, 8w): frame 0 alone, then each latent frame held 4 frames."""
        b, _, n, h, w = z.shape
        flat = z.transpose(1, 2).reshape(b * n, 16, h, w)
        x = F.conv_transpose2d(flat, self.weight.to(flat), stride=BLOCK).reshape(b, n, 3, h * BLOCK, w * BLOCK)
        x = x.transpose(1, 2)
        x = torch.cat([x[:, :, :1], x[:, :, 1:].repeat_interleave(TEMPORAL, dim=2)], 2)
        return SimpleNamespace(sample=x)
