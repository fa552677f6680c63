"""The shared Gaussian codebook (DESIGN §5): counter-based atoms, top-M selection, index-set coding."""

import math
import time

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gencodec import codebook as cb
from gencodec.codebook import Selection
from gencodec.errors import FormatError, InputError

# ---------------------------------------------------------------- generator identity (breaks old files if it changes)


@pytest.mark.parametrize(
    "ctr,key,expected",
    [  # Random123 kat_vectors for philox4x32-10
        ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
        ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
        ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
         (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
    ],
)
def test_philox_known_answers(ctr, key, expected):
    assert tuple(cb.philox4x32(*ctr, *key)) == expected  # Python ints
    out = cb.philox4x32(*(torch.tensor([c], dtype=torch.int64) for c in ctr), *key)  # int64 tensors
    assert tuple(int(x) for x in out) == expected


def test_pinned_atom_values():
    a = cb.atoms(42, 0, 0, [0], 4)
    assert a.dtype == torch.float32 and a.shape == (1, 4)
    expected = torch.tensor([[-0.9701898097991943, 0.19401895999908447, -1.2356207370758057, 1.9239267110824585]])
    assert torch.equal(a, expected)
    # a 720p-sized coordinate (k = 16383, last elements of D = 230,400) and the largest allowed fields
    b = cb.atoms(7, 16, 8, [16383], 4, start=230396)
    assert torch.equal(b, torch.tensor([[1.213042140007019, 0.377356618642807, -1.2543376684188843, -0.608264148235321]]))
    c = cb.atoms(2**64 - 1, 2**32 - 1, 2**32 - 1, [2**32 - 1], 4, start=2**34 - 4)
    assert torch.equal(c, torch.tensor([[-0.07258079200983047, 1.658288836479187, -0.8576779365539551, 0.4230635166168213]]))
    # float64 is the exact Box–Muller value; float32 is that value rounded once
    d = cb.atoms(42, 0, 0, [0], 4, dtype=torch.float64)
    assert torch.equal(d.float(), a)
    assert abs(d[0, 0].item() - (-0.9701897896896211)) < 1e-15


# ---------------------------------------------------------------- atom statistics


def _normal_checks(x: torch.Tensor, what: str):
    x = x.double().flatten()
    n = x.numel()
    mean, std = x.mean().item(), x.std().item()
    z = (x - mean) / std
    skew = (z**3).mean().item()
    kurt = (z**4).mean().item()
    assert abs(mean) < 5 / math.sqrt(n), f"{what}: mean {mean}"
    assert abs(std - 1) < 5 / math.sqrt(2 * n), f"{what}: std {std}"
    assert abs(skew) < 6 * math.sqrt(6 / n), f"{what}: skew {skew}"
    assert abs(kurt - 3) < 6 * math.sqrt(24 / n), f"{what}: kurtosis {kurt}"
    s, _ = torch.sort(x)
    cdf = torch.special.ndtr(s)
    i = torch.arange(1, n + 1, dtype=torch.float64)
    ks = max((i / n - cdf).max().item(), (cdf - (i - 1) / n).max().item())
    assert ks < 1.95 / math.sqrt(n), f"{what}: KS statistic {ks}"  # alpha = 0.001


def test_atoms_are_standard_normal():
    x = cb.atoms(1, 2, 3, range(100), 1000)
    assert x.shape == (100, 1000) and x.dtype == torch.float32
    _normal_checks(x, "atoms")
    # each lane of a Philox block (cos / sin branches of both pairs) is N(0,1) on its own
    for lane in range(4):
        _normal_checks(x[:, lane::4], f"lane {lane}")


def test_atoms_uncorrelated_across_coordinates():
    dim = 20000
    base = (5, 3, 2, 10)  # seed, step, frame, k
    variants = [
        base,
        (6, 3, 2, 10), (5 + 2**32, 3, 2, 10),  # seed, including only its high 32 bits
        (5, 4, 2, 10), (5, 3, 3, 10), (5, 3, 2, 11),
        (5, 3, 2, 10 + 2**31), (5, 2, 3, 10), (5, 3, 2, 2**32 - 1),
    ]
    rows = [cb.atoms(s, t, f, [k], dim, dtype=torch.float64)[0] for s, t, f, k in variants]
    a = torch.stack(rows)
    corr = torch.corrcoef(a)
    off = corr - torch.eye(len(variants), dtype=torch.float64)
    assert off.abs().max().item() < 5 / math.sqrt(dim)
    # neighbouring elements (same block and next block) are uncorrelated too
    x = a[0]
    for lag in (1, 2, 3, 4, 5):
        r = torch.corrcoef(torch.stack([x[:-lag], x[lag:]]))[0, 1].item()
        assert abs(r) < 5 / math.sqrt(dim), f"lag {lag}: {r}"


# ---------------------------------------------------------------- determinism and 64-bit counters


def test_atoms_independent_of_batch_order_chunks_and_calls(monkeypatch):
    seed, step, frame, dim = 11, 4, 1, 1001  # odd dim: a partial last Philox block
    batch = cb.atoms(seed, step, frame, range(12), dim)
    alone = cb.atoms(seed, step, frame, [7], dim)
    assert torch.equal(alone[0], batch[7])
    shuffled = [9, 2, 7, 0, 11]
    assert torch.equal(cb.atoms(seed, step, frame, shuffled, dim), batch[shuffled])
    assert torch.equal(cb.atoms(seed, step, frame, torch.tensor(shuffled), dim), batch[shuffled])
    assert torch.equal(cb.atoms(seed, step, frame, np.array(shuffled), dim), batch[shuffled])
    assert torch.equal(cb.atoms(seed, step, frame, range(12), dim), batch)  # second call
    # slices of an atom at any offset, including ones not aligned to the 4-value blocks
    for start, length in [(0, 1), (1, 5), (3, 10), (998, 3), (500, 501)]:
        part = cb.atoms(seed, step, frame, [3, 8], length, start=start)
        assert torch.equal(part, batch[[3, 8], start : start + length])
    # a longer atom starts with the shorter one
    assert torch.equal(cb.atoms(seed, step, frame, [5], dim + 37)[0, :dim], batch[5])
    # tiny generation pieces: many row and column splits
    for piece in (13, 64, 300):
        monkeypatch.setitem(cb._PIECE_BLOCKS, "cpu", piece)
        assert torch.equal(cb.atoms(seed, step, frame, range(12), dim), batch)
        assert torch.equal(cb.atoms(seed, step, frame, [3], 10, start=3), batch[3:4, 3:13])


def test_atoms_ignore_global_rng():
    torch.manual_seed(0)
    a = cb.atoms(3, 1, 0, range(4), 64)
    torch.manual_seed(12345)
    torch.rand(10)
    b = cb.atoms(3, 1, 0, range(4), 64)
    assert torch.equal(a, b)
    state2 = torch.get_rng_state()
    cb.atoms(3, 1, 0, range(4), 64)
    assert torch.equal(torch.get_rng_state(), state2)  # does not consume the global generator


def test_large_counters_no_32bit_overflow():
    """Regression guard for the int32 overflow class of bug (k·D ≈ 3.8·10⁹ > 2³¹ at 720p; fields up to 2³²)."""
    K, D = 16384, 230400
    assert (K - 1) * D > 2**31  # the product a naive k·D + e counter would need (≈ 3.8·10⁹)
    # last elements of the last atom of a 720p codebook, requested alone, equal the same slice of a longer request
    tail = cb.atoms(42, 16, 8, [K - 1], 8, start=D - 8)
    longer = cb.atoms(42, 16, 8, [K - 1], 24, start=D - 24)
    assert torch.equal(tail, longer[:, 16:])
    assert torch.isfinite(tail).all() and tail.unique().numel() == 8
    # indices around 2^31 and up to 2^32 - 1, elements up to 2^34 - 1
    ks = [2**31 - 2, 2**31 - 1, 2**31, 2**31 + 1, 2**32 - 1, 0, 1]
    vals = cb.atoms(9, 0, 0, ks, 16, dtype=torch.float64)
    assert torch.isfinite(vals).all()
    assert torch.unique(vals, dim=0).shape[0] == len(ks)  # no two indices alias
    assert not torch.equal(vals[2], vals[5])  # 2^31 is not 0 (sign / int32 wrap)
    assert not torch.equal(vals[4], cb.atoms(9, 0, 0, [2**32 - 2], 16, dtype=torch.float64)[0])
    far = cb.atoms(9, 0, 0, [0], 16, start=2**32, dtype=torch.float64)  # element 2^32 is not element 0
    assert not torch.equal(far[0], vals[5]) and torch.isfinite(far).all()
    edge = cb.atoms(9, 0, 0, [2**32 - 1], 8, start=2**34 - 8)
    assert torch.isfinite(edge).all() and edge.unique().numel() == 8
    # many huge indices at a huge offset still look N(0,1)
    big = cb.atoms(9, 5, 3, range(2**31 - 2000, 2**31 + 2000), 16, start=3 * 2**32 + 6)
    _normal_checks(big, "huge counters")


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(indices=[2**32]), dict(indices=[-1]), dict(seed=-1), dict(seed=2**64), dict(step=2**32),
        dict(frame=-1), dict(start=2**34 - 3), dict(indices=[0.5]), dict(seed=1.0),
    ],
)
def test_atoms_reject_out_of_range(kwargs):
    args = dict(seed=1, step=0, frame=0, indices=[0], dim=4)
    args.update(kwargs)
    with pytest.raises(InputError):
        cb.atoms(**args)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (CPU/GPU codebook agreement)")
def test_cpu_and_cuda_agree():
    ks = [0, 1, 77, 16383, 2**31 + 5]
    cpu = cb.atoms(42, 3, 2, ks, 50000)
    gpu = cb.atoms(42, 3, 2, ks, 50000, device="cuda").cpu()
    assert torch.allclose(cpu, gpu, rtol=1e-5, atol=1e-5)
    r = torch.from_numpy(np.random.default_rng(0).standard_normal(5000))
    s_cpu = cb.select(r, 42, 1, 0, 512, 16)
    s_gpu = cb.select(r.cuda(), 42, 1, 0, 512, 16)
    assert s_cpu == s_gpu
    n_cpu = cb.combine(s_cpu, 42, 1, 0, 5000)
    n_gpu = cb.combine(s_cpu, 42, 1, 0, 5000, device="cuda").cpu()
    assert torch.allclose(n_cpu, n_gpu, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- selection and combination


def _residual(dim: int, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).standard_normal(dim)).float()


def test_select_matches_brute_force():
    K, D, M = 512, 1000, 24
    seed, step, frame = 42, 7, 3
    r = _residual(D)
    A = cb.atoms(seed, step, frame, range(K), D, dtype=torch.float64)
    dots = A @ r.double()
    order = np.argsort(-np.abs(dots.numpy()), kind="stable")[:M]
    want = np.sort(order)
    sel = cb.select(r, seed, step, frame, K, M)
    assert sel.indices.dtype == torch.int64 and sel.signs.dtype == torch.int8
    assert sel.indices.tolist() == want.tolist()
    assert sel.signs.tolist() == [1 if dots[k] >= 0 else -1 for k in want]
    for chunk in (5, 64, 100, K, 10 * K):
        assert cb.select(r, seed, step, frame, K, M, chunk=chunk) == sel
    # the residual's shape does not matter, only its values
    assert cb.select(r.reshape(10, 100), seed, step, frame, K, M) == sel
    # M = 1 is the single best atom; M = K keeps everything
    best = int(np.argmax(np.abs(dots.numpy())))
    assert cb.select(r, seed, step, frame, K, 1).indices.tolist() == [best]
    assert cb.select(r, seed, step, frame, K, K).indices.tolist() == list(range(K))


def test_select_ties_and_zero_are_deterministic():
    sel = cb.select(torch.zeros(64), 1, 0, 0, 100, 5)  # every inner product is 0
    assert sel.indices.tolist() == [0, 1, 2, 3, 4]
    assert sel.signs.tolist() == [1] * 5


def test_select_rejects_bad_input():
    with pytest.raises(InputError):
        cb.select(torch.tensor([1.0, float("nan")]), 1, 0, 0, 8, 2)
    with pytest.raises(InputError):
        cb.select(torch.ones(8), 1, 0, 0, 8, 9)  # M > K
    with pytest.raises(InputError):
        cb.select(torch.ones(8), 1, 0, 0, 8, 0)


def test_combine_unit_variance_and_definition():
    D = 2000
    sel = Selection([3, 10, 99], [1, -1, 1])
    z = cb.combine(sel, 5, 2, 1, D)
    assert z.shape == (D,) and z.dtype == torch.float32
    assert abs(z.double().std().item() - 1) < 1e-6
    A = cb.atoms(5, 2, 1, [3, 10, 99], D, dtype=torch.float64)
    manual = A[0] - A[1] + A[2]
    assert torch.allclose(z.double(), manual / manual.std(), atol=1e-6)
    one = cb.combine(Selection([7], [-1]), 5, 2, 1, D)
    a7 = cb.atoms(5, 2, 1, [7], D, dtype=torch.float64)[0]
    assert torch.allclose(one.double(), -a7 / a7.std(), atol=1e-6)
    # chunking the sum does not change the noise
    assert torch.equal(cb.combine(sel, 5, 2, 1, D, chunk=1), z)


def test_noise_correlates_with_residual_more_with_larger_m():
    K, D = 512, 2000
    r = _residual(D, seed=3)
    corrs = []
    for M in (1, 4, 16, 64):
        z = cb.combine(cb.select(r, 8, 0, 0, K, M), 8, 0, 0, D)
        corrs.append(torch.corrcoef(torch.stack([z.double(), r.double()]))[0, 1].item())
    assert corrs[0] > 0
    assert all(b > a for a, b in zip(corrs, corrs[1:])), corrs


def test_frame_batch_helpers():
    K, D = 128, 300
    res = torch.stack([_residual(D, seed=f) for f in range(3)])
    sels = cb.select_frames(res, 4, 2, K, [2, 2, 5], first_frame=6)
    assert [s.m for s in sels] == [2, 2, 5]
    for f in range(3):
        assert sels[f] == cb.select(res[f], 4, 2, 6 + f, K, [2, 2, 5][f])
    noise = cb.combine_frames(sels, 4, 2, D, first_frame=6)
    assert noise.shape == (3, D)
    assert torch.equal(noise[2], cb.combine(sels[2], 4, 2, 8, D))


# ---------------------------------------------------------------- index-set coding


def test_index_bits_match_design():
    assert cb.index_bits(16384, 64) == 600 + 64
    assert cb.index_bits(16384, 16) == 180 + 16
    assert cb.index_bits(16384, 256) == 1898 + 256
    # savings over fixed-length 15-bit index + sign (DESIGN §5: −31 %, −18 %, −44 %)
    for M, saving in ((64, 0.31), (16, 0.18), (256, 0.44)):
        assert abs(1 - cb.index_bits(16384, M) / (M * 15) - saving) < 0.005
    assert cb.index_bits(10, 10) == 10  # C(K, K) = 1: no rank bits
    assert cb.index_bits(1, 1) == 1
    assert cb.payload_bytes(16384, [64] * 153) == 12699  # a 720p T2V GOP
    assert cb.payload_bytes(16384, []) == 0


def test_subset_rank_is_colex_bijection():
    K, M = 9, 4
    from itertools import combinations

    subsets = list(combinations(range(K), M))
    ranks = [cb.subset_rank(s) for s in subsets]
    assert sorted(ranks) == list(range(math.comb(K, M)))
    for s, r in zip(subsets, ranks):
        assert cb.subset_unrank(r, K, M) == list(s)
    colex = sorted(subsets, key=lambda s: s[::-1])
    assert [cb.subset_rank(s) for s in colex] == list(range(len(colex)))


def _random_selection(rng: np.random.Generator, K: int, M: int) -> Selection:
    idx = np.sort(rng.choice(K, size=M, replace=False))
    return Selection(idx, rng.choice(np.array([-1, 1], dtype=np.int8), size=M))


@st.composite
def _streams(draw):
    K = draw(st.one_of(st.integers(1, 64), st.integers(1, 2**16), st.sampled_from([16384, 2**16])))
    Ms = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["small", "dense", "one", "all"]))
        if kind == "small":
            Ms.append(draw(st.integers(1, min(K, 300))))
        elif kind == "dense":
            Ms.append(draw(st.integers(max(1, K - 3), K)))
        else:
            Ms.append(1 if kind == "one" else K)
    return K, Ms, draw(st.integers(0, 2**32 - 1))


@settings(max_examples=60, deadline=None)
@given(_streams())
def test_pack_unpack_round_trip(case):
    K, Ms, seed = case
    rng = np.random.default_rng(seed)
    sels = [_random_selection(rng, K, M) for M in Ms]
    data = cb.pack_selections(sels, K)
    assert len(data) == cb.payload_bytes(K, Ms)
    assert 8 * len(data) - sum(cb.index_bits(K, M) for M in Ms) in range(8)
    assert cb.unpack_selections(data, K, Ms) == sels


def test_round_trip_extremes():
    rng = np.random.default_rng(1)
    K = 16384
    cases = [
        Selection(list(range(K - 64, K)), [-1] * 64),  # the largest rank
        Selection(list(range(64)), [1] * 64),  # rank 0
        _random_selection(rng, K, 64),
        _random_selection(rng, K, 256),
    ]
    Ms = [s.m for s in cases]
    assert cb.unpack_selections(cb.pack_selections(cases, K), K, Ms) == cases
    full = Selection(list(range(2**16)), rng.choice(np.array([-1, 1], dtype=np.int8), size=2**16))
    data = cb.pack_selections([full], 2**16)
    assert len(data) == 2**13
    assert cb.unpack_selections(data, 2**16, [2**16]) == [full]


def test_gop_payload_is_fast_and_exact():
    rng = np.random.default_rng(2)
    K = 16384
    Ms = [64] * 7 * 17 + [128] * 2 * 17  # I2V-style: M_tail on the last two latent frames
    sels = [_random_selection(rng, K, M) for M in Ms]
    t0 = time.perf_counter()
    data = cb.pack_selections(sels, K)
    out = cb.unpack_selections(data, K, Ms)
    elapsed = time.perf_counter() - t0
    assert out == sels
    assert len(data) == cb.payload_bytes(K, Ms)
    assert elapsed < 2.0, f"{elapsed:.2f} s"  # ~0.1 s on one core; generous for shared CI machines


def test_rank_out_of_range_rejected():
    K, M = 5, 2  # C(5, 2) = 10 → 4 rank bits, values 10..15 are invalid
    assert cb.index_bits(K, M) == 6
    for rank in range(16):
        data = bytes([rank << 4])  # rank bits, two '+' sign bits, two padding bits
        if rank < 10:
            assert cb.unpack_selections(data, K, [M])[0].indices.tolist() == cb.subset_unrank(rank, K, M)
        else:
            with pytest.raises(FormatError):
                cb.unpack_selections(data, K, [M])
    # a stream of real size K = 16384, M = 64 with every rank bit set (2^600 − 1 ≥ C(16384, 64))
    n = cb.payload_bytes(16384, [64])
    with pytest.raises(FormatError):
        cb.unpack_selections(b"\xff" * 75 + b"\x00" * (n - 75), 16384, [64])


def test_corrupt_streams_rejected():
    rng = np.random.default_rng(3)
    K, Ms = 16384, [64, 16, 64]
    sels = [_random_selection(rng, K, M) for M in Ms]
    data = cb.pack_selections(sels, K)
    with pytest.raises(FormatError):
        cb.unpack_selections(data[:-1], K, Ms)  # truncated
    with pytest.raises(FormatError):
        cb.unpack_selections(b"", K, Ms)
    with pytest.raises(FormatError):
        cb.unpack_selections(data + b"\x00", K, Ms)  # trailing bytes
    pad = 8 * len(data) - sum(cb.index_bits(K, M) for M in Ms)
    assert pad > 0
    with pytest.raises(FormatError):
        cb.unpack_selections(data[:-1] + bytes([data[-1] | 1]), K, Ms)  # non-zero padding
    for bad in ([0], [K + 1], [-1]):
        with pytest.raises(FormatError):
            cb.unpack_selections(b"", K, bad)
    with pytest.raises(FormatError):
        cb.unpack_selections(b"", 0, [1])


def test_pack_rejects_invalid_selections():
    for sel in (
        Selection([3, 1], [1, 1]),  # not sorted
        Selection([1, 1], [1, 1]),  # duplicate
        Selection([1, 8], [1, 1]),  # index ≥ K
        Selection([-1, 2], [1, 1]),
        Selection([1, 2], [1, 0]),  # sign not ±1
    ):
        with pytest.raises(InputError):
            cb.pack_selections([sel], 8)
    with pytest.raises(InputError):
        Selection([1, 2, 3], [1, 1])


def test_selection_from_select_packs():
    K, D = 256, 500
    sels = [cb.select(_residual(D, seed=s), 1, s, 0, K, M) for s, M in ((0, 1), (1, 8), (2, 40))]
    data = cb.pack_selections(sels, K)
    assert cb.unpack_selections(data, K, [1, 8, 40]) == sels
