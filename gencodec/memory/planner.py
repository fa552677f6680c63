"""Token-budget planning: which strides turn a video's DiT token grid into at most N memory tokens.

The grid is Wan's: pixels padded to 16·stride, VAE 8×8 spatial and 4× temporal (1 + ⌈(F−1)/4⌉ latent
frames), patch 1×2×2. A stride (t, h, w) merges t×h×w grid cells into one memory token, so the
budget is counted exactly as the compressor produces tokens; ties prefer the paper's h = w = 2t shape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import InputError

TEMPORAL_FACTOR, SPATIAL_FACTOR, PATCH = 4, 8, 2
GRID = SPATIAL_FACTOR * PATCH  # pixels per token side
SPATIAL_STRIDES = (1, 2, 4, 8, 16)
TEMPORAL_STRIDES = (1, 2, 4, 8, 16, 32, 64, 128)


@dataclass(frozen=True)
class Plan:
    frames: int
    height: int
    width: int
    fps: float
    strides: tuple[int, int, int]  # (t, h, w) in DiT token-grid cells

    @property
    def latent_frames(self) -> int:
        return 1 + -(-(self.frames - 1) // TEMPORAL_FACTOR)

    @property
    def grid(self) -> tuple[int, int, int]:
        """The uncompressed DiT token grid (T', H/16, W/16), sides rounded up."""
        return self.latent_frames, -(-self.height // GRID), -(-self.width // GRID)

    @property
    def memory_grid(self) -> tuple[int, int, int]:
        return tuple(-(-g // s) for g, s in zip(self.grid, self.strides))

    @property
    def padded_size(self) -> tuple[int, int]:
        """Pixels the compressor sees: a whole number of memory tokens per side."""
        _, hm, wm = self.memory_grid
        return hm * self.strides[1] * GRID, wm * self.strides[2] * GRID

    @property
    def padded_latent_frames(self) -> int:
        return self.memory_grid[0] * self.strides[0]

    @property
    def padded_frames(self) -> int:
        return 1 + TEMPORAL_FACTOR * (self.padded_latent_frames - 1)

    @property
    def tokens(self) -> int:
        return math.prod(self.memory_grid)

    @property
    def full_tokens(self) -> int:
        return math.prod(self.grid)

    @property
    def seconds(self) -> float:
        return self.frames / self.fps if self.fps > 0 else 0.0

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0

    @property
    def label(self) -> str:
        t, h, w = self.strides
        return f"{h}×{w}×{t}"  # the paper's H×W×T order

    def summary(self) -> dict:
        return {"strides_hwt": self.label, "tokens": self.tokens, "full_tokens": self.full_tokens,
                "compression": self.full_tokens / self.tokens, "tokens_per_second": self.tokens_per_second,
                "memory_grid": list(self.memory_grid), "token_grid": list(self.grid)}


def parse_strides(text: str) -> tuple[int, int, int]:
    """'4x4x2' (H×W×T, the paper's order) → (t, h, w)."""
    try:
        h, w, t = (int(v) for v in text.lower().replace("×", "x").split("x"))
    except ValueError:
        raise InputError(f"strides must look like 4x4x2 (H×W×T), got '{text}'") from None
    if min(h, w, t) < 1 or max(h, w, t) > 256:
        raise InputError("strides must be between 1 and 256")
    return t, h, w


def plan(frames: int, height: int, width: int, fps: float, *, budget_tokens: int | None = None,
         strides: tuple[int, int, int] | None = None) -> Plan:
    """The plan for explicit strides, or the one with the most tokens that fits `budget_tokens`."""
    if frames < 1 or height < 1 or width < 1:
        raise InputError("the video is empty")
    if strides is not None:
        return Plan(frames, height, width, fps, tuple(strides))
    if budget_tokens is None or budget_tokens < 1:
        raise InputError("give a token budget (--budget-tokens N ≥ 1) or strides")
    candidates = [Plan(frames, height, width, fps, (t, s, s)) for s in SPATIAL_STRIDES for t in TEMPORAL_STRIDES]
    fitting = [p for p in candidates if p.tokens <= budget_tokens]
    if not fitting:
        least = min(p.tokens for p in candidates)
        raise InputError(f"a budget of {budget_tokens} tokens is too small for this video: it needs at least {least}")
    return max(fitting, key=lambda p: (p.tokens, -abs(math.log2(p.strides[1] / (2 * p.strides[0])))))
