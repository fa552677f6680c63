"""The codebook-steered SDE sampler shared by GVC's encoder and decoder.

Encoder: at each SDE step it compares the model's clean estimate x̂0 with the target latent, picks the
M codebook atoms that best point along the residual (per latent frame), and uses their signed,
normalised sum as the step's noise; the selections are the whole bitstream. Decoder: the same loop
with the selections read from the file. The last steps are plain ODE steps and cost nothing.
Any velocity function works: Wan's transformer, or the exact Gaussian prior used in tests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from .. import codebook
from . import sde

Velocity = Callable[[torch.Tensor, float], torch.Tensor]  # (x_t [F, ...], t) → u [F, ...]


@dataclass
class Schedule:
    steps: int = 20
    ode_tail: int = 3  # the last steps are deterministic and carry no atoms
    shift: float = 3.0
    g: float = sde.DEFAULT_G

    @property
    def sde_steps(self) -> int:
        return self.steps - self.ode_tail

    def times(self) -> np.ndarray:
        return sde.shift_timesteps(self.steps, self.shift)


def _noise(selections, seed: int, step: int, frame0: int, shape, device, dtype) -> torch.Tensor:
    dim = int(np.prod(shape[1:]))
    out = []
    for f, sel in enumerate(selections):
        if sel is None:  # M = 0: a fixed atom, known to both sides, costs no bits
            z = codebook.atoms(seed, step, frame0 + f, [0], dim, device=device, dtype=torch.float64)[0]
            z = (z / z.std()).to(dtype)
        else:
            z = codebook.combine(sel, seed, step, frame0 + f, dim, device=device, dtype=dtype)
        out.append(z)
    return torch.stack(out).reshape(shape)


def run(
    velocity: Velocity,
    x_init: torch.Tensor,
    schedule: Schedule,
    *,
    seed: int,
    K: int,
    atoms_per_frame: Sequence[int],
    target: torch.Tensor | None = None,
    selections: Sequence[Sequence[codebook.Selection | None]] | None = None,
    frame0: int = 0,
    progress: str | None = None,
) -> tuple[torch.Tensor, list[list[codebook.Selection | None]]]:
    """Run the sampler from x_init (t = 1) to t = 0.

    Give `target` to encode (selections are chosen and returned) or `selections` to decode (replayed).
    x has shape [F, ...] with F latent frames; atoms_per_frame[f] is M for frame f (0 = no bits).
    """
    if (target is None) == (selections is None):
        raise ValueError("give either target (encode) or selections (decode)")
    ts = schedule.times()
    x = x_init.clone()
    chosen: list[list[codebook.Selection | None]] = []
    for i in tqdm(range(schedule.steps), desc=progress or "sampling", leave=False, disable=None if progress else True):
        t, t_next = float(ts[i]), float(ts[i + 1])
        u = velocity(x, t)
        if i >= schedule.sde_steps:
            x = sde.ode_step(x, u, t, t_next)
            continue
        if target is not None:
            residual = target - sde.x0_estimate(x, u, t)
            step_sel = [
                codebook.select(residual[f], seed, i, frame0 + f, K, m) if m > 0 else None for f, m in enumerate(atoms_per_frame)
            ]
        else:
            step_sel = list(selections[i])
        chosen.append(step_sel)
        z = _noise(step_sel, seed, i, frame0, x.shape, x.device, x.dtype)
        x = sde.sde_step(x, u, t, t_next, z, schedule.g)
    return x, chosen


def payload_bits(K: int, atoms_per_frame: Sequence[int], sde_steps: int) -> int:
    """Bits the selections take: ⌈log2 C(K, M)⌉ + M per frame-step (no bits where M = 0)."""
    return sde_steps * sum(codebook.index_bits(K, m) for m in atoms_per_frame if m > 0)
