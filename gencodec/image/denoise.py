"""The few UNet steps that turn a quantised latent back into a plausible one.

Faithful mode replays Bühlmann's loop: PNDM with 66 inference steps, strength 0.04, no added
noise, so the UNet runs at t = 31, 16, 1 with the empty prompt. Improved mode treats the
quantisation error as diffusion noise of known size: a uniform quantiser of step Δ leaves an
error of std Δ/√12, so we start deterministic DDIM at the timestep whose noise level matches.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from tqdm.auto import tqdm

from .sd import LATENT_SCALE, SCHEDULE, SDModel

BUEHLMANN_STEP_SIZE = 15  # num_inference_steps = 1000 // 15 = 66
BUEHLMANN_STRENGTH = 0.04


def buehlmann_scheduler():
    from diffusers import PNDMScheduler

    sched = PNDMScheduler(**SCHEDULE, skip_prk_steps=True, steps_offset=1, set_alpha_to_one=False)
    num_inference_steps = SCHEDULE["num_train_timesteps"] // BUEHLMANN_STEP_SIZE
    sched.set_timesteps(num_inference_steps)
    return sched, num_inference_steps


def buehlmann_timesteps() -> list[int]:
    """Timesteps Bühlmann's denoise() visits (t_start logic copied from the 2022 img2img pipeline)."""
    sched, n = buehlmann_scheduler()
    offset = sched.config.steps_offset
    init_timestep = min(int(n * BUEHLMANN_STRENGTH) + offset, n)
    t_start = max(n - init_timestep + offset, 0)
    return [int(t) for t in sched.timesteps[t_start:]]


@torch.no_grad()
def buehlmann_denoise(sd: SDModel, raw_latent: torch.Tensor, steps: int | None = None) -> torch.Tensor:
    """PNDM on latent·0.18215 at Bühlmann's timesteps (last `steps` of them if given); returns a raw latent."""
    sched, _ = buehlmann_scheduler()
    timesteps = buehlmann_timesteps()
    if steps is not None:
        timesteps = timesteps[len(timesteps) - min(steps, len(timesteps)) :] if steps > 0 else []
    emb = sd.prompt_embedding("")
    latents = raw_latent.to(sd.device, torch.float32) * LATENT_SCALE
    for t in tqdm(timesteps, desc="denoise", leave=False, disable=None):
        eps = sd.unet(latents.to(sd.unet_dtype), t, encoder_hidden_states=emb.expand(len(latents), -1, -1)).sample
        latents = sched.step(eps.float(), t, latents).prev_sample
    return latents / LATENT_SCALE


def alphas_cumprod() -> np.ndarray:
    n = SCHEDULE["num_train_timesteps"]
    betas = np.linspace(SCHEDULE["beta_start"] ** 0.5, SCHEDULE["beta_end"] ** 0.5, n, dtype=np.float64) ** 2
    return np.cumprod(1.0 - betas)


def matched_timestep(error_std_scaled: float) -> int:
    """Timestep whose noise level √((1−ᾱ)/ᾱ) is nearest to the quantisation error (in scaled-latent units)."""
    ac = alphas_cumprod()
    sigma = np.sqrt((1 - ac) / ac)
    return int(np.argmin(np.abs(sigma - error_std_scaled)))


def uniform_error_std(step: float) -> float:
    """Std of a uniform quantiser's error, in the UNet's scaled-latent units."""
    return step * LATENT_SCALE / math.sqrt(12.0)


def ddim_timesteps(t_start: int, steps: int) -> list[int]:
    if t_start <= 0 or steps <= 0:
        return []
    ts = np.unique(np.rint(np.linspace(t_start, 0, steps + 1)[:-1]).astype(int))[::-1]
    return [int(t) for t in ts if t > 0]


@torch.no_grad()
def matched_denoise(sd: SDModel, raw_latent: torch.Tensor, step: float, steps: int = 2) -> torch.Tensor:
    """Deterministic DDIM from the noise level the quantiser left, down to t = 0; returns a raw latent."""
    ac = torch.tensor(alphas_cumprod(), dtype=torch.float64)
    t_start = matched_timestep(uniform_error_std(step))
    timesteps = ddim_timesteps(t_start, steps)
    if not timesteps:
        return raw_latent
    emb = sd.prompt_embedding("")
    x0 = raw_latent.to(sd.device, torch.float32) * LATENT_SCALE
    x = x0 * float(ac[timesteps[0]].sqrt())  # the quantised latent is x0 + σ_t·noise, i.e. x_t / √ᾱ_t
    for i, t in enumerate(tqdm(timesteps, desc="denoise", leave=False, disable=None)):
        a_t = float(ac[t])
        eps = sd.unet(x.to(sd.unet_dtype), t, encoder_hidden_states=emb.expand(len(x), -1, -1)).sample.float()
        x0 = (x - math.sqrt(1 - a_t) * eps) / math.sqrt(a_t)
        a_next = float(ac[timesteps[i + 1]]) if i + 1 < len(timesteps) else 1.0
        x = math.sqrt(a_next) * x0 + math.sqrt(1 - a_next) * eps
    return x0 / LATENT_SCALE
