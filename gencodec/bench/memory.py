"""Long-video memory: tokens per second per stride, encode/retrieve speed and memory, pretraining ablation.

Three parts, all in one JSON:
- `tokens`: the planner's token counts for 20 s of 480×832 video at 24 fps (the paper's setting) for
  each stride, with tokens per second and compression.
- `speed` (`--arch real`: Wan 2.1 1.3B + the real-size compressor with random weights, honest times on
  a GPU; `--arch tiny`: the offline model): seconds to compress the video into memory and bytes of the
  .gcodec, seconds to retrieve one frame with the head and with the DiT, peak memory.
- `ablation` (tiny, CPU-friendly): pretrain each compressor variant on synthetic clips and score
  retrieval on held-out clips: ours with/without pretraining, large patchifier, low-res only,
  keyframes, mean frame.
"""

from __future__ import annotations

import time

import torch

from . import _common
from ._common import BenchError, PeakMemory, log

STRIDES = ("4x4x2", "2x2x2", "2x2x1", "1x1x1")


def add_arguments(parser) -> None:
    parser.add_argument("--parts", default="tokens,speed,ablation", help="comma list of tokens, speed, ablation")
    parser.add_argument("--arch", choices=("real", "tiny"), default=None, help="speed part (default: real on cuda, tiny on cpu)")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=832)
    parser.add_argument("--fps", type=float, default=24.0)
    parser.add_argument("--strides", default="4x4x2", help="speed part: H×W×T strides (default 4x4x2)")
    parser.add_argument("--dit-steps", type=int, default=20)
    parser.add_argument("--pretrain-steps", type=int, default=800)
    parser.add_argument("--train-clips", type=int, default=32)
    parser.add_argument("--test-clips", type=int, default=6)
    parser.add_argument("--clip-frames", type=int, default=49)
    parser.add_argument("--clip-size", type=int, default=64)
    parser.add_argument("--ablation-strides", default="2x2x2")


def run(args) -> dict:
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    if not parts <= {"tokens", "speed", "ablation"}:
        raise BenchError("--parts takes tokens, speed and/or ablation")
    result = _common.header("memory", args.device, {k: v for k, v in vars(args).items() if k not in ("func", "out")})
    if "tokens" in parts:
        result["tokens"] = token_table(20.0, 480, 832, 24.0)  # the paper's setting, whatever the speed part uses
    if "speed" in parts:
        result["speed"] = speed(args)
    if "ablation" in parts:
        result["ablation"] = ablation(args)
    return result


def token_table(seconds: float, height: int, width: int, fps: float) -> list[dict]:
    from ..memory.planner import parse_strides, plan

    frames = int(round(seconds * fps))
    return [{"strides_hwt": s, "seconds": seconds, "size": f"{width}x{height}", "fps": fps,
             **plan(frames, height, width, fps, strides=parse_strides(s)).summary()} for s in STRIDES]


def speed(args) -> dict:
    from .. import models
    from ..memory import codec as memory_codec
    from ..memory import model as memory_model
    from ..memory.planner import parse_strides, plan
    from ..video import wan as wanmod
    from .gvc import _clip

    device = args.device
    arch = args.arch or ("real" if str(device).startswith("cuda") else "tiny")
    if arch == "real":
        wan = wanmod.build_real_size_random(device)
        mem = memory_model.build(wan, "wan-1.3b-random", tiny=False)
    else:
        mem = memory_model.load(models.resolve("tiny", models.FAMILY_MEMORY), device)
    frames = int(round(args.seconds * args.fps))
    video = _clip(frames, args.height, args.width)
    p = plan(frames, args.height, args.width, args.fps, strides=parse_strides(args.strides))
    log(f"[memory] {arch}: compressing {frames} frames {args.width}×{args.height} into {p.tokens} tokens …")
    with torch.no_grad(), PeakMemory(device) as peak_encode:
        start = _common.now(device)
        stored = mem.stored(video, p)
        tokens, pos = mem.memory(stored, p)
        encode_s = _common.now(device) - start
    data_bytes = sum(len(memory_codec._code_features(v, memory_codec._step(0))) for v in stored.values())
    from ..memory.retrievers import frame_time

    lh, lw = -(-args.height // 16) * 2, -(-args.width // 16) * 2
    t0 = frame_time(torch.tensor([frames // 2], dtype=torch.float32, device=mem.device))
    with torch.no_grad(), PeakMemory(device) as peak_retrieve:
        start = _common.now(device)
        z = mem.retrieve(tokens, pos, p, t0, (lh, lw), retriever="head")
        mem.decode_frame_latents(z)
        head_s = _common.now(device) - start
        start = _common.now(device)
        z = mem.retrieve(tokens, pos, p, t0, (lh, lw), steps=args.dit_steps)
        mem.decode_frame_latents(z)
        dit_s = _common.now(device) - start
    out = {"arch": arch, "frames": frames, "size": f"{args.width}x{args.height}", "strides_hwt": p.label,
           "tokens": p.tokens, "encode_s": encode_s, "memory_bytes": data_bytes, "retrieve_head_s": head_s,
           "retrieve_dit_s": dit_s, "dit_steps": args.dit_steps, "peak_encode_mib": _common.mib(peak_encode.increase),
           "peak_retrieve_mib": _common.mib(peak_retrieve.increase), "peak_method": peak_encode.method}
    log(f"[memory] encode {encode_s:.2f} s, head {head_s:.3f} s/frame, DiT {dit_s:.2f} s/frame ({args.dit_steps} steps)")
    return out


def ablation(args) -> dict:
    from .. import models
    from ..memory import ablation as memory_ablation
    from ..memory import model as memory_model
    from ..memory.planner import parse_strides
    from ..memory.synthetic import held_out_seed, synthetic_clip

    n, s = args.clip_frames, args.clip_size
    wan = memory_model.base_wan(models.resolve("tiny-wan-t2v", models.FAMILY_WAN_T2V), args.device)
    train = [synthetic_clip(i, n, s, s) for i in range(args.train_clips)]
    test = [synthetic_clip(held_out_seed(i), n, s, s) for i in range(args.test_clips)]
    log(f"[memory] pretraining 3 variants × {args.pretrain_steps} steps on {len(train)} synthetic clips …")
    started = time.time()
    out = memory_ablation.run(wan, "tiny-wan-t2v", train, test, parse_strides(args.ablation_strides),
                              steps=args.pretrain_steps, dit_frames=3, progress=True)
    out["seconds"] = time.time() - started
    return out


def markdown(result: dict) -> str:
    parts = []
    if "tokens" in result:
        cols = [("strides H×W×T", "strides_hwt"), ("tokens", "tokens"), ("full", "full_tokens"),
                ("compression ×", "compression"), ("tokens/s", "tokens_per_second")]
        parts.append(_common.md_table(cols, result["tokens"]))
    if "speed" in result:
        cols = [("arch", "arch"), ("frames", "frames"), ("size", "size"), ("strides", "strides_hwt"), ("tokens", "tokens"),
                ("encode s", "encode_s"), ("bytes", "memory_bytes"), ("head s/frame", "retrieve_head_s"),
                ("DiT s/frame", "retrieve_dit_s"), ("peak enc MiB", "peak_encode_mib"), ("peak ret MiB", "peak_retrieve_mib")]
        parts.append(_common.md_table(cols, [result["speed"]]))
    if "ablation" in result:
        a = result["ablation"]
        rows = [{"method": k, **{m: v[m] for m in ("psnr", "ssim", "latent_mse")}} for k, v in a["methods"].items()]
        cols = [("method", "method"), ("PSNR dB", "psnr"), ("SSIM", "ssim"), ("latent MSE", "latent_mse")]
        parts.append(f"held-out retrieval at {a['strides_hwt']} ({a['tokens']} of {a['full_tokens']} tokens):\n"
                     + _common.md_table(cols, rows))
    return "\n\n".join(parts)


