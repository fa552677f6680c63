"""Pretraining the memory: retrieve randomly chosen frames from φ(video) alone (arXiv 2512.23851).

Each step takes one clip, compresses it into memory tokens, picks a random set Ω of frame positions
anywhere in the clip (so the compressor cannot keep only the end) and asks the retrievers for those
frames: the regression head by L2 on their latents, the DiT by flow matching with the frames as
noise ("noise as mask"). Checkpoints are safetensors (weights and optimiser moments), resumable.

    python -m gencodec.memory.train --synthetic 64 --frames 49 --size 64x64 --steps 400 -o runs/mem
    python -m gencodec.memory.train --videos DIR --model wan2.1-t2v-1.3b-memory --strides 4x4x2 -o runs/real
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .. import models
from ..errors import GencodecError, InputError
from . import model as memory_model
from .planner import Plan, parse_strides, plan
from .retrievers import flow_matching_loss, frame_time

OPTIMIZER_NAME, STATE_NAME = "optimizer.safetensors", "trainer_state.json"


@dataclass
class Clip:
    """One training clip with everything that does not depend on trainable weights cached."""

    frames: np.ndarray
    plan: Plan
    video: torch.Tensor
    low: torch.Tensor
    targets: torch.Tensor  # (F, 16, 1, h, w): every frame's own latent


def prepare(model, frames: np.ndarray, strides: tuple[int, int, int], fps: float = 24.0) -> Clip:
    p = plan(len(frames), frames.shape[1], frames.shape[2], fps, strides=strides)
    video = model.video_tensor(frames, p)
    low = model.compressor.low(model.vae_encode, video, p)
    targets = torch.cat([model.frame_latents(frames[i : i + 16]) for i in range(0, len(frames), 16)])
    return Clip(frames, p, video, low, targets)


def clip_memory(model, clip: Clip) -> tuple[torch.Tensor, torch.Tensor]:
    """The clip's memory tokens and positions (the low-res latent comes from the cache)."""
    return model.memory(model.compressor.stored(model.vae_encode, clip.video, clip.plan, low=clip.low), clip.plan)


def trainable_parameters(model, retriever: str) -> list[torch.nn.Parameter]:
    params = list(model.compressor.parameters())
    if retriever in ("head", "both"):
        params += list(model.head.parameters())
    if retriever in ("dit", "both") and model.train_dit:
        model.wan.transformer.requires_grad_(True)
        params += list(model.wan.transformer.parameters())
    return params


def step_loss(model, clip: Clip, queries: int, retriever: str, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """Losses for one random Ω of `queries` frames of one clip."""
    n = len(clip.targets)
    omega = torch.randperm(n, generator=gen)[: min(queries, n)]
    memory, pos = clip_memory(model, clip)
    t0 = frame_time(omega.float()).to(model.device)
    z = clip.targets[omega].to(model.device)
    out = {}
    if retriever in ("head", "both"):
        out["head"] = F.mse_loss(model.retrieve(memory, pos, clip.plan, t0, z.shape[-2:], retriever="head"), z)
    if retriever in ("dit", "both"):
        text = model.wan.prompt_embedding("")
        out["dit"] = flow_matching_loss(model.wan.transformer, z, t0, memory, pos, text, gen, model.cross_attention)
    return out


def pretrain(model, clips: list[Clip], steps: int, *, queries: int = 4, lr: float = 1e-3, retriever: str = "both",
             seed: int = 0, start: int = 0, optimizer=None, progress: bool = True, on_step=None) -> list[dict]:
    """Run steps start..steps−1; returns the per-step losses. Clip and Ω choices derive from (seed, step)."""
    params = trainable_parameters(model, retriever)
    optimizer = optimizer or torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    model.train()
    history = []
    bar = _progress(steps, start, progress)
    for step in range(start, steps):
        gen = torch.Generator("cpu").manual_seed(seed * 1_000_003 + step)
        clip = clips[int(torch.randint(len(clips), (1,), generator=gen))]
        losses = step_loss(model, clip, queries, retriever, gen)
        total = sum(losses.values())
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        for group in optimizer.param_groups:  # short linear warm-up
            group["lr"] = lr * min(1.0, (step + 1) / 20)
        optimizer.step()
        record = {"step": step + 1, **{k: float(v.detach()) for k, v in losses.items()}}
        history.append(record)
        if bar is not None:
            bar.update(1)
            bar.set_postfix({k: f"{v:.4f}" for k, v in record.items() if k != "step"})
        if on_step is not None:
            on_step(step + 1, optimizer)
    if bar is not None:
        bar.close()
    model.eval()
    model.wan.transformer.requires_grad_(False)
    return history


def _progress(steps: int, start: int, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=steps, initial=start, desc="pretraining memory", unit="step", file=sys.stderr)


# ------------------------------------------------------------------ checkpoints


def save_checkpoint(model, optimizer, folder: Path, step: int, args: dict) -> None:
    """Weights (what `gencodec --model FOLDER` loads), AdamW moments and the step, all without pickle."""
    from safetensors.torch import save_file

    memory_model.save(model, folder, extra={"trained_steps": step, "train_args": args})
    tensors, meta = {}, {}
    for i, p in enumerate(optimizer.param_groups[0]["params"]):
        state = optimizer.state.get(p, {})
        for key in ("exp_avg", "exp_avg_sq"):
            if key in state:
                tensors[f"{i}.{key}"] = state[key].detach().cpu().contiguous()
        if "step" in state:
            meta[str(i)] = float(state["step"])
    save_file(tensors, str(folder / (OPTIMIZER_NAME + ".tmp")))
    (folder / (OPTIMIZER_NAME + ".tmp")).replace(folder / OPTIMIZER_NAME)
    (folder / STATE_NAME).write_text(json.dumps({"step": step, "param_steps": meta, "args": args}))


def load_optimizer(optimizer, folder: Path) -> int:
    """Restore AdamW moments; returns the step to resume from."""
    from safetensors.torch import load_file

    state = json.loads((folder / STATE_NAME).read_text())
    tensors = load_file(str(folder / OPTIMIZER_NAME))
    for i, p in enumerate(optimizer.param_groups[0]["params"]):
        if f"{i}.exp_avg" in tensors:
            optimizer.state[p] = {"step": torch.tensor(state["param_steps"].get(str(i), 0.0)),
                                  "exp_avg": tensors[f"{i}.exp_avg"].to(p.device),
                                  "exp_avg_sq": tensors[f"{i}.exp_avg_sq"].to(p.device)}
    return int(state["step"])


# ------------------------------------------------------------------ data


def load_clips(args) -> list[np.ndarray]:
    from .. import media
    from .synthetic import synthetic_clips

    h, w = _size(args.size)
    if args.videos:
        folder = Path(args.videos)
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".mp4", ".webm", ".mov", ".mkv", ".avi", ".gif"))
        if not files:
            raise InputError(f"no videos in {folder}")
        clips = []
        for path in files:
            frames, _ = media.load_video(str(path), max_frames=args.frames)
            clips.append(_resize(frames, h, w) if (h, w) != frames.shape[1:3] else frames)
        return clips
    return synthetic_clips(args.synthetic, args.frames, h, w, seed=args.seed)


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise InputError(f"--size must look like 64x64 (W×H), got '{text}'") from None
    if min(w, h) < 16:
        raise InputError("--size sides must be at least 16")
    return h, w


def _resize(frames: np.ndarray, h: int, w: int) -> np.ndarray:
    from PIL import Image

    return np.stack([np.asarray(Image.fromarray(f).resize((w, h), Image.BILINEAR)) for f in frames])


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m gencodec.memory.train", description=__doc__.split("\n\n")[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--videos", help="folder of training videos")
    src.add_argument("--synthetic", type=int, help="train on N synthetic clips (pans, zooms, moving shapes)")
    p.add_argument("-o", "--output", required=True, help="checkpoint folder (use it later as --model)")
    p.add_argument("--model", default="tiny", help="start from: tiny, wan2.1-t2v-1.3b-memory, or a checkpoint folder")
    p.add_argument("--variant", choices=["full", "lr", "large_patch"], default="full", help="compressor (ablations)")
    p.add_argument("--cross-attention", action="store_true",
                   help="every DiT block's cross-attention also reads the memory (new models only)")
    p.add_argument("--strides", default="4x4x2", help="H×W×T strides on the DiT token grid (default 4x4x2)")
    p.add_argument("--frames", type=int, default=49, help="frames per clip")
    p.add_argument("--size", default="64x64", help="W×H of clips")
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--queries", type=int, default=4, help="frames retrieved per step (|Ω|)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--retriever", choices=["head", "dit", "both"], default="both")
    p.add_argument("--save-every", type=int, default=100)
    p.add_argument("--resume", action="store_true", help="continue the run in --output")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        run(args)
        return 0
    except GencodecError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2


def run(args) -> Path:
    out = Path(args.output)
    device = None if args.device == "auto" else args.device
    resume = args.resume and (out / STATE_NAME).is_file()
    if resume:
        model = memory_model.load_folder(out, device)
    elif args.model == "tiny" or models.resolve(args.model, models.FAMILY_MEMORY) != args.model:
        spec = models.resolve(args.model, models.FAMILY_MEMORY)
        base = models.TINY_MODEL[models.FAMILY_WAN_T2V] if spec.tiny else models.DEFAULT_MODEL[models.FAMILY_WAN_T2V]
        model = memory_model.build(memory_model.base_wan(models.resolve(base, models.FAMILY_WAN_T2V), device), base, tiny=spec.tiny,
                                   variant=args.variant, cross_attention=args.cross_attention)
    else:
        model = memory_model.load_folder(Path(args.model), device)
    strides = parse_strides(args.strides)
    started = time.time()
    clips = [prepare(model, c, strides) for c in load_clips(args)]
    params = trainable_parameters(model, args.retriever)
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    start = load_optimizer(optimizer, out) if resume else 0
    record = {k: v for k, v in vars(args).items() if k not in ("resume",)}

    def on_step(step, opt):
        if step % args.save_every == 0 or step == args.steps:
            save_checkpoint(model, opt, out, step, record)

    history = pretrain(model, clips, args.steps, queries=args.queries, lr=args.lr, retriever=args.retriever,
                       seed=args.seed, start=start, optimizer=optimizer, on_step=on_step)
    if not history and not (out / memory_model.CONFIG_NAME).exists():
        save_checkpoint(model, optimizer, out, start, record)
    last = history[-1] if history else {}
    print(f"{out}: {last.get('step', start)} steps in {time.time() - started:.0f} s; last losses "
          + ", ".join(f"{k} {v:.4f}" for k, v in last.items() if k != "step"), file=sys.stderr)
    return out


if __name__ == "__main__":
    sys.exit(main())
