"""SD-latent image codec speed and memory at real SD v1.4 size (random weights).

Per image size, for the faithful mode (Bühlmann: quantise → palette → dither → zlib; PNDM at
t = 31, 16, 1) and the improved mode (rate control to --target-bpp; matched DDIM), times:
  encode = VAE encode + quantisation/coding (faithful) or rate control (improved);
  decode = payload parse + denoise (UNet steps) + VAE decode, with the UNet-step and VAE-decode
           times reported separately;
and the peak memory of each (CUDA: max_memory_allocated above the model's; CPU: peak RSS
increase, sampled). Random-init weights give honest timings; the images are noise.
On CUDA the UNet and text encoder run in fp16 and the VAE in fp32, as the codec does; every
case runs with TF32 matmuls off and on (`--tf32`).
"""

from __future__ import annotations

import functools
import time

import numpy as np

from . import _common
from ._common import BenchError, PeakMemory, log, median, now

WARMUP_SIZE = 256  # the one untimed pass before everything runs at min(this, smallest size)


def add_arguments(parser) -> None:
    parser.add_argument("--arch", choices=("real", "tiny"), default="real", help="real: SD v1.4 architecture, random weights (default); tiny: the offline test model")
    parser.add_argument("--sizes", default="512,1024", help="image sides in pixels, comma separated (default 512,1024)")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per case, median reported (default: 1 on cpu, 5 on cuda)")
    parser.add_argument("--warmup", type=int, default=None, help=f"untimed runs per size (default: 0 on cpu, 1 on cuda); one untimed pass at {WARMUP_SIZE}² always runs first")
    parser.add_argument("--target-bpp", type=float, default=0.15, help="improved mode's rate-control target (default 0.15 bpp)")
    parser.add_argument(
        "--step-code",
        type=int,
        default=None,
        help="also time improved files at this fixed quantiser step code (e.g. 1024: 2 UNet steps), besides rate control",
    )
    parser.add_argument("--tf32", choices=("off", "on", "both"), default="both", help="CUDA only: torch.backends.cuda.matmul.allow_tf32 (default: both)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights and the synthetic image")
    parser.add_argument("--quick", action="store_true", help="512² only, 1 repeat, no per-size warm-up")


# ---------------------------------------------------------------- model


class TimedUNet:
    """Calls the UNet like `sd.unet(...)` does and records each call's wall time (synchronised)."""

    def __init__(self, unet, device):
        self.inner, self.device, self.times = unet, device, []

    def __call__(self, *args, **kwargs):
        t0 = now(self.device)
        out = self.inner(*args, **kwargs)
        self.times.append(now(self.device) - t0)
        return out

    def __getattr__(self, name):  # config, dtype, … of the wrapped model
        return getattr(self.inner, name)


def build_model(arch: str, device: str, seed: int = 0):
    """An SDModel at real SD v1.4 size with random weights ("real") or the tiny offline one ("tiny").

    Goes through `sd._place`, so dtypes and devices are exactly what the codec uses
    (fp16 UNet/text encoder on CUDA, fp32 VAE). Returns (SDModel, header model spec).
    """
    from .. import models
    from ..image import sd as sdmod

    if arch == "real":
        parts = sdmod.build_real_size_random(seed)
        spec = next(m for m in models.REGISTRY if m.id == "sd-v1-4")  # files look like real sd-v1-4 files
    elif arch == "tiny":
        parts = sdmod.build_tiny()
        spec = next(m for m in models.REGISTRY if m.id == "tiny-sd")
    else:
        raise BenchError(f"unknown --arch {arch}")
    model = sdmod._place(f"bench-{arch}-random", *parts, device)
    return model, spec


def _param_count(module) -> int:
    return sum(p.numel() for p in module.parameters())


# ---------------------------------------------------------------- one pass


def encode_case(sd, spec, rgb, mode: str, target_bytes: int | None, step_code: int | None = None) -> tuple[dict, bytes, np.ndarray]:
    """Encode as SDLatentCodec.encode does, with the model passed in; times VAE encode and coding apart."""
    from ..errors import InputError
    from ..image import codec as C

    codec = C.SDLatentCodec()
    latent = "sample" if mode == "faithful" else "mean"
    code = functools.partial(codec.code_latent, spec=spec, size=rgb.shape[:2], mode=mode, latent=latent)
    out: dict = {}
    with PeakMemory(sd.device) as mem:
        t0 = now(sd.device)
        z = codec.encode_latent(sd, rgb, sample=mode == "faithful")  # ends with .cpu(): synchronised
        t1 = now(sd.device)
        if mode == "faithful" or step_code is not None:
            data = code(z, step_code=step_code)
        else:
            out["target_bytes"] = target_bytes
            try:
                data = code(z, target_bytes=target_bytes)
                out["target_met"] = True
            except InputError:  # target below the smallest file: take the coarsest step and say so
                data = code(z, step_code=C.STEP_CODE_RANGE[1])
                out["target_met"] = False
        t2 = time.perf_counter()
    out.update(
        encode_s=t2 - t0,
        vae_encode_s=t1 - t0,
        quantise_s=t2 - t1,
        encode_peak_mem_bytes=mem.increase,
        encode_peak_mem_abs_bytes=mem.peak,
        memory_method=mem.method,
    )
    return out, data, z


def decode_case(sd, data: bytes) -> dict:
    """Decode as SDLatentCodec.decode does, with the model passed in; times parse, UNet steps and VAE decode."""
    from ..image import codec as C

    codec = C.SDLatentCodec()
    unet = sd.unet
    assert isinstance(unet, TimedUNet)
    unet.times.clear()
    with PeakMemory(sd.device) as mem:
        t0 = now(sd.device)
        c, z = codec.read(data)
        t1 = now(sd.device)
        zt = codec.denoise_latent(sd, c, z)
        t2 = now(sd.device)
        rgb = codec.render(sd, c, zt)
        t3 = now(sd.device)
    assert rgb.shape[:2] == (c.header.height, c.header.width)
    steps = list(unet.times)
    return dict(
        decode_s=t3 - t0,
        parse_s=t1 - t0,
        denoise_s=t2 - t1,
        unet_steps=len(steps),
        unet_step_s=median(steps),
        unet_total_s=sum(steps),
        unet_step_times_s=steps,
        vae_decode_s=t3 - t2,
        decode_peak_mem_bytes=mem.increase,
        decode_peak_mem_abs_bytes=mem.peak,
    )


def case_names(step_code: int | None) -> list[str]:
    return ["faithful", "improved"] + ([f"improved@{step_code}"] if step_code is not None else [])


def one_pass(sd, spec, rgb, target_bpp: float, step_code: int | None = None, label: str = "") -> dict:
    """Encode and decode every case once (faithful, improved at the target, improved at a fixed step)."""
    from ..image import codec as C

    h, w = rgb.shape[:2]
    target = max(1, int(round(target_bpp * h * w / 8)))
    results = {}
    for case in case_names(step_code):
        mode = case.split("@")[0]
        fixed = step_code if "@" in case else None
        enc, data, _ = encode_case(sd, spec, rgb, mode, None if fixed is not None else target, fixed)
        if label:
            log(f"  {label} {case:13s} encode {enc['encode_s']:.2f} s ({len(data)} B)")
        dec = decode_case(sd, data)
        if label:
            log(f"  {label} {case:13s} decode {dec['decode_s']:.2f} s ({dec['unet_steps']} UNet steps)")
        row = {"mode": mode, "bytes": len(data), "bpp": 8 * len(data) / (h * w), **enc, **dec}
        if mode == "improved":
            c, _ = C.SDLatentCodec().read(data)
            row["step_code"] = c.header.params.get(C.P_STEP, C.DEFAULT_IMPROVED_STEP_CODE)
        results[case] = row
    return results


_SCALAR_KEYS = (
    "encode_s", "vae_encode_s", "quantise_s", "decode_s", "parse_s", "denoise_s", "unet_total_s", "vae_decode_s",
    "encode_peak_mem_bytes", "encode_peak_mem_abs_bytes", "decode_peak_mem_bytes", "decode_peak_mem_abs_bytes",
)  # fmt: skip


def aggregate(runs: list[dict]) -> dict:
    """Medians over runs; sizes and step counts come from the first run (they are deterministic)."""
    first = runs[0]
    out = {k: v for k, v in first.items() if k not in _SCALAR_KEYS and k != "unet_step_times_s"}
    for k in _SCALAR_KEYS:
        value = median([r[k] for r in runs])
        out[k] = int(value) if k.endswith("_bytes") else value
    out["unet_step_s"] = median([t for r in runs for t in r["unet_step_times_s"]])
    out["runs"] = [{k: r[k] for k in (*_SCALAR_KEYS, "unet_step_times_s", "bytes")} for r in runs]
    return out


# ---------------------------------------------------------------- run


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in str(text).split(",") if s.strip()]
    except ValueError:
        raise BenchError(f"--sizes must be comma-separated integers, got '{text}'") from None
    if not sizes or any(s < 8 or s > 4096 for s in sizes):
        raise BenchError("--sizes must be between 8 and 4096 pixels")
    return sizes


def _set_tf32(value) -> None:
    import torch

    if value is not None:
        torch.backends.cuda.matmul.allow_tf32 = bool(value)


def run(args) -> dict:
    import torch

    device = args.device
    cuda = device == "cuda"
    sizes = [512] if args.quick else _sizes(args.sizes)
    repeats = 1 if args.quick else (args.repeats if args.repeats is not None else (5 if cuda else 1))
    warmup = 0 if args.quick else (args.warmup if args.warmup is not None else (1 if cuda else 0))
    if repeats < 1 or warmup < 0:
        raise BenchError("--repeats must be ≥ 1 and --warmup ≥ 0")
    if args.step_code is not None:
        from ..image.codec import STEP_CODE_RANGE

        if not STEP_CODE_RANGE[0] <= args.step_code <= STEP_CODE_RANGE[1]:
            raise BenchError(f"--step-code must be in {STEP_CODE_RANGE}")
    if not args.target_bpp > 0:
        raise BenchError("--target-bpp must be positive")
    if args.threads:
        torch.set_num_threads(args.threads)
    tf32_modes = {"off": [False], "on": [True], "both": [False, True]}[args.tf32] if cuda else [None]
    tf32_before = torch.backends.cuda.matmul.allow_tf32

    t0 = time.perf_counter()
    log(f"[image] building the {args.arch} SD model on {device} …")
    sd, spec = build_model(args.arch, device, args.seed)
    sd.unet = TimedUNet(sd.unet, sd.device)
    build_s = time.perf_counter() - t0
    log(f"[image] built in {build_s:.1f} s; UNet {sd.unet_dtype}, VAE {next(sd.vae.parameters()).dtype}")

    settings = {
        "arch": args.arch,
        "weights": "random init (timings only; outputs are noise)",
        "sizes": sizes,
        "repeats": repeats,
        "warmup_per_size": warmup,
        "warmup_pass_size": min(WARMUP_SIZE, min(sizes)),
        "target_bpp": args.target_bpp,
        "fixed_step_code": args.step_code,
        "device": device,
        "tf32": tf32_modes,
        "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32 if cuda else None,
        "unet_dtype": str(sd.unet_dtype).replace("torch.", ""),
        "vae_dtype": str(next(sd.vae.parameters()).dtype).replace("torch.", ""),
        "faithful_unet_steps": 3,
        "improved_max_unet_steps": 2,
        "inference_mode": True,
        "threads": torch.get_num_threads(),
        "seed": args.seed,
        "quick": bool(args.quick),
        "image": "synthetic (gencodec.bench._common.synthetic_image)",
    }
    result = _common.header("image", device, settings)
    result["model"] = {
        "unet_params": _param_count(sd.unet.inner),
        "vae_params": _param_count(sd.vae),
        "text_encoder_params": _param_count(sd.text_encoder),
        "build_s": build_s,
    }
    cases = []
    try:
        with torch.inference_mode():
            for tf32 in tf32_modes:
                _set_tf32(tf32)
                ws = settings["warmup_pass_size"]
                log(f"[image] warm-up pass at {ws}²" + (f" (tf32 {'on' if tf32 else 'off'})" if tf32 is not None else ""))
                one_pass(sd, spec, _common.synthetic_image(ws, ws, args.seed), args.target_bpp, args.step_code)
            for size in sizes:
                rgb = _common.synthetic_image(size, size, args.seed)
                for tf32 in tf32_modes:
                    _set_tf32(tf32)
                    tag = f"{size}²" + (f" tf32 {'on' if tf32 else 'off'}" if tf32 is not None else "")
                    for i in range(warmup):
                        log(f"[image] {tag} warm-up {i + 1}/{warmup}")
                        one_pass(sd, spec, rgb, args.target_bpp, args.step_code)
                    runs = []
                    for i in range(repeats):
                        log(f"[image] {tag} run {i + 1}/{repeats}")
                        runs.append(one_pass(sd, spec, rgb, args.target_bpp, args.step_code, label=tag))
                    for case in case_names(args.step_code):
                        cases.append({"size": size, "tf32": tf32, "case": case, **aggregate([r[case] for r in runs])})
    finally:
        torch.backends.cuda.matmul.allow_tf32 = tf32_before
    result["cases"] = cases
    result["total_s"] = time.perf_counter() - t0
    result["machine"]["loadavg_end"] = list(__import__("os").getloadavg())
    return result


COLUMNS = [
    ("size", "size"),
    ("tf32", "tf32"),
    ("case", "case"),
    ("step code", "step_code"),
    ("bytes", "bytes"),
    ("bpp", "bpp"),
    ("encode s", "encode_s"),
    ("VAE enc s", "vae_encode_s"),
    ("quant/RC s", "quantise_s"),
    ("decode s", "decode_s"),
    ("UNet steps", "unet_steps"),
    ("UNet s/step", "unet_step_s"),
    ("VAE dec s", "vae_decode_s"),
    ("enc peak MiB", "enc_mib"),
    ("dec peak MiB", "dec_mib"),
]


def markdown(result: dict) -> str:
    m, s = result["machine"], result["settings"]
    rows = [{**c, "enc_mib": _common.mib(c["encode_peak_mem_bytes"]), "dec_mib": _common.mib(c["decode_peak_mem_bytes"])} for c in result["cases"]]
    columns = COLUMNS if s["device"] == "cuda" else [c for c in COLUMNS if c[1] != "tf32"]
    mem = "CUDA max_memory_allocated above the loaded model" if s["device"] == "cuda" else "peak RSS increase (sampled)"
    title = (
        f"### image: SD-latent codec, {s['arch']} SD v1.4 architecture (random weights) on {s['device']} "
        f"({m['device_name']}, torch {m['torch']}, {m['torch_threads']} threads)\n\n"
        f"median of {s['repeats']} run(s); improved targets {s['target_bpp']} bpp; UNet {s['unet_dtype']}, VAE {s['vae_dtype']}; memory: {mem}\n"
    )
    return title + "\n" + _common.md_table(columns, rows)
