"""One-vector rank-r LoRA on a Wan transformer: every adapted Linear reads its A and B from one θ.

`OneVectorLoRA(transformer, d, seed)` finds the targeted `nn.Linear`s (default: `attn1`/`attn2`
`to_q, to_k, to_v, to_out.0` of every block, as in Compression as Adaptation's `qkvo` preset), lays
out their LoRA entries in a fixed order and owns one trainable θ of length d:

- Entry order (defines D and the partition): block index, then target order; within a Linear, A
  (rank × in, row-major) then B (out × rank, row-major). D = Σ rank·(in + out); 737,280 for
  Wan2.1-T2V-1.3B (30 blocks × 8 Linears × (1536 + 1536)).
- Map: `partition.build_partition(seed, D, d, strata)`: balanced, signed, scaled by 1/√uses, so
  expand(θ) is an isometry. Strata = (block group, target): each of the `block_groups` runs of
  consecutive blocks and each target take a contiguous range of θ (`theta_groups`), so the coder can
  give every group its own density. `block_groups=None` gives the reference's fully random map.
- Forward: each Linear gets a forward hook, y = W₀x + b + scaling · B(Ax) with
      A = A₀ + expand(θ)[A entries],   B = expand(θ)[B entries].
  A₀ is a fixed ±1/√in matrix derived from the seed (hash stream 2: exact integers, no transcendental
  functions, so every machine builds the same A₀; ‖A₀ row‖ = 1) and costs no bits.

Why A₀: the reference initialises θ ~ U(−0.02, 0.02), so both factors are non-zero and the adapted
model starts perturbed (bits are then spent undoing the random init). With θ = 0 and both factors read
from θ, B·A = 0 but so is the gradient (∂/∂B ∝ A = 0, ∂/∂A ∝ B = 0). The seeded offset on A is the
standard LoRA init (A random, B zero) moved into the shared vector: at θ = 0 the adapted model is
exactly the base model (the hook adds exact zeros) and ∂L/∂B = scaling · (∂L/∂y)ᵀ(A₀x) ≠ 0, which
reaches θ through the B entries. The entropy model's zero-mean densities then match "θ = 0 is free".

`detach()` removes the hooks; the modules' own forwards are never replaced, so detaching restores the
base model bit-exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Self

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .partition import STREAM_OFFSET, Partition, build_partition, rademacher

DEFAULT_TARGETS = (
    "attn1.to_q", "attn1.to_k", "attn1.to_v", "attn1.to_out.0",
    "attn2.to_q", "attn2.to_k", "attn2.to_v", "attn2.to_out.0",
)
DEFAULT_D = 131_072
DEFAULT_BLOCK_GROUPS = 3


@dataclass(frozen=True)
class Target:
    name: str  # e.g. "blocks.3.attn2.to_k"
    block: int
    target: int  # position in the targets tuple
    module: nn.Linear
    start: int  # first LoRA entry (A), in the global order
    in_features: int
    out_features: int
    rank: int

    @property
    def size(self) -> int:
        return self.rank * (self.in_features + self.out_features)

    @property
    def a_size(self) -> int:
        return self.rank * self.in_features


def find_targets(transformer: nn.Module, targets: Sequence[str] = DEFAULT_TARGETS, rank: int = 1) -> list[Target]:
    """The adapted Linears in the fixed order (block index, then target order), with their entry offsets.

    Works on a model built on the meta device (no weights needed to count D).
    """
    blocks = getattr(transformer, "blocks", None)
    if blocks is None:
        raise ValueError("transformer has no .blocks (not a Wan transformer?)")
    if rank < 1:
        raise ValueError("rank must be >= 1")
    out, start = [], 0
    for b, block in enumerate(blocks):
        for t, path in enumerate(targets):
            module = block.get_submodule(path)
            if not isinstance(module, nn.Linear):
                raise TypeError(f"blocks.{b}.{path} is {type(module).__name__}, not nn.Linear")
            parent = block.get_submodule(path.split(".")[0])
            if getattr(parent, "fused_projections", False):
                raise ValueError(f"blocks.{b}.{path.split('.')[0]} has fused projections; call unfuse_projections()")
            tgt = Target(f"blocks.{b}.{path}", b, t, module, start, module.in_features, module.out_features, rank)
            out.append(tgt)
            start += tgt.size
    return out


def count_entries(transformer: nn.Module, targets: Sequence[str] = DEFAULT_TARGETS, rank: int = 1) -> int:
    """D for a model (meta-device models work)."""
    return sum(t.size for t in find_targets(transformer, targets, rank))


def wan_entry_count(config: dict, targets: Sequence[str] = DEFAULT_TARGETS, rank: int = 1) -> int:
    """D from a WanTransformer3DModel config alone: every attention Linear of a Wan block maps
    inner_dim = heads × head_dim to inner_dim (attn2's keys/values read the text embedding after the
    condition embedder has projected it to inner_dim; I2V's extra image projections are not targets).
    """
    inner = int(config["num_attention_heads"]) * int(config["attention_head_dim"])
    known = {f"{a}.{p}" for a in ("attn1", "attn2") for p in ("to_q", "to_k", "to_v", "to_out.0")}
    unknown = set(targets) - known
    if unknown:
        raise ValueError(f"no config arithmetic for targets {sorted(unknown)}")
    return int(config["num_layers"]) * len(targets) * rank * (inner + inner)


def block_group_of(block: int, n_blocks: int, block_groups: int) -> int:
    return block * block_groups // n_blocks


class OneVectorLoRA(nn.Module):
    """One trainable θ (length d) driving rank-`rank` LoRA on the targeted Linears of `transformer`.

    The transformer is not modified until `attach()` (or `with adapter:`), and `detach()` undoes it.
    θ and the constants live on the transformer's device; θ is float32 whatever the model dtype.
    """

    def __init__(
        self,
        transformer: nn.Module,
        d: int = DEFAULT_D,
        seed: int = 0,
        targets: Sequence[str] = DEFAULT_TARGETS,
        rank: int = 1,
        scaling: float = 1.0,
        block_groups: int | None = DEFAULT_BLOCK_GROUPS,
    ):
        super().__init__()
        self.targets = tuple(targets)
        self.rank = int(rank)
        self.scaling = float(scaling)
        self.seed = int(seed)
        self._targets = find_targets(transformer, self.targets, self.rank)
        self.D = sum(t.size for t in self._targets)
        n_blocks = len(transformer.blocks)
        self.block_groups = None if block_groups is None else max(1, min(int(block_groups), n_blocks))
        strata = None
        if self.block_groups is not None:
            labels = [block_group_of(t.block, n_blocks, self.block_groups) * len(self.targets) + t.target
                      for t in self._targets]
            strata = np.repeat(np.asarray(labels, np.int64), [t.size for t in self._targets])
        self.partition: Partition = build_partition(self.seed, self.D, d, strata)
        self.d = self.partition.d
        device = next(transformer.parameters()).device
        self.theta = nn.Parameter(torch.zeros(self.d, dtype=torch.float32, device=device))
        index, coef = self.partition.coefficients("cpu")
        self.register_buffer("index", index.to(device), persistent=False)
        self.register_buffer("coef", coef.to(device), persistent=False)
        self.register_buffer("a0", self._offsets().to(device), persistent=False)
        self._handles: list = []

    # ------------------------------------------------------------ parametrisation

    def _offsets(self) -> torch.Tensor:
        """A₀ for every target, concatenated (length Σ rank·in): ±1/√in from the seed's offset stream."""
        n = sum(t.a_size for t in self._targets)
        signs = torch.from_numpy(rademacher(self.seed, STREAM_OFFSET, n)).to(torch.float32)
        scales = torch.cat([torch.full((t.a_size,), 1.0 / math.sqrt(t.in_features)) for t in self._targets])
        return signs * scales.to(torch.float32)

    @property
    def num_lora_entries(self) -> int:
        return self.D

    @property
    def theta_groups(self) -> tuple[int, ...]:
        """θ lengths per stratum (block group × target), the natural groups for `theta_coding`."""
        return self.partition.group_sizes

    @property
    def modules_adapted(self) -> list[str]:
        return [t.name for t in self._targets]

    def lora_matrices(self, theta: torch.Tensor | None = None) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
        """(name, A [rank × in], B [out × rank]) for every target; differentiable w.r.t. θ."""
        theta = self.theta if theta is None else theta
        out, a_pos = [], 0
        for t in self._targets:
            a, b, a_pos = self._factors(t, theta, a_pos)
            out.append((t.name, a, b))
        return out

    def _factors(self, t: Target, theta: torch.Tensor, a_pos: int):
        flat = theta[self.index[t.start : t.start + t.size]] * self.coef[t.start : t.start + t.size]
        a = (flat[: t.a_size] + self.a0[a_pos : a_pos + t.a_size]).view(t.rank, t.in_features)
        b = flat[t.a_size :].view(t.out_features, t.rank)
        return a, b, a_pos + t.a_size

    # ------------------------------------------------------------ hooks

    def _hook(self, t: Target, a_pos: int):
        def hook(module, args, output):
            x = args[0] if args else None
            if x is None:
                raise RuntimeError(f"{t.name}: LoRA hook needs the input as a positional argument")
            theta = self.theta if self.quantizer is None else self.quantizer(self.theta)
            a, b, _ = self._factors(t, theta, a_pos)
            delta = F.linear(F.linear(x, a.to(x.dtype)), b.to(x.dtype))
            if self.scaling != 1.0:
                delta = delta * self.scaling
            return output + delta.to(output.dtype)

        return hook

    quantizer = None  # optional θ → θ used by the forward pass (quantisation-aware fitting)

    @property
    def attached(self) -> bool:
        return bool(self._handles)

    def attach(self) -> OneVectorLoRA:
        if self._handles:
            return self
        a_pos = 0
        for t in self._targets:
            self._handles.append(t.module.register_forward_hook(self._hook(t, a_pos)))
            a_pos += t.a_size
        return self

    def detach(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    def __enter__(self) -> Self:
        return self.attach()

    def __exit__(self, *exc) -> None:
        self.detach()

    # ------------------------------------------------------------ state

    def state(self) -> torch.Tensor:
        """A detached CPU float32 copy of θ."""
        return self.theta.detach().to("cpu", torch.float32).clone()

    @torch.no_grad()
    def load(self, theta) -> None:
        theta = torch.as_tensor(theta, dtype=torch.float32)
        if theta.shape != (self.d,):
            raise ValueError(f"theta must have shape ({self.d},), got {tuple(theta.shape)}")
        self.theta.copy_(theta.to(self.theta.device))

    def extra_repr(self) -> str:
        return (f"D={self.D}, d={self.d}, seed={self.seed}, rank={self.rank}, scaling={self.scaling}, "
                f"targets={len(self._targets)}, block_groups={self.block_groups}")
