"""Seeded balanced random partition: the map from the one vector θ (length d) to the D LoRA entries.

Every LoRA entry e reads

    lora[e] = θ[index[e]] · sign[e] / √uses[index[e]]

where `uses[j]` counts the entries that read θ[j]. This is Uni-LoRA's isometric random-partition
projection (arXiv 2506.00799, as used by Compression as Adaptation, arXiv 2603.07615) plus a ±1 sign
hash that decorrelates the entries sharing one θ value. Distinct θ entries feed disjoint sets of
LoRA entries and each set has squared weight Σ 1/uses_j = 1, so `expand` is an exact linear isometry:
‖expand(θ)‖² = Σ_j θ_j² · uses_j / uses_j = ‖θ‖², and its transpose undoes it (Pᵀ P = I).

Construction (everything derives from (seed, D, d) and optional strata labels, nothing else):

1. Slots. Slot s ∈ [0, D) belongs to θ entry j when c_j ≤ s < c_{j+1}, with c_j = ⌊j·D/d⌋
   (Bresenham spread), so uses_j = c_{j+1} − c_j ∈ {⌊D/d⌋, ⌈D/d⌉}: the partition is balanced.
2. Permutation. Entry e gets a 64-bit key splitmix64(seed, stream 0, e); entries are stably sorted by
   (stratum, key) and the i-th entry of that order takes slot i. Without strata this is a uniform random
   permutation, i.e. a fully random balanced partition. With strata (an integer label per entry), each
   stratum takes a contiguous run of slots and hence a contiguous range of θ (only a θ entry straddling
   two runs is shared), which lets θ be entropy-coded per group (`Partition.group_sizes`).
3. Signs. sign[e] = +1 if the top bit of splitmix64(seed, stream 1, e) is 0, else −1.

The hash is splitmix64 (Steele, Lea & Flood 2014) on numpy uint64 arrays, whose arithmetic wraps
modulo 2^64 identically on every machine; the sort is numpy's stable sort of integer keys. No global
RNG of numpy or torch is touched, so the map is the same on every machine and library version.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import torch

_GAMMA = 0x9E3779B97F4A7C15
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_MASK = (1 << 64) - 1

STREAM_PERMUTATION = 0
STREAM_SIGN = 1
STREAM_OFFSET = 2  # used by the adapter for its seeded fixed A offset

MAX_ENTRIES = 1 << 32


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser on a uint64 array (wrapping arithmetic)."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def _mix_int(x: int) -> int:
    """The same finaliser on one Python int (used to derive a stream's starting state)."""
    x &= _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def hash_stream(seed: int, stream: int, n: int, start: int = 0) -> np.ndarray:
    """uint64 hashes of counters start..start+n−1 in stream `stream` of `seed` (splitmix64 outputs).

    The stream's state is k = mix(mix(seed) + stream); output e is mix(k + (e+1)·γ mod 2^64), i.e. the
    e-th output of a splitmix64 generator seeded with k.
    """
    seed, stream, n, start = int(seed), int(stream), int(n), int(start)
    if not 0 <= seed <= _MASK:
        raise ValueError(f"seed must be in [0, 2^64), got {seed}")
    if n < 0 or start < 0 or start + n > MAX_ENTRIES:
        raise ValueError("hash counter range out of bounds")
    k = _mix_int((_mix_int(seed) + stream * _GAMMA) & _MASK)
    counters = np.arange(start + 1, start + n + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        state = np.uint64(k) + counters * np.uint64(_GAMMA)
        return _mix(state)


def rademacher(seed: int, stream: int, n: int) -> np.ndarray:
    """±1 (int8) from the top bit of each hash."""
    bits = (hash_stream(seed, stream, n) >> np.uint64(63)).astype(np.int8)
    return (1 - 2 * bits).astype(np.int8)


def slot_starts(D: int, d: int) -> np.ndarray:
    """c_j = ⌊j·D/d⌋ for j = 0..d (exact integer arithmetic; D·d < 2^63)."""
    return (np.arange(d + 1, dtype=np.int64) * D) // d


@dataclass(frozen=True)
class Partition:
    """The map θ ∈ R^d → R^D. Tensors are CPU; `expand` moves its constants to θ's device once."""

    seed: int
    D: int
    d: int
    index: torch.Tensor  # int64 [D]: which θ entry each LoRA entry reads
    sign: torch.Tensor  # int8 [D]: ±1
    scale: torch.Tensor  # float32 [D]: 1/√uses[index]
    group_sizes: tuple[int, ...]  # θ lengths owned by each stratum, in stratum order (sum d)
    _device_cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def uses(self) -> torch.Tensor:
        """int64 [d]: how many LoRA entries read each θ entry."""
        return torch.from_numpy(np.diff(slot_starts(self.D, self.d)))

    def coefficients(self, device=None) -> tuple[torch.Tensor, torch.Tensor]:
        """(index, sign·scale) on `device`, cached."""
        key = str(torch.device(device) if device is not None else torch.device("cpu"))
        if key not in self._device_cache:
            coef = self.sign.to(torch.float32) * self.scale
            self._device_cache[key] = (self.index.to(key), coef.to(key))
        return self._device_cache[key]

    def expand(self, theta: torch.Tensor, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """LoRA entries [start, stop) from θ; differentiable w.r.t. θ (a gather and a product)."""
        if theta.shape != (self.d,):
            raise ValueError(f"theta must have shape ({self.d},), got {tuple(theta.shape)}")
        index, coef = self.coefficients(theta.device)
        stop = self.D if stop is None else stop
        return theta[index[start:stop]] * coef[start:stop].to(theta.dtype)

    def adjoint(self, lora: torch.Tensor) -> torch.Tensor:
        """Pᵀ: LoRA-entry vector (length D) → θ-space (scatter-add). adjoint(expand(θ)) = θ."""
        index, coef = self.coefficients(lora.device)
        out = torch.zeros(self.d, dtype=lora.dtype, device=lora.device)
        return out.index_add(0, index, lora * coef.to(lora.dtype))


def build_partition(seed: int, D: int, d: int, strata: np.ndarray | None = None) -> Partition:
    """The seeded balanced partition of D LoRA entries over d θ entries (see the module docstring).

    `strata`: optional integer label per LoRA entry (length D). Strata take contiguous θ ranges in
    ascending label order; without it the partition is fully random (one stratum).
    """
    D, d = int(D), int(d)
    if not 1 <= d <= D:
        raise ValueError(f"need 1 <= d <= D, got d={d}, D={D}")
    if D > MAX_ENTRIES:
        raise ValueError(f"D={D} exceeds {MAX_ENTRIES}")
    keys = hash_stream(seed, STREAM_PERMUTATION, D)
    if strata is None:
        order = np.argsort(keys, kind="stable")
        counts = np.array([D])
    else:
        strata = np.asarray(strata, dtype=np.int64)
        if strata.shape != (D,):
            raise ValueError(f"strata must have shape ({D},)")
        order = np.lexsort((keys, strata))  # stable: by stratum, then by key
        counts = np.unique(strata, return_counts=True)[1]
    starts = slot_starts(D, d)
    slot_owner = np.repeat(np.arange(d, dtype=np.int64), np.diff(starts))  # θ entry of each slot
    index = np.empty(D, np.int64)
    index[order] = slot_owner
    uses = np.diff(starts)
    scale = (1.0 / np.sqrt(uses.astype(np.float64))).astype(np.float32)[index]
    sign = rademacher(seed, STREAM_SIGN, D)
    # Stratum k owns slots [S_k, S_{k+1}); a θ entry belongs to the stratum of its first slot, so the
    # stratum's θ range starts at the first entry j with c_j >= S_k, i.e. j = ⌈S_k·d/D⌉.
    slot_bounds = np.concatenate([[0], np.cumsum(counts)])
    theta_bounds = [-(-int(s) * d // D) for s in slot_bounds]
    group_sizes = tuple(int(b - a) for a, b in itertools.pairwise(theta_bounds))
    return Partition(
        seed=int(seed), D=D, d=d,
        index=torch.from_numpy(index), sign=torch.from_numpy(sign), scale=torch.from_numpy(scale),
        group_sizes=group_sizes,
    )
