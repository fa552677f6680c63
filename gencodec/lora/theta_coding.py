"""Quantise and entropy-code the LoRA vector θ with one density per group.

θ is quantised with a uniform step Δ to integer symbols q = clamp(round(θ/Δ), −128, 128) (the
reference's ±128-step range, 257 levels). The reference codes all 131,072 symbols with one shared
learned density; here θ is split into contiguous groups (for `OneVectorLoRA`, one per block group ×
target, `adapter.theta_groups`) and each group gets its own zero-mean quantised Laplace or Gaussian
whose family and scale the encoder picks by exact code length (from the group's histogram). Each
group's model is one side byte, so 24 groups cost 24 bytes against ~16–40 KB of payload.

Stream layout (the caller knows d and the group sizes, e.g. from the header and the partition):

    step        float32 little-endian (4 bytes); the encoder quantises with exactly this value
    per group   1 byte (groups of size 0 have none): bit 7 = family (0 Laplace, 1 Gaussian),
                bits 0–6 = scale index i, scale = 2^((i − 48)/8) symbols; i = 0: the group is all zero
    n_words     uvarint: number of 32-bit range-coder words that follow
    words       constriction queue RangeEncoder output, little-endian uint32, groups in order

The word count makes truncation and trailing bytes always detectable (2–3 bytes); anything malformed
raises `FormatError`. A well-formed stream with altered payload bits decodes to other symbols: the
container's CRC32, checked before decoding, is what catches that.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence

import numpy as np
import torch

from ..container import Reader, write_uvarint
from ..errors import FormatError

MAX_SYMBOL = 128
MAX_THETA = 1 << 24  # bound on d for decoding (allocation guard)
LAPLACE, GAUSSIAN = 0, 1
FAMILIES = (LAPLACE, GAUSSIAN)
_SCALE_OFFSET = 48
_SCALE_INDICES = np.arange(1, 128)
SCALES = 2.0 ** ((_SCALE_INDICES - _SCALE_OFFSET) / 8.0)  # scale index i ↦ SCALES[i − 1]
_SUPPORT = np.arange(-MAX_SYMBOL, MAX_SYMBOL + 1)


def scale_of(index: int) -> float:
    return float(2.0 ** ((index - _SCALE_OFFSET) / 8.0))


def quantize(theta, step: float) -> np.ndarray:
    """int32 symbols clamp(round(θ/Δ), ±128) (round half to even), computed in float64."""
    x = _as_numpy(theta).astype(np.float64) / float(np.float32(step))
    return np.clip(np.rint(x), -MAX_SYMBOL, MAX_SYMBOL).astype(np.int32)


def dequantize(symbols, step: float) -> torch.Tensor:
    """float32 θ̂ = q·Δ."""
    return torch.from_numpy(np.asarray(symbols, np.float32) * np.float32(step))


def _as_numpy(theta) -> np.ndarray:
    if isinstance(theta, torch.Tensor):
        return theta.detach().to("cpu", torch.float64).numpy()
    return np.asarray(theta)


def _check_groups(groups: Sequence[int] | None, d: int, err=ValueError) -> list[int]:
    if groups is None:
        return [d]
    groups = [int(g) for g in groups]
    if any(g < 0 for g in groups) or sum(groups) != d:
        raise err(f"group sizes must be non-negative and sum to d={d}")
    return groups


def _pmf_table(family: int) -> np.ndarray:
    """(len(SCALES), 257) probabilities of each symbol under each scale, renormalised on ±128."""
    s = SCALES[:, None]
    lo, hi = _SUPPORT[None] - 0.5, _SUPPORT[None] + 0.5
    if family == LAPLACE:
        def cdf(v):
            return np.where(v < 0, 0.5 * np.exp(np.minimum(v, 0) / s), 1 - 0.5 * np.exp(-np.maximum(v, 0) / s))
    else:
        erfc = np.vectorize(math.erfc, otypes=[np.float64])

        def cdf(v):
            return 0.5 * erfc(-v / (s * math.sqrt(2.0)))
    p = np.maximum(cdf(hi) - cdf(lo), 1e-300)
    return p / p.sum(1, keepdims=True)


_LOG_PMF: dict[int, np.ndarray] = {}


def _log2_pmf(family: int) -> np.ndarray:
    if family not in _LOG_PMF:
        _LOG_PMF[family] = np.log2(np.maximum(_pmf_table(family), 2.0**-24))  # ~ the coder's precision floor
    return _LOG_PMF[family]


def fit_group(symbols: np.ndarray) -> tuple[int, int, float]:
    """(family, scale index, ideal bits) with the shortest code for these symbols; (LAPLACE, 0, 0) if all zero."""
    if not np.any(symbols):
        return LAPLACE, 0, 0.0
    hist = np.bincount(np.asarray(symbols, np.int64) + MAX_SYMBOL, minlength=2 * MAX_SYMBOL + 1)
    best = None
    for family in FAMILIES:
        bits = -(_log2_pmf(family) @ hist)
        j = int(np.argmin(bits))
        if best is None or bits[j] < best[2]:
            best = (family, int(_SCALE_INDICES[j]), float(bits[j]))
    return best


def _model(family: int, index: int):
    import constriction

    m = constriction.stream.model
    cls = m.QuantizedLaplace if family == LAPLACE else m.QuantizedGaussian
    return cls(-MAX_SYMBOL, MAX_SYMBOL, 0.0, scale_of(index))


def encode_symbols(symbols, step: float, groups: Sequence[int] | None = None) -> bytes:
    """Code integer symbols (|q| ≤ 128) that were quantised with `step`."""
    import constriction

    q = np.asarray(symbols)
    if q.ndim != 1 or not np.issubdtype(q.dtype, np.integer):
        raise ValueError("symbols must be a 1-D integer array")
    if q.size and int(np.abs(q).max()) > MAX_SYMBOL:
        raise ValueError(f"symbols must lie in ±{MAX_SYMBOL}")
    step32 = np.float32(step)
    if not (np.isfinite(step32) and step32 > 0):
        raise ValueError(f"step must be a positive finite float32, got {step}")
    groups = _check_groups(groups, q.size)
    out = bytearray(struct.pack("<f", step32))
    enc = constriction.stream.queue.RangeEncoder()
    pos = 0
    for size in groups:
        if size == 0:
            continue
        chunk = q[pos : pos + size].astype(np.int32)
        pos += size
        family, index, _ = fit_group(chunk)
        out.append(family << 7 | index)
        if index:
            enc.encode(chunk, _model(family, index))
    words = enc.get_compressed()
    write_uvarint(out, len(words))
    out += words.astype("<u4").tobytes()
    return bytes(out)


def encode_theta(theta, step: float, groups: Sequence[int] | None = None) -> bytes:
    """Quantise θ (tensor or array, length d) with step Δ and code it; `groups` are contiguous sizes (sum d)."""
    return encode_symbols(quantize(theta, step), step, groups)


def decode_theta(data: bytes, d: int, groups: Sequence[int] | None = None) -> tuple[np.ndarray, float]:
    """(int32 symbols [d], step) from `encode_theta`'s bytes; malformed input raises FormatError."""
    import constriction

    d = int(d)
    if not 0 <= d <= MAX_THETA:
        raise FormatError(f"corrupt LoRA vector: length {d} out of range")
    groups = _check_groups(groups, d, FormatError)
    r = Reader(data, "LoRA vector")
    (step,) = struct.unpack("<f", r.take(4))
    if not (np.isfinite(step) and step > 0):
        raise FormatError("corrupt LoRA vector: bad quantiser step")
    models = []
    for size in groups:
        if size == 0:
            continue
        byte = r.take(1)[0]
        family, index = byte >> 7, byte & 0x7F
        if index == 0 and family != LAPLACE:
            raise FormatError("corrupt LoRA vector: bad group model")
        models.append((size, family, index))
    n_words = r.uvarint(limit=r.remaining // 4)
    payload = r.take(4 * n_words)
    if r.remaining:
        raise FormatError(f"corrupt LoRA vector: {r.remaining} trailing bytes")
    q = np.zeros(d, np.int32)
    coded = any(index for _, _, index in models)
    if coded != bool(n_words):
        raise FormatError("corrupt LoRA vector: payload does not match the group models")
    if coded:
        try:
            dec = constriction.stream.queue.RangeDecoder(np.frombuffer(payload, dtype="<u4").astype(np.uint32))
            pos = 0
            for size, family, index in models:
                if index:
                    q[pos : pos + size] = dec.decode(_model(family, index), size)
                pos += size
            exhausted = dec.maybe_exhausted()
        except Exception as exc:  # noqa: BLE001  constriction reports corrupt streams in several ways
            raise FormatError(f"corrupt LoRA vector ({type(exc).__name__})") from None
        if not exhausted:
            raise FormatError("corrupt LoRA vector: payload longer than its symbols")
    return q, float(step)


def decode_theta_tensor(data: bytes, d: int, groups: Sequence[int] | None = None) -> torch.Tensor:
    """Dequantised θ̂ (float32 [d])."""
    q, step = decode_theta(data, d, groups)
    return dequantize(q, step)


def ideal_bits(symbols, groups: Sequence[int] | None = None) -> float:
    """Ideal code length (bits) of the symbols' payload under the fitted per-group models (no side info)."""
    q = np.asarray(symbols)
    groups = _check_groups(groups, q.size)
    total, pos = 0.0, 0
    for size in groups:
        total += fit_group(q[pos : pos + size])[2] if size else 0.0
        pos += size
    return total


def empirical_entropy_bits(symbols) -> float:
    """n·H(q) of the pooled histogram: what the best single shared density could reach, side info free."""
    counts = np.bincount(np.asarray(symbols, np.int64) + MAX_SYMBOL)
    counts = counts[counts > 0].astype(np.float64)
    n = counts.sum()
    return float(-(counts * np.log2(counts / n)).sum()) if n else 0.0
