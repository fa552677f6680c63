"""Rate control on true bytes, shared by every codec with `--target-bytes`.

Codecs expose a quantiser step as an integer code (larger = coarser = smaller file) and a function that
packs the whole file for a code. We bisect on the real file size, then look a few codes finer, because
sizes form a staircase rather than a strictly monotone curve.
"""

from __future__ import annotations

from typing import Callable

from tqdm.auto import tqdm

from .errors import InputError

LOOK_FINER = 8


def finest_fitting(pack: Callable[[int], bytes], lo: int, hi: int, target: int, what: str = "") -> tuple[int, bytes]:
    """(code, file) for the finest code in [lo, hi] whose whole file is ≤ `target` bytes."""
    cache: dict[int, bytes] = {}

    def size(code: int) -> int:
        if code not in cache:
            cache[code] = pack(code)
        return len(cache[code])

    first = lo
    if size(hi) > target:
        raise InputError(f"target of {target} bytes is too small{what}: the smallest file is {size(hi)} bytes")
    with tqdm(total=max(1, (hi - lo).bit_length()), desc="rate control", leave=False, disable=None) as bar:
        while hi - lo > 1:  # invariant: size(hi) <= target < size(lo)
            mid = (lo + hi) // 2
            if size(mid) <= target:
                hi = mid
            else:
                lo = mid
            bar.update(1)
    best = min(c for c, data in cache.items() if len(data) <= target)
    for code in range(best - 1, max(best - LOOK_FINER, first) - 1, -1):
        if size(code) <= target:
            best = code
    return best, cache[best]
