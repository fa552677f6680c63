"""GVC's sampler on an exact Gaussian prior: measured MSE against the rate–distortion bound.

For x0 ~ N(0, diag(s²)) the velocity is known in closed form, so the whole codebook sampler runs
with a perfect "model"; its MSE at M atoms per step can be compared with reverse water-filling D(R)
at the same number of bits. This checks the sampler, the codebook and the bit accounting together.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from . import sampler, sde


def spectrum(dim: int, decay: float = 0.004) -> np.ndarray:
    """A decaying standard-deviation spectrum, loosely like a latent's (a few strong, many weak dims)."""
    return np.exp(-decay * np.arange(dim)) * 1.5 + 0.05


def run_prior(M: int, K: int = 1024, dim: int = 1024, targets: int = 3, schedule: sampler.Schedule | None = None,
              seed: int = 42) -> dict:
    """Encode `targets` prior samples with M atoms per step (M = 0: no bits); decode and measure."""
    schedule = schedule or sampler.Schedule()
    std = spectrum(dim)
    prior = sde.GaussianPrior(np.zeros(dim), std)

    def velocity(x: torch.Tensor, t: float) -> torch.Tensor:
        return torch.from_numpy(prior.velocity(x.numpy(), t))

    rng = np.random.default_rng(seed)
    errors = []
    for n in range(targets):
        x0 = torch.from_numpy(prior.sample(rng))[None]
        x_init = torch.from_numpy(np.random.default_rng(10_000 + n).standard_normal((1, dim)))
        enc, chosen = sampler.run(velocity, x_init, schedule, seed=seed + n, K=K, atoms_per_frame=[M], target=x0)
        dec, _ = sampler.run(velocity, x_init, schedule, seed=seed + n, K=K, atoms_per_frame=[M], selections=chosen)
        if not torch.equal(enc, dec):
            raise AssertionError("decoder did not replay the encoder exactly")
        errors.append(float(((dec - x0) ** 2).mean()))
    bits = sampler.payload_bits(K, [M], schedule.sde_steps)
    mse = float(np.mean(errors))
    bound = sde.water_filling_distortion(std**2, bits)
    return {
        "M": M,
        "K": K,
        "dim": dim,
        "bits": bits,
        "bits_per_dim": bits / dim,
        "mse": mse,
        "mse_db": 10 * math.log10(mse),
        "bound_mse": bound,
        "gap_db": 10 * math.log10(mse / bound),
        "prior_var": float(np.mean(std**2)),
    }
