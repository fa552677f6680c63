"""Wan's 3D rotary position embedding at arbitrary (t, h, w) positions.

Wan's own module tabulates integer grid positions; memory tokens sit at the centres of their
stride blocks (fractional, in the original latent coordinates) and a retrieved frame sits at its
own time, so we evaluate the same frequencies at any float position. Integer positions give
exactly the table's values (tested).
"""

from __future__ import annotations

import torch


def split_dims(head_dim: int) -> tuple[int, int, int]:
    h = w = 2 * (head_dim // 6)
    return head_dim - h - w, h, w


def rope(positions: torch.Tensor, head_dim: int, theta: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    """positions (..., 3) float → (cos, sin), each (..., head_dim), laid out as WanRotaryPosEmbed's."""
    cos, sin = [], []
    for axis, dim in enumerate(split_dims(head_dim)):
        inv = 1.0 / theta ** (torch.arange(0, dim, 2, dtype=torch.float64, device=positions.device) / dim)
        ang = positions[..., axis : axis + 1].double() * inv
        cos.append(ang.cos().repeat_interleave(2, dim=-1))
        sin.append(ang.sin().repeat_interleave(2, dim=-1))
    return torch.cat(cos, -1).float(), torch.cat(sin, -1).float()


def grid_positions(frames: int, height: int, width: int, t0: float | torch.Tensor = 0.0, device=None) -> torch.Tensor:
    """(frames·height·width, 3) positions of a token grid in (t, h, w) order, time offset by t0."""
    t, h, w = torch.meshgrid(torch.arange(frames, device=device), torch.arange(height, device=device),
                             torch.arange(width, device=device), indexing="ij")
    pos = torch.stack([t, h, w], -1).reshape(-1, 3).float()
    if isinstance(t0, torch.Tensor):  # one time offset per batch element → (B, S, 3)
        pos = pos[None].repeat(len(t0), 1, 1)
        pos[..., 0] += t0.to(pos)[:, None]
    else:
        pos[:, 0] += t0
    return pos
