"""The `gencodec` command: encode, decode, info, merge, compare.

Contract (DESIGN §2): exit 0 on success; on any bad input exit ≠ 0 with one `error: …` line on
stderr and no traceback (unless --debug), and never a partial output file.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .codecs import CODECS
from .errors import GencodecError, InputError

EXIT_USER_ERROR = 2
EXIT_INTERNAL = 1


def _device(value: str | None):
    if value in (None, "auto"):
        return None
    if value == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise InputError("--device cuda was asked for, but no CUDA GPU is available")
    return value


def _read_input(path: str) -> bytes:
    p = Path(path)
    if not p.exists():
        raise InputError(f"input not found: {p}")
    if p.is_dir():
        raise InputError(f"input is a folder: {p}")
    return p.read_bytes()


def _out_path(path: str, allowed: tuple[str, ...]) -> Path:
    p = Path(path)
    if p.suffix.lower() not in allowed:
        raise InputError(f"output must end in {' or '.join(allowed)}: {p}")
    if not p.parent.exists():
        raise InputError(f"output folder does not exist: {p.parent}")
    return p


def _encode_params(args) -> dict:
    params = {"model": args.model, "device": _device(args.device)}
    for name in ("target_bytes", "mode", "latent", "atoms", "codebook_size", "steps", "gop", "seed", "tail_atoms",
                 "prompt", "preset", "fit_steps", "scaling", "qat_steps", "budget_tokens", "strides"):
        value = getattr(args, name, None)
        if value is not None:
            params[name] = value
    if getattr(args, "tail_residual", False):
        params["tail_residual"] = True
    return params


def cmd_encode(args) -> None:
    import gencodec
    from .media import write_atomic

    out = _out_path(args.output, (".gcodec",))
    if not Path(args.input).exists():
        raise InputError(f"input not found: {args.input}")
    data = gencodec.encode(args.input, codec=args.codec, **_encode_params(args))
    write_atomic(out, data)
    print(f"{out}: {len(data)} bytes ({args.codec})", file=sys.stderr)


def cmd_decode(args) -> None:
    import gencodec
    from .media import image_to_png_bytes, video_to_mp4_bytes, write_atomic

    data = _read_input(args.input)
    meta = gencodec.info(data)
    video = meta["media"] == "video"
    if args.frame is not None and meta["codec"] != "memory":
        raise InputError("--frame retrieves one frame from a memory file; this is a " + meta["codec"] + " file")
    if args.frame is not None and args.continue_seconds is not None:
        raise InputError("--frame and --continue cannot be combined")
    video = video and args.frame is None
    allowed = (".mp4",) if video else (".png",)
    out = _out_path(args.output, allowed)
    options = {"device": _device(args.device)}
    if args.steps is not None:
        options["steps"] = args.steps
    for name in ("model", "prompt", "samples", "frame", "continue_seconds", "retriever"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    result = gencodec.decode(data, **options)
    write_atomic(out, video_to_mp4_bytes(result, meta["fps"]) if video else image_to_png_bytes(result))
    print(f"{out}: {result.shape[-2]}×{result.shape[-3]}" + (f", {len(result)} frames" if video else ""), file=sys.stderr)


def cmd_info(args) -> None:
    import gencodec

    meta = gencodec.info(_read_input(args.input))
    if args.json:
        print(json.dumps(meta, indent=2))
        return
    print(f"{args.input}: {meta['codec']} ({meta.get('mode', '')}), model {meta['model']}")
    print(f"  {meta['media']} {meta['width']}×{meta['height']}, {meta['frames']} frame(s)")
    print(f"  header {meta['header_bytes']} B; sections: " + ", ".join(f"{s['name']} {s['bytes']} B" for s in meta["sections"]))
    rate = f", {meta['kbps']:.2f} kbps at {meta['fps']:g} fps" if "kbps" in meta else ""
    print(f"  total {meta['total_bytes']} bytes, {meta['bpp']:.4f} bpp{rate}")


def cmd_merge(args) -> None:
    from .lora.merge import merge
    from .media import write_atomic

    out = _out_path(args.output, (".gcodec",))
    data = merge(_read_input(args.a), _read_input(args.b), args.prompt)
    write_atomic(out, data)
    print(f"{out}: {len(data)} bytes (lora merge)", file=sys.stderr)


def cmd_compare(args) -> None:
    from .compare import compare_image, format_table

    codecs = tuple(c.strip() for c in args.baselines.split(",") if c.strip()) if args.baselines else None
    report = compare_image(args.input, codec=args.codec, baseline_codecs=codecs, **_encode_params(args))
    if args.json:
        print(json.dumps({k: v for k, v in report.items() if k in ("rows", "ssim_kind", "width", "height")}, indent=2))
    else:
        print(format_table(report["rows"]))
        if report["ssim_kind"] != "MS-SSIM":
            print(f"note: image is too small for MS-SSIM (needs > 160 px per side); the column is {report['ssim_kind']}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gencodec", description="Generative compression with frozen diffusion models.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)

    def model_opts(p):
        p.add_argument("--model", help="registry id (e.g. sd-v1-4), 'tiny', a Hub repo or a local folder")
        p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")

    def encode_opts(p):
        p.add_argument("--codec", choices=sorted(CODECS), default="sd-latent")
        model_opts(p)
        p.add_argument("--target-bytes", type=int, help="rate control: largest file ≤ N bytes (selects the improved mode)")
        p.add_argument("--mode", choices=["faithful", "improved", "t2v", "i2v", "flf2v"],
                       help="sd-latent: faithful (Bühlmann) or improved (ours); gvc: t2v, i2v or flf2v")
        p.add_argument("--latent", choices=["sample", "mean"], help="sd-latent: VAE posterior sample (seed 0) or mean")
        p.add_argument("--atoms", type=int, help="gvc: atoms M per latent frame and step (default 64, 80 above 720p)")
        p.add_argument("--codebook-size", type=int, help="gvc: codebook size K (default 16384)")
        p.add_argument("--steps", type=int, help="gvc: sampling steps (default 20: 17 with atoms + 3 ODE)")
        p.add_argument("--gop", type=int, help="gvc: frames per GOP, 4k+1 (default 33)")
        p.add_argument("--seed", type=int, help="gvc: codebook and initial-noise seed (default 42)")
        p.add_argument("--tail-atoms", type=int, help="gvc i2v: atoms on the last 2 latent frames (default 128)")
        p.add_argument("--tail-residual", action="store_true", help="gvc i2v: send an 8-bit residual of the last latent frame")
        p.add_argument("--prompt", help="lora: the clip's caption (stored in the file; decode --prompt edits)")
        p.add_argument("--preset", choices=["fast", "paper"], help="lora: fitting preset (fast: 300 steps, paper: 2000)")
        p.add_argument("--fit-steps", type=int, help="lora: optimisation steps (overrides the preset)")
        p.add_argument("--qat-steps", type=int, help="lora: rate-stage steps on rounded θ (fast: 0, paper: 400)")
        p.add_argument("--scaling", type=int, help="lora: inference-time scaling, one of N seeded candidates per step (stored)")
        p.add_argument("--budget-tokens", type=int, help="memory: at most N memory tokens (strides chosen to fit)")
        p.add_argument("--strides", help="memory: explicit H×W×T strides on the DiT token grid, e.g. 4x4x2 (the default)")

    p = sub.add_parser("encode", help="compress an image or a video into a .gcodec file")
    p.add_argument("input")
    p.add_argument("-o", "--output", required=True)
    encode_opts(p)
    p.set_defaults(func=cmd_encode)

    p = sub.add_parser("decode", help="decode a .gcodec file")
    p.add_argument("input")
    p.add_argument("-o", "--output", required=True)
    model_opts(p)
    p.add_argument("--steps", type=int, help="denoising steps (0 = none)")
    p.add_argument("--prompt", help="prompt for codecs that take one (not sd-latent)")
    p.add_argument("--samples", type=int, help="samples for codecs that draw several (not sd-latent)")
    p.add_argument("--frame", type=int, help="memory: retrieve only frame I (write a .png)")
    p.add_argument("--continue", dest="continue_seconds", type=float, metavar="S",
                   help="memory: generate S seconds that continue the video (write a .mp4)")
    p.add_argument("--retriever", choices=["dit", "head"], help="memory: the DiT (default) or the one-step regression head")
    p.set_defaults(func=cmd_decode)

    p = sub.add_parser("info", help="describe a .gcodec file")
    p.add_argument("input")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("merge", help="lora: merge two files (their weight deltas add) and decode with a new prompt")
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--prompt", help="the merged file's prompt (default: the two stored prompts joined with ' and ')")
    p.set_defaults(func=cmd_merge)

    p = sub.add_parser("compare", help="our codec beside JPEG/WebP/AVIF/JPEG XL at matched size")
    p.add_argument("input")
    encode_opts(p)
    p.add_argument("--baselines", default="jpeg,webp,avif,jxl")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_compare)
    return parser


def _quiet_libraries() -> None:
    """Library warnings and Hub retry chatter would bury the one `error:` line; --debug keeps them."""
    import os
    import warnings

    warnings.filterwarnings("ignore")
    for var in ("HF_HUB_VERBOSITY", "DIFFUSERS_VERBOSITY", "TRANSFORMERS_VERBOSITY"):
        os.environ.setdefault(var, "error")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.debug:
        _quiet_libraries()
    try:
        args.func(args)
        return 0
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except GencodecError as exc:
        if args.debug:
            raise
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USER_ERROR
    except MemoryError:
        if args.debug:
            raise
        print("error: out of memory (try a smaller input or --device cuda)", file=sys.stderr)
        return EXIT_INTERNAL
    except Exception as exc:  # one line, always; --debug shows the traceback
        if args.debug:
            raise
        print(f"error: internal error: {type(exc).__name__}: {_one_line(exc)} (run with --debug for the traceback)", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
