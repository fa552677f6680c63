"""GVC video codec speed and memory: one or more GOPs encoded and decoded (real Wan 2.1 1.3B size on a GPU).

`--arch real` builds Wan 2.1 T2V-1.3B's transformer and the Wan VAE at real size with random weights
(honest timings; the video is noise) — meant for a GPU: on 2 CPU cores one 480p GOP takes hours.
`--arch tiny` runs the offline tiny model (CI-sized). Reports bytes on disk, kbps at the source fps,
bpp, encode/decode seconds with the transformer's share, and peak memory.
"""

from __future__ import annotations

import numpy as np

from . import _common
from ._common import BenchError, PeakMemory, log, now


def add_arguments(parser) -> None:
    parser.add_argument("--arch", choices=("real", "tiny"), default="real", help="real-size random weights or the tiny model")
    parser.add_argument("--mode", choices=("t2v",), default="t2v", help="GVC mode (real-size I2V/FLF2V are 14B: not built here)")
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=832)
    parser.add_argument("--frames", type=int, default=33, help="frames to code (default one GOP of 33)")
    parser.add_argument("--fps", type=float, default=16.0, help="source frame rate for kbps (default 16)")
    parser.add_argument("--atoms", type=int, default=64)
    parser.add_argument("--codebook-size", type=int, default=16384)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--gop", type=int, default=33)


def _clip(n: int, h: int, w: int) -> np.ndarray:
    """A moving synthetic scene (the image stand-in panned over time)."""
    base = _common.synthetic_image(h + n * 2, w + n * 3)
    return np.stack([base[2 * t : 2 * t + h, 3 * t : 3 * t + w] for t in range(n)])


class _TimedTransformer:
    """Counts the seconds spent in the transformer (the rest is codebook search, VAE and bookkeeping)."""

    def __init__(self, module, device):
        self.module, self.device, self.seconds, self.calls = module, device, 0.0, 0

    def __call__(self, *args, **kwargs):
        t0 = now(self.device)
        out = self.module(*args, **kwargs)
        self.seconds += now(self.device) - t0
        self.calls += 1
        return out

    def __getattr__(self, name):
        return getattr(self.module, name)


def wan_model(arch: str, device) -> tuple[str, object]:
    """(model name to pass to gencodec, WanModel): real-size random weights registered in-process, or tiny."""
    from .. import models
    from ..video import wan as wanmod

    if arch == "real":
        name = "bench-wan-1.3b-random"
        if name not in wanmod.PRELOADED:
            wanmod.PRELOADED[name] = wanmod.build_real_size_random(device)
        return name, wanmod.PRELOADED[name]
    return "tiny", wanmod.load_wan(models.resolve("tiny", models.FAMILY_WAN_T2V), device)


def round_trip(frames, params: dict, device, between=None) -> dict:
    """Encode then decode with timings and peak memory; `between` runs after encoding (e.g. to reset counters)."""
    import gencodec

    with PeakMemory(device) as enc_mem:
        t0 = now(device)
        data = gencodec.encode(frames, device=device, **params)
        enc_s = now(device) - t0
    if between is not None:
        between()
    with PeakMemory(device) as dec_mem:
        t0 = now(device)
        out = gencodec.decode(data, device=device)
        dec_s = now(device) - t0
    if out.shape != frames.shape:
        raise BenchError(f"decoded shape {out.shape} != {frames.shape}")
    meta = gencodec.info(data)
    return {"data": data, "bytes": len(data), "kbps": meta["kbps"], "bpp": meta["bpp"], "encode_s": enc_s, "decode_s": dec_s,
            "encode_peak_mem_bytes": enc_mem.increase, "decode_peak_mem_bytes": dec_mem.increase}


def run(args) -> dict:
    if args.frames < 1 or args.height < 16 or args.width < 16:
        raise BenchError("frames ≥ 1 and sides ≥ 16 please")
    device = args.device
    model_name, wan = wan_model(args.arch, device)
    timed = _TimedTransformer(wan.transformer, wan.device)
    wan.transformer = timed
    frames = _clip(args.frames, args.height, args.width)
    params = dict(codec="gvc", model=model_name, mode=args.mode, atoms=args.atoms, codebook_size=args.codebook_size,
                  steps=args.steps, gop=args.gop, fps=args.fps)
    settings = {k: v for k, v in vars(args).items() if k not in ("func", "out")}
    result = _common.header("gvc", device, settings)
    log(f"[gvc] encoding {args.frames} frames {args.width}×{args.height} ({args.arch}) …")
    encoder_share = {}

    def reset():
        encoder_share["s"], timed.seconds = timed.seconds, 0.0

    try:
        case = round_trip(frames, params, device, between=reset)
    finally:
        wan.transformer = timed.module
    case.pop("data")
    case.update(arch=args.arch, frames=args.frames, size=f"{args.width}x{args.height}", M=args.atoms, K=args.codebook_size,
                encode_transformer_s=encoder_share["s"], decode_transformer_s=timed.seconds)
    result["cases"] = [case]
    log(f"[gvc] {case['bytes']} B, encode {case['encode_s']:.1f} s (transformer {encoder_share['s']:.1f} s), "
        f"decode {case['decode_s']:.1f} s")
    return result


COLUMNS = [("arch", "arch"), ("frames", "frames"), ("size", "size"), ("M", "M"), ("K", "K"), ("bytes", "bytes"),
           ("kbps", "kbps"), ("bpp", "bpp"), ("enc s", "encode_s"), ("enc DiT s", "encode_transformer_s"),
           ("dec s", "decode_s"), ("dec DiT s", "decode_transformer_s")]


def markdown(result: dict) -> str:
    return _common.md_table(COLUMNS, result["cases"])
