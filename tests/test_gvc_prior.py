"""GVC's codebook sampler with an exact Gaussian 'model' (DESIGN §11): more atoms, lower error, exact replay."""

import pytest
import torch

from gencodec import codebook
from gencodec.video import prior_check, sampler


@pytest.fixture(scope="module")
def sweep():
    return {m: prior_check.run_prior(m, K=512, dim=512, targets=2) for m in (0, 4, 16, 64, 256)}


def test_error_falls_monotonically_with_atoms(sweep):
    mses = [sweep[m]["mse"] for m in (0, 4, 16, 64, 256)]
    assert all(a > b for a, b in zip(mses, mses[1:])), mses


def test_sixty_four_atoms_clearly_beat_the_free_sample(sweep):
    assert sweep[64]["mse"] < 0.25 * sweep[0]["mse"]


def test_no_bits_sample_is_a_prior_draw(sweep):
    # an independent draw from the prior errs by about twice the prior variance, and costs nothing
    assert sweep[0]["bits"] == 0
    assert sweep[0]["mse"] == pytest.approx(2 * sweep[0]["prior_var"], rel=0.35)


def test_never_beats_the_rate_distortion_bound(sweep):
    assert all(r["mse"] >= r["bound_mse"] for r in sweep.values())


def test_bits_are_index_set_bits():
    assert sampler.payload_bits(16384, [64] * 9, 17) * 1 == 17 * 9 * (600 + 64)
    assert codebook.payload_bytes(16384, [64] * (17 * 9)) == 12699  # a 720p T2V GOP (DESIGN §5)


def test_decoder_replays_from_the_bitstream():
    """Selections through pack/unpack reproduce the encoder's final latent bit for bit."""
    prior = prior_check.sde.GaussianPrior(torch.zeros(64).numpy(), prior_check.spectrum(64))

    def velocity(x, t):
        return torch.from_numpy(prior.velocity(x.numpy(), t))

    sched = sampler.Schedule(steps=6, ode_tail=2)
    x_init = torch.randn(2, 64, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    target = torch.randn(2, 64, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    enc, chosen = sampler.run(velocity, x_init, sched, seed=7, K=256, atoms_per_frame=[4, 8], target=target)
    flat = [s for step in chosen for s in step]
    data = codebook.pack_selections(flat, 256)
    back = codebook.unpack_selections(data, 256, [4, 8] * sched.sde_steps)
    replay = [back[i : i + 2] for i in range(0, len(back), 2)]
    dec, _ = sampler.run(velocity, x_init, sched, seed=7, K=256, atoms_per_frame=[4, 8], selections=replay)
    assert torch.equal(enc, dec)
    assert len(data) == codebook.payload_bytes(256, [4, 8] * sched.sde_steps)
