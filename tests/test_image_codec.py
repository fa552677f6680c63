"""The SD-latent codec on the tiny model: every numeric step of Bühlmann's pipeline, and our improved mode."""

import zlib

import numpy as np
import pytest
import torch

import gencodec
from gencodec import container, models
from gencodec.errors import FormatError, InputError
from gencodec.image import codec as image_codec
from gencodec.image import denoise, palette, quantize
from gencodec.image.codec import SDLatentCodec
from gencodec.image.sd import LATENT_SCALE, load_sd

from .conftest import natural_image

CODEC = SDLatentCodec()


@pytest.fixture(scope="module")
def tiny():
    return load_sd(models.resolve("tiny", "sd"), "cpu")


@pytest.fixture(scope="module")
def faithful_file(photo512):
    return gencodec.encode(photo512, model="tiny")


# ------------------------------------------------------------------ numeric steps


def test_buehlmann_quantiser_error_within_half_a_step():
    rng = np.random.default_rng(0)
    latent = rng.uniform(-23.0, 23.0, (4, 16, 16)).astype(np.float32)
    q = quantize.buehlmann_quantize(latent)
    assert q.dtype == np.uint8 and q.shape == (16, 16, 4)
    err = np.abs(quantize.buehlmann_unquantize(q) - latent)
    assert err.max() <= LATENT_SCALE / 2 + 1e-5


def test_buehlmann_quantiser_formula_and_clipping():
    latent = np.array([-1000.0, 0.0, LATENT_SCALE, 1000.0], np.float32).reshape(4, 1, 1)
    q = quantize.buehlmann_quantize(latent).reshape(-1)
    # q = uint8(clamp(L/(255·0.18215) + 0.5, 0, 1)·255 + 0.5)
    assert list(q) == [0, 128, 129, 255]
    assert quantize.buehlmann_unquantize(np.array([[[128, 128, 129, 255]]], np.uint8)).reshape(-1)[2] == pytest.approx(
        1.5 * LATENT_SCALE, rel=1e-5
    )


def test_uniform_quantiser_error_within_half_a_step():
    rng = np.random.default_rng(1)
    latent = rng.normal(0, 5, (4, 8, 8)).astype(np.float32)
    for code in (-300, 0, 700):
        step = quantize.step_from_code(code)
        err = np.abs(quantize.uniform_dequantize(quantize.uniform_quantize(latent, step), step) - latent)
        assert err.max() <= step / 2 + 1e-5


def test_palette_has_at_most_256_entries_and_dithering_uses_it():
    rng = np.random.default_rng(2)
    img = rng.normal(128, 40, (32, 32, 4)).clip(0, 255).astype(np.uint8)
    pal = palette.fit_palette(img.reshape(-1, 4))
    assert pal.dtype == np.uint8 and 1 < len(pal) <= 256
    idx = palette.dither(img, pal)
    assert idx.shape == (32, 32) and idx.max() < len(pal)
    # error diffusion keeps the local mean: a 4×4 box filter of the dithered image tracks the original
    rec = pal[idx].astype(np.float32)
    box = lambda a: a.reshape(8, 4, 8, 4, 4).mean((1, 3))  # noqa: E731
    assert np.abs(box(rec) - box(img.astype(np.float32))).mean() < 4.0


def test_palette_keeps_few_colours_exactly():
    img = np.zeros((8, 8, 4), np.uint8)
    img[:4] = [10, 20, 30, 40]
    pal = palette.fit_palette(img.reshape(-1, 4))
    assert len(pal) == 2
    assert np.array_equal(pal[palette.dither(img, pal)], img)


def test_faithful_payload_is_zlib_of_palette_then_indices(faithful_file):
    c = container.unpack(faithful_file)
    raw = zlib.decompress(c.section(image_codec.SEC_PALETTE))
    assert len(raw) == 256 * 4 + 64 * 64  # palette 1024 B + index map 4096 B
    assert 4000 < len(faithful_file) < 5300  # ≈ 4.97 KB in Bühlmann's article


def test_faithful_timesteps_are_buehlmanns():
    assert denoise.buehlmann_timesteps() == [31, 16, 1]


def test_decode_runs_the_unet_at_those_timesteps_with_the_empty_prompt(tiny, faithful_file, monkeypatch):
    seen = []
    original = tiny.unet.forward

    def spy(sample, timestep, encoder_hidden_states, *a, **k):
        seen.append((int(timestep), encoder_hidden_states.clone()))
        return original(sample, timestep, encoder_hidden_states, *a, **k)

    monkeypatch.setattr(tiny.unet, "forward", spy)
    gencodec.decode(faithful_file, device="cpu")
    assert [t for t, _ in seen] == [31, 16, 1]
    assert torch.equal(seen[0][1], tiny.prompt_embedding(""))


def test_matched_denoise_strength_follows_quantisation_error():
    ts = [denoise.matched_timestep(denoise.uniform_error_std(quantize.step_from_code(c))) for c in (0, 512, 1024, 1536, 2048)]
    assert ts == sorted(ts) and ts[-1] > ts[0]
    assert denoise.ddim_timesteps(0, 2) == []
    assert denoise.ddim_timesteps(80, 2) == [80, 40]


# ------------------------------------------------------------------ end to end (tiny model)


@pytest.mark.parametrize("h, w", [(512, 512), (256, 384), (250, 333)])
def test_decoded_size_equals_input_size(h, w):
    img = natural_image(h, w, seed=h)
    data = gencodec.encode(img, model="tiny")
    meta = gencodec.info(data)
    assert (meta["width"], meta["height"]) == (w, h)
    assert gencodec.decode(data).shape == (h, w, 3)


def test_encoding_is_deterministic(photo512, faithful_file):
    assert gencodec.encode(photo512, model="tiny") == faithful_file
    assert gencodec.encode(photo512, model="tiny", target_bytes=2500) == gencodec.encode(photo512, model="tiny", target_bytes=2500)


def test_info_total_bytes_is_the_file_size(faithful_file):
    meta = gencodec.info(faithful_file)
    assert meta["total_bytes"] == len(faithful_file)
    assert meta["header_bytes"] <= 24
    assert meta["mode"] == "faithful" and meta["model"] == "tiny-sd"
    overhead = len(faithful_file) - sum(s["bytes"] for s in meta["sections"])
    assert meta["header_bytes"] < overhead <= meta["header_bytes"] + 8  # section count, tags, lengths, CRC


@pytest.mark.parametrize("target", [1500, 3000, 6000])
def test_rate_control_lands_within_three_percent(photo512, target):
    data = gencodec.encode(photo512, model="tiny", target_bytes=target)
    assert 0.97 * target <= len(data) <= target
    assert gencodec.info(data)["mode"] == "improved"
    assert gencodec.decode(data).shape == photo512.shape


def test_more_bytes_means_a_closer_latent(photo512, tiny):
    z = CODEC.encode_latent(tiny, photo512, sample=False)
    errs = []
    for target in (1500, 3000, 6000):
        _, zhat = CODEC.read(gencodec.encode(photo512, model="tiny", target_bytes=target))
        errs.append(float(((zhat - z) ** 2).mean()))
    assert errs[0] > errs[1] > errs[2]


def test_improved_beats_faithful_latent_error_at_equal_size(photo512, tiny, faithful_file):
    _, z_faithful = CODEC.read(faithful_file)
    z_sample = CODEC.encode_latent(tiny, photo512, sample=True)
    improved = gencodec.encode(photo512, model="tiny", target_bytes=len(faithful_file), latent="sample")
    _, z_improved = CODEC.read(improved)
    assert len(improved) <= len(faithful_file)
    assert ((z_improved - z_sample) ** 2).mean() < ((z_faithful - z_sample) ** 2).mean()


def test_too_small_target_is_a_clear_error(photo512):
    with pytest.raises(InputError, match="too small"):
        gencodec.encode(photo512, model="tiny", target_bytes=20)


def test_bad_options_are_clear_errors(photo512, faithful_file):
    with pytest.raises(InputError, match="faithful mode has a fixed size"):
        gencodec.encode(photo512, model="tiny", mode="faithful", target_bytes=3000)
    with pytest.raises(InputError, match="unknown mode"):
        gencodec.encode(photo512, model="tiny", mode="lossless")
    with pytest.raises(InputError, match="not used by sd-latent: prompt"):
        gencodec.decode(faithful_file, prompt="a cat")
    with pytest.raises(InputError, match="unknown codec"):
        gencodec.encode(photo512, codec="mp3")


def test_oversized_image_is_refused_before_model_work(monkeypatch):
    monkeypatch.setenv("GENCODEC_MAX_IMAGE_SIDE", "256")
    monkeypatch.setattr(image_codec, "load_sd", lambda *a, **k: pytest.fail("model loaded for an oversized image"))
    with pytest.raises(InputError, match="limit is 256×256"):
        gencodec.encode(natural_image(300, 200), model="tiny")


def test_wrong_codec_in_file_is_rejected(faithful_file):
    c = container.unpack(faithful_file)
    c.header.codec = 200
    other = container.pack(c.header, c.sections)
    with pytest.raises(FormatError, match="unknown codec"):
        gencodec.decode(other)
    with pytest.raises(FormatError, match="not an sd-latent file"):
        CODEC.read(other)


def test_payload_fuzz_never_escapes_format_error(faithful_file, photo512):
    """Hostile section bytes behind a valid header and CRC: FormatError, or a latent of the declared shape."""
    rng = np.random.default_rng(7)
    improved = gencodec.encode(photo512, model="tiny", target_bytes=3000)
    for original in (faithful_file, improved):
        c = container.unpack(original)
        tag, payload = c.sections[0]
        for trial in range(150):
            mutated = bytearray(payload)
            if trial % 3 == 0:
                mutated = mutated[: rng.integers(0, len(mutated))]
            else:
                for _ in range(rng.integers(1, 6)):
                    mutated[rng.integers(0, len(mutated))] = rng.integers(0, 256)
            data = container.pack(c.header, [(tag, bytes(mutated))])
            try:
                _, z = CODEC.read(data)
            except FormatError:
                continue
            assert z.shape == (4, 64, 64)


# ------------------------------------------------------------------ real loading path


def test_real_loading_path_via_save_pretrained(tmp_path, tiny, photo512, faithful_file):
    tiny.save_pretrained(tmp_path / "sd")
    assert (tmp_path / "sd" / "unet" / "diffusion_pytorch_model.safetensors").exists()
    assert not list((tmp_path / "sd").rglob("*.bin"))
    data = gencodec.encode(photo512, model=str(tmp_path / "sd"))
    assert gencodec.info(data)["model"] == str(tmp_path / "sd")
    # same weights, same bytes: only the header's model field differs
    assert container.unpack(data).sections == container.unpack(faithful_file).sections
    # identical weights; float summation order may differ after loading (≈1e-6), so pixels may move by 1
    diff = np.abs(gencodec.decode(data).astype(int) - gencodec.decode(faithful_file).astype(int))
    assert diff.max() <= 2 and diff.mean() < 0.05


def test_declared_size_beyond_the_limit_is_refused_before_decoding(faithful_file, monkeypatch):
    monkeypatch.setenv("GENCODEC_MAX_IMAGE_SIDE", "256")
    with pytest.raises(InputError, match="limit is 256×256"):
        gencodec.decode(faithful_file)
