"""The LoRA merge edit on the tiny Wan model: the merged file applies ΔW_A + ΔW_B, byte for byte accounted."""

import copy
import json

import numpy as np
import pytest
import torch

import gencodec
from gencodec import cli, container, models
from gencodec.errors import FormatError, InputError
from gencodec.lora import codec as lc
from gencodec.lora import fit, theta_coding
from gencodec.lora.adapter import OneVectorLoRA
from gencodec.lora.merge import merge
from gencodec.video import sde
from gencodec.video.wan import load_wan

from .test_gvc import moving_frames

FAST = {"codec": "lora", "model": "tiny", "fit_steps": 30, "lr": 2e-2, "fps": 24, "device": "cpu"}
STEPS = 8  # decode steps: enough for the adapters to show, quick on a shared CPU


@pytest.fixture(scope="module")
def clips():
    a = moving_frames(5, 32, 32)
    return a, np.ascontiguousarray(255 - a[:, ::-1])


@pytest.fixture(scope="module")
def files(clips):
    a = gencodec.encode(clips[0], prompt="hills", **FAST)
    b = gencodec.encode(clips[1], prompt="a city", seed=3, d=96, **FAST)  # another length and partition
    return a, b


@pytest.fixture(scope="module")
def merged(files):
    return merge(*files, None)


@pytest.fixture(scope="module")
def wan():
    return load_wan(models.resolve("tiny", "wan-t2v"), "cpu")


def _decode(data, **kw):
    return gencodec.decode(data, steps=STEPS, device="cpu", **kw)


def _adapters(data, wan):
    """One OneVectorLoRA per θ in the file, built by hand from the header and sections."""
    out = []
    for d, seed, payload in lc.theta_parts(container.unpack(data)):
        adapter = OneVectorLoRA(wan.transformer, d=d, seed=seed, block_groups=lc.DEFAULT_BLOCK_GROUPS)
        adapter.load(theta_coding.decode_theta_tensor(payload, d, adapter.theta_groups))
        out.append(adapter)
    return out


def _manual_decode(wan, adapters, clip, prompt):
    shape = wan.encode_video(lc._pad(clip)).shape
    for a in adapters:
        a.attach()
    try:
        z = fit.ode_decode(wan, shape, prompt, steps=STEPS, shift=sde.default_shift(clip.shape[1]),
                          seed=adapters[0].seed)  # the noise seed is the (first) θ's
    finally:
        for a in adapters:
            a.detach()
    return wan.decode_latent(z)[: len(clip), : clip.shape[1], : clip.shape[2]]


def test_layout_keeps_both_thetas_verbatim_and_counts_every_byte(files, merged):
    a, b = (container.unpack(x) for x in files)
    c = container.unpack(merged)
    assert [t for t, _ in c.sections] == [lc.SEC_THETA_A, lc.SEC_THETA_B, lc.SEC_PROMPT]
    assert c.section(lc.SEC_THETA_A) == a.section(lc.SEC_THETA) and c.section(lc.SEC_THETA_B) == b.section(lc.SEC_THETA)
    meta = gencodec.info(merged)
    assert meta["total_bytes"] == len(merged) and meta["merged"] is True
    assert meta["prompt"] == "hills and a city"
    assert (meta["theta_length"], meta["seed"], meta["theta_length_b"], meta["seed_b"]) == (192, 0, 96, 3)
    assert meta["params"] == {"theta_length": 192, "theta_length_b": 96, "seed_b": 3}
    # one header and one CRC instead of two; the prompts are joined
    assert len(merged) < sum(map(len, files))


def test_merged_decode_applies_both_adapters(files, merged, clips, wan):
    out = _decode(merged)
    assert out.shape == clips[0].shape
    assert np.array_equal(out, _manual_decode(wan, _adapters(files[0], wan) + _adapters(files[1], wan), clips[0],
                                              "hills and a city"))
    for single in files:  # same prompt: the difference is the other file's delta
        assert np.abs(out.astype(int) - _decode(single, prompt="hills and a city")).mean() > 1.0


def test_two_hooks_equal_the_summed_weight_delta(files, wan):
    """Two attached adapters are the base model with W₀ + B_A·A_A + B_B·A_B folded into each Linear."""
    adapters = _adapters(files[0], wan) + _adapters(files[1], wan)
    folded = copy.deepcopy(wan.transformer)
    with torch.no_grad():
        for adapter in adapters:
            for name, a, b in adapter.lora_matrices():
                folded.get_submodule(name).weight += b @ a
    x = torch.randn(1, 16, 2, 4, 4, generator=torch.Generator().manual_seed(0))
    emb = wan.prompt_embedding("hills")

    def velocity(model):
        with torch.no_grad():
            return model(hidden_states=x, timestep=torch.tensor([500.0]), encoder_hidden_states=emb, return_dict=False)[0]

    for adapter in adapters:
        adapter.attach()
    try:
        both = velocity(wan.transformer)
        adapters[1].detach()
        only_a = velocity(wan.transformer)
    finally:
        for adapter in adapters:
            adapter.detach()
    torch.testing.assert_close(both, velocity(folded), rtol=1e-4, atol=1e-5)
    assert (both - only_a).abs().max() > 1e-3


def test_merging_a_zero_theta_changes_nothing(files, clips):
    """θ = 0 adds exact zeros (B = 0), so A merged with it decodes bit for bit as A."""
    zero = gencodec.encode(clips[1], **{**FAST, "fit_steps": 0})
    assert np.array_equal(_decode(merge(files[0], zero, "hills")), _decode(files[0]))


def test_prompt_choice(files, merged):
    edited = merge(*files, "a snowy forest")
    assert gencodec.info(edited)["prompt"] == "a snowy forest"
    assert np.array_equal(_decode(edited), _decode(merged, prompt="a snowy forest"))
    assert np.abs(_decode(edited).astype(int) - _decode(merged)).mean() > 1.0
    assert gencodec.info(merge(files[0], files[0], None))["prompt"] == "hills"  # same prompt: not repeated
    assert lc.SEC_PROMPT not in dict(container.unpack(merge(*files, "")).sections)  # "" stores no prompt


def _repack(data, **header):
    c = container.unpack(data)
    for key, value in header.items():
        setattr(c.header, key, value)
    return container.pack(c.header, c.sections)


def test_bad_inputs(files, merged):
    a, b = files
    not_lora = container.pack(container.Header(codec=0, model=0, media=container.MEDIA_IMAGE, width=8, height=8), [(1, b"x")])
    with pytest.raises(InputError, match="file B is not a lora file"):
        merge(a, not_lora, None)
    with pytest.raises(FormatError):
        merge(a[:-3], b, None)
    with pytest.raises(FormatError):
        merge(a, b"hello", None)
    with pytest.raises(InputError, match="different models"):
        merge(a, _repack(b, model="someone/other-wan"), None)
    with pytest.raises(InputError, match="different shapes"):
        merge(a, _repack(b, width=48), None)
    with pytest.raises(InputError, match="different shapes"):
        merge(_repack(a, frames=9), b, None)
    with pytest.raises(InputError, match="file A is already a merge"):
        merge(merged, b, None)
    with pytest.raises(InputError, match="longer than"):
        merge(a, b, "x" * (lc.MAX_PROMPT_BYTES + 1))
    c = container.unpack(merged)
    with pytest.raises(FormatError, match="two θ sections"):
        _decode(container.pack(c.header, [s for s in c.sections if s[0] != lc.SEC_THETA_B]))
    with pytest.raises(FormatError, match="two θ sections"):
        _decode(container.pack(c.header, c.sections + [(lc.SEC_THETA, c.section(lc.SEC_THETA_A))]))


def test_cli_merge_and_info(tmp_path, files, capsys):
    paths = [tmp_path / "a.gcodec", tmp_path / "b.gcodec"]
    for path, data in zip(paths, files):
        path.write_bytes(data)
    out = tmp_path / "ab.gcodec"
    assert cli.main(["merge", *map(str, paths), "-o", str(out), "--prompt", "hills at night"]) == 0
    assert out.read_bytes() == merge(*files, "hills at night")
    capsys.readouterr()
    assert cli.main(["info", str(out), "--json"]) == 0
    meta = json.loads(capsys.readouterr().out)
    assert meta["total_bytes"] == out.stat().st_size and meta["prompt"] == "hills at night"
    bad = tmp_path / "bad.gcodec"
    assert cli.main(["merge", str(paths[0]), str(tmp_path / "missing.gcodec"), "-o", str(bad)]) == cli.EXIT_USER_ERROR
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and not bad.exists()


def test_single_theta_files_decode_as_before(files, clips, wan):
    """One θ: the decoder's adapter list has one entry and the ODE path is the pre-merge one."""
    assert np.array_equal(_decode(files[1]), _manual_decode(wan, _adapters(files[1], wan), clips[1], "a city"))
