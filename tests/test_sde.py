"""RF→SDE maths against hand-computed values, and the exact Gaussian 'model'."""

import math

import numpy as np
import pytest

from gencodec.video import sde


def test_shift_schedule_matches_flow_match_scheduler():
    # diffusers FlowMatchEulerDiscreteScheduler(shift=3) on 4 steps gives sigmas 1, 0.8571… (shift of 0.75)
    t = sde.shift_timesteps(4, 3.0)
    assert t[0] == 1.0 and t[-1] == 0.0
    assert t[1] == pytest.approx(3 * 0.75 / (1 + 2 * 0.75))
    assert np.all(np.diff(t) < 0)
    assert np.allclose(sde.shift_timesteps(4, 1.0), np.linspace(1, 0, 5))
    assert sde.default_shift(480) == 3.0 and sde.default_shift(720) == 5.0


def test_hand_computed_step():
    x, u, t, tn, z, g = 0.5, -1.0, 0.5, 0.25, 0.3, 3.0
    score = -((1 - t) * u + x) / t  # = -(−0.5 + 0.5)/0.5 = 0
    assert sde.score_from_velocity(x, u, t) == pytest.approx(score) == pytest.approx(0.0)
    assert sde.diffusion(t, g) == pytest.approx(0.75)
    x, u = 1.0, 0.2  # score = −(0.1 + 1)/0.5 = −2.2
    assert sde.score_from_velocity(x, u, t) == pytest.approx(-2.2)
    f = 0.2 - 0.5 * 0.75**2 * (-2.2)  # 0.81875
    assert sde.drift(x, u, t, g) == pytest.approx(f) == pytest.approx(0.81875)
    expected = 1.0 - f * 0.25 + 0.75 * math.sqrt(0.25) * 0.3
    assert sde.sde_step(x, u, t, tn, z, g) == pytest.approx(expected)
    assert sde.x0_estimate(x, u, t) == pytest.approx(0.9)


def test_zero_diffusion_is_the_ode_euler_step():
    rng = np.random.default_rng(0)
    x, u, z = rng.normal(size=(3, 50))
    assert np.allclose(sde.sde_step(x, u, 0.7, 0.55, z, g=0.0), sde.ode_step(x, u, 0.7, 0.55))


def test_score_is_minus_noise_over_t_for_the_true_velocity():
    rng = np.random.default_rng(1)
    x0, eps = rng.normal(size=(2, 100))
    t = 0.4
    x_t = (1 - t) * x0 + t * eps
    assert np.allclose(sde.score_from_velocity(x_t, eps - x0, t), -eps / t)


def test_gaussian_prior_velocity_is_the_posterior_expectation():
    prior = sde.GaussianPrior(np.array([1.0, -2.0]), np.array([0.5, 2.0]))
    rng = np.random.default_rng(2)
    t = 0.6
    x0 = prior.mean + prior.std * rng.standard_normal((200_000, 2))
    eps = rng.standard_normal((200_000, 2))
    x_t = (1 - t) * x0 + t * eps
    # E[u | x_t] regressed on x_t must equal the closed form (it is linear in x_t)
    u = prior.velocity(x_t, t)
    resid = (eps - x0) - u
    assert np.abs(resid.mean(0)).max() < 0.01
    assert np.abs((resid * (x_t - x_t.mean(0))).mean(0)).max() < 0.01  # orthogonal to x_t


def test_sde_sampler_with_exact_velocity_reproduces_the_prior():
    """With Gaussian z the discretised SDE draws from (close to) the prior: the marginal std matches."""
    prior = sde.GaussianPrior(np.zeros(4000), np.full(4000, 0.7))
    rng = np.random.default_rng(3)
    ts = sde.shift_timesteps(60, 3.0)
    x = rng.standard_normal(4000)
    for t, tn in zip(ts[:-1], ts[1:]):
        u = prior.velocity(x, t)
        x = sde.sde_step(x, u, t, tn, rng.standard_normal(4000), g=1.0) if tn > 0 else sde.ode_step(x, u, t, tn)
    assert x.std() == pytest.approx(0.7, rel=0.08)


def test_water_filling():
    var = np.array([4.0, 1.0, 0.25, 0.01])
    assert sde.water_filling_distortion(var, 0) == pytest.approx(var.mean())
    # at high rate every component gets the same distortion D = 2^(−2R/n)·(Π var)^(1/n)
    bits = 40.0
    expected = 2 ** (-2 * bits / 4) * np.prod(var) ** 0.25
    assert sde.water_filling_distortion(var, bits) == pytest.approx(expected, rel=1e-6)
    assert sde.water_filling_distortion(var, 2.0) < sde.water_filling_distortion(var, 1.0)
