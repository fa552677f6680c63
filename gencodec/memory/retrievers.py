"""Two ways back from memory tokens to a frame's latent.

- `dit_velocity`: the Wan DiT itself with the memory tokens prepended to its self-attention sequence
  (the paper's retriever). The queried frame(s) enter as noisy latent tokens at their own time
  positions; everything else about the clip reaches the DiT only through the memory. Sampled with
  the Euler ODE of Wan's flow matching.
- `RegressionHead`: a small cross-attention network that predicts the frame's latent in one step;
  deterministic and cheap, for tests, scrubbing and the pretraining ablations.

A frame f of the video sits at time f/4 in latent-grid coordinates (Wan's VAE packs 4 frames).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..video import sde
from .planner import PATCH, TEMPORAL_FACTOR
from .rope import grid_positions, rope


def frame_time(frame: int | torch.Tensor):
    return frame / TEMPORAL_FACTOR


def dit_velocity(transformer, z: torch.Tensor, t: torch.Tensor, t0: torch.Tensor, memory: torch.Tensor,
                 memory_pos: torch.Tensor, text: torch.Tensor, cross: bool = False) -> torch.Tensor:
    """u(z_t, t) for query latents z (B, 16, F, h, w) starting at times t0 (B,), given memory (B|1, N, D).

    `cross`: every block's cross-attention also reads the memory tokens (the paper's add-on for hard
    cases), beside the prompt.
    """
    b, _, f, h, w = z.shape
    dtype = transformer.patch_embedding.weight.dtype
    query = transformer.patch_embedding(z.to(dtype)).flatten(2).transpose(1, 2)
    n = memory.shape[1]
    hidden = torch.cat([memory.to(dtype).expand(b, -1, -1), query], 1)
    q_pos = grid_positions(f, h // PATCH, w // PATCH, t0, device=z.device)
    pos = torch.cat([memory_pos.to(z.device)[None].expand(b, -1, -1), q_pos], 1)
    cos, sin = rope(pos, transformer.config.attention_head_dim)
    rotary = (cos[:, :, None].to(z.device), sin[:, :, None].to(z.device))
    temb, proj, text_states, _ = transformer.condition_embedder(t.to(z.device) * 1000.0, text.expand(b, -1, -1), None)
    proj = proj.unflatten(1, (6, -1))
    if cross:
        text_states = torch.cat([text_states, memory.to(text_states.dtype).expand(b, -1, -1)], 1)
    for block in transformer.blocks:
        if torch.is_grad_enabled() and transformer.gradient_checkpointing:
            hidden = transformer._gradient_checkpointing_func(block, hidden, text_states, proj, rotary)
        else:
            hidden = block(hidden, text_states, proj, rotary)
    hidden = hidden[:, n:]
    shift, scale = (transformer.scale_shift_table.to(temb.device) + temb.unsqueeze(1)).chunk(2, dim=1)
    hidden = (transformer.norm_out(hidden.float()) * (1 + scale) + shift).type_as(hidden)
    out = transformer.proj_out(hidden)  # (B, f·h'·w', 16·1·2·2)
    out = out.reshape(b, f, h // PATCH, w // PATCH, 1, PATCH, PATCH, -1).permute(0, 7, 1, 4, 2, 5, 3, 6)
    return out.flatten(6, 7).flatten(4, 5).flatten(2, 3).float()


@torch.no_grad()
def dit_sample(transformer, shape: tuple, t0: torch.Tensor, memory, memory_pos, text, *, steps: int, shift: float,
               seed: int, progress=None, cross: bool = False) -> torch.Tensor:
    """Euler ODE from seeded noise: (B, 16, F, h, w) latents for queries at times t0."""
    gen = torch.Generator("cpu").manual_seed(seed)
    x = torch.randn(shape, generator=gen).to(memory.device)
    ts = sde.shift_timesteps(steps, shift)
    for i in range(steps):
        t = torch.full((shape[0],), float(ts[i]), device=x.device)
        x = x + (float(ts[i + 1]) - float(ts[i])) * dit_velocity(transformer, x, t, t0, memory, memory_pos, text, cross)
        if progress:
            progress(i + 1, steps)
    return x


def fourier(pos: torch.Tensor, features: int) -> torch.Tensor:
    """(…, 3) positions → (…, 3·2·features) sin/cos features at geometric frequencies."""
    freq = torch.exp(-math.log(1000.0) * torch.arange(features, device=pos.device, dtype=torch.float32) / features)
    ang = pos.float()[..., None] * freq * math.pi
    return torch.cat([ang.sin(), ang.cos()], -1).flatten(-2)


class _Layer(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.n1, self.n2, self.n3, self.nm = (nn.LayerNorm(width) for _ in range(4))
        self.cross = nn.MultiheadAttention(width, heads, batch_first=True)
        self.self_attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def forward(self, q: torch.Tensor, mem: torch.Tensor) -> torch.Tensor:
        m = self.nm(mem)
        q = q + self.cross(self.n1(q), m, m, need_weights=False)[0]
        y = self.n2(q)
        q = q + self.self_attn(y, y, y, need_weights=False)[0]
        return q + self.mlp(self.n3(q))


SUB = 4  # sub-positions per token side the head tells apart


class RegressionHead(nn.Module):
    """Memory tokens + a frame time → that frame's latent (B, 16, 1, h, w), in one step.

    Each query token starts from the memory token that covers it (interpolated linearly in time),
    mapped by a linear "un-patchify" chosen by where in that token the query sits (4×4 sub-positions),
    and read out linearly — exact inversion of the low-res branch is a linear map, so it is learnt
    fast and generalises. Attention layers over all memory tokens add the rest.
    """

    def __init__(self, dim: int, width: int = 64, layers: int = 2, heads: int = 4, latent_channels: int = 16,
                 features: int = 16):
        super().__init__()
        self.features, self.width = features, width
        self.memory_in = nn.Linear(dim, width)
        self.memory_pos = nn.Linear(6 * features, width)
        self.unpatchify = nn.Linear(dim, SUB * SUB * width)
        self.query_pos = nn.Linear(6 * features, width)
        self.layers = nn.ModuleList(_Layer(width, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(width)
        self.out = nn.Linear(width, latent_channels * PATCH * PATCH)
        self.direct = nn.Linear(width, latent_channels * PATCH * PATCH)
        self.latent_channels = latent_channels

    def forward(self, memory: torch.Tensor, memory_pos: torch.Tensor, t0: torch.Tensor, size: tuple[int, int],
                grid: tuple[int, int, int], strides: tuple[int, int, int]) -> torch.Tensor:
        h, w = size[0] // PATCH, size[1] // PATCH  # query token grid
        b = len(t0)
        memory = memory.float()
        mem = self.memory_in(memory) + self.memory_pos(fourier(memory_pos.to(memory.device), self.features))
        start = self._start(memory[0], t0.float(), (h, w), grid, strides)
        q_pos = grid_positions(1, h, w, t0.float(), device=memory.device)
        q = start + self.query_pos(fourier(q_pos, self.features))
        mem = mem.expand(b, -1, -1)
        for layer in self.layers:
            q = layer(q, mem)
        out = (self.direct(start) + self.out(self.norm(q))).reshape(b, h, w, self.latent_channels, PATCH, PATCH)
        return out.permute(0, 3, 1, 4, 2, 5).reshape(b, self.latent_channels, 1, h * PATCH, w * PATCH)

    def _start(self, memory, t0, size, grid, strides) -> torch.Tensor:
        """(B, h·w, width): the covering token, linear in time, un-patchified at the query's sub-position."""
        tm, hm, wm = grid
        st, sh, sw = strides
        vol = memory.reshape(tm, hm, wm, -1)
        ti = ((t0 - (st - 1) / 2) / st).clamp(0, tm - 1)
        lo = ti.floor().long()
        hi = (lo + 1).clamp(max=tm - 1)
        a = (ti - lo.float()).view(-1, 1, 1, 1)
        frames = vol[lo] * (1 - a) + vol[hi] * a  # (B, hm, wm, D)
        sub = self.unpatchify(frames).reshape(len(t0), hm, wm, SUB, SUB, self.width)
        dev = memory.device
        rows, cols = torch.arange(size[0], device=dev), torch.arange(size[1], device=dev)
        tr, tc = (rows // sh).clamp(max=hm - 1), (cols // sw).clamp(max=wm - 1)
        br, bc = (rows % sh) * SUB // sh, (cols % sw) * SUB // sw
        picked = sub[:, tr[:, None], tc[None, :], br[:, None], bc[None, :]]  # (B, h, w, width)
        return picked.reshape(len(t0), size[0] * size[1], self.width)


def flow_matching_loss(transformer, z: torch.Tensor, t0: torch.Tensor, memory, memory_pos, text,
                       generator: torch.Generator, cross: bool = False) -> torch.Tensor:
    """Wan's objective on the queried frames: x_t = (1−t)z + tε, target ε − z (noise as the mask)."""
    b = z.shape[0]
    t = torch.sigmoid(torch.randn(b, generator=generator)).to(z.device)  # logit-normal, as in SD3/Wan training
    eps = torch.randn(z.shape, generator=generator).to(z.device)
    tt = t.view(b, 1, 1, 1, 1)
    pred = dit_velocity(transformer, (1 - tt) * z + tt * eps, t, t0, memory, memory_pos, text, cross)
    return F.mse_loss(pred, eps - z)
