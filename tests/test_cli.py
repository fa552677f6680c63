"""The `gencodec` command's contract: outputs, exit codes, one-line errors, no partial files."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gencodec import cli

from .conftest import natural_image


def run(args, capsys):
    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def encoded(tmp_path_factory, photo_png):
    out = tmp_path_factory.mktemp("cli") / "photo.gcodec"
    assert cli.main(["encode", photo_png, "-o", str(out), "--codec", "sd-latent", "--model", "tiny"]) == 0
    return out


def assert_one_error_line(code, err):
    assert code != 0
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert "Traceback" not in err


def test_encode_decode_info(encoded, tmp_path, capsys):
    png = tmp_path / "out.png"
    code, _, _ = run(["decode", encoded, "-o", png], capsys)
    assert code == 0 and Image.open(png).size == (512, 512)
    code, out, _ = run(["info", encoded, "--json"], capsys)
    meta = json.loads(out)
    assert code == 0 and meta["total_bytes"] == encoded.stat().st_size
    assert meta["codec"] == "sd-latent" and meta["mode"] == "faithful"
    assert sum(s["bytes"] for s in meta["sections"]) < meta["total_bytes"]
    code, out, _ = run(["info", encoded], capsys)
    assert code == 0 and f"{encoded.stat().st_size} bytes" in out


def test_non_square_size_is_kept(tmp_path, capsys):
    src = tmp_path / "wide.png"
    Image.fromarray(natural_image(256, 384)).save(src)
    assert run(["encode", src, "-o", tmp_path / "w.gcodec", "--model", "tiny"], capsys)[0] == 0
    assert run(["decode", tmp_path / "w.gcodec", "-o", tmp_path / "w.png"], capsys)[0] == 0
    assert Image.open(tmp_path / "w.png").size == (384, 256)


def test_encode_is_byte_identical_twice(photo_png, encoded, tmp_path, capsys):
    again = tmp_path / "again.gcodec"
    assert run(["encode", photo_png, "-o", again, "--model", "tiny"], capsys)[0] == 0
    assert again.read_bytes() == encoded.read_bytes()


@pytest.mark.parametrize("target", [1500, 3000, 6000])
def test_target_bytes(photo_png, tmp_path, capsys, target):
    out = tmp_path / f"t{target}.gcodec"
    assert run(["encode", photo_png, "-o", out, "--model", "tiny", "--target-bytes", target], capsys)[0] == 0
    assert 0.97 * target <= out.stat().st_size <= target


def _bad_files(encoded: Path, tmp_path: Path, photo_png: str) -> dict:
    good = encoded.read_bytes()
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0x10
    rng = np.random.default_rng(3)
    files = {
        "truncated": good[: len(good) // 2],
        "bit-flipped": bytes(flipped),
        "empty": b"",
        "foreign": Path(photo_png).read_bytes(),
        "random": rng.integers(0, 256, 3000, dtype=np.uint8).tobytes(),
    }
    paths = {}
    for name, data in files.items():
        p = tmp_path / f"{name}.gcodec"
        p.write_bytes(data)
        paths[name] = p
    return paths


def test_bad_files_give_one_error_line_and_no_output(encoded, tmp_path, photo_png, capsys):
    for name, path in _bad_files(encoded, tmp_path, photo_png).items():
        out = tmp_path / f"{name}.png"
        code, _, err = run(["decode", path, "-o", out], capsys)
        assert_one_error_line(code, err)
        assert not out.exists(), name
        assert not list(tmp_path.glob(f".{name}.png.tmp*"))


def test_bad_inputs_to_encode(tmp_path, capsys):
    out = tmp_path / "x.gcodec"
    for args, message in [
        (["encode", tmp_path / "missing.png", "-o", out], "input not found"),
        (["encode", tmp_path, "-o", out], "input"),
        (["encode", Path(__file__), "-o", out, "--model", "tiny"], "unsupported or corrupt image"),
        (["encode", Path(__file__), "-o", tmp_path / "x.txt"], "output must end in .gcodec"),
        (["encode", Path(__file__), "-o", tmp_path / "nodir" / "x.gcodec"], "output folder does not exist"),
    ]:
        code, _, err = run(args, capsys)
        assert_one_error_line(code, err)
        assert message in err
        assert not out.exists()


def test_wrong_option_for_codec(encoded, tmp_path, capsys):
    code, _, err = run(["decode", encoded, "-o", tmp_path / "x.png", "--prompt", "a cat"], capsys)
    assert_one_error_line(code, err)
    assert "prompt" in err and not (tmp_path / "x.png").exists()


def test_unavailable_model_offline(photo_png, tmp_path, capsys, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.delenv("GENCODEC_MODELS", raising=False)
    code, _, err = run(["encode", photo_png, "-o", tmp_path / "x.gcodec", "--model", "sd-v1-4"], capsys)
    assert_one_error_line(code, err)
    assert "CompVis/stable-diffusion-v1-4" in err and "hf download" in err
    assert not (tmp_path / "x.gcodec").exists()


def test_compare_table(photo_png, capsys):
    code, out, _ = run(["compare", photo_png, "--model", "tiny", "--target-bytes", "3000", "--baselines", "jpeg,webp", "--json"], capsys)
    assert code == 0
    rows = json.loads(out)["rows"]
    assert [(r["codec"], r["side"]) for r in rows] == [("sd-latent", "ours"), ("jpeg", "at_least"), ("jpeg", "at_most"),
                                                       ("webp", "at_least"), ("webp", "at_most")]
    ours = rows[0]["bytes"]
    assert all(r["bytes"] >= ours for r in rows if r["side"] == "at_least")  # Bühlmann's protocol
    assert all(r["bytes"] <= ours for r in rows if r["side"] == "at_most")
    assert all(r["bpp"] == pytest.approx(8 * r["bytes"] / 512**2) for r in rows)
    code, out, _ = run(["compare", photo_png, "--model", "tiny", "--baselines", "jpeg"], capsys)
    assert code == 0 and "JPEG" in out and "PSNR" in out and "MS-SSIM" in out


def test_real_process_exit_codes_and_no_traceback(encoded, tmp_path):
    """One real subprocess run: the console entry point, exit status and stderr as a user sees them."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    bad = tmp_path / "bad.gcodec"
    bad.write_bytes(encoded.read_bytes()[:100])
    proc = subprocess.run([sys.executable, "-m", "gencodec", "decode", bad, "-o", tmp_path / "o.png"], capture_output=True,
                          text=True, env=env)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["error: corrupt or truncated file: checksum mismatch"]
    assert not (tmp_path / "o.png").exists()
    proc = subprocess.run([sys.executable, "-m", "gencodec", "--debug", "decode", bad, "-o", tmp_path / "o.png"],
                          capture_output=True, text=True, env=env)
    assert proc.returncode != 0 and "Traceback" in proc.stderr
