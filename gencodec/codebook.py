"""The shared Gaussian codebook of DDCM-style coding (GVC video, seeded LoRA candidates): DESIGN §5.

Three parts:

* **Atoms.** Atom(seed, step, frame, k) is a vector of N(0, 1) values that only the encoder and
  decoder's arguments define. A file stores indices, never atoms, so the decoder must regenerate
  exactly what the encoder scored: a stateful RNG (`torch.randn`, a `Generator`) gives values that
  depend on the device, the batch shape and the call order, which is how published codecs lost
  bit-exactness. Here every value is a pure function of its coordinates: the counter-based
  generator Philox4x32-10 (Salmon et al. 2011, the generator of cuRAND and `triton.language.philox`)
  maps key = seed (64 bits) and counter = (element // 4, k, step, frame) (4 × 32 bits) to four
  32-bit words, and Box–Muller turns each pair of words into two normals.
  The counter never multiplies k by the atom length, so no product such as k·D (3.8·10⁹ at 720p,
  past 2³¹ and 2³²) exists that could overflow; each field is range-checked instead.
* **Selection** (GVCC / Turbo-DDCM): the top-M atoms by |⟨atom, residual⟩| with their signs, and the
  unit-variance noise Σ sign·atom / std.
* **Index coding**: the sorted M-subset as its rank in the combinatorial number system
  (⌈log2 C(K, M)⌉ bits) plus M sign bits, all selections in one bit stream.

Integer exactness: torch offers no unsigned 64-bit arithmetic that behaves the same on every device,
and a signed int64 product that overflows is undefined behaviour. Philox's 32×32→64-bit products are
therefore done on int64 tensors holding 32-bit values, with the multiplier split into 16-bit halves so
that every intermediate stays below 2⁴⁹; shifts, ands and xors then give identical integers on any
device. Box–Muller runs in float64 and is rounded once to the requested dtype, so devices agree to
about 1 ulp of float32 (DESIGN allows 1e-6 relative; only the encoder compares inner products).
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np
import torch

from .errors import FormatError, InputError

__all__ = [
    "Selection",
    "atoms",
    "philox4x32",
    "select",
    "combine",
    "select_frames",
    "combine_frames",
    "index_bits",
    "payload_bytes",
    "pack_selections",
    "unpack_selections",
    "subset_rank",
    "subset_unrank",
]

# ---------------------------------------------------------------- Philox4x32-10 on int64 tensors

_MASK32 = 0xFFFFFFFF
_PHILOX_M0 = 0xD2511F53
_PHILOX_M1 = 0xCD9E8D57
_PHILOX_W0 = 0x9E3779B9  # key schedule (golden ratio)
_PHILOX_W1 = 0xBB67AE85  # key schedule (sqrt(3) - 1)
_PHILOX_ROUNDS = 10
_M0 = (_PHILOX_M0 & 0xFFFF, _PHILOX_M0 >> 16)
_M1 = (_PHILOX_M1 & 0xFFFF, _PHILOX_M1 >> 16)

_TWO_PI_2M32 = 2.0 * math.pi / 4294967296.0  # angle per unit of a 32-bit word
_2M32 = 1.0 / 4294967296.0

MAX_FIELD = 1 << 32  # step, frame, atom index and element // 4 are each one 32-bit counter word
MAX_SEED = 1 << 64  # the 64-bit Philox key
MAX_ELEMENTS = 4 * MAX_FIELD  # elements per atom (4 normals per counter)

# Philox blocks (4 values each) generated per piece: small on CPU, where ~200 passes over a piece
# that fits in cache beat passes over main memory; large on GPUs, where each op is a kernel launch.
_PIECE_BLOCKS = {"cpu": 1 << 17}
_PIECE_BLOCKS_DEFAULT = 1 << 23
# Bytes of float64 atoms held at once while selecting (the chunk of atoms scored together).
SELECT_CHUNK_BYTES = 64 << 20


def _mulhilo(mlo: int, mhi: int, x):
    """(hi, lo) 32-bit words of m·x for 32-bit x, m = mhi·2¹⁶ + mlo, without any int64 overflow."""
    if isinstance(x, int):
        p = ((mhi << 16) | mlo) * x
        return p >> 32, p & _MASK32
    pl = x * mlo  # < 2^48
    s = x * mhi  # < 2^48
    s += pl >> 16  # m·x = s·2^16 + (pl & 0xFFFF); s < 2^49
    lo = s & 0xFFFF
    lo <<= 16
    pl &= 0xFFFF
    lo |= pl
    s >>= 16  # hi
    return s, lo


def _xor3(a, b, c: int):
    """a ^ b ^ c for tensors/ints, in place on `a` when `a` is a fresh tensor of the result's shape."""
    if isinstance(a, torch.Tensor):
        if not isinstance(b, torch.Tensor) or torch.broadcast_shapes(a.shape, b.shape) == a.shape:
            a ^= b
            a ^= c
            return a
        out = b ^ a
        out ^= c
        return out
    if isinstance(b, torch.Tensor):
        return b ^ (a ^ c)
    return a ^ b ^ c


def philox4x32(c0, c1, c2, c3, k0: int, k1: int, rounds: int = _PHILOX_ROUNDS):
    """Philox4x32 (Random123 definition): four 32-bit counter words and two key words → four words.

    Counter words may be Python ints or int64 tensors holding values in [0, 2³²) (they broadcast);
    key words are Python ints. Matches Random123's known-answer vectors and `triton.language.philox`,
    so a fused GPU kernel can call the same generator.
    """
    k0 &= _MASK32
    k1 &= _MASK32
    for _ in range(rounds):
        h0, l0 = _mulhilo(*_M0, c0)
        h1, l1 = _mulhilo(*_M1, c2)
        c0, c1, c2, c3 = _xor3(h1, c1, k0), l1, _xor3(h0, c3, k1), l0
        k0 = (k0 + _PHILOX_W0) & _MASK32
        k1 = (k1 + _PHILOX_W1) & _MASK32
    return c0, c1, c2, c3


def _box_muller(w0, w1):
    """Two N(0,1) float64 tensors from two tensors of 32-bit words (u ∈ (0, 1], θ ∈ [0, 2π))."""
    u = (w0 + 1).to(torch.float64).mul_(_2M32)
    r = u.log_().mul_(-2.0).sqrt_()
    theta = w1.to(torch.float64).mul_(_TWO_PI_2M32)
    return r * torch.cos(theta), r.mul_(torch.sin(theta))


# ---------------------------------------------------------------- atoms


def _check_int(name: str, value, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InputError(f"{name} must be an integer, got {type(value).__name__}")
    value = int(value)
    if not lo <= value < hi:
        raise InputError(f"{name} must be in [{lo}, {hi}), got {value}")
    return value


def _index_tensor(indices) -> torch.Tensor:
    if isinstance(indices, torch.Tensor):
        idx = indices.detach().to("cpu")
        if idx.dtype.is_floating_point or idx.dtype.is_complex or idx.dtype == torch.bool:
            raise InputError(f"atom indices must be integers, got {idx.dtype}")
        idx = idx.to(torch.int64).reshape(-1)
    else:
        arr = np.asarray(list(indices) if not isinstance(indices, (np.ndarray, range)) else indices)
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise InputError(f"atom indices must be integers, got {arr.dtype}")
        if arr.size and (arr.min() < 0 or arr.max() >= MAX_FIELD):
            raise InputError(f"atom indices must be in [0, 2^32), got {int(arr.min())}..{int(arr.max())}")
        idx = torch.from_numpy(arr.astype(np.int64).reshape(-1))
    if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= MAX_FIELD):
        raise InputError(f"atom indices must be in [0, 2^32), got {int(idx.min())}..{int(idx.max())}")
    return idx


def _piece_blocks(device: torch.device) -> int:
    return _PIECE_BLOCKS.get(device.type, _PIECE_BLOCKS_DEFAULT)


def atoms(
    seed: int,
    step: int,
    frame: int,
    indices,
    dim: int,
    device=None,
    dtype: torch.dtype = torch.float32,
    *,
    start: int = 0,
) -> torch.Tensor:
    """Atoms `indices` of codebook (seed, step, frame): a tensor [len(indices), dim] of N(0, 1) values.

    Row i holds elements [start, start + dim) of atom indices[i]; element e of atom k is a pure function
    of (seed, step, frame, k, e), independent of dim, of the other indices requested, of the device and
    of any RNG state, so atoms can be made in any batch or order, or a slice at a time (`start`).
    Values are computed in float64 and rounded once to `dtype`.
    """
    seed = _check_int("seed", seed, 0, MAX_SEED)
    step = _check_int("step", step, 0, MAX_FIELD)
    frame = _check_int("frame", frame, 0, MAX_FIELD)
    dim = _check_int("dim", dim, 0, MAX_ELEMENTS + 1)
    start = _check_int("start", start, 0, MAX_ELEMENTS + 1)
    if start + dim > MAX_ELEMENTS:
        raise InputError(f"atom elements must be below 2^34, got start + dim = {start + dim}")
    device = torch.device(device) if device is not None else torch.device("cpu")
    idx = _index_tensor(indices).to(device)
    n = idx.numel()
    out = torch.empty((n, dim), dtype=dtype, device=device)
    if n == 0 or dim == 0:
        return out
    k0, k1 = seed & _MASK32, seed >> 32
    b_first, b_last = start >> 2, (start + dim - 1) >> 2  # Philox blocks covering the request
    nblocks = b_last - b_first + 1
    piece = _piece_blocks(device)
    cols = min(nblocks, piece)
    rows = max(1, piece // cols)
    for r0 in range(0, n, rows):
        krow = idx[r0 : r0 + rows].view(-1, 1)
        for b0 in range(0, nblocks, cols):
            b1 = min(nblocks, b0 + cols)
            blocks = torch.arange(b_first + b0, b_first + b1, dtype=torch.int64, device=device).view(1, -1)
            w = philox4x32(blocks, krow, step, frame, k0, k1)
            w = [x.expand(krow.shape[0], b1 - b0) if isinstance(x, torch.Tensor) else
                 torch.full((krow.shape[0], b1 - b0), x, dtype=torch.int64, device=device) for x in w]
            z0, z1 = _box_muller(w[0], w[1])
            z2, z3 = _box_muller(w[2], w[3])
            vals = torch.stack((z0, z1, z2, z3), dim=-1).view(krow.shape[0], 4 * (b1 - b0))
            # Elements of this piece: [4·(b_first + b0), 4·(b_first + b1)) ∩ [start, start + dim).
            e0 = max(start, 4 * (b_first + b0))
            e1 = min(start + dim, 4 * (b_first + b1))
            out[r0 : r0 + krow.shape[0], e0 - start : e1 - start] = vals[:, e0 - 4 * (b_first + b0) : e1 - 4 * (b_first + b0)]
    return out


# ---------------------------------------------------------------- selection


def _cpu_tensor(values, dtype: torch.dtype) -> torch.Tensor:
    if not isinstance(values, torch.Tensor):
        values = torch.from_numpy(np.asarray(values, dtype=np.int64))
    return values.detach().to("cpu", dtype).reshape(-1)


class Selection:
    """M chosen atoms of one codebook: sorted distinct int64 `indices` and their int8 `signs` (±1)."""

    __slots__ = ("indices", "signs")

    def __init__(self, indices, signs):
        self.indices = _cpu_tensor(indices, torch.int64)
        self.signs = _cpu_tensor(signs, torch.int8)
        if self.indices.numel() != self.signs.numel():
            raise InputError(f"selection has {self.indices.numel()} indices but {self.signs.numel()} signs")

    @property
    def m(self) -> int:
        return self.indices.numel()

    def __len__(self) -> int:
        return self.m

    def __eq__(self, other) -> bool:
        if not isinstance(other, Selection):
            return NotImplemented
        return torch.equal(self.indices, other.indices) and torch.equal(self.signs, other.signs)

    __hash__ = None

    def __repr__(self) -> str:
        return f"Selection(indices={self.indices.tolist()}, signs={self.signs.tolist()})"


def _default_chunk(dim: int) -> int:
    return max(1, SELECT_CHUNK_BYTES // (8 * max(dim, 1)))


def scores(
    residual: torch.Tensor, seed: int, step: int, frame: int, K: int, chunk: int | None = None
) -> torch.Tensor:
    """⟨atom_k, residual⟩ for k < K as float64 [K] on the residual's device, `chunk` atoms at a time.

    Float64 atoms and accumulation make the result independent of the chunk size up to float64
    rounding, so the top-M choice does not depend on memory settings.
    """
    if not isinstance(residual, torch.Tensor):
        residual = torch.as_tensor(residual)
    r = residual.detach().reshape(-1).to(torch.float64)
    dim = r.numel()
    if dim == 0:
        raise InputError("residual is empty")
    if not bool(torch.isfinite(r).all()):
        raise InputError("residual has NaN or infinite values")
    K = _check_int("K", K, 1, MAX_FIELD + 1)
    chunk = _default_chunk(dim) if chunk is None else _check_int("chunk", chunk, 1, 1 << 62)
    out = torch.empty(K, dtype=torch.float64, device=r.device)
    for k0 in range(0, K, chunk):
        k1 = min(K, k0 + chunk)
        a = atoms(seed, step, frame, torch.arange(k0, k1), dim, device=r.device, dtype=torch.float64)
        out[k0:k1] = a @ r
    return out


def select(
    residual: torch.Tensor, seed: int, step: int, frame: int, K: int, M: int, chunk: int | None = None
) -> Selection:
    """The M of K atoms with the largest |⟨atom, residual⟩| (GVCC / Turbo-DDCM selection).

    sign = sign(⟨atom, residual⟩) with 0 → +1; equal |⟨·,·⟩| prefer the smaller index, so the result
    is deterministic. `residual` is any shape (flattened; D = numel). `chunk` = atoms scored at once
    (default: 64 MB of float64 atoms).
    """
    K = _check_int("K", K, 1, MAX_FIELD + 1)
    M = _check_int("M", M, 1, K + 1)
    dots = scores(residual, seed, step, frame, K, chunk).cpu()
    order = torch.sort(-dots.abs(), stable=True).indices[:M]
    idx, _ = torch.sort(order)
    signs = torch.where(dots[idx] < 0, -1, 1).to(torch.int8)
    return Selection(idx, signs)


def combine(
    selection: Selection,
    seed: int,
    step: int,
    frame: int,
    dim: int,
    device=None,
    dtype: torch.dtype = torch.float32,
    chunk: int | None = None,
) -> torch.Tensor:
    """Unit-variance noise [dim] from a selection: Σ sign·atom divided by its (unbiased) std.

    Summed in float64 one atom at a time in index order and rounded once, so the noise does not
    depend on `chunk` (atoms generated at once) and devices differ only by float rounding.
    For M = 1 this is ±atom / std(atom).
    """
    if selection.m == 0:
        raise InputError("cannot make noise from an empty selection")
    device = torch.device(device) if device is not None else torch.device("cpu")
    chunk = _default_chunk(dim) if chunk is None else _check_int("chunk", chunk, 1, 1 << 62)
    z = torch.zeros(dim, dtype=torch.float64, device=device)
    signs = selection.signs.tolist()
    for i in range(0, selection.m, chunk):
        a = atoms(seed, step, frame, selection.indices[i : i + chunk], dim, device=device, dtype=torch.float64)
        for j in range(a.shape[0]):
            z.add_(a[j], alpha=signs[i + j])
    std = z.std()
    if not bool(std > 0):
        raise InputError("combined noise has zero variance (dim too small?)")
    return (z / std).to(dtype)


def select_frames(
    residuals: torch.Tensor,
    seed: int,
    step: int,
    K: int,
    M: int | Sequence[int],
    chunk: int | None = None,
    first_frame: int = 0,
) -> list[Selection]:
    """`select` for each frame f of residuals [F, ...] with codebook (seed, step, first_frame + f).

    M is one count for all frames or one per frame (e.g. more atoms for the tail frames).
    """
    F = residuals.shape[0]
    Ms = [M] * F if isinstance(M, (int, np.integer)) else list(M)
    if len(Ms) != F:
        raise InputError(f"{len(Ms)} atom counts for {F} frames")
    return [select(residuals[f], seed, step, first_frame + f, K, Ms[f], chunk) for f in range(F)]


def combine_frames(
    selections: Sequence[Selection],
    seed: int,
    step: int,
    dim: int,
    device=None,
    dtype: torch.dtype = torch.float32,
    first_frame: int = 0,
) -> torch.Tensor:
    """`combine` for each frame: unit-variance noise [F, dim], frame f from codebook (seed, step, first_frame + f)."""
    return torch.stack([combine(s, seed, step, first_frame + f, dim, device, dtype) for f, s in enumerate(selections)])


# ---------------------------------------------------------------- index-set coding


def _check_km(K: int, M: int, err=InputError) -> None:
    if isinstance(K, bool) or not isinstance(K, (int, np.integer)) or K < 1:
        raise err(f"codebook size K must be a positive integer, got {K!r}")
    if isinstance(M, bool) or not isinstance(M, (int, np.integer)) or not 1 <= M <= K:
        raise err(f"atom count M must be an integer in [1, K={K}], got {M!r}")


def _rank_bits(K: int, M: int) -> int:
    return (math.comb(K, M) - 1).bit_length()  # ⌈log2 C(K, M)⌉, 0 when C = 1


def index_bits(K: int, M: int) -> int:
    """Bits of one coded selection: ⌈log2 C(K, M)⌉ for the index set + M sign bits."""
    _check_km(K, M)
    return _rank_bits(int(K), int(M)) + int(M)


def payload_bytes(K: int, Ms: Iterable[int]) -> int:
    """Bytes of `pack_selections` for selections of these sizes: ⌈Σ index_bits / 8⌉."""
    return (sum(index_bits(K, m) for m in Ms) + 7) // 8


def subset_rank(indices: Sequence[int]) -> int:
    """Rank of a sorted set c₀ < c₁ < … in the combinatorial number system: Σ C(cᵢ, i + 1).

    This is the set's position in colexicographic order, a bijection onto [0, C(K, M)) for subsets of
    {0 … K−1}, so the rank needs exactly ⌈log2 C(K, M)⌉ bits.
    """
    return sum(math.comb(c, i + 1) for i, c in enumerate(indices))


def _lcomb(n: int, m: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(m + 1) - math.lgamma(n - m + 1)


def subset_unrank(rank: int, K: int, M: int) -> list[int]:
    """Inverse of `subset_rank` for rank < C(K, M): the sorted M-subset of {0 … K−1}.

    Each element is the largest c with C(c, i + 1) ≤ remaining rank; a float (lgamma) bisection finds
    it to within one and exact big-integer comparisons settle it, so unranking costs O(M log K) floats
    and O(M) exact binomials instead of O(M log K) big binomials.
    """
    out = [0] * M
    hi = K - 1  # upper bound for the current element
    for i in range(M - 1, -1, -1):
        m = i + 1
        if rank == 0:  # the remaining elements are 0 … i
            out[: i + 1] = range(i + 1)
            break
        # largest c in [m, hi] with C(c, m) <= rank (C(m, m) = 1 <= rank)
        target = math.log(rank) + 1e-9
        lo, up = m, hi
        while lo < up:
            mid = (lo + up + 1) >> 1
            if _lcomb(mid, m) <= target:
                lo = mid
            else:
                up = mid - 1
        c = lo
        cm = math.comb(c, m)
        while cm > rank:  # float overshoot
            c -= 1
            cm = math.comb(c, m)
        while c < hi:
            nxt = math.comb(c + 1, m)
            if nxt > rank:
                break
            c, cm = c + 1, nxt
        out[i] = c
        rank -= cm
        hi = c - 1
    return out


class _BitWriter:
    """MSB-first bit writer; keeps the pending integer short, so writing n bits costs O(n)."""

    def __init__(self):
        self.out = bytearray()
        self.acc = 0
        self.nbits = 0

    def write(self, value: int, n: int) -> None:
        self.acc = (self.acc << n) | value
        self.nbits += n
        if self.nbits >= 8192:
            keep = self.nbits & 7
            self.out += (self.acc >> keep).to_bytes((self.nbits - keep) // 8, "big")
            self.acc &= (1 << keep) - 1
            self.nbits = keep

    def getvalue(self) -> bytes:
        pad = (-self.nbits) & 7
        return bytes(self.out) + (self.acc << pad).to_bytes((self.nbits + pad) // 8, "big")


class _BitReader:
    def __init__(self, data: bytes):
        self.data = bytes(data)
        self.pos = 0  # in bits

    def read(self, n: int) -> int:
        if n == 0:
            return 0
        end = self.pos + n
        if end > 8 * len(self.data):
            raise FormatError("truncated codebook payload")
        b0, b1 = self.pos >> 3, (end + 7) >> 3
        chunk = int.from_bytes(self.data[b0:b1], "big")
        value = (chunk >> (8 * b1 - end)) & ((1 << n) - 1)
        self.pos = end
        return value


def _sign_bits(signs: torch.Tensor) -> int:
    neg = (signs < 0).numpy().astype(np.uint8)
    m = neg.size
    packed = np.packbits(neg).tobytes()
    return int.from_bytes(packed, "big") >> ((-m) & 7)


def _signs_from_bits(value: int, m: int) -> torch.Tensor:
    pad = (-m) & 7
    raw = np.frombuffer((value << pad).to_bytes((m + pad) // 8, "big"), dtype=np.uint8)
    neg = np.unpackbits(raw)[:m]
    return torch.from_numpy(np.where(neg == 1, -1, 1).astype(np.int8))


def pack_selections(selections: Sequence[Selection], K: int) -> bytes:
    """One bit stream for selections from codebooks of size K: per selection, the rank of its index set
    in ⌈log2 C(K, M)⌉ bits then M sign bits (1 = negative), MSB first, zero-padded to a byte.

    M may differ between selections; the decoder must know each M (`unpack_selections`).
    """
    w = _BitWriter()
    for n, sel in enumerate(selections):
        M = sel.m
        _check_km(K, M)
        idx = sel.indices.tolist()
        if idx and (idx[0] < 0 or idx[-1] >= K or any(b <= a for a, b in zip(idx, idx[1:]))):
            raise InputError(f"selection {n}: indices must be strictly increasing and in [0, {K})")
        if not bool(((sel.signs == 1) | (sel.signs == -1)).all()):
            raise InputError(f"selection {n}: signs must be +1 or -1")
        w.write(subset_rank(idx), _rank_bits(K, M))
        w.write(_sign_bits(sel.signs), M)
    return w.getvalue()


def unpack_selections(data: bytes, K: int, Ms: Sequence[int]) -> list[Selection]:
    """Inverse of `pack_selections` given K and each selection's M.

    Raises FormatError when the payload is not exactly `payload_bytes(K, Ms)` long, a rank is not
    below C(K, M), the padding bits are not zero, or K / M are impossible.
    """
    Ms = [int(m) if isinstance(m, (int, np.integer)) and not isinstance(m, bool) else m for m in Ms]
    for M in Ms:
        _check_km(K, M, FormatError)
    need = payload_bytes(K, Ms)
    if len(data) != need:
        raise FormatError(f"{'truncated' if len(data) < need else 'oversized'} codebook payload: "
                          f"{len(data)} bytes, expected {need}")
    r = _BitReader(data)
    out = []
    for n, M in enumerate(Ms):
        total = math.comb(K, M)
        rank = r.read(_rank_bits(K, M))
        if rank >= total:
            raise FormatError(f"corrupt codebook payload: subset rank of selection {n} is out of range")
        idx = subset_unrank(rank, K, M)
        signs = _signs_from_bits(r.read(M), M)
        out.append(Selection(torch.tensor(idx, dtype=torch.int64), signs))
    if r.read(8 * len(data) - r.pos) != 0:
        raise FormatError("corrupt codebook payload: non-zero padding bits")
    return out
