"""LoRA codec speed: seconds per fitting step, encode and decode of one clip (real Wan 1.3B size on a GPU).

`--arch real` uses Wan 2.1 T2V-1.3B's architecture with random weights (honest timings, meaningless
pictures); `--arch tiny` the offline tiny model. Reports bytes, kbps, bpp, fitting s/step, decode s and
peak memory.
"""

from __future__ import annotations

from . import _common
from ._common import BenchError, PeakMemory, log, now
from .gvc import _clip


def add_arguments(parser) -> None:
    parser.add_argument("--arch", choices=("real", "tiny"), default="real")
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=832)
    parser.add_argument("--frames", type=int, default=17, help="clip length (default 17; the paper uses 81)")
    parser.add_argument("--fps", type=float, default=16.0)
    parser.add_argument("--fit-steps", type=int, default=20, help="fitting steps to time (default 20)")
    parser.add_argument("--scaling", type=int, default=None, help="inference-time scaling candidates (default off)")


def run(args) -> dict:
    import gencodec
    from .. import models
    from ..video import wan as wanmod

    if args.fit_steps < 1 or args.frames < 1:
        raise BenchError("--fit-steps and --frames must be ≥ 1")
    device = args.device
    if args.arch == "real":
        name = "bench-wan-1.3b-random"
        wanmod.PRELOADED.setdefault(name, wanmod.build_real_size_random(device))
    else:
        name = "tiny"
        wanmod.load_wan(models.resolve("tiny", models.FAMILY_WAN_T2V), device)
    frames = _clip(args.frames, args.height, args.width)
    result = _common.header("lora", device, {k: v for k, v in vars(args).items() if k not in ("func", "out")})
    log(f"[lora] fitting {args.fit_steps} steps on {args.frames} frames {args.width}×{args.height} ({args.arch}) …")
    with PeakMemory(device) as enc_mem:
        t0 = now(device)
        data = gencodec.encode(frames, codec="lora", model=name, prompt="a benchmark clip", fit_steps=args.fit_steps,
                               scaling=args.scaling, fps=args.fps, device=device)
        enc_s = now(device) - t0
    with PeakMemory(device) as dec_mem:
        t0 = now(device)
        out = gencodec.decode(data, device=device)
        dec_s = now(device) - t0
    if out.shape != frames.shape:
        raise BenchError(f"decoded shape {out.shape} != {frames.shape}")
    meta = gencodec.info(data)
    result["cases"] = [{
        "arch": args.arch, "frames": args.frames, "size": f"{args.width}x{args.height}", "fit_steps": args.fit_steps,
        "scaling": args.scaling, "bytes": len(data), "kbps": meta["kbps"], "bpp": meta["bpp"], "encode_s": enc_s,
        "fit_s_per_step_upper": enc_s / args.fit_steps, "decode_s": dec_s,
        "encode_peak_mem_bytes": enc_mem.increase, "decode_peak_mem_bytes": dec_mem.increase,
    }]
    log(f"[lora] {len(data)} B, encode {enc_s:.1f} s, decode {dec_s:.1f} s")
    return result


COLUMNS = [("arch", "arch"), ("frames", "frames"), ("size", "size"), ("fit steps", "fit_steps"), ("bytes", "bytes"),
           ("kbps", "kbps"), ("enc s", "encode_s"), ("≤ s/step", "fit_s_per_step_upper"), ("dec s", "decode_s")]


def markdown(result: dict) -> str:
    return _common.md_table(COLUMNS, result["cases"])
