"""LoRA codec speed: seconds per fitting step, encode and decode of one clip (real Wan 1.3B size on a GPU).

`--arch real` uses Wan 2.1 T2V-1.3B's architecture with random weights (honest timings, meaningless
pictures); `--arch tiny` the offline tiny model. Reports bytes, kbps, bpp, fitting s/step, decode s and
peak memory.
"""

from __future__ import annotations

from . import _common
from ._common import BenchError, log
from .gvc import _clip, round_trip, wan_model


def add_arguments(parser) -> None:
    parser.add_argument("--arch", choices=("real", "tiny"), default="real")
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=832)
    parser.add_argument("--frames", type=int, default=17, help="clip length (default 17; the paper uses 81)")
    parser.add_argument("--fps", type=float, default=16.0)
    parser.add_argument("--fit-steps", type=int, default=20, help="fitting steps to time (default 20)")
    parser.add_argument("--scaling", type=int, default=None, help="inference-time scaling candidates (default off)")


def run(args) -> dict:
    if args.fit_steps < 1 or args.frames < 1:
        raise BenchError("--fit-steps and --frames must be ≥ 1")
    device = args.device
    name, _ = wan_model(args.arch, device)
    frames = _clip(args.frames, args.height, args.width)
    result = _common.header("lora", device, {k: v for k, v in vars(args).items() if k not in ("func", "out")})
    log(f"[lora] fitting {args.fit_steps} steps on {args.frames} frames {args.width}×{args.height} ({args.arch}) …")
    params = dict(codec="lora", model=name, prompt="a benchmark clip", fit_steps=args.fit_steps, scaling=args.scaling,
                  fps=args.fps)
    case = round_trip(frames, params, device)
    case.pop("data")
    case.update(arch=args.arch, frames=args.frames, size=f"{args.width}x{args.height}", fit_steps=args.fit_steps,
                scaling=args.scaling, fit_s_per_step_upper=case["encode_s"] / args.fit_steps)
    result["cases"] = [case]
    log(f"[lora] {case['bytes']} B, encode {case['encode_s']:.1f} s, decode {case['decode_s']:.1f} s")
    return result


COLUMNS = [("arch", "arch"), ("frames", "frames"), ("size", "size"), ("fit steps", "fit_steps"), ("bytes", "bytes"),
           ("kbps", "kbps"), ("enc s", "encode_s"), ("≤ s/step", "fit_s_per_step_upper"), ("dec s", "decode_s")]


def markdown(result: dict) -> str:
    return _common.md_table(COLUMNS, result["cases"])
