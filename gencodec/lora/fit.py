"""Fitting θ: the flow-matching loss of the adapted frozen Wan model on one video's latent.

x_t = (1−t)·z + t·ε, target velocity ε − z, timestep t·1000, the caption as prompt, no CFG. t is drawn
from the decoder's own 50-step schedule, so capacity goes where decoding will look.
"""

from __future__ import annotations

import math
import time

import torch
from tqdm.auto import tqdm

from ..video import sde


def decode_times(steps: int, shift: float) -> torch.Tensor:
    return torch.tensor(sde.shift_timesteps(steps, shift)[:-1], dtype=torch.float32)


def flow_matching_loss(wan, z: torch.Tensor, t: float, eps: torch.Tensor, prompt_embedding: torch.Tensor) -> torch.Tensor:
    """MSE between the model's velocity at x_t and ε − z (z, ε: (C, F, h, w))."""
    x_t = (1.0 - t) * z + t * eps
    u = wan.transformer(
        hidden_states=x_t[None].to(wan.dtype),
        timestep=torch.tensor([t * 1000.0], device=wan.device),
        encoder_hidden_states=prompt_embedding,
        return_dict=False,
    )[0][0].float()
    return torch.mean((u - (eps - z)) ** 2)


def fit(wan, adapter, z: torch.Tensor, prompt: str, steps: int, *, lr: float = 2e-3, seed: int = 0, shift: float = 3.0,
        decode_steps: int = 50, progress: bool = True) -> list[float]:
    """AdamW on θ alone; returns the loss per step. The base model stays frozen."""
    if wan.device.type == "cuda" and hasattr(wan.transformer, "enable_gradient_checkpointing"):
        wan.transformer.enable_gradient_checkpointing()  # activations of 30 blocks at 480p do not fit otherwise
    z = z.to(wan.device, torch.float32)
    emb = wan.prompt_embedding(prompt)
    times = decode_times(decode_steps, shift)
    gen = torch.Generator("cpu").manual_seed(seed)
    opt = torch.optim.AdamW([adapter.theta], lr=lr, weight_decay=0.0)
    losses = []
    started = time.perf_counter()
    bar = tqdm(range(steps), desc="fitting", disable=None if progress else True)
    for i in bar:
        t = float(times[int(torch.randint(len(times), (1,), generator=gen))])
        eps = torch.randn(z.shape, generator=gen).to(wan.device)
        loss = flow_matching_loss(wan, z, t, eps, emb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        if i % 10 == 0 or i + 1 == steps:
            eta = (time.perf_counter() - started) / (i + 1) * (steps - i - 1)
            bar.set_postfix(loss=f"{losses[-1]:.4f}", eta=f"{math.ceil(eta)}s")
    return losses


def quantisation_aware(wan, adapter, z: torch.Tensor, prompt: str, steps: int, step: float, *, rate_weight: float = 0.003,
                       lr: float = 1e-3, seed: int = 7, shift: float = 3.0, decode_steps: int = 50,
                       progress: bool = True) -> list[float]:
    """Fine-tune θ as the decoder will see it: rounded to the quantiser grid (straight-through), plus a rate term.

    The rate proxy is the code length of the *rounded* values under per-group Laplace densities — the
    family the θ coder uses — so what is optimised and what is written agree. `rate_weight` is per
    parameter, in loss units per bit.
    """
    groups = torch.tensor(adapter.theta_groups)
    group_of = torch.repeat_interleave(torch.arange(len(groups)), groups).to(adapter.theta.device)

    def rounded(theta):
        return theta + (torch.round(theta / step) * step - theta).detach()

    def rate_bits(theta):
        q = rounded(theta) / step
        mean_abs = torch.zeros(len(groups), device=q.device).index_add_(0, group_of, q.detach().abs())
        scale = (mean_abs / groups.to(q.device)).clamp_min(0.5)[group_of]  # Laplace scale in steps
        return (q.abs() / scale + torch.log(2 * scale)).sum() / math.log(2)

    z = z.to(wan.device, torch.float32)
    emb = wan.prompt_embedding(prompt)
    times = decode_times(decode_steps, shift)
    gen = torch.Generator("cpu").manual_seed(seed)
    opt = torch.optim.AdamW([adapter.theta], lr=lr, weight_decay=0.0)
    adapter.quantizer = rounded
    losses = []
    try:
        for _ in tqdm(range(steps), desc="quantisation-aware fitting", disable=None if progress else True):
            t = float(times[int(torch.randint(len(times), (1,), generator=gen))])
            eps = torch.randn(z.shape, generator=gen).to(wan.device)
            loss = flow_matching_loss(wan, z, t, eps, emb) + rate_weight * rate_bits(adapter.theta) / adapter.d
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
    finally:
        adapter.quantizer = None
    return losses


@torch.no_grad()
def mean_loss(wan, z: torch.Tensor, prompt: str, *, samples: int = 16, seed: int = 1, shift: float = 3.0,
              decode_steps: int = 50) -> float:
    """The flow-matching loss averaged over fixed (t, ε) draws: comparable before and after fitting."""
    z = z.to(wan.device, torch.float32)
    emb = wan.prompt_embedding(prompt)
    times = decode_times(decode_steps, shift)
    gen = torch.Generator("cpu").manual_seed(seed)
    total = 0.0
    for k in range(samples):
        t = float(times[k * len(times) // samples])
        eps = torch.randn(z.shape, generator=gen).to(wan.device)
        total += float(flow_matching_loss(wan, z, t, eps, emb))
    return total / samples


@torch.no_grad()
def ode_decode(wan, shape, prompt: str, *, steps: int = 50, shift: float = 3.0, seed: int = 0) -> torch.Tensor:
    """50-step Euler ODE from a seeded x_T (CPU generator), CFG 1: the decoded latent (C, F, h, w)."""
    x = torch.randn(shape, generator=torch.Generator("cpu").manual_seed(seed)).to(wan.device)
    ts = sde.shift_timesteps(steps, shift)
    for t, t_next in tqdm(list(zip(ts[:-1], ts[1:])), desc="decoding", leave=False, disable=None):
        x = sde.ode_step(x, wan.velocity(x, float(t), prompt).float(), float(t), float(t_next))
    return x
