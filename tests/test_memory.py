"""Long-video memory on the tiny model: planner, compressor properties, the codec and its CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import gencodec
from gencodec import cli, models
from gencodec.errors import FormatError, InputError
from gencodec.memory import model as memory_model
from gencodec.memory.compressor import token_positions
from gencodec.memory.planner import parse_strides, plan
from gencodec.memory.synthetic import synthetic_clip


@pytest.fixture(scope="module")
def tiny():
    return memory_model.load(models.resolve("tiny", models.FAMILY_MEMORY))


@pytest.fixture(scope="module")
def clip():
    return synthetic_clip(7, 41, 72, 100)


@pytest.fixture(scope="module")
def encoded(clip):
    return gencodec.encode(clip, codec="memory", model="tiny", budget_tokens=64, fps=24)


def test_paper_token_arithmetic_at_480p():
    """20 s of 480×832 at 24 fps: 121 latent frames × 30 × 52 tokens; 4×4×2 keeps 61 × 8 × 13."""
    p = plan(480, 480, 832, 24, strides=parse_strides("4x4x2"))
    assert p.full_tokens == 121 * 30 * 52
    assert p.tokens == 61 * 8 * 13 == 6344
    assert p.tokens_per_second == pytest.approx(6344 / 20)
    assert plan(480, 480, 832, 24, strides=parse_strides("2x2x1")).tokens == 121 * 15 * 26


@pytest.mark.parametrize("budget", [1, 7, 64, 500, 5000])
def test_budget_gives_the_largest_plan_that_fits(budget):
    p = plan(97, 64, 96, 24, budget_tokens=budget)
    assert p.tokens <= budget
    larger = [plan(97, 64, 96, 24, strides=(t, s, s)) for s in (1, 2, 4, 8, 16) for t in (1, 2, 4, 8, 16, 32, 64, 128)]
    assert max(q.tokens for q in larger if q.tokens <= budget) == p.tokens


def test_budget_too_small_and_bad_strides_are_clear():
    with pytest.raises(InputError, match="too small"):
        plan(2400, 480, 832, 24, budget_tokens=1)
    with pytest.raises(InputError, match="4x4x2"):
        parse_strides("4by4")


@pytest.mark.parametrize("frames,height,width,strides", [(41, 72, 100, (1, 4, 4)), (17, 64, 64, (2, 2, 2)),
                                                         (1, 48, 80, (1, 1, 1)), (30, 40, 56, (4, 2, 1))])
def test_compressor_makes_exactly_the_planned_tokens(tiny, frames, height, width, strides):
    video = synthetic_clip(1, frames, height, width)
    p = plan(frames, height, width, 24, strides=strides)
    with torch.no_grad():
        tokens = tiny.tokens(tiny.stored(video, p))
    assert tokens.shape == (1, p.tokens, tiny.compressor.cfg.dim)
    assert token_positions(p).shape == (p.tokens, 3)


def test_rope_matches_wans_own_table():
    from diffusers.models.transformers.transformer_wan import WanRotaryPosEmbed

    from gencodec.memory.rope import grid_positions, rope

    table = WanRotaryPosEmbed(24, (1, 2, 2), 64)
    cos, sin = table(torch.zeros(1, 16, 3, 8, 10))
    mine_cos, mine_sin = rope(grid_positions(3, 4, 5), 24)
    assert torch.equal(cos[0, :, 0], mine_cos) and torch.equal(sin[0, :, 0], mine_sin)


def test_memory_is_causal_in_time(tiny):
    """Changing frames from 21 on leaves every token whose time block ends before them unchanged."""
    video = synthetic_clip(3, 41, 64, 64)
    p = plan(41, 64, 64, 24, strides=(2, 2, 2))  # token time m covers latent frames 2m, 2m+1 = frames up to 8m+4
    later = video.copy()
    later[21:] = 255 - later[21:]
    with torch.no_grad():
        a = tiny.tokens(tiny.stored(video, p))[0].reshape(p.memory_grid[0], -1)
        b = tiny.tokens(tiny.stored(later, p))[0].reshape(p.memory_grid[0], -1)
    # latent frame j holds frames 4j−3..4j, so frames ≥ 21 first touch latent frame 6, i.e. token time 3
    assert torch.equal(a[:3], b[:3])
    assert not torch.allclose(a[3:], b[3:])


def test_high_res_branch_starts_at_zero_and_is_causal(tiny):
    cfg = tiny.compressor.cfg
    assert cfg.variant == "full"
    video = synthetic_clip(4, 17, 64, 64)
    p = plan(17, 64, 64, 24, strides=(1, 2, 2))
    x = tiny.video_tensor(video, p)
    fresh = memory_model.build(tiny.wan, tiny.base, tiny=True)
    with torch.no_grad():
        stored = fresh.stored(video, p)
        low_only = fresh.compressor.tokens({"low": stored["low"]}, fresh.wan.transformer.patch_embedding)
        assert torch.equal(fresh.tokens(stored), low_only)  # zero contribution before training
        y = x.clone()
        y[:, :, 9:] = -y[:, :, 9:]
        ha, hb = fresh.compressor.high(x, p.strides), fresh.compressor.high(y, p.strides)
    assert torch.equal(ha[:, :, :2], hb[:, :, :2]) and not torch.equal(ha[:, :, 2:], hb[:, :, 2:])


def test_encode_is_deterministic_and_counts_every_byte(clip, encoded):
    assert gencodec.encode(clip, codec="memory", model="tiny", budget_tokens=64, fps=24) == encoded
    meta = gencodec.info(encoded)
    assert meta["codec"] == "memory" and meta["total_bytes"] == len(encoded)
    assert meta["tokens"] == plan(41, 72, 100, 24, budget_tokens=64).tokens <= 64
    assert {s["name"] for s in meta["sections"]} == {"low-res latent (range coded)", "high-res features (range coded)"}


def test_retrieve_any_frame_all_frames_and_continuation(encoded):
    frame = gencodec.decode(encoded, frame=17)
    assert frame.shape == (72, 100, 3) and frame.dtype == np.uint8
    again = gencodec.decode(encoded, frame=17)
    assert np.array_equal(frame, again)  # seeded sampler: retrieval is reproducible
    video = gencodec.decode(encoded, retriever="head")
    assert video.shape == (41, 72, 100, 3)
    assert not np.array_equal(video[0], video[-1])
    more = gencodec.decode(encoded, continue_seconds=0.5, steps=4)
    assert more.shape == (12, 72, 100, 3)


def test_rate_control_on_true_bytes(clip):
    small = gencodec.encode(clip, codec="memory", model="tiny", budget_tokens=64, fps=24, target_bytes=1200)
    assert 900 < len(small) <= 1200
    with pytest.raises(InputError, match="too small"):
        gencodec.encode(clip, codec="memory", model="tiny", budget_tokens=64, fps=24, target_bytes=50)


def test_bad_files_and_options_fail_clearly(encoded):
    with pytest.raises(FormatError):
        gencodec.decode(encoded[:-9])
    broken = bytearray(encoded)
    broken[30] ^= 0x40
    with pytest.raises(FormatError):
        gencodec.decode(bytes(broken))
    with pytest.raises(InputError, match="--frame"):
        gencodec.decode(encoded, frame=41)
    with pytest.raises(InputError, match="retriever"):
        gencodec.decode(encoded, retriever="oracle")
    with pytest.raises(InputError, match="not both"):
        gencodec.encode(np.zeros((5, 32, 32, 3), np.uint8), codec="memory", model="tiny", budget_tokens=8, strides="2x2x1")


def test_other_weights_are_refused(encoded, tmp_path, tiny):
    other = memory_model.build(tiny.wan, tiny.base, tiny=True, seed=1)
    memory_model.save(other, tmp_path / "other")
    with pytest.raises(FormatError, match="fingerprints differ"):
        gencodec.decode(encoded, frame=0, model=str(tmp_path / "other"))


def test_cli_done_means(tmp_path, capsys, clip):
    from gencodec.media import video_to_mp4_bytes

    src = tmp_path / "long.mp4"
    src.write_bytes(video_to_mp4_bytes(clip, 24.0))
    out = tmp_path / "m.gcodec"
    assert cli.main(["encode", str(src), "-o", str(out), "--codec", "memory", "--model", "tiny", "--budget-tokens", "512"]) == 0
    assert cli.main(["decode", str(out), "--frame", "17", "-o", str(tmp_path / "f.png")]) == 0
    from PIL import Image

    assert Image.open(tmp_path / "f.png").size == (100, 72)
    capsys.readouterr()
    assert cli.main(["info", str(out), "--json"]) == 0
    meta = json.loads(capsys.readouterr().out)
    assert meta["total_bytes"] == out.stat().st_size and meta["tokens"] <= 512
    assert cli.main(["decode", str(out), "--frame", "99", "-o", str(tmp_path / "g.png")]) == 2
    assert not (tmp_path / "g.png").exists()
    assert "error:" in capsys.readouterr().err


def test_trained_folder_round_trip_and_resume(tmp_path):
    from gencodec.memory import train

    out = tmp_path / "run"
    args = ["--synthetic", "2", "--frames", "9", "--size", "32x32", "--steps", "3", "--save-every", "3",
            "--strides", "2x2x1", "-o", str(out)]
    assert train.main(args) == 0
    assert json.loads((out / "trainer_state.json").read_text())["step"] == 3
    assert train.main([*args[:-4], "--steps", "5", "--save-every", "5", "-o", str(out), "--resume"]) == 0
    assert json.loads((out / "trainer_state.json").read_text())["step"] == 5
    model = memory_model.load_folder(out)
    video = synthetic_clip(9, 9, 32, 32)
    data = gencodec.encode(video, codec="memory", model=str(out), strides="2x2x1", fps=8)
    assert gencodec.decode(data, frame=4, retriever="head").shape == (32, 32, 3)
    assert gencodec.info(data)["params"]["fingerprint"] == model.fingerprint()


def test_patch_vae_is_an_orthogonal_projection():
    from gencodec.media import load_image
    from gencodec.memory.patch_vae import PatchVAE, basis

    b = basis()
    assert torch.allclose(b @ b.T, torch.eye(16), atol=1e-5)
    img = load_image("examples/astronaut.jpg")[:256, :256]
    x = torch.from_numpy(img.copy()).permute(2, 0, 1).float()[None, :, None] / 127.5 - 1
    vae = PatchVAE()
    y = vae.decode(vae.encode(x).latent_dist.mode()).sample
    out = ((y[0, :, 0].clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
    from gencodec import metrics

    assert metrics.psnr(img, out) > 22


def test_cross_attention_option(tmp_path):
    """The paper's add-on: every DiT block's cross-attention also reads the memory; stored in the folder."""
    from gencodec.memory import train
    from gencodec.memory.retrievers import dit_velocity

    out = tmp_path / "cross"
    assert train.main(["--synthetic", "1", "--frames", "5", "--size", "32x32", "--steps", "1", "--strides", "2x2x1",
                       "--cross-attention", "-o", str(out)]) == 0
    model = memory_model.load_folder(out)
    assert model.cross_attention and model.config()["cross_attention"]
    video = synthetic_clip(2, 5, 32, 32)
    p = plan(5, 32, 32, 8, strides=(1, 2, 2))
    with torch.no_grad():
        memory, pos = model.tokens(model.stored(video, p)), token_positions(p)
        z, t, t0 = torch.randn(1, 16, 1, 4, 4), torch.tensor([0.5]), torch.tensor([0.25])
        text = model.wan.prompt_embedding("")
        with_cross = dit_velocity(model.wan.transformer, z, t, t0, memory, pos, text, cross=True)
        without = dit_velocity(model.wan.transformer, z, t, t0, memory, pos, text, cross=False)
    assert not torch.allclose(with_cross, without)
    data = gencodec.encode(video, codec="memory", model=str(out), strides="2x2x1", fps=8)
    assert gencodec.decode(data, frame=3, steps=2).shape == (32, 32, 3)
