"""Benchmarks run end to end in tiny configurations: the CLI dispatcher, the JSON they write, the tables.

No timing thresholds: only that numbers are there and positive.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gencodec.bench.__main__ import benchmark_names, main

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args, timeout=120):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]), HF_HUB_OFFLINE="1")
    return subprocess.run([sys.executable, "-m", "gencodec.bench", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def test_help_lists_benchmarks():
    assert {"image", "rate"} <= set(benchmark_names())
    proc = _cli("--help")
    assert proc.returncode == 0, proc.stderr
    assert "image" in proc.stdout and "rate" in proc.stdout


def test_image_benchmark_tiny_through_cli(tmp_path):
    out = tmp_path / "res"
    proc = _cli("image", "--arch", "tiny", "--sizes", "64", "--repeats", "1", "--step-code", "1024", "--device", "cpu", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    path = out / "image-cpu.json"
    assert path.exists()
    result = json.loads(path.read_text())
    assert result["benchmark"] == "image"
    for key in ("torch", "device_name", "cpu_count", "gpu_name", "device"):
        assert key in result["machine"]
    assert result["machine"]["torch"] and result["machine"]["cpu_count"] >= 1
    s = result["settings"]
    assert s["arch"] == "tiny" and s["sizes"] == [64] and s["repeats"] == 1 and s["device"] == "cpu"
    cases = result["cases"]
    assert [(c["size"], c["case"], c["mode"]) for c in cases] == [
        (64, "faithful", "faithful"),
        (64, "improved", "improved"),
        (64, "improved@1024", "improved"),
    ]
    for c in cases:
        assert c["bytes"] > 0 and c["bpp"] > 0
        for key in ("encode_s", "vae_encode_s", "quantise_s", "decode_s", "parse_s", "vae_decode_s"):
            assert c[key] > 0, key
        assert c["encode_peak_mem_bytes"] >= 0 and c["decode_peak_mem_bytes"] >= 0
        assert c["encode_peak_mem_abs_bytes"] > 0
        assert len(c["runs"]) == 1
    faithful, improved, fixed = cases
    assert faithful["unet_steps"] == 3 and faithful["unet_step_s"] > 0 and faithful["unet_total_s"] > 0
    assert "step_code" in improved and "target_bytes" in improved
    assert improved["bytes"] <= improved["target_bytes"] or not improved["target_met"]
    # step code 1024 (Δ ≈ 2.9) starts matched DDIM at t = 25: two UNet steps, timed
    assert fixed["step_code"] == 1024 and fixed["unet_steps"] == 2 and fixed["unet_step_s"] > 0
    # the Markdown table is printed on stdout
    assert "| size |" in proc.stdout and "faithful" in proc.stdout


def test_rate_benchmark(tmp_path):
    from PIL import Image

    from tests.conftest import natural_image

    img = tmp_path / "odd.png"
    Image.fromarray(natural_image(80, 100)).save(img)  # 100×80: padded to the latent grid and cropped back
    out = tmp_path / "res"
    assert main(["rate", "--images", str(img), "--repeats", "1", "--device", "cpu", "--out", str(out)]) == 0
    result = json.loads((out / "rate-cpu.json").read_text())
    assert result["settings"]["model"] == "tiny-sd"
    cases = {c["case"]: c for c in result["cases"]}
    assert set(cases) == {"faithful", "improved @ step 0", "improved @ faithful size"}
    for c in cases.values():
        assert c["bytes"] > 0 and c["encode_s"] > 0 and c["decode_s"] > 0
        assert c["bpp"] == pytest.approx(8 * c["bytes"] / (100 * 80))
        assert np.isfinite(c["latent_mse"]) and c["latent_mse"] >= 0
    assert cases["improved @ step 0"]["step_code"] == 0
    assert cases["improved @ faithful size"]["target_bytes"] == cases["faithful"]["bytes"]
    assert cases["improved @ faithful size"]["bytes"] <= cases["faithful"]["bytes"]
    # a uniform quantiser of step Δ leaves MSE ≈ Δ²/12 on the posterior mean
    step0 = cases["improved @ step 0"]
    assert step0["latent_mse"] <= 0.18215**2 / 4


def test_bad_option_is_one_error_line(capsys):
    assert main(["image", "--arch", "tiny", "--sizes", "abc", "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error:") and "Traceback" not in "\n".join(err)


def test_gvc_benchmarks_tiny(tmp_path):
    proc = _cli("gvc", "--arch", "tiny", "--height", "48", "--width", "64", "--frames", "9", "--gop", "9",
                "--codebook-size", "128", "--atoms", "4", "--device", "cpu", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    case = json.loads((tmp_path / "gvc-cpu.json").read_text())["cases"][0]
    assert case["bytes"] > 0 and case["encode_s"] > 0 and case["decode_s"] > 0
    assert 0 < case["encode_transformer_s"] < case["encode_s"]
    proc = _cli("gvc_prior", "--atoms", "0,8", "--dim", "128", "--codebook-size", "128", "--targets", "1",
                "--device", "cpu", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    rows = json.loads((tmp_path / "gvc_prior-cpu.json").read_text())["cases"]
    assert [r["M"] for r in rows] == [0, 8] and rows[1]["mse"] < rows[0]["mse"]
    assert all(r["gap_db"] >= 0 for r in rows)


def test_lora_benchmark_tiny(tmp_path):
    proc = _cli("lora", "--arch", "tiny", "--height", "48", "--width", "64", "--frames", "9", "--fit-steps", "5",
                "--device", "cpu", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    case = json.loads((tmp_path / "lora-cpu.json").read_text())["cases"][0]
    assert case["bytes"] > 0 and case["encode_s"] > 0 and case["decode_s"] > 0


def test_memory_benchmark_tiny(tmp_path):
    proc = _cli("memory", "--arch", "tiny", "--seconds", "2", "--height", "64", "--width", "96", "--fps", "12",
                "--dit-steps", "2", "--pretrain-steps", "4", "--train-clips", "2", "--test-clips", "1",
                "--clip-frames", "9", "--clip-size", "32", "--device", "cpu", "--out", str(tmp_path), timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "memory-cpu.json").read_text())
    paper = next(r for r in result["tokens"] if r["strides_hwt"] == "4×4×2")
    assert paper["tokens"] == 61 * 8 * 13 and paper["tokens_per_second"] > 300  # 20 s of 480×832 at 24 fps
    speed = result["speed"]
    assert speed["tokens"] > 0 and speed["encode_s"] > 0 and speed["retrieve_dit_s"] > 0 and speed["memory_bytes"] > 0
    methods = result["ablation"]["methods"]
    assert {"ours (pretrained)", "large patchifier (FramePack-style)", "low-res branch only", "uniform keyframes",
            "mean frame (no budget)", "ours without pretraining"} <= set(methods)
    assert "| strides H×W×T |" in proc.stdout
