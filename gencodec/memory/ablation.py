"""The paper's retrieval ablation at small scale: pretrained memory vs the same budget without it.

Trains each compressor variant with the same objective, steps and clips, then scores retrieval of
every frame of held-out clips: ours with and without pretraining, the large patchifier, low-res
only, uniform keyframes and the clip's mean frame. Used by `python -m gencodec.bench memory` and by
the test that pretraining beats the baselines.
"""

from __future__ import annotations

import time

import numpy as np

from . import evaluate
from . import model as memory_model
from .train import prepare, pretrain

LABELS = {"full": "ours (pretrained)", "large_patch": "large patchifier (FramePack-style)", "lr": "low-res branch only"}


def run(wan, base: str, train_frames: list[np.ndarray], test_frames: list[np.ndarray], strides, *, steps: int,
        tiny: bool = True, lr: float = 2e-3, queries: int = 8, variants=("full", "large_patch", "lr"), seed: int = 0,
        dit_frames: int = 0, dit_steps: int = 10, progress: bool = False) -> dict:
    rows, timings = {}, {}
    for variant in variants:
        model = memory_model.build(wan, base, tiny=tiny, variant=variant)
        test = [prepare(model, c, strides) for c in test_frames]
        if variant == "full":
            rows["ours without pretraining"] = _score(model, test)
        train = [prepare(model, c, strides) for c in train_frames]
        started = time.time()
        history = pretrain(model, train, steps, queries=queries, lr=lr, retriever="head", seed=seed, progress=progress)
        timings[variant] = {"seconds": time.time() - started, "first_loss": history[0]["head"],
                            "last_loss": float(np.mean([h["head"] for h in history[-20:]]))}
        rows[LABELS[variant]] = _score(model, test)
        if variant == "full" and dit_frames:
            rows["ours, DiT retriever (no DiT pretraining)"] = _score(model, test, dit_frames, dit_steps)
    rows["uniform keyframes"] = _score(model, test, baseline=evaluate.keyframe_baseline)
    rows["mean frame (no budget)"] = _score(model, test, baseline=evaluate.mean_frame_baseline)
    return {"tokens": test[0].plan.tokens, "full_tokens": test[0].plan.full_tokens, "strides_hwt": test[0].plan.label,
            "methods": rows, "training": timings}


def _score(model, clips, dit_frames: int = 0, dit_steps: int = 10, baseline=None) -> dict:
    scores = []
    for clip in clips:
        if baseline is not None:
            scores.append(evaluate.score(model, clip, baseline(clip)))
        elif dit_frames:
            frames = list(np.linspace(0, len(clip.targets) - 1, dit_frames).round().astype(int))
            scores.append(evaluate.score(model, clip, evaluate.retrieve_dit(model, clip, frames, steps=dit_steps), frames))
        else:
            scores.append(evaluate.score(model, clip, evaluate.retrieve_head(model, clip)))
    per_position = np.mean([s["psnr"] for s in scores], axis=0) if not dit_frames else None
    lpips = [s["mean_lpips"] for s in scores if "mean_lpips" in s]
    return {"psnr": float(np.mean([s["mean_psnr"] for s in scores])), "ssim": float(np.mean([s["mean_ssim"] for s in scores])),
            "lpips": float(np.mean(lpips)) if lpips else None,
            "latent_mse": float(np.mean([s["mean_latent_mse"] for s in scores])),
            "psnr_by_position": None if per_position is None else [round(float(v), 3) for v in per_position]}
