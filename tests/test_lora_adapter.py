"""LoRA implicit representation, model side: the seeded partition, the one-vector adapter, θ coding."""

import math
import zlib

import numpy as np
import pytest
import torch

from gencodec import models
from gencodec.errors import FormatError
from gencodec.lora import theta_coding as tc
from gencodec.lora.adapter import (
    DEFAULT_TARGETS,
    OneVectorLoRA,
    count_entries,
    find_targets,
    wan_entry_count,
)
from gencodec.lora.partition import _mix, build_partition, hash_stream
from gencodec.video.wan import _TINY_TRANSFORMER, REAL_T2V_1_3B, load_wan

# ---------------------------------------------------------------- partition


def test_splitmix64_known_answer():
    # splitmix64 seeded with 0: the reference sequence (Vigna's splitmix64.c); stream 0 of seed 0 is it
    assert int(_mix(np.array([0x9E3779B97F4A7C15], np.uint64))[0]) == 0xE220A8397B1DCDAF
    assert [int(v) for v in hash_stream(0, 0, 3)] == [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F]


@pytest.mark.parametrize("D,d", [(1000, 300), (768, 100), (4096, 1024), (999, 999), (5, 1)])
def test_partition_is_balanced_and_scaled(D, d):
    p = build_partition(7, D, d)
    uses = np.bincount(p.index.numpy(), minlength=d)
    assert set(np.unique(uses)) <= {D // d, -(-D // d)}
    assert uses.sum() == D and np.array_equal(uses, p.uses.numpy())
    np.testing.assert_array_equal(p.scale.numpy(), (1 / np.sqrt(uses.astype(np.float64))).astype(np.float32)[p.index])
    assert set(np.unique(p.sign.numpy())) <= {-1, 1}
    assert p.index.dtype == torch.int64 and p.sign.dtype == torch.int8 and p.scale.dtype == torch.float32


def test_partition_is_seed_determined_and_pinned():
    a, b = build_partition(0, 1000, 300), build_partition(0, 1000, 300)
    assert torch.equal(a.index, b.index) and torch.equal(a.sign, b.sign) and torch.equal(a.scale, b.scale)
    c = build_partition(1, 1000, 300)
    assert not torch.equal(a.index, c.index) and not torch.equal(a.sign, c.sign)
    # pinned: any change to the hash, the sort or the slot layout changes every file's meaning
    assert a.index[:8].tolist() == [266, 135, 7, 292, 29, 101, 50, 233]
    assert a.sign[:8].tolist() == [-1, -1, 1, -1, -1, 1, -1, 1]
    signs = build_partition(0, 100_000, 1000).sign.numpy()
    assert abs(signs.mean()) < 0.02  # the sign hash is balanced


def test_expand_is_an_isometry_and_differentiable():
    p = build_partition(3, 5000, 1234)
    theta = torch.randn(1234, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    lora = p.expand(theta)
    assert lora.shape == (5000,)
    assert math.isclose(float(lora.square().sum()), float(theta.square().sum()), rel_tol=1e-6)
    torch.testing.assert_close(p.adjoint(lora), theta)  # PᵀP = I
    t = theta.clone().requires_grad_(True)
    (0.5 * p.expand(t).square().sum()).backward()
    torch.testing.assert_close(t.grad, theta)
    torch.testing.assert_close(p.expand(theta, 100, 200), lora[100:200])


def test_strata_take_contiguous_theta_ranges():
    D, d = 6000, 1000
    strata = np.repeat([2, 0, 1], [3000, 1000, 2000])  # labels need not follow entry order
    p = build_partition(5, D, d, strata)
    uses = np.bincount(p.index.numpy(), minlength=d)
    assert set(np.unique(uses)) <= {D // d, -(-D // d)}
    assert sum(p.group_sizes) == d and p.group_sizes == (167, 333, 500)
    bounds = np.cumsum((0,) + p.group_sizes)
    for k, label in enumerate((0, 1, 2)):
        idx = p.index.numpy()[strata == label]
        assert bounds[k] - 1 <= idx.min() and idx.max() <= bounds[k + 1]  # only boundary entries straddle


# ---------------------------------------------------------------- adapter on the tiny Wan transformer


@pytest.fixture(scope="module")
def wan():
    return load_wan(models.resolve("tiny", "wan-t2v"), "cpu")


@pytest.fixture(scope="module")
def inputs(wan):
    g = torch.Generator().manual_seed(0)
    return {
        "hidden_states": torch.randn(1, 16, 3, 8, 8, generator=g),
        "timestep": torch.tensor([500.0]),
        "encoder_hidden_states": wan.prompt_embedding("a red car"),
        "return_dict": False,
    }


def run(wan, inputs):
    return wan.transformer(**inputs)[0]


def test_entry_count_of_the_real_1_3b_config():
    assert wan_entry_count(REAL_T2V_1_3B) == 737_280 == 8 * 30 * (1536 + 1536)
    assert wan_entry_count(REAL_T2V_1_3B, rank=2) == 2 * 737_280
    from diffusers import WanTransformer3DModel

    with torch.device("meta"):  # the real architecture without weights
        real = WanTransformer3DModel(**REAL_T2V_1_3B)
    assert count_entries(real) == 737_280
    adapter = OneVectorLoRA(real, d=131_072, seed=0)
    assert adapter.num_lora_entries == 737_280 and len(adapter.theta_groups) == 24
    assert set(adapter.theta_groups) == {5461, 5462}  # 3 block groups × 8 targets share θ evenly


def test_entry_count_of_the_tiny_model(wan):
    d_tiny = 2 * 8 * (24 + 24)  # 2 blocks × 8 Linears × (in + out), inner dim 2 heads × 12
    assert wan_entry_count(_TINY_TRANSFORMER) == d_tiny == 768
    assert count_entries(wan.transformer) == 768
    adapter = OneVectorLoRA(wan.transformer, d=100, seed=0)
    assert adapter.num_lora_entries == 768 and adapter.d == 100
    names = adapter.modules_adapted
    assert names[:2] == ["blocks.0.attn1.to_q", "blocks.0.attn1.to_k"] and names[8] == "blocks.1.attn1.to_q"
    assert [t.start for t in find_targets(wan.transformer)][:3] == [0, 48, 96]
    assert [n for n, p in adapter.named_parameters()] == ["theta"]


def test_zero_theta_is_exactly_the_base_model_and_detach_restores(wan, inputs):
    with torch.no_grad():
        base = run(wan, inputs)
        adapter = OneVectorLoRA(wan.transformer, d=100, seed=0).attach()
        try:
            assert torch.equal(run(wan, inputs), base)
            adapter.load(0.1 * torch.randn(100, generator=torch.Generator().manual_seed(1)))
            changed = run(wan, inputs)
            assert (changed - base).abs().max() > 1e-3
        finally:
            adapter.detach()
        assert torch.equal(run(wan, inputs), base)
        assert not any(m._forward_hooks for m in wan.transformer.modules())
        with adapter:  # context manager: attached inside only
            assert torch.equal(run(wan, inputs), changed)
        assert torch.equal(run(wan, inputs), base)


def test_gradient_wrt_theta_is_nonzero_at_init(wan, inputs):
    adapter = OneVectorLoRA(wan.transformer, d=100, seed=0)
    with adapter:
        run(wan, inputs).square().mean().backward()
    grad = adapter.theta.grad
    assert grad is not None and float(grad.norm()) > 0 and int((grad != 0).sum()) > 50
    assert all(p.grad is None for p in wan.transformer.parameters())  # the base model stays frozen


def test_hook_equals_merged_weight(wan):
    adapter = OneVectorLoRA(wan.transformer, d=100, seed=2, scaling=1.5)
    adapter.load(torch.randn(100, generator=torch.Generator().manual_seed(3)))
    name, a, b = adapter.lora_matrices()[13]
    module = wan.transformer.get_submodule(name)
    x = torch.randn(5, module.in_features, generator=torch.Generator().manual_seed(4))
    with torch.no_grad(), adapter:
        hooked = module(x)
        merged = torch.nn.functional.linear(x, module.weight + 1.5 * b @ a, module.bias)
    torch.testing.assert_close(hooked, merged, rtol=1e-5, atol=1e-6)
    # at θ = 0: B = 0 and A is the seeded offset ±1/√in (unit rows)
    with torch.no_grad():
        for _, a0, b0 in adapter.lora_matrices(torch.zeros(100)):
            assert not b0.any() and torch.allclose(a0.norm(dim=1), torch.ones(1))


def test_state_and_load_round_trip(wan):
    adapter = OneVectorLoRA(wan.transformer, d=64, seed=9, targets=DEFAULT_TARGETS[:4], block_groups=None)
    assert adapter.num_lora_entries == 2 * 4 * 48 and adapter.theta_groups == (64,)
    theta = torch.randn(64)
    adapter.load(theta)
    assert torch.equal(adapter.state(), theta)
    with pytest.raises(ValueError):
        adapter.load(torch.zeros(63))


# ---------------------------------------------------------------- θ coding


def synthetic_theta(groups, seed=0):
    """Laplace entries whose scale differs per group (log-uniform over 10×), like a fitted θ."""
    rng = np.random.default_rng(seed)
    scales = np.exp(rng.uniform(np.log(0.02), np.log(0.2), len(groups)))
    return np.concatenate([rng.laplace(0, s, n) for s, n in zip(scales, groups)]).astype(np.float32)


def test_theta_round_trip_is_exact():
    groups = [300, 0, 250, 200, 250]
    theta = synthetic_theta(groups)
    theta[550:750] = 0  # an all-zero group costs one byte
    theta[3] = 100.0  # clamped to +128 steps
    step = 0.03
    data = tc.encode_theta(torch.from_numpy(theta), step, groups)
    q, s = tc.decode_theta(data, 1000, groups)
    assert np.array_equal(q, tc.quantize(theta, step)) and q[3] == 128
    assert s == float(np.float32(step))
    torch.testing.assert_close(tc.decode_theta_tensor(data, 1000, groups), torch.from_numpy(q.astype(np.float32) * np.float32(s)))
    assert np.abs(tc.dequantize(q, s).numpy() - theta)[np.abs(q) < 128].max() <= s / 2 + 1e-7
    zero = tc.encode_theta(np.zeros(10), 0.1, [4, 6])
    assert len(zero) == 4 + 2 + 1 and not tc.decode_theta(zero, 10, [4, 6])[0].any()


def test_theta_corrupt_or_truncated_is_a_format_error():
    groups = [400, 600]
    data = tc.encode_theta(synthetic_theta(groups, 1), 0.02, groups)
    for n in range(len(data)):
        with pytest.raises(FormatError):
            tc.decode_theta(data[:n], 1000, groups)
    with pytest.raises(FormatError):
        tc.decode_theta(data + b"\0", 1000, groups)
    with pytest.raises(FormatError):
        tc.decode_theta(np.float32("nan").tobytes() + data[4:], 1000, groups)
    with pytest.raises(FormatError):
        tc.decode_theta(np.float32(-1).tobytes() + data[4:], 1000, groups)
    with pytest.raises(FormatError):  # family bit on an all-zero group
        tc.decode_theta(data[:4] + b"\x80" + data[5:], 1000, groups)
    with pytest.raises(FormatError):
        tc.decode_theta(data, 999, groups)
    with pytest.raises(FormatError):
        tc.decode_theta(data, 1 << 30, [1 << 30])
    rng = np.random.default_rng(0)
    for _ in range(50):  # garbage: FormatError or some symbols, never another exception
        junk = rng.integers(0, 256, int(rng.integers(0, 64)), dtype=np.uint8).tobytes()
        try:
            q, _ = tc.decode_theta(junk, 1000, groups)
            assert q.shape == (1000,) and np.abs(q).max() <= 128
        except FormatError:
            pass


def test_per_group_density_beats_one_shared_density():
    groups = [5461 + (k % 3 == 0) for k in range(24)]  # the 1.3B layout, 131,072 entries
    theta = synthetic_theta(groups, 2)
    d = len(theta)
    step = 0.08  # about 2 bits per entry, the paper's range
    q = tc.quantize(theta, step)
    grouped = len(tc.encode_theta(theta, step, groups))
    shared = len(tc.encode_theta(theta, step, None))
    pooled = tc.empirical_entropy_bits(q) / 8  # any single shared density, side info free
    zl = len(zlib.compress(q.astype(np.int8).tobytes(), 9))
    assert grouped < 0.95 * pooled < 0.95 * shared and grouped < 0.8 * zl
    assert abs(8 * grouped - tc.ideal_bits(q, groups)) < 0.01 * 8 * grouped + 400  # coder ≈ ideal + side info
    print(f"bits/entry: grouped {8 * grouped / d:.3f}, shared {8 * shared / d:.3f}, "
          f"pooled entropy {8 * pooled / d:.3f}, zlib {8 * zl / d:.3f}")
