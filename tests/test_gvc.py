"""GVC video codec (T2V) on the tiny Wan model: files, replay, rate accounting, errors."""

import json

import numpy as np
import pytest

import gencodec
from gencodec import cli, codebook, container, media, models
from gencodec.errors import FormatError, InputError
from gencodec.video import gvc
from gencodec.video.wan import load_wan

SMALL = dict(codec="gvc", model="tiny", codebook_size=256, atoms=8, gop=9)


def moving_frames(n=20, h=48, w=72):
    t = np.arange(n)[:, None, None]
    yy, xx = np.mgrid[0:h, 0:w]
    f = np.stack([(xx * 3 + t * 4) % 256, (yy * 5 + 0 * t) % 256, 100 + 20 * np.sin(t / 3.0) + 0 * xx], -1)
    return np.clip(f, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def frames():
    return moving_frames()


@pytest.fixture(scope="module")
def encoded(frames):
    return gencodec.encode(frames, fps=24, **SMALL)


@pytest.fixture(scope="module")
def wan():
    return load_wan(models.resolve("tiny", "wan-t2v"), "cpu")


def test_round_trip_keeps_size_and_frame_count(encoded, frames):
    out = gencodec.decode(encoded)
    assert out.shape == frames.shape and out.dtype == np.uint8


def test_encode_and_decode_are_deterministic(encoded, frames):
    assert gencodec.encode(frames, fps=24, **SMALL) == encoded
    assert np.array_equal(gencodec.decode(encoded), gencodec.decode(encoded))


def test_file_is_exactly_header_plus_index_sets(encoded):
    meta = gencodec.info(encoded)
    n_gops, lat_frames, sde_steps = 3, 3, 17  # 20 frames in GOPs of 9; 9 frames → 3 latent frames
    payload = codebook.payload_bytes(256, [8] * (n_gops * sde_steps * lat_frames))
    assert meta["sections"][0]["bytes"] == payload
    assert meta["total_bytes"] == len(encoded) == meta["header_bytes"] + payload + 4 + 4  # count, tag, 2-byte length; CRC
    assert meta["fps"] == 24.0 and meta["frames"] == 20
    assert meta["kbps"] == pytest.approx(8 * len(encoded) / (20 / 24) / 1000)
    assert meta["bpp"] == pytest.approx(8 * len(encoded) / (20 * 48 * 72))


def test_default_header_is_compact():
    h = container.Header(codec=1, model=2, media=container.MEDIA_VIDEO, width=1280, height=720, frames=99, fps_milli=24000)
    assert container.header_size(h) <= 24


def test_more_atoms_steer_closer_to_the_target(frames, wan):
    codec = gvc.GVCCodec()
    clip = frames[:9]
    target = codec.target_latents(clip, wan, 9)[0]
    errors = []
    for m in (1, 4, 16, 64):
        data = gencodec.encode(clip, **{**SMALL, "atoms": m})
        z = codec.decode_latents(data, wan)[0]
        errors.append(float(((z - target) ** 2).mean()))
    assert all(a > b for a, b in zip(errors, errors[1:])), errors
    assert errors[-1] < 0.5 * errors[0]


def test_bad_parameters_are_clear_errors(frames):
    with pytest.raises(InputError, match="4k\\+1"):
        gencodec.encode(frames, **{**SMALL, "gop": 10})
    with pytest.raises(InputError, match="between 1 and K"):
        gencodec.encode(frames, **{**SMALL, "atoms": 300})
    with pytest.raises(InputError, match="not available in this version"):
        gencodec.encode(frames, **{**SMALL, "mode": "v2v"})
    with pytest.raises(InputError, match="apply to the i2v mode"):
        gencodec.encode(frames, **SMALL, tail_residual=True)
    with pytest.raises(InputError, match="not used by gvc"):
        gencodec.encode(frames, **SMALL, target_bytes=100)


def test_oversized_video_is_refused_before_model_work(monkeypatch):
    monkeypatch.setenv("GENCODEC_MAX_VIDEO_FRAMES", "10")
    monkeypatch.setattr(gvc, "load_wan", lambda *a, **k: pytest.fail("model loaded for an oversized video"))
    with pytest.raises(InputError, match="limit is 10"):
        gencodec.encode(moving_frames(12), **SMALL)


def test_corrupt_payloads_raise_format_error(encoded):
    codec = gvc.GVCCodec()
    c = container.unpack(encoded)
    tag, payload = c.sections[0]
    rng = np.random.default_rng(5)
    for trial in range(100):
        mutated = bytearray(payload)
        if trial % 2:
            mutated = mutated[: rng.integers(0, len(mutated))]
        else:
            mutated[rng.integers(0, len(mutated))] ^= int(rng.integers(1, 256))
        data = container.pack(c.header, [(tag, bytes(mutated))])
        try:
            codec.read(data)  # a flipped sign bit is a valid stream; anything else must be a FormatError
        except FormatError:
            pass
    c.header.params[gvc.P_GOP] = 10
    with pytest.raises(FormatError, match="4k\\+1"):
        codec.read(container.pack(c.header, c.sections))


def test_cli_video_round_trip(tmp_path, frames, capsys):
    src = tmp_path / "clip.mp4"
    src.write_bytes(media.video_to_mp4_bytes(frames[:12], 24.0))
    out = tmp_path / "clip.gcodec"
    args = ["encode", src, "-o", out, "--codec", "gvc", "--model", "tiny", "--atoms", "4", "--codebook-size", "128",
            "--gop", "9"]
    assert cli.main([str(a) for a in args]) == 0
    assert cli.main(["info", str(out), "--json"]) == 0
    meta = json.loads(capsys.readouterr().out)
    assert meta["total_bytes"] == out.stat().st_size and meta["fps"] == 24.0 and meta["frames"] == 12
    decoded = tmp_path / "clip.out.mp4"
    assert cli.main(["decode", str(out), "-o", str(decoded)]) == 0
    video, fps = media.load_video(decoded)
    assert video.shape == (12, 48, 72, 3) and fps == 24.0
    assert cli.main(["decode", str(out), "-o", str(tmp_path / "x.png")]) == 2
    assert "must end in .mp4" in capsys.readouterr().err


# ------------------------------------------------------------------ I2V

I2V = dict(SMALL, mode="i2v", tail_atoms=16)


@pytest.fixture(scope="module")
def i2v_file(frames):
    return gencodec.encode(frames[:17], fps=24, **I2V)


def test_i2v_round_trip_and_determinism(i2v_file, frames):
    out = gencodec.decode(i2v_file)
    assert out.shape == (17, 48, 72, 3)
    assert gencodec.encode(frames[:17], fps=24, **I2V) == i2v_file


def test_i2v_counts_the_reference_frame_and_shares_gop_boundaries(i2v_file):
    meta = gencodec.info(i2v_file)
    names = [s["name"] for s in meta["sections"]]
    assert names == ["atom indices and signs", "reference frames (sd-latent .gcodec files)"]
    (ref,) = gvc._unpack_blobs(container.unpack(i2v_file).section(gvc.SEC_REF), 1)
    assert gencodec.info(ref)["codec"] == "sd-latent" and gencodec.decode(ref).shape == (48, 72, 3)
    # 17 frames = 2 GOPs of 9 sharing frame 8; 3 latent frames: 1 with M atoms, the last 2 with M_tail
    assert meta["sections"][0]["bytes"] == codebook.payload_bytes(256, [8, 16, 16] * (2 * 17))
    assert sum(s["bytes"] for s in meta["sections"]) < meta["total_bytes"] == len(i2v_file)


def test_tail_residual_pins_the_last_latent_frame(frames, wan):
    wan_i2v = load_wan(models.resolve("tiny", "wan-i2v"), "cpu")
    codec = gvc.GVCCodec()
    clip = frames[:9]
    target = codec.target_latents(clip, wan_i2v, 9, mode="i2v")[0]
    errs = {}
    for flag in (False, True):
        data = gencodec.encode(clip, **I2V, tail_residual=flag or None)
        z = codec.decode_latents(data, wan_i2v)[0]
        errs[flag] = float(((z[-1] - target[-1]) ** 2).mean())
    peak = float(target[-1].abs().max())
    assert errs[True] < 0.01 * errs[False]
    assert errs[True] <= (2 * peak / 127) ** 2  # within the 8-bit quantiser's error


# ------------------------------------------------------------------ FLF2V


def test_flf2v_codes_every_boundary_frame_once(frames):
    data = gencodec.encode(frames[:17], fps=24, **dict(SMALL, mode="flf2v"))
    meta = gencodec.info(data)
    assert meta["mode"] == "flf2v"
    refs = gvc._unpack_blobs(container.unpack(data).section(gvc.SEC_REF), 3)  # 2 GOPs: frames 0, 8, 16
    assert all(gencodec.info(r)["codec"] == "sd-latent" for r in refs)
    assert meta["sections"][0]["bytes"] == codebook.payload_bytes(256, [8] * (2 * 17 * 3))
    out = gencodec.decode(data)
    assert out.shape == (17, 48, 72, 3)
    assert gencodec.encode(frames[:17], fps=24, **dict(SMALL, mode="flf2v")) == data
    with pytest.raises(InputError, match="apply to the i2v mode"):
        gencodec.encode(frames[:17], **dict(SMALL, mode="flf2v"), tail_atoms=4)


def test_load_video_keeps_the_first_frames(tmp_path, frames):
    path = tmp_path / "long.mp4"
    path.write_bytes(media.video_to_mp4_bytes(frames, 24.0))
    video, fps = media.load_video(path, first=5)
    assert video.shape[0] == 5 and fps == 24.0
    with pytest.raises(InputError, match="limit is 5"):
        media.load_video(path, max_frames=5)


def test_t2v_accepts_a_codebook_smaller_than_the_tail_atom_default(frames):
    data = gencodec.encode(frames[:9], **{**SMALL, "codebook_size": 64, "atoms": 4})
    assert gencodec.decode(data).shape == (9, 48, 72, 3)


def test_real_loading_path_via_save_pretrained(tmp_path, wan, frames):
    wan.save_pretrained(tmp_path / "wan")
    assert (tmp_path / "wan" / "transformer" / "diffusion_pytorch_model.safetensors").exists()
    data = gencodec.encode(frames[:9], **{**SMALL, "model": str(tmp_path / "wan")})
    assert gencodec.info(data)["model"] == str(tmp_path / "wan")
    assert gencodec.decode(data).shape == (9, 48, 72, 3)
