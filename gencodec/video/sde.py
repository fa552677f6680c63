"""Rectified flow as a stochastic sampler: the maths GVC steers with codebook noise.

Wan's interpolant is x_t = (1−t)·x0 + t·ε and its model predicts the velocity u ≈ ε − x0.
The family of SDEs with the same marginals, run backwards with diffusion g_t = g·t², is
    x_{t−Δt} = x_t − f·Δt + g_t·√Δt·z,   f = u − (g_t²/2)·score,   score = −[(1−t)·u + x_t]/t,
where z is the injected noise (the codec chooses it from a codebook). g = 0 is the ODE Euler step.
All functions work on tensors or numpy arrays; t is a Python float in (0, 1].
"""

from __future__ import annotations

import math

import numpy as np

DEFAULT_G = 3.0


def shift_timesteps(steps: int, shift: float) -> np.ndarray:
    """steps+1 times from 1 to 0: t' = s·t / (1 + (s−1)·t) on linspace(1, 0, steps+1) (SD3/Wan shift)."""
    t = np.linspace(1.0, 0.0, steps + 1)
    return shift * t / (1.0 + (shift - 1.0) * t)


def default_shift(height: int) -> float:
    """Wan's usual shift: 3 up to 480p, 5 above."""
    return 3.0 if height <= 480 else 5.0


def score_from_velocity(x_t, u, t: float):
    """∇log p_t(x) = −[(1−t)·u + x_t] / t for the linear interpolant (= −E[ε|x_t]/t)."""
    return -((1.0 - t) * u + x_t) / t


def diffusion(t: float, g: float = DEFAULT_G) -> float:
    """g_t = g·t²: full noise injection early, none at t → 0."""
    return g * t * t


def drift(x_t, u, t: float, g: float = DEFAULT_G):
    g_t = diffusion(t, g)
    return u - 0.5 * g_t * g_t * score_from_velocity(x_t, u, t)


def x0_estimate(x_t, u, t: float):
    """The model's clean estimate x̂0 = x_t − t·u (what the encoder compares with the target)."""
    return x_t - t * u


def sde_step(x_t, u, t: float, t_next: float, z, g: float = DEFAULT_G):
    """One Euler–Maruyama step from t to t_next < t with injected unit-variance noise z."""
    dt = t - t_next
    return x_t - drift(x_t, u, t, g) * dt + diffusion(t, g) * math.sqrt(dt) * z


def ode_step(x_t, u, t: float, t_next: float):
    """One Euler step of the probability-flow ODE (no bits)."""
    return x_t - u * (t - t_next)


# ------------------------------------------------------------------ an exact "model" for testing


class GaussianPrior:
    """x0 ~ N(μ, diag(s²)): the exact velocity is known, so the sampler can be checked against theory.

    E[x0 | x_t] = μ + (1−t)s² / ((1−t)²s² + t²) · (x_t − (1−t)μ),   u = (x_t − E[x0 | x_t]) / t.
    """

    def __init__(self, mean: np.ndarray, std: np.ndarray):
        self.mean = np.asarray(mean, np.float64)
        self.std = np.asarray(std, np.float64)

    def posterior_mean(self, x_t: np.ndarray, t: float) -> np.ndarray:
        s2 = self.std**2
        gain = (1.0 - t) * s2 / ((1.0 - t) ** 2 * s2 + t * t)
        return self.mean + gain * (x_t - (1.0 - t) * self.mean)

    def velocity(self, x_t: np.ndarray, t: float) -> np.ndarray:
        return (x_t - self.posterior_mean(x_t, t)) / t

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        return self.mean + self.std * rng.standard_normal(self.mean.shape)


def water_filling_distortion(variances: np.ndarray, bits: float) -> float:
    """Reverse water-filling D(R) (MSE per dimension) of independent Gaussians at a total rate in bits."""
    var = np.sort(np.asarray(variances, np.float64))
    if bits <= 0:
        return float(var.mean())
    nats = bits * math.log(2.0)

    def rate(theta: float) -> float:
        return 0.5 * np.log(np.maximum(var / theta, 1.0)).sum()

    lo, hi = 1e-300, float(var.max())
    for _ in range(200):
        mid = math.sqrt(lo * hi) if lo > 0 else hi / 2
        if rate(mid) > nats:
            lo = mid
        else:
            hi = mid
    return float(np.minimum(var, hi).mean())
